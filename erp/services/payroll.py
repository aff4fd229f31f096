"""Payroll: city contribution tables, pay components, commission lines, monthly runs and their ledger posting.

A run (``PayrollRun``, one per company and month) is computed by ``payroll_run_compute`` — the body of the
Celery task ``erp.payroll_run_compute`` queued by ``payroll_run_start`` — in chunks of employees, each chunk
committed with the run's progress so the UI can show a bar. Computing deletes the run's payslips and writes
them again, so it may be repeated while the run is not posted; a posted run is frozen (``PayrollConflict``).

Per employee and month (China mode, ``erp.services.payroll_cn`` does the arithmetic):

* gross = monthly salary + recurring earnings (``EmployeePayComponent``) + the month's commission lines;
  taxable gross leaves out non-taxable earnings;
* social insurance and housing fund per the employee's city table, on the declared base (default: salary)
  clamped to each item's floor and cap; employee and employer shares;
* IIT by cumulative withholding (累计预扣法) with the year-to-date figures of the employee's previous payslip of
  the year (months, taxable gross, contributions, special deductions, tax withheld);
* net = gross − employee contributions − IIT − other deductions.

Generic mode: gross as above; deductions are the employee's deduction components plus every active deduction
component with a ``rate`` (a share of gross, e.g. a flat tax); no statutory items.

Posting (journal ``GEN``, dated the month's last day, ``source_key`` ``payroll-run:<id>``): Dr salary expense
(6602 管理费用 or each component's account) for gross and for the employer's contributions; Cr 221101 net pay
owed to employees, 221102 social insurance, 221103 housing fund (employee + employer shares), 222104 IIT, and
2241 other deductions. Debits equal credits by construction (tested).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from erp import events as erp_events
from erp.models import (
    Account,
    CommissionLine,
    ComponentKind,
    ContributionKind,
    Employee,
    EmployeePayComponent,
    Journal,
    PayComponent,
    PayrollCity,
    PayrollCityItem,
    PayrollMode,
    PayrollRun,
    PayrollRunState,
    Payslip,
)
from erp.services import finance as ledger
from erp.services.payroll_cn import ContributionItem, MonthInput, YearToDate, cents, contributions, withhold
from suite import events
from suite.models import Company

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ZERO = Decimal("0.00")
CHUNK = 500
COMMISSION_CODE = "commission"
EXPENSE_CODE = "6602"  # 管理费用
NET_PAY_CODE, SI_CODE, HF_CODE = "221101", "221102", "221103"
IIT_CODE = "222104"  # 应交个人所得税
OTHER_PAYABLE_CODE = "2241"  # 其他应付款
PAYROLL_SUBACCOUNTS = (
    (NET_PAY_CODE, "应付职工薪酬-工资", "Salaries payable"),
    (SI_CODE, "应付职工薪酬-社会保险费", "Social insurance payable"),
    (HF_CODE, "应付职工薪酬-住房公积金", "Housing fund payable"),
)

# Shanghai, from July 2025: base 7,460–37,302 (housing fund 2,690–37,302); the employer's medical rate
# includes maternity (merged into medical insurance in Shanghai).
SHANGHAI_2025 = (
    ("pension", ContributionKind.SOCIAL_INSURANCE, "7460", "37302", "0.08", "0.16"),
    ("medical", ContributionKind.SOCIAL_INSURANCE, "7460", "37302", "0.02", "0.10"),
    ("unemployment", ContributionKind.SOCIAL_INSURANCE, "7460", "37302", "0.005", "0.005"),
    ("injury", ContributionKind.SOCIAL_INSURANCE, "7460", "37302", "0", "0.0016"),
    ("housing_fund", ContributionKind.HOUSING_FUND, "2690", "37302", "0.07", "0.07"),
)


class PayrollConflict(Exception):
    """The run's state refuses the action (recomputing a posted run, posting a draft): HTTP 409."""

    def __init__(self, code: str, message) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = message


# ---------------------------------------------------------------- tables and components


@transaction.atomic
def payroll_city_create(
    *, company: Company, code: str, name: str, items: Sequence[dict], valid_from=None, by: User | None = None
) -> PayrollCity:
    """A city table with its items (``code``, ``kind`` si/hf, ``floor``, ``cap``, ``employee_rate``,
    ``employer_rate``); the database refuses a cap below the floor or a rate outside [0, 1)."""
    errors: dict = {}
    if PayrollCity.objects.filter(company=company, code=code).exists():
        errors["code"] = [_("This code is taken.")]
    seen = set()
    for i, item in enumerate(items):
        if item["code"] in seen:
            errors[f"items.{i}.code"] = [_("Each item appears once.")]
        seen.add(item["code"])
        if Decimal(item["cap"]) < Decimal(item["floor"]):
            errors[f"items.{i}.cap"] = [_("The cap is below the floor.")]
        for rate in ("employee_rate", "employer_rate"):
            if not Decimal("0") <= Decimal(item[rate]) < Decimal("1"):
                errors[f"items.{i}.{rate}"] = [_("A rate between 0 and 1 (0.08 for 8 %).")]
    if errors:
        raise ValidationError(errors)
    city = PayrollCity.objects.create(company=company, code=code, name=name, valid_from=valid_from)
    payroll_city_items_set(city=city, items=items)
    return city


@transaction.atomic
def payroll_city_items_set(*, city: PayrollCity, items: Sequence[dict], by: User | None = None) -> PayrollCity:
    """Replace the items of a city table (used by the next computation; posted runs keep their figures)."""
    PayrollCityItem.objects.filter(city=city).delete()
    PayrollCityItem.objects.bulk_create(
        PayrollCityItem(
            company_id=city.company_id,
            city=city,
            code=item["code"],
            kind=item.get("kind", ContributionKind.SOCIAL_INSURANCE),
            floor=Decimal(item["floor"]),
            cap=Decimal(item["cap"]),
            employee_rate=Decimal(item["employee_rate"]),
            employer_rate=Decimal(item["employer_rate"]),
        )
        for item in items
    )
    return city


@transaction.atomic
def payroll_city_install_defaults(*, company: Company, by: User | None = None) -> PayrollCity:
    """The Shanghai 2025 table (code ``shanghai``), unless the company has it."""
    existing = PayrollCity.objects.filter(company=company, code="shanghai").first()
    if existing:
        return existing
    items = [
        {"code": c, "kind": k, "floor": f, "cap": cap, "employee_rate": ee, "employer_rate": er}
        for c, k, f, cap, ee, er in SHANGHAI_2025
    ]
    return payroll_city_create(company=company, code="shanghai", name="上海 Shanghai 2025", items=items)


@transaction.atomic
def pay_component_create(
    *,
    company: Company,
    code: str,
    name: str,
    kind: str,
    taxable: bool = True,
    rate: Decimal | None = None,
    account: Account | None = None,
    by: User | None = None,
) -> PayComponent:
    errors: dict = {}
    if PayComponent.objects.filter(company=company, code=code).exists():
        errors["code"] = [_("This code is taken.")]
    if kind not in ComponentKind.values:
        errors["kind"] = [_("Earning or deduction.")]
    if rate is not None and not Decimal("0") <= rate < Decimal("1"):
        errors["rate"] = [_("A rate between 0 and 1.")]
    if account is not None and account.company_id != company.pk:
        errors["account"] = [_("Unknown record.")]
    if errors:
        raise ValidationError(errors)
    return PayComponent.objects.create(
        company=company, code=code, name=name, kind=kind, taxable=taxable, rate=rate, account=account
    )


@transaction.atomic
def pay_component_update(*, component: PayComponent, by: User | None = None, **changes) -> PayComponent:
    for key, value in changes.items():
        setattr(component, key, value)
    component.save()
    return component


@transaction.atomic
def employee_pay_component_set(
    *, employee: Employee, component: PayComponent, amount: Decimal, by: User | None = None
) -> EmployeePayComponent:
    """Set (or with amount 0, remove) a recurring amount of a component for an employee."""
    if component.company_id != employee.company_id:
        raise ValidationError({"component": [_("Unknown record.")]})
    if amount < 0:
        raise ValidationError({"amount": [_("The amount cannot be negative.")]})
    row, _created = EmployeePayComponent.objects.update_or_create(
        employee=employee, component=component, defaults={"amount": amount, "company_id": employee.company_id}
    )
    return row


def _commission_component(company_id: int) -> PayComponent:
    component, _created = PayComponent.objects.get_or_create(
        company_id=company_id,
        code=COMMISSION_CODE,
        defaults={"name": "提成 Commission", "kind": ComponentKind.EARNING, "taxable": True},
    )
    return component


@transaction.atomic
def payroll_commission_lines_set(
    *, company: Company, year: int, month: int, lines: Iterable[dict], by: User | None = None
) -> int:
    """Set the commission of a month: each line is ``{"employee": Employee | "user_id": int, "reference": str,
    "amount": Decimal}``; an existing line with the same (employee, month, reference) is replaced, so a caller
    (the CRM commission loop) may send the same facts again safely. A line of amount 0 removes the line.
    Refused when the month's run is posted. The lines appear as the ``commission`` component of the payslip
    (taxable earnings) at the next computation. Returns the number of lines written or removed."""
    run = PayrollRun.objects.filter(company=company, year=year, month=month).first()
    if run is not None and run.state == PayrollRunState.POSTED:
        raise PayrollConflict("run_posted", _("The payroll of this month is posted."))
    _commission_component(company.pk)
    by_user = {e.user_id: e for e in Employee.objects.filter(company=company, user__isnull=False)}
    count = 0
    errors: dict = {}
    for i, line in enumerate(lines):
        employee = line.get("employee") or by_user.get(line.get("user_id"))
        if employee is None or employee.company_id != company.pk:
            errors[f"lines.{i}.employee"] = [_("No employee of the company matches.")]
            continue
        amount = Decimal(str(line["amount"]))
        reference = str(line.get("reference") or "commission")[:100]
        if amount < 0:
            errors[f"lines.{i}.amount"] = [_("The amount cannot be negative.")]
            continue
        if amount == 0:
            CommissionLine.objects.filter(employee=employee, year=year, month=month, reference=reference).delete()
        else:
            CommissionLine.objects.update_or_create(
                employee=employee,
                year=year,
                month=month,
                reference=reference,
                defaults={"amount": amount, "company": company},
            )
        count += 1
    if errors:
        raise ValidationError(errors)
    return count


# ---------------------------------------------------------------- runs


@transaction.atomic
def payroll_run_create(*, company: Company, year: int, month: int, by: User | None = None) -> PayrollRun:
    """A draft run for the month (one per company and month: the existing one is returned)."""
    if not 1 <= month <= 12 or not 2000 <= year <= 2100:
        raise ValidationError({"month": [_("Enter a valid month.")]})
    run, _created = PayrollRun.objects.get_or_create(company=company, year=year, month=month)
    return run


def lock_run(pk: int) -> PayrollRun:
    return PayrollRun.objects.select_for_update(of=("self",)).select_related("company").get(pk=pk)


@transaction.atomic
def payroll_run_start(*, run: PayrollRun, by: User | None = None) -> PayrollRun:
    """Queue the computation of a run that is not posted (the Celery task runs after commit)."""
    run = lock_run(run.pk)
    if run.state == PayrollRunState.POSTED:
        raise PayrollConflict("run_posted", _("A posted run cannot be recomputed."))
    run.state = PayrollRunState.COMPUTING
    run.progress = 0
    run.employees_done = 0
    run.error = ""
    run.save(update_fields=["state", "progress", "employees_done", "error", "updated_at"])
    from erp.tasks import payroll_run_compute as task

    run_id = run.pk
    transaction.on_commit(lambda: task.delay(run_id))
    return run


def _month_bounds(year: int, month: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def _employees_of(run: PayrollRun) -> list[int]:
    first, last = _month_bounds(run.year, run.month)
    qs = Employee.objects.filter(company_id=run.company_id, hire_date__lte=last).exclude(leave_date__lt=first)
    return list(qs.order_by("pk").values_list("pk", flat=True))


def _previous_ytd(run: PayrollRun, employee_ids: list[int]) -> dict[int, YearToDate]:
    """Each employee's year-to-date after their latest payslip of the run's year before the run's month."""
    rows = (
        Payslip.objects.filter(
            employee_id__in=employee_ids, run__company_id=run.company_id, run__year=run.year, run__month__lt=run.month
        )
        .order_by("employee_id", "-run__month")
        .distinct("employee_id")
        .values("employee_id", "ytd_months", "ytd_gross", "ytd_social", "ytd_special", "ytd_tax")
    )
    return {
        r["employee_id"]: YearToDate(
            months=r["ytd_months"],
            gross=r["ytd_gross"],
            social_insurance=r["ytd_social"],
            special_additional=r["ytd_special"],
            tax_withheld=r["ytd_tax"],
        )
        for r in rows
    }


def _city_items(company_id: int) -> dict[int, list[tuple[str, ContributionItem]]]:
    items = defaultdict(list)
    for item in PayrollCityItem.objects.filter(company_id=company_id).order_by("city_id", "code"):
        items[item.city_id].append(
            (
                item.kind,
                ContributionItem(item.code, item.floor, item.cap, item.employee_rate, item.employer_rate),
            )
        )
    return items


def _line(code: str, name: str, kind: str, amount: Decimal) -> dict:
    return {"code": code, "name": name, "kind": kind, "amount": str(amount)}


def compute_payslip(
    *,
    run: PayrollRun,
    employee: Employee,
    recurring: list[tuple[PayComponent, Decimal]],
    rated: list[PayComponent],
    commission: Decimal,
    city_items: list[tuple[str, ContributionItem]],
    ytd: YearToDate,
) -> Payslip:
    """One employee's payslip for the run (not saved)."""
    salary = employee.salary or ZERO
    lines = [_line("salary", "基本工资 Base salary", "earning", salary)]
    gross, taxable, other = salary, salary, ZERO
    for component, amount in recurring:
        if component.kind == ComponentKind.EARNING:
            gross += amount
            taxable += amount if component.taxable else ZERO
        lines.append(_line(component.code, component.name, component.kind, amount))
    if commission:
        gross += commission
        taxable += commission
        lines.append(_line(COMMISSION_CODE, "提成 Commission", "earning", commission))
    for component, amount in recurring:
        if component.kind == ComponentKind.DEDUCTION:
            other += amount
    si_ee = si_er = hf_ee = hf_er = iit = ZERO
    new_ytd = YearToDate(
        months=ytd.months + 1,
        gross=ytd.gross + taxable,
        social_insurance=ytd.social_insurance,
        special_additional=ytd.special_additional,
        tax_withheld=ytd.tax_withheld,
    )
    if employee.payroll_mode == PayrollMode.CHINA:
        base = employee.social_base if employee.social_base is not None else salary
        for kind, c in zip((k for k, _i in city_items), contributions(base, [i for _k, i in city_items]), strict=True):
            if kind == ContributionKind.HOUSING_FUND:
                hf_ee, hf_er = hf_ee + c.employee, hf_er + c.employer
            else:
                si_ee, si_er = si_ee + c.employee, si_er + c.employer
            lines.append(_line(c.code, c.code, "contribution", c.employee))
        result = withhold(
            MonthInput(gross=taxable, social_insurance=si_ee + hf_ee, special_additional=employee.special_deduction),
            ytd,
        )
        iit = result.month_tax
        new_ytd = result.year_to_date
        lines.append(_line("iit", "个人所得税 IIT", "tax", iit))
    else:
        for component in rated:
            amount = cents(gross * component.rate)
            other += amount
            lines.append(_line(component.code, component.name, component.kind, amount))
    net = gross - si_ee - hf_ee - iit - other
    return Payslip(
        company_id=run.company_id,
        run=run,
        employee=employee,
        mode=employee.payroll_mode,
        gross=gross,
        taxable_gross=taxable,
        si_employee=si_ee,
        si_employer=si_er,
        hf_employee=hf_ee,
        hf_employer=hf_er,
        other_deductions=other,
        iit=iit,
        net=net,
        ytd_months=new_ytd.months,
        ytd_gross=new_ytd.gross,
        ytd_social=new_ytd.social_insurance,
        ytd_special=new_ytd.special_additional,
        ytd_tax=new_ytd.tax_withheld,
        lines=lines,
    )


def _compute_chunk(run: PayrollRun, employee_ids: list[int], city_items, rated) -> list[Payslip]:
    employees = list(Employee.objects.filter(pk__in=employee_ids).order_by("pk"))
    recurring = defaultdict(list)
    for row in EmployeePayComponent.objects.filter(
        employee_id__in=employee_ids, component__is_active=True
    ).select_related("component"):
        recurring[row.employee_id].append((row.component, row.amount))
    commission = dict(
        CommissionLine.objects.filter(employee_id__in=employee_ids, year=run.year, month=run.month)
        .values_list("employee_id")
        .annotate(total=Sum("amount"))
    )
    ytd = _previous_ytd(run, employee_ids)
    payslips = []
    for employee in employees:
        payslips.append(
            compute_payslip(
                run=run,
                employee=employee,
                recurring=recurring.get(employee.pk, []),
                rated=rated,
                commission=commission.get(employee.pk, ZERO),
                city_items=city_items.get(employee.payroll_city_id, []),
                ytd=ytd.get(employee.pk, YearToDate()),
            )
        )
    return payslips


def payroll_run_compute(*, run_id: int, by: User | None = None, chunk: int = CHUNK) -> PayrollRun:
    """Compute (or recompute) a run that is not posted: the body of the Celery task, callable directly.

    Its payslips are deleted and written again in chunks of ``chunk`` employees; each chunk commits with the
    progress. Employees are those employed at some day of the month. A later month's run computed earlier is
    not touched: recompute it to carry changed year-to-date figures forward. Refuses a posted run. Errors
    leave the run ``failed`` with the message (and no half-written payslips)."""
    with transaction.atomic():
        run = lock_run(run_id)
        if run.state == PayrollRunState.POSTED:
            raise PayrollConflict("run_posted", _("A posted run cannot be recomputed."))
        employee_ids = _employees_of(run)
        Payslip.objects.filter(run=run).delete()
        run.state = PayrollRunState.COMPUTING
        run.employees_total = len(employee_ids)
        run.employees_done = 0
        run.progress = 0
        run.error = ""
        run.save(update_fields=["state", "employees_total", "employees_done", "progress", "error", "updated_at"])
    city_items = _city_items(run.company_id)
    rated = list(
        PayComponent.objects.filter(
            company_id=run.company_id, is_active=True, kind=ComponentKind.DEDUCTION, rate__isnull=False
        )
    )
    try:
        for start in range(0, len(employee_ids), chunk):
            ids = employee_ids[start : start + chunk]
            with transaction.atomic():
                current = lock_run(run.pk)
                if current.state != PayrollRunState.COMPUTING:
                    return current  # another computation or a post took over
                Payslip.objects.bulk_create(_compute_chunk(run, ids, city_items, rated), batch_size=1000)
                done = start + len(ids)
                PayrollRun.objects.filter(pk=run.pk).update(
                    employees_done=done, progress=int(done * 100 / max(len(employee_ids), 1))
                )
    except Exception as exc:
        with transaction.atomic():
            Payslip.objects.filter(run_id=run.pk).delete()
            PayrollRun.objects.filter(pk=run.pk).update(
                state=PayrollRunState.FAILED, error=str(exc)[:2000], progress=0, employees_done=0
            )
        raise
    with transaction.atomic():
        run = lock_run(run.pk)
        totals = Payslip.objects.filter(run=run).aggregate(
            gross=Sum("gross"), net=Sum("net"), si=Sum("si_employer"), hf=Sum("hf_employer")
        )
        run.total_gross = totals["gross"] or ZERO
        run.total_net = totals["net"] or ZERO
        run.total_employer_cost = run.total_gross + (totals["si"] or ZERO) + (totals["hf"] or ZERO)
        run.state = PayrollRunState.COMPUTED
        run.progress = 100
        run.employees_done = run.employees_total
        run.computed_at = timezone.now()
        run.save()
    return run


def _payroll_accounts(company: Company) -> dict[str, Account]:
    accounts = {a.code: a for a in Account.objects.filter(company=company, code__in=_ACCOUNT_CODES)}
    parent = accounts.get("2211") or Account.objects.filter(company=company, code="2211").first()
    for code, name, name_en in PAYROLL_SUBACCOUNTS:
        if code not in accounts:
            if parent is None:
                raise ValidationError({"account": [_("Account 2211 应付职工薪酬 is missing.")]})
            accounts[code] = ledger.account_create(
                company=company, code=code, name=name, name_en=name_en, account_type=parent.account_type, parent=parent
            )
    for code in (EXPENSE_CODE, IIT_CODE, OTHER_PAYABLE_CODE):
        if code not in accounts:
            raise ValidationError({"account": [_("Account %(code)s is missing.") % {"code": code}]})
    return accounts


_ACCOUNT_CODES = ("2211", EXPENSE_CODE, NET_PAY_CODE, SI_CODE, HF_CODE, IIT_CODE, OTHER_PAYABLE_CODE)


def payroll_entry_lines(run: PayrollRun, accounts: dict[str, Account]) -> list[ledger.LineSpec]:
    """The lines of the run's journal entry (balanced: see the module docstring)."""
    sums = Payslip.objects.filter(run=run).aggregate(
        gross=Sum("gross"),
        net=Sum("net"),
        si_ee=Sum("si_employee"),
        si_er=Sum("si_employer"),
        hf_ee=Sum("hf_employee"),
        hf_er=Sum("hf_employer"),
        iit=Sum("iit"),
        other=Sum("other_deductions"),
    )
    s = {k: v or ZERO for k, v in sums.items()}
    # Earnings booked to a component's own account (e.g. commission to 6601 销售费用).
    by_account: dict[int, Decimal] = defaultdict(Decimal)
    component_accounts = dict(
        PayComponent.objects.filter(company_id=run.company_id, account__isnull=False).values_list("code", "account_id")
    )
    if component_accounts:
        for lines in Payslip.objects.filter(run=run).values_list("lines", flat=True):
            for line in lines:
                if line["kind"] == "earning" and line["code"] in component_accounts:
                    by_account[component_accounts[line["code"]]] += Decimal(line["amount"])
    expense = accounts[EXPENSE_CODE]
    label = f"{run.year}-{run.month:02d}"
    specs = [
        ledger.LineSpec(
            account=expense, debit=s["gross"] - sum(by_account.values(), ZERO), description=f"工资 {label}"
        ),
        *[
            ledger.LineSpec(account=account_id, debit=amount, description=f"工资 {label}")
            for account_id, amount in sorted(by_account.items())
            if amount
        ],
        ledger.LineSpec(account=expense, debit=s["si_er"], description=f"社保(单位) {label}"),
        ledger.LineSpec(account=expense, debit=s["hf_er"], description=f"公积金(单位) {label}"),
        ledger.LineSpec(account=accounts[NET_PAY_CODE], credit=s["net"], description=f"实发工资 {label}"),
        ledger.LineSpec(account=accounts[SI_CODE], credit=s["si_ee"] + s["si_er"], description=f"社会保险费 {label}"),
        ledger.LineSpec(account=accounts[HF_CODE], credit=s["hf_ee"] + s["hf_er"], description=f"住房公积金 {label}"),
        ledger.LineSpec(account=accounts[IIT_CODE], credit=s["iit"], description=f"个人所得税 {label}"),
        ledger.LineSpec(account=accounts[OTHER_PAYABLE_CODE], credit=s["other"], description=f"其他扣款 {label}"),
    ]
    return [spec for spec in specs if spec.debit or spec.credit]


@transaction.atomic
def payroll_run_post(*, run: PayrollRun, by: User | None = None, date: dt.date | None = None) -> PayrollRun:
    """Post a computed run to the ledger (one entry, dated the month's last day by default) and freeze it.
    Idempotent (the entry's ``source_key``; a posted run is returned unchanged). Locks the run. Publishes
    ``erp.payroll_run.posted`` v1."""
    run = lock_run(run.pk)
    if run.state == PayrollRunState.POSTED:
        return run
    if run.state != PayrollRunState.COMPUTED:
        raise PayrollConflict("run_not_computed", _("Compute the run before posting it."))
    accounts = _payroll_accounts(run.company)
    journal = Journal.objects.filter(company_id=run.company_id, code="GEN", is_active=True).first()
    if journal is None:
        raise ValidationError({"journal": [_("Install the default journals first.")]})
    entry = ledger.journal_entry_create(
        company=run.company,
        journal=journal,
        date=date or _month_bounds(run.year, run.month)[1],
        lines=payroll_entry_lines(run, accounts),
        memo=f"{_('Payroll')} {run.year}-{run.month:02d}",
        reference=f"PAY-{run.year}{run.month:02d}",
        source_key=f"payroll-run:{run.pk}",
        post=True,
        by=by,
    )
    run.state = PayrollRunState.POSTED
    run.journal_entry = entry
    run.save(update_fields=["state", "journal_entry", "updated_at"])
    events.publish(
        erp_events.PAYROLL_RUN_POSTED,
        erp_events.payroll_run_posted_payload(run),
        company_id=run.company_id,
        by=by,
    )
    return run
