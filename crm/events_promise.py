"""Closed loop (issue #7, flows 1 and 9): the CRM's handlers of ERP's sales-order events for won deals.

    erp.sales_order.confirmed ─► crm.opportunity_order_confirmed: number, state, promised date; owner notified
    erp.sales_order.held ─► crm.opportunity_order_held: the credit-hold reason; owner notified
    erp.sales_order.promise_changed ─► crm.opportunity_promise_changed: the new date; owner notified

All three call ``crm.services.fulfilment.opportunity_erp_status_record`` (idempotent; an older event never
overwrites a newer status). Imported at the end of ``crm/events.py``.
"""

from __future__ import annotations

from suite import events


def _record(event: events.Event, kind: str) -> None:
    from crm.services.fulfilment import opportunity_erp_status_record

    opportunity_erp_status_record(
        company_id=event.company_id, kind=kind, payload=event.payload, happened_at=event.created_at
    )


@events.handler("erp.sales_order.confirmed", name="crm.opportunity_order_confirmed")
def opportunity_order_confirmed(event: events.Event) -> None:
    """The won deal's order is confirmed: keep its number, state and promised date; tell the owner."""
    _record(event, "confirmed")


@events.handler("erp.sales_order.held", name="crm.opportunity_order_held")
def opportunity_order_held(event: events.Event) -> None:
    """The won deal's order is on credit hold: keep the reason; tell the owner."""
    _record(event, "held")


@events.handler("erp.sales_order.promise_changed", name="crm.opportunity_promise_changed")
def opportunity_promise_changed(event: events.Event) -> None:
    """The won deal's delivery date moved (a production order slipped): keep the new date; tell the owner."""
    _record(event, "promise_changed")
