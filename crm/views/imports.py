"""Import pages: upload a CSV/XLSX file, map its columns (guessed from the headers), preview the first rows with
every cell validated, start the background job, watch its progress (htmx polling) and download the per-row
report. Thin: every step is a ``crm.services.imports`` call."""

from __future__ import annotations

import csv

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import selectors
from crm.models import DuplicatePolicy, ImportJob, ImportStatus, ImportTarget
from crm.services import imports as import_services
from crm.views.common import paginate
from crm.views.forms import apply_errors
from suite import policy
from suite.ui.records import actor_required


class UploadForm(forms.Form):
    target = forms.ChoiceField(label=gettext_lazy("Import into"), choices=ImportTarget.choices)
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy("CSV (UTF-8 or GB18030, as Excel saves it) or XLSX; the first row names the columns."),
    )


def _importable_targets(actor) -> list[tuple[str, str]]:
    return [
        (value, label)
        for value, label in ImportTarget.choices
        if policy.can(actor, "import", import_services.TARGET_MODELS[value])
    ]


def _job_or_404(actor, pk: int) -> ImportJob:
    job = selectors.import_jobs_visible_to(actor).filter(pk=pk).first()
    if job is None:
        raise Http404
    return job


@actor_required
def import_list(request):
    """The imports the user may see, and the upload form."""
    actor = request.actor
    targets = _importable_targets(actor)
    if not targets or not policy.can(actor, "view", ImportJob):
        raise PermissionDenied
    form = UploadForm(request.POST or None, request.FILES or None)
    form.fields["target"].choices = targets
    if request.method == "POST" and form.is_valid():
        target = form.cleaned_data["target"]
        try:
            job = import_services.import_job_create(
                company=actor.company, by=actor.user, target=target, upload=form.cleaned_data["file"]
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            return redirect("crm:import-mapping", pk=job.pk)
    jobs = paginate(request, selectors.import_jobs_visible_to(actor))
    return render(request, "crm/import_list.html", {"form": form, "page": jobs})


@actor_required
def import_mapping(request, pk: int):
    """Map the columns, preview, and start."""
    actor = request.actor
    job = _job_or_404(actor, pk)
    if job.status != ImportStatus.DRAFT:
        return redirect("crm:import-detail", pk=job.pk)
    if not policy.can(actor, "import", import_services.TARGET_MODELS[job.target]):
        raise PermissionDenied
    choices = import_services.field_choices(job.target, company_id=job.company_id)
    mapping = job.mapping
    duplicate_policy = job.duplicate_policy
    errors: list[str] = []
    preview = None
    if request.method == "POST":
        mapping = [request.POST.get(f"column-{i}", "") for i in range(len(job.headers))]
        duplicate_policy = request.POST.get("duplicate_policy", DuplicatePolicy.SKIP)
        try:
            if request.POST.get("action") == "start":
                import_services.import_job_start(
                    job=job, by=actor.user, mapping=mapping, duplicate_policy=duplicate_policy
                )
                messages.success(request, _("The import has started; it runs in the background."))
                return redirect("crm:import-detail", pk=job.pk)
            preview = import_services.import_preview(job, mapping=mapping)
        except ValidationError as error:
            errors = [message for messages_ in error.message_dict.values() for message in messages_]
    else:
        try:
            preview = import_services.import_preview(job, mapping=mapping)
        except ValidationError as error:
            errors = [message for messages_ in error.message_dict.values() for message in messages_]
    columns = [
        {"index": i, "header": header, "field": mapping[i] if i < len(mapping) else ""}
        for i, header in enumerate(job.headers)
    ]
    return render(
        request,
        "crm/import_mapping.html",
        {
            "job": job,
            "columns": columns,
            "choices": choices,
            "policies": DuplicatePolicy.choices,
            "duplicate_policy": duplicate_policy,
            "preview": preview,
            "errors": errors,
        },
    )


@actor_required
def import_detail(request, pk: int):
    """Progress and counts; the progress part refreshes itself (htmx) until the job has finished."""
    actor = request.actor
    job = _job_or_404(actor, pk)
    if request.method == "POST" and request.POST.get("action") == "resume":
        if not policy.can(actor, "change", job):
            raise PermissionDenied
        try:
            import_services.import_job_resume(job=job, by=actor.user)
            messages.success(request, _("The import continues where it stopped."))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect("crm:import-detail", pk=job.pk)
    issues = selectors.import_issues_of(job)[:50]
    context = {"job": job, "issues": issues}
    if request.htmx:
        return render(request, "crm/_import_progress.html", context)
    return render(request, "crm/import_detail.html", context)


class _Echo:
    def write(self, value):
        return value


@actor_required
def import_report(request, pk: int):
    """The per-row report as CSV (row, column, kind, message), with a BOM so Excel reads Chinese correctly."""
    job = _job_or_404(request.actor, pk)
    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff"
        for row in import_services.import_report_lines(job):
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-report.csv"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
