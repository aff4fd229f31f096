"""Payroll runs (acceptance 2 at run level): twelve months of cumulative withholding crossing brackets with
special deductions, social-insurance base capping and flooring, the balanced ledger posting, recomputation
rules (only unposted runs; idempotent), the generic mode and commission lines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum

from erp.models import CommissionLine, JournalLine, PayrollRunState, Payslip
from erp.services import hr as hr_svc
from erp.services import payroll as svc
from suite.models import OutboxEvent

D = Decimal
pytestmark = pytest.mark.django_db


def run_month(office, month: int, year: int = 2025):
    run = svc.payroll_run_create(company=office.company, year=year, month=month)
    return svc.payroll_run_compute(run_id=run.pk)


def test_twelve_months_cross_brackets_with_special_deductions(hr_office):
    """¥30,000 a month in Shanghai, ¥2,000 special deductions: employee contributions 2,400 + 600 + 150 + 2,100
    = 5,250; taxable 17,750 a month; the tax moves from 3 % to 10 % in March and to 20 % in September."""
    employee = hr_office.employee("30000.00", special_deduction=D("2000.00"))
    expected = ["532.50", "532.50", "1740.00", "1775.00", "1775.00", "1775.00", "1775.00", "1775.00", "3350.00",
                "3550.00", "3550.00", "3550.00"]  # fmt: skip
    taxes = []
    for month in range(1, 13):
        run = run_month(hr_office, month)
        slip = Payslip.objects.get(run=run, employee=employee)
        assert slip.si_employee == D("3150.00")
        assert slip.hf_employee == D("2100.00")
        assert slip.net == D("30000.00") - D("5250.00") - slip.iit
        taxes.append(str(slip.iit))
        svc.payroll_run_post(run=run)
    assert taxes == expected
    december = Payslip.objects.get(run__month=12, employee=employee)
    assert december.ytd_months == 12
    assert december.ytd_tax == D("25680.00")  # 213,000 × 20 % − 16,920: the annual liability, no refund due


def test_contribution_base_is_capped_and_floored(hr_office):
    rich = hr_office.employee("50000.00")
    poor = hr_office.employee("5000.00")
    declared = hr_office.employee("20000.00", social_base=D("12000.00"))
    run = run_month(hr_office, 1)
    rich_slip = Payslip.objects.get(run=run, employee=rich)
    # base 37,302: pension 8 % 2,984.16 + medical 2 % 746.04 + unemployment 0.5 % 186.51
    assert rich_slip.si_employee == D("3916.71")
    assert rich_slip.hf_employee == D("2611.14")
    # employer: 16 % 5,968.32 + 10 % 3,730.20 + 0.5 % 186.51 + 0.16 % 59.68
    assert rich_slip.si_employer == D("9944.71")
    poor_slip = Payslip.objects.get(run=run, employee=poor)
    assert poor_slip.si_employee == D("783.30")  # on the floor 7,460: 596.80 + 149.20 + 37.30
    assert poor_slip.hf_employee == D("350.00")  # housing floor 2,690 < 5,000: on the salary
    declared_slip = Payslip.objects.get(run=run, employee=declared)
    assert declared_slip.si_employee == D("1260.00")  # 12,000 × 10.5 %


def test_posting_is_balanced_and_splits_the_payables(hr_office):
    a = hr_office.employee("30000.00", special_deduction=D("2000.00"))
    hr_office.employee("8000.00")
    run = run_month(hr_office, 3)
    run = svc.payroll_run_post(run=run)
    assert run.state == PayrollRunState.POSTED
    lines = JournalLine.objects.filter(entry=run.journal_entry)
    totals = lines.aggregate(debit=Sum("debit"), credit=Sum("credit"))
    assert totals["debit"] == totals["credit"] == run.total_employer_cost
    by_code = {}
    for line in lines.select_related("account"):
        by_code[line.account.code] = by_code.get(line.account.code, D("0")) + line.credit - line.debit
    slips = Payslip.objects.filter(run=run)
    assert by_code["221101"] == run.total_net == sum(s.net for s in slips)
    assert by_code["222104"] == sum(s.iit for s in slips)
    assert by_code["221102"] == sum(s.si_employee + s.si_employer for s in slips)
    assert by_code["221103"] == sum(s.hf_employee + s.hf_employer for s in slips)
    assert -by_code["6602"] == run.total_employer_cost
    assert Payslip.objects.get(run=run, employee=a).iit == D("532.50")  # first month of the year with this run
    assert OutboxEvent.objects.filter(name="erp.payroll_run.posted", payload__run_id=run.pk).count() == 1
    assert svc.payroll_run_post(run=run).journal_entry_id == run.journal_entry_id  # idempotent


def test_recompute_is_idempotent_and_only_unposted_runs_are_recomputed(hr_office):
    employee = hr_office.employee("12000.00")
    run = run_month(hr_office, 1)
    first = list(Payslip.objects.filter(run=run).values_list("employee_id", "gross", "iit", "net"))
    run = svc.payroll_run_compute(run_id=run.pk)
    assert list(Payslip.objects.filter(run=run).values_list("employee_id", "gross", "iit", "net")) == first
    assert run.state == PayrollRunState.COMPUTED and run.progress == 100 and run.employees_total == 1

    hr_svc.employee_update(employee=employee, salary=D("13000.00"))
    run = svc.payroll_run_compute(run_id=run.pk)  # a computed (not posted) run follows the new salary
    assert Payslip.objects.get(run=run).gross == D("13000.00")

    svc.payroll_run_post(run=run)
    hr_svc.employee_update(employee=employee, salary=D("99000.00"))
    with pytest.raises(svc.PayrollConflict):
        svc.payroll_run_compute(run_id=run.pk)
    with pytest.raises(svc.PayrollConflict):
        svc.payroll_run_start(run=run)
    assert Payslip.objects.get(run=run).gross == D("13000.00")


def test_employees_outside_the_month_are_left_out(hr_office):
    hr_office.employee("10000.00", hire_date=dt.date(2025, 3, 15))
    left = hr_office.employee("10000.00")
    hr_svc.employee_deactivate(employee=left, leave_date=dt.date(2025, 1, 31))
    assert run_month(hr_office, 1).employees_total == 1  # left on 31 January: still paid for January
    assert run_month(hr_office, 2).employees_total == 0
    assert run_month(hr_office, 3).employees_total == 1


def test_joiner_gets_basic_deduction_from_the_month_they_join(hr_office):
    joiner = hr_office.employee("20000.00", hire_date=dt.date(2025, 7, 1))
    run = run_month(hr_office, 7)
    slip = Payslip.objects.get(run=run, employee=joiner)
    # 20,000 − 5,000 − 2,100 (SI) − 1,400 (HF) = 11,500 × 3 %
    assert slip.ytd_months == 1
    assert slip.iit == D("345.00")


def test_commission_lines_feed_the_payslip_and_are_replaced_not_added(hr_office):
    employee = hr_office.employee("10000.00", user=hr_office.sales)
    lines = [{"user_id": hr_office.sales.pk, "reference": "OPP-1", "amount": D("3000.00")}]
    assert svc.payroll_commission_lines_set(company=hr_office.company, year=2025, month=1, lines=lines) == 1
    svc.payroll_commission_lines_set(company=hr_office.company, year=2025, month=1, lines=lines)  # again
    assert CommissionLine.objects.filter(employee=employee).count() == 1
    run = run_month(hr_office, 1)
    slip = Payslip.objects.get(run=run, employee=employee)
    assert slip.gross == D("13000.00")
    assert {"code": "commission", "name": "提成 Commission", "kind": "earning", "amount": "3000.00"} in slip.lines
    svc.payroll_run_post(run=run)
    with pytest.raises(svc.PayrollConflict):
        svc.payroll_commission_lines_set(company=hr_office.company, year=2025, month=1, lines=lines)


def test_generic_mode_uses_configured_components_only(hr_office):
    employee = hr_office.employee("4000.00", payroll_mode="generic", payroll_city=None)
    meal = svc.pay_component_create(company=hr_office.company, code="meal", name="Meals", kind="earning", taxable=False)
    union = svc.pay_component_create(company=hr_office.company, code="union", name="Union fee", kind="deduction")
    svc.pay_component_create(company=hr_office.company, code="flat", name="Flat tax", kind="deduction", rate=D("0.1"))
    svc.employee_pay_component_set(employee=employee, component=meal, amount=D("500.00"))
    svc.employee_pay_component_set(employee=employee, component=union, amount=D("20.00"))
    run = run_month(hr_office, 2)
    slip = Payslip.objects.get(run=run, employee=employee)
    assert (slip.gross, slip.taxable_gross) == (D("4500.00"), D("4000.00"))
    assert (slip.si_employee, slip.iit) == (D("0.00"), D("0.00"))
    assert slip.other_deductions == D("470.00")  # 20 union + 10 % of 4,500
    assert slip.net == D("4030.00")
    run = svc.payroll_run_post(run=run)
    totals = JournalLine.objects.filter(entry=run.journal_entry).aggregate(debit=Sum("debit"), credit=Sum("credit"))
    assert totals["debit"] == totals["credit"] == D("4500.00")


def test_start_queues_the_computation_after_commit(hr_office, django_capture_on_commit_callbacks):
    hr_office.employee("10000.00")
    run = svc.payroll_run_create(company=hr_office.company, year=2025, month=5)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = svc.payroll_run_start(run=run)
    assert run.state == PayrollRunState.COMPUTING
    assert len(callbacks) == 1
