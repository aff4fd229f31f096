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


def _record_many(batch: events.Event | list[events.Event], kind: str) -> None:
    """Batch handlers (issue #7 figure): two or more events of a company in one set-based call
    (``crm.services.fulfilment_batch``), a single one (or a retry, run alone) through the per-event service."""
    from crm.services.fulfilment_batch import ErpStatus, opportunity_erp_statuses_record

    batch = batch if isinstance(batch, list) else [batch]
    by_company: dict[int | None, list[events.Event]] = {}
    for event in batch:
        by_company.setdefault(event.company_id, []).append(event)
    for company_id, group in by_company.items():
        if len(group) == 1:
            _record(group[0], kind)
            continue
        statuses = [ErpStatus(kind, event.payload, event.created_at) for event in group]
        opportunity_erp_statuses_record(company_id=company_id, statuses=statuses)


@events.handler("erp.sales_order.confirmed", name="crm.opportunity_order_confirmed", batch=True)
def opportunity_order_confirmed(event: events.Event | list[events.Event]) -> None:
    """The won deal's order is confirmed: keep its number, state and promised date; tell the owner."""
    _record_many(event, "confirmed")


@events.handler("erp.sales_order.held", name="crm.opportunity_order_held", batch=True)
def opportunity_order_held(event: events.Event | list[events.Event]) -> None:
    """The won deal's order is on credit hold: keep the reason; tell the owner."""
    _record_many(event, "held")


@events.handler("erp.sales_order.promise_changed", name="crm.opportunity_promise_changed")
def opportunity_promise_changed(event: events.Event) -> None:
    """The won deal's delivery date moved (a production order slipped): keep the new date; tell the owner."""
    _record(event, "promise_changed")
