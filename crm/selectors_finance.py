"""Reads of the customer finance facts the CRM keeps from ERP (closed loop, flows 4 and 12): for the customer
pages and the SCRM inbox sidebar ("credit in the conversation"). SCRM imports this module, never CRM models."""

from __future__ import annotations

from decimal import Decimal

from crm.models import Account, Contact, CustomerFinance
from suite import policy
from suite.policy import Actor

ZERO = Decimal("0.00")


def customer_credit(
    actor: Actor | None, *, account_id: int | None = None, contact_id: int | None = None
) -> dict | None:
    """The receivables of a customer as the actor may see them: the account's (or the contact's account's)
    ``{"account_id", "account_name", "currency", "outstanding", "overdue", "credit_limit", "credit_available",
    "last_payment_date", "last_payment_amount", "refreshed_at", "known"}`` — ``credit_limit`` is the one ERP
    enforces, else the CRM's (when set); ``known`` is False while ERP has reported nothing. None when there is no
    such account or the actor may not see it. Two queries."""
    if actor is None or (account_id is None and contact_id is None):
        return None
    if account_id is None:
        contact = policy.scope(actor, Contact.objects.filter(pk=contact_id)).only("pk", "account_id").first()
        if contact is None or contact.account_id is None:
            return None
        account_id = contact.account_id
    account = (
        policy.scope(actor, Account.objects.filter(pk=account_id, merged_into__isnull=True))
        .select_related("finance")
        .first()
    )
    if account is None:
        return None
    facts: CustomerFinance | None = account.finance if hasattr(account, "finance") else None
    crm_limit = account.credit_limit if account.credit_limit else None
    limit = facts.credit_limit if facts is not None and facts.credit_limit is not None else crm_limit
    outstanding = facts.outstanding if facts is not None else ZERO
    return {
        "account_id": account.pk,
        "account_name": account.name,
        "currency": facts.currency if facts is not None else None,
        "outstanding": outstanding,
        "overdue": facts.overdue if facts is not None else ZERO,
        "credit_limit": limit,
        "credit_available": None if limit is None else limit - outstanding,
        "last_payment_date": facts.last_payment_date if facts is not None else None,
        "last_payment_amount": facts.last_payment_amount if facts is not None else None,
        "refreshed_at": facts.refreshed_at if facts is not None else None,
        "known": facts is not None,
    }
