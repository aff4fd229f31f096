"""Inventory: products and their prices and suppliers, warehouses and locations, lots, and the stock ledger.

The stock ledger is ``StockMove``: append-only (a PostgreSQL trigger refuses UPDATE and DELETE), one row per
quantity of one product (and lot) going from one location to another. ``StockQuant`` is what is on hand per
product, internal location and lot, derived from the moves and kept equal to them by the services in the same
transaction; its CHECK constraints keep stock from going negative or being reserved twice even if Python got it
wrong. Reservations hold free stock for a sales order line or a production order, allocated to quants.

Quantities are ``NUMERIC(18, 4)`` in the product's stock unit; unit prices and unit costs are ``NUMERIC(18, 4)``
too (a screw costs 0.0125 yuan; totals are rounded to cents where they are posted).
"""

from __future__ import annotations

from decimal import Decimal

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import Company, TenantModel

QUANTITY = {"max_digits": 18, "decimal_places": 4}
UNIT_AMOUNT = {"max_digits": 18, "decimal_places": 4}
FACTOR = {"max_digits": 18, "decimal_places": 6}
ZERO = Decimal("0")


# ---------------------------------------------------------------- units of measure


class UomDimension(models.TextChoices):
    UNIT = "unit", _("Units")
    WEIGHT = "weight", _("Weight")
    LENGTH = "length", _("Length")
    AREA = "area", _("Area")
    VOLUME = "volume", _("Volume")
    TIME = "time", _("Time")


@audited
class UnitOfMeasure(TenantModel):
    """A unit (个, kg, m, L …). Units of one dimension convert by ``factor``: how many of the dimension's
    reference unit (factor 1) one of this unit is — g = 0.001 when kg is the reference."""

    code = models.CharField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=50)
    name_en = models.CharField(_("English name"), max_length=50, blank=True)
    dimension = models.CharField(_("dimension"), max_length=10, choices=UomDimension.choices, default=UomDimension.UNIT)
    factor = models.DecimalField(_("factor to the reference unit"), default=Decimal("1"), **FACTOR)
    decimal_places = models.PositiveSmallIntegerField(
        _("decimal places"), default=0, help_text=_("How finely a quantity in this unit may be divided (0–4).")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("unit of measure")
        verbose_name_plural = _("units of measure")
        ordering = ["dimension", "factor", "code"]
        constraints = [
            models.UniqueConstraint(fields=["company", "code"], name="erp_uom_code_unique"),
            models.CheckConstraint(condition=Q(factor__gt=0), name="erp_uom_factor_positive"),
            models.CheckConstraint(condition=Q(decimal_places__lte=4), name="erp_uom_decimal_places_max4"),
        ]

    def __str__(self) -> str:
        return self.code


# ---------------------------------------------------------------- products


class CostMethod(models.TextChoices):
    MOVING_AVERAGE = "moving_average", _("Moving average")
    FIFO = "fifo", _("First in, first out")


@audited
class ProductCategory(TenantModel):
    """A product category (产品类别); categories nest."""

    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name=_("parent")
    )

    class Meta:
        verbose_name = _("product category")
        verbose_name_plural = _("product categories")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "parent", "name"], nulls_distinct=False, name="erp_productcategory_name_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name


@audited
class Product(TenantModel):
    """Something the company sells, buys or makes. Stock is counted in ``uom`` (the stock unit)."""

    sku = models.CharField(_("SKU"), max_length=64)
    barcode = models.CharField(_("barcode"), max_length=64, blank=True)
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    category = models.ForeignKey(
        ProductCategory,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="products",
        verbose_name=_("category"),
    )
    uom = models.ForeignKey(
        UnitOfMeasure, on_delete=models.PROTECT, related_name="products", verbose_name=_("stock unit")
    )
    is_stockable = models.BooleanField(
        _("stockable"), default=True, help_text=_("Services and consumables are not counted in stock.")
    )
    tracks_lots = models.BooleanField(_("tracked by lot"), default=False)
    cost_method = models.CharField(
        _("cost method"), max_length=20, choices=CostMethod.choices, default=CostMethod.MOVING_AVERAGE
    )
    average_cost = models.DecimalField(_("average unit cost"), default=ZERO, **UNIT_AMOUNT)
    list_price = models.DecimalField(_("list price"), default=ZERO, **UNIT_AMOUNT)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["sku"]
        constraints = [
            models.UniqueConstraint(fields=["company", "sku"], name="erp_product_sku_unique"),
            models.UniqueConstraint(
                fields=["company", "barcode"], condition=~Q(barcode=""), name="erp_product_barcode_unique"
            ),
            models.CheckConstraint(condition=Q(average_cost__gte=0), name="erp_product_average_cost_not_negative"),
            models.CheckConstraint(condition=Q(list_price__gte=0), name="erp_product_list_price_not_negative"),
        ]
        indexes = [models.Index(fields=["company", "name"], name="erp_product_name_idx")]

    def __str__(self) -> str:
        return f"[{self.sku}] {self.name}"


@audited
class UomConversion(TenantModel):
    """A product's own unit or packaging: one ``uom`` is ``factor`` of the product's stock unit
    (1 箱 = 12 个). Takes precedence over the generic conversion within a dimension."""

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="uom_conversions", verbose_name=_("product")
    )
    uom = models.ForeignKey(UnitOfMeasure, on_delete=models.PROTECT, related_name="+", verbose_name=_("unit"))
    factor = models.DecimalField(_("stock units per unit"), **FACTOR)

    class Meta:
        verbose_name = _("unit conversion")
        verbose_name_plural = _("unit conversions")
        ordering = ["product", "uom"]
        constraints = [
            models.UniqueConstraint(fields=["product", "uom"], name="erp_uomconversion_unique"),
            models.CheckConstraint(condition=Q(factor__gt=0), name="erp_uomconversion_factor_positive"),
        ]

    def __str__(self) -> str:
        return f"1 {self.uom} = {self.factor} {self.product.uom}"


@audited
class ProductSupplier(TenantModel):
    """Where a product can be bought and how long it takes. The supplier is a name (and their own product
    code) until procurement brings a supplier register; see docs/decisions.md."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="suppliers", verbose_name=_("product"))
    supplier_name = models.CharField(_("supplier"), max_length=200)
    partner = models.ForeignKey(  # procurement: the supplier in the partner register, when known
        "erp.Partner",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="supplied_products",
        verbose_name=_("supplier (partner)"),
    )
    supplier_sku = models.CharField(_("supplier's product code"), max_length=64, blank=True)
    lead_time_days = models.PositiveSmallIntegerField(_("lead time (days)"), default=0)
    min_order_quantity = models.DecimalField(_("minimum order quantity"), default=ZERO, **QUANTITY)
    unit_price = models.DecimalField(_("purchase price"), null=True, blank=True, **UNIT_AMOUNT)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    is_preferred = models.BooleanField(_("preferred"), default=False)

    class Meta:
        verbose_name = _("product supplier")
        verbose_name_plural = _("product suppliers")
        ordering = ["product", "-is_preferred", "lead_time_days"]
        constraints = [
            models.UniqueConstraint(fields=["product", "supplier_name"], name="erp_productsupplier_unique"),
            models.UniqueConstraint(
                fields=["product"], condition=Q(is_preferred=True), name="erp_productsupplier_one_preferred"
            ),
            models.CheckConstraint(condition=Q(min_order_quantity__gte=0), name="erp_productsupplier_moq_not_negative"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="erp_productsupplier_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.product.sku} ← {self.supplier_name}"


# ---------------------------------------------------------------- price lists


@audited
class PriceList(TenantModel):
    """Selling prices for one customer group (or every customer) in one currency, valid between two dates."""

    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    customer_group = models.SlugField(
        _("customer group"), max_length=50, blank=True, help_text=_("Empty: the list applies to every customer.")
    )
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_to = models.DateField(_("valid to"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("price list")
        verbose_name_plural = _("price lists")
        ordering = ["currency", "customer_group", "-valid_from", "name"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="erp_pricelist_name_unique"),
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True) | Q(valid_to__isnull=True) | Q(valid_to__gte=F("valid_from")),
                name="erp_pricelist_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name


@audited
class PriceListItem(TenantModel):
    """A product's unit price on a price list from ``min_quantity`` upwards (quantity tiers)."""

    price_list = models.ForeignKey(PriceList, on_delete=models.CASCADE, related_name="items", verbose_name=_("list"))
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="price_items", verbose_name=_("product")
    )
    min_quantity = models.DecimalField(_("from quantity"), default=ZERO, **QUANTITY)
    unit_price = models.DecimalField(_("unit price"), **UNIT_AMOUNT)

    class Meta:
        verbose_name = _("price list item")
        verbose_name_plural = _("price list items")
        ordering = ["price_list", "product", "min_quantity"]
        constraints = [
            models.UniqueConstraint(fields=["price_list", "product", "min_quantity"], name="erp_pricelistitem_tier"),
            models.CheckConstraint(condition=Q(min_quantity__gte=0), name="erp_pricelistitem_min_qty_not_negative"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="erp_pricelistitem_price_not_negative"),
        ]
        indexes = [models.Index(fields=["product", "price_list"], name="erp_pricelistitem_product_idx")]

    def __str__(self) -> str:
        return f"{self.price_list}: {self.product.sku} ≥ {self.min_quantity} @ {self.unit_price}"


# ---------------------------------------------------------------- warehouses, locations, lots


@audited
class Warehouse(TenantModel):
    """A warehouse (仓库): a site holding stock in locations."""

    code = models.CharField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("warehouse")
        verbose_name_plural = _("warehouses")
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["company", "code"], name="erp_warehouse_code_unique")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class LocationKind(models.TextChoices):
    INTERNAL = "internal", _("Internal (holds stock)")
    SUPPLIER = "supplier", _("Suppliers")
    CUSTOMER = "customer", _("Customers")
    ADJUSTMENT = "adjustment", _("Inventory adjustment")
    PRODUCTION = "production", _("Production")
    TRANSIT = "transit", _("In transit between warehouses")


@audited
class Location(TenantModel):
    """A place stock is in or comes from. Internal locations (shelves, zones) belong to a warehouse and hold
    stock; the virtual ones (suppliers, customers, adjustment, production; one each per company) are the other
    end of receipts, deliveries, adjustments and production moves."""

    warehouse = models.ForeignKey(
        Warehouse,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="locations",
        verbose_name=_("warehouse"),
    )
    code = models.CharField(_("code"), max_length=50)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=LocationKind.choices, default=LocationKind.INTERNAL)
    is_default = models.BooleanField(_("default location of the warehouse"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("location")
        verbose_name_plural = _("locations")
        ordering = ["warehouse", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "warehouse", "code"], nulls_distinct=False, name="erp_location_code_unique"
            ),
            models.CheckConstraint(
                condition=(Q(kind=LocationKind.INTERNAL) & Q(warehouse__isnull=False))
                | (~Q(kind=LocationKind.INTERNAL) & Q(warehouse__isnull=True)),
                name="erp_location_internal_in_warehouse",
            ),
            models.UniqueConstraint(
                fields=["warehouse"], condition=Q(is_default=True), name="erp_location_one_default"
            ),
            models.UniqueConstraint(
                fields=["company", "kind"], condition=Q(warehouse__isnull=True), name="erp_location_one_virtual"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.warehouse.code}/{self.code}" if self.warehouse_id else self.name


@audited
class Lot(TenantModel):
    """A lot / batch (批次) of one product, with its production and expiry dates. SCRM's QR codes point at lots
    (traceability: which moves brought the lot in and where it went)."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="lots", verbose_name=_("product"))
    code = models.CharField(_("lot code"), max_length=64)
    production_date = models.DateField(_("production date"), null=True, blank=True)
    expiry_date = models.DateField(_("expiry date"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("lot")
        verbose_name_plural = _("lots")
        ordering = ["product", "expiry_date", "code"]
        constraints = [
            models.UniqueConstraint(fields=["product", "code"], name="erp_lot_code_unique_per_product"),
            models.CheckConstraint(
                condition=Q(production_date__isnull=True)
                | Q(expiry_date__isnull=True)
                | Q(expiry_date__gte=F("production_date")),
                name="erp_lot_expires_after_production",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product.sku}#{self.code}"


# ---------------------------------------------------------------- the stock ledger


class MoveKind(models.TextChoices):
    RECEIPT = "receipt", _("Receipt")
    DELIVERY = "delivery", _("Delivery")
    TRANSFER = "transfer", _("Transfer")
    ADJUSTMENT = "adjustment", _("Adjustment")
    PRODUCTION = "production", _("Production")


class StockMove(models.Model):
    """One quantity of a product (and lot) moved from one location to another: the stock ledger.

    Append-only: the database refuses UPDATE and DELETE (trigger ``erp_stockmove_append_only``); a mistake is
    corrected by another move. ``unit_cost`` is the cost per stock unit the move carried (the receipt's cost, or
    the product's average cost when stock left).
    """

    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="+", verbose_name=_("company"), db_index=False
    )
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="moves", verbose_name=_("product"), db_index=False
    )
    lot = models.ForeignKey(
        Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="moves", verbose_name=_("lot")
    )
    from_location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="moves_out", verbose_name=_("from")
    )
    to_location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="moves_in", verbose_name=_("to"))
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    kind = models.CharField(_("kind"), max_length=20, choices=MoveKind.choices)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    moved_at = models.DateTimeField(_("moved at"), default=timezone.now)
    unit_cost = models.DecimalField(_("unit cost"), null=True, blank=True, **UNIT_AMOUNT)
    reservation = models.ForeignKey(
        "StockReservation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="moves",
        verbose_name=_("reservation"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,  # SET NULL would be an UPDATE, which the ledger refuses: users are deactivated
        related_name="+",
        verbose_name=_("created by"),
        db_index=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("stock move")
        verbose_name_plural = _("stock moves")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_stockmove_quantity_positive"),
            models.CheckConstraint(condition=~Q(from_location=F("to_location")), name="erp_stockmove_two_places"),
            models.CheckConstraint(condition=Q(unit_cost__gte=0), name="erp_stockmove_unit_cost_not_negative"),
            models.CheckConstraint(condition=Q(kind__in=MoveKind.values), name="erp_stockmove_kind_valid"),
        ]
        indexes = [
            models.Index(fields=["company", "-id"], name="erp_stockmove_company_idx"),
            models.Index(fields=["product", "moved_at"], name="erp_stockmove_product_idx"),
            models.Index(fields=["company", "reference"], name="erp_stockmove_reference_idx"),
        ]
        triggers = [
            pgtrigger.Protect(name="erp_stockmove_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.quantity} × {self.product_id}: {self.from_location_id}→{self.to_location_id}"


class StockQuant(models.Model):
    """What is on hand of a product in an internal location (and lot), and how much of it is reserved.

    Derived from the moves and kept equal to their sum by the services in the transaction of each move; the
    CHECKs make negative stock and over-reservation impossible whatever the code above does.
    """

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+", verbose_name=_("company"))
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="quants", verbose_name=_("product"), db_index=False
    )
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="quants", verbose_name=_("warehouse")
    )
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="quants", verbose_name=_("location"))
    lot = models.ForeignKey(
        Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="quants", verbose_name=_("lot")
    )
    quantity = models.DecimalField(_("on hand"), default=ZERO, **QUANTITY)
    reserved = models.DecimalField(_("reserved"), default=ZERO, **QUANTITY)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("stock on hand")
        verbose_name_plural = _("stock on hand")
        ordering = ["product", "location", "lot"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "location", "lot"], nulls_distinct=False, name="erp_stockquant_unique"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="erp_stockquant_quantity_not_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="erp_stockquant_reserved_not_negative"),
            models.CheckConstraint(condition=Q(reserved__lte=F("quantity")), name="erp_stockquant_reserved_le_on_hand"),
        ]
        indexes = [models.Index(fields=["product", "warehouse"], name="erp_stockquant_product_wh_idx")]

    def __str__(self) -> str:
        return f"{self.product_id}@{self.location_id}/{self.lot_id}: {self.quantity} ({self.reserved} reserved)"

    @property
    def free(self) -> Decimal:
        return self.quantity - self.reserved


class ReservationState(models.TextChoices):
    ACTIVE = "active", _("Active")
    CONSUMED = "consumed", _("Consumed")
    RELEASED = "released", _("Released")


@audited
class StockReservation(TenantModel):
    """Free stock of a product in a warehouse held for one purpose (a sales order line, a production order).

    Allocated to quants (``allocations``); what is still held is ``quantity - consumed_quantity -
    released_quantity``. It is ``active`` while something is held, then ``consumed`` (if anything was delivered
    against it) or ``released``.
    """

    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="reservations", verbose_name=_("product")
    )
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="reservations", verbose_name=_("warehouse")
    )
    lot = models.ForeignKey(
        Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="reservations", verbose_name=_("lot")
    )
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    consumed_quantity = models.DecimalField(_("delivered"), default=ZERO, **QUANTITY)
    released_quantity = models.DecimalField(_("released"), default=ZERO, **QUANTITY)
    reference = models.CharField(_("reference"), max_length=100)
    required_date = models.DateField(_("required on"), null=True, blank=True)
    state = models.CharField(
        _("state"), max_length=10, choices=ReservationState.choices, default=ReservationState.ACTIVE
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
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_reservation_quantity_positive"),
            models.CheckConstraint(
                condition=Q(consumed_quantity__gte=0) & Q(released_quantity__gte=0),
                name="erp_reservation_parts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=F("consumed_quantity") + F("released_quantity")),
                name="erp_reservation_parts_le_quantity",
            ),
            models.CheckConstraint(
                condition=(
                    Q(state=ReservationState.ACTIVE) & Q(quantity__gt=F("consumed_quantity") + F("released_quantity"))
                )
                | (
                    Q(state__in=[ReservationState.CONSUMED, ReservationState.RELEASED])
                    & Q(quantity=F("consumed_quantity") + F("released_quantity"))
                ),
                name="erp_reservation_state_matches_quantities",
            ),
        ]
        indexes = [
            models.Index(fields=["company", "reference"], name="erp_reservation_reference_idx"),
            models.Index(
                fields=["product", "warehouse"], condition=Q(state="active"), name="erp_reservation_active_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.quantity} × {self.product_id}"

    @property
    def open_quantity(self) -> Decimal:
        return self.quantity - self.consumed_quantity - self.released_quantity


class StockReservationAllocation(models.Model):
    """The part of a reservation held on one quant; the quant's ``reserved`` is the sum of these."""

    reservation = models.ForeignKey(
        StockReservation, on_delete=models.CASCADE, related_name="allocations", verbose_name=_("reservation")
    )
    quant = models.ForeignKey(StockQuant, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("quant"))
    quantity = models.DecimalField(_("held"), **QUANTITY)

    class Meta:
        verbose_name = _("reservation allocation")
        verbose_name_plural = _("reservation allocations")
        ordering = ["reservation", "quant"]
        constraints = [
            models.UniqueConstraint(fields=["reservation", "quant"], name="erp_allocation_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="erp_allocation_quantity_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.reservation_id} on {self.quant_id}: {self.quantity}"


class AdjustmentState(models.TextChoices):
    PENDING = "pending", _("Waiting for approval")
    APPLIED = "applied", _("Approved and applied")
    REJECTED = "rejected", _("Rejected")


@audited
class StockAdjustment(TenantModel):
    """A requested correction of stock in one location (found, damaged, counted differently). Nothing moves
    until someone else approves it; then one adjustment move is written."""

    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="adjustments", verbose_name=_("product")
    )
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="adjustments", verbose_name=_("location")
    )
    lot = models.ForeignKey(
        Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="adjustments", verbose_name=_("lot")
    )
    quantity_delta = models.DecimalField(_("change"), **QUANTITY)
    reason = models.CharField(_("reason"), max_length=200)
    state = models.CharField(
        _("state"), max_length=10, choices=AdjustmentState.choices, default=AdjustmentState.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("requested by"),
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=200, blank=True)
    move = models.OneToOneField(
        StockMove,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="adjustment",
        verbose_name=_("move"),
    )

    class Meta:
        verbose_name = _("stock adjustment")
        verbose_name_plural = _("stock adjustments")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(quantity_delta=0), name="erp_adjustment_delta_not_zero"),
            models.CheckConstraint(
                condition=(Q(state=AdjustmentState.APPLIED) & Q(move__isnull=False))
                | (~Q(state=AdjustmentState.APPLIED) & Q(move__isnull=True)),
                name="erp_adjustment_applied_has_move",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}@{self.location_id}: {self.quantity_delta:+}"


# ---------------------------------------------------------------- planning


class SupplyKind(models.TextChoices):
    PURCHASE = "purchase", _("Purchase receipt")
    PRODUCTION = "production", _("Planned production")


class SupplyState(models.TextChoices):
    OPEN = "open", _("Expected")
    DONE = "done", _("Received")
    CANCELLED = "cancelled", _("Cancelled")


@audited
class IncomingSupply(TenantModel):
    """Stock expected to arrive in a warehouse on a date: an open purchase order line or a planned production
    order. Procurement and production write these (until they exist, the API does); receipts count against
    them; available-to-promise adds what is still open by its date."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="incoming", verbose_name=_("product"))
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="incoming", verbose_name=_("warehouse")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=SupplyKind.choices, default=SupplyKind.PURCHASE)
    expected_date = models.DateField(_("expected on"))
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    received_quantity = models.DecimalField(_("received"), default=ZERO, **QUANTITY)
    reference = models.CharField(_("reference"), max_length=100)
    state = models.CharField(_("state"), max_length=10, choices=SupplyState.choices, default=SupplyState.OPEN)

    class Meta:
        verbose_name = _("incoming supply")
        verbose_name_plural = _("incoming supplies")
        ordering = ["expected_date", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_incoming_quantity_positive"),
            models.CheckConstraint(condition=Q(received_quantity__gte=0), name="erp_incoming_received_not_negative"),
        ]
        indexes = [
            models.Index(fields=["product", "expected_date"], condition=Q(state="open"), name="erp_incoming_open_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.quantity} × {self.product_id} on {self.expected_date}"

    @property
    def open_quantity(self) -> Decimal:
        return max(self.quantity - self.received_quantity, ZERO)


@audited
class ReorderRule(TenantModel):
    """Reorder point of a product in a warehouse: when free stock plus what is expected falls below
    ``min_quantity``, suggest ordering up to ``max_quantity`` (in multiples of ``multiple``)."""

    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="reorder_rules", verbose_name=_("product")
    )
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.CASCADE, related_name="reorder_rules", verbose_name=_("warehouse")
    )
    min_quantity = models.DecimalField(_("reorder point"), **QUANTITY)
    max_quantity = models.DecimalField(_("order up to"), **QUANTITY)
    multiple = models.DecimalField(_("order multiple"), default=Decimal("1"), **QUANTITY)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("reorder rule")
        verbose_name_plural = _("reorder rules")
        ordering = ["warehouse", "product"]
        constraints = [
            models.UniqueConstraint(fields=["product", "warehouse"], name="erp_reorderrule_unique"),
            models.CheckConstraint(condition=Q(min_quantity__gte=0), name="erp_reorderrule_min_not_negative"),
            models.CheckConstraint(condition=Q(max_quantity__gte=F("min_quantity")), name="erp_reorderrule_max_ge_min"),
            models.CheckConstraint(condition=Q(multiple__gt=0), name="erp_reorderrule_multiple_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}@{self.warehouse_id}: {self.min_quantity}→{self.max_quantity}"
