"""CRM handlers of ERP's receivable events (closed loop, flow 4 — cash → CRM).

- ``erp.invoice.posted`` / ``erp.invoice.paid`` / ``erp.payment.received`` / ``erp.invoice.overdue`` →
  ``crm.customer_finance_refresh``: the account's ``CustomerFinance`` row is rebuilt from ERP's current figures
  (absolute, so redelivery and out-of-order delivery are harmless).
- ``erp.partner.merged`` (ERP followed a customer merge) → ``crm.customer_finance_refresh`` of the survivor.
- ``erp.invoice.overdue`` → ``crm.overdue_invoice_follow_up``: a follow-up task (and a notification) for the
  account owner, once per invoice.
"""

from __future__ import annotations

from decimal import Decimal

from suite import events

FINANCE_EVENTS = ("erp.invoice.posted", "erp.invoice.paid", "erp.payment.received", "erp.invoice.overdue")
CUSTOMER_KINDS = ("out_invoice", "out_refund")


def _refresh(event: events.Event) -> None:
    from crm.services.finance import customer_finance_refresh

    payload = event.payload
    if not payload.get("crm_account_id") or payload.get("kind", "out_invoice") not in CUSTOMER_KINDS:
        return
    customer_finance_refresh(
        company_id=event.company_id, account_id=int(payload["crm_account_id"]), source_event_id=event.id
    )


@events.handler("erp.invoice.posted", name="crm.customer_finance_on_invoice_posted")
def customer_finance_on_invoice_posted(event: events.Event) -> None:
    """A customer invoice or credit note was posted: refresh the account's finance facts."""
    _refresh(event)


@events.handler("erp.invoice.paid", name="crm.customer_finance_on_invoice_paid")
def customer_finance_on_invoice_paid(event: events.Event) -> None:
    """A customer invoice was settled: refresh the account's finance facts."""
    _refresh(event)


@events.handler("erp.payment.received", name="crm.customer_finance_on_payment_received")
def customer_finance_on_payment_received(event: events.Event) -> None:
    """Money came in from the customer: refresh the account's finance facts (last payment, balance)."""
    _refresh(event)


@events.handler("erp.invoice.overdue", name="crm.customer_finance_on_invoice_overdue")
def customer_finance_on_invoice_overdue(event: events.Event) -> None:
    """An invoice became overdue: refresh the account's finance facts (the overdue amount)."""
    _refresh(event)


@events.handler("erp.partner.merged", name="crm.customer_finance_on_partner_merged")
def customer_finance_on_partner_merged(event: events.Event) -> None:
    """ERP moved a merged duplicate's partner and orders to the survivor: refresh the survivor's finance facts."""
    _refresh(event)


@events.handler("erp.invoice.overdue", name="crm.overdue_invoice_follow_up")
def overdue_invoice_follow_up(event: events.Event) -> None:
    """An invoice of a CRM account is past due: a follow-up task for the account owner (one per invoice)."""
    from crm.services.finance import overdue_invoice_follow_up_create

    payload = event.payload
    if event.version != 1 or not payload.get("crm_account_id") or payload.get("kind") != "out_invoice":
        return
    overdue_invoice_follow_up_create(
        company_id=event.company_id,
        account_id=int(payload["crm_account_id"]),
        invoice_id=int(payload["invoice_id"]),
        number=payload.get("number") or "",
        amount_due=Decimal(str(payload.get("amount_residual") or "0")),
        currency=payload.get("currency") or "",
        due_date=payload.get("due_date") or "",
        days_overdue=int(payload.get("days_overdue") or 0),
    )
