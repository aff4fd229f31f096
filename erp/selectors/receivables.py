"""Reads of receivables and payables: invoice and payment lists, aged balances, the customer credit check and the
CRM-facing summaries (CRM imports this module; it never reads ERP tables itself).

Amounts in company currency are each document's residual × its exchange rate, rounded to the cent.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date as Date
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from erp.models import (
    Allocation,
    Invoice,
    InvoiceKind,
    InvoiceState,
    Partner,
    Payment,
    PaymentStateChoice,
)
from suite.models import Company

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
BUCKETS = ("current", "1_30", "31_60", "61_90", "over_90")
BUCKET_LABELS = {"current": "0", "1_30": "1–30", "31_60": "31–60", "61_90": "61–90", "over_90": ">90"}


def _company_amount(amount: Decimal, rate: Decimal) -> Decimal:
    return amount if rate == 1 else (amount * rate).quantize(CENT, ROUND_HALF_UP)


def invoices_of(company: Company | int, *, kind: str | None = None, side: str | None = None) -> QuerySet[Invoice]:
    """The company's invoices with their partner (``side``: ``receivable`` = customer documents, ``payable`` =
    vendor documents)."""
    qs = Invoice.objects.filter(company=company).select_related("partner")
    if kind:
        qs = qs.filter(kind=kind)
    if side == "receivable":
        qs = qs.filter(kind__in=(InvoiceKind.OUT_INVOICE, InvoiceKind.OUT_REFUND))
    elif side == "payable":
        qs = qs.filter(kind__in=(InvoiceKind.IN_INVOICE, InvoiceKind.IN_REFUND))
    return qs


def open_invoices(company: Company | int, *, partner: Partner | None = None, kind: str | None = None):
    """Posted documents with something left to pay, oldest due first."""
    qs = invoices_of(company, kind=kind).filter(state=InvoiceState.POSTED, amount_residual__gt=0)
    if partner is not None:
        qs = qs.filter(partner=partner)
    return qs.order_by("due_date", "invoice_date", "pk")


def invoice_detail(invoice_id: int, *, company: Company | int) -> Invoice:
    """One invoice with its lines (taxes, products, accounts) and allocations, in 3 queries."""
    return (
        Invoice.objects.filter(company=company)
        .select_related("partner", "payment_term", "journal_entry", "refund_of")
        .prefetch_related("lines__tax", "lines__account", "lines__product", "allocations__payment")
        .get(pk=invoice_id)
    )


def payments_of(company: Company | int) -> QuerySet[Payment]:
    return Payment.objects.filter(company=company).select_related("partner", "journal")


# ---------------------------------------------------------------- aged balances


@dataclass
class AgedRow:
    partner_id: int
    partner_name: str
    buckets: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(BUCKETS, ZERO))

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), ZERO)


@dataclass
class AgedBalances:
    as_of: Date
    side: str
    rows: list[AgedRow]
    totals: dict[str, Decimal]

    @property
    def total(self) -> Decimal:
        return sum(self.totals.values(), ZERO)


def _bucket(days_overdue: int) -> str:
    if days_overdue <= 0:
        return "current"
    if days_overdue <= 30:
        return "1_30"
    if days_overdue <= 60:
        return "31_60"
    if days_overdue <= 90:
        return "61_90"
    return "over_90"


def aged_balances(*, company: Company | int, as_of: Date, side: str = "receivable") -> AgedBalances:
    """Aged receivables (or payables) as of ``as_of``, per partner, in company currency: what each posted
    document dated on or before ``as_of`` still had open that day (allocations by payments dated later and by
    credit notes dated later do not count), by days past due — current (not yet due), 1–30, 31–60, 61–90, >90.
    Credit notes count negative. Two queries whatever the number of documents."""
    debit_kind, credit_kind = (
        (InvoiceKind.OUT_INVOICE, InvoiceKind.OUT_REFUND)
        if side == "receivable"
        else (InvoiceKind.IN_INVOICE, InvoiceKind.IN_REFUND)
    )
    settled_by = Q(payment__date__lte=as_of) | Q(credit_note__invoice_date__lte=as_of)
    settled_later = (
        Allocation.objects.filter(invoice=OuterRef("pk"))
        .filter(settled_by)
        .values("invoice")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    used_as_credit = (
        Allocation.objects.filter(credit_note=OuterRef("pk"), invoice__invoice_date__lte=as_of)
        .values("credit_note")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    documents = (
        Invoice.objects.filter(
            company=company,
            kind__in=(debit_kind, credit_kind),
            state=InvoiceState.POSTED,
            invoice_date__lte=as_of,
        )
        .annotate(
            settled=Coalesce(Subquery(settled_later), ZERO),
            credited=Coalesce(Subquery(used_as_credit), ZERO),
        )
        .values_list(
            "partner_id", "partner__name", "kind", "due_date", "amount_total", "exchange_rate", "settled", "credited"
        )
    )
    rows: dict[int, AgedRow] = {}
    totals = dict.fromkeys(BUCKETS, ZERO)
    for partner_id, name, kind, due, total, rate, settled, credited in documents:
        open_amount = total - settled - credited
        if open_amount <= 0:
            continue
        amount = _company_amount(open_amount, rate)
        if kind == credit_kind:
            amount = -amount
        bucket = _bucket((as_of - due).days)
        row = rows.setdefault(partner_id, AgedRow(partner_id, name))
        row.buckets[bucket] += amount
        totals[bucket] += amount
    ordered = sorted((row for row in rows.values() if row.total), key=lambda r: (-r.total, r.partner_name))
    return AgedBalances(as_of=as_of, side=side, rows=ordered, totals=totals)


# ---------------------------------------------------------------- credit check and CRM


@dataclass(frozen=True)
class CreditCheck:
    ok: bool
    exposure: Decimal
    limit: Decimal | None
    reason: str

    def __iter__(self):
        return iter((self.ok, self.exposure, self.limit, self.reason))


def _partner_for(company, partner, crm_account_id) -> Partner | None:
    if partner is not None:
        return partner
    return Partner.objects.filter(company=company, crm_account_id=crm_account_id).first()


def _with_merged(partner: Partner) -> Q:
    """The partner and the partners merged into it (``Partner.merged_into``): one customer to ERP's figures."""
    return Q(partner=partner) | Q(partner__merged_into=partner)


def crm_account_partner_ids(*, company_id: int, crm_account_id: int):
    """Ids (a subquery) of the partner mirroring CRM account ``crm_account_id`` and of the partners merged into
    it when CRM merged accounts that both had one."""
    return Partner.objects.filter(
        Q(crm_account_id=crm_account_id) | Q(merged_into__crm_account_id=crm_account_id), company_id=company_id
    ).values("pk")


def receivable_exposure(*, company: Company | int, partner: Partner) -> Decimal:
    """What the customer owes or is about to owe, in company currency: open posted invoices less open credit
    notes, plus draft invoices — of the partner and of the partners merged into it."""
    exposure = ZERO
    rows = Invoice.objects.filter(
        _with_merged(partner),
        company=company,
        kind__in=(InvoiceKind.OUT_INVOICE, InvoiceKind.OUT_REFUND),
    ).filter(Q(state=InvoiceState.POSTED, amount_residual__gt=0) | Q(state=InvoiceState.DRAFT))
    for kind, state, residual, total, rate in rows.values_list(
        "kind", "state", "amount_residual", "amount_total", "exchange_rate"
    ):
        amount = _company_amount(residual if state == InvoiceState.POSTED else total, rate)
        exposure += -amount if kind == InvoiceKind.OUT_REFUND else amount
    return exposure


def credit_check(
    *,
    company: Company | int,
    amount: Decimal,
    partner: Partner | None = None,
    crm_account_id: int | None = None,
) -> CreditCheck:
    """May the customer take ``amount`` (company currency) more on credit? ``(ok, exposure, limit, reason)``:
    ``exposure`` is ``receivable_exposure``; with no credit limit (null) it is always ok; an unknown customer
    (no partner for the CRM account yet) is ok with no exposure."""
    partner = _partner_for(company, partner, crm_account_id)
    amount = Decimal(amount)
    if partner is None:
        return CreditCheck(True, ZERO, None, "no ERP partner yet: no exposure")
    exposure = receivable_exposure(company=company, partner=partner)
    limit = partner.credit_limit
    if limit is None:
        return CreditCheck(True, exposure, None, "no credit limit")
    if exposure + amount > limit:
        return CreditCheck(
            False,
            exposure,
            limit,
            f"exposure {exposure} + {amount} exceeds the credit limit {limit} by {exposure + amount - limit}",
        )
    return CreditCheck(True, exposure, limit, f"within the credit limit ({exposure + amount} of {limit})")


def customer_finance_summary(*, company_id: int, crm_account_id: int, today: Date | None = None) -> dict:
    """For the CRM 360 page: ``{"partner_id", "currency", "outstanding", "overdue", "lifetime_revenue",
    "credit_limit", "last_payment_date", "last_payment_amount"}`` of the customer mirroring ``crm_account_id``
    and of the partners merged into it (company currency, decimal values; zeros and None when ERP does not know
    the customer)."""
    from django.utils import timezone

    today = today or timezone.localdate()
    company = Company.objects.only("currency").get(pk=company_id)
    partner = Partner.objects.filter(company_id=company_id, crm_account_id=crm_account_id).first()
    summary = {
        "partner_id": None,
        "currency": company.currency,
        "outstanding": ZERO,
        "overdue": ZERO,
        "lifetime_revenue": ZERO,
        "credit_limit": None,
        "last_payment_date": None,
        "last_payment_amount": None,
    }
    if partner is None:
        return summary
    summary["partner_id"] = partner.pk
    summary["credit_limit"] = partner.credit_limit
    documents = Invoice.objects.filter(
        _with_merged(partner),
        company_id=company_id,
        state=InvoiceState.POSTED,
        kind__in=(InvoiceKind.OUT_INVOICE, InvoiceKind.OUT_REFUND),
    ).values_list("kind", "amount_untaxed", "amount_residual", "exchange_rate", "due_date")
    for kind, untaxed, residual, rate, due in documents:
        sign = -1 if kind == InvoiceKind.OUT_REFUND else 1
        summary["lifetime_revenue"] += sign * _company_amount(untaxed, rate)
        open_amount = sign * _company_amount(residual, rate)
        summary["outstanding"] += open_amount
        if due < today and open_amount > 0:
            summary["overdue"] += open_amount
    last = (
        Payment.objects.filter(
            _with_merged(partner), company_id=company_id, payment_type="inbound", state=PaymentStateChoice.POSTED
        )
        .order_by("-date", "-pk")
        .values_list("date", "amount")
        .first()
    )
    if last:
        summary["last_payment_date"], summary["last_payment_amount"] = last
    return summary


def customer_finance_documents(*, company_id: int, crm_account_id: int, limit: int = 20) -> list[dict]:
    """For the CRM 360 timeline: the customer's latest invoices, credit notes and payments as plain dicts
    (``type`` invoice/credit_note/payment, ``id``, ``number``, ``date``, ``amount``, ``currency``, ``state``,
    ``payment_state``, ``amount_residual``, ``due_date``), newest first. Two queries."""
    partner_ids = crm_account_partner_ids(company_id=company_id, crm_account_id=crm_account_id)
    invoices = (
        Invoice.objects.filter(
            company_id=company_id,
            partner_id__in=partner_ids,
            kind__in=(InvoiceKind.OUT_INVOICE, InvoiceKind.OUT_REFUND),
        )
        .exclude(state=InvoiceState.CANCELLED)
        .order_by("-invoice_date", "-pk")
        .values(
            "pk",
            "kind",
            "number",
            "invoice_date",
            "amount_total",
            "currency",
            "state",
            "payment_state",
            "amount_residual",
            "due_date",
        )[:limit]
    )
    payments = (
        Payment.objects.filter(company_id=company_id, partner_id__in=partner_ids)
        .order_by("-date", "-pk")
        .values("pk", "payment_type", "number", "date", "amount", "currency", "state")[:limit]
    )
    documents = [
        {
            "type": "credit_note" if row["kind"] == InvoiceKind.OUT_REFUND else "invoice",
            "id": row["pk"],
            "number": row["number"],
            "date": row["invoice_date"],
            "amount": row["amount_total"],
            "currency": row["currency"],
            "state": row["state"],
            "payment_state": row["payment_state"],
            "amount_residual": row["amount_residual"],
            "due_date": row["due_date"],
        }
        for row in invoices
    ] + [
        {
            "type": "payment" if row["payment_type"] == "inbound" else "refund",
            "id": row["pk"],
            "number": row["number"],
            "date": row["date"],
            "amount": row["amount"],
            "currency": row["currency"],
            "state": row["state"],
            "payment_state": None,
            "amount_residual": None,
            "due_date": None,
        }
        for row in payments
    ]
    documents.sort(key=lambda d: (d["date"], d["id"]), reverse=True)
    return documents[:limit]


def last_payment_dates(company: Company | int, partner_ids) -> dict[int, Date]:
    return dict(
        Payment.objects.filter(company=company, partner_id__in=partner_ids)
        .values("partner_id")
        .annotate(last=Max("date"))
        .values_list("partner_id", "last")
    )


def open_totals_by_partner(company: Company | int, *, side: str = "receivable") -> dict[int, Decimal]:
    kinds = (InvoiceKind.OUT_INVOICE,) if side == "receivable" else (InvoiceKind.IN_INVOICE,)
    result: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for partner_id, residual, rate in Invoice.objects.filter(
        company=company, kind__in=kinds, state=InvoiceState.POSTED, amount_residual__gt=0
    ).values_list("partner_id", "amount_residual", "exchange_rate"):
        result[partner_id] += _company_amount(residual, rate)
    return dict(result)
