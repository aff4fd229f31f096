"""Closed loop (issue #7, flows 1 and 9): ERP's handlers of CRM wins and production slips, and the events
they add. Imported at the end of ``erp/events.py`` so every process registers the handlers.

    crm.opportunity.won ─► erp.sales_order_from_won_opportunity ─► sales order created and confirmed
        ─► erp.sales_order.confirmed (promised date) / erp.sales_order.held (credit) ─► CRM handlers
    erp.production_order.rescheduled (later completion) ─► erp.promises_on_production_slip
        ─► erp.sales_order.promise_changed ─► CRM notifies the opportunity's owner
"""

from __future__ import annotations

from suite import events as _events
from suite.events.registry import current_event as _current_event

PRODUCTION_ORDER_RESCHEDULED = "erp.production_order.rescheduled"
SALES_ORDER_PROMISE_CHANGED = "erp.sales_order.promise_changed"


def production_order_rescheduled_payload(order, *, previous_promised_at, promised_at) -> dict:
    """v1 of ``erp.production_order.rescheduled`` (the finite-capacity schedule moved the order's completion to
    a later day): ``production_order_id``, ``number``, ``product_id``, ``warehouse_id``, ``previous_promised_at``,
    ``promised_at`` (ISO datetimes), ``due_date``."""
    return {
        "production_order_id": order.pk,
        "number": order.number,
        "product_id": order.product_id,
        "warehouse_id": order.warehouse_id,
        "previous_promised_at": previous_promised_at.isoformat() if previous_promised_at else None,
        "promised_at": promised_at.isoformat() if promised_at else None,
        "due_date": order.due_date.isoformat(),
    }


def sales_order_promise_changed_payload(order, *, previous_promised_date, reason: str, lines) -> dict:
    """v1 of ``erp.sales_order.promise_changed``: the order payload of ``erp.sales_order.*`` (with ``lines``) plus
    ``previous_promised_date`` and ``reason`` (e.g. ``production MO00012 rescheduled``)."""
    from erp.events import sales_order_payload

    return {
        **sales_order_payload(order, lines=lines),
        "previous_promised_date": previous_promised_date.isoformat() if previous_promised_date else None,
        "reason": reason[:200],
    }


@_events.handler("crm.opportunity.won", name="erp.sales_order_from_won_opportunity", batch=True)
def sales_order_from_won_opportunity(event: _events.Event | list[_events.Event]) -> None:
    """A won deal becomes a confirmed (or credit-held) sales order (keyed on the opportunity id: a second
    delivery finds the order and changes nothing). A batch handler: the relay hands it the chunk's wins, which go
    through ``sales_orders_from_won_opportunities`` (set-based, issue #7 figure; it sends what it does not cover
    through the per-order path itself); a retried win (run alone by the relay) goes through the per-order
    ``sales_order_from_opportunity``, as before the batch path existed."""
    from erp.services.sales_loop import sales_order_from_opportunity
    from erp.services.sales_loop_batch import Win, sales_orders_from_won_opportunities

    batch = event if isinstance(event, list) else [event]
    by_company: dict[int | None, list[_events.Event]] = {}
    for one in batch:
        by_company.setdefault(one.company_id, []).append(one)
    for company_id, group in by_company.items():
        if len(group) == 1 and group[0].attempts > 0:
            token = _current_event.set(group[0])
            try:
                sales_order_from_opportunity(
                    company_id=company_id, payload=group[0].payload, by_id=group[0].created_by_id
                )
            finally:
                _current_event.reset(token)
            continue
        wins = [Win(one.payload, one.created_by_id, one.correlation_id, one) for one in group]
        sales_orders_from_won_opportunities(company_id=company_id, wins=wins)


@_events.handler(PRODUCTION_ORDER_RESCHEDULED, name="erp.promises_on_production_slip")
def promises_on_production_slip(event: _events.Event) -> None:
    """Lines waiting for the slipped order's product get their promised date recomputed; each order whose
    date moves later publishes ``erp.sales_order.promise_changed`` (idempotent: a second run finds the dates
    already moved)."""
    from erp.services.sales_loop import sales_promises_refresh

    payload = event.payload
    sales_promises_refresh(
        company_id=event.company_id,
        product_id=payload["product_id"],
        warehouse_id=payload.get("warehouse_id"),
        reason=f"production {payload.get('number', '')} rescheduled",
    )


@_events.handler("crm.quote.accepted", name="erp.quote_soft_reservations")
def quote_soft_reservations(event: _events.Event) -> None:
    """An accepted quote soft-reserves its stocked quantities until it expires (``quote_reservations_place``,
    once per quote)."""
    from erp.services.quote_reservations import quote_reservations_place

    quote_reservations_place(company=event.company_id, payload=event.payload)


@_events.handler("crm.opportunity.lost", name="erp.quote_soft_reservations_release")
def quote_soft_reservations_release(event: _events.Event) -> None:
    """A lost deal's quotes hold nothing any more."""
    from erp.services.quote_reservations import quote_reservations_settle

    quote_reservations_settle(
        company=event.company_id, crm_opportunity_id=event.payload["opportunity_id"], consumed=False
    )
