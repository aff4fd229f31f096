"""CRM's handlers of commerce channel plugins (docs/plugins.md): a shop's customer becomes an account, a shop's
order a won deal (and so, through ``crm.opportunity.won``, an ERP sales order). Imported from ``crm/events.py``."""

from __future__ import annotations

from suite import events


@events.handler("scrm.channel_customer.received", name="crm.account_from_channel_customer")
def account_from_channel_customer(event: events.Event) -> None:
    """Idempotent: a second run finds the account through the duplicate check."""
    from crm.services.channel_orders import _owner, channel_customer_ensure
    from suite.models import Company

    company = Company.objects.get(pk=event.company_id)
    owner = _owner(company, event.payload.get("owner_id"))
    channel_customer_ensure(company=company, customer=event.payload.get("customer") or {}, owner=owner)


@events.handler("scrm.channel_order.received", name="crm.won_deal_from_channel_order")
def won_deal_from_channel_order(event: events.Event) -> None:
    """Idempotent: the deal is keyed on the channel and the order id."""
    from crm.services.channel_orders import channel_order_apply
    from suite.models import Company

    channel_order_apply(company=Company.objects.get(pk=event.company_id), payload=event.payload)
