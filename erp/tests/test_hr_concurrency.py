"""Leave approvals racing for the last days of a balance, in parallel transactions (real threads, each with its
own PostgreSQL connection): the balance never goes negative and exactly the requests that fit are approved."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from erp.models import LeaveBalance, LeaveRequest, LeaveState
from erp.services import hr as svc
from erp.tests.hr_support import make_hr_office
from erp.tests.test_stock_concurrency import run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_parallel_approvals_never_overdraw_the_balance():
    office = make_hr_office()
    annual = svc.leave_type_create(company=office.company, code="annual", name="年假", annual_days=Decimal("5"))
    employee = office.employee()
    svc.leave_accrue(company=office.company, year=2025)
    # requests made while the balance allowed each (pending days are counted only at request time)
    requests = []
    for week in range(3):
        start = dt.date(2025, 3, 3) + dt.timedelta(weeks=week)
        requests.append(
            LeaveRequest.objects.create(
                company=office.company,
                employee=employee,
                leave_type=annual,
                start_date=start,
                end_date=start + dt.timedelta(days=1),
                days=Decimal("2"),
            )
        )

    results = run_concurrently(3, lambda i: svc.leave_request_approve(request=requests[i], by=office.hr), threads=3)

    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], ValidationError), results
    balance = LeaveBalance.objects.get(employee=employee, leave_type=annual)
    assert (balance.accrued, balance.taken) == (Decimal("5"), Decimal("4"))
    assert LeaveRequest.objects.filter(state=LeaveState.APPROVED).count() == 2
