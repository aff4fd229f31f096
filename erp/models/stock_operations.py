"""Inventory operations on top of the stock ledger: cycle counts with approval, and transfers between
warehouses (direct or through the company's transit location).

A count (盘点) freezes what the books say per product, location and lot (``expected_quantity``), the warehouse
enters what it found (``counted_quantity``), someone else approves, and each difference becomes one adjustment
move. A transfer (调拨单) ships lines out of one warehouse and receives them into another; through transit, what
is on the road is neither warehouse's stock until it is received.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import TenantModel

QUANTITY = {"max_digits": 18, "decimal_places": 4}
ZERO = Decimal("0")


class CountState(models.TextChoices):
    COUNTING = "counting", _("Counting")
    SUBMITTED = "submitted", _("Waiting for approval")
    APPLIED = "applied", _("Approved and applied")
    CANCELLED = "cancelled", _("Cancelled")


@audited
class StockCount(TenantModel):
    """A count sheet (盘点单) for one warehouse, or one location of it."""

    number = models.CharField(_("number"), max_length=30)
    warehouse = models.ForeignKey(
        "erp.Warehouse", on_delete=models.PROTECT, related_name="counts", verbose_name=_("warehouse")
    )
    location = models.ForeignKey(
        "erp.Location",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="counts",
        verbose_name=_("location"),
    )
    state = models.CharField(_("state"), max_length=10, choices=CountState.choices, default=CountState.COUNTING)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("submitted by"),
    )
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("stock count")
        verbose_name_plural = _("stock counts")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["company", "number"], name="erp_stockcount_number_unique")]

    def __str__(self) -> str:
        return self.number


@audited
class StockCountLine(TenantModel):
    """One product (lot) in one location of a count: what the books said when the sheet was made, what was
    found, and the adjustment move that applied the difference."""

    count = models.ForeignKey(StockCount, on_delete=models.CASCADE, related_name="lines", verbose_name=_("count"))
    product = models.ForeignKey("erp.Product", on_delete=models.PROTECT, related_name="+", verbose_name=_("product"))
    location = models.ForeignKey("erp.Location", on_delete=models.PROTECT, related_name="+", verbose_name=_("location"))
    lot = models.ForeignKey(
        "erp.Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("lot")
    )
    expected_quantity = models.DecimalField(_("on the books"), default=ZERO, **QUANTITY)
    counted_quantity = models.DecimalField(_("counted"), null=True, blank=True, **QUANTITY)
    applied_difference = models.DecimalField(_("difference applied"), null=True, blank=True, **QUANTITY)
    move = models.ForeignKey(
        "erp.StockMove", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("move")
    )

    class Meta:
        verbose_name = _("count line")
        verbose_name_plural = _("count lines")
        ordering = ["count", "location", "product", "lot"]
        constraints = [
            models.UniqueConstraint(
                fields=["count", "product", "location", "lot"], nulls_distinct=False, name="erp_countline_unique"
            ),
            models.CheckConstraint(
                condition=Q(counted_quantity__isnull=True) | Q(counted_quantity__gte=0),
                name="erp_countline_counted_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.count_id}: {self.product_id}@{self.location_id}"

    @property
    def difference(self) -> Decimal | None:
        if self.counted_quantity is None:
            return None
        return self.counted_quantity - self.expected_quantity


class TransferState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    IN_TRANSIT = "in_transit", _("In transit")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


@audited
class StockTransfer(TenantModel):
    """A transfer order (调拨单) between two warehouses: shipped at once (direct) or through transit and received
    later, in parts."""

    number = models.CharField(_("number"), max_length=30)
    from_warehouse = models.ForeignKey(
        "erp.Warehouse", on_delete=models.PROTECT, related_name="transfers_out", verbose_name=_("from warehouse")
    )
    to_warehouse = models.ForeignKey(
        "erp.Warehouse", on_delete=models.PROTECT, related_name="transfers_in", verbose_name=_("to warehouse")
    )
    via_transit = models.BooleanField(_("through transit"), default=True)
    state = models.CharField(_("state"), max_length=12, choices=TransferState.choices, default=TransferState.DRAFT)
    scheduled_date = models.DateField(_("scheduled on"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    shipped_at = models.DateTimeField(_("shipped at"), null=True, blank=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "number"], name="erp_stocktransfer_number_unique"),
            models.CheckConstraint(
                condition=~Q(from_warehouse=F("to_warehouse")), name="erp_stocktransfer_two_warehouses"
            ),
        ]

    def __str__(self) -> str:
        return self.number


@audited
class StockTransferLine(TenantModel):
    transfer = models.ForeignKey(
        StockTransfer, on_delete=models.CASCADE, related_name="lines", verbose_name=_("transfer")
    )
    product = models.ForeignKey("erp.Product", on_delete=models.PROTECT, related_name="+", verbose_name=_("product"))
    lot = models.ForeignKey(
        "erp.Lot", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("lot")
    )
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    shipped_quantity = models.DecimalField(_("shipped"), default=ZERO, **QUANTITY)
    received_quantity = models.DecimalField(_("received"), default=ZERO, **QUANTITY)

    class Meta:
        verbose_name = _("transfer line")
        verbose_name_plural = _("transfer lines")
        ordering = ["transfer", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="erp_transferline_quantity_positive"),
            models.CheckConstraint(
                condition=Q(shipped_quantity__gte=0) & Q(shipped_quantity__lte=F("quantity")),
                name="erp_transferline_shipped_within",
            ),
            models.CheckConstraint(
                condition=Q(received_quantity__gte=0) & Q(received_quantity__lte=F("shipped_quantity")),
                name="erp_transferline_received_within",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.transfer_id}: {self.quantity} × {self.product_id}"

    @property
    def in_transit(self) -> Decimal:
        return self.shipped_quantity - self.received_quantity
