"""Sales fulfilment: sales orders and their lines, delivery orders (pick / pack / ship per warehouse, with
backorders) and customer returns (RMA).

An order is ``draft`` until confirmed; confirming checks the customer's credit (over the limit: ``held`` with
the reason, until a manager releases it) and reserves stock through the inventory services; shipping a
delivery moves the stock out (consuming the reservations), invoicing bills what was delivered and not yet
invoiced. The quantities a line went through (delivered, returned, invoiced, refunded, cancelled) are counters
written only by ``erp.services.sales`` under the order's row lock, and CHECKed by PostgreSQL so nothing is
delivered twice, invoiced before it was delivered or returned beyond what left.

Quantities are ``NUMERIC(18, 4)`` in the product's stock unit, unit prices ``NUMERIC(18, 4)``, amounts
``NUMERIC(18, 2)`` (rounded per line, as on an invoice).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import TenantModel

from .inventory import Location, Lot, Product, StockReservation, Warehouse

QUANTITY = {"max_digits": 18, "decimal_places": 4}
UNIT_PRICE = {"max_digits": 18, "decimal_places": 4}
MONEY = {"max_digits": 18, "decimal_places": 2}
ZERO = Decimal("0")


class SalesOrderState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    HELD = "held", _("On credit hold")
    CONFIRMED = "confirmed", _("Confirmed")
    PARTIALLY_DELIVERED = "partially_delivered", _("Partially delivered")
    DELIVERED = "delivered", _("Delivered")
    INVOICED = "invoiced", _("Invoiced")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_ORDER_STATES = (
    SalesOrderState.CONFIRMED,
    SalesOrderState.PARTIALLY_DELIVERED,
    SalesOrderState.DELIVERED,
    SalesOrderState.INVOICED,
)


class InvoiceStatus(models.TextChoices):
    NOTHING = "nothing", _("Nothing to invoice")
    TO_INVOICE = "to_invoice", _("To invoice")
    INVOICED = "invoiced", _("Fully invoiced")


@audited
class SalesOrder(TenantModel):
    """A customer's order (销售订单). Created directly or by the closed loop from a won CRM opportunity
    (``crm_opportunity_id``, unique per company: a win delivered twice makes one order)."""

    number = models.CharField(_("number"), max_length=20)
    sequence = models.PositiveIntegerField(_("sequence"))
    partner = models.ForeignKey(
        "erp.Partner", on_delete=models.PROTECT, related_name="sales_orders", verbose_name=_("customer")
    )
    crm_account_id = models.BigIntegerField(_("CRM account id"), null=True, blank=True)
    crm_opportunity_id = models.BigIntegerField(_("CRM opportunity id"), null=True, blank=True)
    # The closed loop's correlation id: every event about this order (and its invoices and payments) carries it,
    # so the trace of a won deal reaches the payment. Inherited from the event being handled when the order was
    # made by a handler (crm.opportunity.won), else new.
    correlation_id = models.UUIDField(_("correlation id"), null=True, blank=True, editable=False)
    salesperson = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("salesperson"),
    )
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="sales_orders", verbose_name=_("warehouse")
    )
    currency = models.CharField(_("currency"), max_length=3)
    order_date = models.DateField(_("order date"))
    requested_date = models.DateField(_("requested delivery date"), null=True, blank=True)
    promised_date = models.DateField(_("promised delivery date"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=20, choices=SalesOrderState.choices, default="draft")
    invoice_status = models.CharField(
        _("invoice status"), max_length=12, choices=InvoiceStatus.choices, default=InvoiceStatus.NOTHING
    )
    hold_reason = models.CharField(_("hold reason"), max_length=300, blank=True)
    held_at = models.DateTimeField(_("held at"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("hold released by"),
    )
    released_at = models.DateTimeField(_("hold released at"), null=True, blank=True)
    release_note = models.CharField(_("release note"), max_length=300, blank=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("confirmed by"),
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.CharField(_("cancellation reason"), max_length=300, blank=True)
    origin = models.CharField(_("origin"), max_length=100, blank=True)
    client_reference = models.CharField(_("customer reference"), max_length=100, blank=True)
    note = models.TextField(_("note"), blank=True)
    amount_untaxed = models.DecimalField(_("untaxed amount"), default=ZERO, **MONEY)
    amount_tax = models.DecimalField(_("tax"), default=ZERO, **MONEY)
    amount_total = models.DecimalField(_("total"), default=ZERO, **MONEY)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        verbose_name = _("sales order")
        verbose_name_plural = _("sales orders")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "number"], name="erp_salesorder_number_unique"),
            models.UniqueConstraint(
                fields=["company", "crm_opportunity_id"],
                condition=Q(crm_opportunity_id__isnull=False),
                name="erp_salesorder_one_per_opportunity",
            ),
            models.CheckConstraint(condition=Q(state__in=SalesOrderState.values), name="erp_salesorder_state_valid"),
            models.CheckConstraint(
                condition=Q(amount_untaxed__gte=0, amount_tax__gte=0), name="erp_salesorder_amounts_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(amount_total=F("amount_untaxed") + F("amount_tax")), name="erp_salesorder_total_sum"
            ),
            models.CheckConstraint(
                condition=~Q(state="held") | ~Q(hold_reason=""), name="erp_salesorder_held_has_reason"
            ),
        ]
        indexes = [
            models.Index(fields=["company", "state"], name="erp_salesorder_state_idx"),
            models.Index(fields=["company", "crm_account_id", "-id"], name="erp_salesorder_crm_account_idx"),
            models.Index(fields=["company", "partner", "-id"], name="erp_salesorder_partner_idx"),
        ]

    def __str__(self) -> str:
        return self.number


@audited
class SalesOrderLine(TenantModel):
    """A product on an order. ``reservation`` is the stock reservation currently holding it (a line confirmed
    short is reserved again when stock arrives); the counters say what happened to the ordered quantity."""

    order = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="lines", verbose_name=_("order"))
    sequence = models.PositiveSmallIntegerField(_("sequence"), default=1)
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="sales_lines", verbose_name=_("product")
    )
    description = models.CharField(_("description"), max_length=255)
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="sales_lines", verbose_name=_("warehouse")
    )
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    unit_price = models.DecimalField(_("unit price"), **UNIT_PRICE)
    price_source = models.CharField(_("price from"), max_length=12, default="manual")
    discount = models.DecimalField(_("discount %"), max_digits=5, decimal_places=2, default=ZERO)
    tax = models.ForeignKey(
        "erp.Tax", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("tax")
    )
    requested_date = models.DateField(_("requested date"), null=True, blank=True)
    promised_date = models.DateField(_("promised date"), null=True, blank=True)
    reservation = models.ForeignKey(
        StockReservation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("reservation"),
    )
    delivered_quantity = models.DecimalField(_("delivered"), default=ZERO, **QUANTITY)
    returned_quantity = models.DecimalField(_("returned"), default=ZERO, **QUANTITY)
    invoiced_quantity = models.DecimalField(_("invoiced"), default=ZERO, **QUANTITY)
    refunded_quantity = models.DecimalField(_("credited"), default=ZERO, **QUANTITY)
    cancelled_quantity = models.DecimalField(_("not delivered (cancelled)"), default=ZERO, **QUANTITY)
    subtotal = models.DecimalField(_("untaxed amount"), default=ZERO, **MONEY)
    tax_amount = models.DecimalField(_("tax"), default=ZERO, **MONEY)
    total = models.DecimalField(_("total"), default=ZERO, **MONEY)

    class Meta:
        verbose_name = _("sales order line")
        verbose_name_plural = _("sales order lines")
        ordering = ["order", "sequence", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_salesline_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="erp_salesline_price_not_negative"),
            models.CheckConstraint(condition=Q(discount__gte=0, discount__lte=100), name="erp_salesline_discount"),
            models.CheckConstraint(
                condition=Q(
                    delivered_quantity__gte=0,
                    returned_quantity__gte=0,
                    invoiced_quantity__gte=0,
                    refunded_quantity__gte=0,
                    cancelled_quantity__gte=0,
                ),
                name="erp_salesline_counters_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=F("delivered_quantity") + F("cancelled_quantity")),
                name="erp_salesline_not_delivered_twice",
            ),
            models.CheckConstraint(
                condition=Q(returned_quantity__lte=F("delivered_quantity")), name="erp_salesline_returned_le_delivered"
            ),
            models.CheckConstraint(
                condition=Q(invoiced_quantity__lte=F("delivered_quantity")), name="erp_salesline_invoiced_le_delivered"
            ),
            models.CheckConstraint(
                condition=Q(refunded_quantity__lte=F("invoiced_quantity")), name="erp_salesline_refunded_le_invoiced"
            ),
            models.CheckConstraint(condition=Q(total=F("subtotal") + F("tax_amount")), name="erp_salesline_total_sum"),
        ]
        indexes = [models.Index(fields=["product", "warehouse"], name="erp_salesline_product_idx")]

    def __str__(self) -> str:
        return f"{self.description} × {self.quantity}"

    @property
    def open_quantity(self) -> Decimal:
        """Still to be shipped."""
        return self.quantity - self.delivered_quantity - self.cancelled_quantity

    @property
    def to_invoice_quantity(self) -> Decimal:
        """Delivered and kept, less what is already invoiced net of credit notes (negative: to credit)."""
        return (self.delivered_quantity - self.returned_quantity) - (self.invoiced_quantity - self.refunded_quantity)


class DeliveryState(models.TextChoices):
    READY = "ready", _("Ready to pick")
    PICKED = "picked", _("Picked")
    PACKED = "packed", _("Packed")
    SHIPPED = "shipped", _("Shipped")
    DELIVERED = "delivered", _("Delivered")
    CANCELLED = "cancelled", _("Cancelled")


@audited
class DeliveryOrder(TenantModel):
    """The goods of one order leaving one warehouse (出库单 / 发货单): picked (lots chosen, first expiry
    suggested), packed, shipped (carrier and tracking number; stock moves out) and confirmed delivered. What is
    not shipped goes to a backorder (``backorder_of``)."""

    number = models.CharField(_("number"), max_length=20)
    sequence = models.PositiveIntegerField(_("sequence"))
    sales_order = models.ForeignKey(
        SalesOrder, on_delete=models.PROTECT, related_name="deliveries", verbose_name=_("sales order")
    )
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="deliveries", verbose_name=_("warehouse")
    )
    backorder_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="backorders",
        verbose_name=_("backorder of"),
    )
    state = models.CharField(_("state"), max_length=10, choices=DeliveryState.choices, default=DeliveryState.READY)
    scheduled_date = models.DateField(_("scheduled date"), null=True, blank=True)
    carrier = models.CharField(_("carrier"), max_length=100, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=100, blank=True)
    package_count = models.PositiveSmallIntegerField(_("packages"), null=True, blank=True)
    weight = models.DecimalField(_("weight (kg)"), null=True, blank=True, **QUANTITY)
    picked_at = models.DateTimeField(_("picked at"), null=True, blank=True)
    packed_at = models.DateTimeField(_("packed at"), null=True, blank=True)
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    shipped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("shipped by"),
    )
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    received_by = models.CharField(_("received by"), max_length=100, blank=True)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("delivery order")
        verbose_name_plural = _("delivery orders")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "number"], name="erp_delivery_number_unique"),
            models.CheckConstraint(condition=Q(state__in=DeliveryState.values), name="erp_delivery_state_valid"),
            models.CheckConstraint(
                condition=~Q(state__in=["shipped", "delivered"]) | Q(shipped_at__isnull=False),
                name="erp_delivery_shipped_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(state="delivered") | Q(delivered_at__isnull=False),
                name="erp_delivery_delivered_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["company", "state", "warehouse"], name="erp_delivery_state_idx"),
        ]

    def __str__(self) -> str:
        return self.number


@audited
class DeliveryLine(TenantModel):
    """How much of one order line this delivery carries (``quantity``), how much was picked and shipped."""

    delivery = models.ForeignKey(
        DeliveryOrder, on_delete=models.CASCADE, related_name="lines", verbose_name=_("delivery")
    )
    sales_line = models.ForeignKey(
        SalesOrderLine, on_delete=models.PROTECT, related_name="delivery_lines", verbose_name=_("order line")
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("product"))
    quantity = models.DecimalField(_("to deliver"), **QUANTITY)
    picked_quantity = models.DecimalField(_("picked"), default=ZERO, **QUANTITY)
    shipped_quantity = models.DecimalField(_("shipped"), default=ZERO, **QUANTITY)
    returned_quantity = models.DecimalField(_("returned"), default=ZERO, **QUANTITY)

    class Meta:
        verbose_name = _("delivery line")
        verbose_name_plural = _("delivery lines")
        ordering = ["delivery", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_deliveryline_quantity_positive"),
            models.CheckConstraint(
                condition=Q(picked_quantity__gte=0, picked_quantity__lte=F("quantity")),
                name="erp_deliveryline_picked_range",
            ),
            models.CheckConstraint(
                condition=Q(shipped_quantity__gte=0, shipped_quantity__lte=F("quantity")),
                name="erp_deliveryline_shipped_range",
            ),
            models.CheckConstraint(
                condition=Q(returned_quantity__gte=0, returned_quantity__lte=F("shipped_quantity")),
                name="erp_deliveryline_returned_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id}: {self.quantity} × {self.product_id}"


@audited
class DeliveryPick(TenantModel):
    """Which lot (and location) a delivery line is taken from: suggested first expiry first when the line is
    picked, changed by the picker if they took another lot."""

    line = models.ForeignKey(DeliveryLine, on_delete=models.CASCADE, related_name="picks", verbose_name=_("line"))
    lot = models.ForeignKey(
        Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("lot")
    )
    quantity = models.DecimalField(_("quantity"), **QUANTITY)

    class Meta:
        verbose_name = _("picked lot")
        verbose_name_plural = _("picked lots")
        ordering = ["line", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_deliverypick_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.line_id}: {self.quantity} of lot {self.lot_id}"


class ReturnState(models.TextChoices):
    REQUESTED = "requested", _("Authorised, waiting for the goods")
    RECEIVED = "received", _("Received")
    CANCELLED = "cancelled", _("Cancelled")


class ReturnDestination(models.TextChoices):
    STOCK = "stock", _("Back to stock")
    QUARANTINE = "quarantine", _("Quarantine (held until released)")
    SCRAP = "scrap", _("Scrap")


@audited
class SalesReturn(TenantModel):
    """A customer return (退货, RMA) of goods from one delivery: authorised, then received back to stock, into
    quarantine or to scrap; what had been invoiced is credited with a credit note."""

    number = models.CharField(_("number"), max_length=20)
    sequence = models.PositiveIntegerField(_("sequence"))
    delivery = models.ForeignKey(
        DeliveryOrder, on_delete=models.PROTECT, related_name="returns", verbose_name=_("delivery")
    )
    sales_order = models.ForeignKey(
        SalesOrder, on_delete=models.PROTECT, related_name="returns", verbose_name=_("sales order")
    )
    state = models.CharField(_("state"), max_length=10, choices=ReturnState.choices, default=ReturnState.REQUESTED)
    destination = models.CharField(
        _("destination"), max_length=10, choices=ReturnDestination.choices, default=ReturnDestination.STOCK
    )
    location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("received into")
    )
    reason = models.CharField(_("reason"), max_length=300)
    credit_note = models.ForeignKey(
        "erp.Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("credit note")
    )
    received_at = models.DateTimeField(_("received at"), null=True, blank=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("received by"),
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
        verbose_name = _("customer return")
        verbose_name_plural = _("customer returns")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "number"], name="erp_salesreturn_number_unique"),
            models.CheckConstraint(condition=Q(state__in=ReturnState.values), name="erp_salesreturn_state_valid"),
            models.CheckConstraint(
                condition=Q(destination__in=ReturnDestination.values), name="erp_salesreturn_destination_valid"
            ),
            models.CheckConstraint(
                condition=~Q(state="received") | Q(received_at__isnull=False), name="erp_salesreturn_received_time"
            ),
        ]

    def __str__(self) -> str:
        return self.number


@audited
class SalesReturnLine(TenantModel):
    """A quantity (of a lot) of one delivery line coming back."""

    sales_return = models.ForeignKey(
        SalesReturn, on_delete=models.CASCADE, related_name="lines", verbose_name=_("return")
    )
    delivery_line = models.ForeignKey(
        DeliveryLine, on_delete=models.PROTECT, related_name="return_lines", verbose_name=_("delivery line")
    )
    sales_line = models.ForeignKey(
        SalesOrderLine, on_delete=models.PROTECT, related_name="return_lines", verbose_name=_("order line")
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("product"))
    lot = models.ForeignKey(
        Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("lot")
    )
    quantity = models.DecimalField(_("quantity"), **QUANTITY)

    class Meta:
        verbose_name = _("customer return line")
        verbose_name_plural = _("customer return lines")
        ordering = ["sales_return", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_salesreturnline_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.sales_return_id}: {self.quantity} × {self.product_id}"
