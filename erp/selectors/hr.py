"""HR reads: scoped, prefetched querysets for the API and pages, the org chart, attendance summaries and the
payslip detail. Sensitive fields are never filtered or sorted on (they are encrypted); hiding them from a role
is the serializers' and templates' job (``policy.hidden_fields``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum

from erp.models import (
    AttendanceRecord,
    Candidate,
    Department,
    Employee,
    Goal,
    LeaveBalance,
    LeaveRequest,
    LeaveState,
    PayrollRun,
    Payslip,
    PerformanceReview,
)
from suite import policy
from suite.policy import Actor


def employees_visible_to(actor: Actor | None, *, search: str = "", active: bool | None = None) -> QuerySet[Employee]:
    qs = policy.scope(actor, Employee.objects.all()).select_related("department", "position", "manager", "user")
    if search:
        qs = qs.filter(name__icontains=search) | qs.filter(number__icontains=search)
    if active is not None:
        qs = qs.filter(is_active=active)
    return qs.order_by("number")


def employee_of_user(actor: Actor | None) -> Employee | None:
    """The actor's own employee record (through their suite login), if HR linked one."""
    if actor is None:
        return None
    return Employee.objects.filter(company_id=actor.company_id, user=actor.user, is_active=True).first()


@dataclass
class OrgNode:
    employee: Employee
    reports: list[OrgNode] = field(default_factory=list)


def org_chart(actor: Actor | None) -> list[OrgNode]:
    """The active employees as trees by manager (roots: those without an active manager). Two queries."""
    employees = list(employees_visible_to(actor, active=True))
    nodes = {e.pk: OrgNode(e) for e in employees}
    roots = []
    for employee in employees:
        parent = nodes.get(employee.manager_id)
        (parent.reports if parent else roots).append(nodes[employee.pk])
    return roots


def departments_with_headcount(actor: Actor | None) -> QuerySet[Department]:
    return (
        policy.scope(actor, Department.objects.all())
        .select_related("parent", "head")
        .annotate(headcount=Count("employees", distinct=True))
        .order_by("code")
    )


def attendance_visible_to(actor: Actor | None) -> QuerySet[AttendanceRecord]:
    return policy.scope(actor, AttendanceRecord.objects.all()).select_related("employee", "shift")


@dataclass(frozen=True)
class AttendanceSummary:
    days_present: int
    worked_minutes: int
    overtime_minutes: int
    leave_days: Decimal
    absent_days: int


def attendance_summary(employee: Employee, start: dt.date, end: dt.date, *, workdays: str = "12345"):
    """Presence, overtime, approved leave and absence (working days with neither a record nor leave)."""
    records = AttendanceRecord.objects.filter(employee=employee, work_date__range=(start, end))
    sums = records.aggregate(worked=Sum("worked_minutes"), overtime=Sum("overtime_minutes"))
    present = set(records.values_list("work_date", flat=True))
    leave_days: set[dt.date] = set()
    leave_total = Decimal("0")
    for request in LeaveRequest.objects.filter(
        employee=employee, state=LeaveState.APPROVED, start_date__lte=end, end_date__gte=start
    ):
        day = max(request.start_date, start)
        while day <= min(request.end_date, end):
            leave_days.add(day)
            day += dt.timedelta(days=1)
        leave_total += request.days
    absent = 0
    day = max(start, employee.hire_date)
    while day <= end:
        if str(day.isoweekday()) in workdays and day not in present and day not in leave_days:
            absent += 1
        day += dt.timedelta(days=1)
    return AttendanceSummary(
        days_present=len(present),
        worked_minutes=sums["worked"] or 0,
        overtime_minutes=sums["overtime"] or 0,
        leave_days=leave_total,
        absent_days=absent,
    )


def leave_balances_visible_to(actor: Actor | None) -> QuerySet[LeaveBalance]:
    return policy.scope(actor, LeaveBalance.objects.all()).select_related("employee", "leave_type")


def leave_requests_visible_to(actor: Actor | None) -> QuerySet[LeaveRequest]:
    return policy.scope(actor, LeaveRequest.objects.all()).select_related("employee", "leave_type", "decided_by")


def leave_requests_awaiting(actor: Actor | None) -> QuerySet[LeaveRequest]:
    """Submitted requests the actor may decide: all for hr and admins, their reports' for a manager."""
    qs = leave_requests_visible_to(actor).filter(state=LeaveState.SUBMITTED)
    if actor is None or not policy.can(actor, "approve", LeaveRequest):
        return qs.none()
    if actor.role in ("hr", "admin"):
        return qs
    return qs.filter(employee__manager__user=actor.user)


def payroll_runs_visible_to(actor: Actor | None) -> QuerySet[PayrollRun]:
    return policy.scope(actor, PayrollRun.objects.all()).order_by("-year", "-month")


def payslips_visible_to(actor: Actor | None, *, run: PayrollRun | None = None) -> QuerySet[Payslip]:
    qs = policy.scope(actor, Payslip.objects.all()).select_related("employee", "run")
    if run is not None:
        qs = qs.filter(run=run)
    return qs.order_by("employee__number")


def goals_visible_to(actor: Actor | None) -> QuerySet[Goal]:
    return policy.scope(actor, Goal.objects.all()).select_related("employee", "kpi")


def reviews_visible_to(actor: Actor | None) -> QuerySet[PerformanceReview]:
    return policy.scope(actor, PerformanceReview.objects.all()).select_related("employee", "reviewer")


def candidates_visible_to(actor: Actor | None) -> QuerySet[Candidate]:
    return policy.scope(actor, Candidate.objects.all()).select_related("opening", "employee")
