"""Reads of the finance dashboard (issue #7): cash position, AR/AP aging, P&L per month and budget variance,
aggregated in PostgreSQL over what the actor may see (``suite.policy.scope``). A fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Q, Sum

from erp.models import AccountPeriodBalance, AccountType, BudgetLine, FiscalPeriod, Invoice
from erp.selectors.budgets import budget_line_actuals
from erp.selectors.receivables import BUCKETS, AgedBalances, aged_balances
from suite import policy

ZERO = Decimal("0.00")


def fiscal_periods_in(actor, date_from: date, date_to: date) -> list[FiscalPeriod]:
    """The fiscal periods overlapping ``date_from``..``date_to``, oldest first (one query)."""
    return list(
        policy.scope(actor, FiscalPeriod.objects.all())
        .filter(start_date__lte=date_to, end_date__gte=date_from)
        .order_by("start_date")
    )


@dataclass(frozen=True)
class CashAccount:
    account_id: int
    code: str
    name: str
    balance: Decimal


def cash_position(actor, as_of: date) -> list[CashAccount]:
    """The balance of each cash / bank account (``Account.is_cash``) at the end of the fiscal period containing
    ``as_of`` — from the period balances, one aggregate query."""
    balances = (
        policy.scope(actor, AccountPeriodBalance.objects.all())
        .filter(account__is_cash=True, period__start_date__lte=as_of)
        .values("account_id", "account__code", "account__name")
        .annotate(debit=Sum("debit"), credit=Sum("credit"))
        .order_by("account__code")
    )
    return [
        CashAccount(row["account_id"], row["account__code"], row["account__name"], row["debit"] - row["credit"])
        for row in balances
    ]


def aging(actor, as_of: date, side: str) -> AgedBalances | None:
    """Aged receivables / payables as of ``as_of`` (``None`` when the actor may not see invoices)."""
    if not policy.can(actor, "view", Invoice):
        return None
    return aged_balances(company=actor.company_id, as_of=as_of, side=side)


@dataclass(frozen=True)
class PnlMonth:
    period: FiscalPeriod
    income: Decimal
    expenses: Decimal

    @property
    def net(self) -> Decimal:
        return self.income - self.expenses


def pnl_trend(actor, periods: list[FiscalPeriod]) -> list[PnlMonth]:
    """Income, expenses and net profit per fiscal period: one aggregate query over the period balances."""
    if not periods:
        return []
    sums: dict[tuple[int, str], tuple[Decimal, Decimal]] = {}
    for row in (
        policy.scope(actor, AccountPeriodBalance.objects.all())
        .filter(
            period_id__in=[p.pk for p in periods],
            account__account_type__in=[AccountType.INCOME, AccountType.EXPENSE],
        )
        .values("period_id", "account__account_type")
        .annotate(debit=Sum("debit"), credit=Sum("credit"))
        .order_by()
    ):
        sums[(row["period_id"], row["account__account_type"])] = (row["debit"], row["credit"])
    result = []
    for period in periods:
        income_d, income_c = sums.get((period.pk, AccountType.INCOME), (ZERO, ZERO))
        expense_d, expense_c = sums.get((period.pk, AccountType.EXPENSE), (ZERO, ZERO))
        result.append(PnlMonth(period, income_c - income_d, expense_d - expense_c))
    return result


@dataclass(frozen=True)
class BudgetVariance:
    budget_id: int
    name: str
    budgeted: Decimal
    actual: Decimal

    @property
    def variance(self) -> Decimal:
        return self.budgeted - self.actual

    @property
    def used_percent(self) -> Decimal | None:
        return (self.actual * 100 / self.budgeted).quantize(Decimal("0.1")) if self.budgeted else None


def budget_variance(actor, periods: list[FiscalPeriod]) -> list[BudgetVariance]:
    """Budgeted against actual per active budget over the periods: the lines (one query) and their actuals
    (two queries at most, ``budget_line_actuals``)."""
    if not periods:
        return []
    lines = list(
        policy.scope(actor, BudgetLine.objects.select_related("budget"))
        .filter(Q(budget__is_active=True), period_id__in=[p.pk for p in periods])
        .order_by("budget__name", "id")
    )
    actuals = budget_line_actuals(lines)
    per_budget: dict[int, dict] = defaultdict(lambda: {"budgeted": ZERO, "actual": ZERO, "name": ""})
    for line in lines:
        entry = per_budget[line.budget_id]
        entry["name"] = line.budget.name
        entry["budgeted"] += line.amount
        entry["actual"] += actuals.get(line.pk, ZERO)
    return [BudgetVariance(pk, v["name"], v["budgeted"], v["actual"]) for pk, v in per_budget.items()]


__all__ = ["BUCKETS", "aging", "budget_variance", "cash_position", "fiscal_periods_in", "pnl_trend"]
