"""Sales targets (issue #7, sales dashboard): how much a team — or one owner in it — should win in a month.
The sales dashboard compares the weighted pipeline and the won amount per month with these."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import Team, TenantModel


@audited
class SalesTarget(TenantModel):
    """The amount a team (``owner`` empty) or one of its people should win in ``month`` (its first day)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+", verbose_name=_("team"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("owner"),
    )
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    amount = models.DecimalField(_("target amount"), max_digits=18, decimal_places=2)

    class Meta:
        verbose_name = _("sales target")
        verbose_name_plural = _("sales targets")
        ordering = ["month", "team_id", "owner_id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="crm_salestarget_amount_not_negative"),
            models.CheckConstraint(condition=Q(month__day=1), name="crm_salestarget_month_first_day"),
            models.UniqueConstraint(
                fields=["team", "month"], condition=Q(owner__isnull=True), name="crm_salestarget_team_month_unique"
            ),
            models.UniqueConstraint(
                fields=["team", "owner", "month"],
                condition=Q(owner__isnull=False),
                name="crm_salestarget_owner_month_unique",
            ),
        ]
        indexes = [models.Index(fields=["company", "month"], name="crm_salestarget_company_month")]

    def __str__(self) -> str:
        return f"{self.team} {self.month:%Y-%m}: {self.amount}"
