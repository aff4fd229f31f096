"""Inventory valuation: what the stock is worth, per product, and how each move changed it.

``StockValuationLayer`` is one row per valued stock move (Odoo's ``stock.valuation.layer``): its signed quantity
and value; an incoming layer keeps ``remaining_quantity`` / ``remaining_value`` — what of it is still in stock,
consumed first-in-first-out by outgoing moves of a FIFO product. ``ProductValuation`` is the running total per
product (quantity and value still in the company's stock, transit included), the row locked while a move is
valued; its ``value`` equals the sum of the layers' values. ``ValuationSettings`` says whether the company
values its stock perpetually (every move posted to the ledger) and to which accounts.

Values are money (``NUMERIC(18, 2)``, company currency); quantities ``NUMERIC(18, 4)`` in the stock unit.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import Company, TenantModel

QUANTITY = {"max_digits": 18, "decimal_places": 4}
MONEY = {"max_digits": 18, "decimal_places": 2}
ZERO = Decimal("0")


@audited
class ValuationSettings(TenantModel):
    """How a company values its stock. With ``perpetual`` on, every stock move of a stockable product posts its
    value to the ledger in the move's transaction (receipt: stock vs. goods received not invoiced; delivery:
    cost of goods sold vs. stock; adjustment: stock vs. inventory gain / loss); off, the layers are still kept
    and the ledger is adjusted by hand (periodic valuation)."""

    perpetual = models.BooleanField(_("perpetual valuation"), default=False)
    journal = models.ForeignKey(
        "erp.Journal", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("journal")
    )
    stock_account = models.ForeignKey(
        "erp.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("stock")
    )
    grni_account = models.ForeignKey(
        "erp.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("goods received not invoiced"),
    )
    cogs_account = models.ForeignKey(
        "erp.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("cost of goods sold"),
    )
    gain_account = models.ForeignKey(
        "erp.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("inventory gain"),
    )
    loss_account = models.ForeignKey(
        "erp.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("inventory loss"),
    )
    production_account = models.ForeignKey(
        "erp.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("production (work in progress)"),
    )
    price_difference_account = models.ForeignKey(
        "erp.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("purchase price difference"),
    )

    class Meta:
        verbose_name = _("valuation settings")
        verbose_name_plural = _("valuation settings")
        constraints = [
            models.UniqueConstraint(fields=["company"], name="erp_valuationsettings_one_per_company"),
            models.CheckConstraint(
                condition=Q(perpetual=False)
                | (
                    Q(journal__isnull=False)
                    & Q(stock_account__isnull=False)
                    & Q(grni_account__isnull=False)
                    & Q(cogs_account__isnull=False)
                    & Q(gain_account__isnull=False)
                    & Q(loss_account__isnull=False)
                    & Q(production_account__isnull=False)
                ),
                name="erp_valuationsettings_perpetual_has_accounts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.company_id}: {'perpetual' if self.perpetual else 'periodic'}"


class ProductValuation(models.Model):
    """The quantity and value of a product still in the company's stock (every warehouse and transit): the
    running sum of its layers, locked while a move is valued (the one lock order: quants, then this row)."""

    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+", verbose_name=_("company"))
    product = models.OneToOneField(
        "erp.Product", on_delete=models.PROTECT, related_name="valuation", verbose_name=_("product")
    )
    quantity = models.DecimalField(_("quantity valued"), default=ZERO, **QUANTITY)
    value = models.DecimalField(_("value"), default=ZERO, **MONEY)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("product valuation")
        verbose_name_plural = _("product valuations")
        ordering = ["product"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=0), name="erp_productvaluation_quantity_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.quantity} = {self.value}"


class StockValuationLayer(models.Model):
    """The value a stock move brought in (quantity > 0) or took out (quantity < 0). Incoming layers keep what of
    them is still in stock (``remaining_*``), consumed oldest first by FIFO products. ``journal_entry`` is the
    ledger entry that posted it (perpetual valuation)."""

    company = models.ForeignKey(
        Company, on_delete=models.PROTECT, related_name="+", verbose_name=_("company"), db_index=False
    )
    product = models.ForeignKey(
        "erp.Product", on_delete=models.PROTECT, related_name="valuation_layers", verbose_name=_("product")
    )
    move = models.ForeignKey(
        "erp.StockMove",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="valuation_layers",
        verbose_name=_("move"),
    )
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    unit_cost = models.DecimalField(_("unit cost"), max_digits=18, decimal_places=4)
    value = models.DecimalField(_("value"), **MONEY)
    remaining_quantity = models.DecimalField(_("remaining quantity"), default=ZERO, **QUANTITY)
    remaining_value = models.DecimalField(_("remaining value"), default=ZERO, **MONEY)
    description = models.CharField(_("description"), max_length=200, blank=True)
    journal_entry = models.ForeignKey(
        "erp.JournalEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("journal entry"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("valuation layer")
        verbose_name_plural = _("valuation layers")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(quantity=0), name="erp_layer_quantity_not_zero"),
            models.CheckConstraint(
                condition=Q(remaining_quantity__gte=0) & Q(remaining_quantity__lte=F("quantity"))
                | Q(quantity__lt=0) & Q(remaining_quantity=0) & Q(remaining_value=0),
                name="erp_layer_remaining_within_quantity",
            ),
        ]
        indexes = [
            models.Index(
                fields=["product", "id"], condition=Q(remaining_quantity__gt=0), name="erp_layer_fifo_open_idx"
            ),
            models.Index(fields=["company", "-id"], name="erp_layer_company_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.quantity} @ {self.unit_cost} = {self.value}"
