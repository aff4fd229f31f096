"""Budgets (actuals by account and cost centre, variance, alerts once per threshold through the posting event)
and the direct-method cash-flow statement (CAS lines, mapping overrides, opening + net = closing, drill-down)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from erp.models import BudgetAlert, CashFlowLine
from erp.selectors.budgets import budget_report
from erp.selectors.reports import cash_flow_drilldown, cash_flow_statement
from erp.services import budgets as svc
from erp.services import finance as fin
from suite.events.relay import relay
from suite.models import Notification, Role
from suite.testing import make_member

# ---------------------------------------------------------------- budgets


@pytest.fixture
def budget(ledger):
    owner = make_member(ledger.company, Role.MANAGER).user
    centre = fin.dimension_create(company=ledger.company, kind="cost_centre", code="SALES", name="销售部")
    budget = svc.budget_create(
        company=ledger.company, name="2025 管理费用", fiscal_year=ledger.year, cost_centre=centre, owner=owner
    )
    svc.budget_line_set(budget=budget, account=ledger.account("6602"), period=ledger.period(3), amount="1000.00")
    return budget


def _expense(ledger, amount: str, *, centre=None, day=date(2025, 3, 5)):
    return fin.journal_entry_create(
        company=ledger.company,
        journal=ledger.journal,
        date=day,
        lines=[
            fin.LineSpec(account=ledger.account("6602"), debit=amount, cost_centre=centre),
            fin.LineSpec(account=ledger.account("1002"), credit=amount),
        ],
        post=True,
    )


def test_budget_report_counts_only_the_budgets_cost_centre(ledger, budget):
    _expense(ledger, "300.00", centre=budget.cost_centre)
    _expense(ledger, "999.00")  # no cost centre: another budget's business
    _expense(ledger, "50.00", centre=budget.cost_centre, day=date(2025, 4, 1))  # another period
    report = budget_report(budget=budget)
    (row,) = report.rows
    assert (row.budgeted, row.actual, row.variance, row.percent_used) == (
        Decimal("1000.00"),
        Decimal("300.00"),
        Decimal("700.00"),
        Decimal("30.0"),
    )


def test_company_wide_budget_reads_period_balances(ledger):
    budget = svc.budget_create(company=ledger.company, name="全公司", fiscal_year=ledger.year)
    svc.budget_line_set(budget=budget, account=ledger.account("6602"), period=ledger.period(3), amount="500.00")
    _expense(ledger, "200.00")
    _expense(
        ledger, "100.00", centre=fin.dimension_create(company=ledger.company, kind="cost_centre", code="X", name="X")
    )
    assert budget_report(budget=budget).rows[0].actual == Decimal("300.00")


def test_thresholds_alert_the_owner_once_each_through_the_posting_event(ledger, budget):
    _expense(ledger, "700.00", centre=budget.cost_centre)
    relay(time_budget=5)
    assert not BudgetAlert.objects.exists()
    _expense(ledger, "150.00", centre=budget.cost_centre)  # 85 %
    relay(time_budget=5)
    assert list(BudgetAlert.objects.values_list("threshold", flat=True)) == [80]
    _expense(ledger, "10.00", centre=budget.cost_centre)  # 86 %: still only the 80 % alert
    relay(time_budget=5)
    last = _expense(ledger, "200.00", centre=budget.cost_centre)  # 106 %
    relay(time_budget=5)
    assert sorted(BudgetAlert.objects.values_list("threshold", flat=True)) == [80, 100]
    notes = Notification.objects.filter(recipient=budget.owner, company=ledger.company)
    assert notes.count() == 2
    # a second delivery of the same event changes nothing (idempotent handler)
    assert svc.budget_alerts_check(company_id=ledger.company.pk, entry_ids=[last.pk]) == []
    assert BudgetAlert.objects.count() == 2 and notes.count() == 2


def test_budget_line_amount_must_be_valid(ledger, budget):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        svc.budget_line_set(budget=budget, account=ledger.account("6602"), period=ledger.period(4), amount="-1")
    assert "amount" in error.value.message_dict


# ---------------------------------------------------------------- cash flow


def test_cash_flow_statement_direct_method(ledger):
    ledger.post(date(2025, 1, 2), ("1002", "50000.00", 0), ("4001", 0, "50000.00"))  # capital paid in
    ledger.sale(date(2025, 3, 3), "1130.00")  # Dr 1002 / Cr 6001, 22210102
    ledger.post(date(2025, 3, 4), ("1122", "2260.00", 0), ("6001", 0, "2000.00"), ("22210102", 0, "260.00"))
    ledger.post(date(2025, 3, 20), ("1002", "2260.00", 0), ("1122", 0, "2260.00"))  # customer pays
    ledger.post(date(2025, 3, 21), ("2202", "800.00", 0), ("1002", 0, "800.00"))  # pay supplier
    ledger.post(date(2025, 3, 22), ("2211", "3000.00", 0), ("1002", 0, "3000.00"))  # salaries
    ledger.post(date(2025, 3, 23), ("1601", "9000.00", 0), ("1002", 0, "9000.00"))  # machine
    ledger.post(date(2025, 3, 24), ("1002", "20000.00", 0), ("2001", 0, "20000.00"))  # loan
    ledger.post(date(2025, 3, 25), ("1001", "500.00", 0), ("1002", 0, "500.00"))  # bank → cash: no flow
    report = cash_flow_statement(period_from=ledger.period(3), compare_from=ledger.period(1))
    amounts = {row.key: row.amount for s in report.sections for row in s.rows}
    assert amounts[CashFlowLine.OP_SALES] == Decimal("3390.00")
    assert amounts[CashFlowLine.OP_PURCHASES] == Decimal("800.00")
    assert amounts[CashFlowLine.OP_EMPLOYEES] == Decimal("3000.00")
    assert amounts[CashFlowLine.INV_ASSETS] == Decimal("9000.00")
    assert amounts[CashFlowLine.FIN_BORROWINGS] == Decimal("20000.00")
    nets = {s.key: s.net for s in report.sections}
    assert nets == {"operating": Decimal("-410.00"), "investing": Decimal("-9000.00"), "financing": Decimal("20000.00")}
    assert report.net_increase == Decimal("10590.00")
    assert (report.opening_cash, report.closing_cash) == (Decimal("50000.00"), Decimal("60590.00"))
    assert report.is_consistent
    compare = {row.key: row.compare_amount for s in report.sections for row in s.rows}
    assert compare[CashFlowLine.FIN_CAPITAL] == Decimal("50000.00")
    lines, count = cash_flow_drilldown(line=CashFlowLine.OP_SALES, period_from=ledger.period(3))
    assert count == 3
    assert {ln.account_code for ln in lines} == {"6001", "22210102", "1122"}


def test_cash_flow_mapping_overrides_the_default(ledger):
    ledger.post(date(2025, 3, 21), ("2241", "800.00", 0), ("1002", 0, "800.00"))
    assert _line_of(ledger, CashFlowLine.OP_OTHER_OUT) == Decimal("800.00")
    svc.cash_flow_mapping_set(
        company=ledger.company,
        account=ledger.account("2241"),
        inflow_line=CashFlowLine.OP_OTHER_IN,
        outflow_line=CashFlowLine.OP_EMPLOYEES,
    )
    assert _line_of(ledger, CashFlowLine.OP_EMPLOYEES) == Decimal("800.00")
    assert _line_of(ledger, CashFlowLine.OP_OTHER_OUT) == Decimal("0.00")


def _line_of(ledger, key):
    report = cash_flow_statement(period_from=ledger.period(3))
    return next(row.amount for s in report.sections for row in s.rows if row.key == key)
