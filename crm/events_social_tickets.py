"""SCRM → CRM tickets: staff asked for a service ticket from a social conversation (「转工单」).

scrm.conversation.escalated ─► crm.ticket_from_conversation ─► crm.services.tickets.ticket_from_social_conversation
"""

from __future__ import annotations

from suite import events


@events.handler("scrm.conversation.escalated", name="crm.ticket_from_conversation")
def ticket_from_conversation(event: events.Event) -> None:
    """Open the ticket (or find the one of the same source: idempotent)."""
    from crm.services.tickets import ticket_from_social_conversation

    if event.version != 1:
        return
    ticket_from_social_conversation(company_id=event.company_id, payload=event.payload)
