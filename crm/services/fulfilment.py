"""What ERP did with a won deal, kept on the opportunity (closed loop, issue #7, flows 1 and 9): the ERP
order's number and state, the credit-hold reason and the promised delivery date; the owner is told.

Only the handlers of ``erp.sales_order.confirmed`` / ``.held`` / ``.promise_changed`` call it
(``crm/events_promise.py``). Idempotent: an event older than the status already recorded changes nothing
(``erp_updated_at`` is the event's time), and the same event again finds nothing to change and notifies no one.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from crm.models import Opportunity
from suite.models import Notification
from suite.services.notifications import Text, notification_send


def _day(value) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _notify(opportunity: Opportunity, *, title: Text, body: Text, level: str) -> None:
    """Tell the owner, if they are still an active member (``notification_send`` checks that in its one query
    and refuses strangers: an owner who left is skipped); ``title`` and ``body``: functions that write them, called
    in the owner's language."""
    if not opportunity.owner_id:
        return
    with contextlib.suppress(ValidationError):
        notification_send(
            recipients=[opportunity.owner_id],
            company=opportunity.company,
            title=title,
            body=body,
            link=f"/crm/opportunities/{opportunity.pk}/",
            level=level,
        )


# No savepoint of its own: only the relay's handlers call it, inside the batch's savepoint (two round trips less).
@transaction.atomic(savepoint=False)
def opportunity_erp_status_record(
    *, company_id: int, kind: str, payload: dict, happened_at: dt.datetime
) -> Opportunity | None:
    """Record an ERP sales-order event on the opportunity it was made for (``payload["crm_opportunity_id"]``)
    and notify the owner: ``kind`` ``confirmed`` (the promised date), ``held`` (the credit-hold reason) or
    ``promise_changed`` (the new date after a production slip). Locks the opportunity row. Returns it, or
    ``None`` when the order was not made for an opportunity of this company. Publishes nothing."""
    opportunity_id = payload.get("crm_opportunity_id")
    if not opportunity_id:
        return None
    opportunity = (
        Opportunity.objects.select_for_update(of=("self",))
        .select_related("company")
        .filter(pk=opportunity_id, company_id=company_id)
        .first()
    )
    if opportunity is None:
        return None
    if opportunity.erp_updated_at is not None and happened_at < opportunity.erp_updated_at:
        return opportunity  # an older event delivered late: the newer status stays
    promised = _day(payload.get("promised_date"))
    values = {
        "erp_order_id": payload.get("sales_order_id"),
        "erp_order_number": (payload.get("number") or "")[:30],
        "erp_order_state": (payload.get("state") or "")[:30],
        "erp_hold_reason": (payload.get("hold_reason") or "")[:300] if kind == "held" else "",
        "promised_date": promised,
    }
    if all(getattr(opportunity, name) == value for name, value in values.items()):
        return opportunity  # the same event again
    for name, value in values.items():
        setattr(opportunity, name, value)
    opportunity.erp_updated_at = happened_at
    opportunity.save(update_fields=[*values, "erp_updated_at", "updated_at"])
    number = values["erp_order_number"]
    name = opportunity.name

    def promised_text() -> str:
        return promised.isoformat() if promised else _("not known yet")

    if kind == "held":
        _notify(
            opportunity,
            title=lambda: _("Order %(number)s for %(deal)s is on credit hold") % {"number": number, "deal": name},
            body=values["erp_hold_reason"],
            level=Notification.Level.WARNING,
        )
    elif kind == "promise_changed":
        previous = _day(payload.get("previous_promised_date"))
        _notify(
            opportunity,
            title=lambda: _("New delivery date for %(deal)s: %(date)s") % {"deal": name, "date": promised_text()},
            body=lambda: (
                _("Order %(number)s was promised for %(previous)s. %(reason)s")
                % {
                    "number": number,
                    "previous": previous.isoformat() if previous else "—",
                    "reason": payload.get("reason", ""),
                }
            ),
            level=Notification.Level.WARNING,
        )
    else:
        _notify(
            opportunity,
            title=lambda: _("Order %(number)s confirmed for %(deal)s") % {"number": number, "deal": name},
            body=lambda: _("Promised delivery: %(date)s") % {"date": promised_text()},
            level=Notification.Level.SUCCESS if promised else Notification.Level.INFO,
        )
    return opportunity
