"""Helpers of the HR and payroll tests: a company with the CAS ledger (fiscal year 2025), the Shanghai city
table, members of the HR roles, and employees made through the services."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from erp.models import Employee, PayrollCity
from erp.services import hr as hr_svc
from erp.services import payroll as pay_svc
from erp.tests.finance_support import Ledger, make_ledger
from suite.models import Role
from suite.testing import make_member

D = Decimal
PLANTED_ID_NUMBER = "31010519900307123X"
PLANTED_BANK_ACCOUNT = "6222020200112233445"
PLANTED_SALARY = D("48765.43")


@dataclass
class HrOffice:
    ledger: Ledger
    hr: object
    payroll: object
    manager: object
    sales: object
    admin: object
    city: PayrollCity
    _seq: list = field(default_factory=lambda: [0])

    @property
    def company(self):
        return self.ledger.company

    def employee(self, salary: str | Decimal = "10000.00", *, user=None, **data) -> Employee:
        self._seq[0] += 1
        data.setdefault("payroll_city", self.city)
        data.setdefault("hire_date", dt.date(2024, 1, 1))
        return hr_svc.employee_create(
            company=self.company,
            number=data.pop("number", f"E{self._seq[0]:04d}"),
            name=data.pop("name", f"员工{self._seq[0]}"),
            salary=D(str(salary)),
            user=user,
            **data,
        )


def make_hr_office(ledger: Ledger | None = None) -> HrOffice:
    ledger = ledger or make_ledger()
    company = ledger.company
    return HrOffice(
        ledger=ledger,
        hr=make_member(company, Role.HR).user,
        payroll=make_member(company, Role.PAYROLL).user,
        manager=make_member(company, Role.MANAGER).user,
        sales=make_member(company, Role.SALES).user,
        admin=make_member(company, Role.ADMIN).user,
        city=pay_svc.payroll_city_install_defaults(company=company),
    )


@pytest.fixture
def hr_office(db) -> HrOffice:
    return make_hr_office()
