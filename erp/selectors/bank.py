"""Reads of the bank: bank accounts, statements and lines, and suggested matches for a statement line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from difflib import SequenceMatcher

from django.db.models import QuerySet

from erp.models import (
    BankAccount,
    BankStatement,
    BankStatementLine,
    Invoice,
    InvoiceKind,
    InvoiceState,
    Payment,
    PaymentType,
)
from suite.models import Company

DATE_WINDOW_DAYS = 10


def bank_accounts_of(company: Company | int) -> QuerySet[BankAccount]:
    return BankAccount.objects.filter(company=company).select_related("journal", "account")


def statements_of(company: Company | int) -> QuerySet[BankStatement]:
    return BankStatement.objects.filter(company=company).select_related("bank_account")


def statement_lines_of(company: Company | int) -> QuerySet[BankStatementLine]:
    return BankStatementLine.objects.filter(company=company).select_related(
        "bank_account", "partner", "payment", "statement"
    )


@dataclass(frozen=True)
class Suggestion:
    """A candidate match of a statement line: an existing ``payment`` to link, or an open ``invoice`` to pay
    with a new payment from the line. ``score`` 0–100, ``reasons`` what matched."""

    kind: str  # "payment" | "invoice"
    object_id: int
    label: str
    partner_id: int
    partner_name: str
    amount: Decimal
    date: object
    score: int
    reasons: tuple[str, ...]


def _similarity(a: str, b: str) -> float:
    a, b = (a or "").strip().lower(), (b or "").strip().lower()
    if not a or not b:
        return 0.0
    if a in b or b in a:
        return 1.0
    return SequenceMatcher(None, a, b).ratio()


def _score(line: BankStatementLine, *, amount: Decimal, day, partner_name: str, numbers: tuple[str, ...]):
    score, reasons = 0, []
    if amount == abs(line.amount):
        score += 50
        reasons.append("amount")
    elif amount > abs(line.amount):
        score += 15
        reasons.append("partial amount")
    days = abs((day - line.date).days)
    if days <= DATE_WINDOW_DAYS:
        score += round(20 * (1 - days / (DATE_WINDOW_DAYS + 1)))
        reasons.append(f"{days} days apart")
    similarity = _similarity(line.partner_name, partner_name)
    if similarity >= 0.5:
        score += round(20 * similarity)
        reasons.append("counterparty name")
    text = f"{line.description} {line.reference}".lower()
    if any(number and number.lower() in text for number in numbers):
        score += 30
        reasons.append("reference")
    return min(score, 100), tuple(reasons)


def reconcile_suggestions(line: BankStatementLine, *, limit: int = 5) -> list[Suggestion]:
    """Ranked candidates for ``line``: payments of the bank account's journal not matched with any line, of the
    same direction and amount (±10 days ranked higher), and open invoices of the matching side whose residual is
    at least the line's amount (customer invoices for money in, bills for money out), scored by amount, date,
    counterparty name and invoice number / reference in the line's text. Two queries."""
    money_in = line.amount > 0
    amount = abs(line.amount)
    window = (line.date - timedelta(days=60), line.date + timedelta(days=60))
    payments = (
        Payment.objects.filter(
            company_id=line.company_id,
            journal_id=line.bank_account.journal_id,
            payment_type=PaymentType.INBOUND if money_in else PaymentType.OUTBOUND,
            amount=amount,
            statement_line__isnull=True,
            date__range=window,
        )
        .select_related("partner")
        .order_by("date")[:50]
    )
    suggestions = []
    for payment in payments:
        score, reasons = _score(
            line,
            amount=payment.amount,
            day=payment.date,
            partner_name=payment.partner.name,
            numbers=(payment.number, payment.reference),
        )
        suggestions.append(
            Suggestion(
                "payment",
                payment.pk,
                payment.number,
                payment.partner_id,
                payment.partner.name,
                payment.amount,
                payment.date,
                score,
                reasons,
            )
        )
    invoices = (
        Invoice.objects.filter(
            company_id=line.company_id,
            kind=InvoiceKind.OUT_INVOICE if money_in else InvoiceKind.IN_INVOICE,
            state=InvoiceState.POSTED,
            currency=line.bank_account.currency,
            amount_residual__gte=amount,
        )
        .select_related("partner")
        .order_by("due_date")[:200]
    )
    for invoice in invoices:
        score, reasons = _score(
            line,
            amount=invoice.amount_residual,
            day=invoice.due_date,
            partner_name=invoice.partner.name,
            numbers=(invoice.number, invoice.fapiao_number, invoice.origin),
        )
        if "counterparty name" in reasons or "reference" in reasons or "amount" in reasons:
            suggestions.append(
                Suggestion(
                    "invoice",
                    invoice.pk,
                    invoice.number,
                    invoice.partner_id,
                    invoice.partner.name,
                    invoice.amount_residual,
                    invoice.due_date,
                    score,
                    reasons,
                )
            )
    suggestions.sort(key=lambda s: (-s.score, s.kind != "payment", s.object_id))
    return suggestions[:limit]
