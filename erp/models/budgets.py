"""Budgets (预算): amounts per account and period, for the whole company or one cost centre, compared with the
posted actuals; the budget's owner is told (in-app notification) when the actual of a line crosses one of the
budget's thresholds (80 %, 100 % by default) — once per line and threshold.

Also the cash-flow statement's mapping (现金流量表项目): which CAS cash-flow line a counterpart account's cash
movements belong to, where the company wants something else than the defaults by account code.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models.tenancy import TenantModel

from .finance import Account, Dimension, FiscalPeriod, FiscalYear

ZERO = Decimal("0.00")
MONEY = {"max_digits": 18, "decimal_places": 2}


def default_thresholds() -> list[int]:
    return [80, 100]


@audited
class Budget(TenantModel):
    """A budget of a fiscal year, for the company or one cost centre, with the person answerable for it."""

    name = models.CharField(_("name"), max_length=200)
    fiscal_year = models.ForeignKey(
        FiscalYear, on_delete=models.PROTECT, related_name="+", verbose_name=_("fiscal year")
    )
    cost_centre = models.ForeignKey(
        Dimension, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("cost centre")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
    )
    thresholds = ArrayField(
        models.PositiveSmallIntegerField(),
        default=default_thresholds,
        verbose_name=_("alert thresholds (percent used)"),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("budget")
        verbose_name_plural = _("budgets")
        ordering = ["company", "-fiscal_year__start_date", "name"]
        constraints = [
            models.UniqueConstraint(fields=["company", "fiscal_year", "name"], name="erp_budget_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


@audited
class BudgetLine(TenantModel):
    """The amount budgeted for one account (with its sub-accounts) in one period."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="lines", verbose_name=_("budget"))
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", verbose_name=_("account"))
    period = models.ForeignKey(FiscalPeriod, on_delete=models.PROTECT, related_name="+", verbose_name=_("period"))
    amount = models.DecimalField(_("budgeted amount"), **MONEY)

    class Meta:
        verbose_name = _("budget line")
        verbose_name_plural = _("budget lines")
        ordering = ["budget", "account__code", "period__start_date"]
        constraints = [
            models.UniqueConstraint(fields=["budget", "account", "period"], name="erp_budgetline_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="erp_budgetline_amount_sign"),
        ]
        indexes = [models.Index(fields=["company", "period", "account"], name="erp_budgetline_lookup")]

    def __str__(self) -> str:
        return f"{self.budget_id}: {self.account_id}@{self.period_id} {self.amount}"


class BudgetAlert(TenantModel):
    """The record that a budget line's actual crossed a threshold — at most one per line and threshold, so
    its owner is told once (the unique constraint makes the alerting handler idempotent)."""

    line = models.ForeignKey(BudgetLine, on_delete=models.CASCADE, related_name="alerts", verbose_name=_("line"))
    threshold = models.PositiveSmallIntegerField(_("threshold (%)"))
    budgeted = models.DecimalField(_("budgeted amount"), **MONEY)
    actual = models.DecimalField(_("actual when crossed"), **MONEY)
    entry_id = models.BigIntegerField(_("entry that crossed it"), null=True, blank=True)

    class Meta:
        verbose_name = _("budget alert")
        verbose_name_plural = _("budget alerts")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["line", "threshold"], name="erp_budgetalert_once"),
        ]

    def __str__(self) -> str:
        return f"{self.line_id} ≥ {self.threshold}%"


class CashFlowLine(models.TextChoices):
    """The lines of the CAS cash-flow statement (企业会计准则第31号, direct method)."""

    OP_SALES = "op_in_sales", _("Cash received from sales of goods and rendering of services")
    OP_TAX_REFUND = "op_in_tax_refund", _("Refunds of taxes and levies")
    OP_OTHER_IN = "op_in_other", _("Other cash received relating to operating activities")
    OP_PURCHASES = "op_out_purchases", _("Cash paid for goods and services")
    OP_EMPLOYEES = "op_out_employees", _("Cash paid to and on behalf of employees")
    OP_TAXES = "op_out_taxes", _("Payments of taxes and levies")
    OP_OTHER_OUT = "op_out_other", _("Other cash paid relating to operating activities")
    INV_DISPOSAL_OF_INVESTMENTS = "inv_in_investments", _("Cash received from disposal of investments")
    INV_RETURNS = "inv_in_returns", _("Cash received from returns on investments")
    INV_DISPOSAL_OF_ASSETS = "inv_in_assets", _("Net cash received from disposal of fixed and other long-term assets")
    INV_ASSETS = "inv_out_assets", _("Cash paid to acquire fixed, intangible and other long-term assets")
    INV_INVESTMENTS = "inv_out_investments", _("Cash paid to acquire investments")
    FIN_CAPITAL = "fin_in_capital", _("Cash received from capital contributions")
    FIN_BORROWINGS = "fin_in_borrowings", _("Cash received from borrowings")
    FIN_REPAYMENTS = "fin_out_repayments", _("Cash repayments of borrowings")
    FIN_DISTRIBUTIONS = "fin_out_distributions", _("Cash paid for dividends, profit distributions or interest")


@audited
class CashFlowMapping(TenantModel):
    """Which cash-flow lines the cash movements against ``account`` (and its sub-accounts) go to: cash coming
    in to ``inflow_line``, going out to ``outflow_line``. Accounts without a mapping of their own or of an
    ancestor follow the CAS defaults by account code (``erp.selectors.reports.DEFAULT_CASH_FLOW_MAPPING``)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", verbose_name=_("account"))
    inflow_line = models.CharField(_("line for cash received"), max_length=30, choices=CashFlowLine.choices)
    outflow_line = models.CharField(_("line for cash paid"), max_length=30, choices=CashFlowLine.choices)

    class Meta:
        verbose_name = _("cash-flow mapping")
        verbose_name_plural = _("cash-flow mappings")
        ordering = ["company", "account__code"]
        constraints = [
            models.UniqueConstraint(fields=["company", "account"], name="erp_cashflowmapping_account_unique"),
            models.CheckConstraint(
                condition=Q(inflow_line__in=CashFlowLine.values) & Q(outflow_line__in=CashFlowLine.values),
                name="erp_cashflowmapping_lines_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.inflow_line} / {self.outflow_line}"
