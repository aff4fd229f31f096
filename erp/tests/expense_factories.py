"""Tenant factories of the expense, budget and cash-flow models the API serves (registered for
tests/test_tenant_isolation.py via ``erp.tests.factories``), made through the services."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from erp.models import (
    Account,
    Budget,
    BudgetAlert,
    BudgetLine,
    CashFlowMapping,
    ExpenseApprovalLevel,
    ExpenseCategory,
    ExpenseClaim,
    FiscalYear,
)
from erp.services import budgets as budget_svc
from erp.services import expenses as expense_svc
from erp.services import finance as fin
from suite.models import Company, Role
from suite.testing import make_member, tenant_factory

_seq = itertools.count(1)


def _account(company: Company, code: str, name: str, account_type: str) -> Account:
    return Account.objects.filter(company=company, code=code).first() or fin.account_create(
        company=company, code=code, name=name, account_type=account_type
    )


def _year(company: Company) -> FiscalYear:
    return FiscalYear.objects.filter(company=company).order_by("start_date").first() or fin.fiscal_year_create(
        company=company, start_date=date(2025, 1, 1)
    )


@tenant_factory(ExpenseCategory)
def _category_in(company: Company) -> ExpenseCategory:
    account = _account(company, "6602", "管理费用", "expense")
    return expense_svc.expense_category_create(company=company, code=f"cat{next(_seq)}", name="差旅费", account=account)


@tenant_factory(ExpenseApprovalLevel)
def _level_in(company: Company) -> ExpenseApprovalLevel:
    return expense_svc.expense_approval_level_set(
        company=company, sequence=next(_seq), name="审批", approver_role=Role.MANAGER, applies_above=Decimal("0")
    )


@tenant_factory(ExpenseClaim)
def _claim_in(company: Company) -> ExpenseClaim:
    employee = make_member(company, Role.SALES).user
    return expense_svc.expense_claim_create(
        company=company,
        employee=employee,
        title="差旅报销",
        lines=[{"date": date(2025, 3, 1), "category": _category_in(company), "amount": Decimal("88.00")}],
    )


@tenant_factory(Budget)
def _budget_in(company: Company) -> Budget:
    return budget_svc.budget_create(company=company, name=f"预算{next(_seq)}", fiscal_year=_year(company))


@tenant_factory(BudgetLine)
def _budget_line_in(company: Company) -> BudgetLine:
    budget = _budget_in(company)
    return budget_svc.budget_line_set(
        budget=budget,
        account=_account(company, "6602", "管理费用", "expense"),
        period=budget.fiscal_year.periods.get(number=1),
        amount="1000.00",
    )


@tenant_factory(BudgetAlert)
def _budget_alert_in(company: Company) -> BudgetAlert:
    line = _budget_line_in(company)
    budget_svc._alert_once(line, 80, Decimal("900.00"), 0)
    return BudgetAlert.objects.get(line=line, threshold=80)


@tenant_factory(CashFlowMapping)
def _cash_flow_mapping_in(company: Company) -> CashFlowMapping:
    account = _account(company, f"22{next(_seq):02d}", "其他应付款", "liability")
    return budget_svc.cash_flow_mapping_set(
        company=company, account=account, inflow_line="op_in_other", outflow_line="op_out_other"
    )
