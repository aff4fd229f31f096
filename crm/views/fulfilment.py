"""The delivery card of a won deal (closed loop, issue #7): ERP's order number, state, credit hold and promised
date, kept on the opportunity by the handlers of ``erp.sales_order.*``. The card polls itself (htmx, every 3 s)
while a recently won deal has no promise yet, so the date appears without a reload."""

from __future__ import annotations

import datetime as dt

from django.shortcuts import render
from django.utils import timezone

from crm import selectors
from crm.models import Opportunity
from suite import policy
from suite.ui.records import actor_required

POLL_FOR = dt.timedelta(hours=1)  # a deal won longer ago than this will not get its promise by waiting


def promise_polling(opportunity: Opportunity) -> bool:
    """Whether the delivery card should keep asking: won, no promised date, not held or cancelled, won recently."""
    return (
        opportunity.status == "won"
        and opportunity.promised_date is None
        and opportunity.erp_order_state not in ("held", "cancelled")
        and opportunity.closed_at is not None
        and timezone.now() - opportunity.closed_at < POLL_FOR
    )


@actor_required
def opportunity_promise(request, pk: int):
    """The delivery card alone (what the card's htmx polling fetches)."""
    opportunity = policy.get_visible_or_404(request.actor, selectors.opportunities_visible_to(request.actor), pk=pk)
    return render(
        request,
        "crm/_opportunity_promise.html",
        {"opportunity": opportunity, "polling": promise_polling(opportunity)},
    )
