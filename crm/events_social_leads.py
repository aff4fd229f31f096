"""SCRM → CRM leads: a person who added the company on a social platform and matches no CRM customer.

scrm.contact.created ─► crm.lead_from_social_contact ─► crm.services.social_leads ─► Lead (+ crm.lead.created)
scrm.conversation.lead_requested ─► crm.lead_from_conversation ─► (the same)
"""

from __future__ import annotations

from suite import events


def _lead(event: events.Event, **facts) -> None:
    from crm.services.social_leads import lead_from_social_contact

    if event.version != 1:
        return
    payload = event.payload
    lead_from_social_contact(
        company_id=event.company_id,
        channel_kind=payload.get("channel_kind", ""),
        external_id=payload.get("external_id", ""),
        display_name=payload.get("display_name") or "",
        phone=payload.get("phone") or "",
        unionid=payload.get("unionid") or "",
        **facts,
    )


@events.handler("scrm.contact.created", name="crm.lead_from_social_contact")
def lead_from_social_contact(event: events.Event) -> None:
    """Create the person's lead (or find their open one). Idempotent per event through the outbox; a person
    adding again finds the open lead."""
    payload = event.payload
    _lead(
        event,
        owner_id=payload.get("owner_id"),
        staff_external_id=payload.get("staff_external_id") or "",
        platform_event=payload.get("platform_event") or "",
        note=payload.get("note") or "",
    )


@events.handler("scrm.conversation.lead_requested", name="crm.lead_from_conversation")
def lead_from_conversation(event: events.Event) -> None:
    """Staff asked for a lead of a conversation's person (「转线索」): the lead, owned by the one who asked, with
    the conversation in its notes; the person's open lead instead if they have one."""
    payload = event.payload
    _lead(
        event,
        owner_id=payload.get("requested_by_id"),
        platform_event="staff_request",
        note=payload.get("transcript") or "",
    )
