"""Activity pages: log or plan an activity on a record, mark one done, and the "my day" page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors
from crm.errors import CrmConflict
from crm.models import Activity, Lead, Ticket
from crm.selectors_campaigns import open_nudges_for
from crm.services import activities as activity_services
from crm.views.common import require
from crm.views.forms import ActivityForm, apply_errors
from suite import policy
from suite.ui.choices import chosen_id
from suite.ui.records import actor_required, safe_back

LINKS = {
    "account": selectors.accounts_visible_to,
    "contact": selectors.contacts_visible_to,
    "lead": selectors.leads_visible_to,
    "opportunity": selectors.opportunities_visible_to,
    "ticket": selectors.tickets_visible_to,
}


def _linked_record(actor, request):
    """The record the activity is for (``?account=12`` …), looked up through the policy (404 if unseen)."""
    for name, select in LINKS.items():
        raw = request.GET.get(name) or request.POST.get(name)
        if raw:
            if chosen_id(raw) is None:
                raise Http404
            return name, policy.get_visible_or_404(actor, select(actor), pk=chosen_id(raw))
    raise Http404


def _record_url(name: str, record) -> str:
    return reverse(f"crm:{name}-detail", args=[record.pk])


@actor_required
def activity_create(request):
    actor = request.actor
    require(actor, "add", Activity)
    name, record = _linked_record(actor, request)
    if request.method == "POST":
        form = ActivityForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                activity_services.activity_create(
                    company=actor.company,
                    by=actor.user,
                    kind=data["kind"],
                    subject=data["subject"],
                    body=data["body"],
                    due_at=data["due_at"],
                    remind_at=data.get("remind_at"),
                    done_at=timezone.now() if data["done"] else None,
                    outcome=data["outcome"],
                    **{name: record},
                )
                messages.success(request, _("The activity was saved."))
                return redirect(_record_url(name, record))
            except ValidationError as error:
                apply_errors(form, error)
    else:
        form = ActivityForm()
    return render(
        request,
        "crm/form.html",
        {
            "form": form,
            "kind": "activity",
            "title": _("New activity for %(record)s") % {"record": record},
            "back": _record_url(name, record),
            "hidden": {name: record.pk},
        },
    )


@require_POST
@actor_required
def activity_complete(request, pk: int):
    """Mark an activity done; an htmx request gets the updated row back."""
    actor = request.actor
    activity = policy.get_visible_or_404(actor, selectors.activities_visible_to(actor), pk=pk)
    require(actor, "change", activity)
    try:
        activity = activity_services.activity_complete(
            activity=activity, by=actor.user, outcome=request.POST.get("outcome", "")[:255]
        )
    except (ValidationError, CrmConflict) as error:
        messages.error(request, str(getattr(error, "message", error)))
    if request.htmx:
        activity = selectors.activities_visible_to(actor).get(pk=activity.pk)
        return render(request, "crm/_activity_row.html", {"activity": activity, "can_complete": True})
    messages.success(request, _("Marked done: %(subject)s") % {"subject": activity.subject})
    return redirect(safe_back(request, reverse("crm:my-day")))


@actor_required
def my_day(request):
    """Today for a salesperson or agent: tasks due and overdue, the next week, hot leads, my tickets."""
    actor = request.actor
    day = selectors.my_day(actor)
    return render(
        request,
        "crm/my_day.html",
        {
            "day": day,
            "can_complete": policy.can(actor, "change", Activity),
            "show_leads": policy.can(actor, "view", Lead),
            "show_tickets": policy.can(actor, "view", Ticket),
            "nudges": open_nudges_for(actor),
        },
    )
