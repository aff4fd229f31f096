"""Reads of budgets: scoped lists and the budget report (budget, actual, variance, % used per line).

The actual of a line is the posted amount of its account and sub-accounts in its period, on the account's
normal side (debit − credit for expenses and assets): from the period balances when the budget is for the whole
company, from the journal lines carrying the budget's cost centre otherwise (a partial index serves that).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet, Sum

from erp.models import (
    Account,
    AccountPeriodBalance,
    Budget,
    BudgetAlert,
    BudgetLine,
    CashFlowMapping,
    EntryState,
    JournalLine,
)
from erp.models.finance import DEBIT_NORMAL_TYPES
from suite import policy

ZERO = Decimal("0.00")


def budgets_visible_to(actor) -> QuerySet[Budget]:
    return policy.scope(actor, Budget.objects.all()).select_related("fiscal_year", "cost_centre", "owner")


def budget_lines_visible_to(actor) -> QuerySet[BudgetLine]:
    return policy.scope(actor, BudgetLine.objects.all()).select_related("budget", "account", "period")


def budget_alerts_visible_to(actor) -> QuerySet[BudgetAlert]:
    return policy.scope(actor, BudgetAlert.objects.all()).select_related(
        "line__budget", "line__account", "line__period"
    )


def cash_flow_mappings_visible_to(actor) -> QuerySet[CashFlowMapping]:
    return policy.scope(actor, CashFlowMapping.objects.all()).select_related("account")


def _descendants(company_id: int) -> tuple[dict[int, set[int]], dict[int, str]]:
    """Per account: itself and every account below it; and each account's type."""
    rows = list(Account.objects.filter(company_id=company_id).values_list("pk", "parent_id", "account_type"))
    parent = {pk: parent_id for pk, parent_id, _t in rows}
    below: dict[int, set[int]] = defaultdict(set)
    for pk in parent:
        node, seen = pk, set()
        while node is not None and node not in seen:
            seen.add(node)
            below[node].add(pk)
            node = parent.get(node)
    return below, {pk: t for pk, _p, t in rows}


def budget_line_actuals(lines: Iterable[BudgetLine]) -> dict[int, Decimal]:
    """The actual of each budget line (by line id). Two queries at most per call: the period balances of the
    company-wide lines, the cost-centre lines' journal lines grouped by (account, period, cost centre)."""
    lines = list(lines)
    if not lines:
        return {}
    company_id = lines[0].company_id
    below, types = _descendants(company_id)
    periods = {line.period_id for line in lines}
    accounts = set().union(*(below[line.account_id] for line in lines))
    whole = [line for line in lines if line.budget.cost_centre_id is None]
    by_centre = [line for line in lines if line.budget.cost_centre_id is not None]
    net: dict[tuple, Decimal] = {}
    if whole:
        for row in (
            AccountPeriodBalance.objects.filter(company_id=company_id, period_id__in=periods, account_id__in=accounts)
            .values("account_id", "period_id")
            .annotate(d=Sum("debit"), c=Sum("credit"))
        ):
            net[(row["account_id"], row["period_id"], None)] = row["d"] - row["c"]
    if by_centre:
        for row in (
            JournalLine.objects.filter(
                company_id=company_id,
                entry__state=EntryState.POSTED,
                entry__period_id__in=periods,
                account_id__in=accounts,
                cost_centre_id__in={line.budget.cost_centre_id for line in by_centre},
            )
            .values("account_id", "entry__period_id", "cost_centre_id")
            .annotate(d=Sum("debit"), c=Sum("credit"))
        ):
            net[(row["account_id"], row["entry__period_id"], row["cost_centre_id"])] = row["d"] - row["c"]
    result = {}
    for line in lines:
        centre = line.budget.cost_centre_id
        total = sum((net.get((a, line.period_id, centre), ZERO) for a in below[line.account_id]), ZERO)
        result[line.pk] = total if types[line.account_id] in DEBIT_NORMAL_TYPES else -total
    return result


@dataclass
class BudgetReportRow:
    line_id: int
    account_id: int
    account_code: str
    account_name: str
    period_id: int
    period_name: str
    budgeted: Decimal
    actual: Decimal
    variance: Decimal  # budgeted − actual: positive is what is left
    percent_used: Decimal | None  # None when nothing was budgeted
    alerts: list[int]


@dataclass
class BudgetReport:
    budget: Budget
    rows: list[BudgetReportRow]
    budgeted: Decimal
    actual: Decimal
    variance: Decimal
    percent_used: Decimal | None


def _percent(actual: Decimal, budgeted: Decimal) -> Decimal | None:
    if not budgeted:
        return None
    return (actual * 100 / budgeted).quantize(Decimal("0.1"))


def budget_report(*, budget: Budget, period_id: int | None = None) -> BudgetReport:
    """Budget against actual per line (optionally of one period) with variance, % used and the thresholds
    already alerted; totals over the lines. A fixed number of queries whatever the number of lines."""
    lines = list(
        BudgetLine.objects.filter(budget=budget, **({"period_id": period_id} if period_id else {}))
        .select_related("budget", "account", "period")
        .prefetch_related("alerts")
        .order_by("account__code", "period__start_date")
    )
    actuals = budget_line_actuals(lines)
    rows = []
    for line in lines:
        actual = actuals.get(line.pk, ZERO)
        rows.append(
            BudgetReportRow(
                line_id=line.pk,
                account_id=line.account_id,
                account_code=line.account.code,
                account_name=line.account.name,
                period_id=line.period_id,
                period_name=line.period.name,
                budgeted=line.amount,
                actual=actual,
                variance=line.amount - actual,
                percent_used=_percent(actual, line.amount),
                alerts=sorted(alert.threshold for alert in line.alerts.all()),
            )
        )
    budgeted = sum((r.budgeted for r in rows), ZERO)
    actual = sum((r.actual for r in rows), ZERO)
    return BudgetReport(
        budget=budget,
        rows=rows,
        budgeted=budgeted,
        actual=actual,
        variance=budgeted - actual,
        percent_used=_percent(actual, budgeted),
    )
