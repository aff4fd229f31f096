"""SCRM handlers of ERP shipment events (closed loop, flow 3): a status message to the customer on their social
channel, with consent only (``scrm.services.status_messages``)."""

from __future__ import annotations

from suite import events


@events.handler("erp.shipment.shipped", name="scrm.status_message_on_shipped")
def status_message_on_shipped(event: events.Event) -> None:
    """The customer's goods left the warehouse: tell the customer (with consent), once per shipment."""
    from scrm.services.status_messages import status_messages_for_fulfilment

    status_messages_for_fulfilment(company_id=event.company_id, event_name=event.name, payload=event.payload)


@events.handler("erp.shipment.delivered", name="scrm.status_message_on_delivered")
def status_message_on_delivered(event: events.Event) -> None:
    """The customer's goods arrived: tell the customer (with consent), once per shipment."""
    from scrm.services.status_messages import status_messages_for_fulfilment

    status_messages_for_fulfilment(company_id=event.company_id, event_name=event.name, payload=event.payload)


@events.handler("crm.ticket.resolved", name="scrm.status_message_on_ticket_resolved")
def status_message_on_ticket_resolved(event: events.Event) -> None:
    """A service ticket was resolved: tell the customer (with consent) with the satisfaction survey link."""
    from scrm.services.status_messages import status_messages_for_ticket_resolved

    if event.version != 1:
        return
    status_messages_for_ticket_resolved(company_id=event.company_id, payload=event.payload)
