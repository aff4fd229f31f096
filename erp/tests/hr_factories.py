"""Tenant factories of the HR models served by /api/v1/erp/hr/ (tests/test_tenant_isolation.py): one record of
each, made in a given company through the services."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from django.utils import timezone

from erp import models as m
from erp.services import hr as svc
from erp.services import payroll as pay
from suite.models import Company, Role
from suite.testing import make_member, tenant_factory

_seq = itertools.count(1)


def _code(prefix: str) -> str:
    return f"{prefix}{next(_seq)}"


def _with_payroll_member(company: Company) -> None:
    """Payroll records are visible to hr and payroll only (not to admins): give the company someone who sees them."""
    make_member(company, Role.PAYROLL)


@tenant_factory(m.Employee)
def employee_in(company: Company, **data) -> m.Employee:
    data.setdefault("salary", Decimal("12000.00"))
    return svc.employee_create(
        company=company, number=_code("E"), name="隔离员工", hire_date=dt.date(2024, 1, 1), **data
    )


@tenant_factory(m.Department)
def _department_in(company: Company) -> m.Department:
    return svc.department_create(company=company, code=_code("D"), name="隔离部门")


@tenant_factory(m.Position)
def _position_in(company: Company) -> m.Position:
    return svc.position_create(company=company, code=_code("P"), name="隔离岗位")


@tenant_factory(m.EmploymentContract)
def _contract_in(company: Company) -> m.EmploymentContract:
    return svc.contract_create(employee=employee_in(company), number=_code("C"), start_date=dt.date(2024, 1, 1))


@tenant_factory(m.Shift)
def _shift_in(company: Company) -> m.Shift:
    return svc.shift_create(company=company, code=_code("S"), name="白班", start_time=dt.time(9), end_time=dt.time(18))


@tenant_factory(m.AttendanceRecord)
def _attendance_in(company: Company) -> m.AttendanceRecord:
    start = timezone.make_aware(dt.datetime(2025, 3, 3, 9))
    return svc.attendance_record(employee=employee_in(company), clock_in=start, clock_out=start + dt.timedelta(hours=9))


@tenant_factory(m.LeaveType)
def _leave_type_in(company: Company) -> m.LeaveType:
    return svc.leave_type_create(company=company, code=_code("L"), name="年假", annual_days=Decimal("10"))


@tenant_factory(m.LeaveBalance)
def _leave_balance_in(company: Company) -> m.LeaveBalance:
    leave_type = _leave_type_in(company)
    employee = employee_in(company)
    svc.leave_accrue(company=company, year=2025)
    return m.LeaveBalance.objects.get(employee=employee, leave_type=leave_type, year=2025)


@tenant_factory(m.LeaveRequest)
def _leave_request_in(company: Company) -> m.LeaveRequest:
    balance = _leave_balance_in(company)
    return svc.leave_request_create(
        employee=balance.employee,
        leave_type=balance.leave_type,
        start_date=dt.date(2025, 3, 3),
        end_date=dt.date(2025, 3, 4),
    )


@tenant_factory(m.PayrollCity)
def _city_in(company: Company) -> m.PayrollCity:
    _with_payroll_member(company)
    item = {"code": "pension", "kind": "si", "floor": "1000", "cap": "30000", "employee_rate": "0.08",
            "employer_rate": "0.16"}  # fmt: skip
    return pay.payroll_city_create(company=company, code=_code("city"), name="隔离城市", items=[item])


@tenant_factory(m.PayComponent)
def _component_in(company: Company) -> m.PayComponent:
    _with_payroll_member(company)
    return pay.pay_component_create(company=company, code=_code("c"), name="餐补", kind="earning")


@tenant_factory(m.EmployeePayComponent)
def _employee_component_in(company: Company) -> m.EmployeePayComponent:
    _with_payroll_member(company)
    return pay.employee_pay_component_set(
        employee=employee_in(company), component=_component_in(company), amount=Decimal("300.00")
    )


@tenant_factory(m.CommissionLine)
def _commission_in(company: Company) -> m.CommissionLine:
    _with_payroll_member(company)
    employee = employee_in(company)
    pay.payroll_commission_lines_set(
        company=company,
        year=2025,
        month=1,
        lines=[{"employee": employee, "reference": "OPP", "amount": Decimal("100.00")}],
    )
    return m.CommissionLine.objects.get(employee=employee)


@tenant_factory(m.PayrollRun)
def _run_in(company: Company) -> m.PayrollRun:
    _with_payroll_member(company)
    return pay.payroll_run_create(company=company, year=2025, month=next(_seq) % 12 + 1)


@tenant_factory(m.Payslip)
def _payslip_in(company: Company) -> m.Payslip:
    _with_payroll_member(company)
    employee = employee_in(company)
    run = pay.payroll_run_compute(run_id=_run_in(company).pk)
    return m.Payslip.objects.get(run=run, employee=employee)


@tenant_factory(m.Kpi)
def _kpi_in(company: Company) -> m.Kpi:
    return svc.kpi_create(company=company, code=_code("k"), name="回款")


@tenant_factory(m.Goal)
def _goal_in(company: Company) -> m.Goal:
    return svc.goal_create(
        employee=employee_in(company),
        kpi=_kpi_in(company),
        period_start=dt.date(2025, 1, 1),
        period_end=dt.date(2025, 3, 31),
        target=Decimal("100"),
    )


@tenant_factory(m.PerformanceReview)
def _review_in(company: Company) -> m.PerformanceReview:
    return svc.review_create(
        employee=employee_in(company),
        reviewer=make_member(company, Role.MANAGER).user,
        period_start=dt.date(2025, 1, 1),
        period_end=dt.date(2025, 6, 30),
        rating=4,
    )


@tenant_factory(m.JobOpening)
def _opening_in(company: Company) -> m.JobOpening:
    return svc.opening_create(company=company, title="销售代表")


@tenant_factory(m.Candidate)
def _candidate_in(company: Company) -> m.Candidate:
    return svc.candidate_create(opening=_opening_in(company), name="韩梅梅")


@tenant_factory(m.Interview)
def _interview_in(company: Company) -> m.Interview:
    return svc.interview_schedule(
        candidate=_candidate_in(company),
        interviewer=make_member(company, Role.HR).user,
        scheduled_at=timezone.make_aware(dt.datetime(2025, 4, 1, 10)),
    )
