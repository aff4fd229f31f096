"""CRM merged two customers → SCRM follows: identities, status messages, coupons, pushes and consent of the
duplicate move to the survivor.

    crm.customer.merged ─► scrm.references_follow_crm_merge ─► scrm.services.crm_merges
"""

from __future__ import annotations

from suite import events as _events


@_events.handler("crm.customer.merged", name="scrm.references_follow_crm_merge")
def references_follow_crm_merge(event: _events.Event) -> None:
    """Re-point SCRM's references from the duplicate to the survivor (``references_follow_crm_merge``).
    Idempotent."""
    from scrm.services.crm_merges import references_follow_crm_merge as follow

    payload = event.payload
    if event.version != 1:
        return
    follow(
        company_id=event.company_id,
        kind=payload.get("kind", ""),
        survivor_id=int(payload["survivor_id"]),
        duplicate_id=int(payload["duplicate_id"]),
    )
