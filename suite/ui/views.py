"""The UI shell's views: my workspace, app landing pages, search, company switch, directory, record history."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpResponseRedirect, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from suite import audit, policy
from suite.middleware import SESSION_COMPANY_KEY, forget_actor
from suite.models import Company, Membership, Module, Notification, Team
from suite.modules import enabled_set
from suite.templatetags.troika import person_name
from suite.ui import menu, search
from suite.ui.records import actor_required, record_or_404, safe_back

MASK = "•••"


@actor_required
def home(request):
    """My workspace: where I work (companies, role, teams), what is new for me, where to go."""
    actor = request.actor
    notifications = list(
        policy.scope(actor, Notification.objects.filter(read_at__isnull=True)).order_by("-created_at", "-id")[:5]
    )
    teams = list(actor.membership.teams.select_related("manager").order_by("name"))
    managed = list(Team.objects.filter(company_id=actor.company_id, manager=actor.user).order_by("name"))
    return render(
        request,
        "ui/home.html",
        {
            "actor": actor,
            "teams": teams,
            "managed_teams": managed,
            "notifications": notifications,
            "modules": _modules(actor.company),
        },
    )


def _modules(company) -> list[tuple[str, str, bool]]:
    enabled = enabled_set(company.enabled_modules)  # empty: every module (suite.modules)
    return [(value, label, value in enabled) for value, label in Module.choices]


@actor_required
def app_landing(request, app: str):
    """The landing page of a section: which of its modules the company has enabled, and the section's pages."""
    section = next((s for s in menu.SECTIONS if s.key == app), None)
    if section is None:
        raise Http404
    if not menu.section_visible(section, request.actor, request.user):
        raise Http404
    actor = request.actor
    enabled = enabled_set(actor.company.enabled_modules)
    modules = [(value, label, value in enabled) for value, label in Module.choices if value in section.modules]
    view = next(v for v in menu.menu_for(actor, path=request.path, user=request.user) if v.key == app)
    context = {"section": section, "section_view": view, "modules": modules}
    if app == "admin":
        context["company_stats"] = {
            "members": Membership.objects.filter(company=actor.company, is_active=True).count(),
            "teams": Team.objects.filter(company=actor.company).count(),
        }
    return render(request, "ui/app_landing.html", context)


@actor_required
def search_view(request):
    query = search.normalize(request.GET.get("q", ""))
    groups = search.search(request.actor, query) if query else []
    template = "ui/_search_results.html" if request.htmx else "ui/search.html"
    return render(request, template, {"query": query, "groups": groups})


@require_POST
@actor_required
def company_switch(request):
    """Act in another of my companies from now on (kept in the session)."""
    try:
        company_id = int(request.POST.get("company", ""))
    except ValueError:
        company_id = None
    membership = (
        Membership.objects.select_related("company")
        .filter(user=request.user, company_id=company_id, is_active=True)
        .first()
        if company_id
        else None
    )
    if membership is None:
        messages.error(request, _("You are not a member of that company."))
    else:
        request.session[SESSION_COMPANY_KEY] = membership.company_id
        forget_actor(request)
        messages.success(request, _("You are now working in %(company)s.") % {"company": membership.company.name})
    return HttpResponseRedirect(safe_back(request))


@actor_required
def directory(request):
    """The company's members and teams (as the policy lets the actor see them), searchable, paginated."""
    actor = request.actor
    query = search.normalize(request.GET.get("q", ""))
    show_email = "email" not in policy.hidden_fields(actor, Membership)
    members = (
        policy.scope(actor, Membership.objects.filter(is_active=True))
        .select_related("user")
        .prefetch_related(Prefetch("teams", queryset=Team.objects.order_by("name")))
        .order_by("user__username")
    )
    if query:
        condition = (
            Q(user__username__icontains=query)
            | Q(user__first_name__icontains=query)
            | Q(user__last_name__icontains=query)
        )
        if show_email:
            condition |= Q(user__email__icontains=query)
        members = members.filter(condition)
    page = Paginator(members, 50).get_page(request.GET.get("page"))
    teams = (
        policy.scope(actor, Team.objects.all())
        .select_related("manager", "parent")
        .annotate(member_count=Count("memberships", filter=Q(memberships__is_active=True)))
        .order_by("name")
    )
    return render(
        request,
        "ui/directory.html",
        {"query": query, "page": page, "teams": teams, "show_email": show_email},
    )


@actor_required
def team_detail(request, pk: int):
    actor = request.actor
    team = policy.get_visible_or_404(actor, Team.objects.select_related("manager", "parent"), pk=pk)
    members = (
        policy.scope(actor, Membership.objects.filter(teams=team, is_active=True))
        .select_related("user")
        .order_by("user__username")
    )
    children = policy.scope(actor, Team.objects.filter(parent=team)).order_by("name")
    return render(
        request,
        "ui/team_detail.html",
        {
            "team": team,
            "members": members,
            "children": children,
            "show_email": "email" not in policy.hidden_fields(actor, Membership),
        },
    )


# ---------------------------------------------------------------- record history


@dataclass(frozen=True)
class Change:
    field: str
    old: object
    new: object


@dataclass(frozen=True)
class HistoryRow:
    entry: audit.HistoryEntry
    action: str
    source: str
    changes: list[Change]


def _source_label(source: str) -> str:
    labels = {
        "ui": _("web"),
        "api": _("API"),
        "admin": _("admin site"),
        "worker": _("background job"),
        "database": _("database"),
    }
    return str(labels.get(source, source))


def _display(model_field, value, names: dict | None = None):
    """A history value as people read it: choice labels, local dates and times, yes/no, the linked record's name
    (``#id`` when the actor may not see it)."""
    if value is None or value == "":
        return None
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(model_field, models.DateTimeField) and isinstance(value, str):
        moment = parse_datetime(value)
        return date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT") if moment else value
    if isinstance(model_field, models.DateField) and isinstance(value, str):
        day = parse_date(value)
        return date_format(day, "SHORT_DATE_FORMAT") if day else value
    if isinstance(model_field, models.BooleanField):
        return _("yes") if value else _("no")
    if isinstance(model_field, models.DecimalField) and isinstance(value, int | float | str):
        try:  # the audit row's JSON number (a float once decoded) shown with the field's decimal places
            return str(Decimal(str(value)).quantize(Decimal(1).scaleb(-model_field.decimal_places)))
        except ArithmeticError:
            return value
    if model_field.is_relation:
        return (names or {}).get((model_field.related_model, _key(model_field.related_model, value)), f"#{value}")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def _key(model, value):
    """A primary key from the audit row's JSON as the model's own type (``"5"`` and ``5`` are the same record)."""
    try:
        return model._meta.pk.to_python(value)
    except (ValidationError, TypeError, ValueError):  # no key of the model: it stays as written, shown as "#value"
        return value


def _empty(value) -> bool:
    return value is None or value == "" or value == {} or value == []


def _bookkeeping(model_field) -> bool:
    """The record's company and its automatic timestamps: the entry's own time and the page already say them."""
    if model_field.name == "company" and model_field.is_relation:
        return True
    return bool(getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False))


def _linked_names(actor, wanted: dict) -> dict:
    """``{(model, pk): name}`` of the linked records a history mentions that ``actor`` may see, one query per
    linked model through the policy layer; people by their name in the actor's company."""
    names = {}
    user_model = get_user_model()
    for model, keys in wanted.items():
        if model is user_model:
            people = policy.scope(actor, Membership.objects.filter(user_id__in=keys)).select_related("user")
            names.update({(model, person.user_id): person_name(person.user) for person in people})
            continue
        if model is Company:
            if actor.company_id in keys:
                names[(model, actor.company_id)] = str(actor.company)
            continue
        try:
            visible = policy.scope(actor, model._default_manager.filter(pk__in=keys))
        except LookupError:  # no policy: nobody sees it through the UI, so neither does its name here
            continue
        names.update({(model, record.pk): str(record) for record in visible})
    return names


def history_rows(actor, obj) -> list[HistoryRow]:
    """``audit.history_of(obj)`` for display: field labels, readable values (linked records by name), the
    sensitive fields the actor may not see masked; a creation lists the values it set, not every empty field."""
    model = type(obj)
    hidden = policy.hidden_fields(actor, model)
    fields = {}
    for model_field in model._meta.concrete_fields:
        fields[model_field.name] = model_field
        fields[model_field.attname] = model_field
    labels = {"insert": _("created"), "update": _("changed"), "delete": _("deleted")}
    entries = audit.history_of(obj)
    shown = []
    wanted: dict = {}
    for entry in entries:
        changes = []
        for name, (old, new) in sorted(entry.changes.items()):
            model_field = fields.get(name)
            if model_field is None or name.startswith("pgh_") or _bookkeeping(model_field):
                continue
            if entry.label in ("insert", "delete") and _empty(old) and _empty(new):
                continue
            changes.append((model_field, old, new))
            if model_field.is_relation and model_field.name not in hidden:
                keys = wanted.setdefault(model_field.related_model, set())
                keys.update(_key(model_field.related_model, value) for value in (old, new) if value not in (None, ""))
        shown.append((entry, changes))
    names = _linked_names(actor, wanted) if wanted else {}
    rows = []
    for entry, changes in shown:
        readable = []
        for model_field, old, new in changes:
            if model_field.name in hidden:
                old, new = MASK, MASK
            else:
                old, new = _display(model_field, old, names), _display(model_field, new, names)
            readable.append(Change(str(model_field.verbose_name), old, new))
        rows.append(HistoryRow(entry, str(labels.get(entry.label, entry.label)), _source_label(entry.source), readable))
    return rows


@actor_required
def history(request, label: str, pk: str):
    """The change history of one record the actor may see (404 for anything else)."""
    obj = record_or_404(request.actor, label, pk)
    context = {"object": obj, "rows": history_rows(request.actor, obj), "opts": obj._meta}
    template = "ui/_history.html" if request.htmx else "ui/history.html"
    return render(request, template, context)


# ---------------------------------------------------------------- errors


def not_found(request, exception=None):
    return render(request, "404.html", status=404)


def permission_denied(request, exception=None):
    return render(request, "403.html", status=403)


def server_error(request):
    """Rendered without the shell's context processors: whatever failed (even the database) must not fail again."""
    return HttpResponseServerError(loader.get_template("500.html").render({"request": request}))
