"""SCRM events of tags, segments and pushes (names and payload builders: the contract in docs/events.md), and
SCRM's handlers of the events that fire auto-tag rules (ERP purchases, QR scans, campaign responses)."""

from __future__ import annotations

from suite import events

CUSTOMER_TAG_REQUESTED = "scrm.customer.tag_requested"
CUSTOMERS_INTERACTED = "scrm.customers.interacted"
CAMPAIGN_TOUCHED = "scrm.campaign.touched"


def tag_requested_payload(*, rule, contact_ids, reason: str = "") -> dict:
    """v1: ``rule_id``, ``rule`` (how the tag history names it), ``contact_ids`` (CRM contacts), ``add_tag_ids``,
    ``remove_tag_ids``, ``reason`` (the keyword, behaviour, order … that fired it)."""
    return {
        "rule_id": rule.pk,
        "rule": rule.reference,
        "contact_ids": sorted(contact_ids),
        "add_tag_ids": [rule.add_tag_id],
        "remove_tag_ids": [rule.remove_tag_id] if rule.remove_tag_id else [],
        "reason": reason[:200],
    }


def campaign_touched_payload(*, company_id: int, crm_campaign_id: int, contact_id: int, touched_at, kind: str) -> dict:
    """v1 (the CRM's contract, docs/events.md): ``kind`` is ``sent`` or ``responded``."""
    return {
        "company_id": company_id,
        "crm_campaign_id": crm_campaign_id,
        "contact_id": contact_id,
        "account_id": None,
        "touched_at": touched_at.isoformat(),
        "kind": kind,
    }


@events.handler("erp.sales_order.confirmed", name="scrm.tag_rules_on_purchase", batch=True)
def tag_rules_on_purchase(event: events.Event | list[events.Event]) -> None:
    """An ERP sales order of a CRM account was confirmed: fire the purchase rules it matches (bought one of
    the rule's products and/or at least its amount) for the account's contacts. Publishes
    ``scrm.customer.tag_requested``; a redelivery publishes nothing again (the relay applies once). A batch
    handler: a company without an active purchase rule costs one query per chunk, not one per order."""
    from scrm.models import RuleTrigger
    from scrm.services.segments import active_rules
    from suite.events.registry import current_event

    if not isinstance(event, list):
        _tag_rules_on_purchase(event)
        return
    companies_with_rules = {
        company_id
        for company_id in {one.company_id for one in event if one.company_id is not None}
        if active_rules(company_id, RuleTrigger.PURCHASE)
    }
    for one in event:
        if one.company_id in companies_with_rules:
            token = current_event.set(one)  # its tag requests keep the order's correlation id
            try:
                _tag_rules_on_purchase(one)
            finally:
                current_event.reset(token)


def _tag_rules_on_purchase(event: events.Event) -> None:
    from scrm.services.segments import tag_rules_fire_purchase

    payload = event.payload
    if not payload.get("crm_account_id") or event.company_id is None:
        return
    tag_rules_fire_purchase(
        company_id=event.company_id,
        account_id=int(payload["crm_account_id"]),
        product_ids={line.get("product_id") for line in payload.get("lines", []) if line.get("product_id")},
        amount=payload.get("amount_total") or "0",
        reason=payload.get("number", ""),
    )


@events.handler("scrm.qr.scanned", name="scrm.tag_rules_on_qr_scan")
def tag_rules_on_qr_scan(event: events.Event) -> None:
    """A matched customer scanned a campaign QR code: fire the ``scanned_qr`` behaviour rules."""
    from scrm.services.segments import tag_rules_fire_behaviour

    contact_id = event.payload.get("crm_contact_id")
    if contact_id and event.company_id is not None:
        tag_rules_fire_behaviour(
            company_id=event.company_id, behaviour="scanned_qr", contact_ids={int(contact_id)}, reason="QR"
        )


@events.handler("scrm.campaign.touched", name="scrm.tag_rules_on_campaign_response")
def tag_rules_on_campaign_response(event: events.Event) -> None:
    """A customer responded to a CRM campaign (clicked, replied, joined): fire that campaign's rules."""
    from scrm.services.segments import tag_rules_fire_campaign

    payload = event.payload
    if payload.get("kind") != "responded" or not payload.get("contact_id") or event.company_id is None:
        return
    tag_rules_fire_campaign(
        company_id=event.company_id,
        crm_campaign_id=int(payload["crm_campaign_id"]),
        contact_ids={int(payload["contact_id"])},
    )
