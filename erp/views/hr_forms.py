"""HR create/edit pages under /erp/hr/: employees (the sensitive fields — ID number, bank account, salary,
contribution base — are on the form only for the hr and payroll roles), deactivation with a successor (the CRM
handover loop), departments and positions, contracts, manual attendance, and recruiting (candidates added and
moved through the stages, an offer turned into an employee).

Same pattern as the finance and sales pages: the policy is checked, a form parses the input, one service is
called; a service's ``ValidationError`` shows next to its field, a refused step (``HrConflict``) as a form
error — the service's transaction means nothing is half-written."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from erp.models import (
    AttendanceRecord,
    Candidate,
    CandidateStage,
    ContractKind,
    Department,
    Employee,
    EmploymentContract,
    JobOpening,
    PayrollCity,
    PayrollMode,
    Position,
    Shift,
)
from erp.models.hr import CANDIDATE_FLOW
from erp.selectors import hr as selectors
from erp.services import hr as services
from suite import policy
from suite.ui.records import actor_required

PRIVATE = ("id_number", "bank_account", "salary", "social_base")
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
MOMENT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def _require(actor, action: str, target) -> None:
    if not policy.can(actor, action, target):
        raise PermissionDenied


def show_private(actor) -> bool:
    """Whether the actor's role may see (and so edit) the sensitive employee fields."""
    return not (set(PRIVATE) & policy.hidden_fields(actor, Employee))


def _members(company_id: int):
    return (
        get_user_model()
        .objects.filter(memberships__company_id=company_id, memberships__is_active=True)
        .order_by("username")
        .distinct()
    )


def _apply_errors(form: forms.Form, error: ValidationError) -> None:
    """A service's field errors next to the fields; the rest (and refusals) on top of the form."""
    if not hasattr(error, "error_dict"):
        for message in error.messages:
            form.add_error(None, message)
        return
    for field, items in error.message_dict.items():
        target = field if field in form.fields else None
        for item in items:
            form.add_error(target, item)


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        full = obj.get_full_name()
        return f"{full} ({obj.username})" if full else obj.username


# ---------------------------------------------------------------- employees


class EmployeeForm(forms.Form):
    number = forms.CharField(max_length=30, label=gettext_lazy("Employee number"))
    name = forms.CharField(max_length=100, label=gettext_lazy("Name"))
    name_en = forms.CharField(max_length=100, required=False, label=gettext_lazy("English name"))
    user = UserChoiceField(queryset=None, required=False, label=gettext_lazy("Suite login"))
    email = forms.EmailField(required=False, label=gettext_lazy("E-mail"))
    phone = forms.CharField(max_length=30, required=False, label=gettext_lazy("Phone"))
    birth_date = forms.DateField(required=False, widget=DATE, label=gettext_lazy("Birth date"))
    department = forms.ModelChoiceField(queryset=None, required=False, label=gettext_lazy("Department"))
    position = forms.ModelChoiceField(queryset=None, required=False, label=gettext_lazy("Position"))
    manager = forms.ModelChoiceField(queryset=None, required=False, label=gettext_lazy("Manager"))
    hire_date = forms.DateField(widget=DATE, label=gettext_lazy("Hire date"))
    payroll_mode = forms.ChoiceField(choices=PayrollMode.choices, label=gettext_lazy("Payroll mode"))
    payroll_city = forms.ModelChoiceField(queryset=None, required=False, label=gettext_lazy("Payroll city"))
    special_deduction = forms.DecimalField(
        required=False, max_digits=12, decimal_places=2, label=gettext_lazy("Monthly special deductions")
    )
    id_number = forms.CharField(max_length=30, required=False, label=gettext_lazy("ID number"))
    bank_account = forms.CharField(max_length=40, required=False, label=gettext_lazy("Bank account"))
    salary = forms.DecimalField(required=False, max_digits=12, decimal_places=2, label=gettext_lazy("Monthly salary"))
    social_base = forms.DecimalField(
        required=False, max_digits=12, decimal_places=2, label=gettext_lazy("Contribution base (empty: the salary)")
    )

    def __init__(self, *args, actor, employee: Employee | None = None, private: bool, **kwargs):
        super().__init__(*args, **kwargs)
        company_id = actor.company_id
        self.fields["user"].queryset = _members(company_id)
        self.fields["department"].queryset = Department.objects.filter(company_id=company_id).order_by("code")
        self.fields["position"].queryset = Position.objects.filter(company_id=company_id).order_by("code")
        managers = Employee.objects.filter(company_id=company_id, is_active=True).order_by("number")
        if employee is not None:
            managers = managers.exclude(pk=employee.pk)
            self.fields["number"].disabled = True
        self.fields["manager"].queryset = managers
        self.fields["payroll_city"].queryset = PayrollCity.objects.filter(company_id=company_id).order_by("name")
        if not private:  # the fields are not on the page at all, not merely empty
            for name in PRIVATE:
                del self.fields[name]


def _employee_initial(employee: Employee, private: bool) -> dict:
    initial = {name: getattr(employee, name) for name in ("number", "name", "name_en", "email", "phone")}
    initial.update(
        user=employee.user_id,
        birth_date=employee.birth_date,
        department=employee.department_id,
        position=employee.position_id,
        manager=employee.manager_id,
        hire_date=employee.hire_date,
        payroll_mode=employee.payroll_mode,
        payroll_city=employee.payroll_city_id,
        special_deduction=employee.special_deduction,
    )
    if private:
        initial.update({name: getattr(employee, name) for name in PRIVATE})
    return initial


def _employee_data(form: EmployeeForm) -> dict:
    data = dict(form.cleaned_data)
    for key in ("name_en", "email", "phone", "id_number", "bank_account"):
        if key in data and data[key] is None:
            data[key] = ""
    if data.get("special_deduction") is None:
        data["special_deduction"] = 0
    return data


@actor_required
def employee_create(request):
    actor = request.actor
    _require(actor, "add", Employee)
    private = show_private(actor)
    data = request.POST if request.method == "POST" else None
    form = EmployeeForm(data, actor=actor, private=private, initial={"hire_date": timezone.localdate()})
    if data is not None and form.is_valid():
        values = _employee_data(form)
        try:
            employee = services.employee_create(
                company=actor.company,
                number=values.pop("number"),
                name=values.pop("name"),
                hire_date=values.pop("hire_date"),
                by=actor.user,
                **values,
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Employee %(number)s created.") % {"number": employee.number})
            return redirect("erp:hr-employee-detail", pk=employee.pk)
    return render(request, "erp/hr/employee_form.html", {"form": form, "employee": None})


def _employee_or_404(actor, pk: int) -> Employee:
    employee = selectors.employees_visible_to(actor).filter(pk=pk).first()
    if employee is None:
        raise Http404
    return employee


@actor_required
def employee_edit(request, pk: int):
    actor = request.actor
    employee = _employee_or_404(actor, pk)
    _require(actor, "change", employee)
    private = show_private(actor)
    data = request.POST if request.method == "POST" else None
    form = EmployeeForm(
        data, actor=actor, employee=employee, private=private, initial=_employee_initial(employee, private)
    )
    if data is not None and form.is_valid():
        values = _employee_data(form)
        values.pop("number", None)
        try:
            services.employee_update(employee=employee, by=actor.user, **values)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Saved."))
            return redirect("erp:hr-employee-detail", pk=employee.pk)
    return render(request, "erp/hr/employee_form.html", {"form": form, "employee": employee})


class DeactivateForm(forms.Form):
    leave_date = forms.DateField(widget=DATE, label=gettext_lazy("Leave date"))
    successor_user = UserChoiceField(
        queryset=None,
        required=False,
        label=gettext_lazy("Successor"),
        help_text=gettext_lazy("Takes over their CRM leads, deals, tickets, customers and WeCom contacts."),
    )

    def __init__(self, *args, actor, employee: Employee, **kwargs):
        super().__init__(*args, **kwargs)
        users = _members(actor.company_id)
        if employee.user_id:
            users = users.exclude(pk=employee.user_id)
        self.fields["successor_user"].queryset = users


@actor_required
def employee_deactivate(request, pk: int):
    """The employee leaves: the leave date and the successor who takes over their customers."""
    actor = request.actor
    employee = _employee_or_404(actor, pk)
    _require(actor, "deactivate", employee)
    data = request.POST if request.method == "POST" else None
    form = DeactivateForm(data, actor=actor, employee=employee, initial={"leave_date": timezone.localdate()})
    if data is not None and form.is_valid():
        try:
            services.employee_deactivate(employee=employee, by=actor.user, **form.cleaned_data)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(
                request, _("%(name)s has left; their records go to the successor.") % {"name": employee.name}
            )
            return redirect("erp:hr-employee-detail", pk=employee.pk)
    return render(request, "erp/hr/employee_deactivate.html", {"form": form, "employee": employee})


# ---------------------------------------------------------------- contracts


class ContractForm(forms.Form):
    number = forms.CharField(max_length=30, label=gettext_lazy("Contract number"))
    kind = forms.ChoiceField(choices=ContractKind.choices, label=gettext_lazy("Kind"))
    start_date = forms.DateField(widget=DATE, label=gettext_lazy("Start"))
    end_date = forms.DateField(required=False, widget=DATE, label=gettext_lazy("End"))
    probation_end = forms.DateField(required=False, widget=DATE, label=gettext_lazy("End of probation"))
    weekly_hours = forms.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, initial=40, label=gettext_lazy("Weekly hours")
    )


@actor_required
def contract_create(request, pk: int):
    actor = request.actor
    employee = _employee_or_404(actor, pk)
    _require(actor, "add", EmploymentContract)
    data = request.POST if request.method == "POST" else None
    form = ContractForm(data, initial={"start_date": timezone.localdate(), "weekly_hours": 40})
    if data is not None and form.is_valid():
        try:
            services.contract_create(employee=employee, by=actor.user, **form.cleaned_data)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Contract added."))
            return redirect("erp:hr-employee-detail", pk=employee.pk)
    return render(request, "erp/hr/contract_form.html", {"form": form, "employee": employee})


# ---------------------------------------------------------------- departments and positions


class DepartmentForm(forms.Form):
    code = forms.CharField(max_length=30, label=gettext_lazy("Code"))
    name = forms.CharField(max_length=100, label=gettext_lazy("Name"))
    name_en = forms.CharField(max_length=100, required=False, label=gettext_lazy("English name"))
    parent = forms.ModelChoiceField(queryset=None, required=False, label=gettext_lazy("Parent department"))
    head = forms.ModelChoiceField(queryset=None, required=False, label=gettext_lazy("Head"))

    def __init__(self, *args, actor, department: Department | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        parents = Department.objects.filter(company_id=actor.company_id).order_by("code")
        if department is not None:
            parents = parents.exclude(pk=department.pk)
            self.fields["code"].disabled = True
        self.fields["parent"].queryset = parents
        self.fields["head"].queryset = Employee.objects.filter(company_id=actor.company_id, is_active=True).order_by(
            "number"
        )


class PositionForm(forms.Form):
    code = forms.CharField(max_length=30, label=gettext_lazy("Code"))
    name = forms.CharField(max_length=100, label=gettext_lazy("Name"))
    name_en = forms.CharField(max_length=100, required=False, label=gettext_lazy("English name"))
    department = forms.ModelChoiceField(queryset=None, required=False, label=gettext_lazy("Department"))

    def __init__(self, *args, actor, position: Position | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = Department.objects.filter(company_id=actor.company_id).order_by("code")
        if position is not None:
            self.fields["code"].disabled = True


@actor_required
def organisation(request):
    """Departments and positions, each list with its "new" form (for hr and admins)."""
    actor = request.actor
    _require(actor, "view", Department)
    can_add = policy.can(actor, "add", Department)
    data = request.POST if request.method == "POST" else None
    kind = request.POST.get("kind") if data is not None else None
    department_form = DepartmentForm(data if kind == "department" else None, actor=actor, prefix="d")
    position_form = PositionForm(data if kind == "position" else None, actor=actor, prefix="p")
    if kind in ("department", "position"):
        _require(actor, "add", Department if kind == "department" else Position)
        form = department_form if kind == "department" else position_form
        create = services.department_create if kind == "department" else services.position_create
        if form.is_valid():
            values = {k: v for k, v in form.cleaned_data.items() if v not in (None,)}
            try:
                create(company=actor.company, by=actor.user, **values)
            except ValidationError as error:
                _apply_errors(form, error)
            else:
                messages.success(request, _("Saved."))
                return redirect("erp:hr-organisation")
    departments = policy.scope(actor, Department.objects.all()).select_related("parent", "head").order_by("code")
    positions = policy.scope(actor, Position.objects.all()).select_related("department").order_by("code")
    return render(
        request,
        "erp/hr/organisation.html",
        {
            "departments": Paginator(departments, 100).get_page(request.GET.get("page")),
            "positions": Paginator(positions, 100).get_page(request.GET.get("ppage")),
            "department_form": department_form,
            "position_form": position_form,
            "can_add": can_add,
        },
    )


@actor_required
def department_edit(request, pk: int):
    actor = request.actor
    department = policy.scope(actor, Department.objects.all()).filter(pk=pk).first()
    if department is None:
        raise Http404
    _require(actor, "change", department)
    data = request.POST if request.method == "POST" else None
    initial = {
        "code": department.code,
        "name": department.name,
        "name_en": department.name_en,
        "parent": department.parent_id,
        "head": department.head_id,
    }
    form = DepartmentForm(data, actor=actor, department=department, initial=initial)
    if data is not None and form.is_valid():
        values = {k: v for k, v in form.cleaned_data.items() if k != "code"}
        try:
            services.department_update(department=department, by=actor.user, **values)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Saved."))
            return redirect("erp:hr-organisation")
    return render(
        request,
        "erp/hr/org_item_form.html",
        {"form": form, "title": _("Department %(code)s") % {"code": department.code}},
    )


@actor_required
def position_edit(request, pk: int):
    actor = request.actor
    position = policy.scope(actor, Position.objects.all()).filter(pk=pk).first()
    if position is None:
        raise Http404
    _require(actor, "change", position)
    data = request.POST if request.method == "POST" else None
    initial = {
        "code": position.code,
        "name": position.name,
        "name_en": position.name_en,
        "department": position.department_id,
    }
    form = PositionForm(data, actor=actor, position=position, initial=initial)
    if data is not None and form.is_valid():
        values = {k: v for k, v in form.cleaned_data.items() if k != "code"}
        try:
            services.position_update(position=position, by=actor.user, **values)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Saved."))
            return redirect("erp:hr-organisation")
    return render(
        request, "erp/hr/org_item_form.html", {"form": form, "title": _("Position %(code)s") % {"code": position.code}}
    )


# ---------------------------------------------------------------- attendance: manual entry


class AttendanceForm(forms.Form):
    employee = forms.ModelChoiceField(queryset=None, label=gettext_lazy("Employee"))
    clock_in = forms.DateTimeField(widget=MOMENT, label=gettext_lazy("Clock in"))
    clock_out = forms.DateTimeField(required=False, widget=MOMENT, label=gettext_lazy("Clock out"))
    shift = forms.ModelChoiceField(queryset=None, required=False, label=gettext_lazy("Shift"))

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["employee"].queryset = Employee.objects.filter(
            company_id=actor.company_id, is_active=True
        ).order_by("number")
        self.fields["shift"].queryset = Shift.objects.filter(company_id=actor.company_id).order_by("code")


@actor_required
def attendance_create(request):
    actor = request.actor
    _require(actor, "add", AttendanceRecord)
    data = request.POST if request.method == "POST" else None
    form = AttendanceForm(data, actor=actor)
    if data is not None and form.is_valid():
        try:
            services.attendance_record(by=actor.user, **form.cleaned_data)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, _("Attendance recorded."))
            return redirect("erp:hr-attendance")
    return render(request, "erp/hr/attendance_form.html", {"form": form})


# ---------------------------------------------------------------- recruiting


class CandidateForm(forms.Form):
    opening = forms.ModelChoiceField(queryset=None, label=gettext_lazy("Opening"))
    name = forms.CharField(max_length=100, label=gettext_lazy("Name"))
    email = forms.EmailField(required=False, label=gettext_lazy("E-mail"))
    phone = forms.CharField(max_length=30, required=False, label=gettext_lazy("Phone"))

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["opening"].queryset = JobOpening.objects.filter(company_id=actor.company_id, state="open")


@actor_required
def candidate_create(request):
    actor = request.actor
    _require(actor, "add", Candidate)
    data = request.POST if request.method == "POST" else None
    form = CandidateForm(data, actor=actor, initial={"opening": request.GET.get("opening")})
    if data is not None and form.is_valid():
        values = {k: v or "" for k, v in form.cleaned_data.items() if k != "opening"}
        try:
            services.candidate_create(opening=form.cleaned_data["opening"], by=actor.user, **values)
        except (ValidationError, services.HrConflict) as error:
            _apply_errors(form, error if isinstance(error, ValidationError) else ValidationError(str(error)))
        else:
            messages.success(request, _("Candidate added."))
            return redirect("erp:hr-recruiting")
    return render(request, "erp/hr/candidate_form.html", {"form": form})


def _candidate_or_404(actor, pk: int) -> Candidate:
    candidate = selectors.candidates_visible_to(actor).filter(pk=pk).first()
    if candidate is None:
        raise Http404
    return candidate


@require_POST
@actor_required
def candidate_move(request, pk: int):
    """Move a candidate to the next stage (the buttons of the recruiting board)."""
    actor = request.actor
    candidate = _candidate_or_404(actor, pk)
    _require(actor, "move", candidate)
    stage = request.POST.get("stage", "")
    if stage not in CandidateStage.values:
        raise Http404
    try:
        services.candidate_move(candidate=candidate, stage=stage, by=actor.user)
        messages.success(request, _("%(name)s moved.") % {"name": candidate.name})
    except services.HrConflict as exc:
        messages.error(request, str(exc))
    return redirect("erp:hr-recruiting")


class HireForm(forms.Form):
    number = forms.CharField(max_length=30, label=gettext_lazy("Employee number"))
    hire_date = forms.DateField(widget=DATE, label=gettext_lazy("Hire date"))
    user = UserChoiceField(queryset=None, required=False, label=gettext_lazy("Suite login"))
    manager = forms.ModelChoiceField(queryset=None, required=False, label=gettext_lazy("Manager"))
    salary = forms.DecimalField(required=False, max_digits=12, decimal_places=2, label=gettext_lazy("Monthly salary"))

    def __init__(self, *args, actor, private: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = _members(actor.company_id)
        self.fields["manager"].queryset = Employee.objects.filter(company_id=actor.company_id, is_active=True).order_by(
            "number"
        )
        if not private:
            del self.fields["salary"]


@actor_required
def candidate_hire(request, pk: int):
    """The accepted offer becomes an employee (one transaction: employee, candidate hired, opening counted)."""
    actor = request.actor
    candidate = _candidate_or_404(actor, pk)
    _require(actor, "hire", candidate)
    _require(actor, "add", Employee)
    data = request.POST if request.method == "POST" else None
    form = HireForm(data, actor=actor, private=show_private(actor), initial={"hire_date": timezone.localdate()})
    if data is not None and form.is_valid():
        values = {k: v for k, v in form.cleaned_data.items() if v is not None}
        try:
            employee = services.candidate_hire(candidate=candidate, by=actor.user, **values)
        except ValidationError as error:
            _apply_errors(form, error)
        except services.HrConflict as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request, _("%(name)s is now employee %(number)s.") % {"name": employee.name, "number": employee.number}
            )
            return redirect("erp:hr-employee-detail", pk=employee.pk)
    return render(request, "erp/hr/candidate_hire.html", {"form": form, "candidate": candidate})


def next_stages(candidate: Candidate) -> list[tuple[str, str]]:
    """The stages a candidate may move to from the board (hiring has its own form)."""
    labels = dict(CandidateStage.choices)
    order = list(CandidateStage.values)
    return [(stage, labels[stage]) for stage in sorted(CANDIDATE_FLOW.get(candidate.stage, ()), key=order.index)]
