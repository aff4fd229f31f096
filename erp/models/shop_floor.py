"""Shop-floor reports (报工): who reported which good and scrapped units of an operation, on which work centre
and when. One row per report, written by ``erp.services.production.operation_report``; the per-operator and
per-work-centre output and defect-rate figures (HR's production KPIs) are read from these rows."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import TenantModel

QUANTITY = {"max_digits": 18, "decimal_places": 4}


@audited
class OperationReport(TenantModel):
    """Units an operator reported on an operation: ``good_quantity`` and ``scrap_quantity`` at ``reported_at``."""

    operation = models.ForeignKey(
        "erp.ProductionOperation", on_delete=models.CASCADE, related_name="reports", verbose_name=_("operation")
    )
    order = models.ForeignKey(
        "erp.ProductionOrder", on_delete=models.CASCADE, related_name="operation_reports", verbose_name=_("order")
    )
    work_center = models.ForeignKey(
        "erp.WorkCenter", on_delete=models.PROTECT, related_name="operation_reports", verbose_name=_("work centre")
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("operator"),
    )
    good_quantity = models.DecimalField(_("good"), default=Decimal("0"), **QUANTITY)
    scrap_quantity = models.DecimalField(_("scrapped"), default=Decimal("0"), **QUANTITY)
    reported_at = models.DateTimeField(_("reported at"))

    class Meta:
        verbose_name = _("operation report")
        verbose_name_plural = _("operation reports")
        ordering = ["-reported_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(good_quantity__gte=0) & Q(scrap_quantity__gte=0), name="erp_opreport_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["company", "operator", "reported_at"], name="erp_opreport_operator_idx"),
            models.Index(fields=["company", "work_center", "reported_at"], name="erp_opreport_wc_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.operation_id}: +{self.good_quantity} / {self.scrap_quantity}"
