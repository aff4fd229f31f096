"""Reads of the HR dashboard (issue #7): headcount by department and its trend (hires, leavers), attendance
(absence rate, late arrivals) and payroll cost per month.

Who sees what (``people_in_view``): admins, hr and payroll see the whole company; a manager sees the people of
the departments they head (and the departments below them) and their own reports, never the company's; other
roles see nobody. Payroll cost is aggregate only and follows the payroll policy in ``erp/policies.py``: only the
hr and payroll roles see payroll runs (``suite.policy.scope``), so for anyone else it is ``None``. Every function
aggregates in PostgreSQL with a fixed number of queries.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from erp.models import AttendanceRecord, Department, Employee, LeaveRequest, LeaveState, PayrollRun
from suite import policy
from suite.models import Role
from suite.policy import Actor

ZERO = Decimal("0")
COMPANY_WIDE = frozenset({Role.ADMIN, Role.HR, Role.PAYROLL})
WORKDAYS = "12345"  # ISO weekdays counted as working days for the absence rate


def people_in_view(actor: Actor | None) -> QuerySet[Employee]:
    """The employees the HR dashboard counts for ``actor``: the company's for admins, hr and payroll; for a
    manager those of the departments they head (and the departments below) plus their direct reports; nobody
    for other roles. Two queries at most (the manager's own record and the department tree)."""
    employees = policy.scope(actor, Employee.objects.all())
    if actor is None or actor.role in COMPANY_WIDE:
        return employees
    if actor.role != Role.MANAGER:
        return employees.none()
    own = Employee.objects.filter(company_id=actor.company_id, user=actor.user).values_list("pk", flat=True).first()
    if own is None:
        return employees.none()
    tree = list(Department.objects.filter(company_id=actor.company_id).values_list("pk", "parent_id", "head_id"))
    headed = {pk for pk, _parent, head in tree if head == own}
    frontier = set(headed)
    while frontier:
        frontier = {pk for pk, parent, _head in tree if parent in frontier} - headed
        headed |= frontier
    return employees.filter(Q(department_id__in=headed) | Q(manager_id=own))


def _employed_on(day: dt.date) -> Q:
    return Q(hire_date__lte=day) & (Q(leave_date__isnull=True) | Q(leave_date__gt=day))


@dataclass(frozen=True)
class DepartmentHeadcount:
    department_id: int | None
    name: str
    headcount: int


def headcount_by_department(people: QuerySet[Employee], *, on: dt.date) -> list[DepartmentHeadcount]:
    """People employed on ``on`` (hired by then, not yet left) per department, largest first. One query."""
    rows = (
        people.filter(_employed_on(on))
        .order_by()
        .values("department_id", "department__name")
        .annotate(headcount=Count("id"))
    )
    result = [DepartmentHeadcount(r["department_id"], r["department__name"] or "", r["headcount"]) for r in rows]
    result.sort(key=lambda r: (-r.headcount, r.name))
    return result


@dataclass(frozen=True)
class HeadcountBucket:
    label: str
    start: dt.date
    end: dt.date
    headcount: int  # employed on the bucket's last day
    hires: int
    leavers: int


def headcount_trend(people: QuerySet[Employee], periods: list[tuple[str, dt.date, dt.date]]) -> list[HeadcountBucket]:
    """Headcount at the end of each (label, start, end) period, with the hires and leavers within it. One
    query whatever the number of periods."""
    if not periods:
        return []
    aggregates = {}
    for index, (_label, start, end) in enumerate(periods):
        aggregates[f"h{index}"] = Count("id", filter=_employed_on(end))
        aggregates[f"in{index}"] = Count("id", filter=Q(hire_date__gte=start, hire_date__lte=end))
        aggregates[f"out{index}"] = Count("id", filter=Q(leave_date__gte=start, leave_date__lte=end))
    values = people.order_by().aggregate(**aggregates)
    return [
        HeadcountBucket(label, start, end, values[f"h{i}"], values[f"in{i}"], values[f"out{i}"])
        for i, (label, start, end) in enumerate(periods)
    ]


@dataclass(frozen=True)
class AttendanceFigures:
    department_id: int | None  # None with name "" is the total
    name: str
    expected_days: int  # working days employed, up to today
    present_days: int
    leave_days: int
    late_count: int

    @property
    def absent_days(self) -> int:
        return max(self.expected_days - self.present_days - self.leave_days, 0)

    @property
    def absence_rate(self) -> Decimal | None:
        """Absent working days (no attendance record, no approved leave) per expected working day, percent."""
        if not self.expected_days:
            return None
        return (Decimal(self.absent_days) * 100 / self.expected_days).quantize(Decimal("0.1"))


def _working_days(start: dt.date, end: dt.date) -> list[dt.date]:
    days, day = [], start
    while day <= end:
        if str(day.isoweekday()) in WORKDAYS:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def attendance_figures(
    actor: Actor | None,
    people: QuerySet[Employee],
    *,
    date_from: dt.date,
    date_to: dt.date,
    today: dt.date | None = None,
) -> list[AttendanceFigures]:
    """Attendance of the people per department between the dates (capped at today), then a total row: working
    days (Monday–Friday while employed), days with an attendance record, working days on approved leave, and
    late arrivals (clock-in after the start of the record's shift). Three queries."""
    end = min(date_to, today or timezone.localdate())
    staff = list(
        people.filter(hire_date__lte=end)
        .filter(Q(leave_date__isnull=True) | Q(leave_date__gt=date_from))
        .values_list("pk", "department_id", "department__name", "hire_date", "leave_date")
    )
    ids = [row[0] for row in staff]
    records = {
        row["employee_id"]: row
        for row in policy.scope(actor, AttendanceRecord.objects.all())
        .filter(employee_id__in=ids, work_date__gte=date_from, work_date__lte=end)
        .order_by()
        .values("employee_id")
        .annotate(
            present=Count("work_date", distinct=True),
            late=Count("id", filter=Q(shift__isnull=False, clock_in__time__gt=F("shift__start_time"))),
        )
    }
    leave: dict[int, set[dt.date]] = defaultdict(set)
    for employee_id, start, stop in (
        policy.scope(actor, LeaveRequest.objects.all())
        .filter(employee_id__in=ids, state=LeaveState.APPROVED, start_date__lte=end, end_date__gte=date_from)
        .values_list("employee_id", "start_date", "end_date")
    ):
        leave[employee_id].update(_working_days(max(start, date_from), min(stop, end)))
    per_department: dict[int | None, list] = defaultdict(lambda: ["", 0, 0, 0, 0])
    for pk, department_id, department_name, hired, left in staff:
        first = max(date_from, hired)
        last = min(end, left - dt.timedelta(days=1)) if left else end
        working = set(_working_days(first, last))
        row = per_department[department_id]
        row[0] = department_name or ""
        row[1] += len(working)
        row[2] += min(records.get(pk, {}).get("present", 0), len(working))
        row[3] += len(leave[pk] & working)
        row[4] += records.get(pk, {}).get("late", 0)
    rows = [AttendanceFigures(key, *values) for key, values in per_department.items()]
    rows.sort(key=lambda r: r.name)
    total = [
        sum(getattr(r, name) for r in rows) for name in ("expected_days", "present_days", "leave_days", "late_count")
    ]
    rows.append(AttendanceFigures(None, "", *total))
    return rows


@dataclass(frozen=True)
class PayrollMonth:
    year: int
    month: int
    employees: int
    gross: Decimal
    employer_cost: Decimal  # gross plus the employer's social insurance and housing fund


def payroll_cost(actor: Actor | None, *, date_from: dt.date, date_to: dt.date) -> list[PayrollMonth] | None:
    """Computed or posted payroll runs of the months between the dates, oldest first — company totals only, no
    person's pay. ``None`` when the actor's role may not see payroll (everyone but hr and payroll). One query."""
    if not policy.can(actor, "view", PayrollRun):
        return None
    first, last = (date_from.year, date_from.month), (date_to.year, date_to.month)
    runs = (
        policy.scope(actor, PayrollRun.objects.filter(state__in=("computed", "posted")))
        .filter(Q(year__gt=first[0]) | Q(year=first[0], month__gte=first[1]))
        .filter(Q(year__lt=last[0]) | Q(year=last[0], month__lte=last[1]))
        .order_by("year", "month")
        .values_list("year", "month", "employees_total", "total_gross", "total_employer_cost")
    )
    return [PayrollMonth(year, month, count, gross, cost) for year, month, count, gross, cost in runs]


def payroll_total(months: list[PayrollMonth]) -> Decimal:
    return sum((month.employer_cost for month in months), ZERO)


# ---------------------------------------------------------------- drill-down targets


def _int(value) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() and len(text) <= 12 else None


def _date(value) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value or ""))
    except ValueError:
        return None


def employees_drilled(employees: QuerySet[Employee], params) -> tuple[QuerySet[Employee], dict[str, str]]:
    """Narrow the employee list as the HR dashboard links it: ``department`` (an id or "none"), ``employed_on``
    (a date), ``hired_from``/``hired_to`` and ``left_from``/``left_to`` (inclusive). Returns the queryset and the
    parameters applied."""
    applied: dict[str, str] = {}
    department = params.get("department", "")
    if department == "none":
        employees = employees.filter(department__isnull=True)
        applied["department"] = department
    elif _int(department):
        employees = employees.filter(department_id=_int(department))
        applied["department"] = department
    employed_on = _date(params.get("employed_on"))
    if employed_on:
        employees = employees.filter(_employed_on(employed_on))
        applied["employed_on"] = employed_on.isoformat()
    for name, lookup in (
        ("hired_from", "hire_date__gte"),
        ("hired_to", "hire_date__lte"),
        ("left_from", "leave_date__gte"),
        ("left_to", "leave_date__lte"),
    ):
        day = _date(params.get(name))
        if day:
            employees = employees.filter(**{lookup: day})
            applied[name] = day.isoformat()
    return employees, applied


def attendance_drilled(records: QuerySet[AttendanceRecord], params) -> tuple[QuerySet[AttendanceRecord], dict]:
    """Narrow the attendance list: ``department`` (id or "none"), ``date_from``/``date_to`` (work date,
    inclusive), ``late=1`` (clock-in after the shift's start)."""
    applied: dict[str, str] = {}
    department = params.get("department", "")
    if department == "none":
        records = records.filter(employee__department__isnull=True)
        applied["department"] = department
    elif _int(department):
        records = records.filter(employee__department_id=_int(department))
        applied["department"] = department
    for name, lookup in (("date_from", "work_date__gte"), ("date_to", "work_date__lte")):
        day = _date(params.get(name))
        if day:
            records = records.filter(**{lookup: day})
            applied[name] = day.isoformat()
    if params.get("late") == "1":
        records = records.filter(shift__isnull=False, clock_in__time__gt=F("shift__start_time"))
        applied["late"] = "1"
    return records, applied
