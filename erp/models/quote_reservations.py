"""Soft reservations of accepted CRM quotes (closed loop, issue #7, flow 9): the quantities a customer accepted
on a quote are held back from what ERP promises to others until the quote expires, the deal is won (the sales
order then reserves for real) or lost. Soft: they lower the explained promise (``erp.selectors.promise``) and
never block a confirmed order's hard reservation."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import TenantModel

QUANTITY = {"max_digits": 18, "decimal_places": 4}


class QuoteReservationState(models.TextChoices):
    ACTIVE = "active", _("Active")
    CONSUMED = "consumed", _("Turned into a sales order")
    RELEASED = "released", _("Released")


@audited
class QuoteReservation(TenantModel):
    """``quantity`` of a product soft-reserved for accepted CRM quote ``crm_quote_id`` until ``expires_on``
    (the quote's validity; the last day included)."""

    product = models.ForeignKey("erp.Product", on_delete=models.PROTECT, related_name="+", verbose_name=_("product"))
    warehouse = models.ForeignKey(
        "erp.Warehouse", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("warehouse")
    )
    quantity = models.DecimalField(_("quantity"), **QUANTITY)
    crm_quote_id = models.BigIntegerField(_("CRM quote id"))
    crm_quote_number = models.CharField(_("CRM quote"), max_length=40, blank=True)
    crm_opportunity_id = models.BigIntegerField(_("CRM opportunity id"), null=True, blank=True)
    expires_on = models.DateField(_("held until"))
    state = models.CharField(
        _("state"), max_length=10, choices=QuoteReservationState.choices, default=QuoteReservationState.ACTIVE
    )

    class Meta:
        verbose_name = _("quote reservation")
        verbose_name_plural = _("quote reservations")
        ordering = ["expires_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=Decimal("0")), name="erp_quotereservation_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(state__in=QuoteReservationState.values), name="erp_quotereservation_state_valid"
            ),
            models.UniqueConstraint(
                fields=["company", "crm_quote_id", "product"], name="erp_quotereservation_once_per_quote_product"
            ),
        ]
        indexes = [
            models.Index(
                fields=["product", "expires_on"], condition=Q(state="active"), name="erp_quotereservation_active"
            ),
            models.Index(fields=["company", "crm_opportunity_id"], name="erp_quotereservation_deal"),
        ]

    def __str__(self) -> str:
        return f"{self.crm_quote_number or self.crm_quote_id}: {self.quantity} × {self.product_id}"
