"""SCRM data of a CRM customer for CRM's customer 360 tests (CRM's tests may not import SCRM's models —
import-linter — so they build it through this helper)."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from scrm.models import Resolution, UgcPost
from scrm.tests.factories import make_conversation, make_identity, make_message


def customer_social(company, *, crm_account_id: int, messages: int) -> None:
    """An identity matched automatically to the CRM account, with ``messages`` inbound messages (客户来信0 …),
    as many replies (我们的回复0 …) and as many positive reviews (买家秀0 …)."""
    identity = make_identity(company, crm_account_id=crm_account_id, resolution=Resolution.AUTO)
    conversation = make_conversation(company, identity=identity)
    for i in range(messages):
        make_message(company, conversation=conversation, text=f"客户来信{i}")
        make_message(company, conversation=conversation, text=f"我们的回复{i}", direction="out")
        UgcPost.objects.create(
            company=company,
            kind="review",
            identity=identity,
            text=f"买家秀{i}",
            sentiment="positive",
            sentiment_score=Decimal("0.8"),
            posted_at=timezone.now(),
        )
