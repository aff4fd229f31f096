"""Opportunity pages: the kanban board (drag between stages with htmx, or the keyboard "move to" form), the list,
the opportunity page with its stage history, and the create / edit forms."""

from __future__ import annotations

import contextlib
from datetime import date
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors
from crm.errors import CrmConflict
from crm.models import Activity, Opportunity, OpportunityStatus
from crm.selectors_dashboards import opportunities_drilled
from crm.services import opportunities as opportunity_services
from crm.templatetags.crm_ui import local_name
from crm.views import custom_fields
from crm.views.bulk import opportunity_bulk_context
from crm.views.common import paginate, require, sorted_by
from crm.views.exports import export_list, export_requested
from crm.views.forms import LoseForm, OpportunityForm, apply_errors
from suite import policy
from suite.models import Team
from suite.ui import search as shell_search
from suite.ui.choices import chosen, chosen_id
from suite.ui.records import actor_required, safe_back
from suite.ui.saved_views import default_view_redirect

OPPORTUNITY_SORTS = {
    "name": "name",
    "amount": "amount",
    "close": "expected_close_date",
    "updated": "updated_at",
    "stage": "stage__sequence",
}


def _pipeline(request):
    pipelines = list(selectors.pipelines_visible_to(request.actor).filter(is_active=True))
    wanted = request.GET.get("pipeline", "")
    chosen = next((p for p in pipelines if str(p.pk) == wanted), None)
    chosen = chosen or next((p for p in pipelines if p.is_default), None) or (pipelines[0] if pipelines else None)
    return chosen, pipelines


def _move_context(actor, stages) -> dict:
    """What a card's "Move to…" form offers: the ``<option>``s of the stages (one list per stage, that stage
    selected) and of the lost reasons, rendered once for the whole board — per card, 300 cards × 30 options
    were most of the board's time (each value localised by the template engine)."""
    reasons = list(selectors.lost_reasons_visible_to(actor).filter(is_active=True))
    names = [(stage.pk, local_name(stage)) for stage in stages]
    return {
        "stage_options": {
            current: format_html_join(
                "",
                '<option value="{}"{}>{}</option>',
                ((pk, mark_safe(" selected") if pk == current else "", name) for pk, name in names),
            )
            for current, _name in names
        },
        "reason_options": format_html_join(
            "", '<option value="{}">{}</option>', ((reason.pk, local_name(reason)) for reason in reasons)
        ),
        "can_move": policy.can(actor, "change", Opportunity),
    }


@actor_required
def opportunity_board(request):
    """The kanban board of a pipeline: one column per stage."""
    actor = request.actor
    require(actor, "view", Opportunity)
    pipeline, pipelines = _pipeline(request)
    query = shell_search.normalize(request.GET.get("q", ""))
    mine = request.GET.get("owner") == "me"
    columns = (
        selectors.opportunity_board(actor, pipeline=pipeline, search=query, owner=actor.user if mine else None)
        if pipeline
        else []
    )
    return render(
        request,
        "crm/opportunity_board.html",
        {
            "pipeline": pipeline,
            "pipelines": pipelines,
            "columns": columns,
            "stages": [column.stage for column in columns],
            "query": query,
            "mine": mine,
            "board_params": _board_params(pipeline, query, mine),
            "can_add": policy.can(actor, "add", Opportunity),
            **_move_context(actor, [column.stage for column in columns]),
        },
    )


def _board_params(pipeline, query: str, mine: bool) -> str:
    """The board's filters as a query string, for a column's "Show more"."""
    params = {"pipeline": pipeline.pk if pipeline else "", "q": query}
    if mine:
        params["owner"] = "me"
    return urlencode(params)


@actor_required
def opportunity_board_column(request, stage_pk: int):
    """A board column's next cards (htmx, "Show more"): the cards after ``offset`` under the board's filters,
    and the button for the ones after them."""
    actor = request.actor
    require(actor, "view", Opportunity)
    pipeline, _pipelines = _pipeline(request)
    stage = next((s for s in pipeline.stages.all() if s.pk == stage_pk), None) if pipeline else None
    if stage is None:
        raise Http404
    query = shell_search.normalize(request.GET.get("q", ""))
    mine = request.GET.get("owner") == "me"
    offset = max(0, min(chosen_id(request.GET.get("offset", "")) or 0, 10_000))
    cards, more = selectors.opportunity_board_cards(
        actor, pipeline=pipeline, stage=stage, search=query, owner=actor.user if mine else None, offset=offset
    )
    stages = list(pipeline.stages.filter(is_active=True).order_by("sequence", "id"))
    return render(
        request,
        "crm/_board_cards.html",
        {
            "cards": cards,
            "stage": stage,
            "next_offset": offset + len(cards) if more else None,
            "board_params": _board_params(pipeline, query, mine),
            **_move_context(actor, stages),
        },
    )


@actor_required
def opportunity_list(request):
    actor = request.actor
    require(actor, "view", Opportunity)
    if opened_with_default := default_view_redirect(request, "crm:opportunity-list"):
        return opened_with_default
    query = shell_search.normalize(request.GET.get("q", ""))
    opportunities = selectors.opportunities_visible_to(actor, search=query)
    status = request.GET.get("status", "open")
    if status in OpportunityStatus.values:
        opportunities = opportunities.filter(status=status)
    else:
        status = "all"
    if request.GET.get("owner") == "me":
        opportunities = opportunities.filter(owner=actor.user)
    drill = _drill_params(request)
    if drill:  # a dashboard figure's records (issue #7): team / owner / product / stage / period
        opportunities = opportunities_drilled(actor, opportunities, status=status, **drill)
    opportunities, sort = sorted_by(request, opportunities, OPPORTUNITY_SORTS, "-updated_at")
    if export_requested(request):
        return export_list(request, opportunities, "opportunity")
    return render(
        request,
        "crm/opportunity_list.html",
        {
            "page": paginate(request, opportunities),
            "query": query,
            "status": status,
            "statuses": OpportunityStatus.choices,
            "sort": sort,
            "can_add": policy.can(actor, "add", Opportunity),
            "can_export": policy.can(actor, "export", Opportunity),
            "bulk": opportunity_bulk_context(actor),
            # the filters shown in the bar (a dashboard figure's link fills them too)
            "filters": {name: request.GET.get(name, "") for name in ("owner", "team", "stage", "date_from", "date_to")},
            "members": selectors.assignable_users(actor),
            "teams": policy.scope(actor, Team.objects.all()).order_by("name"),
            "pipelines": selectors.pipelines_visible_to(actor).prefetch_related("stages").order_by("name"),
            # a dashboard figure's narrowing that has no control in the bar: kept, and said
            "drill_fields": [
                (name, request.GET[name]) for name in ("product", "reached_stage") if drill and request.GET.get(name)
            ],
        },
    )


def _drill_params(request) -> dict:
    """The dashboard drill-down filters of the opportunity list (ids and ISO dates; bad values are ignored)."""
    params: dict = {}
    for name, key in (
        ("team", "team_id"),
        ("owner", "owner_id"),
        ("product", "product_id"),
        ("stage", "stage_id"),
        ("reached_stage", "reached_stage_id"),
    ):
        if (raw := chosen_id(request.GET.get(name))) is not None:
            params[key] = raw
    for name in ("date_from", "date_to"):
        with contextlib.suppress(ValueError):
            params[name] = date.fromisoformat(request.GET.get(name, ""))
    return params


def _opportunity_or_404(actor, pk: int) -> Opportunity:
    return policy.get_visible_or_404(actor, selectors.opportunities_visible_to(actor), pk=pk)


@actor_required
def opportunity_detail(request, pk: int):
    from crm.views.fulfilment import promise_polling
    from crm.views.opportunity_roles import committee_context
    from crm.views.quotes import lines_context

    actor = request.actor
    opportunity = _opportunity_or_404(actor, pk)
    return render(
        request,
        "crm/opportunity_detail.html",
        {
            "opportunity": opportunity,
            "changes": selectors.stage_changes_visible_to(actor, opportunity=opportunity),
            "activities": selectors.activities_visible_to(actor, opportunity=opportunity).order_by("-created_at")[:30],
            "stages": list(opportunity.stage.pipeline.stages.filter(is_active=True).order_by("sequence", "id")),
            "can_change": policy.can(actor, "change", opportunity),
            "can_add_activity": policy.can(actor, "add", Activity),
            "lose_form": LoseForm(reasons=selectors.lost_reasons_visible_to(actor).filter(is_active=True)),
            "can_move": policy.can(actor, "change", Opportunity),
            **lines_context(actor, opportunity),
            **committee_context(actor, opportunity),
            "promise_polling": promise_polling(opportunity),
            "custom_values": custom_fields.shown(custom_fields.schema_for(actor, "opportunity"), opportunity.custom),
        },
    )


def _opportunity_form(request, instance: Opportunity | None = None):
    actor = request.actor
    require(actor, "change" if instance else "add", instance or Opportunity)
    fields = ["name", "account", "contact", "amount", "expected_close_date", "description"]
    initial = {name: getattr(instance, name) for name in fields} if instance else {}
    if instance is None:
        for name in ("account", "contact"):
            if chosen_id(request.GET.get(name)) is not None:
                initial[name] = chosen_id(request.GET[name])
    if instance is not None:
        initial["owner"] = instance.owner_id
    choices = {
        "accounts": selectors.accounts_visible_to(actor),
        "contacts": selectors.contacts_visible_to(actor),
        "owners": selectors.assignable_users(actor),
        "pipelines": selectors.pipelines_visible_to(actor) if instance is None else None,
    }
    schema = custom_fields.schema_for(actor, "opportunity")
    if request.method == "POST":
        form = OpportunityForm(request.POST, initial=initial, **choices)
        custom_fields.add_fields(form, schema, instance.custom if instance else None)
        if form.is_valid():
            data = {name: form.cleaned_data[name] for name in fields}
            custom = custom_fields.changes(form)
            owner = form.cleaned_data["owner"]
            try:
                if instance is None:
                    if owner is not None:
                        data["owner"] = owner
                    if form.cleaned_data.get("pipeline") is not None:
                        data["pipeline"] = form.cleaned_data["pipeline"]
                    saved = opportunity_services.opportunity_create(
                        company=actor.company, by=actor.user, custom=custom, **data
                    )
                    messages.success(request, _("The opportunity %(name)s was created.") % {"name": saved.name})
                else:
                    changed = {k: v for k, v in data.items() if form.initial.get(k) != v}
                    if owner is not None and owner.pk != instance.owner_id:
                        changed["owner"] = owner
                    saved = opportunity_services.opportunity_update(
                        opportunity=instance, by=actor.user, custom=custom, **changed
                    )
                    messages.success(request, _("Your changes were saved."))
                return redirect("crm:opportunity-detail", pk=saved.pk)
            except ValidationError as error:
                apply_errors(form, error)
            except CrmConflict as error:
                form.add_error(None, str(error.message))
    else:
        form = OpportunityForm(initial=initial, **choices)
        custom_fields.add_fields(form, schema, instance.custom if instance else None)
    return render(
        request,
        "crm/form.html",
        {
            "form": form,
            "instance": instance,
            "kind": "opportunity",
            "title": _("Edit %(name)s") % {"name": instance.name} if instance else _("New opportunity"),
            "back": reverse("crm:opportunity-detail", args=[instance.pk]) if instance else reverse("crm:board"),
        },
    )


@actor_required
def opportunity_create(request):
    return _opportunity_form(request)


@actor_required
def opportunity_edit(request, pk: int):
    return _opportunity_form(request, _opportunity_or_404(request.actor, pk))


def _stage_from_post(actor, opportunity: Opportunity, raw: str):
    if chosen_id(raw) is None:
        return None
    return (
        selectors.stages_visible_to(actor)
        .filter(pk=chosen_id(raw), pipeline_id=opportunity.stage.pipeline_id, is_active=True)
        .first()
    )


@require_POST
@actor_required
def opportunity_move(request, pk: int):
    """Move an opportunity to another stage: from a kanban drop (``X-Kanban-Drop``: answers with the card, or
    422 and a message), from the "move to" form (htmx: the board again; without JS: back to the board)."""
    actor = request.actor
    opportunity = _opportunity_or_404(actor, pk)
    require(actor, "change", opportunity)
    stage = _stage_from_post(actor, opportunity, request.POST.get("stage", ""))
    lost_reason = chosen(selectors.lost_reasons_visible_to(actor), request.POST.get("lost_reason"))
    error = None
    if stage is None:
        error = _("Unknown stage.")
    else:
        try:
            opportunity = opportunity_services.opportunity_move(
                opportunity=opportunity,
                stage=stage,
                by=actor.user,
                lost_reason=lost_reason,
                lost_note=request.POST.get("lost_note", ""),
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        except CrmConflict as exc:
            error = str(exc.message)
    if request.headers.get("X-Kanban-Drop"):
        if error:
            return HttpResponse(error, status=422, content_type="text/plain; charset=utf-8")
        fresh = _opportunity_or_404(actor, pk)
        stages = list(fresh.stage.pipeline.stages.filter(is_active=True).order_by("sequence", "id"))
        context = {"opportunity": fresh, "stages": stages, **_move_context(actor, stages)}
        return render(request, "crm/_opportunity_card.html", context)
    if error:
        messages.error(request, error)
    elif stage.is_won:
        messages.success(request, _("%(name)s is won. Congratulations!") % {"name": opportunity.name})
    else:
        messages.success(request, _("%(name)s moved to %(stage)s.") % {"name": opportunity.name, "stage": stage.name})
    return redirect(safe_back(request, reverse("crm:board")))


@require_POST
@actor_required
def opportunity_lose(request, pk: int):
    actor = request.actor
    opportunity = _opportunity_or_404(actor, pk)
    require(actor, "change", opportunity)
    form = LoseForm(request.POST, reasons=selectors.lost_reasons_visible_to(actor).filter(is_active=True))
    if not form.is_valid():
        messages.error(request, _("Choose why the opportunity was lost."))
    else:
        try:
            opportunity_services.opportunity_lose(
                opportunity=opportunity,
                reason=form.cleaned_data["lost_reason"],
                note=form.cleaned_data["note"],
                by=actor.user,
            )
            messages.success(request, _("%(name)s was marked lost.") % {"name": opportunity.name})
        except (ValidationError, CrmConflict) as error:
            messages.error(request, " ".join(getattr(error, "messages", [str(getattr(error, "message", error))])))
    return redirect("crm:opportunity-detail", pk=pk)
