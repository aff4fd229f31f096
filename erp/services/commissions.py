"""Sales commissions into payroll (closed loop, flow 11 — people → customers → pay).

``payroll_commissions_compute`` sets a month's ``payments:YYYY-MM`` commission line of every salesperson who is
an employee: ``rate`` × the untaxed money customers paid that month on invoices of the sales orders they sold
(``erp.selectors.commissions``), through ``erp.services.payroll.payroll_commission_lines_set``. It recomputes
the month from the ledger's allocations each time (absolute, not incremental): running it twice, or once per
redelivered ``erp.payment.received``, leaves the same lines. A salesperson whose base fell to zero (a payment
unallocated) loses the line. Refused (``PayrollConflict``) once the month's payroll is posted.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction

from erp.models import CommissionLine, Employee
from erp.selectors.commissions import commission_base_by_salesperson
from erp.services.payroll import payroll_commission_lines_set
from suite.models import Company

logger = logging.getLogger(__name__)
CENT = Decimal("0.01")


def default_commission_rate() -> Decimal:
    """The commission rate on collected untaxed revenue: ``settings.TROIKA_COMMISSION_RATE`` (default 3 %)."""
    return Decimal(str(getattr(settings, "TROIKA_COMMISSION_RATE", "0.03")))


def commission_reference(year: int, month: int) -> str:
    return f"payments:{year:04d}-{month:02d}"


@transaction.atomic
def payroll_commissions_compute(
    *, company: Company, year: int, month: int, rate: Decimal | None = None, by=None
) -> dict[int, Decimal]:
    """Set the month's commission lines from the payments received in it; returns ``{employee id: amount}`` of
    the lines written (removed lines are not listed). Salespeople without an employee record are skipped."""
    rate = default_commission_rate() if rate is None else Decimal(str(rate))
    start = dt.date(year, month, 1)
    end = dt.date(year, month, calendar.monthrange(year, month)[1])
    base = commission_base_by_salesperson(company_id=company.pk, start=start, end=end)
    employees = {e.user_id: e for e in Employee.objects.filter(company=company, user_id__in=list(base))}
    reference = commission_reference(year, month)
    amounts = {
        employees[user_id].pk: (value * rate).quantize(CENT, rounding=ROUND_HALF_UP)
        for user_id, value in base.items()
        if user_id in employees
    }
    lines = [
        {"employee": employees[user_id], "reference": reference, "amount": amounts[employees[user_id].pk]}
        for user_id in base
        if user_id in employees
    ]
    stale = (
        CommissionLine.objects.filter(company=company, year=year, month=month, reference=reference)
        .exclude(employee_id__in=list(amounts))
        .select_related("employee")
    )
    lines += [{"employee": line.employee, "reference": reference, "amount": Decimal("0")} for line in stale]
    if lines:
        payroll_commission_lines_set(company=company, year=year, month=month, lines=lines, by=by)
    return {employee_id: amount for employee_id, amount in amounts.items() if amount}
