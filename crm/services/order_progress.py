"""How far ERP got with a won deal's goods, kept on the opportunity (closed loop, flow 3 — fulfilment → customer):
production released / completed, shipped, delivered. Called by the handlers in ``crm.events_order_progress``."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from crm.models import FULFILMENT_RANK, FulfilmentStatus, Opportunity
from suite.models import Membership, Notification
from suite.services.notifications import notification_send


@transaction.atomic
def opportunity_fulfilment_advance(
    *, company_id: int, opportunity_id: int, status: str, detail: str, happened_at: dt.datetime
) -> bool:
    """Move the opportunity's fulfilment status forward to ``status`` (``FulfilmentStatus``) with ``detail``
    (e.g. ``"MO000012: 4 of 4 made"``) and notify its owner (in their language). Never moves back: an older or
    repeated event changes nothing and notifies no one (idempotent, safe out of order). Locks the opportunity
    (``NOWAIT``: a locked row raises ``OperationalError`` and the relay retries the event). Returns whether it
    moved. Publishes nothing."""
    if status not in FULFILMENT_RANK:
        raise ValueError(f"unknown fulfilment status {status!r}")
    opportunity = (
        # nowait: a row someone is editing fails the handler at once and the relay retries it later, instead of
        # holding the relay's whole batch behind a person's transaction
        Opportunity.objects.select_for_update(of=("self",), nowait=True)
        .select_related("company")
        .filter(pk=opportunity_id, company_id=company_id)
        .first()
    )
    if opportunity is None:
        return False
    if FULFILMENT_RANK.get(opportunity.fulfilment_status, 0) >= FULFILMENT_RANK[status]:
        return False
    opportunity.fulfilment_status = status
    opportunity.fulfilment_detail = (detail or "")[:200]
    opportunity.fulfilment_at = happened_at
    opportunity.save(update_fields=["fulfilment_status", "fulfilment_detail", "fulfilment_at", "updated_at"])
    owner_id = opportunity.owner_id
    if owner_id and Membership.objects.filter(company_id=company_id, user_id=owner_id, is_active=True).exists():
        notification_send(
            recipients=[owner_id],
            company=opportunity.company,
            title=lambda: (
                _("%(deal)s: %(status)s") % {"deal": opportunity.name, "status": FulfilmentStatus(status).label}
            ),
            body=opportunity.fulfilment_detail,
            link=reverse("crm:opportunity-detail", args=[opportunity.pk]),
            level=Notification.Level.SUCCESS if status == FulfilmentStatus.DELIVERED else Notification.Level.INFO,
        )
    return True
