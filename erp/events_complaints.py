"""Closed loop, flow 5 — complaint → quality: a CRM ticket linked to a delivered lot opens a quality
non-conformance on that lot and the production order that made it.

    crm.ticket.lot_linked ─► erp.non_conformance_from_ticket ─► NonConformance (crm_ticket_id, lot, production order)
"""

from __future__ import annotations

from suite import events as _events


@_events.handler("crm.ticket.lot_linked", name="erp.non_conformance_from_ticket")
def non_conformance_from_ticket(event: _events.Event) -> None:
    """Open a non-conformance for the complaint (``non_conformance_create``). Idempotent: one per ticket and lot —
    a redelivery finds it. An unknown lot or product (another company's, or deleted) is ignored."""
    from erp.services.complaints import non_conformance_for_complaint

    if event.version != 1:
        return
    payload = event.payload
    non_conformance_for_complaint(
        company_id=event.company_id,
        crm_ticket_id=int(payload["ticket_id"]),
        lot_id=int(payload["lot_id"]),
        description=payload.get("description") or payload.get("subject") or "",
        quantity=payload.get("quantity") or "0",
        by_id=event.created_by_id,
    )
