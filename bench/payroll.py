"""``python -m bench payroll``: a monthly payroll run for a company of ``--employees`` employees (target < 60 s).

1. **Data** (once; reused on later runs): a company ``bench-pay`` with the CAS ledger and fiscal year 2025, the
   Shanghai city table, ``--employees`` employees (salaries 4,000–80,000 so bases hit the floor and the cap,
   encrypted like any employee's), a meal allowance for everyone, commission lines for a tenth of them.
2. **Runs**: the first month of 2025 not posted yet is computed (``payroll_run_compute``: the Celery task's
   body, in chunks with progress) and posted to the ledger, then the next one — which reads the previous
   month's year-to-date figures. A later bench run takes the next two months (the ledger is append-only).
   Wall time of each step and the load average before and after (the machine is shared).

Runs in its own database (``payroll_bench``): ``python -m bench payroll --employees 5000``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import time
from decimal import Decimal

import bench

COMPANY_CODE = "bench-pay"
TARGET_S = 60.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench payroll", description=__doc__.split("\n\n")[0])
    parser.add_argument("--employees", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=6)
    return parser


def _ensure_data(args, rng: random.Random):
    from django.db import transaction

    from erp.models import Employee, EmployeePayComponent
    from erp.services import finance as ledger
    from erp.services import payroll as pay
    from suite.models import Company

    company, _created = Company.objects.get_or_create(
        code=COMPANY_CODE, defaults={"name": "基准测试薪资公司", "name_en": "Bench payroll"}
    )
    existing = Employee.objects.filter(company=company).count()
    if existing >= args.employees:
        print(f"[payroll] reusing {existing:,} employees of company {COMPANY_CODE}", flush=True)
        return company
    if existing:
        raise SystemExit(f"company {COMPANY_CODE} has {existing:,} employees; drop the payroll_bench database")
    started = time.perf_counter()
    with transaction.atomic():
        ledger.chart_of_accounts_install(company=company)
        ledger.journals_install_defaults(company=company)
        ledger.fiscal_year_create(company=company, start_date=dt.date(2025, 1, 1))
        city = pay.payroll_city_install_defaults(company=company)
        meal = pay.pay_component_create(company=company, code="meal", name="餐补", kind="earning", taxable=False)
        employees = []
        for i in range(args.employees):
            employee = Employee(
                company=company,
                number=f"B{i:06d}",
                name=f"员工{i}",
                hire_date=dt.date(2020, 1, 1),
                payroll_city=city,
                special_deduction=Decimal(rng.choice([0, 1000, 2000, 3000])),
            )
            employee.salary = Decimal(rng.randrange(4000, 80000, 100))
            employee.id_number = f"3101{rng.randrange(10**13, 10**14)}"
            employees.append(employee)
        Employee.objects.bulk_create(employees, batch_size=1000)
        EmployeePayComponent.objects.bulk_create(
            [
                EmployeePayComponent(company=company, employee=e, component=meal, amount=Decimal("300.00"))
                for e in employees
            ],
            batch_size=1000,
        )
        for month in (1, 2):
            pay.payroll_commission_lines_set(
                company=company,
                year=2025,
                month=month,
                lines=[
                    {"employee": e, "reference": f"OPP-{e.number}", "amount": Decimal(rng.randrange(500, 20000))}
                    for e in employees[::10]
                ],
            )
    print(f"[payroll] {args.employees:,} employees written in {time.perf_counter() - started:.1f} s", flush=True)
    return company


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    bench.setup(seed=False)
    from django.db.models import Sum

    from erp.models import JournalLine, PayrollRun, Payslip
    from erp.services import payroll as pay

    rng = random.Random(args.seed)
    company = _ensure_data(args, rng)
    posted = set(PayrollRun.objects.filter(company=company, year=2025, state="posted").values_list("month", flat=True))
    months = [m for m in range(1, 13) if m not in posted][:2]  # each bench run posts two new months
    if len(months) < 2:
        print("[payroll] every month of 2025 is posted; drop the payroll_bench database", flush=True)
        return 1
    load_before = os.getloadavg()
    rows, worst = [], 0.0
    for month in months:
        run = pay.payroll_run_create(company=company, year=2025, month=month)
        started = time.perf_counter()
        run = pay.payroll_run_compute(run_id=run.pk)
        computed = time.perf_counter() - started
        started = time.perf_counter()
        run = pay.payroll_run_post(run=run)
        posted = time.perf_counter() - started
        totals = JournalLine.objects.filter(entry=run.journal_entry).aggregate(d=Sum("debit"), c=Sum("credit"))
        assert totals["d"] == totals["c"], "the payroll entry does not balance"
        assert Payslip.objects.filter(run=run).count() == args.employees
        worst = max(worst, computed + posted)
        rows.append([f"2025-{month:02d}", f"{args.employees:,}", f"{computed:.1f}", f"{posted:.1f}",
                     f"{computed + posted:.1f}", f"{run.total_gross:,}", f"{totals['d']:,}"])  # fmt: skip
    load_after = os.getloadavg()
    bench.print_table(["month", "employees", "compute s", "post s", "total s", "gross", "entry debit = credit"], rows)
    print(
        f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
        f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} ({os.cpu_count()} CPUs)"
    )
    print(f"worst month {worst:.1f} s vs ceiling {TARGET_S:.0f} s: {worst / TARGET_S:.0%} of the ceiling")
    return 0 if worst < TARGET_S else 1
