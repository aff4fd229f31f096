"""Activity pages: the activity list (filters, search, sort, bulk actions, export), log or plan an activity on a
record, mark one done, and the "my day" page."""

from __future__ import annotations

import contextlib
from datetime import date, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, get_format
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors
from crm.errors import CrmConflict
from crm.models import Activity, ActivityKind, Lead, Ticket
from crm.selectors_activities import (
    DEFAULT_STATE,
    STATES,
    ActivityFilters,
    activities_filtered,
    activity_calendar,
    activity_state_counts,
    calendar_feed_of,
    day_start,
    default_order,
    record_type_choices,
)
from crm.selectors_activities import (
    RECORD_TYPES as RECORD_LINKS,
)
from crm.selectors_campaigns import open_nudges_for
from crm.selectors_pool import pool_returning_soon
from crm.services import activities as activity_services
from crm.views.bulk import activity_bulk_context
from crm.views.common import paginate, require, sorted_by
from crm.views.forms import ActivityForm, apply_errors
from suite import policy
from suite.models import Team
from suite.policy import Scope
from suite.ui.choices import chosen_id
from suite.ui.mentions import say_mentions
from suite.ui.records import actor_required, safe_back
from suite.ui.saved_views import default_view_redirect

LINKS = {
    "account": selectors.accounts_visible_to,
    "contact": selectors.contacts_visible_to,
    "lead": selectors.leads_visible_to,
    "opportunity": selectors.opportunities_visible_to,
    "ticket": selectors.tickets_visible_to,
}


ACTIVITY_SORTS = {
    "due": "due_at",
    "created": "created_at",
    "kind": "kind",
    "owner": "owner__username",
    "subject": "subject",
}


def activity_rows(request, *, default_state: str = DEFAULT_STATE):
    """The activities the query string asks for, filtered and sorted: what the activity list shows and what its
    export (``crm.views.exports.activity_export``) writes. Returns the queryset, the filters and the sort key."""
    filters = ActivityFilters.from_params(request.GET, default_state=default_state)
    activities, sort = sorted_by(request, activities_filtered(request.actor, filters), ACTIVITY_SORTS, "due_at")
    if not sort:
        activities = activities.order_by(*default_order(filters.state))
    return activities, filters, sort


@actor_required
def activity_list(request):
    """Every activity the actor may see — calls, meetings, tasks, notes on any record — with the filters of a
    sales manager's review: kind, state (open, overdue, due today, upcoming, done), owner, team, the kind of
    record, due dates and a search; sortable, paged, exported as filtered, and bulk "mark done" / "reassign"."""
    actor = request.actor
    require(actor, "view", Activity)
    if opened_with_default := default_view_redirect(request, "crm:activity-list"):
        return opened_with_default
    activities, filters, sort = activity_rows(request)
    # The page's linked records in five small reads instead of five more joins: with eight joins PostgreSQL spent
    # ~50 ms *planning* the page query (a 5 ms walk) on the bench company's million activities.
    activities = activities.select_related(None).select_related("owner", "team").prefetch_related(*RECORD_LINKS)
    today = timezone.localdate()
    params = filters.as_params()
    sort_params = {"sort": sort} if sort else {}
    chips = [(state, label, urlencode({**params, "state": state, **sort_params})) for state, label in STATES.items()]
    ignored_labels = {
        "state": _("State"),
        "status": _("State"),
        "kind": _("Kind"),
        "owner": _("Owner"),
        "team": _("Team"),
        "record": _("Related to"),
        "due_from": _("Due from"),
        "due_to": _("Due until"),
    }
    sees_others = policy.policy_for(Activity).scope_for(actor.role) is not Scope.OWN
    counts = activity_state_counts(actor, filters)  # the chips, and the number of rows the pages hold
    return render(
        request,
        "crm/activity_list.html",
        {
            "page": paginate(request, activities, count=counts[filters.state]),
            "filters": filters,
            "ignored": [ignored_labels[name] for name in filters.ignored],
            "counts": counts,
            "chips": chips,
            "states": list(STATES.items()),
            "kinds": ActivityKind.choices,
            "record_types": record_type_choices(),
            "members": selectors.assignable_users(actor) if sees_others else [],
            "teams": policy.scope(actor, Team.objects.all()).order_by("name") if sees_others else [],
            "sort": sort,
            "export_query": urlencode({**params, **sort_params}),
            "today_start": day_start(today),
            "tomorrow_start": day_start(today + timedelta(days=1)),
            "can_complete": policy.can(actor, "change", Activity),
            "can_export": policy.can(actor, "export", Activity),
            "bulk": activity_bulk_context(actor),
        },
    )


# the record an activity's entry opens: its most specific one (as the list names it)
_RECORD_ROUTES = [(f"{name}_id", f"crm:{name}-detail") for name in RECORD_LINKS]


def _calendar_month(raw: str) -> date:
    """``?month=2026-11`` as its first day; anything else (or nothing) is this month."""
    with contextlib.suppress(ValueError):
        year, month = (int(part) for part in raw.split("-"))
        if 1900 <= year <= 9999:
            return date(year, month, 1)
    return timezone.localdate().replace(day=1)


@actor_required
def activity_calendar_view(request):
    """The activities as a month calendar (日程): one's own by default (*Only mine*), or everything the actor may
    see, by kind; each entry opens its record, each day its list, and the arrows move a month. A box below offers
    the person's calendar subscription (``crm.views.calendar_feeds``)."""
    return activity_calendar_page(request)


def activity_calendar_page(request, *, new_feed_url: str = ""):
    """The calendar page for ``request.actor`` (filters from the query string); ``new_feed_url``: a subscription
    address just made, shown this once."""
    actor = request.actor
    require(actor, "view", Activity)
    params = request.GET.copy()
    mine = params.get("owner", "me") == "me" or params.get("mine") == "1"
    params["owner"] = "me" if mine else ""
    filters = ActivityFilters.from_params(params, default_state="all")
    month = _calendar_month(request.GET.get("month", ""))
    first_weekday = (int(get_format("FIRST_DAY_OF_WEEK")) - 1) % 7  # Django counts from Sunday, Python from Monday
    calendar = activity_calendar(actor, filters, month=month, first_weekday=first_weekday)
    for week in calendar.weeks:
        for cell in week:
            for activity in cell.activities:
                route = next(
                    ((url, getattr(activity, field)) for field, url in _RECORD_ROUTES if getattr(activity, field)), None
                )
                activity.record_url = reverse(route[0], args=[route[1]]) if route else ""
    keep = {"kind": filters.kind, "owner": "me" if mine else "all"}
    previous = (month - timedelta(days=1)).replace(day=1)
    following = (month + timedelta(days=32)).replace(day=1)
    return render(
        request,
        "crm/activity_calendar.html",
        {
            "calendar": calendar,
            "weekdays": [date_format(day.day, "D") for day in calendar.weeks[0]],
            "today": timezone.localdate(),
            "now": timezone.now(),
            "mine": mine,
            "filters": filters,
            "kinds": ActivityKind.choices,
            "previous_query": urlencode({**keep, "month": previous.strftime("%Y-%m")}),
            "next_query": urlencode({**keep, "month": following.strftime("%Y-%m")}),
            "this_month_query": urlencode(keep),
            "day_query": urlencode({"state": "all", "kind": filters.kind, "owner": "me" if mine else ""}),
            "can_add": policy.can(actor, "add", Activity),
            "calendar_feed": calendar_feed_of(actor),
            "new_feed_url": new_feed_url,
        },
    )


def linked_record(actor, request):
    """The record the activity is for (``?account=12`` …), looked up through the policy (404 if unseen)."""
    for name, select in LINKS.items():
        raw = request.GET.get(name) or request.POST.get(name)
        if raw:
            if chosen_id(raw) is None:
                raise Http404
            return name, policy.get_visible_or_404(actor, select(actor), pk=chosen_id(raw))
    raise Http404


def record_url(name: str, record) -> str:
    return reverse(f"crm:{name}-detail", args=[record.pk])


@actor_required
def activity_create(request):
    actor = request.actor
    require(actor, "add", Activity)
    name, record = linked_record(actor, request)
    if request.method == "POST":
        form = ActivityForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                activity = activity_services.activity_create(
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
                say_mentions(request, activity.mentions)
                return redirect(record_url(name, record))
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
            "back": record_url(name, record),
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
        messages.error(request, " ".join(error.messages) if isinstance(error, ValidationError) else str(error.message))
    else:
        if not request.htmx:
            messages.success(request, _("Marked done: %(subject)s") % {"subject": activity.subject})
    if request.htmx:
        activity = selectors.activities_visible_to(actor).get(pk=activity.pk)
        return render(request, "crm/_activity_row.html", {"activity": activity, "can_complete": True})
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
            "returning": pool_returning_soon(actor),
            "approvals": selectors.quotes_awaiting_approval(actor),
        },
    )
