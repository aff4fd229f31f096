"""``opportunity_erp_status_record`` for a relay batch (closed loop, issue #7 figure): the ERP outcomes of many
won deals recorded with one locking read, one ``UPDATE … FROM unnest`` and one notification insert, instead of
four or five statements per deal. Same rules as the per-event service (``crm/services/fulfilment.py``): an
event older than the status recorded changes nothing, the same event again changes nothing and notifies no
one, an owner who is no longer an active member is not notified.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Opportunity
from suite.models import Notification
from suite.services.notifications import notifications_send_each

from .fulfilment import _day


@dataclass
class ErpStatus:
    """One ``erp.sales_order.confirmed`` / ``.held`` event: ``kind`` ``confirmed`` or ``held``."""

    kind: str
    payload: dict
    happened_at: dt.datetime


_UPDATE = """
    UPDATE crm_opportunity AS o
       SET erp_order_id = v.order_id, erp_order_number = v.number, erp_order_state = v.state,
           erp_hold_reason = v.reason, promised_date = v.promised, erp_updated_at = v.happened, updated_at = %s
      FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::text[], %s::date[], %s::timestamptz[])
           AS v(id, order_id, number, state, reason, promised, happened)
     WHERE o.id = v.id
"""


def opportunity_erp_statuses_record(*, company_id: int, statuses: list[ErpStatus]) -> list[Opportunity]:
    """Record ERP's confirmations and holds on their opportunities of ``company_id`` and notify the owners
    (see the module). Locks the opportunities (one ``SELECT … FOR UPDATE`` in primary-key order). Returns the
    opportunities that changed. Publishes nothing."""
    with transaction.atomic(savepoint=False):  # inside the relay's chunk savepoint
        ids = sorted({int(s.payload["crm_opportunity_id"]) for s in statuses if s.payload.get("crm_opportunity_id")})
        if not ids:
            return []
        opportunities = {
            o.pk: o
            for o in Opportunity.objects.select_for_update(of=("self",))
            .filter(pk__in=ids, company_id=company_id)
            .order_by("pk")
            .only("pk", "company_id", "name", "owner_id", *_FIELDS, "erp_updated_at")
        }
        changed: dict[int, Opportunity] = {}
        notes: list[dict] = []
        for status in statuses:
            opportunity = opportunities.get(int(status.payload.get("crm_opportunity_id") or 0))
            if opportunity is None:
                continue
            note = _apply(opportunity, status)
            if note is None:
                continue
            changed[opportunity.pk] = opportunity
            if opportunity.owner_id:
                notes.append({"recipient_id": opportunity.owner_id, **note})
        if not changed:
            return []
        rows = list(changed.values())
        with connection.cursor() as cursor:
            cursor.execute(
                _UPDATE,
                [
                    timezone.now(),
                    [o.pk for o in rows],
                    [o.erp_order_id for o in rows],
                    [o.erp_order_number for o in rows],
                    [o.erp_order_state for o in rows],
                    [o.erp_hold_reason for o in rows],
                    [o.promised_date for o in rows],
                    [o.erp_updated_at for o in rows],
                ],
            )
        if notes:  # one membership check there (which reads the owners' languages too): an owner who left is skipped
            notifications_send_each(company=company_id, items=notes, skip_non_members=True)
        return rows


_FIELDS = ("erp_order_id", "erp_order_number", "erp_order_state", "erp_hold_reason", "promised_date")


def _apply(opportunity: Opportunity, status: ErpStatus) -> dict | None:
    """The rules of ``opportunity_erp_status_record`` in memory: the notification to send (its title and body
    functions that ``notifications_send_each`` calls in the owner's language), or ``None`` when nothing changes."""
    if opportunity.erp_updated_at is not None and status.happened_at < opportunity.erp_updated_at:
        return None
    payload = status.payload
    promised = _day(payload.get("promised_date"))
    values = {
        "erp_order_id": payload.get("sales_order_id"),
        "erp_order_number": (payload.get("number") or "")[:30],
        "erp_order_state": (payload.get("state") or "")[:30],
        "erp_hold_reason": (payload.get("hold_reason") or "")[:300] if status.kind == "held" else "",
        "promised_date": promised,
    }
    if all(getattr(opportunity, name) == value for name, value in values.items()):
        return None
    for name, value in values.items():
        setattr(opportunity, name, value)
    opportunity.erp_updated_at = status.happened_at
    number = values["erp_order_number"]
    link = f"/crm/opportunities/{opportunity.pk}/"
    names = {"number": number, "deal": opportunity.name}
    if status.kind == "held":
        return {
            "title": lambda: _("Order %(number)s for %(deal)s is on credit hold") % names,
            "body": values["erp_hold_reason"],
            "link": link,
            "level": Notification.Level.WARNING,
        }
    return {
        "title": lambda: _("Order %(number)s confirmed for %(deal)s") % names,
        "body": lambda: (
            _("Promised delivery: %(date)s") % {"date": promised.isoformat() if promised else _("not known yet")}
        ),
        "link": link,
        "level": Notification.Level.SUCCESS if promised else Notification.Level.INFO,
    }
