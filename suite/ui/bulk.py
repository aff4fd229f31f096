"""Bulk actions on a list page: the records ticked in the list, one action, applied through the services.

A list declares its ``BulkAction``s; its bulk view calls ``bulk_apply`` with the records the actor may see (the
policy layer's queryset), so access is the same as on each record's own page. All or nothing: the records are
changed in one transaction, and the first record a service refuses rolls every change back and is named in
the message. Each change goes through the record's own service, so it is validated, locked and audited exactly
as a change on the record's page is.

    ACTIONS = [BulkAction("owner", _("Assign owner"), prepare=_assign_owner, fields=("owner",))]

    def account_bulk(request):
        return bulk_apply(request, queryset=accounts_visible_to(request.actor), actions=ACTIONS,
                          list_url=reverse("crm:account-list"), refused=(CrmConflict,))

``prepare(actor, data)`` reads and checks the action's own inputs once (``ValidationError`` names what is wrong)
and returns the function applied to each record — or, for an action declared ``together=True``, the function
applied once to the list of records (a service that changes them together, e.g. to tell a new owner once for
all of them rather than once per record).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from suite import policy
from suite.ui.choices import chosen_id

MAX_RECORDS = 500  # more than a page or two of any list; a bigger change is an import or an admin job


@dataclass(frozen=True)
class BulkAction:
    key: str
    label: str
    prepare: Callable[[object, dict], Callable[[Model], object]]
    fields: Sequence[str] = ()  # the inputs of the bulk bar this action reads (``owner``, ``stage`` …)
    permission: str = "change"
    together: bool = False  # ``prepare`` returns a function of the list of records, called once


def bulk_context(actions: Sequence[BulkAction], *, url: str, actor, model, **choices) -> dict | None:
    """What ``ui/_bulk_bar.html`` renders: the actions the actor's role may take on ``model`` (``None`` when
    there are none, and the list shows no tick boxes), the form's URL and the choices of its inputs."""
    allowed = [action for action in actions if policy.can(actor, action.permission, model)]
    if not allowed:
        return None
    fields = {name for action in allowed for name in action.fields}
    return {"url": url, "actions": allowed, "fields": fields, **choices}


def _message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return " ".join(str(message) for message in error.messages)
    return str(getattr(error, "message", error))


def bulk_apply(
    request,
    *,
    queryset: QuerySet,
    actions: Sequence[BulkAction],
    list_url: str,
    refused: tuple[type[Exception], ...] = (),
    label: Callable[[Model], str] = str,
):
    """Apply the posted ``action`` to the posted ``ids`` among ``queryset`` (what the actor may see) and go back
    to the list (``next``, when it is a URL of this site). Errors are messages on the list; nothing is saved
    unless every record took the change."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    actor = request.actor
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=False):
        back = list_url
    response = HttpResponseRedirect(back or list_url)
    action = next((a for a in actions if a.key == request.POST.get("action")), None)
    if action is None:
        messages.error(request, _("Choose what to do with the selected records."))
        return response
    if not policy.can(actor, action.permission, queryset.model):
        raise PermissionDenied
    ids = {chosen_id(value) for value in request.POST.getlist("ids")} - {None}
    if not ids:
        messages.error(request, _("Select at least one record."))
        return response
    if len(ids) > MAX_RECORDS:
        messages.error(request, _("Select at most %(count)d records at a time.") % {"count": MAX_RECORDS})
        return response
    records = list(policy.scope(actor, queryset).filter(pk__in=ids).order_by("pk"))
    if len(records) != len(ids):
        messages.error(request, _("Some of the selected records are not available to you. Nothing was changed."))
        return response
    try:
        apply = action.prepare(actor, request.POST)
    except ValidationError as error:
        messages.error(request, _message(error))
        return response
    failed = None
    try:
        with transaction.atomic():
            if action.together:
                apply(records)
            else:
                for record in records:
                    failed = record
                    apply(record)
    except (ValidationError, *refused) as error:
        if failed is None:
            messages.error(request, _("Nothing was changed: %(reason)s") % {"reason": _message(error)})
        else:
            messages.error(
                request,
                _("Nothing was changed: %(record)s — %(reason)s")
                % {"record": label(failed), "reason": _message(error)},
            )
        return response
    messages.success(
        request,
        ngettext("%(action)s: %(count)d record changed.", "%(action)s: %(count)d records changed.", len(records))
        % {"action": action.label, "count": len(records)},
    )
    return response
