"""CRM handlers that keep what segments read: tags requested by SCRM auto-tag rules, last interactions reported
by SCRM, and spend from ERP's paid invoices. Each calls a service of ``crm.services.segments``."""

from __future__ import annotations

from decimal import Decimal

from django.utils.dateparse import parse_datetime

from suite import events


@events.handler("scrm.customer.tag_requested", name="crm.contact_tags_from_scrm_rule", batch=True)
def contact_tags_from_scrm_rule(events_: list[events.Event] | events.Event) -> None:
    """An SCRM auto-tag rule fired for some contacts: add/remove the tags, with the rule in the tag history.
    Idempotent: adding a tag a contact has (or removing one it lacks) changes nothing. A batch handler (the
    inbox sends one event per batch and rule): consecutive events of the same company, tags and rule are
    applied in one ``contact_tags_apply``; the events' order is kept otherwise (a later rule may undo an
    earlier one)."""
    from crm.services.segments import contact_tags_apply

    runs: list[tuple[tuple, list[int]]] = []
    for event in events_ if isinstance(events_, list) else [events_]:
        payload = event.payload
        key = (
            event.company_id,
            tuple(int(pk) for pk in payload.get("add_tag_ids", [])),
            tuple(int(pk) for pk in payload.get("remove_tag_ids", [])),
            payload.get("rule", ""),
        )
        contact_ids = [int(pk) for pk in payload.get("contact_ids", [])]
        if runs and runs[-1][0] == key:
            runs[-1][1].extend(contact_ids)
        else:
            runs.append((key, contact_ids))
    for (company_id, add_tag_ids, remove_tag_ids, rule), contact_ids in runs:
        contact_tags_apply(
            company_id=company_id,
            contact_ids=contact_ids,
            add_tag_ids=add_tag_ids,
            remove_tag_ids=remove_tag_ids,
            source="rule",
            rule=rule,
        )


@events.handler("scrm.customers.interacted", name="crm.contact_facts_last_interaction", batch=True)
def contact_facts_last_interaction(events_: list[events.Event] | events.Event) -> None:
    """Matched customers wrote to us: move their last interaction forward (never back — idempotent). A batch
    handler: one upsert per company for the relay batch's events, each contact at its latest time."""
    from crm.services.segments import contact_facts_interacted

    by_company: dict[int, dict[int, object]] = {}
    for event in events_ if isinstance(events_, list) else [events_]:
        last_at = by_company.setdefault(event.company_id, {})
        for contact_id, at in (event.payload.get("contacts") or {}).items():
            moment = parse_datetime(at or "")
            if moment is not None:
                key = int(contact_id)
                last_at[key] = max(last_at[key], moment) if key in last_at else moment
    for company_id, last_at in by_company.items():
        contact_facts_interacted(company_id=company_id, last_at=last_at)


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
