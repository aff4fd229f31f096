"""Writes of receivables and payables: taxes, invoices and bills, credit notes, payments and allocations.

Posting an invoice (``invoice_post``) writes one balanced journal entry through ``erp.services.finance``
(``journal_entry_create(post=True, source_key="invoice:<id>")``, so a repeated call never posts twice):

* customer invoice: Dr 1122 应收账款 total / Cr 6001 主营业务收入 (or the line's account) untaxed /
  Cr 22210102 销项税额 tax;
* vendor bill: Dr the line's account (expense, 1402 在途物资 for products, or what procurement sets, e.g. goods
  received not invoiced) untaxed / Dr 22210101 进项税额 tax / Cr 2202 应付账款 total;
* credit notes: the mirror image of their kind. A credit note of an invoice is allocated to it when posted.

Amounts are in the invoice's currency; the ledger gets them with the invoice's rate. Each ledger line's company
amount is rounded on its own, so when the rounded parts do not add up to the rounded total, the cent of
difference is booked to 6603 财务费用 (exchange rounding) in company currency.

A payment (``payment_create``) is posted when created (Dr bank/cash, Cr receivable — or the mirror) and
allocated to the partner's open documents of the same currency, oldest due first unless told which; a payment
larger than those open amounts is refused. When a payment settles a foreign-currency invoice at another rate,
the exchange difference is posted to 6603 with the allocation (and reversed when it is unallocated).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date as Date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from erp import events as erp_events
from erp.models import (
    Account,
    Allocation,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSequence,
    InvoiceState,
    Journal,
    JournalKind,
    Partner,
    PartnerType,
    Payment,
    PaymentState,
    PaymentTerm,
    PaymentType,
    Product,
    Tax,
    TaxKind,
    TaxUse,
    UnitOfMeasure,
)
from erp.services import finance
from erp.services.finance import LedgerConflict, LineSpec
from erp.services.partners import payment_term_due_date
from suite import events
from suite.models import Company

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
MAX_MONEY = Decimal("9999999999999999.99")

# Ledger accounts by role: the CAS code first, then the IFRS template's (erp/services/finance_charts.py).
ACCOUNT_CODES = {
    "receivable": ("1122", "1100"),
    "payable": ("2202", "2000"),
    "revenue": ("6001", "4000"),
    "expense": ("6602", "6400"),
    "stock_in_transit": ("1402", "1200"),
    "output_vat": ("22210102", "2221", "2200"),
    "input_vat": ("22210101", "2221", "1180"),
    "bank": ("1002", "1020"),
    "cash": ("1001", "1010"),
    "exchange": ("6603", "7000"),
}

NUMBER_PREFIX = {
    InvoiceKind.OUT_INVOICE: "INV",
    InvoiceKind.IN_INVOICE: "BILL",
    InvoiceKind.OUT_REFUND: "RINV",
    InvoiceKind.IN_REFUND: "RBILL",
}

# Which documents a payment settles: (partner type, payment type) → invoice kind.
SETTLES = {
    (PartnerType.CUSTOMER, PaymentType.INBOUND): InvoiceKind.OUT_INVOICE,
    (PartnerType.CUSTOMER, PaymentType.OUTBOUND): InvoiceKind.OUT_REFUND,
    (PartnerType.SUPPLIER, PaymentType.OUTBOUND): InvoiceKind.IN_INVOICE,
    (PartnerType.SUPPLIER, PaymentType.INBOUND): InvoiceKind.IN_REFUND,
}
REFUND_OF = {InvoiceKind.OUT_INVOICE: InvoiceKind.OUT_REFUND, InvoiceKind.IN_INVOICE: InvoiceKind.IN_REFUND}
# Documents whose receivable/payable line is a debit (the invoice of a customer, the credit note of a supplier).
DEBIT_DOCUMENTS = frozenset({InvoiceKind.OUT_INVOICE, InvoiceKind.IN_REFUND})

HEADER_FIELDS = (
    "invoice_date",
    "due_date",
    "payment_term",
    "currency",
    "exchange_rate",
    "fapiao_type",
    "fapiao_number",
    "origin",
    "reference",
    "narration",
    "refund_of",
)
LINE_FIELDS = ("product", "description", "quantity", "uom", "unit_price", "discount", "tax", "account")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


# ---------------------------------------------------------------- accounts and taxes


def default_account(company: Company | int, role: str) -> Account | None:
    """The company's ledger account for ``role`` (see ``ACCOUNT_CODES``): the first code of the role it has."""
    codes = ACCOUNT_CODES[role]
    company_id = company.pk if isinstance(company, Company) else company
    found = {a.code: a for a in Account.objects.filter(company_id=company_id, code__in=codes, is_active=True)}
    return next((found[code] for code in codes if code in found), None)


def line_amounts(
    *, quantity: Decimal, unit_price: Decimal, discount: Decimal = ZERO, tax: Tax | None = None
) -> tuple[Decimal, Decimal, Decimal]:
    """(untaxed subtotal, tax, total) of one line, each to the cent (ROUND_HALF_UP).

    Price-exclusive: subtotal = round(q × p × (1 − d/100)), tax = round(subtotal × rate).
    Price-inclusive: total = round(q × p × (1 − d/100)), subtotal = round(total ÷ (1 + rate)), tax = total −
    subtotal (so the total is the price the customer was quoted, to the cent)."""
    base = quantity * unit_price * (Decimal(100) - discount) / Decimal(100)
    rate = tax.rate if tax is not None else ZERO
    if tax is not None and tax.price_include:
        total = money(base)
        subtotal = money(total / (1 + rate))
        return subtotal, total - subtotal, total
    subtotal = money(base)
    tax_amount = money(subtotal * rate)
    return subtotal, tax_amount, subtotal + tax_amount


@transaction.atomic
def tax_create(
    *,
    company: Company,
    name: str,
    rate: Decimal | str,
    use: str = TaxUse.SALE,
    kind: str = TaxKind.VAT,
    price_include: bool = False,
    account: Account | None = None,
    by: User | None = None,
) -> Tax:
    """Add a tax. Without an ``account`` it posts to 销项税额 (sales) or 进项税额 (purchases)."""
    errors: dict[str, list] = {}
    try:
        rate = Decimal(str(rate))
    except InvalidOperation:
        errors["rate"] = [_("Enter a number.")]
    else:
        if not 0 <= rate < 1:
            errors["rate"] = [_("Enter the rate as a fraction: 0.13 for 13 %.")]
        elif kind != TaxKind.VAT and rate != 0:
            errors["rate"] = [_("A zero-rated or exempt tax has the rate 0.")]
    if use not in TaxUse.values:
        errors["use"] = [_("Choose sale or purchase.")]
    if kind not in TaxKind.values:
        errors["kind"] = [_("Choose vat, zero or exempt.")]
    if account is not None and account.company_id != company.pk:
        errors["account"] = [_("Unknown ledger account.")]
    if Tax.objects.filter(company=company, use=use, name=name.strip()).exists():
        errors["name"] = [_("%(name)s already exists.") % {"name": name}]
    if errors:
        raise ValidationError(errors)
    if account is None:
        account = default_account(company, "output_vat" if use == TaxUse.SALE else "input_vat")
    return Tax.objects.create(
        company=company,
        name=name.strip(),
        rate=rate,
        use=use,
        kind=kind,
        price_include=price_include,
        account=account,
    )


@transaction.atomic
def tax_update(*, tax: Tax, by: User | None = None, **changes) -> Tax:
    """Rename, re-account or (de)activate a tax. Its rate and price inclusion are fixed once a line uses it."""
    unknown = set(changes) - {"name", "account", "is_active", "rate", "price_include"}
    if unknown:
        raise TypeError(f"tax_update: unknown fields {sorted(unknown)}")
    used = InvoiceLine.objects.filter(tax=tax).exists()
    errors = {
        name: [_("Invoice lines use this tax; create a new one instead.")]
        for name in ("rate", "price_include")
        if name in changes and changes[name] != getattr(tax, name) and used
    }
    if errors:
        raise ValidationError(errors)
    for name, value in changes.items():
        setattr(tax, name, value)
    tax.save(update_fields=[*changes, "updated_at"])
    return tax


DEFAULT_TAXES = (
    # name, use, kind, rate, price_include
    ("增值税 13%", TaxUse.SALE, TaxKind.VAT, "0.13", False),
    ("增值税 9%", TaxUse.SALE, TaxKind.VAT, "0.09", False),
    ("增值税 6%", TaxUse.SALE, TaxKind.VAT, "0.06", False),
    ("增值税 3%", TaxUse.SALE, TaxKind.VAT, "0.03", False),
    ("增值税 13% 含税", TaxUse.SALE, TaxKind.VAT, "0.13", True),
    ("零税率", TaxUse.SALE, TaxKind.ZERO_RATED, "0", False),
    ("免税", TaxUse.SALE, TaxKind.EXEMPT, "0", False),
    ("进项 13%", TaxUse.PURCHASE, TaxKind.VAT, "0.13", False),
    ("进项 9%", TaxUse.PURCHASE, TaxKind.VAT, "0.09", False),
    ("进项 6%", TaxUse.PURCHASE, TaxKind.VAT, "0.06", False),
    ("进项 3%", TaxUse.PURCHASE, TaxKind.VAT, "0.03", False),
    ("进项 13% 含税", TaxUse.PURCHASE, TaxKind.VAT, "0.13", True),
)


@transaction.atomic
def taxes_install_defaults(*, company: Company, by: User | None = None) -> int:
    """Create the usual VAT rates (13/9/6/3 %, a price-inclusive 13 %, zero-rated, exempt) the company lacks."""
    existing = set(Tax.objects.filter(company=company).values_list("use", "name"))
    created = 0
    for name, use, kind, rate, price_include in DEFAULT_TAXES:
        if (use, name) not in existing:
            tax_create(company=company, name=name, use=use, kind=kind, rate=rate, price_include=price_include)
            created += 1
    return created


# ---------------------------------------------------------------- invoices: validation


def _decimal(value, *, key: str, errors: dict, places: int, default=None) -> Decimal | None:
    if value is None or value == "":
        if default is not None:
            return default
        errors[key] = [_("This field is required.")]
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        errors[key] = [_("Enter a number.")]
        return None
    if not number.is_finite() or abs(number) > MAX_MONEY:
        errors[key] = [_("Enter a number.")]
        return None
    if number != number.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP):
        errors[key] = [_("Use at most %(places)d decimal places.") % {"places": places}]
        return None
    return number


def _of_company(model, value, company: Company, *, key: str, errors: dict, message):
    """``value`` (instance or pk) as an object of ``model`` in ``company``; else a field error and None."""
    if value is None or value == "":
        return None
    pk = value.pk if hasattr(value, "pk") else value
    obj = value if isinstance(value, model) else model.objects.filter(pk=pk).first() if str(pk).isdigit() else None
    if obj is None or obj.company_id != company.pk:
        errors[key] = [message]
        return None
    return obj


def _is_customer_kind(kind: str) -> bool:
    return kind in (InvoiceKind.OUT_INVOICE, InvoiceKind.OUT_REFUND)


def _clean_lines(*, company: Company, kind: str, lines: list[dict], errors: dict) -> list[InvoiceLine]:
    tax_use = TaxUse.SALE if _is_customer_kind(kind) else TaxUse.PURCHASE
    extra_fields = {
        f.name
        for f in InvoiceLine._meta.concrete_fields
        if f.name not in (*LINE_FIELDS, "id", "company", "invoice", "sequence", "subtotal", "tax_amount", "total")
        and f.name not in ("created_at", "updated_at")
    }
    if not lines:
        errors["lines"] = [_("An invoice needs at least one line.")]
        return []
    default_income = default_account(company, "revenue") if _is_customer_kind(kind) else None
    default_expense = None if _is_customer_kind(kind) else default_account(company, "expense")
    default_transit = None if _is_customer_kind(kind) else default_account(company, "stock_in_transit")
    result = []
    for index, raw in enumerate(lines):
        key = f"lines.{index}."
        unknown = set(raw) - set(LINE_FIELDS) - extra_fields
        if unknown:
            errors[f"{key[:-1]}"] = [_("Unknown fields: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}]
            continue
        line_errors: dict[str, list] = {}
        product = _of_company(
            Product, raw.get("product"), company, key=key + "product", errors=line_errors, message=_("Unknown product.")
        )
        quantity = _decimal(raw.get("quantity"), key=key + "quantity", errors=line_errors, places=4)
        if quantity is not None and quantity <= 0:
            line_errors[key + "quantity"] = [
                _("The quantity must be positive; use a credit note to give something back.")
            ]
        unit_price = _decimal(raw.get("unit_price"), key=key + "unit_price", errors=line_errors, places=4)
        if unit_price is not None and unit_price < 0:
            line_errors[key + "unit_price"] = [_("The unit price cannot be negative.")]
        discount = _decimal(raw.get("discount"), key=key + "discount", errors=line_errors, places=2, default=ZERO)
        if discount is not None and not 0 <= discount <= 100:
            line_errors[key + "discount"] = [_("A discount is between 0 and 100 %.")]
        tax = _of_company(Tax, raw.get("tax"), company, key=key + "tax", errors=line_errors, message=_("Unknown tax."))
        if tax is not None and tax.use != tax_use:
            line_errors[key + "tax"] = [
                _("Use a sales tax on customer documents and a purchase tax on vendor documents.")
            ]
        if tax is not None and not tax.is_active:
            line_errors[key + "tax"] = [_("The tax is inactive.")]
        uom = _of_company(
            UnitOfMeasure, raw.get("uom"), company, key=key + "uom", errors=line_errors, message=_("Unknown unit.")
        )
        account = _of_company(
            Account,
            raw.get("account"),
            company,
            key=key + "account",
            errors=line_errors,
            message=_("Unknown ledger account."),
        )
        if account is None and key + "account" not in line_errors:
            if _is_customer_kind(kind):
                account = default_income
            else:
                account = default_transit if product is not None and product.is_stockable else default_expense
            if account is None:
                line_errors[key + "account"] = [_("Choose the ledger account of the line.")]
        elif account is not None and not account.is_active:
            line_errors[key + "account"] = [_("Account %(code)s is inactive.") % {"code": account.code}]
        description = (raw.get("description") or (product.name if product else "")).strip()
        if not description:
            line_errors[key + "description"] = [_("Describe the line or choose a product.")]
        elif len(description) > 255:
            line_errors[key + "description"] = [_("At most 255 characters.")]
        if line_errors:
            errors.update(line_errors)
            continue
        subtotal, tax_amount, total = line_amounts(quantity=quantity, unit_price=unit_price, discount=discount, tax=tax)
        line = InvoiceLine(
            company=company,
            sequence=index + 1,
            product=product,
            description=description,
            quantity=quantity,
            uom=uom or (product.uom if product else None),
            unit_price=unit_price,
            discount=discount,
            tax=tax,
            account=account,
            subtotal=subtotal,
            tax_amount=tax_amount,
            total=total,
        )
        for name in extra_fields & set(raw):
            setattr(line, name, raw[name])
        result.append(line)
    return result


def _clean_header(*, company: Company, kind: str, partner: Partner, header: dict, errors: dict) -> dict:
    unknown = set(header) - set(HEADER_FIELDS)
    if unknown:
        raise TypeError(f"invoice: unknown fields {sorted(unknown)}")
    clean = dict(header)
    if kind not in InvoiceKind.values:
        errors["kind"] = [_("Choose out_invoice, in_invoice, out_refund or in_refund.")]
    if partner is None or partner.company_id != company.pk:
        errors["partner"] = [_("Unknown partner.")]
        return clean
    if _is_customer_kind(kind) and not partner.is_customer:
        errors["partner"] = [_("%(name)s is not a customer.") % {"name": partner.name}]
    if kind in (InvoiceKind.IN_INVOICE, InvoiceKind.IN_REFUND) and not partner.is_supplier:
        errors["partner"] = [_("%(name)s is not a supplier.") % {"name": partner.name}]
    invoice_date = clean.get("invoice_date") or timezone.localdate()
    if not isinstance(invoice_date, Date):
        errors["invoice_date"] = [_("Enter a valid date.")]
        invoice_date = timezone.localdate()
    clean["invoice_date"] = invoice_date
    term = _of_company(
        PaymentTerm,
        clean.get("payment_term", partner.payment_term),
        company,
        key="payment_term",
        errors=errors,
        message=_("Unknown payment term."),
    )
    clean["payment_term"] = term
    due_date = clean.get("due_date") or payment_term_due_date(term, invoice_date)
    if not isinstance(due_date, Date) or due_date < invoice_date:
        errors["due_date"] = [_("The due date cannot be before the invoice date.")]
    clean["due_date"] = due_date
    currency = (clean.get("currency") or partner.currency or company.currency).upper()
    if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
        errors["currency"] = [_("Use a three-letter ISO 4217 code such as CNY.")]
    clean["currency"] = currency
    rate = _decimal(clean.get("exchange_rate"), key="exchange_rate", errors=errors, places=6, default=Decimal(1))
    if rate is not None:
        if rate <= 0:
            errors["exchange_rate"] = [_("The exchange rate must be positive.")]
        elif currency == company.currency and rate != 1:
            errors["exchange_rate"] = [_("An invoice in the company's currency has the rate 1.")]
    clean["exchange_rate"] = rate
    for name, limit in (("fapiao_number", 30), ("origin", 100), ("reference", 100)):
        value = (clean.get(name) or "").strip()
        if len(value) > limit:
            errors[name] = [_("At most %(max)d characters.") % {"max": limit}]
        clean[name] = value
    fapiao_type = clean.get("fapiao_type") or ""
    if fapiao_type not in ("", "special", "normal", "electronic"):
        errors["fapiao_type"] = [_("Choose special, normal or electronic.")]
    clean["fapiao_type"] = fapiao_type
    if fapiao_type == "special" and _is_customer_kind(kind) and not partner.tax_id:
        errors["fapiao_type"] = [_("A VAT special invoice needs the customer's tax id (统一社会信用代码).")]
    clean["narration"] = clean.get("narration") or ""
    refund_of = clean.get("refund_of")
    if refund_of is not None:
        if (
            refund_of.company_id != company.pk
            or REFUND_OF.get(refund_of.kind) != kind
            or refund_of.partner_id != partner.pk
        ):
            errors["refund_of"] = [_("A credit note corrects a posted invoice of the same partner and side.")]
        elif refund_of.state != InvoiceState.POSTED:
            errors["refund_of"] = [_("Only a posted invoice can be credited.")]
        elif refund_of.currency != currency:
            errors["currency"] = [_("A credit note is in the currency of its invoice.")]
    return clean


def _totals(invoice: Invoice, lines: list[InvoiceLine]) -> None:
    invoice.amount_untaxed = sum((line.subtotal for line in lines), ZERO)
    invoice.amount_tax = sum((line.tax_amount for line in lines), ZERO)
    invoice.amount_total = invoice.amount_untaxed + invoice.amount_tax
    if invoice.amount_total > MAX_MONEY:
        raise ValidationError({"lines": [_("The invoice total is too large.")]})


def _check_credit_room(*, refund_of: Invoice | None, total: Decimal, exclude_pk=None, errors: dict) -> None:
    if refund_of is None or "refund_of" in errors:
        return
    credited = Invoice.objects.filter(refund_of=refund_of).exclude(state=InvoiceState.CANCELLED)
    if exclude_pk:
        credited = credited.exclude(pk=exclude_pk)
    already = sum(credited.values_list("amount_total", flat=True), ZERO)
    if already + total > refund_of.amount_total:
        errors["lines"] = [
            _("Credit notes of %(number)s would add up to more than its total (%(total)s).")
            % {"number": refund_of.number, "total": refund_of.amount_total}
        ]


# ---------------------------------------------------------------- invoices: writes


@transaction.atomic
def invoice_create(
    *, company: Company, kind: str, partner: Partner, lines: list[dict], by: User | None = None, **header
) -> Invoice:
    """Write a draft invoice, bill or credit note with its lines and amounts.

    ``lines``: dicts with ``description``, ``quantity`` (> 0), ``unit_price`` (≥ 0), optional ``product``,
    ``uom``, ``discount`` (%), ``tax``, ``account`` (defaults: 6001 for customer documents; 1402 for products
    and 6602 for the rest on vendor documents) and any nullable link other modules added to ``InvoiceLine``
    (``purchase_line`` …). ``header``: ``invoice_date`` (today), ``due_date`` (from the payment term),
    ``payment_term`` (the partner's), ``currency`` (the partner's or company's), ``exchange_rate``,
    ``fapiao_type``, ``fapiao_number``, ``origin``, ``reference``, ``narration``, ``refund_of``.

    Every problem is a field error (``lines.0.quantity`` …) and nothing is written."""
    errors: dict[str, list] = {}
    clean = _clean_header(company=company, kind=kind, partner=partner, header=header, errors=errors)
    line_rows = _clean_lines(company=company, kind=kind, lines=lines, errors=errors)
    if errors:
        raise ValidationError(errors)
    invoice = Invoice(company=company, kind=kind, partner=partner, created_by=by, **clean)
    _totals(invoice, line_rows)
    _check_credit_room(refund_of=clean.get("refund_of"), total=invoice.amount_total, errors=errors)
    if errors:
        raise ValidationError(errors)
    invoice.save()
    for line in line_rows:
        line.invoice = invoice
    InvoiceLine.objects.bulk_create(line_rows)
    return invoice


def lock_invoice(pk: int) -> Invoice:
    return Invoice.objects.select_for_update(of=("self",)).select_related("partner").get(pk=pk)


def lock_invoices(pks) -> list[Invoice]:
    return list(
        Invoice.objects.select_for_update(of=("self",)).select_related("partner").filter(pk__in=pks).order_by("pk")
    )


@transaction.atomic
def invoice_update(*, invoice: Invoice, by: User | None = None, lines: list[dict] | None = None, **header) -> Invoice:
    """Change a draft: header fields and/or its lines (``lines`` replaces them all). Posted and cancelled
    invoices are final (409). Locks the invoice."""
    invoice = lock_invoice(invoice.pk)
    if invoice.state != InvoiceState.DRAFT:
        raise LedgerConflict("invoice_not_draft", _("Only a draft can be edited; use a credit note."))
    company = invoice.company
    current = {name: getattr(invoice, name) for name in HEADER_FIELDS}
    current.update(header)
    errors: dict[str, list] = {}
    if "invoice_date" in header and "due_date" not in header:
        current["due_date"] = None
    clean = _clean_header(company=company, kind=invoice.kind, partner=invoice.partner, header=current, errors=errors)
    line_rows = (
        _clean_lines(company=company, kind=invoice.kind, lines=lines, errors=errors) if lines is not None else None
    )
    if errors:
        raise ValidationError(errors)
    for name, value in clean.items():
        setattr(invoice, name, value)
    if line_rows is not None:
        _totals(invoice, line_rows)
        _check_credit_room(
            refund_of=invoice.refund_of, total=invoice.amount_total, exclude_pk=invoice.pk, errors=errors
        )
        if errors:
            raise ValidationError(errors)
        invoice.lines.all().delete()
        for line in line_rows:
            line.invoice = invoice
        InvoiceLine.objects.bulk_create(line_rows)
    invoice.save()
    return invoice


def _journal_of_kind(company: Company, kind: str) -> Journal:
    journal = Journal.objects.filter(company=company, kind=kind, is_active=True).order_by("code").first()
    if journal is None:
        finance.journals_install_defaults(company=company)
        journal = Journal.objects.filter(company=company, kind=kind, is_active=True).order_by("code").first()
    if journal is None:
        raise ValidationError({"journal": [_("The company has no active %(kind)s journal.") % {"kind": kind}]})
    return journal


def _next_number(invoice: Invoice) -> str:
    year = invoice.invoice_date.year
    sequence, _created = InvoiceSequence.objects.get_or_create(
        company_id=invoice.company_id, kind=invoice.kind, year=year
    )
    sequence = InvoiceSequence.objects.select_for_update().get(pk=sequence.pk)
    number = sequence.next_number
    sequence.next_number = number + 1
    sequence.save(update_fields=["next_number"])
    return f"{NUMBER_PREFIX[invoice.kind]}/{year}/{number:05d}"


def _ledger_lines(invoice: Invoice, lines: list[InvoiceLine]) -> list[LineSpec]:
    """The entry of an invoice: net amounts per account, tax per tax account, the receivable/payable total, and
    the company-currency rounding difference if the rounded parts miss the rounded total."""
    company = invoice.company
    customer = _is_customer_kind(invoice.kind)
    counterpart = default_account(company, "receivable" if customer else "payable")
    errors: dict[str, list] = {}
    if counterpart is None:
        errors["partner"] = [_("The chart of accounts has no receivable/payable account (1122 / 2202).")]
    by_account: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        by_account[line.account_id] += line.subtotal
        if line.tax_amount:
            if line.tax.account_id is None:
                errors["lines"] = [_("Tax %(name)s has no ledger account.") % {"name": line.tax.name}]
                continue
            by_account[line.tax.account_id] += line.tax_amount
    if errors:
        raise ValidationError(errors)
    # A customer invoice credits revenue and tax and debits the receivable; a bill the other way round; a
    # credit note mirrors its kind.
    credit_side = customer != invoice.is_refund
    currency, rate = invoice.currency, invoice.exchange_rate
    specs: list[LineSpec] = []
    memo = f"{invoice.partner.name} {invoice.origin}".strip()[:255]
    for account_id, amount in by_account.items():
        if amount:
            side = {"credit": amount} if credit_side else {"debit": amount}
            specs.append(LineSpec(account=account_id, currency=currency, exchange_rate=rate, description=memo, **side))
    total = invoice.amount_total
    side = {"debit": total} if credit_side else {"credit": total}
    specs.append(LineSpec(account=counterpart, currency=currency, exchange_rate=rate, description=memo, **side))
    if rate != 1:
        parts = sum((money(amount * rate) for amount in by_account.values() if amount), ZERO)
        difference = money(total * rate) - parts
        if difference:
            exchange = default_account(company, "exchange")
            if exchange is None:
                raise ValidationError({"exchange_rate": [_("The chart of accounts has no 6603 account.")]})
            # parts short of the total on the parts' side: book the difference on that side
            parts_side = "credit" if credit_side else "debit"
            other_side = "debit" if credit_side else "credit"
            specs.append(
                LineSpec(
                    account=exchange,
                    description=str(_("Exchange rounding")),
                    **{parts_side if difference > 0 else other_side: abs(difference)},
                )
            )
    return specs


def _set_payment_state(invoice: Invoice, *, by: User | None) -> None:
    """The payment state from the residual; publishes ``erp.invoice.paid`` when it becomes paid."""
    before = invoice.payment_state
    if invoice.state != InvoiceState.POSTED:
        return
    if invoice.amount_residual == 0:
        by_credit_only = not invoice.allocations.filter(payment__isnull=False).exists()
        has_credit = invoice.allocations.filter(credit_note__isnull=False).exists()
        invoice.payment_state = PaymentState.REVERSED if by_credit_only and has_credit else PaymentState.PAID
    elif invoice.amount_residual == invoice.amount_total:
        invoice.payment_state = PaymentState.NOT_PAID
    else:
        invoice.payment_state = PaymentState.PARTIAL
    invoice.save(update_fields=["amount_residual", "payment_state", "updated_at"])
    if invoice.payment_state in (PaymentState.PAID, PaymentState.REVERSED) and before not in (
        PaymentState.PAID,
        PaymentState.REVERSED,
    ):
        events.publish(
            erp_events.INVOICE_PAID,
            erp_events.invoice_payload(invoice),
            company_id=invoice.company_id,
            by=by,
            correlation_id=invoice.correlation_id,
        )


@transaction.atomic
def invoice_post(*, invoice: Invoice, by: User | None = None) -> Invoice:
    """Post a draft: number it (INV/2025/00001, gap-free per kind and year), write its balanced journal entry
    (module docstring) and open its residual. A credit note of an invoice is then allocated to it. Locks the
    invoice; idempotent (posting a posted invoice returns it). Publishes ``erp.invoice.posted`` (and
    ``erp.invoice.paid`` for an invoice a credit note settles)."""
    invoice = lock_invoice(invoice.pk)
    if invoice.state == InvoiceState.POSTED:
        return invoice
    if invoice.state == InvoiceState.CANCELLED:
        raise LedgerConflict("invoice_cancelled", _("A cancelled invoice cannot be posted."))
    lines = list(invoice.lines.select_related("tax").order_by("sequence", "pk"))
    if not lines or invoice.amount_total <= 0:
        raise ValidationError({"lines": [_("An invoice to post needs lines with a positive total.")]})
    if invoice.refund_of_id:
        errors: dict[str, list] = {}
        _check_credit_room(
            refund_of=invoice.refund_of, total=invoice.amount_total, exclude_pk=invoice.pk, errors=errors
        )
        if errors:
            raise ValidationError(errors)
    journal = _journal_of_kind(
        invoice.company, JournalKind.SALES if _is_customer_kind(invoice.kind) else JournalKind.PURCHASE
    )
    invoice.number = _next_number(invoice)
    entry = finance.journal_entry_create(
        company=invoice.company,
        journal=journal,
        date=invoice.invoice_date,
        lines=_ledger_lines(invoice, lines),
        memo=f"{invoice.get_kind_display()} {invoice.number}"[:255],
        reference=(invoice.fapiao_number or invoice.reference or invoice.number)[:100],
        source_key=f"invoice:{invoice.pk}",
        post=True,
        by=by,
    )
    invoice.journal = journal
    invoice.journal_entry = entry
    invoice.state = InvoiceState.POSTED
    invoice.amount_residual = invoice.amount_total
    invoice.payment_state = PaymentState.NOT_PAID
    invoice.posted_at = timezone.now()
    invoice.posted_by = by
    invoice.save()
    events.publish(
        erp_events.INVOICE_POSTED,
        erp_events.invoice_payload(invoice),
        company_id=invoice.company_id,
        by=by,
        correlation_id=invoice.correlation_id,
    )
    if invoice.refund_of_id:
        original = lock_invoice(invoice.refund_of_id)
        amount = min(original.amount_residual, invoice.amount_residual)
        if amount > 0:
            _allocate(
                invoice=original,
                amount=amount,
                credit_note=invoice,
                rate=invoice.exchange_rate,
                day=invoice.invoice_date,
                by=by,
            )
    return invoice


@transaction.atomic
def invoice_correlate(*, invoice: Invoice, correlation_id) -> Invoice:
    """Give an invoice the correlation id of the chain it belongs to (the sales order it invoices): its events
    carry it from then on. Only the first one given counts. Publishes nothing."""
    if invoice.correlation_id is None:
        Invoice.objects.filter(pk=invoice.pk, correlation_id__isnull=True).update(correlation_id=correlation_id)
        invoice.correlation_id = correlation_id
    return invoice


@transaction.atomic
def invoice_cancel(*, invoice: Invoice, by: User | None = None) -> Invoice:
    """Cancel a draft (it keeps no number and posts nothing). Posted invoices are corrected by credit notes
    (409). Idempotent."""
    invoice = lock_invoice(invoice.pk)
    if invoice.state == InvoiceState.CANCELLED:
        return invoice
    if invoice.state != InvoiceState.DRAFT:
        raise LedgerConflict("invoice_posted", _("A posted invoice cannot be cancelled; issue a credit note."))
    invoice.state = InvoiceState.CANCELLED
    invoice.save(update_fields=["state", "updated_at"])
    return invoice


@transaction.atomic
def credit_note_create(
    *,
    invoice: Invoice,
    by: User | None = None,
    lines: list[dict] | None = None,
    invoice_date: Date | None = None,
    reason: str = "",
    post: bool = False,
) -> Invoice:
    """A credit note (红字发票) of a posted invoice or bill: all its lines (full reversal) or the given
    ``lines`` (partial). Credit notes of an invoice never add up to more than its total. With ``post=True``
    it is posted and allocated to the invoice at once."""
    original = Invoice.objects.select_related("partner", "company").get(pk=invoice.pk)
    if original.state != InvoiceState.POSTED or original.kind not in REFUND_OF:
        raise LedgerConflict("invoice_not_posted", _("Only a posted invoice or bill can be credited."))
    if lines is None:
        lines = [
            {
                "product": line.product_id,
                "description": line.description,
                "quantity": line.quantity,
                "uom": line.uom_id,
                "unit_price": line.unit_price,
                "discount": line.discount,
                "tax": line.tax_id,
                "account": line.account_id,
            }
            for line in original.lines.order_by("sequence", "pk")
        ]
    credit_note = invoice_create(
        company=original.company,
        kind=REFUND_OF[original.kind],
        partner=original.partner,
        lines=lines,
        by=by,
        invoice_date=invoice_date or timezone.localdate(),
        currency=original.currency,
        exchange_rate=original.exchange_rate,
        payment_term=None,
        origin=original.number,
        narration=reason,
        refund_of=original,
        fapiao_type=original.fapiao_type,
    )
    if post:
        credit_note = invoice_post(invoice=credit_note, by=by)
    return credit_note


# ---------------------------------------------------------------- payments and allocations


def _exchange_difference(
    *, allocation: Allocation, invoice: Invoice, rate: Decimal, day: Date, by: User | None
) -> None:
    """Post the realised exchange difference of settling ``allocation.amount`` of ``invoice`` at ``rate``."""
    if rate == invoice.exchange_rate:
        return
    difference = money(allocation.amount * rate) - money(allocation.amount * invoice.exchange_rate)
    if not difference:
        return
    counterpart = default_account(invoice.company_id, "receivable" if _is_customer_kind(invoice.kind) else "payable")
    exchange = default_account(invoice.company_id, "exchange")
    if exchange is None:
        raise ValidationError({"exchange_rate": [_("The chart of accounts has no 6603 account.")]})
    # The settlement moved the receivable/payable by ``difference`` more than the invoice put there: undo it.
    counterpart_debit = (invoice.kind in DEBIT_DOCUMENTS) == (difference > 0)
    amount = abs(difference)
    lines = [
        LineSpec(account=counterpart, **({"debit": amount} if counterpart_debit else {"credit": amount})),
        LineSpec(account=exchange, **({"credit": amount} if counterpart_debit else {"debit": amount})),
    ]
    allocation.exchange_entry = finance.journal_entry_create(
        company=invoice.company,
        journal=_journal_of_kind(invoice.company, JournalKind.GENERAL),
        date=max(day, invoice.invoice_date),
        lines=lines,
        memo=f"{_('Exchange difference')} {invoice.number}"[:255],
        source_key=f"allocation-fx:{allocation.pk}",
        post=True,
        by=by,
    )
    allocation.save(update_fields=["exchange_entry", "updated_at"])


def _allocate(
    *,
    invoice: Invoice,
    amount: Decimal,
    rate: Decimal,
    day: Date,
    by: User | None,
    payment: Payment | None = None,
    credit_note: Invoice | None = None,
) -> Allocation:
    """Settle ``amount`` of ``invoice`` (locked by the caller) from a payment or a credit note (locked too)."""
    allocation = Allocation.objects.create(
        company_id=invoice.company_id,
        invoice=invoice,
        payment=payment,
        credit_note=credit_note,
        amount=amount,
        created_by=by,
    )
    invoice.amount_residual -= amount
    _set_payment_state(invoice, by=by)
    if credit_note is not None:
        credit_note.amount_residual -= amount
        _set_payment_state(credit_note, by=by)
    if payment is not None:
        payment.amount_unallocated -= amount
        payment.save(update_fields=["amount_unallocated", "updated_at"])
    _exchange_difference(allocation=allocation, invoice=invoice, rate=rate, day=day, by=by)
    return allocation


def _open_documents(*, company: Company, partner: Partner, kind: str, currency: str):
    return Invoice.objects.filter(
        company=company,
        partner=partner,
        kind=kind,
        currency=currency,
        state=InvoiceState.POSTED,
        amount_residual__gt=0,
    ).order_by("due_date", "invoice_date", "pk")


def _plan_allocations(
    *, payment_amount: Decimal, documents: list[Invoice], explicit: list[dict] | None, errors: dict
) -> list[tuple[Invoice, Decimal]]:
    """Which documents get how much: ``explicit`` (``{"invoice", "amount"}``, amount defaulting to what is
    open, at most what is left of the payment) or the oldest due first. Field errors for unknown documents and
    amounts above what is open."""
    by_pk = {doc.pk: doc for doc in documents}
    plan: list[tuple[Invoice, Decimal]] = []
    if explicit is None:
        left = payment_amount
        for doc in documents:
            if left <= 0:
                break
            take = min(left, doc.amount_residual)
            plan.append((doc, take))
            left -= take
        return plan
    seen = set()
    left = payment_amount
    for index, item in enumerate(explicit):
        key = f"allocations.{index}."
        raw = item.get("invoice")
        pk = raw.pk if hasattr(raw, "pk") else raw
        doc = by_pk.get(int(pk)) if str(pk).isdigit() else None
        if doc is None or doc.pk in seen:
            errors[key + "invoice"] = [_("Not an open document of this partner in this currency.")]
            continue
        seen.add(doc.pk)
        default = max(min(doc.amount_residual, left), ZERO)
        amount = _decimal(item.get("amount"), key=key + "amount", errors=errors, places=2, default=default)
        if amount is None:
            continue
        if amount <= 0:
            errors[key + "amount"] = [_("Allocate a positive amount.")]
        elif amount > doc.amount_residual:
            errors[key + "amount"] = [
                _("%(number)s has only %(open)s open.") % {"number": doc.number, "open": doc.amount_residual}
            ]
        else:
            plan.append((doc, amount))
            left -= amount
    if sum((amount for _doc, amount in plan), ZERO) > payment_amount:
        errors["allocations"] = [_("The allocations add up to more than the payment.")]
    return plan


def _cash_account(journal: Journal) -> Account | None:
    bank_account = getattr(journal, "bank_account", None)
    if bank_account is not None:
        return bank_account.account
    return default_account(journal.company_id, "cash" if journal.kind == JournalKind.CASH else "bank")


@transaction.atomic
def payment_create(
    *,
    company: Company,
    payment_type: str,
    partner: Partner,
    amount: Decimal | str,
    journal: Journal,
    date: Date | None = None,
    partner_type: str | None = None,
    currency: str | None = None,
    exchange_rate: Decimal | str = Decimal(1),
    reference: str = "",
    memo: str = "",
    allocations: list[dict] | None = None,
    by: User | None = None,
) -> Payment:
    """Record and post money received (``inbound``) or paid (``outbound``) on a bank or cash journal, and
    allocate it to the partner's open documents it settles (customer invoices for money in from a customer,
    bills for money out to a supplier, credit notes the other way): ``allocations`` (``[{"invoice", "amount"}]``)
    or, when None, the oldest due first.

    A payment larger than what is open is refused (``amount`` field error) and nothing is written. Locks the
    partner's open documents (in id order). Publishes ``erp.payment.received`` for money in from a customer
    and ``erp.invoice.paid`` for each invoice it settles."""
    errors: dict[str, list] = {}
    partner_type = partner_type or (
        PartnerType.CUSTOMER if payment_type == PaymentType.INBOUND else PartnerType.SUPPLIER
    )
    if payment_type not in PaymentType.values:
        errors["payment_type"] = [_("Choose inbound or outbound.")]
    if partner_type not in PartnerType.values:
        errors["partner_type"] = [_("Choose customer or supplier.")]
    if partner is None or partner.company_id != company.pk:
        errors["partner"] = [_("Unknown partner.")]
    if journal is None or journal.company_id != company.pk or journal.kind not in (JournalKind.BANK, JournalKind.CASH):
        errors["journal"] = [_("Choose a bank or cash journal.")]
    amount = _decimal(amount, key="amount", errors=errors, places=2)
    if amount is not None and amount <= 0:
        errors["amount"] = [_("The amount must be positive.")]
    currency = (currency or (partner.currency if partner else "") or company.currency).upper()
    rate = _decimal(exchange_rate, key="exchange_rate", errors=errors, places=6, default=Decimal(1))
    if rate is not None and (rate <= 0 or (currency == company.currency and rate != 1)):
        errors["exchange_rate"] = [_("A positive rate; 1 in the company's currency.")]
    for name, value, limit in (("reference", reference, 100), ("memo", memo, 255)):
        if len(value or "") > limit:
            errors[name] = [_("At most %(max)d characters.") % {"max": limit}]
    if errors:
        raise ValidationError(errors)
    cash_account = _cash_account(journal)
    counterpart = default_account(company, "receivable" if partner_type == PartnerType.CUSTOMER else "payable")
    if cash_account is None or counterpart is None:
        raise ValidationError({"journal": [_("The chart of accounts lacks the bank/cash or partner account.")]})
    kind = SETTLES[(partner_type, payment_type)]
    open_pks = list(
        _open_documents(company=company, partner=partner, kind=kind, currency=currency).values_list("pk", flat=True)
    )
    documents = sorted(lock_invoices(open_pks), key=lambda d: (d.due_date, d.invoice_date, d.pk))
    documents = [doc for doc in documents if doc.amount_residual > 0 and doc.state == InvoiceState.POSTED]
    open_total = sum((doc.amount_residual for doc in documents), ZERO)
    if amount > open_total:
        errors["amount"] = [
            _("The payment (%(amount)s %(currency)s) is larger than what %(partner)s has open (%(open)s).")
            % {"amount": amount, "currency": currency, "partner": partner.name, "open": open_total}
        ]
        raise ValidationError(errors)
    plan = _plan_allocations(payment_amount=amount, documents=documents, explicit=allocations, errors=errors)
    if errors:
        raise ValidationError(errors)
    date = date or timezone.localdate()
    money_in = payment_type == PaymentType.INBOUND
    entry = finance.journal_entry_create(
        company=company,
        journal=journal,
        date=date,
        lines=[
            LineSpec(
                account=cash_account,
                currency=currency,
                exchange_rate=rate,
                description=partner.name[:255],
                **({"debit": amount} if money_in else {"credit": amount}),
            ),
            LineSpec(
                account=counterpart,
                currency=currency,
                exchange_rate=rate,
                description=partner.name[:255],
                **({"credit": amount} if money_in else {"debit": amount}),
            ),
        ],
        memo=(memo or f"{PaymentType(payment_type).label} {partner.name}")[:255],
        reference=reference,
        post=True,
        by=by,
    )
    payment = Payment.objects.create(
        company=company,
        payment_type=payment_type,
        partner_type=partner_type,
        partner=partner,
        journal=journal,
        number=entry.display_number[:30],
        date=date,
        amount=amount,
        amount_unallocated=amount,
        currency=currency,
        exchange_rate=rate,
        reference=reference,
        memo=memo,
        journal_entry=entry,
        created_by=by,
    )
    made = [_allocate(invoice=doc, amount=share, rate=rate, day=date, payment=payment, by=by) for doc, share in plan]
    if money_in and partner_type == PartnerType.CUSTOMER:
        events.publish(
            erp_events.PAYMENT_RECEIVED,
            erp_events.payment_received_payload(payment, made),
            company_id=company.pk,
            by=by,
            # a payment of one order's invoice continues that order's chain (closed loop trace)
            correlation_id=next((a.invoice.correlation_id for a in made if a.invoice.correlation_id), None),
        )
    return payment


def lock_payment(pk: int) -> Payment:
    return Payment.objects.select_for_update(of=("self",)).select_related("partner", "company").get(pk=pk)


@transaction.atomic
def payment_allocate(*, payment: Payment, allocations: list[dict] | None = None, by: User | None = None) -> Payment:
    """Allocate what is unallocated of a payment to open documents (explicit, or oldest due first). Amounts
    above what is open or unallocated are field errors; nothing is written then. Locks the payment and the
    documents."""
    payment = lock_payment(payment.pk)
    kind = SETTLES[(payment.partner_type, payment.payment_type)]
    open_pks = list(
        _open_documents(
            company=payment.company, partner=payment.partner, kind=kind, currency=payment.currency
        ).values_list("pk", flat=True)
    )
    documents = sorted(lock_invoices(open_pks), key=lambda d: (d.due_date, d.invoice_date, d.pk))
    errors: dict[str, list] = {}
    if payment.amount_unallocated <= 0:
        errors["amount"] = [_("Nothing of this payment is left to allocate.")]
        raise ValidationError(errors)
    plan = _plan_allocations(
        payment_amount=payment.amount_unallocated, documents=documents, explicit=allocations, errors=errors
    )
    if errors:
        raise ValidationError(errors)
    for doc, share in plan:
        _allocate(invoice=doc, amount=share, rate=payment.exchange_rate, day=payment.date, payment=payment, by=by)
    return payment


@transaction.atomic
def allocation_remove(*, allocation: Allocation, by: User | None = None) -> None:
    """Unallocate: the amount is open again on the invoice and unallocated on the payment (or credit note); an
    exchange difference posted with it is reversed. Locks the invoice and the payment or credit note."""
    allocation = Allocation.objects.select_related("exchange_entry").get(pk=allocation.pk)
    invoice_ids = sorted({allocation.invoice_id, *([allocation.credit_note_id] if allocation.credit_note_id else [])})
    locked = {doc.pk: doc for doc in lock_invoices(invoice_ids)}
    invoice = locked[allocation.invoice_id]
    payment = lock_payment(allocation.payment_id) if allocation.payment_id else None
    if allocation.exchange_entry is not None:
        finance.journal_entry_reverse(entry=allocation.exchange_entry, by=by)
    amount = allocation.amount
    allocation.delete()
    invoice.amount_residual += amount
    _set_payment_state(invoice, by=by)
    if allocation.credit_note_id:
        credit_note = locked[allocation.credit_note_id]
        credit_note.amount_residual += amount
        _set_payment_state(credit_note, by=by)
    if payment is not None:
        payment.amount_unallocated += amount
        payment.save(update_fields=["amount_unallocated", "updated_at"])


def payment_unallocate(*, payment: Payment, invoice: Invoice | None = None, by: User | None = None) -> Payment:
    """Remove the payment's allocations (to ``invoice`` only, or all of them)."""
    with transaction.atomic():
        allocations = Allocation.objects.filter(payment=payment)
        if invoice is not None:
            allocations = allocations.filter(invoice=invoice)
        for allocation in allocations.order_by("pk"):
            allocation_remove(allocation=allocation, by=by)
        return Payment.objects.get(pk=payment.pk)


def open_amount_filter() -> Q:
    return Q(state=InvoiceState.POSTED, amount_residual__gt=0)
