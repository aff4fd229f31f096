"""Demand signals for MRP (closed loop, issue #7, flows 7 and 10): how a company turns other apps' signals into
``DemandForecast`` lines. ``ForecastSettings``: the share of customers with a social purchase intent
(``intent:<SKU>`` tags) expected to buy, and how far ahead that demand is planned."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import TenantModel

DEFAULT_INTENT_CONVERSION_RATE = Decimal("0.1000")
DEFAULT_INTENT_HORIZON_DAYS = 30


@audited
class ForecastSettings(TenantModel):
    """A company's rules for forecasts from demand signals: each customer tagged ``intent:<SKU>`` counts for
    ``intent_conversion_rate`` units of that product, ``intent_horizon_days`` after the snapshot."""

    intent_conversion_rate = models.DecimalField(
        _("intent conversion rate"),
        max_digits=5,
        decimal_places=4,
        default=DEFAULT_INTENT_CONVERSION_RATE,
        help_text=_("Units expected per customer with a purchase intent (0.1 = one in ten buys one)."),
    )
    intent_horizon_days = models.PositiveSmallIntegerField(
        _("intent horizon (days)"), default=DEFAULT_INTENT_HORIZON_DAYS
    )

    class Meta:
        verbose_name = _("forecast settings")
        verbose_name_plural = _("forecast settings")
        constraints = [
            models.UniqueConstraint(fields=["company"], name="erp_forecastsettings_one_per_company"),
            models.CheckConstraint(
                condition=Q(intent_conversion_rate__gte=0) & Q(intent_conversion_rate__lte=10),
                name="erp_forecastsettings_rate_in_range",
            ),
            models.CheckConstraint(
                condition=Q(intent_horizon_days__gte=1) & Q(intent_horizon_days__lte=365),
                name="erp_forecastsettings_horizon_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.company_id}: × {self.intent_conversion_rate} / {self.intent_horizon_days} d"
