"""CRM handler of HR's ``erp.employee.deactivated`` (closed loop, flow 11 — people → customers): the person's
open CRM records go to their successor in one tracked ``OwnerHandover`` job (``crm.services.handovers``), and
``crm.owner_handover.started`` asks SCRM to hand their WeCom customers over too."""

from __future__ import annotations

from suite import events


@events.handler("erp.employee.deactivated", name="crm.owner_handover_on_employee_deactivated")
def owner_handover_on_employee_deactivated(event: events.Event) -> None:
    """An employee left: hand their user's leads, opportunities, open activities, active tickets, accounts and
    contacts to the successor user. Idempotent: one job per employee (``source_key``), a replay finds it; an
    employee without a suite login has nothing to hand over."""
    from crm.services.handovers import owner_handover_start

    payload = event.payload
    if event.version != 1 or not payload.get("user_id"):
        return
    owner_handover_start(
        company_id=event.company_id,
        from_user_id=int(payload["user_id"]),
        to_user_id=payload.get("successor_user_id"),
        source_key=f"erp.employee:{payload['employee_id']}",
        erp_employee_id=payload.get("employee_id"),
    )
