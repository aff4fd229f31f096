"""CRM handlers that keep what segments read: tags requested by SCRM auto-tag rules, last interactions reported
by SCRM, and spend from ERP's paid invoices. Each calls a service of ``crm.services.segments``."""

from __future__ import annotations

from decimal import Decimal

from django.utils.dateparse import parse_datetime

from suite import events


@events.handler("scrm.customer.tag_requested", name="crm.contact_tags_from_scrm_rule")
def contact_tags_from_scrm_rule(event: events.Event) -> None:
    """An SCRM auto-tag rule fired for some contacts: add/remove the tags, with the rule in the tag history.
    Idempotent: adding a tag a contact has (or removing one it lacks) changes nothing."""
    from crm.services.segments import contact_tags_apply

    payload = event.payload
    contact_tags_apply(
        company_id=event.company_id,
        contact_ids=[int(pk) for pk in payload.get("contact_ids", [])],
        add_tag_ids=[int(pk) for pk in payload.get("add_tag_ids", [])],
        remove_tag_ids=[int(pk) for pk in payload.get("remove_tag_ids", [])],
        source="rule",
        rule=payload.get("rule", ""),
    )


@events.handler("scrm.customers.interacted", name="crm.contact_facts_last_interaction")
def contact_facts_last_interaction(event: events.Event) -> None:
    """Matched customers wrote to us: move their last interaction forward (never back — idempotent)."""
    from crm.services.segments import contact_facts_interacted

    last_at = {}
    for contact_id, at in (event.payload.get("contacts") or {}).items():
        moment = parse_datetime(at or "")
        if moment is not None:
            last_at[int(contact_id)] = moment
    contact_facts_interacted(company_id=event.company_id, last_at=last_at)


@events.handler("erp.invoice.paid", name="crm.contact_facts_spend")
def contact_facts_spend(event: events.Event) -> None:
    """A customer invoice of a CRM account was paid: add it to the spend of the account's contacts. The relay
    applies a handler's committed effect once per event, so the addition is not repeated on redelivery."""
    from crm.services.segments import contact_facts_purchase

    payload = event.payload
    if payload.get("kind") != "out_invoice" or not payload.get("crm_account_id"):
        return
    contact_facts_purchase(
        company_id=event.company_id,
        account_id=int(payload["crm_account_id"]),
        amount=Decimal(str(payload.get("amount_total") or "0")),
        at=event.created_at,
    )
