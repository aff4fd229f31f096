"""Receivables and payables: taxes, customer invoices and vendor bills (with their credit notes), payments and
the allocation of payments and credit notes to open invoices.

Amounts of an invoice and its lines are in the invoice's ``currency``; ``exchange_rate`` is company currency
per unit of it. Rounding (docs/erp.md "Partners and invoicing"): every line is rounded to the cent on its own
(price-exclusive: subtotal = round(qty × price × (1 − discount)), tax = round(subtotal × rate);
price-inclusive: total = round(qty × price × (1 − discount)), subtotal = round(total ÷ (1 + rate)),
tax = total − subtotal), and the invoice's amounts are the sums of its lines' — as on a 增值税发票, whose
每行 金额 and 税额 add up to the 价税合计.

Posted invoices are final: they are corrected by credit notes, and what PostgreSQL must guarantee (positive
quantities, residual between zero and the total, one settled side per allocation) is CHECKed there.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models.tenancy import TenantModel

from .finance import MONEY, RATE, Account, Journal, JournalEntry, currency_validator
from .inventory import Product, UnitOfMeasure
from .partners import Partner, PaymentTerm

ZERO = Decimal("0.00")
QUANTITY = {"max_digits": 18, "decimal_places": 4}
UNIT_PRICE = {"max_digits": 18, "decimal_places": 4}


class TaxUse(models.TextChoices):
    SALE = "sale", _("Sales")
    PURCHASE = "purchase", _("Purchases")


class TaxKind(models.TextChoices):
    VAT = "vat", _("VAT")
    ZERO_RATED = "zero", _("Zero-rated (零税率)")
    EXEMPT = "exempt", _("Exempt (免税)")


@audited
class Tax(TenantModel):
    """A VAT rate (增值税 13 % / 9 % / 6 % / 3 %, zero-rated or exempt) for sales or purchases, with the ledger
    account its amount is posted to (销项税额 for sales, 进项税额 for purchases). ``price_include``: the line's
    unit price already contains the tax (含税价)."""

    name = models.CharField(_("name"), max_length=100)
    use = models.CharField(_("used on"), max_length=10, choices=TaxUse.choices, default=TaxUse.SALE)
    kind = models.CharField(_("kind"), max_length=10, choices=TaxKind.choices, default=TaxKind.VAT)
    rate = models.DecimalField(_("rate"), max_digits=7, decimal_places=4, help_text=_("0.13 for 13 %."))
    price_include = models.BooleanField(_("included in the price"), default=False)
    account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("tax account"),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("tax")
        verbose_name_plural = _("taxes")
        ordering = ["company", "use", "-rate", "name"]
        constraints = [
            models.UniqueConstraint(fields=["company", "use", "name"], name="erp_tax_name_unique"),
            models.CheckConstraint(condition=Q(rate__gte=0, rate__lt=1), name="erp_tax_rate_range"),
            models.CheckConstraint(
                condition=Q(kind="vat") | Q(rate=0), name="erp_tax_zero_rated_and_exempt_have_no_rate"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class InvoiceKind(models.TextChoices):
    OUT_INVOICE = "out_invoice", _("Customer invoice")
    IN_INVOICE = "in_invoice", _("Vendor bill")
    OUT_REFUND = "out_refund", _("Customer credit note")
    IN_REFUND = "in_refund", _("Vendor credit note")


CUSTOMER_KINDS = frozenset({InvoiceKind.OUT_INVOICE, InvoiceKind.OUT_REFUND})
REFUND_KINDS = frozenset({InvoiceKind.OUT_REFUND, InvoiceKind.IN_REFUND})


class InvoiceState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    POSTED = "posted", _("Posted")
    CANCELLED = "cancelled", _("Cancelled")


class PaymentState(models.TextChoices):
    NOT_PAID = "not_paid", _("Not paid")
    PARTIAL = "partial", _("Partially paid")
    PAID = "paid", _("Paid")
    REVERSED = "reversed", _("Reversed")


class FapiaoType(models.TextChoices):
    NONE = "", _("No fapiao")
    SPECIAL = "special", _("VAT special invoice (增值税专用发票)")
    NORMAL = "normal", _("VAT normal invoice (增值税普通发票)")
    ELECTRONIC = "electronic", _("Electronic invoice (电子发票)")


@audited
class Invoice(TenantModel):
    """A customer invoice, vendor bill or credit note (发票 / 账单 / 红字发票). A draft until posted
    (``invoice_post``: numbered, journal entry written, amounts frozen); cancelled only as a draft."""

    kind = models.CharField(_("kind"), max_length=12, choices=InvoiceKind.choices)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="invoices", verbose_name=_("partner"))
    number = models.CharField(_("number"), max_length=30, blank=True)
    invoice_date = models.DateField(_("invoice date"))
    due_date = models.DateField(_("due date"))
    payment_term = models.ForeignKey(
        PaymentTerm, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("payment term")
    )
    currency = models.CharField(_("currency"), max_length=3, validators=[currency_validator])
    exchange_rate = models.DecimalField(_("exchange rate"), default=Decimal("1"), **RATE)
    state = models.CharField(_("state"), max_length=10, choices=InvoiceState.choices, default=InvoiceState.DRAFT)
    payment_state = models.CharField(
        _("payment state"), max_length=10, choices=PaymentState.choices, default=PaymentState.NOT_PAID
    )
    fapiao_type = models.CharField(_("fapiao type"), max_length=12, choices=FapiaoType.choices, blank=True)
    fapiao_number = models.CharField(_("fapiao number"), max_length=30, blank=True)
    origin = models.CharField(_("origin"), max_length=100, blank=True, help_text=_("e.g. SO00012 or PO00007"))
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    narration = models.TextField(_("notes"), blank=True)
    refund_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_notes",
        verbose_name=_("credit note of"),
    )
    amount_untaxed = models.DecimalField(_("untaxed amount"), default=ZERO, **MONEY)
    amount_tax = models.DecimalField(_("tax"), default=ZERO, **MONEY)
    amount_total = models.DecimalField(_("total"), default=ZERO, **MONEY)
    amount_residual = models.DecimalField(_("amount due"), default=ZERO, **MONEY)
    journal = models.ForeignKey(
        Journal, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("journal")
    )
    journal_entry = models.OneToOneField(
        JournalEntry,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoice",
        verbose_name=_("journal entry"),
    )
    posted_at = models.DateTimeField(_("posted at"), null=True, blank=True)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("posted by"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    # Set once by ``erp.services.collections.invoices_overdue_publish`` with ``erp.invoice.overdue`` (closed loop).
    overdue_notified_at = models.DateTimeField(_("overdue notice sent at"), null=True, blank=True, editable=False)
    # The correlation id of the sales order it invoices (null otherwise): its events carry it (closed loop trace).
    correlation_id = models.UUIDField(_("correlation id"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["company", "-invoice_date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "kind", "number"], condition=~Q(number=""), name="erp_invoice_number_unique"
            ),
            models.CheckConstraint(condition=Q(kind__in=InvoiceKind.values), name="erp_invoice_kind_valid"),
            models.CheckConstraint(condition=Q(state__in=InvoiceState.values), name="erp_invoice_state_valid"),
            models.CheckConstraint(
                condition=Q(payment_state__in=PaymentState.values), name="erp_invoice_payment_state_valid"
            ),
            models.CheckConstraint(condition=Q(exchange_rate__gt=0), name="erp_invoice_rate_positive"),
            models.CheckConstraint(condition=Q(due_date__gte=F("invoice_date")), name="erp_invoice_due_after_date"),
            models.CheckConstraint(
                condition=Q(amount_untaxed__gte=0, amount_tax__gte=0, amount_total__gte=0),
                name="erp_invoice_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(amount_total=F("amount_untaxed") + F("amount_tax")), name="erp_invoice_total_sum"
            ),
            models.CheckConstraint(
                condition=Q(amount_residual__gte=0, amount_residual__lte=F("amount_total")),
                name="erp_invoice_residual_range",
            ),
            models.CheckConstraint(
                condition=Q(state="posted", journal_entry__isnull=False) & ~Q(number="")
                | ~Q(state="posted") & Q(journal_entry__isnull=True),
                name="erp_invoice_posted_has_entry",
            ),
        ]
        indexes = [
            models.Index(fields=["company", "partner", "state"], name="erp_invoice_partner_state"),
            models.Index(fields=["company", "due_date"], name="erp_invoice_due"),
        ]

    def __str__(self) -> str:
        return self.number or f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_customer_document(self) -> bool:
        return self.kind in CUSTOMER_KINDS

    @property
    def is_refund(self) -> bool:
        return self.kind in REFUND_KINDS

    @property
    def display_name(self) -> str:
        return str(self)


@audited
class InvoiceLine(TenantModel):
    """A line of an invoice: quantity × unit price less the discount, with one tax and the ledger account its
    net amount posts to. ``subtotal`` (untaxed), ``tax`` and ``total`` are rounded per line (module docstring).
    Other ERP modules link their own line here by a nullable FK added in their migration."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines", verbose_name=_("invoice"))
    sequence = models.PositiveSmallIntegerField(_("sequence"), default=1)
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("product")
    )
    description = models.CharField(_("description"), max_length=255)
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    uom = models.ForeignKey(
        UnitOfMeasure, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("unit")
    )
    unit_price = models.DecimalField(_("unit price"), **UNIT_PRICE)
    discount = models.DecimalField(_("discount %"), max_digits=5, decimal_places=2, default=ZERO)
    tax = models.ForeignKey(
        Tax, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("tax")
    )
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", verbose_name=_("account"), null=True, blank=True
    )
    subtotal = models.DecimalField(_("untaxed amount"), default=ZERO, **MONEY)
    tax_amount = models.DecimalField(_("tax"), default=ZERO, **MONEY)
    total = models.DecimalField(_("total"), default=ZERO, **MONEY)
    sales_line = models.ForeignKey(  # erpsell: the sales order line this invoice / credit note line bills
        "erp.SalesOrderLine",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoice_lines",
        verbose_name=_("sales order line"),
    )
    purchase_line = models.ForeignKey(  # erpbuy: the purchase order line this vendor bill line bills
        "erp.PurchaseOrderLine",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bill_lines",
        verbose_name=_("purchase order line"),
    )

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        ordering = ["invoice", "sequence", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_invoiceline_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="erp_invoiceline_price_not_negative"),
            models.CheckConstraint(
                condition=Q(discount__gte=0, discount__lte=100), name="erp_invoiceline_discount_range"
            ),
            models.CheckConstraint(
                condition=Q(total=F("subtotal") + F("tax_amount")), name="erp_invoiceline_total_sum"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.description} × {self.quantity}"


class InvoiceSequence(models.Model):
    """The next number of a kind of invoice in a year (INV/2025/00001): locked ``FOR UPDATE`` while posting, so
    numbers have no gap (a rollback gives the number back)."""

    company = models.ForeignKey("suite.Company", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=InvoiceKind.choices)
    year = models.PositiveSmallIntegerField()
    next_number = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("invoice sequence")
        verbose_name_plural = _("invoice sequences")
        constraints = [
            models.UniqueConstraint(fields=["company", "kind", "year"], name="erp_invoicesequence_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.year}: {self.next_number}"


# ---------------------------------------------------------------- payments


class PaymentType(models.TextChoices):
    INBOUND = "inbound", _("Receive money")
    OUTBOUND = "outbound", _("Send money")


class PartnerType(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    SUPPLIER = "supplier", _("Supplier")


class PaymentStateChoice(models.TextChoices):
    POSTED = "posted", _("Posted")
    CANCELLED = "cancelled", _("Cancelled")


@audited
class Payment(TenantModel):
    """Money received from or paid to a partner on a bank or cash journal (收款 / 付款), posted when created
    (Dr bank, Cr receivable — or the mirror for payables) and allocated to open invoices. ``amount_unallocated``
    is what is not yet allocated (after an unallocation)."""

    payment_type = models.CharField(_("type"), max_length=10, choices=PaymentType.choices)
    partner_type = models.CharField(_("partner type"), max_length=10, choices=PartnerType.choices)
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="payments", verbose_name=_("partner"))
    journal = models.ForeignKey(Journal, on_delete=models.PROTECT, related_name="+", verbose_name=_("journal"))
    number = models.CharField(_("number"), max_length=30, blank=True)
    date = models.DateField(_("date"))
    amount = models.DecimalField(_("amount"), **MONEY)
    amount_unallocated = models.DecimalField(_("unallocated"), default=ZERO, **MONEY)
    currency = models.CharField(_("currency"), max_length=3, validators=[currency_validator])
    exchange_rate = models.DecimalField(_("exchange rate"), default=Decimal("1"), **RATE)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    memo = models.CharField(_("memo"), max_length=255, blank=True)
    state = models.CharField(
        _("state"), max_length=10, choices=PaymentStateChoice.choices, default=PaymentStateChoice.POSTED
    )
    journal_entry = models.OneToOneField(
        JournalEntry,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payment",
        verbose_name=_("journal entry"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["company", "-date", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="erp_payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_unallocated__gte=0, amount_unallocated__lte=F("amount")),
                name="erp_payment_unallocated_range",
            ),
            models.CheckConstraint(condition=Q(exchange_rate__gt=0), name="erp_payment_rate_positive"),
            models.CheckConstraint(condition=Q(payment_type__in=PaymentType.values), name="erp_payment_type_valid"),
            models.CheckConstraint(
                condition=Q(partner_type__in=PartnerType.values), name="erp_payment_partner_type_valid"
            ),
            models.UniqueConstraint(
                fields=["company", "number"], condition=~Q(number=""), name="erp_payment_number_unique"
            ),
        ]
        indexes = [models.Index(fields=["company", "partner", "date"], name="erp_payment_partner_date")]

    def __str__(self) -> str:
        return self.number or f"#{self.pk}"


@audited
class Allocation(TenantModel):
    """``amount`` (in the invoice's currency) of ``invoice`` settled by a ``payment`` or by a ``credit_note``
    — exactly one of them. Deleting an allocation (unallocation) reopens the amount on both sides."""

    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("invoice")
    )
    payment = models.ForeignKey(
        Payment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="allocations",
        verbose_name=_("payment"),
    )
    credit_note = models.ForeignKey(
        Invoice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="allocations_as_credit",
        verbose_name=_("credit note"),
    )
    amount = models.DecimalField(_("amount"), **MONEY)
    exchange_entry = models.OneToOneField(
        JournalEntry,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("exchange difference entry"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        ordering = ["company", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="erp_allocation_amount_positive"),
            models.CheckConstraint(
                condition=Q(payment__isnull=False, credit_note__isnull=True)
                | Q(payment__isnull=True, credit_note__isnull=False),
                name="erp_allocation_one_source",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} → {self.invoice_id}"
