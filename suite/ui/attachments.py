"""Attachments of any record: the panel (list + upload form), upload, checked download, removal.

Every view finds the parent record through the policy layer first: who may not see the record may not see,
download or add its files (404); adding and removing also need ``change`` on the record (403).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from suite import policy
from suite.models import Attachment
from suite.services.uploads import attachment_add, attachment_remove
from suite.ui.records import actor_required, record_label, record_or_404, safe_back
from suite.uploads import ALLOWED_EXTENSIONS


class UploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File"),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(ALLOWED_EXTENSIONS)}),
    )


def attachments_of(record) -> list[Attachment]:
    return list(
        Attachment.objects.filter(
            content_type=ContentType.objects.get_for_model(record), object_id=str(record.pk)
        ).select_related("uploaded_by")
    )


def _panel(request, record, form=None, status=200):
    context = {
        "record": record,
        "record_label": record_label(record),
        "attachments": attachments_of(record),
        "form": form or UploadForm(),
        "can_change": policy.can(request.actor, "change", record),
    }
    return render(request, "ui/_attachments.html", context, status=status)


@actor_required
def panel(request, label: str, pk: str):
    return _panel(request, record_or_404(request.actor, label, pk))


@require_POST
@actor_required
def upload(request, label: str, pk: str):
    record = record_or_404(request.actor, label, pk, action="change")
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            attachment_add(
                company=request.actor.company, record=record, upload=form.cleaned_data["file"], by=request.user
            )
        except ValidationError as exc:
            form.add_error("file", exc)
    if not request.htmx:
        if form.errors:
            return _panel(request, record, form, status=400)
        messages.success(request, _("The file was attached."))
        return HttpResponseRedirect(safe_back(request))
    # htmx swaps only 2xx answers: the panel comes back with the field errors in it.
    return _panel(request, record, form if form.errors else None)


def _attachment_or_404(actor, pk: int, action: str = "view") -> Attachment:
    attachment = Attachment.objects.filter(pk=pk, company_id=actor.company_id).select_related("content_type").first()
    if attachment is None:
        raise Http404
    model = attachment.content_type.model_class()
    if model is None:
        raise Http404
    record_or_404(actor, model._meta.label_lower, attachment.object_id, action=action)
    return attachment


@actor_required
def download(request, pk: int):
    """Serve the file as a download, with the content type found when it was checked, never rendered inline."""
    attachment = _attachment_or_404(request.actor, pk)
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(handle, as_attachment=True, filename=attachment.original_name, content_type=attachment.mime)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@actor_required
def remove(request, pk: int):
    attachment = _attachment_or_404(request.actor, pk, action="change")
    record = attachment.record
    attachment_remove(attachment=attachment, by=request.user)
    if request.htmx:
        return _panel(request, record)
    messages.success(request, _("The attachment was removed."))
    return HttpResponseRedirect(safe_back(request))
