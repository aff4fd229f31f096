"""Writes of HR: the organisation (departments, positions, employees, contracts), attendance (shifts, clock
records, the device CSV import), leave (types, yearly accrual, requests and approvals), performance (KPIs,
goals computed from pluggable sources, reviews) and recruiting (openings, candidates, interviews, hire).

Sensitive fields (ID number, bank account, salary, contribution base) are written through the model's
encrypted properties; they never appear in an event payload or an error message. Every state change locks the
row it changes; ``employee_deactivate`` publishes ``erp.employee.deactivated`` v1 in its transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from erp import events as erp_events
from erp.models import (
    AttendanceRecord,
    AttendanceSource,
    Candidate,
    CandidateStage,
    Department,
    Employee,
    EmploymentContract,
    Goal,
    Interview,
    JobOpening,
    Kpi,
    KpiSource,
    LeaveBalance,
    LeaveRequest,
    LeaveState,
    LeaveType,
    OpeningState,
    PerformanceReview,
    Position,
    ReviewState,
    Shift,
)
from erp.models.hr import CANDIDATE_FLOW
from suite import events
from suite.models import Company, Membership, Role
from suite.uploads import decode_text

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ZERO = Decimal("0.00")
MAX_SALARY = Decimal("99999999.99")
IMPORT_MAX_ROWS = 50_000


class HrConflict(Exception):
    """The record's state refuses the action (approving a cancelled request, hiring twice…): HTTP 409."""

    def __init__(self, code: str, message) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = message


def _role_of(user, company_id: int) -> str | None:
    if user is None:
        return None
    return (
        Membership.objects.filter(user=user, company_id=company_id, is_active=True)
        .values_list("role", flat=True)
        .first()
    )


def _same_company(obj, company_id: int, name: str, errors: dict) -> None:
    if obj is not None and obj.company_id != company_id:
        errors[name] = [_("Unknown record.")]


def _code_taken(model, company_id: int, code: str, exclude_pk: int | None = None) -> bool:
    return model.objects.filter(company_id=company_id, code=code).exclude(pk=exclude_pk).exists()


def _raise_if(errors: dict) -> None:
    if errors:
        raise ValidationError(errors)


def _update_checked(record, changes: dict, errors_of: Callable[..., dict]):
    """Lock ``record``, check ``changes`` with the create's checks (``errors_of``; its own code is not "taken"),
    then save them."""
    record = type(record).objects.select_for_update().get(pk=record.pk)
    _raise_if(errors_of(record.company_id, exclude_pk=record.pk, **changes))
    for key, value in changes.items():
        setattr(record, key, value)
    record.save()
    return record


def _member(user, company_id: int, name: str, errors: dict) -> None:
    if user is not None and not Membership.objects.filter(user=user, company_id=company_id).exists():
        errors[name] = [_("Choose a member of the company.")]


def _money(value, name: str, errors: dict, *, allow_none: bool = True) -> Decimal | None:
    if value in (None, ""):
        if not allow_none:
            errors[name] = [_("This field is required.")]
        return None
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        errors[name] = [_("Enter a number.")]
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_SALARY or amount != amount.quantize(Decimal("0.01")):
        errors[name] = [_("Enter an amount between 0 and 99,999,999.99 with at most 2 decimals.")]
        return None
    return amount


# ---------------------------------------------------------------- organisation


@transaction.atomic
def department_create(
    *, company: Company, code: str, name: str, name_en: str = "", parent=None, head=None, by: User | None = None
) -> Department:
    """Add a department (code unique per company)."""
    errors: dict = {}
    _same_company(parent, company.pk, "parent", errors)
    _same_company(head, company.pk, "head", errors)
    if Department.objects.filter(company=company, code=code.strip()).exists():
        errors["code"] = [_("This code is taken.")]
    if errors:
        raise ValidationError(errors)
    department = Department(company=company, code=code.strip(), name=name.strip(), name_en=name_en, parent=parent)
    department.head = head
    department.full_clean(exclude=["company", "parent", "head"], validate_constraints=False, validate_unique=False)
    department.save()
    return department


@transaction.atomic
def department_update(*, department: Department, by: User | None = None, **changes) -> Department:
    """Change a department's names, parent or head (a department is never its own ancestor)."""
    department = Department.objects.select_for_update().get(pk=department.pk)
    errors: dict = {}
    for key in ("parent", "head"):
        if key in changes:
            _same_company(changes[key], department.company_id, key, errors)
    node = changes.get("parent")
    while node is not None:
        if node.pk == department.pk:
            errors["parent"] = [_("A department cannot be placed under itself.")]
            break
        node = node.parent
    if errors:
        raise ValidationError(errors)
    for key, value in changes.items():
        setattr(department, key, value)
    department.save()
    return department


@transaction.atomic
def position_create(
    *, company: Company, code: str, name: str, name_en: str = "", department=None, by: User | None = None
) -> Position:
    errors: dict = {}
    _same_company(department, company.pk, "department", errors)
    if Position.objects.filter(company=company, code=code.strip()).exists():
        errors["code"] = [_("This code is taken.")]
    if errors:
        raise ValidationError(errors)
    return Position.objects.create(
        company=company, code=code.strip(), name=name.strip(), name_en=name_en, department=department
    )


@transaction.atomic
def position_update(*, position: Position, by: User | None = None, **changes) -> Position:
    errors: dict = {}
    if "department" in changes:
        _same_company(changes["department"], position.company_id, "department", errors)
    if errors:
        raise ValidationError(errors)
    for key, value in changes.items():
        setattr(position, key, value)
    position.save()
    return position


EMPLOYEE_FIELDS = (
    "name",
    "name_en",
    "user",
    "email",
    "phone",
    "birth_date",
    "department",
    "position",
    "manager",
    "hire_date",
    "payroll_mode",
    "payroll_city",
    "special_deduction",
)
EMPLOYEE_SECRETS = ("id_number", "bank_account", "salary", "social_base")


def _check_employee(employee: Employee, data: dict, errors: dict) -> None:
    for key in ("department", "position", "manager", "payroll_city"):
        if key in data:
            _same_company(data[key], employee.company_id, key, errors)
    for key in ("user", "successor_user"):
        if key in data:
            _member(data[key], employee.company_id, key, errors)
    if data.get("user") is not None:
        taken = Employee.objects.filter(company_id=employee.company_id, user=data["user"]).exclude(pk=employee.pk)
        if taken.exists():
            errors["user"] = [_("This user is already linked to another employee.")]
    manager = data.get("manager")
    node = manager
    while node is not None and employee.pk is not None:
        if node.pk == employee.pk:
            errors["manager"] = [_("An employee cannot report to themself or to someone who reports to them.")]
            break
        node = node.manager
    for key in ("salary", "social_base"):
        if key in data:
            data[key] = _money(data[key], key, errors)
    if "special_deduction" in data:
        data["special_deduction"] = _money(data["special_deduction"], "special_deduction", errors) or ZERO
    id_number = data.get("id_number")
    if id_number and (len(str(id_number)) > 30 or not str(id_number).replace("X", "").replace("x", "").isalnum()):
        errors["id_number"] = [_("Enter a valid ID number.")]
    if data.get("bank_account") and len(str(data["bank_account"])) > 40:
        errors["bank_account"] = [_("At most 40 characters.")]


@transaction.atomic
def employee_create(*, company: Company, number: str, name: str, hire_date: dt.date, by: User | None = None, **data):
    """Add an employee. Sensitive fields (``id_number``, ``bank_account``, ``salary``, ``social_base``) are
    encrypted before they are written."""
    employee = Employee(company=company, number=(number or "").strip(), name=(name or "").strip(), hire_date=hire_date)
    errors: dict = {}
    if not employee.number:
        errors["number"] = [_("This field is required.")]
    elif Employee.objects.filter(company=company, number=employee.number).exists():
        errors["number"] = [_("This employee number is taken.")]
    if not employee.name:
        errors["name"] = [_("This field is required.")]
    _check_employee(employee, data, errors)
    if errors:
        raise ValidationError(errors)
    for key, value in data.items():
        if key in EMPLOYEE_FIELDS or key in EMPLOYEE_SECRETS:
            setattr(employee, key, value)
    employee.full_clean(
        exclude=["company", "user", "department", "position", "manager", "payroll_city", "successor_user"],
        validate_constraints=False,
        validate_unique=False,
    )
    employee.save()
    return employee


def lock_employee(pk: int) -> Employee:
    return Employee.objects.select_for_update(of=("self",)).get(pk=pk)


@transaction.atomic
def employee_update(*, employee: Employee, by: User | None = None, **data) -> Employee:
    """Change an employee's data (sensitive fields re-encrypted). Locks the employee."""
    employee = lock_employee(employee.pk)
    errors: dict = {}
    _check_employee(employee, data, errors)
    if errors:
        raise ValidationError(errors)
    for key, value in data.items():
        if key in EMPLOYEE_FIELDS or key in EMPLOYEE_SECRETS:
            setattr(employee, key, value)
    employee.save()
    return employee


@transaction.atomic
def employee_deactivate(
    *, employee: Employee, leave_date: dt.date | None = None, successor_user=None, by: User | None = None
) -> Employee:
    """Mark the employee as left on ``leave_date`` (default today) and publish ``erp.employee.deactivated`` v1
    with their user and the successor who takes over their CRM records. Idempotent: deactivating an inactive
    employee changes nothing and publishes nothing. Locks the employee."""
    employee = lock_employee(employee.pk)
    if not employee.is_active:
        return employee
    errors: dict = {}
    _member(successor_user, employee.company_id, "successor_user", errors)
    if successor_user is not None and successor_user.pk == employee.user_id:
        errors["successor_user"] = [_("The successor must be someone else.")]
    leave_date = leave_date or timezone.localdate()
    if leave_date < employee.hire_date:
        errors["leave_date"] = [_("The leave date is before the hire date.")]
    if errors:
        raise ValidationError(errors)
    employee.is_active = False
    employee.leave_date = leave_date
    employee.successor_user = successor_user
    employee.save(update_fields=["is_active", "leave_date", "successor_user", "updated_at"])
    Employee.objects.filter(manager=employee).update(manager=None)
    events.publish(
        erp_events.EMPLOYEE_DEACTIVATED,
        erp_events.employee_deactivated_payload(employee),
        company_id=employee.company_id,
        by=by,
    )
    return employee


@transaction.atomic
def contract_create(
    *,
    employee: Employee,
    number: str,
    start_date: dt.date,
    kind: str = "fixed",
    end_date: dt.date | None = None,
    probation_end: dt.date | None = None,
    weekly_hours: Decimal = Decimal("40"),
    by: User | None = None,
) -> EmploymentContract:
    """Add a contract of an employee (number unique per company; the end is not before the start)."""
    errors: dict = {}
    if end_date and end_date < start_date:
        errors["end_date"] = [_("The end is before the start.")]
    if EmploymentContract.objects.filter(company_id=employee.company_id, number=number).exists():
        errors["number"] = [_("This contract number is taken.")]
    if errors:
        raise ValidationError(errors)
    contract = EmploymentContract(
        company_id=employee.company_id,
        employee=employee,
        number=number,
        kind=kind,
        start_date=start_date,
        end_date=end_date,
        probation_end=probation_end,
        weekly_hours=weekly_hours,
    )
    contract.full_clean(exclude=["company", "employee"], validate_constraints=False, validate_unique=False)
    contract.save()
    return contract


# ---------------------------------------------------------------- attendance


@transaction.atomic
def shift_create(
    *,
    company: Company,
    code: str,
    name: str,
    start_time: dt.time,
    end_time: dt.time,
    break_minutes: int = 60,
    workdays: str = "12345",
    by: User | None = None,
) -> Shift:
    _raise_if(_shift_errors(company.pk, code=code, workdays=workdays))
    return Shift.objects.create(
        company=company,
        code=code,
        name=name,
        start_time=start_time,
        end_time=end_time,
        break_minutes=break_minutes,
        workdays=workdays,
    )


def _shift_errors(company_id: int, *, exclude_pk: int | None = None, **values) -> dict:
    errors: dict = {}
    if "code" in values and _code_taken(Shift, company_id, values["code"], exclude_pk):
        errors["code"] = [_("This code is taken.")]
    workdays = values.get("workdays", "1")
    if not workdays or any(c not in "1234567" for c in workdays):
        errors["workdays"] = [_("ISO weekdays 1–7, e.g. 12345.")]
    return errors


@transaction.atomic
def shift_update(*, shift: Shift, by: User | None = None, **changes) -> Shift:
    """Change a shift's code, name, hours, break or weekdays. Attendance already recorded keeps the minutes
    computed when it was recorded; the change applies from the next clock-out."""
    return _update_checked(shift, changes, _shift_errors)


def _minutes(record: AttendanceRecord) -> tuple[int, int]:
    """Worked minutes (minus the shift's break when the day is longer than 6 hours) and overtime beyond the
    shift's planned minutes (or 8 hours without a shift)."""
    if record.clock_out is None:
        return 0, 0
    total = int((record.clock_out - record.clock_in).total_seconds() // 60)
    planned = record.shift.planned_minutes if record.shift else 8 * 60
    brk = record.shift.break_minutes if record.shift else 60
    worked = total - brk if total > 6 * 60 else total
    return max(worked, 0), max(worked - planned, 0)


def _attendance_errors(employee: Employee, clock_in, clock_out, shift) -> dict:
    errors: dict = {}
    if clock_in is None:
        errors["clock_in"] = [_("This field is required.")]
        return errors
    if clock_out is not None and clock_out <= clock_in:
        errors["clock_out"] = [_("Clock-out must be after clock-in.")]
    elif clock_out is not None and clock_out - clock_in > dt.timedelta(hours=24):
        errors["clock_out"] = [_("A record cannot be longer than 24 hours.")]
    if shift is not None and shift.company_id != employee.company_id:
        errors["shift"] = [_("Unknown record.")]
    if not employee.is_active:
        errors["employee"] = [_("The employee has left.")]
    overlap = AttendanceRecord.objects.filter(employee=employee, clock_in__lt=clock_out or clock_in + dt.timedelta(1))
    if overlap.filter(clock_out__gt=clock_in).exists() or overlap.filter(clock_in=clock_in).exists():
        errors["clock_in"] = [_("This overlaps another attendance record.")]
    return errors


@transaction.atomic
def attendance_record(
    *,
    employee: Employee,
    clock_in: dt.datetime,
    clock_out: dt.datetime | None = None,
    shift: Shift | None = None,
    source: str = AttendanceSource.MANUAL,
    by: User | None = None,
) -> AttendanceRecord:
    """Record a clock-in (and its clock-out when known). Refuses overlapping records. Locks the employee so two
    clock-ins of the same person do not both pass the overlap check."""
    employee = lock_employee(employee.pk)
    errors = _attendance_errors(employee, clock_in, clock_out, shift)
    if errors:
        raise ValidationError(errors)
    record = AttendanceRecord(
        company_id=employee.company_id,
        employee=employee,
        work_date=timezone.localtime(clock_in).date(),
        shift=shift,
        clock_in=clock_in,
        clock_out=clock_out,
        source=source,
    )
    record.worked_minutes, record.overtime_minutes = _minutes(record)
    record.save()
    return record


@transaction.atomic
def attendance_clock_out(*, record: AttendanceRecord, clock_out: dt.datetime, by: User | None = None):
    """Close an open record with its clock-out; computes worked and overtime minutes."""
    record = AttendanceRecord.objects.select_for_update(of=("self",)).select_related("shift").get(pk=record.pk)
    if record.clock_out is not None:
        raise HrConflict("already_clocked_out", _("This record is closed already."))
    if clock_out <= record.clock_in:
        raise ValidationError({"clock_out": [_("Clock-out must be after clock-in.")]})
    record.clock_out = clock_out
    record.worked_minutes, record.overtime_minutes = _minutes(record)
    record.save(update_fields=["clock_out", "worked_minutes", "overtime_minutes", "updated_at"])
    return record


@dataclass
class AttendanceImportReport:
    created: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (row number, message); row 1 is the header


def _parse_moment(text: str) -> dt.datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    value = parse_datetime(text.replace("/", "-"))
    if value is None:
        raise ValueError(text)
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def attendance_import_csv(*, company: Company, fileobj, by: User | None = None) -> AttendanceImportReport:
    """Import clock records from a time clock's CSV export: columns ``employee_number``, ``clock_in``,
    ``clock_out`` (``YYYY-MM-DD HH:MM[:SS]``, local time) and optional ``shift``. Each row is its own
    transaction: good rows are kept, each bad row is reported with its number and the reason (an unknown
    employee, a bad time, an overlap …)."""
    raw = fileobj.read()
    reader = csv.DictReader(io.StringIO(decode_text(raw)))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    report = AttendanceImportReport()
    missing = {"employee_number", "clock_in"} - set(header)
    if missing:
        report.errors.append((1, _("Missing columns: %(cols)s") % {"cols": ", ".join(sorted(missing))}))
        return report
    employees = {e.number: e for e in Employee.objects.filter(company=company)}
    shifts = {s.code: s for s in Shift.objects.filter(company=company)}
    for row_number, row in enumerate(reader, start=2):
        if row_number > IMPORT_MAX_ROWS + 1:
            report.errors.append((row_number, _("Too many rows; the rest was not imported.")))
            break
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        employee = employees.get(row.get("employee_number", ""))
        if employee is None:
            report.errors.append((row_number, _("Unknown employee number %(n)s.") % {"n": row.get("employee_number")}))
            continue
        shift = None
        if row.get("shift"):
            shift = shifts.get(row["shift"])
            if shift is None:
                report.errors.append((row_number, _("Unknown shift %(s)s.") % {"s": row["shift"]}))
                continue
        try:
            clock_in = _parse_moment(row.get("clock_in", ""))
            clock_out = _parse_moment(row.get("clock_out", ""))
        except ValueError as exc:
            report.errors.append((row_number, _("Not a date and time: %(v)s") % {"v": exc}))
            continue
        try:
            attendance_record(
                employee=employee,
                clock_in=clock_in,
                clock_out=clock_out,
                shift=shift,
                source=AttendanceSource.DEVICE,
                by=by,
            )
        except ValidationError as exc:
            messages = [f"{k}: {' '.join(str(m) for m in v)}" for k, v in exc.message_dict.items()]
            report.errors.append((row_number, "; ".join(messages)))
            continue
        except IntegrityError:
            report.errors.append((row_number, _("This overlaps another attendance record.")))
            continue
        report.created += 1
    return report


# ---------------------------------------------------------------- leave


@transaction.atomic
def leave_type_create(
    *,
    company: Company,
    code: str,
    name: str,
    annual_days: Decimal = ZERO,
    is_paid: bool = True,
    needs_balance: bool = True,
    by: User | None = None,
) -> LeaveType:
    _raise_if(_leave_type_errors(company.pk, code=code, annual_days=annual_days))
    return LeaveType.objects.create(
        company=company, code=code, name=name, annual_days=annual_days, is_paid=is_paid, needs_balance=needs_balance
    )


def _leave_type_errors(company_id: int, *, exclude_pk: int | None = None, **values) -> dict:
    errors: dict = {}
    if "code" in values and _code_taken(LeaveType, company_id, values["code"], exclude_pk):
        errors["code"] = [_("This code is taken.")]
    if "annual_days" in values and not ZERO <= values["annual_days"] <= 366:
        errors["annual_days"] = [_("Between 0 and 366 days.")]
    return errors


@transaction.atomic
def leave_type_update(*, leave_type: LeaveType, by: User | None = None, **changes) -> LeaveType:
    """Change a leave type. Balances already accrued stay as they are; the next accrual uses the new days."""
    return _update_checked(leave_type, changes, _leave_type_errors)


def accrual_for(leave_type: LeaveType, employee: Employee, year: int) -> Decimal:
    """Days accrued in ``year``: the type's annual days, prorated by whole months employed when the employee
    was hired during the year (rounded to half days, down)."""
    if employee.hire_date.year > year:
        return ZERO
    months = 12 if employee.hire_date.year < year else 13 - employee.hire_date.month
    days = leave_type.annual_days * months / 12
    return (days * 2).to_integral_value(rounding="ROUND_FLOOR") / 2


@transaction.atomic
def leave_accrue(*, company: Company, year: int, by: User | None = None) -> int:
    """Set every active employee's accrued days of every balance-limited leave type for ``year`` (idempotent:
    running it again recomputes the same figures; an accrual below what was already taken keeps the taken
    days, so a balance never turns negative). Returns the number of balances written."""
    types = list(LeaveType.objects.filter(company=company, needs_balance=True))
    employees = list(Employee.objects.filter(company=company, is_active=True))
    existing = {
        (b.employee_id, b.leave_type_id): b
        for b in LeaveBalance.objects.select_for_update().filter(company=company, year=year)
    }
    new, changed = [], []
    for employee in employees:
        for leave_type in types:
            days = accrual_for(leave_type, employee, year)
            balance = existing.get((employee.pk, leave_type.pk))
            if balance is None:
                new.append(
                    LeaveBalance(company=company, employee=employee, leave_type=leave_type, year=year, accrued=days)
                )
            elif balance.accrued != max(days, balance.taken):
                balance.accrued = max(days, balance.taken)
                changed.append(balance)
    LeaveBalance.objects.bulk_create(new)
    LeaveBalance.objects.bulk_update(changed, ["accrued"])
    return len(new) + len(changed)


def working_days(start: dt.date, end: dt.date, workdays: str = "12345") -> Decimal:
    count = 0
    day = start
    while day <= end:
        if str(day.isoweekday()) in workdays:
            count += 1
        day += dt.timedelta(days=1)
    return Decimal(count)


def _balance(employee_id: int, leave_type: LeaveType, year: int, *, lock: bool = False) -> LeaveBalance | None:
    qs = LeaveBalance.objects.filter(employee_id=employee_id, leave_type=leave_type, year=year)
    if lock:
        qs = qs.select_for_update()
    return qs.first()


@transaction.atomic
def leave_request_create(
    *,
    employee: Employee,
    leave_type: LeaveType,
    start_date: dt.date,
    end_date: dt.date,
    reason: str = "",
    days: Decimal | None = None,
    by: User | None = None,
) -> LeaveRequest:
    """Ask for leave. ``days`` defaults to the working days (Monday–Friday) in the range. For a type limited by
    balance the request needs enough remaining days in the start's year, less the days of requests still
    waiting (checked again at approval)."""
    errors: dict = {}
    if leave_type.company_id != employee.company_id:
        errors["leave_type"] = [_("Unknown record.")]
    if end_date < start_date:
        errors["end_date"] = [_("The end is before the start.")]
    elif end_date.year != start_date.year:
        errors["end_date"] = [_("Split a request that spans two years.")]
    if errors:
        raise ValidationError(errors)
    days = days if days is not None else working_days(start_date, end_date)
    if days <= 0:
        raise ValidationError({"end_date": [_("The range holds no working day.")]})
    if leave_type.needs_balance:
        balance = _balance(employee.pk, leave_type, start_date.year)
        pending = (
            LeaveRequest.objects.filter(
                employee=employee, leave_type=leave_type, state=LeaveState.SUBMITTED, start_date__year=start_date.year
            ).aggregate(days=Sum("days"))["days"]
            or ZERO
        )
        if balance is None or balance.remaining - pending < days:
            remaining = (balance.remaining - pending) if balance else ZERO
            raise ValidationError({"days": [_("Only %(n)s days of this leave remain.") % {"n": remaining.normalize()}]})
    overlap = LeaveRequest.objects.filter(
        employee=employee,
        state__in=[LeaveState.SUBMITTED, LeaveState.APPROVED],
        start_date__lte=end_date,
        end_date__gte=start_date,
    )
    if overlap.exists():
        raise ValidationError({"start_date": [_("This overlaps another leave request.")]})
    return LeaveRequest.objects.create(
        company_id=employee.company_id,
        employee=employee,
        leave_type=leave_type,
        start_date=start_date,
        end_date=end_date,
        days=days,
        reason=reason,
    )


def lock_leave_request(pk: int) -> LeaveRequest:
    return (
        LeaveRequest.objects.select_for_update(of=("self",))
        .select_related("employee__manager", "leave_type")
        .get(pk=pk)
    )


def _check_approver(request: LeaveRequest, by) -> None:
    role = _role_of(by, request.company_id)
    if role in (Role.HR, Role.ADMIN):
        return
    manager = request.employee.manager
    if role == Role.MANAGER and manager is not None and manager.user_id == by.pk:
        return
    raise PermissionDenied(_("Only the employee's manager or HR may decide on this request."))


@transaction.atomic
def leave_request_approve(*, request: LeaveRequest, by: User, note: str = "") -> LeaveRequest:
    """Approve a submitted request (the employee's manager, HR or an administrator; never one's own). Takes
    the days from the balance under a row lock; the database refuses a balance below zero, so two approvals
    racing for the last days cannot both pass. Idempotent for an approved request."""
    request = lock_leave_request(request.pk)
    if request.state == LeaveState.APPROVED:
        return request
    if request.state != LeaveState.SUBMITTED:
        raise HrConflict("leave_not_submitted", _("Only a submitted request can be approved."))
    if request.employee.user_id is not None and request.employee.user_id == by.pk:
        raise PermissionDenied(_("Nobody approves their own leave."))
    _check_approver(request, by)
    if request.leave_type.needs_balance:
        balance = _balance(request.employee_id, request.leave_type, request.start_date.year, lock=True)
        if balance is None or balance.remaining < request.days:
            raise ValidationError({"days": [_("Not enough leave remains for this request.")]})
        LeaveBalance.objects.filter(pk=balance.pk).update(taken=F("taken") + request.days)
    request.state = LeaveState.APPROVED
    request.decided_by = by
    request.decided_at = timezone.now()
    request.decision_note = note
    request.save(update_fields=["state", "decided_by", "decided_at", "decision_note", "updated_at"])
    return request


@transaction.atomic
def leave_request_reject(*, request: LeaveRequest, by: User, note: str) -> LeaveRequest:
    request = lock_leave_request(request.pk)
    if request.state != LeaveState.SUBMITTED:
        raise HrConflict("leave_not_submitted", _("Only a submitted request can be rejected."))
    if not note.strip():
        raise ValidationError({"note": [_("Say why.")]})
    _check_approver(request, by)
    request.state = LeaveState.REJECTED
    request.decided_by = by
    request.decided_at = timezone.now()
    request.decision_note = note
    request.save(update_fields=["state", "decided_by", "decided_at", "decision_note", "updated_at"])
    return request


@transaction.atomic
def leave_request_cancel(*, request: LeaveRequest, by: User | None = None) -> LeaveRequest:
    """Withdraw a request; an approved one gives its days back to the balance."""
    request = lock_leave_request(request.pk)
    if request.state in (LeaveState.CANCELLED, LeaveState.REJECTED):
        return request
    if request.state == LeaveState.APPROVED and request.leave_type.needs_balance:
        balance = _balance(request.employee_id, request.leave_type, request.start_date.year, lock=True)
        LeaveBalance.objects.filter(pk=balance.pk).update(taken=F("taken") - request.days)
    request.state = LeaveState.CANCELLED
    request.save(update_fields=["state", "updated_at"])
    return request


# ---------------------------------------------------------------- performance

KpiSourceFn = Callable[..., Decimal | None]
_KPI_SOURCES: dict[str, KpiSourceFn] = {}


def kpi_source_register(code: str, fn: KpiSourceFn) -> None:
    """Plug a KPI source: ``fn(*, company_id, employee, start, end) -> Decimal | None`` (None: no figure).

    CRM sources are registered below; production registers ``production.output`` and
    ``production.defect_rate`` when its selectors exist (``erp.selectors.production``)."""
    _KPI_SOURCES[code] = fn


def kpi_sources() -> dict[str, KpiSourceFn]:
    if not any(code.startswith("production.") for code in _KPI_SOURCES):
        _register_production_sources()
    return dict(_KPI_SOURCES)


def _crm(fn_name: str) -> KpiSourceFn:
    def source(*, company_id: int, employee: Employee, start: dt.date, end: dt.date) -> Decimal | None:
        from crm import selectors_kpi

        if employee.user_id is None:
            return None
        return getattr(selectors_kpi, fn_name)(company_id=company_id, user_id=employee.user_id, start=start, end=end)

    return source


kpi_source_register(KpiSource.CRM_WON_REVENUE, _crm("won_revenue"))
kpi_source_register(KpiSource.CRM_ACTIVITIES, _crm("activities_done"))
kpi_source_register(KpiSource.CRM_SLA, _crm("sla_attainment"))


def _register_production_sources() -> None:
    """Production's figures when its selectors provide them (built by another module, maybe later)."""
    try:
        from erp.selectors import production
    except ImportError:
        return
    for code, name in (
        (KpiSource.PRODUCTION_OUTPUT, "employee_output"),
        (KpiSource.PRODUCTION_DEFECT_RATE, "employee_defect_rate"),
    ):
        fn = getattr(production, name, None)
        if fn is not None:
            kpi_source_register(
                code,
                lambda *, company_id, employee, start, end, _fn=fn: _fn(
                    company_id=company_id, user_id=employee.user_id, start=start, end=end
                ),
            )


@transaction.atomic
def kpi_create(
    *, company: Company, code: str, name: str, source: str = KpiSource.MANUAL, higher_is_better: bool = True, by=None
) -> Kpi:
    _raise_if(_kpi_errors(company.pk, code=code, source=source))
    return Kpi.objects.create(company=company, code=code, name=name, source=source, higher_is_better=higher_is_better)


def _kpi_errors(company_id: int, *, exclude_pk: int | None = None, **values) -> dict:
    errors: dict = {}
    if "source" in values and values["source"] not in KpiSource.values:
        errors["source"] = [_("Unknown KPI source.")]
    if "code" in values and _code_taken(Kpi, company_id, values["code"], exclude_pk):
        errors["code"] = [_("This code is taken.")]
    return errors


@transaction.atomic
def kpi_update(*, kpi: Kpi, by: User | None = None, **changes) -> Kpi:
    """Change a KPI. Goals keep their targets; computed actuals follow a new source at the next computation."""
    return _update_checked(kpi, changes, _kpi_errors)


@transaction.atomic
def goal_create(
    *,
    employee: Employee,
    kpi: Kpi,
    period_start: dt.date,
    period_end: dt.date,
    target: Decimal,
    weight: Decimal = Decimal("1.00"),
    actual: Decimal | None = None,
    by: User | None = None,
) -> Goal:
    errors: dict = {}
    _same_company(kpi, employee.company_id, "kpi", errors)
    if period_end < period_start:
        errors["period_end"] = [_("The end is before the start.")]
    if weight <= 0:
        errors["weight"] = [_("The weight must be positive.")]
    if errors:
        raise ValidationError(errors)
    return Goal.objects.create(
        company_id=employee.company_id,
        employee=employee,
        kpi=kpi,
        period_start=period_start,
        period_end=period_end,
        target=target,
        weight=weight,
        actual=actual,
    )


@transaction.atomic
def goal_update(*, goal: Goal, by: User | None = None, **changes) -> Goal:
    goal = Goal.objects.select_for_update().get(pk=goal.pk)
    for key, value in changes.items():
        setattr(goal, key, value)
    if goal.period_end < goal.period_start:
        raise ValidationError({"period_end": [_("The end is before the start.")]})
    goal.save()
    return goal


@transaction.atomic
def goals_compute(*, company: Company, on: dt.date | None = None, by: User | None = None) -> int:
    """Fill ``actual`` of the goals whose KPI has a computed source (CRM, production) for the goals' periods
    that include ``on`` (default: all). Goals of a source that is not available are left as they are.
    Returns the number of goals updated."""
    sources = kpi_sources()
    goals = Goal.objects.select_for_update(of=("self",)).select_related("kpi", "employee").filter(company=company)
    if on is not None:
        goals = goals.filter(period_start__lte=on, period_end__gte=on)
    now = timezone.now()
    changed = []
    for goal in goals.exclude(kpi__source=KpiSource.MANUAL):
        fn = sources.get(goal.kpi.source)
        if fn is None:
            continue
        value = fn(company_id=company.pk, employee=goal.employee, start=goal.period_start, end=goal.period_end)
        goal.actual = None if value is None else Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        goal.computed_at = now
        changed.append(goal)
    Goal.objects.bulk_update(changed, ["actual", "computed_at"])
    return len(changed)


@transaction.atomic
def review_create(
    *,
    employee: Employee,
    reviewer,
    period_start: dt.date,
    period_end: dt.date,
    rating: int,
    summary: str = "",
    by: User | None = None,
) -> PerformanceReview:
    errors: dict = {}
    if not 1 <= int(rating) <= 5:
        errors["rating"] = [_("Rate from 1 to 5.")]
    if period_end < period_start:
        errors["period_end"] = [_("The end is before the start.")]
    if reviewer is not None and employee.user_id == reviewer.pk:
        errors["reviewer"] = [_("Nobody reviews themself.")]
    if errors:
        raise ValidationError(errors)
    return PerformanceReview.objects.create(
        company_id=employee.company_id,
        employee=employee,
        reviewer=reviewer,
        period_start=period_start,
        period_end=period_end,
        rating=rating,
        summary=summary,
    )


@transaction.atomic
def review_submit(*, review: PerformanceReview, by: User | None = None) -> PerformanceReview:
    review = PerformanceReview.objects.select_for_update().get(pk=review.pk)
    review.state = ReviewState.SUBMITTED
    review.save(update_fields=["state", "updated_at"])
    return review


# ---------------------------------------------------------------- recruiting


@transaction.atomic
def opening_create(
    *, company: Company, title: str, department=None, position=None, headcount: int = 1, by: User | None = None
) -> JobOpening:
    errors: dict = {}
    _same_company(department, company.pk, "department", errors)
    _same_company(position, company.pk, "position", errors)
    if headcount < 1:
        errors["headcount"] = [_("At least one.")]
    if errors:
        raise ValidationError(errors)
    return JobOpening.objects.create(
        company=company, title=title, department=department, position=position, headcount=headcount
    )


@transaction.atomic
def opening_close(*, opening: JobOpening, by: User | None = None) -> JobOpening:
    opening = JobOpening.objects.select_for_update().get(pk=opening.pk)
    opening.state = OpeningState.CLOSED
    opening.save(update_fields=["state", "updated_at"])
    return opening


@transaction.atomic
def candidate_create(
    *, opening: JobOpening, name: str, email: str = "", phone: str = "", notes: str = "", by: User | None = None
) -> Candidate:
    if opening.state != OpeningState.OPEN:
        raise HrConflict("opening_closed", _("The opening is closed."))
    if not name.strip():
        raise ValidationError({"name": [_("This field is required.")]})
    return Candidate.objects.create(
        company_id=opening.company_id, opening=opening, name=name.strip(), email=email, phone=phone, notes=notes
    )


def lock_candidate(pk: int) -> Candidate:
    return Candidate.objects.select_for_update(of=("self",)).select_related("opening").get(pk=pk)


@transaction.atomic
def candidate_move(*, candidate: Candidate, stage: str, by: User | None = None) -> Candidate:
    """Move a candidate to the next stage (applied → screening → interview → offer; rejected from any open
    stage). Hiring is ``candidate_hire``."""
    candidate = lock_candidate(candidate.pk)
    if stage == candidate.stage:
        return candidate
    if stage not in CANDIDATE_FLOW.get(candidate.stage, set()):
        raise HrConflict(
            "stage_not_allowed",
            _("A candidate cannot go from %(a)s to %(b)s.") % {"a": candidate.stage, "b": stage},
        )
    candidate.stage = stage
    candidate.save(update_fields=["stage", "updated_at"])
    return candidate


@transaction.atomic
def interview_schedule(
    *, candidate: Candidate, interviewer, scheduled_at: dt.datetime, by: User | None = None
) -> Interview:
    errors: dict = {}
    _member(interviewer, candidate.company_id, "interviewer", errors)
    if errors:
        raise ValidationError(errors)
    if candidate.stage in (CandidateStage.HIRED, CandidateStage.REJECTED):
        raise HrConflict("candidate_closed", _("The candidate is no longer in the process."))
    return Interview.objects.create(
        company_id=candidate.company_id, candidate=candidate, interviewer=interviewer, scheduled_at=scheduled_at
    )


@transaction.atomic
def interview_feedback(*, interview: Interview, rating: int, feedback: str = "", by: User | None = None):
    if not 1 <= int(rating) <= 5:
        raise ValidationError({"rating": [_("Rate from 1 to 5.")]})
    interview = Interview.objects.select_for_update().get(pk=interview.pk)
    interview.rating = rating
    interview.feedback = feedback
    interview.save(update_fields=["rating", "feedback", "updated_at"])
    return interview


@transaction.atomic
def candidate_hire(
    *, candidate: Candidate, number: str, hire_date: dt.date, by: User | None = None, **employee_data
) -> Employee:
    """Turn an accepted offer into an employee, in one transaction: the employee is created (with the
    candidate's name and contact, and ``employee_data`` such as salary or department), the candidate becomes
    ``hired``, the opening counts the hire and closes when full. Locks the candidate and the opening; a
    candidate is hired once (the second call returns the same employee)."""
    candidate = lock_candidate(candidate.pk)
    if candidate.stage == CandidateStage.HIRED:
        return candidate.employee
    if candidate.stage != CandidateStage.OFFER:
        raise HrConflict("no_offer", _("Only a candidate with an offer can be hired."))
    opening = JobOpening.objects.select_for_update().get(pk=candidate.opening_id)
    if opening.hired >= opening.headcount:
        raise HrConflict("opening_full", _("The opening has no place left."))
    employee_data.setdefault("email", candidate.email)
    employee_data.setdefault("phone", candidate.phone)
    employee_data.setdefault("department", opening.department)
    employee_data.setdefault("position", opening.position)
    employee = employee_create(
        company=candidate.company, number=number, name=candidate.name, hire_date=hire_date, by=by, **employee_data
    )
    candidate.stage = CandidateStage.HIRED
    candidate.employee = employee
    candidate.save(update_fields=["stage", "employee", "updated_at"])
    opening.hired += 1
    if opening.hired >= opening.headcount:
        opening.state = OpeningState.CLOSED
    opening.save(update_fields=["hired", "state", "updated_at"])
    return employee
