"""CRM handlers of ERP fulfilment events (closed loop, flow 3 — fulfilment → customer): the won deal's
opportunity shows how far its goods got and the owner is told.

    erp.production_order.released  → in production   (the orders it was planned for: payload ``sales_orders``)
    erp.production_order.completed → produced
    erp.shipment.shipped           → shipped          (payload ``crm_opportunity_id``)
    erp.shipment.delivered         → delivered

Each calls ``crm.services.order_progress.opportunity_fulfilment_advance``, which only moves forward, so a
redelivered or late event changes nothing.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from suite import events


def _advance(event: events.Event, opportunity_id, status: str, detail: str) -> None:
    from crm.services.order_progress import opportunity_fulfilment_advance

    if not opportunity_id:
        return
    opportunity_fulfilment_advance(
        company_id=event.company_id,
        opportunity_id=int(opportunity_id),
        status=status,
        detail=detail,
        happened_at=event.created_at,
    )


def _production(event: events.Event, status: str, detail: str) -> None:
    for order in event.payload.get("sales_orders") or ():
        _advance(event, order.get("crm_opportunity_id"), status, f"{order.get('number', '')} · {detail}")


@events.handler("erp.production_order.released", name="crm.order_progress_production_released")
def order_progress_production_released(event: events.Event) -> None:
    """Production of a won deal's goods started: its opportunity is "in production"."""
    p = event.payload
    _production(
        event,
        "in_production",
        _("%(number)s: %(quantity)s to make by %(due)s")
        % {"number": p.get("number", ""), "quantity": p.get("quantity", ""), "due": p.get("due_date", "")},
    )


@events.handler("erp.production_order.completed", name="crm.order_progress_production_completed")
def order_progress_production_completed(event: events.Event) -> None:
    """Production of a won deal's goods finished: its opportunity is "produced"."""
    p = event.payload
    _production(
        event,
        "produced",
        _("%(number)s: %(quantity)s made") % {"number": p.get("number", ""), "quantity": p.get("produced_quantity")},
    )


def _shipment_detail(p: dict) -> str:
    parts = [p.get("number") or "", p.get("carrier") or "", p.get("tracking_number") or ""]
    return " · ".join(part for part in parts if part)


@events.handler("erp.shipment.shipped", name="crm.order_progress_shipped")
def order_progress_shipped(event: events.Event) -> None:
    """A won deal's goods left the warehouse: its opportunity is "shipped" (carrier and tracking number)."""
    _advance(event, event.payload.get("crm_opportunity_id"), "shipped", _shipment_detail(event.payload))


@events.handler("erp.shipment.delivered", name="crm.order_progress_delivered")
def order_progress_delivered(event: events.Event) -> None:
    """A won deal's goods arrived: its opportunity is "delivered"."""
    _advance(event, event.payload.get("crm_opportunity_id"), "delivered", _shipment_detail(event.payload))
