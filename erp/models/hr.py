"""Human resources (issue #6): the organisation (departments, positions, employees, contracts), attendance
(shifts, clock records, leave types, balances and requests), payroll (city contribution tables, pay
components, monthly runs and payslips, commission lines), performance (KPIs, goals, reviews) and recruiting
(openings, candidates, interviews).

Sensitive personal data — the ID number (身份证号), the bank account and the monthly salary — is stored
Fernet-encrypted (``suite.crypto``, purpose ``erp.hr``) in ``*_encrypted`` columns and read through properties of
the same name without the suffix; the policy layer hides those names from every role but ``hr`` and ``payroll``
(``erp/policies.py``). The encrypted columns are left out of the audit trail (a ciphertext differs on every
write and says nothing) and out of every export.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.crypto import decrypt_text, encrypt_text
from suite.models.tenancy import TenantModel

from .finance import Account, JournalEntry

ZERO = Decimal("0.00")
MONEY = {"max_digits": 18, "decimal_places": 2}
RATE = {"max_digits": 7, "decimal_places": 5}
DAYS = {"max_digits": 7, "decimal_places": 2}
HR_PURPOSE = "erp.hr"
SECRET_FIELDS = ("id_number_encrypted", "bank_account_encrypted", "salary_encrypted")


class EncryptedProperty:
    """``employee.salary`` reads and writes ``employee.salary_encrypted`` (Decimal for money, text otherwise)."""

    def __init__(self, column: str, *, decimal: bool = False) -> None:
        self.column = column
        self.decimal = decimal

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        cache = instance.__dict__.setdefault("_decrypted", {})
        if self.column not in cache:
            text = decrypt_text(getattr(instance, self.column), purpose=HR_PURPOSE)
            cache[self.column] = (Decimal(text) if text else None) if self.decimal else text
        return cache[self.column]

    def __set__(self, instance, value) -> None:
        text = "" if value in (None, "") else str(value)
        setattr(instance, self.column, encrypt_text(text, purpose=HR_PURPOSE))
        instance.__dict__.setdefault("_decrypted", {})[self.column] = (
            (Decimal(text) if text else None) if self.decimal else text
        )


# ---------------------------------------------------------------- organisation


@audited
class Department(TenantModel):
    code = models.CharField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name=_("parent")
    )
    head = models.ForeignKey(
        "Employee", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("head")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["company", "code"]
        constraints = [models.UniqueConstraint(fields=["company", "code"], name="erp_department_code_unique")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


@audited
class Position(TenantModel):
    code = models.CharField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="positions"
    )

    class Meta:
        verbose_name = _("position")
        verbose_name_plural = _("positions")
        ordering = ["company", "code"]
        constraints = [models.UniqueConstraint(fields=["company", "code"], name="erp_position_code_unique")]

    def __str__(self) -> str:
        return self.name


class PayrollMode(models.TextChoices):
    CHINA = "cn", _("China (social insurance, housing fund, IIT)")
    GENERIC = "generic", _("Generic (configured components only)")


@audited(exclude=list(SECRET_FIELDS))
class Employee(TenantModel):
    """A person employed by the company. ``user`` links them to their suite login (optional; unique per company)
    so that their CRM records can be handed over when they leave (``erp.employee.deactivated``)."""

    number = models.CharField(_("employee number"), max_length=30)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("suite user"),
    )
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="employees"
    )
    position = models.ForeignKey(Position, null=True, blank=True, on_delete=models.PROTECT, related_name="employees")
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports", verbose_name=_("manager")
    )
    hire_date = models.DateField(_("hire date"))
    leave_date = models.DateField(_("leave date"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    successor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("successor"),
    )
    payroll_mode = models.CharField(
        _("payroll mode"), max_length=10, choices=PayrollMode.choices, default=PayrollMode.CHINA
    )
    payroll_city = models.ForeignKey(
        "PayrollCity", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("city")
    )
    special_deduction = models.DecimalField(
        _("monthly special additional deductions"), default=ZERO, **MONEY
    )  # 专项附加扣除 per month
    id_number_encrypted = models.TextField(_("ID number (encrypted)"), blank=True, editable=False)
    bank_account_encrypted = models.TextField(_("bank account (encrypted)"), blank=True, editable=False)
    salary_encrypted = models.TextField(_("monthly salary (encrypted)"), blank=True, editable=False)
    social_base_encrypted = models.TextField(_("contribution base (encrypted)"), blank=True, editable=False)

    id_number = EncryptedProperty("id_number_encrypted")
    bank_account = EncryptedProperty("bank_account_encrypted")
    salary = EncryptedProperty("salary_encrypted", decimal=True)
    social_base = EncryptedProperty("social_base_encrypted", decimal=True)

    class Meta:
        verbose_name = _("employee")
        verbose_name_plural = _("employees")
        ordering = ["company", "number"]
        constraints = [
            models.UniqueConstraint(fields=["company", "number"], name="erp_employee_number_unique"),
            models.UniqueConstraint(
                fields=["company", "user"], condition=Q(user__isnull=False), name="erp_employee_user_unique"
            ),
            models.CheckConstraint(condition=Q(special_deduction__gte=0), name="erp_employee_special_sign"),
            models.CheckConstraint(condition=~Q(manager=F("id")), name="erp_employee_not_own_manager"),
        ]
        indexes = [models.Index(fields=["company", "is_active"], name="erp_employee_active")]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class ContractKind(models.TextChoices):
    FIXED = "fixed", _("Fixed term")
    OPEN = "open", _("Open-ended")
    INTERN = "intern", _("Internship")
    PART_TIME = "part_time", _("Part time")


@audited
class EmploymentContract(TenantModel):
    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="contracts")
    number = models.CharField(_("number"), max_length=30)
    kind = models.CharField(_("kind"), max_length=10, choices=ContractKind.choices, default=ContractKind.FIXED)
    start_date = models.DateField(_("start"))
    end_date = models.DateField(_("end"), null=True, blank=True)
    probation_end = models.DateField(_("end of probation"), null=True, blank=True)
    weekly_hours = models.DecimalField(_("weekly hours"), default=Decimal("40"), **DAYS)

    class Meta:
        verbose_name = _("employment contract")
        verbose_name_plural = _("employment contracts")
        ordering = ["company", "employee", "-start_date"]
        constraints = [
            models.UniqueConstraint(fields=["company", "number"], name="erp_contract_number_unique"),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")), name="erp_contract_dates"
            ),
        ]

    def __str__(self) -> str:
        return self.number


# ---------------------------------------------------------------- attendance and leave


@audited
class Shift(TenantModel):
    code = models.CharField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=100)
    start_time = models.TimeField(_("start"))
    end_time = models.TimeField(_("end"))
    break_minutes = models.PositiveSmallIntegerField(_("break (minutes)"), default=60)
    workdays = models.CharField(_("working weekdays"), max_length=7, default="12345")  # ISO weekdays

    class Meta:
        verbose_name = _("shift")
        verbose_name_plural = _("shifts")
        ordering = ["company", "code"]
        constraints = [models.UniqueConstraint(fields=["company", "code"], name="erp_shift_code_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def planned_minutes(self) -> int:
        start = self.start_time.hour * 60 + self.start_time.minute
        end = self.end_time.hour * 60 + self.end_time.minute
        if end <= start:
            end += 24 * 60  # a night shift
        return max(end - start - self.break_minutes, 0)


class AttendanceSource(models.TextChoices):
    MANUAL = "manual", _("Manual")
    DEVICE = "device", _("Device import")


@audited
class AttendanceRecord(TenantModel):
    """One clock-in/out of an employee on a work day. ``worked_minutes`` and ``overtime_minutes`` (beyond the
    shift's planned minutes) are computed by the service when the record is closed."""

    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="attendance")
    work_date = models.DateField(_("date"))
    shift = models.ForeignKey(Shift, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    clock_in = models.DateTimeField(_("clock in"))
    clock_out = models.DateTimeField(_("clock out"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=10, choices=AttendanceSource.choices)
    worked_minutes = models.PositiveIntegerField(_("worked minutes"), default=0)
    overtime_minutes = models.PositiveIntegerField(_("overtime minutes"), default=0)

    class Meta:
        verbose_name = _("attendance record")
        verbose_name_plural = _("attendance records")
        ordering = ["company", "-work_date", "employee"]
        constraints = [
            models.UniqueConstraint(fields=["employee", "clock_in"], name="erp_attendance_clock_in_unique"),
            models.CheckConstraint(
                condition=Q(clock_out__isnull=True) | Q(clock_out__gt=F("clock_in")), name="erp_attendance_order"
            ),
        ]
        indexes = [models.Index(fields=["company", "employee", "work_date"], name="erp_attendance_day")]

    def __str__(self) -> str:
        return f"{self.employee_id} {self.work_date}"


@audited
class LeaveType(TenantModel):
    code = models.CharField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=100)
    annual_days = models.DecimalField(_("days accrued per year"), default=ZERO, **DAYS)
    is_paid = models.BooleanField(_("paid"), default=True)
    needs_balance = models.BooleanField(_("limited by balance"), default=True)

    class Meta:
        verbose_name = _("leave type")
        verbose_name_plural = _("leave types")
        ordering = ["company", "code"]
        constraints = [
            models.UniqueConstraint(fields=["company", "code"], name="erp_leavetype_code_unique"),
            models.CheckConstraint(condition=Q(annual_days__gte=0), name="erp_leavetype_days_sign"),
        ]

    def __str__(self) -> str:
        return self.name


@audited
class LeaveBalance(TenantModel):
    """Days of one leave type for one employee in one year: accrued (by ``leave_accrue``) and taken (approved
    requests). The database refuses a balance that would go negative."""

    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="leave_balances")
    leave_type = models.ForeignKey(LeaveType, on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField(_("year"))
    accrued = models.DecimalField(_("accrued days"), default=ZERO, **DAYS)
    taken = models.DecimalField(_("taken days"), default=ZERO, **DAYS)

    class Meta:
        verbose_name = _("leave balance")
        verbose_name_plural = _("leave balances")
        ordering = ["company", "employee", "year", "leave_type"]
        constraints = [
            models.UniqueConstraint(fields=["employee", "leave_type", "year"], name="erp_leavebalance_unique"),
            models.CheckConstraint(
                condition=Q(taken__gte=0, accrued__gte=0, taken__lte=F("accrued")),
                name="erp_leavebalance_not_negative",
            ),
        ]

    @property
    def remaining(self) -> Decimal:
        return self.accrued - self.taken


class LeaveState(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")


@audited
class LeaveRequest(TenantModel):
    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="leave_requests")
    leave_type = models.ForeignKey(LeaveType, on_delete=models.PROTECT, related_name="+")
    start_date = models.DateField(_("from"))
    end_date = models.DateField(_("to"))
    days = models.DecimalField(_("days"), **DAYS)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=LeaveState.choices, default=LeaveState.SUBMITTED)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("leave request")
        verbose_name_plural = _("leave requests")
        ordering = ["company", "-start_date", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(end_date__gte=F("start_date")), name="erp_leaverequest_dates"),
            models.CheckConstraint(condition=Q(days__gt=0), name="erp_leaverequest_days"),
            models.CheckConstraint(condition=Q(state__in=LeaveState.values), name="erp_leaverequest_state"),
        ]

    def __str__(self) -> str:
        return f"{self.employee_id} {self.start_date}–{self.end_date}"


# ---------------------------------------------------------------- payroll


@audited
class PayrollCity(TenantModel):
    """A city's contribution table (五险一金): one row per item with base floor/cap and rates."""

    code = models.CharField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=100)
    valid_from = models.DateField(_("valid from"), null=True, blank=True)

    class Meta:
        verbose_name = _("payroll city table")
        verbose_name_plural = _("payroll city tables")
        ordering = ["company", "code"]
        constraints = [models.UniqueConstraint(fields=["company", "code"], name="erp_payrollcity_code_unique")]

    def __str__(self) -> str:
        return self.name


class ContributionKind(models.TextChoices):
    SOCIAL_INSURANCE = "si", _("Social insurance")
    HOUSING_FUND = "hf", _("Housing fund")


@audited
class PayrollCityItem(TenantModel):
    city = models.ForeignKey(PayrollCity, on_delete=models.CASCADE, related_name="items")
    code = models.CharField(_("item"), max_length=30)  # pension, medical, unemployment, injury, maternity, housing
    kind = models.CharField(_("kind"), max_length=2, choices=ContributionKind.choices)
    floor = models.DecimalField(_("base floor"), **MONEY)
    cap = models.DecimalField(_("base cap"), **MONEY)
    employee_rate = models.DecimalField(_("employee rate"), **RATE)
    employer_rate = models.DecimalField(_("employer rate"), **RATE)

    class Meta:
        verbose_name = _("payroll city item")
        verbose_name_plural = _("payroll city items")
        ordering = ["city", "code"]
        constraints = [
            models.UniqueConstraint(fields=["city", "code"], name="erp_payrollcityitem_unique"),
            models.CheckConstraint(
                condition=Q(floor__gte=0, cap__gte=F("floor"), employee_rate__gte=0, employer_rate__gte=0)
                & Q(employee_rate__lt=1, employer_rate__lt=1),
                name="erp_payrollcityitem_values",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.city_id}/{self.code}"


class ComponentKind(models.TextChoices):
    EARNING = "earning", _("Earning")
    DEDUCTION = "deduction", _("Deduction")


@audited
class PayComponent(TenantModel):
    """A line of a payslip other than base salary and statutory items: allowances, bonuses, commission,
    deductions. ``taxable`` earnings count towards IIT; ``account`` overrides the salary expense account."""

    code = models.CharField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=ComponentKind.choices)
    taxable = models.BooleanField(_("taxable"), default=True)
    rate = models.DecimalField(
        _("rate of gross for everyone"), null=True, blank=True, **RATE
    )  # generic mode: e.g. a 10 % flat tax applied to every employee's gross
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("pay component")
        verbose_name_plural = _("pay components")
        ordering = ["company", "code"]
        constraints = [
            models.UniqueConstraint(fields=["company", "code"], name="erp_paycomponent_code_unique"),
            models.CheckConstraint(
                condition=Q(rate__isnull=True) | Q(rate__gte=0, rate__lt=1), name="erp_paycomponent_rate"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


@audited
class EmployeePayComponent(TenantModel):
    """A recurring amount of a component for one employee (e.g. a ¥500 meal allowance every month)."""

    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="pay_components")
    component = models.ForeignKey(PayComponent, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(_("amount"), **MONEY)

    class Meta:
        verbose_name = _("employee pay component")
        verbose_name_plural = _("employee pay components")
        ordering = ["employee", "component"]
        constraints = [
            models.UniqueConstraint(fields=["employee", "component"], name="erp_employeepaycomponent_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="erp_employeepaycomponent_sign"),
        ]


@audited
class CommissionLine(TenantModel):
    """Commission earned by an employee in a month, fed by ``payroll_commission_lines_set`` (the CRM loop)."""

    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="commission_lines")
    year = models.PositiveSmallIntegerField(_("year"))
    month = models.PositiveSmallIntegerField(_("month"))
    reference = models.CharField(_("reference"), max_length=100)
    amount = models.DecimalField(_("amount"), **MONEY)

    class Meta:
        verbose_name = _("commission line")
        verbose_name_plural = _("commission lines")
        ordering = ["company", "year", "month", "employee"]
        constraints = [
            models.UniqueConstraint(fields=["employee", "year", "month", "reference"], name="erp_commission_unique"),
            models.CheckConstraint(condition=Q(month__gte=1, month__lte=12), name="erp_commission_month"),
        ]


class PayrollRunState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    COMPUTING = "computing", _("Computing")
    COMPUTED = "computed", _("Computed")
    FAILED = "failed", _("Failed")
    POSTED = "posted", _("Posted")


@audited
class PayrollRun(TenantModel):
    """The payroll of one company for one month. Computed (and recomputed) while not posted; posting writes
    one balanced journal entry and freezes it."""

    year = models.PositiveSmallIntegerField(_("year"))
    month = models.PositiveSmallIntegerField(_("month"))
    state = models.CharField(_("state"), max_length=10, choices=PayrollRunState.choices, default=PayrollRunState.DRAFT)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    employees_done = models.PositiveIntegerField(_("employees computed"), default=0)
    employees_total = models.PositiveIntegerField(_("employees"), default=0)
    error = models.TextField(_("error"), blank=True)
    total_gross = models.DecimalField(_("gross pay"), default=ZERO, **MONEY)
    total_net = models.DecimalField(_("net pay"), default=ZERO, **MONEY)
    total_employer_cost = models.DecimalField(_("employer cost"), default=ZERO, **MONEY)
    computed_at = models.DateTimeField(_("computed at"), null=True, blank=True)
    journal_entry = models.ForeignKey(JournalEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("payroll run")
        verbose_name_plural = _("payroll runs")
        ordering = ["company", "-year", "-month"]
        constraints = [
            models.UniqueConstraint(fields=["company", "year", "month"], name="erp_payrollrun_month_unique"),
            models.CheckConstraint(condition=Q(month__gte=1, month__lte=12), name="erp_payrollrun_month"),
            models.CheckConstraint(
                condition=~Q(state=PayrollRunState.POSTED) | Q(journal_entry__isnull=False),
                name="erp_payrollrun_posted_has_entry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.year}-{self.month:02d}"


@audited
class Payslip(TenantModel):
    """One employee's pay in a run. ``lines`` holds the detail ([{code, name, kind, amount}] with amounts as
    strings); the money columns are what the ledger posting and the year-to-date figures read. ``ytd_*`` are
    the cumulative figures after this month (累计预扣法 carries them to the next month)."""

    run = models.ForeignKey(PayrollRun, on_delete=models.CASCADE, related_name="payslips")
    employee = models.ForeignKey(Employee, on_delete=models.PROTECT, related_name="payslips")
    mode = models.CharField(_("payroll mode"), max_length=10, choices=PayrollMode.choices)
    gross = models.DecimalField(_("gross pay"), **MONEY)
    taxable_gross = models.DecimalField(_("taxable gross"), **MONEY)
    si_employee = models.DecimalField(_("social insurance (employee)"), default=ZERO, **MONEY)
    si_employer = models.DecimalField(_("social insurance (employer)"), default=ZERO, **MONEY)
    hf_employee = models.DecimalField(_("housing fund (employee)"), default=ZERO, **MONEY)
    hf_employer = models.DecimalField(_("housing fund (employer)"), default=ZERO, **MONEY)
    other_deductions = models.DecimalField(_("other deductions"), default=ZERO, **MONEY)
    iit = models.DecimalField(_("individual income tax"), default=ZERO, **MONEY)
    net = models.DecimalField(_("net pay"), **MONEY)
    ytd_months = models.PositiveSmallIntegerField(default=0)
    ytd_gross = models.DecimalField(default=ZERO, **MONEY)
    ytd_social = models.DecimalField(default=ZERO, **MONEY)
    ytd_special = models.DecimalField(default=ZERO, **MONEY)
    ytd_tax = models.DecimalField(default=ZERO, **MONEY)
    lines = models.JSONField(_("lines"), default=list)

    class Meta:
        verbose_name = _("payslip")
        verbose_name_plural = _("payslips")
        ordering = ["run", "employee"]
        constraints = [
            models.UniqueConstraint(fields=["run", "employee"], name="erp_payslip_unique"),
            models.CheckConstraint(
                condition=Q(net=F("gross") - F("si_employee") - F("hf_employee") - F("iit") - F("other_deductions")),
                name="erp_payslip_net",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.employee_id}"


# ---------------------------------------------------------------- performance


class KpiSource(models.TextChoices):
    MANUAL = "manual", _("Entered by hand")
    CRM_WON_REVENUE = "crm.won_revenue", _("CRM: won revenue")
    CRM_ACTIVITIES = "crm.activities", _("CRM: activities done")
    CRM_SLA = "crm.sla_attainment", _("CRM: SLA attainment (%)")
    PRODUCTION_OUTPUT = "production.output", _("Production: output")
    PRODUCTION_DEFECT_RATE = "production.defect_rate", _("Production: defect rate (%)")


@audited
class Kpi(TenantModel):
    code = models.CharField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=100)
    source = models.CharField(_("source"), max_length=30, default=KpiSource.MANUAL)
    higher_is_better = models.BooleanField(_("higher is better"), default=True)

    class Meta:
        verbose_name = _("KPI")
        verbose_name_plural = _("KPIs")
        ordering = ["company", "code"]
        constraints = [models.UniqueConstraint(fields=["company", "code"], name="erp_kpi_code_unique")]

    def __str__(self) -> str:
        return self.name


@audited
class Goal(TenantModel):
    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="goals")
    kpi = models.ForeignKey(Kpi, on_delete=models.PROTECT, related_name="goals")
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("to"))
    target = models.DecimalField(_("target"), **MONEY)
    actual = models.DecimalField(_("actual"), null=True, blank=True, **MONEY)
    weight = models.DecimalField(_("weight"), default=Decimal("1.00"), max_digits=5, decimal_places=2)
    computed_at = models.DateTimeField(_("computed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("goal")
        verbose_name_plural = _("goals")
        ordering = ["company", "-period_start", "employee"]
        constraints = [
            models.CheckConstraint(condition=Q(period_end__gte=F("period_start")), name="erp_goal_dates"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="erp_goal_weight"),
        ]

    @property
    def attainment(self) -> Decimal | None:
        if self.actual is None or not self.target:
            return None
        return (self.actual / self.target * 100).quantize(Decimal("0.1"))


class ReviewState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")


@audited
class PerformanceReview(TenantModel):
    employee = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("to"))
    rating = models.PositiveSmallIntegerField(_("rating (1–5)"))
    summary = models.TextField(_("summary"), blank=True)
    state = models.CharField(_("state"), max_length=10, choices=ReviewState.choices, default=ReviewState.DRAFT)

    class Meta:
        verbose_name = _("performance review")
        verbose_name_plural = _("performance reviews")
        ordering = ["company", "-period_start", "employee"]
        constraints = [
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="erp_review_rating"),
            models.CheckConstraint(condition=Q(period_end__gte=F("period_start")), name="erp_review_dates"),
        ]


# ---------------------------------------------------------------- recruiting


class OpeningState(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


@audited
class JobOpening(TenantModel):
    title = models.CharField(_("title"), max_length=200)
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    position = models.ForeignKey(Position, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    headcount = models.PositiveSmallIntegerField(_("headcount"), default=1)
    hired = models.PositiveSmallIntegerField(_("hired"), default=0)
    state = models.CharField(_("state"), max_length=10, choices=OpeningState.choices, default=OpeningState.OPEN)

    class Meta:
        verbose_name = _("job opening")
        verbose_name_plural = _("job openings")
        ordering = ["company", "-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(hired__lte=F("headcount")), name="erp_opening_headcount"),
        ]

    def __str__(self) -> str:
        return self.title


class CandidateStage(models.TextChoices):
    APPLIED = "applied", _("Applied")
    SCREENING = "screening", _("Screening")
    INTERVIEW = "interview", _("Interview")
    OFFER = "offer", _("Offer")
    HIRED = "hired", _("Hired")
    REJECTED = "rejected", _("Rejected")


CANDIDATE_FLOW = {
    CandidateStage.APPLIED: {CandidateStage.SCREENING, CandidateStage.REJECTED},
    CandidateStage.SCREENING: {CandidateStage.INTERVIEW, CandidateStage.REJECTED},
    CandidateStage.INTERVIEW: {CandidateStage.OFFER, CandidateStage.REJECTED},
    CandidateStage.OFFER: {CandidateStage.REJECTED},  # → hired only through candidate_hire
    CandidateStage.HIRED: set(),
    CandidateStage.REJECTED: set(),
}


@audited
class Candidate(TenantModel):
    opening = models.ForeignKey(JobOpening, on_delete=models.PROTECT, related_name="candidates")
    name = models.CharField(_("name"), max_length=100)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    stage = models.CharField(_("stage"), max_length=10, choices=CandidateStage.choices, default=CandidateStage.APPLIED)
    employee = models.OneToOneField(
        Employee, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("hired as")
    )
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("candidate")
        verbose_name_plural = _("candidates")
        ordering = ["company", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(stage=CandidateStage.HIRED) | Q(employee__isnull=False), name="erp_candidate_hired"
            ),
        ]

    def __str__(self) -> str:
        return self.name


@audited
class Interview(TenantModel):
    candidate = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="interviews")
    interviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    scheduled_at = models.DateTimeField(_("scheduled at"))
    rating = models.PositiveSmallIntegerField(_("rating (1–5)"), null=True, blank=True)
    feedback = models.TextField(_("feedback"), blank=True)

    class Meta:
        verbose_name = _("interview")
        verbose_name_plural = _("interviews")
        ordering = ["candidate", "scheduled_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5), name="erp_interview_rating"
            ),
        ]
