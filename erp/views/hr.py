"""HR pages under /erp/hr/: the employee directory (with personal data for hr and payroll only), an employee's
page, the org chart, attendance with the device CSV import, leave (my requests, the approval inbox, a new
request), payroll runs (create, compute with a progress bar, post) with their payslips (HTML and PDF),
goals and recruiting.

Views are thin: the policy is checked, one service is called; sensitive fields are rendered only when
``policy.hidden_fields`` does not hide them (the templates get ``show_private``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from erp.models import (
    AttendanceRecord,
    Candidate,
    Employee,
    EmploymentContract,
    Goal,
    JobOpening,
    LeaveRequest,
    LeaveType,
    PayrollRun,
    Payslip,
)
from erp.report_pdf import report_pdf
from erp.selectors import dashboards_hr
from erp.selectors import hr as selectors
from erp.services import hr as services
from erp.services import payroll as payroll_services
from suite import exports, policy
from suite.ui import search as shell_search
from suite.ui.choices import chosen
from suite.ui.records import actor_required
from suite.ui.saved_views import default_view_redirect

PRIVATE = ("id_number", "bank_account", "salary", "social_base")


def _require(actor, action: str, target) -> None:
    if not policy.can(actor, action, target):
        raise PermissionDenied


def _show_private(actor) -> bool:
    return not (set(PRIVATE) & policy.hidden_fields(actor, Employee))


@actor_required
def employee_list(request):
    actor = request.actor
    _require(actor, "view", Employee)
    if opened_with_default := default_view_redirect(request, "erp:hr-employee-list"):
        return opened_with_default
    employees = selectors.employees_visible_to(actor, search=shell_search.normalize(request.GET.get("q", "")))
    employees, drill = dashboards_hr.employees_drilled(employees, request.GET)  # HR dashboard figures (issue #7)
    page = Paginator(employees, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "erp/hr/employee_list.html",
        {
            "page": page,
            "drill": drill,
            "show_private": _show_private(actor),
            "can_export": policy.can(actor, "export", Employee),
            "can_add": policy.can(actor, "add", Employee),
        },
    )


@actor_required
def employee_export(request):
    """The directory as CSV: the same rows as the list, never the sensitive fields."""
    from erp.api.hr import EmployeeViewSet

    return exports.export_response(
        request.actor,
        selectors.employees_visible_to(request.actor),
        EmployeeViewSet.export_fields,
        file_format=request.GET.get("format", exports.CSV) if request.GET.get("format") in exports.FORMATS else "csv",
        filename="employees",
    )


@actor_required
def employee_detail(request, pk: int):
    actor = request.actor
    employee = selectors.employees_visible_to(actor).filter(pk=pk).first()
    if employee is None:
        raise Http404
    context = {
        "employee": employee,
        "show_private": _show_private(actor),
        "can_change": policy.can(actor, "change", employee),
        "can_deactivate": employee.is_active and policy.can(actor, "deactivate", employee),
        "can_add_contract": policy.can(actor, "add", EmploymentContract),
    }
    if policy.can(actor, "view", EmploymentContract):
        context["contracts"] = list(
            policy.scope(actor, EmploymentContract.objects.filter(employee=employee)).order_by("-start_date")[:20]
        )
    if policy.can(actor, "view", Payslip):
        context["payslips"] = list(selectors.payslips_visible_to(actor).filter(employee=employee)[:24])
    if policy.can(actor, "view", AttendanceRecord):
        context["attendance"] = list(selectors.attendance_visible_to(actor).filter(employee=employee)[:10])
    return render(request, "erp/hr/employee_detail.html", context)


@actor_required
def org_chart(request):
    _require(request.actor, "view", Employee)
    return render(request, "erp/hr/org_chart.html", {"roots": selectors.org_chart(request.actor)})


# ---------------------------------------------------------------- attendance


@actor_required
def attendance(request):
    actor = request.actor
    _require(actor, "view", AttendanceRecord)
    report = None
    if request.method == "POST":
        _require(actor, "import", AttendanceRecord)
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, _("Choose a CSV file."))
        else:
            try:
                report = services.attendance_import_csv(company=actor.company, fileobj=upload, by=actor.user)
            except ValidationError as exc:  # not a text file
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(request, _("%(n)d records imported.") % {"n": report.created})
    records = selectors.attendance_visible_to(actor).order_by("-clock_in")
    records, drill = dashboards_hr.attendance_drilled(records, request.GET)  # HR dashboard figures (issue #7)
    page = Paginator(records, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "erp/hr/attendance.html",
        {
            "page": page,
            "drill": drill,
            "report": report,
            "can_import": policy.can(actor, "import", AttendanceRecord),
            "can_add": policy.can(actor, "add", AttendanceRecord),
        },
    )


# ---------------------------------------------------------------- leave


@actor_required
def leave(request):
    actor = request.actor
    _require(actor, "view", LeaveRequest)
    me = selectors.employee_of_user(actor)
    errors: dict = {}
    if request.method == "POST":
        try:
            if me is None:
                raise ValidationError({"employee": [_("Your login is not linked to an employee record.")]})
            leave_type = chosen(LeaveType.objects.filter(company=actor.company), request.POST.get("leave_type"))
            if leave_type is None:
                raise ValidationError({"leave_type": [_("Choose a leave type.")]})
            try:
                start = dt.date.fromisoformat(request.POST.get("start_date", ""))
                end = dt.date.fromisoformat(request.POST.get("end_date", ""))
            except ValueError:
                raise ValidationError({"start_date": [_("Enter valid dates.")]}) from None
            services.leave_request_create(
                employee=me,
                leave_type=leave_type,
                start_date=start,
                end_date=end,
                reason=request.POST.get("reason", "")[:500],
                by=actor.user,
            )
            messages.success(request, _("Leave requested."))
            return redirect("erp:hr-leave")
        except ValidationError as exc:
            errors = exc.message_dict
    mine = selectors.leave_requests_visible_to(actor).filter(employee=me) if me else LeaveRequest.objects.none()
    context = {
        "me": me,
        "mine": list(mine.order_by("-start_date")[:50]),
        "inbox": list(selectors.leave_requests_awaiting(actor)[:50]),
        "balances": list(selectors.leave_balances_visible_to(actor).filter(employee=me)) if me else [],
        "leave_types": LeaveType.objects.filter(company=actor.company).order_by("code"),
        "errors": errors,
        "values": request.POST,
    }
    return render(request, "erp/hr/leave.html", context)


@require_POST
@actor_required
def leave_action(request, pk: int, verb: str):
    actor = request.actor
    leave_request = selectors.leave_requests_visible_to(actor).filter(pk=pk).first()
    if leave_request is None:
        raise Http404
    actions = {
        "approve": ("approve", lambda: services.leave_request_approve(request=leave_request, by=actor.user)),
        "reject": (
            "approve",
            lambda: services.leave_request_reject(
                request=leave_request, by=actor.user, note=request.POST.get("note", "")
            ),
        ),
        "cancel": ("cancel", lambda: services.leave_request_cancel(request=leave_request, by=actor.user)),
    }
    if verb not in actions:
        raise Http404
    _require(actor, actions[verb][0], leave_request)
    try:
        actions[verb][1]()
        messages.success(request, _("Done."))
    except (ValidationError, services.HrConflict, PermissionDenied) as exc:
        messages.error(request, "; ".join(getattr(exc, "messages", None) or [str(exc)]))
    return redirect("erp:hr-leave")


# ---------------------------------------------------------------- payroll


@actor_required
def payroll_runs(request):
    actor = request.actor
    _require(actor, "view", PayrollRun)
    errors: dict = {}
    if request.method == "POST":
        _require(actor, "add", PayrollRun)
        try:
            year, month = int(request.POST.get("year", "")), int(request.POST.get("month", ""))
            run = payroll_services.payroll_run_create(company=actor.company, year=year, month=month, by=actor.user)
            return redirect("erp:hr-payroll-run", pk=run.pk)
        except ValueError:
            errors = {"month": [_("Enter a valid month.")]}
        except ValidationError as exc:
            errors = exc.message_dict
    runs = Paginator(selectors.payroll_runs_visible_to(actor), 24).get_page(request.GET.get("page"))
    today = dt.date.today()
    return render(
        request,
        "erp/hr/payroll_runs.html",
        {"page": runs, "errors": errors, "year": today.year, "month": today.month,
         "can_add": policy.can(actor, "add", PayrollRun)},
    )  # fmt: skip


def _run_or_404(actor, pk: int) -> PayrollRun:
    run = selectors.payroll_runs_visible_to(actor).filter(pk=pk).first()
    if run is None:
        raise Http404
    return run


@actor_required
def payroll_run(request, pk: int):
    actor = request.actor
    run = _run_or_404(actor, pk)
    payslips = Paginator(selectors.payslips_visible_to(actor, run=run), 50).get_page(request.GET.get("page"))
    context = {
        "run": run,
        "page": payslips,
        "can_compute": policy.can(actor, "compute", PayrollRun),
        "can_post": policy.can(actor, "post", PayrollRun),
    }
    if request.headers.get("HX-Request"):
        return render(request, "erp/hr/_run_progress.html", context)
    return render(request, "erp/hr/payroll_run.html", context)


@require_POST
@actor_required
def payroll_run_action(request, pk: int, verb: str):
    actor = request.actor
    run = _run_or_404(actor, pk)
    if verb == "compute":
        _require(actor, "compute", run)
        call = lambda: payroll_services.payroll_run_start(run=run, by=actor.user)  # noqa: E731
    elif verb == "post":
        _require(actor, "post", run)
        call = lambda: payroll_services.payroll_run_post(run=run, by=actor.user)  # noqa: E731
    else:
        raise Http404
    try:
        call()
        messages.success(request, _("Done."))
    except (ValidationError, payroll_services.PayrollConflict) as exc:
        messages.error(request, "; ".join(getattr(exc, "messages", None) or [str(exc)]))
    return redirect("erp:hr-payroll-run", pk=run.pk)


_PAYSLIP_KINDS = {
    "earning": gettext_lazy("Earning"),
    "deduction": gettext_lazy("Deduction"),
    "contribution": gettext_lazy("Social insurance and housing fund"),
    "tax": gettext_lazy("Tax"),
}
_CONTRIBUTIONS = {
    "pension": gettext_lazy("Pension insurance"),
    "medical": gettext_lazy("Medical insurance"),
    "unemployment": gettext_lazy("Unemployment insurance"),
    "injury": gettext_lazy("Work injury insurance"),
    "maternity": gettext_lazy("Maternity insurance"),
    "housing_fund": gettext_lazy("Housing fund"),
}


def payslip_lines(slip) -> list[dict]:
    """A payslip's lines as people read them: contributions by their name (the run stores the code), the kind
    by its label, the amount as a Decimal."""
    lines = []
    for line in slip.lines:
        name = line["name"]
        if line["kind"] == "contribution":
            name = str(_CONTRIBUTIONS.get(line.get("code") or name, name))
        lines.append(
            {
                "name": name,
                "kind": str(_PAYSLIP_KINDS.get(line["kind"], line["kind"])),
                "amount": Decimal(line["amount"]),
            }
        )
    return lines


@actor_required
def payslip(request, pk: int):
    actor = request.actor
    slip = selectors.payslips_visible_to(actor).filter(pk=pk).first()
    if slip is None:
        raise Http404
    lines = payslip_lines(slip)
    if request.GET.get("format") == "pdf":
        rows = [[line["name"], line["kind"], line["amount"]] for line in lines]
        rows += [
            [_("Gross pay"), "", slip.gross],
            [_("Individual income tax"), "", slip.iit],
            [_("Net pay"), "", slip.net],
        ]
        return report_pdf(
            filename=f"payslip-{slip.employee.number}-{slip.run}",
            title=f"{_('Payslip')} {slip.run}",
            subtitle=f"{slip.employee.number} {slip.employee.name}",
            header=[_("Item"), _("Kind"), _("Amount")],
            rows=rows,
        )
    return render(request, "erp/hr/payslip.html", {"slip": slip, "lines": lines})


# ---------------------------------------------------------------- performance and recruiting


@actor_required
def goals(request):
    actor = request.actor
    _require(actor, "view", Goal)
    page = Paginator(selectors.goals_visible_to(actor).order_by("-period_start", "employee__number"), 50).get_page(
        request.GET.get("page")
    )
    reviews = list(selectors.reviews_visible_to(actor).order_by("-period_start")[:50])
    return render(request, "erp/hr/goals.html", {"page": page, "reviews": reviews})


@actor_required
def recruiting(request):
    actor = request.actor
    _require(actor, "view", JobOpening)
    openings = list(policy.scope(actor, JobOpening.objects.all()).order_by("-created_at")[:50])
    candidates = list(selectors.candidates_visible_to(actor).filter(opening__in=openings))
    by_opening: dict[int, list[Candidate]] = {}
    for candidate in candidates:
        by_opening.setdefault(candidate.opening_id, []).append(candidate)
    from erp.views.hr_forms import next_stages

    for opening in openings:
        opening.pipeline = by_opening.get(opening.pk, [])
        for candidate in opening.pipeline:
            candidate.next_stages = next_stages(candidate)
    context = {
        "openings": openings,
        "can_add": policy.can(actor, "add", Candidate),
        "can_move": policy.can(actor, "move", Candidate),
        "can_hire": policy.can(actor, "hire", Candidate) and policy.can(actor, "add", Employee),
    }
    return render(request, "erp/hr/recruiting.html", context)
