"""SCRM → CRM leads: a person who added the company on a social platform and matches no CRM customer.

scrm.contact.created ─► crm.lead_from_social_contact ─► crm.services.social_leads ─► Lead (+ crm.lead.created)
"""

from __future__ import annotations

from suite import events


@events.handler("scrm.contact.created", name="crm.lead_from_social_contact")
def lead_from_social_contact(event: events.Event) -> None:
    """Create the person's lead (or find their open one). Idempotent per event through the outbox; a person
    adding again finds the open lead."""
    from crm.services.social_leads import lead_from_social_contact as create

    if event.version != 1:
        return
    payload = event.payload
    create(
        company_id=event.company_id,
        channel_kind=payload.get("channel_kind", ""),
        external_id=payload.get("external_id", ""),
        display_name=payload.get("display_name") or "",
        phone=payload.get("phone") or "",
        unionid=payload.get("unionid") or "",
        owner_id=payload.get("owner_id"),
        staff_external_id=payload.get("staff_external_id") or "",
        platform_event=payload.get("platform_event") or "",
        note=payload.get("note") or "",
    )
