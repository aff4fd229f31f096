"""Ticket pages: the list (search, status, mine, breached), the ticket with its thread and the reply / note /
resolve / escalate / assign / close forms, a new ticket, the service report, and the public CSAT page."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors
from crm.errors import CrmConflict
from crm.models import Activity, ReplyTemplate, Ticket, TicketChannel, TicketPriority, TicketStatus
from crm.selectors_dashboards_service import ticket_drill_filter
from crm.services import tickets as ticket_services
from crm.views.bulk import ticket_bulk_context
from crm.views.common import paginate, require, sorted_by
from crm.views.complaints import complaint_context
from crm.views.exports import export_list, export_requested
from crm.views.forms import (
    AssignForm,
    CsatForm,
    EscalateForm,
    MessageForm,
    ResolveForm,
    TicketForm,
    apply_errors,
)
from suite import policy
from suite.models import Role, Team
from suite.ui import search as shell_search
from suite.ui.choices import chosen_id
from suite.ui.mentions import say_mentions
from suite.ui.records import actor_required
from suite.ui.saved_views import default_view_redirect

TICKET_SORTS = {
    "number": "number",
    "created": "created_at",
    "due": "resolution_due_at",
    "priority": "priority",
    "updated": "updated_at",
}
STATUS_FILTERS = {
    "active": ["new", "open", "pending"],
    **{value: [value] for value in TicketStatus.values},
}


@actor_required
def ticket_list(request):
    actor = request.actor
    require(actor, "view", Ticket)
    if opened_with_default := default_view_redirect(request, "crm:ticket-list"):
        return opened_with_default
    query = shell_search.normalize(request.GET.get("q", ""))
    status = request.GET.get("status", "active")
    if status not in STATUS_FILTERS and status != "all":
        status = "active"
    mine = request.GET.get("mine") == "1"
    breached = request.GET.get("breached") == "1"
    tickets = selectors.tickets_visible_to(
        actor,
        search=query,
        status=STATUS_FILTERS.get(status),
        assigned_to=actor.user if mine else None,
        breached=True if breached else None,
    )
    tickets, applied = ticket_drill_filter(tickets, request.GET)  # also what a dashboard figure's link narrows
    channel = request.GET.get("channel", "")
    if channel in TicketChannel.values:
        tickets = tickets.filter(channel=channel)
    # the filters with a control in the bar; the others (owner, team, product) are a dashboard figure's, kept
    shown = ("priority", "category", "agent", "date_from", "date_to")
    drill = {name: value for name, value in applied.items() if name not in shown}
    tickets, sort = sorted_by(request, tickets, TICKET_SORTS, "-created_at")
    if export_requested(request):
        return export_list(request, tickets, "ticket")
    return render(
        request,
        "crm/ticket_list.html",
        {
            "page": paginate(request, tickets),
            "query": query,
            "status": status,
            "statuses": TicketStatus.choices,
            "mine": mine,
            "breached": breached,
            "drill": drill,
            "filters": {name: applied.get(name, "") for name in shown} | {"channel": channel},
            "priorities": TicketPriority.choices,
            "channels": TicketChannel.choices,
            "categories": selectors.ticket_categories_visible_to(actor).order_by("name"),
            "agents": _agents(actor),
            "sort": sort,
            "can_add": policy.can(actor, "add", Ticket),
            "can_report": policy.can(actor, "report", Ticket),
            "can_export": policy.can(actor, "export", Ticket),
            "bulk": ticket_bulk_context(actor),
        },
    )


def _ticket_or_404(actor, pk: int) -> Ticket:
    return policy.get_visible_or_404(actor, selectors.tickets_visible_to(actor), pk=pk)


def _agents(actor):
    users = get_user_model().objects.filter(
        memberships__company_id=actor.company_id,
        memberships__is_active=True,
        memberships__role__in=[Role.SERVICE, Role.MANAGER, Role.ADMIN],
    )
    return users.order_by("username").distinct()


def _teams(actor):
    return policy.scope(actor, Team.objects.all()).order_by("name")


@actor_required
def ticket_detail(request, pk: int):
    actor = request.actor
    ticket = _ticket_or_404(actor, pk)
    can = {
        action: policy.can(actor, action, Ticket)
        for action in ("reply", "note", "resolve", "escalate", "assign", "close")
    }
    survey = getattr(ticket, "csat", None)  # a reverse one-to-one: None until the ticket is resolved
    return render(
        request,
        "crm/ticket_detail.html",
        {
            "ticket": ticket,
            "thread": selectors.ticket_messages_visible_to(actor, ticket=ticket),
            "survey": survey,
            "survey_url": request.build_absolute_uri(reverse("crm:csat", args=[survey.token])) if survey else "",
            "can": can,
            "reply_form": MessageForm(auto_id="reply_%s"),
            "note_form": MessageForm(auto_id="note_%s"),
            "resolve_form": ResolveForm(),
            "escalate_form": EscalateForm(teams=_teams(actor)),
            "assign_form": AssignForm(agents=_agents(actor), initial={"agent": ticket.assigned_agent_id}),
            **complaint_context(actor, ticket),  # the delivered lot and its non-conformances (closed loop)
            "activities": selectors.activities_visible_to(actor, ticket=ticket).order_by("-created_at")[:30],
            "can_add_activity": policy.can(actor, "add", Activity),
            "reply_templates": list(selectors.reply_templates_visible_to(actor, ticket=ticket)[:50])
            if can["reply"] and policy.can(actor, "view", ReplyTemplate)
            else [],
        },
    )


def _ticket_action(request, pk: int, action: str, run) -> object:
    actor = request.actor
    ticket = _ticket_or_404(actor, pk)
    require(actor, action, ticket)
    try:
        run(actor, ticket)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except CrmConflict as error:
        messages.error(request, str(error.message))
    return redirect("crm:ticket-detail", pk=ticket.pk)


def _message_action(kind: str):
    service = ticket_services.ticket_reply if kind == "reply" else ticket_services.ticket_note

    @require_POST
    @actor_required
    def view(request, pk: int):
        def run(actor, ticket):
            form = MessageForm(request.POST)
            if not form.is_valid():
                raise ValidationError(_("Write a message first."))
            message = service(ticket=ticket, by=actor.user, body=form.cleaned_data["body"])
            messages.success(request, _("Reply sent.") if kind == "reply" else _("Note added."))
            say_mentions(request, getattr(message, "mentions", None))

        return _ticket_action(request, pk, kind, run)

    view.__name__ = f"ticket_{kind}"
    return view


ticket_reply = _message_action("reply")
ticket_note = _message_action("note")


@require_POST
@actor_required
def ticket_resolve(request, pk: int):
    def run(actor, ticket):
        form = ResolveForm(request.POST)
        resolution = form.cleaned_data["resolution"] if form.is_valid() else ""
        result = ticket_services.ticket_resolve(ticket=ticket, by=actor.user, resolution=resolution)
        if result.follow_up is not None:
            messages.success(
                request,
                _("Resolved. A follow-up visit is planned for %(date)s.")
                % {"date": date_format(timezone.localtime(result.follow_up.due_at), "DATE_FORMAT")},
            )
        else:
            messages.success(request, _("Resolved."))

    return _ticket_action(request, pk, "resolve", run)


@require_POST
@actor_required
def ticket_escalate(request, pk: int):
    def run(actor, ticket):
        form = EscalateForm(request.POST, teams=_teams(actor))
        if not form.is_valid():
            raise ValidationError(_("Say why the ticket is escalated."))
        ticket_services.ticket_escalate(
            ticket=ticket,
            by=actor.user,
            reason=form.cleaned_data["reason"],
            team=form.cleaned_data["team"],
            priority=form.cleaned_data["priority"] or None,
        )
        messages.success(request, _("Escalated."))

    return _ticket_action(request, pk, "escalate", run)


@require_POST
@actor_required
def ticket_assign(request, pk: int):
    def run(actor, ticket):
        form = AssignForm(request.POST, agents=_agents(actor))
        if not form.is_valid():
            raise ValidationError(_("Choose an agent."))
        ticket_services.ticket_assign(ticket=ticket, by=actor.user, agent=form.cleaned_data["agent"])
        messages.success(request, _("Assigned."))

    return _ticket_action(request, pk, "assign", run)


@require_POST
@actor_required
def ticket_close(request, pk: int):
    def run(actor, ticket):
        ticket_services.ticket_close(ticket=ticket, by=actor.user)
        messages.success(request, _("Closed."))

    return _ticket_action(request, pk, "close", run)


@actor_required
def ticket_create(request):
    actor = request.actor
    require(actor, "add", Ticket)
    initial = {"channel": TicketChannel.PHONE}
    for name in ("account", "contact"):
        if chosen_id(request.GET.get(name)) is not None:
            initial[name] = chosen_id(request.GET[name])
    choices = {
        "accounts": selectors.accounts_visible_to(actor),
        "contacts": selectors.contacts_visible_to(actor),
        "categories": selectors.ticket_categories_visible_to(actor).filter(is_active=True),
        "channels": TicketChannel.choices,
    }
    if request.method == "POST":
        form = TicketForm(request.POST, initial=initial, **choices)
        if form.is_valid():
            try:
                ticket = ticket_services.ticket_open(company=actor.company, by=actor.user, **form.cleaned_data)
                messages.success(request, _("Ticket %(ticket)s was opened.") % {"ticket": f"#{ticket.number}"})
                return redirect("crm:ticket-detail", pk=ticket.pk)
            except ValidationError as error:
                apply_errors(form, error)
    else:
        form = TicketForm(initial=initial, **choices)
    return render(
        request,
        "crm/form.html",
        {"form": form, "kind": "ticket", "title": _("New ticket"), "back": reverse("crm:ticket-list")},
    )


def _day(raw: str) -> date | None:
    try:
        return parse_date(raw or "")
    except ValueError:
        return None


@actor_required
def ticket_report(request):
    """Volume, SLA attainment and satisfaction per category and per agent."""
    actor = request.actor
    require(actor, "report", Ticket)
    date_from, date_to = _day(request.GET.get("from", "")), _day(request.GET.get("to", ""))
    return render(
        request,
        "crm/ticket_report.html",
        {
            "by_category": selectors.ticket_report(actor, group_by="category", date_from=date_from, date_to=date_to),
            "by_agent": selectors.ticket_report(actor, group_by="agent", date_from=date_from, date_to=date_to),
            "date_from": date_from,
            "date_to": date_to,
        },
    )


# ---------------------------------------------------------------- the public satisfaction survey


def csat(request, token: str):
    """The customer's satisfaction survey (no login: the link's token is the key; it works once)."""
    survey = selectors.csat_survey_by_token(token)
    if survey is None:
        raise Http404
    state = "open"
    if survey.submitted_at is not None:
        state = "answered"
    form = CsatForm(request.POST or None)
    if request.method == "POST" and state == "open":
        if form.is_valid():
            try:
                ticket_services.csat_submit(
                    token=token, score=form.cleaned_data["score"], comment=form.cleaned_data["comment"]
                )
                state = "thanks"
            except ticket_services.CsatAlreadyAnsweredError:
                state = "answered"
            except ticket_services.CsatExpiredError:
                state = "expired"
            except ValidationError as error:
                apply_errors(form, error)
    elif state == "open" and survey.expires_at <= timezone.now():
        state = "expired"
    return render(request, "crm/csat.html", {"survey": survey, "form": form, "state": state})
