"""Procurement (采购): requisitions → requests for quotation → purchase orders (with approval above a threshold)
→ goods receipts into stock (partial, with lots) → vendor bills checked against order and receipts (three-way
match, blocked when outside tolerance until finance approves the variance).

Suppliers are ``Partner`` rows with ``is_supplier``. Amounts are in the order's currency, ``NUMERIC(18, 2)``;
unit prices and quantities ``NUMERIC(18, 4)``. What PostgreSQL guarantees: positive quantities, non-negative
prices, and that no order line is ever received beyond its ``receipt_limit`` (ordered quantity plus the
company's over-receipt tolerance, fixed when the order is confirmed) — whatever concurrent receipts try.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import TenantModel

QUANTITY = {"max_digits": 18, "decimal_places": 4}
UNIT_PRICE = {"max_digits": 18, "decimal_places": 4}
MONEY = {"max_digits": 18, "decimal_places": 2}
PERCENT = {"max_digits": 5, "decimal_places": 2}
ZERO = Decimal("0")


@audited
class ProcurementSettings(TenantModel):
    """A company's purchasing rules: orders above ``approval_threshold`` (total, company currency) need a manager's
    approval; receipts may exceed the ordered quantity by ``over_receipt_tolerance`` percent; a bill matches its
    order and receipts when its prices and quantities are within the price / quantity tolerances."""

    approval_threshold = models.DecimalField(
        _("approval needed above"), null=True, blank=True, help_text=_("Empty: no approval needed."), **MONEY
    )
    over_receipt_tolerance = models.DecimalField(_("over-receipt tolerance %"), default=ZERO, **PERCENT)
    bill_price_tolerance = models.DecimalField(_("bill price tolerance %"), default=ZERO, **PERCENT)
    bill_quantity_tolerance = models.DecimalField(_("bill quantity tolerance %"), default=ZERO, **PERCENT)

    class Meta:
        verbose_name = _("procurement settings")
        verbose_name_plural = _("procurement settings")
        constraints = [
            models.UniqueConstraint(fields=["company"], name="erp_procurementsettings_one_per_company"),
            models.CheckConstraint(
                condition=Q(over_receipt_tolerance__gte=0)
                & Q(bill_price_tolerance__gte=0)
                & Q(bill_quantity_tolerance__gte=0),
                name="erp_procurementsettings_tolerances_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(approval_threshold__isnull=True) | Q(approval_threshold__gte=0),
                name="erp_procurementsettings_threshold_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.company_id}"


# ---------------------------------------------------------------- requisitions


class RequisitionState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    APPROVED = "approved", _("Approved")
    DONE = "done", _("Ordered")
    CANCELLED = "cancelled", _("Cancelled")


class RequisitionSource(models.TextChoices):
    MANUAL = "manual", _("Manual")
    REORDER = "reorder", _("Reorder suggestion")


@audited
class PurchaseRequisition(TenantModel):
    """A request to buy (请购单): what is needed, in which warehouse, by when."""

    number = models.CharField(_("number"), max_length=30)
    warehouse = models.ForeignKey(
        "erp.Warehouse", on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse")
    )
    state = models.CharField(
        _("state"), max_length=10, choices=RequisitionState.choices, default=RequisitionState.DRAFT
    )
    source = models.CharField(
        _("source"), max_length=10, choices=RequisitionSource.choices, default=RequisitionSource.MANUAL
    )
    needed_by = models.DateField(_("needed by"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("purchase requisition")
        verbose_name_plural = _("purchase requisitions")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["company", "number"], name="erp_requisition_number_unique")]

    def __str__(self) -> str:
        return self.number


@audited
class PurchaseRequisitionLine(TenantModel):
    requisition = models.ForeignKey(
        PurchaseRequisition, on_delete=models.CASCADE, related_name="lines", verbose_name=_("requisition")
    )
    product = models.ForeignKey("erp.Product", on_delete=models.PROTECT, related_name="+", verbose_name=_("product"))
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    reorder_rule = models.ForeignKey(
        "erp.ReorderRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("requisition line")
        verbose_name_plural = _("requisition lines")
        ordering = ["requisition", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_requisitionline_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.requisition_id}: {self.quantity} × {self.product_id}"


# ---------------------------------------------------------------- requests for quotation


class RfqState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SENT = "sent", _("Sent")
    QUOTED = "quoted", _("Quoted")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Not chosen")
    CANCELLED = "cancelled", _("Cancelled")


@audited
class RequestForQuotation(TenantModel):
    """A request for quotation (询价单) to one supplier; several go out for one requisition, the accepted one
    becomes the purchase order and the others are closed as not chosen."""

    number = models.CharField(_("number"), max_length=30)
    requisition = models.ForeignKey(
        PurchaseRequisition,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rfqs",
        verbose_name=_("requisition"),
    )
    supplier = models.ForeignKey("erp.Partner", on_delete=models.PROTECT, related_name="+", verbose_name=_("supplier"))
    warehouse = models.ForeignKey(
        "erp.Warehouse", on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse")
    )
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    state = models.CharField(_("state"), max_length=10, choices=RfqState.choices, default=RfqState.DRAFT)
    valid_until = models.DateField(_("quote valid until"), null=True, blank=True)
    purchase_order = models.OneToOneField(
        "erp.PurchaseOrder",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rfq",
        verbose_name=_("purchase order"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("request for quotation")
        verbose_name_plural = _("requests for quotation")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["company", "number"], name="erp_rfq_number_unique")]

    def __str__(self) -> str:
        return self.number


@audited
class RfqLine(TenantModel):
    rfq = models.ForeignKey(RequestForQuotation, on_delete=models.CASCADE, related_name="lines", verbose_name=_("RFQ"))
    requisition_line = models.ForeignKey(
        PurchaseRequisitionLine, null=True, blank=True, on_delete=models.SET_NULL, related_name="rfq_lines"
    )
    product = models.ForeignKey("erp.Product", on_delete=models.PROTECT, related_name="+", verbose_name=_("product"))
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    unit_price = models.DecimalField(_("quoted unit price"), null=True, blank=True, **UNIT_PRICE)
    lead_time_days = models.PositiveSmallIntegerField(_("lead time (days)"), null=True, blank=True)

    class Meta:
        verbose_name = _("RFQ line")
        verbose_name_plural = _("RFQ lines")
        ordering = ["rfq", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_rfqline_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="erp_rfqline_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.rfq_id}: {self.quantity} × {self.product_id}"


# ---------------------------------------------------------------- purchase orders


class PurchaseOrderState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    TO_APPROVE = "to_approve", _("Waiting for approval")
    APPROVED = "approved", _("Approved")
    CONFIRMED = "confirmed", _("Confirmed")
    DONE = "done", _("Fully received")
    CANCELLED = "cancelled", _("Cancelled")


@audited
class PurchaseOrder(TenantModel):
    """A purchase order (采购订单) to one supplier, delivered to one warehouse. Draft → submitted (waiting for
    approval when the total is above the company's threshold, else approved) → confirmed (sent to the
    supplier: its lines become expected supply) → done when everything is received; cancelled while nothing
    is received."""

    number = models.CharField(_("number"), max_length=30)
    supplier = models.ForeignKey(
        "erp.Partner", on_delete=models.PROTECT, related_name="purchase_orders", verbose_name=_("supplier")
    )
    warehouse = models.ForeignKey(
        "erp.Warehouse", on_delete=models.PROTECT, related_name="purchase_orders", verbose_name=_("warehouse")
    )
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    order_date = models.DateField(_("order date"), default=timezone.localdate)
    expected_date = models.DateField(_("expected on"))
    state = models.CharField(
        _("state"), max_length=12, choices=PurchaseOrderState.choices, default=PurchaseOrderState.DRAFT
    )
    supplier_reference = models.CharField(_("supplier's reference"), max_length=100, blank=True)
    note = models.TextField(_("note"), blank=True)
    amount_untaxed = models.DecimalField(_("untaxed amount"), default=ZERO, **MONEY)
    amount_tax = models.DecimalField(_("tax"), default=ZERO, **MONEY)
    amount_total = models.DecimalField(_("total"), default=ZERO, **MONEY)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("purchase order")
        verbose_name_plural = _("purchase orders")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "number"], name="erp_purchaseorder_number_unique"),
            models.CheckConstraint(
                condition=Q(amount_total=F("amount_untaxed") + F("amount_tax")), name="erp_purchaseorder_total_sum"
            ),
        ]
        indexes = [models.Index(fields=["company", "state"], name="erp_purchaseorder_state_idx")]

    def __str__(self) -> str:
        return self.number


@audited
class PurchaseOrderLine(TenantModel):
    """A line of a purchase order. ``receipt_limit`` (set when the order is confirmed) is the most that may ever
    be received on it; a CHECK keeps ``received_quantity`` within it."""

    order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="lines", verbose_name=_("order"))
    product = models.ForeignKey("erp.Product", on_delete=models.PROTECT, related_name="+", verbose_name=_("product"))
    description = models.CharField(_("description"), max_length=255, blank=True)
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    unit_price = models.DecimalField(_("unit price"), **UNIT_PRICE)
    tax = models.ForeignKey(
        "erp.Tax", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("tax")
    )
    expected_date = models.DateField(_("expected on"))
    subtotal = models.DecimalField(_("untaxed amount"), default=ZERO, **MONEY)
    tax_amount = models.DecimalField(_("tax"), default=ZERO, **MONEY)
    receipt_limit = models.DecimalField(_("receivable at most"), null=True, blank=True, **QUANTITY)
    received_quantity = models.DecimalField(_("received"), default=ZERO, **QUANTITY)
    billed_quantity = models.DecimalField(_("billed"), default=ZERO, **QUANTITY)
    incoming_supply = models.OneToOneField(
        "erp.IncomingSupply", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("purchase order line")
        verbose_name_plural = _("purchase order lines")
        ordering = ["order", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_poline_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="erp_poline_price_not_negative"),
            models.CheckConstraint(condition=Q(received_quantity__gte=0), name="erp_poline_received_not_negative"),
            models.CheckConstraint(condition=Q(billed_quantity__gte=0), name="erp_poline_billed_not_negative"),
            models.CheckConstraint(
                condition=Q(received_quantity=0) | Q(received_quantity__lte=F("receipt_limit")),
                name="erp_poline_received_within_limit",
            ),
            models.CheckConstraint(
                condition=Q(receipt_limit__isnull=True) | Q(receipt_limit__gte=F("quantity")),
                name="erp_poline_limit_covers_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.quantity} × {self.product_id}"

    @property
    def open_quantity(self) -> Decimal:
        return max(self.quantity - self.received_quantity, ZERO)


# ---------------------------------------------------------------- receipts


@audited
class GoodsReceipt(TenantModel):
    """A goods receipt (入库单) against a purchase order: what arrived, where it was put, which lots."""

    number = models.CharField(_("number"), max_length=30)
    purchase_order = models.ForeignKey(
        PurchaseOrder, on_delete=models.PROTECT, related_name="receipts", verbose_name=_("purchase order")
    )
    warehouse = models.ForeignKey(
        "erp.Warehouse", on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse")
    )
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    delivery_note = models.CharField(_("supplier's delivery note"), max_length=100, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("goods receipt")
        verbose_name_plural = _("goods receipts")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["company", "number"], name="erp_goodsreceipt_number_unique")]

    def __str__(self) -> str:
        return self.number


@audited
class GoodsReceiptLine(TenantModel):
    receipt = models.ForeignKey(GoodsReceipt, on_delete=models.CASCADE, related_name="lines", verbose_name=_("receipt"))
    order_line = models.ForeignKey(
        PurchaseOrderLine, on_delete=models.PROTECT, related_name="receipt_lines", verbose_name=_("order line")
    )
    product = models.ForeignKey("erp.Product", on_delete=models.PROTECT, related_name="+", verbose_name=_("product"))
    lot = models.ForeignKey(
        "erp.Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("lot")
    )
    location = models.ForeignKey("erp.Location", on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    unit_cost = models.DecimalField(_("unit cost"), **UNIT_PRICE)
    move = models.OneToOneField("erp.StockMove", on_delete=models.PROTECT, related_name="+", verbose_name=_("move"))

    class Meta:
        verbose_name = _("goods receipt line")
        verbose_name_plural = _("goods receipt lines")
        ordering = ["receipt", "id"]
        constraints = [models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_receiptline_quantity_positive")]

    def __str__(self) -> str:
        return f"{self.receipt_id}: {self.quantity} × {self.product_id}"


# ---------------------------------------------------------------- three-way match


class MatchState(models.TextChoices):
    MATCHED = "matched", _("Matched")
    BLOCKED = "blocked", _("Blocked: variance")
    APPROVED = "approved", _("Variance approved")


@audited
class VendorBillMatch(TenantModel):
    """The three-way match of a vendor bill with its purchase order and receipts. A ``blocked`` bill cannot be
    posted (a PostgreSQL trigger refuses it) until finance approves the variance."""

    invoice = models.OneToOneField(
        "erp.Invoice", on_delete=models.CASCADE, related_name="purchase_match", verbose_name=_("bill")
    )
    purchase_order = models.ForeignKey(
        PurchaseOrder, on_delete=models.PROTECT, related_name="bill_matches", verbose_name=_("purchase order")
    )
    state = models.CharField(_("state"), max_length=10, choices=MatchState.choices)
    issues = models.JSONField(_("variances"), default=list, blank=True)
    checked_at = models.DateTimeField(_("checked at"), default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    approval_note = models.CharField(_("approval note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("three-way match")
        verbose_name_plural = _("three-way matches")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="approved") | Q(approved_by__isnull=False), name="erp_billmatch_approved_by_someone"
            )
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id}: {self.state}"
