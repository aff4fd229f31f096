"""CRM settings in the browser, for the company's admins: lead scoring rules, lead assignment rules, SLA targets
and ticket categories, and custom fields. Each page lists what is set and adds or removes through the same
services as the API (``/api/v1/crm/...``), so the checks and the audit trail are the same; a refused input is a
message on the form and nothing is saved.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crm import selectors
from crm.errors import CrmConflict
from crm.models import (
    AssignmentRule,
    CustomFieldSet,
    CustomFieldTarget,
    LeadScoringRule,
    LifecycleStage,
    LostReason,
    Pipeline,
    PoolRule,
    QuoteApprovalRule,
    SlaPolicy,
    Source,
    Stage,
    TicketCategory,
    TicketPriority,
)
from crm.selectors_pool import pool_rule_of
from crm.services import custom_fields as custom_field_services
from crm.services import leads as lead_services
from crm.services import opportunities as opportunity_services
from crm.services import pool as pool_services
from crm.services import quote_approvals
from crm.services import stages as stage_services
from crm.services import tickets as ticket_services
from crm.templatetags.crm_ui import local_name
from crm.views import custom_fields
from crm.views.common import refusal_message, require
from crm.views.forms import apply_errors
from suite import policy
from suite.models import Team
from suite.templatetags.troika import person_name
from suite.ui import menu
from suite.ui.records import actor_required

menu.register(
    menu.MenuItem(
        "crm",
        gettext_lazy("Settings"),
        "crm:settings",
        module="crm",
        order=95,
        check=lambda actor: any(policy.can(actor, "add", model) for _name, _label, model in PAGES),
    ),
)

PAGES = [
    ("crm:settings-scoring", gettext_lazy("Lead scoring"), LeadScoringRule),
    ("crm:settings-assignment", gettext_lazy("Lead assignment"), AssignmentRule),
    ("crm:settings-service", gettext_lazy("SLA and ticket categories"), SlaPolicy),
    ("crm:settings-pipelines", gettext_lazy("Pipelines and lost reasons"), Pipeline),
    ("crm:settings-custom-fields", gettext_lazy("Custom fields"), CustomFieldSet),
    ("crm:settings-pool", gettext_lazy("Customer pool"), PoolRule),
    ("crm:settings-quote-approval", gettext_lazy("Quote approval"), QuoteApprovalRule),
]


def _tabs(actor, current: str) -> list[dict]:
    return [
        {"url": reverse(name), "label": label, "current": name == current}
        for name, label, model in PAGES
        if policy.can(actor, "view", model)
    ]


def _page(request, current: str, **context):
    return render(request, "crm/settings_page.html", {"tabs": _tabs(request.actor, current), **context})


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").replace("，", ",").replace(",", "\n").splitlines() if line.strip()]


def _delete_view(select, delete, keyword: str, page: str):
    """The POST view removing one record of ``select(actor)`` through its service ``delete(<keyword>=…, by=…)``."""

    @require_POST
    @actor_required
    def view(request, pk: int):
        actor = request.actor
        record = policy.get_visible_or_404(actor, select(actor), pk=pk)
        require(actor, "delete", record)
        try:
            delete(**{keyword: record}, by=actor.user)
        except (ValidationError, CrmConflict) as error:  # the service's reason, on the page it came from
            messages.error(request, refusal_message(error))
            return redirect(page)
        messages.success(request, _("%(name)s was removed.") % {"name": getattr(record, "name", None) or record})
        return redirect(page)

    return view


def _submitted(request, form, *, model, save, message: str, page: str, action: str = "add"):
    """A settings form posted: refused (403) unless the actor may ``action`` (add) ``model`` (a model, or the
    record changed); when the form is valid, ``save(cleaned_data)`` through a service and back to ``page`` with
    ``message``. ``None`` when the form or the service refused (its messages are then on the form)."""
    require(request.actor, action, model)
    if not form.is_valid():
        return None
    try:
        save(form.cleaned_data)
    except ValidationError as error:
        apply_errors(form, error)
        return None
    messages.success(request, message)
    return redirect(page)


def _delete_url(actor, model, name: str, pk: int) -> str | None:
    return reverse(name, args=[pk]) if policy.can(actor, "delete", model) else None


@actor_required
def settings_home(request):
    tabs = _tabs(request.actor, "")
    if not tabs:
        raise PermissionDenied
    return redirect(tabs[0]["url"])


# ---------------------------------------------------------------- lead scoring


class ScoringRuleForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    field = forms.ChoiceField(label=gettext_lazy("Field"), choices=LeadScoringRule.Field.choices)
    custom_key = forms.CharField(
        label=gettext_lazy("Custom field key"),
        max_length=40,
        required=False,
        help_text=gettext_lazy("For “Custom field”"),
    )
    operator = forms.ChoiceField(label=gettext_lazy("Condition"), choices=LeadScoringRule.Operator.choices)
    value = forms.CharField(
        label=gettext_lazy("Value"),
        max_length=500,
        required=False,
        help_text=gettext_lazy("For “is one of”: several values, separated by commas"),
    )
    points = forms.IntegerField(label=gettext_lazy("Points"), min_value=-100, max_value=100)


def _condition(rule: LeadScoringRule) -> str:
    value = ", ".join(map(str, rule.value)) if isinstance(rule.value, list) else str(rule.value or "")
    key = f" ({rule.custom_key})" if rule.custom_key else ""
    return f"{rule.get_field_display()}{key} {rule.get_operator_display()} {value}".strip()


@actor_required
def scoring_rules(request):
    actor = request.actor
    require(actor, "view", LeadScoringRule)
    can_add = policy.can(actor, "add", LeadScoringRule)
    form = ScoringRuleForm(request.POST or None)
    if request.method == "POST":

        def save(data):
            value = _lines(data["value"]) if data["operator"] == "in" else data["value"].strip()
            lead_services.lead_scoring_rule_create(company=actor.company, by=actor.user, **{**data, "value": value})

        done = _submitted(
            request,
            form,
            model=LeadScoringRule,
            save=save,
            message=_("The rule was added. New and edited leads are scored with it."),
            page="crm:settings-scoring",
        )
        if done:
            return done
    rules = selectors.lead_scoring_rules_visible_to(actor).order_by("id")
    rows = [
        {
            "cells": [
                rule.name,
                _condition(rule),
                f"{rule.points:+d}",
            ],
            "delete_url": _delete_url(actor, LeadScoringRule, "crm:settings-scoring-delete", rule.pk),
            "label": rule.name,
        }
        for rule in rules
    ]
    return _page(
        request,
        "crm:settings-scoring",
        title=_("Lead scoring"),
        intro=_("A lead's score is the sum of the points of the rules it matches, kept within 0–100."),
        columns=[_("Rule"), _("When"), _("Points")],
        rows=rows,
        form=form if can_add else None,
        form_title=_("Add a rule"),
    )


scoring_rule_delete = _delete_view(
    selectors.lead_scoring_rules_visible_to, lead_services.lead_scoring_rule_delete, "rule", "crm:settings-scoring"
)


# ---------------------------------------------------------------- lead assignment


class AssignmentRuleForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=AssignmentRule.Kind.choices)
    match_values = forms.CharField(
        label=gettext_lazy("Provinces or sources"),
        required=False,
        help_text=gettext_lazy("By province: 广东, 福建 … By source: source codes (%(codes)s)")
        % {"codes": ", ".join(Source.values)},
    )
    assignees = forms.ModelMultipleChoiceField(queryset=None, label=gettext_lazy("Assignees (in turn)"))
    priority = forms.IntegerField(
        label=gettext_lazy("Priority"),
        min_value=0,
        max_value=10_000,
        initial=100,
        help_text=gettext_lazy("Lower runs first"),
    )

    def __init__(self, *args, members, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignees"].queryset = members
        self.fields["assignees"].label_from_instance = person_name


@actor_required
def assignment_rules(request):
    actor = request.actor
    require(actor, "view", AssignmentRule)
    can_add = policy.can(actor, "add", AssignmentRule)
    form = AssignmentRuleForm(request.POST or None, members=selectors.assignable_users(actor))
    if request.method == "POST":

        def save(data):
            data = {**data, "match_values": _lines(data["match_values"]), "assignees": list(data["assignees"])}
            lead_services.assignment_rule_create(company=actor.company, by=actor.user, **data)

        done = _submitted(
            request,
            form,
            model=AssignmentRule,
            save=save,
            message=_("The rule was added. New leads are routed by it."),
            page="crm:settings-assignment",
        )
        if done:
            return done
    rules = selectors.assignment_rules_visible_to(actor).prefetch_related("assignees").order_by("priority", "id")
    rows = [
        {
            "cells": [
                rule.name,
                f"{rule.get_kind_display()}{': ' + ', '.join(rule.match_values) if rule.match_values else ''}",
                ", ".join(person_name(user) for user in rule.assignees.all()),
                str(rule.priority),
            ],
            "delete_url": _delete_url(actor, AssignmentRule, "crm:settings-assignment-delete", rule.pk),
            "label": rule.name,
        }
        for rule in rules
    ]
    return _page(
        request,
        "crm:settings-assignment",
        title=_("Lead assignment"),
        intro=_("A new lead without an owner goes to the first matching active rule, lowest priority first."),
        columns=[_("Rule"), _("Matches"), _("Assignees"), _("Priority")],
        rows=rows,
        form=form if can_add else None,
        form_title=_("Add a rule"),
    )


assignment_rule_delete = _delete_view(
    selectors.assignment_rules_visible_to, lead_services.assignment_rule_delete, "rule", "crm:settings-assignment"
)


# ---------------------------------------------------------------- service: SLA targets and ticket categories


class SlaForm(forms.Form):
    priority = forms.ChoiceField(label=gettext_lazy("Priority"), choices=TicketPriority.choices)
    first_response_minutes = forms.IntegerField(label=gettext_lazy("First response within (minutes)"), min_value=1)
    resolution_minutes = forms.IntegerField(label=gettext_lazy("Resolution within (minutes)"), min_value=1)


class CategoryForm(forms.Form):
    category_name = forms.CharField(label=gettext_lazy("New ticket category"), max_length=100)
    category_team = forms.ModelChoiceField(queryset=None, label=gettext_lazy("Default team"), required=False)

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category_team"].queryset = teams


@actor_required
def service_settings(request):
    actor = request.actor
    require(actor, "view", SlaPolicy)
    teams = policy.scope(actor, Team.objects.all()).order_by("name")
    is_category = request.method == "POST" and "category_name" in request.POST
    sla_form = SlaForm(request.POST if request.method == "POST" and not is_category else None)
    category_form = CategoryForm(request.POST if is_category else None, teams=teams)
    done = None
    if is_category:
        done = _submitted(
            request,
            category_form,
            model=TicketCategory,
            save=lambda data: ticket_services.ticket_category_create(
                company=actor.company, by=actor.user, name=data["category_name"], default_team=data["category_team"]
            ),
            message=_("The category was added."),
            page="crm:settings-service",
        )
    elif request.method == "POST":
        done = _submitted(
            request,
            sla_form,
            model=SlaPolicy,
            save=lambda data: ticket_services.sla_policy_set(company=actor.company, by=actor.user, **data),
            message=_("The SLA targets were saved. Tickets opened from now on use them."),
            page="crm:settings-service",
        )
    if done:
        return done
    policies = {p.priority: p for p in policy.scope(actor, SlaPolicy.objects.all())}
    rows = [
        {
            "cells": [
                label,
                str(policies[value].first_response_minutes) if value in policies else "—",
                str(policies[value].resolution_minutes) if value in policies else "—",
            ],
            "delete_url": _delete_url(actor, SlaPolicy, "crm:settings-sla-delete", policies[value].pk)
            if value in policies
            else None,
            "label": label,
        }
        for value, label in TicketPriority.choices
    ]
    categories = selectors.ticket_categories_visible_to(actor).select_related("default_team").order_by("name")
    can_change = policy.can(actor, "add", SlaPolicy)
    return _page(
        request,
        "crm:settings-service",
        title=_("SLA and ticket categories"),
        intro=_("Each priority's targets set the first-response and resolution due times of the tickets opened."),
        columns=[_("Priority"), _("First response (min)"), _("Resolution (min)")],
        rows=rows,
        form=sla_form if can_change else None,
        form_title=_("Set the targets of a priority"),
        extra_title=_("Ticket categories"),
        extra_rows=[
            f"{local_name(category)}{' · ' + category.default_team.name if category.default_team else ''}"
            f"{'' if category.is_active else ' · ' + _('inactive')}"
            for category in categories
        ],
        extra_form=category_form if policy.can(actor, "add", TicketCategory) else None,
    )


sla_policy_delete = _delete_view(
    lambda actor: policy.scope(actor, SlaPolicy.objects.all()),
    ticket_services.sla_policy_delete,
    "policy",
    "crm:settings-service",
)


# ---------------------------------------------------------------- pipelines and lost reasons


class PipelineForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    name_en = forms.CharField(label=gettext_lazy("English name"), max_length=100, required=False)
    stages = forms.CharField(
        label=gettext_lazy("Open stages, in order"),
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=gettext_lazy("One per line: name, win probability (%). E.g. 立项, 10"),
    )
    won_name = forms.CharField(label=gettext_lazy("Won stage"), max_length=100, initial="赢单")
    lost_name = forms.CharField(label=gettext_lazy("Lost stage"), max_length=100, initial="输单")
    is_default = forms.BooleanField(label=gettext_lazy("The default pipeline of new deals"), required=False)

    def clean_stages(self):
        stages = []
        for number, line in enumerate(self.cleaned_data["stages"].splitlines(), start=1):
            if not line.strip():
                continue
            name, _comma, probability = line.replace("，", ",").rpartition(",")
            if not name.strip() or not probability.strip().rstrip("%").isdigit():
                raise ValidationError(_("Line %(number)d: write “name, probability”.") % {"number": number})
            stages.append({"name": name.strip(), "probability": int(probability.strip().rstrip("%"))})
        return stages


class LostReasonForm(forms.Form):
    reason_name = forms.CharField(label=gettext_lazy("New lost reason"), max_length=100)


def _stage_summary(pipeline) -> str:
    return " → ".join(
        f"{local_name(stage)} {stage.probability}%{'' if stage.is_active else ' (' + _('inactive') + ')'}"
        for stage in pipeline.stages.all()
    )


class PipelineEditForm(forms.Form):
    """An existing pipeline's name, its nudge for idle deals and whether it is in use (``pipeline_update``)."""

    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    name_en = forms.CharField(label=gettext_lazy("English name"), max_length=100, required=False)
    stale_after_days = forms.IntegerField(
        label=gettext_lazy("Nudge after days without activity"),
        min_value=1,
        max_value=365,
        required=False,
        help_text=gettext_lazy("Owners of open deals idle this long are reminded; empty: never"),
    )
    is_active = forms.BooleanField(label=gettext_lazy("In use"), required=False)

    def __init__(self, *args, pipeline: Pipeline, **kwargs):
        initial = {name: getattr(pipeline, name) for name in ("name", "name_en", "stale_after_days", "is_active")}
        super().__init__(*args, initial=initial, auto_id=f"pipeline{pipeline.pk}-%s", **kwargs)


class StageEditForm(forms.Form):
    """One row of a pipeline's stage table (``stage_update``): its inputs sit in the row's cells and belong to
    the row's ``<form>`` by their ``form`` attribute. The won and lost stages keep 100 % / 0 %."""

    name = forms.CharField(label=gettext_lazy("Stage"), max_length=100)
    name_en = forms.CharField(label=gettext_lazy("English name"), max_length=100, required=False)
    probability = forms.IntegerField(label=gettext_lazy("Win probability (%)"), min_value=0, max_value=100)

    def __init__(self, *args, stage: Stage, **kwargs):
        initial = {"name": stage.name, "name_en": stage.name_en, "probability": stage.probability}
        super().__init__(*args, initial=initial, auto_id=f"stage{stage.pk}-%s", **kwargs)
        self.html_id = f"stage-form-{stage.pk}"
        self.fields["probability"].disabled = stage.is_closed
        for field in self.fields.values():
            field.widget.attrs.update(
                {"form": self.html_id, "aria-label": f"{field.label} · {stage.name}", "class": "cell-input"}
            )


class StageAddForm(forms.Form):
    """A new open stage of a pipeline (``crm.services.stages.stage_create``), placed among its open stages."""

    name = forms.CharField(label=gettext_lazy("Stage"), max_length=100)
    name_en = forms.CharField(label=gettext_lazy("English name"), max_length=100, required=False)
    probability = forms.IntegerField(label=gettext_lazy("Win probability (%)"), min_value=0, max_value=100)
    position = forms.TypedChoiceField(
        label=gettext_lazy("Place"), coerce=int, empty_value=None, required=False, choices=()
    )

    def __init__(self, *args, pipeline: Pipeline, open_stages: list[Stage], **kwargs):
        super().__init__(*args, auto_id=f"add{pipeline.pk}-%s", **kwargs)
        self.fields["position"].choices = [
            ("", _("Last, before won and lost")),
            *([("0", _("First"))] if open_stages else []),
            *(
                (str(index), _("After %(stage)s") % {"stage": local_name(stage)})
                for index, stage in enumerate(open_stages[:-1], start=1)
            ),
        ]


def _deal_counts(actor) -> dict[int, int]:
    """How many deals are in each stage (one query, whatever the number of stages)."""
    rows = selectors.opportunities_visible_to(actor).order_by().values("stage_id").annotate(n=Count("pk"))
    return {row["stage_id"]: row["n"] for row in rows}


def _shown(bound: dict, key: tuple, allowed: bool, form_class, **kwargs):
    """The form of ``key`` on the page: the one posted and refused (with its messages), else a fresh
    ``form_class(**kwargs)``; none when the actor may not use it."""
    if not allowed:
        return None
    return bound[key] if key in bound else form_class(**kwargs)


def _pipeline_cards(actor, pipelines, bound: dict) -> list[dict]:
    """Per pipeline: its edit form and stage table (a form per stage row, the add-stage form) for those who may
    change them, the plain table for the others. ``bound`` holds the forms posted and refused, shown again with
    their messages: ``("pipeline" | "stage" | "add", pk) → form``."""
    can_change = policy.can(actor, "change", Pipeline)
    can_change_stage, can_add_stage = policy.can(actor, "change", Stage), policy.can(actor, "add", Stage)
    can_delete_stage = policy.can(actor, "delete", Stage)
    counts = _deal_counts(actor)
    cards = []
    for pipeline in pipelines:
        stages = list(pipeline.stages.all())
        open_stages = [stage for stage in stages if not stage.is_closed]
        rows = []
        for stage in stages:
            position = open_stages.index(stage) if not stage.is_closed else None
            rows.append(
                {
                    "stage": stage,
                    "kind": _("Won") if stage.is_won else _("Lost") if stage.is_lost else _("Open"),
                    "deals": counts.get(stage.pk, 0),
                    "form": _shown(bound, ("stage", stage.pk), can_change_stage, StageEditForm, stage=stage),
                    "edit_url": reverse("crm:settings-stage-edit", args=[stage.pk]),
                    "move_url": reverse("crm:settings-stage-move", args=[stage.pk]),
                    "active_url": reverse("crm:settings-stage-active", args=[stage.pk]),
                    "can_up": can_change_stage and position not in (None, 0),
                    "can_down": can_change_stage and position is not None and position < len(open_stages) - 1,
                    "can_retire": can_change_stage and not stage.is_closed,
                    "delete_url": _delete_url(actor, Stage, "crm:settings-stage-delete", stage.pk)
                    if can_delete_stage and not stage.is_closed
                    else None,
                }
            )
        cards.append(
            {
                "pipeline": pipeline,
                "summary": _stage_summary(pipeline),
                "rows": rows,
                "form": _shown(bound, ("pipeline", pipeline.pk), can_change, PipelineEditForm, pipeline=pipeline),
                "edit_url": reverse("crm:settings-pipeline-edit", args=[pipeline.pk]),
                "default_url": reverse("crm:settings-pipeline-default", args=[pipeline.pk])
                if can_change and not pipeline.is_default and pipeline.is_active
                else None,
                "add_form": _shown(
                    bound, ("add", pipeline.pk), can_add_stage, StageAddForm, pipeline=pipeline, open_stages=open_stages
                ),
                "add_url": reverse("crm:settings-stage-add", args=[pipeline.pk]),
                "can_change_stages": can_change_stage,
            }
        )
    return cards


def _pipeline_page(request, *, pipeline_form=None, reason_form=None, bound: dict | None = None):
    actor = request.actor
    if bound:  # the refused form may be far down the page: say so at the top too
        messages.error(request, _("Nothing was changed: see the messages on the form."))
    pipelines = selectors.pipelines_visible_to(actor).order_by("-is_default", "-is_active", "sort_order", "name")
    reasons = selectors.lost_reasons_visible_to(actor).order_by("sort_order", "name")
    return _page(
        request,
        "crm:settings-pipelines",
        title=_("Pipelines and lost reasons"),
        intro=_(
            "Deals move through a pipeline's stages; the win probabilities weigh the forecast. Rename, re-weight, "
            "reorder, add and retire stages here; the won and lost stages close every pipeline."
        ),
        pipeline_cards=_pipeline_cards(actor, pipelines, bound or {}),
        form=(pipeline_form or PipelineForm()) if policy.can(actor, "add", Pipeline) else None,
        form_title=_("New pipeline"),
        extra_title=_("Lost reasons"),
        extra_rows=[f"{local_name(reason)}{'' if reason.is_active else ' · ' + _('inactive')}" for reason in reasons],
        extra_form=(reason_form or LostReasonForm()) if policy.can(actor, "add", LostReason) else None,
    )


@actor_required
def pipeline_settings(request):
    actor = request.actor
    require(actor, "view", Pipeline)
    is_reason = request.method == "POST" and "reason_name" in request.POST
    pipeline_form = PipelineForm(request.POST if request.method == "POST" and not is_reason else None)
    reason_form = LostReasonForm(request.POST if is_reason else None)
    done = None
    if is_reason:
        done = _submitted(
            request,
            reason_form,
            model=LostReason,
            save=lambda data: opportunity_services.lost_reason_create(
                company=actor.company, by=actor.user, name=data["reason_name"]
            ),
            message=_("The lost reason was added."),
            page="crm:settings-pipelines",
        )
    elif request.method == "POST":

        def save(data):
            stages = [
                *data["stages"],
                {"name": data["won_name"], "probability": 100, "is_won": True},
                {"name": data["lost_name"], "probability": 0, "is_lost": True},
            ]
            opportunity_services.pipeline_create(
                company=actor.company,
                by=actor.user,
                name=data["name"],
                name_en=data["name_en"],
                stages=stages,
                is_default=data["is_default"],
            )

        done = _submitted(
            request,
            pipeline_form,
            model=Pipeline,
            save=save,
            message=_("The pipeline was created: new deals can be put on it."),
            page="crm:settings-pipelines",
        )
    if done:
        return done
    return _pipeline_page(request, pipeline_form=pipeline_form, reason_form=reason_form)


def _visible_pipeline(actor, pk: int) -> Pipeline:
    return policy.get_visible_or_404(actor, selectors.pipelines_visible_to(actor), pk=pk)


def _visible_stage(actor, pk: int) -> Stage:
    return policy.get_visible_or_404(actor, selectors.stages_visible_to(actor), pk=pk)


def _acted(request, record, do, message: str):
    """A button of the stage table (move, retire, make default): refused (403) unless the actor may change
    ``record``; ``do()`` through a service; back to the page with ``message``, or with the service's reason."""
    require(request.actor, "change", record)
    try:
        do()
    except (ValidationError, CrmConflict) as error:
        messages.error(request, refusal_message(error))
    else:
        messages.success(request, message)
    return redirect("crm:settings-pipelines")


@require_POST
@actor_required
def pipeline_edit(request, pk: int):
    """Rename a pipeline, set its nudge for idle deals, retire or restore it (``pipeline_update``)."""
    actor = request.actor
    pipeline = _visible_pipeline(actor, pk)
    form = PipelineEditForm(request.POST, pipeline=pipeline)
    done = _submitted(
        request,
        form,
        model=pipeline,
        action="change",
        save=lambda data: opportunity_services.pipeline_update(pipeline=pipeline, by=actor.user, **data),
        message=_("The pipeline was saved."),
        page="crm:settings-pipelines",
    )
    return done or _pipeline_page(request, bound={("pipeline", pipeline.pk): form})


@require_POST
@actor_required
def pipeline_make_default(request, pk: int):
    """Make a pipeline the one new deals go on (``pipeline_update``; the previous default is cleared)."""
    actor = request.actor
    pipeline = _visible_pipeline(actor, pk)
    return _acted(
        request,
        pipeline,
        lambda: opportunity_services.pipeline_update(pipeline=pipeline, by=actor.user, is_default=True),
        _("%(name)s is the default pipeline now.") % {"name": local_name(pipeline)},
    )


@require_POST
@actor_required
def stage_add(request, pk: int):
    """Add an open stage to a pipeline (``crm.services.stages.stage_create``)."""
    actor = request.actor
    pipeline = _visible_pipeline(actor, pk)
    open_stages = [stage for stage in pipeline.stages.all() if not stage.is_closed]
    form = StageAddForm(request.POST, pipeline=pipeline, open_stages=open_stages)
    done = _submitted(
        request,
        form,
        model=Stage,
        save=lambda data: stage_services.stage_create(pipeline=pipeline, by=actor.user, **data),
        message=_("The stage was added."),
        page="crm:settings-pipelines",
    )
    return done or _pipeline_page(request, bound={("add", pipeline.pk): form})


@require_POST
@actor_required
def stage_edit(request, pk: int):
    """Rename or re-weight a stage (``stage_update``, as ``PATCH /api/v1/crm/stages/<id>/``)."""
    actor = request.actor
    stage = _visible_stage(actor, pk)
    form = StageEditForm(request.POST, stage=stage)
    done = _submitted(
        request,
        form,
        model=stage,
        action="change",
        save=lambda data: opportunity_services.stage_update(stage=stage, by=actor.user, **data),
        message=_("The stage was saved."),
        page="crm:settings-pipelines",
    )
    return done or _pipeline_page(request, bound={("stage", stage.pk): form})


@require_POST
@actor_required
def stage_move(request, pk: int):
    """Move an open stage one place up or down (``?direction=up|down`` in the form)."""
    actor = request.actor
    stage = _visible_stage(actor, pk)
    return _acted(
        request,
        stage,
        lambda: stage_services.stage_move(stage=stage, direction=request.POST.get("direction", ""), by=actor.user),
        _("The stages were reordered."),
    )


@require_POST
@actor_required
def stage_set_active(request, pk: int):
    """Retire a stage (``active=0``: ``stage_retire``, which says why not) or put it back in use (``active=1``)."""
    actor = request.actor
    stage = _visible_stage(actor, pk)
    if request.POST.get("active") == "1":
        return _acted(
            request,
            stage,
            lambda: opportunity_services.stage_update(stage=stage, by=actor.user, is_active=True),
            _("%(name)s is in use again.") % {"name": local_name(stage)},
        )
    return _acted(
        request,
        stage,
        lambda: stage_services.stage_retire(stage=stage, by=actor.user),
        _("%(name)s was retired: it is kept in the history of the deals that went through it.")
        % {"name": local_name(stage)},
    )


stage_delete = _delete_view(selectors.stages_visible_to, stage_services.stage_delete, "stage", "crm:settings-pipelines")


# ---------------------------------------------------------------- custom fields


class CustomFieldsForm(forms.Form):
    target = forms.ChoiceField(label=gettext_lazy("Record"), choices=CustomFieldTarget.choices)
    schema = forms.CharField(
        label=gettext_lazy("Fields (JSON Schema)"),
        widget=forms.Textarea(attrs={"rows": 14, "class": "mono"}),
        help_text=gettext_lazy(
            'An object schema: {"type": "object", "properties": {"level": {"type": "string", "enum": ["A", "B"], '
            '"title": "等级"}}, "required": ["level"]}. Types: string (enum, format date or email), integer, '
            "number, boolean, arrays of those."
        ),
    )

    def clean_schema(self):
        try:
            return json.loads(self.cleaned_data["schema"])
        except json.JSONDecodeError as error:
            raise ValidationError(_("Not valid JSON: %(error)s") % {"error": error.msg}) from None


def _schema_text(schema: dict | None) -> str:
    """The stored schema as the admin wrote it: the properties in their order, without the stored extras."""
    shown = {"type": "object", "properties": custom_fields.properties_in_order(schema)}
    if (schema or {}).get("required"):
        shown["required"] = schema["required"]
    return json.dumps(shown, ensure_ascii=False, indent=2)


@actor_required
def custom_fields_settings(request):
    actor = request.actor
    require(actor, "view", CustomFieldSet)
    target = request.POST.get("target") or request.GET.get("target") or CustomFieldTarget.ACCOUNT
    if target not in CustomFieldTarget.values:
        target = CustomFieldTarget.ACCOUNT
    current = policy.scope(actor, CustomFieldSet.objects.filter(target=target)).first()
    form = CustomFieldsForm(
        request.POST or None, initial={"target": target, "schema": _schema_text(current.schema if current else None)}
    )
    if request.method == "POST":
        done = _submitted(
            request,
            form,
            model=CustomFieldSet,
            save=lambda data: custom_field_services.custom_field_set_define(
                company=actor.company, target=target, schema=data["schema"], by=actor.user
            ),
            message=_("The custom fields were saved: the forms show them now."),
            page=f"{reverse('crm:settings-custom-fields')}?target={target}",
        )
        if done:
            return done
    properties = custom_fields.properties_in_order(current.schema if current else None).items()
    rows = [
        {
            "cells": [
                name,
                spec.get("title") or "—",
                spec.get("type", ""),
                ", ".join(map(str, spec.get("enum") or [])),
            ],
            "delete_url": None,
            "label": name,
        }
        for name, spec in properties
    ]
    return _page(
        request,
        "crm:settings-custom-fields",
        title=_("Custom fields"),
        intro=_("The fields a kind of record gets on its forms and page, filterable in the API (?custom.<key>=)."),
        targets=[(value, label, value == target) for value, label in CustomFieldTarget.choices],
        columns=[_("Key"), _("Label"), _("Type"), _("Choices")],
        rows=rows,
        form=form if policy.can(actor, "add", CustomFieldSet) else None,
        form_title=_("Edit the fields"),
    )


# ---------------------------------------------------------------- customer pool (客户公海)


class PoolRuleForm(forms.ModelForm):
    stages = forms.MultipleChoiceField(
        label=gettext_lazy("Lifecycle stages that go back"),
        choices=LifecycleStage.choices,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = PoolRule
        fields = list(pool_services.RULE_FIELDS)


def _rule_page(request, *, page: str, model, rule, form_class, save, saved: str, rows, title, intro):
    """A company rule's settings page (one rule per company: the pool's, quote approval's): what is set, and for
    those who may set it the form, saved through ``save(company, by, **fields)``."""
    actor = request.actor
    require(actor, "view", model)
    action = "change" if rule.pk else "add"
    form = form_class(request.POST or None, instance=rule) if policy.can(actor, action, model) else None
    if request.method == "POST":
        done = _submitted(
            request,
            form,
            model=model,
            action=action,
            save=lambda data: save(company=actor.company, by=actor.user, **data),
            message=saved,
            page=reverse(page),
        )
        if done:
            return done
    return _page(
        request,
        page,
        title=title,
        intro=intro,
        columns=[_("Setting"), _("Value")],
        rows=[{"cells": row, "label": row[0]} for row in rows],
        form=form,
        form_title=_("Change the rule"),
    )


@actor_required
def pool_settings(request):
    rule = pool_rule_of(request.actor.company_id)
    stages = dict(LifecycleStage.choices)
    rows = [
        (_("Idle accounts go back to the pool"), _("Yes") if rule.is_active else _("No")),
        (_("Days without follow-up"), rule.idle_days),
        (_("Lifecycle stages that go back"), ", ".join(str(stages[stage]) for stage in rule.stages)),
        (_("Most accounts one salesperson holds"), rule.max_owned or _("No limit")),
        (_("Most claims per salesperson and day"), rule.max_claims_per_day or _("No limit")),
        (_("Days before a previous owner may claim it again"), rule.reclaim_after_days),
        (_("Days' warning to the owner"), rule.warn_days or _("No warning")),
        (_("Each team keeps its own pool"), _("Yes") if rule.by_team else _("No")),
    ]
    return _rule_page(
        request,
        page="crm:settings-pool",
        model=PoolRule,
        rule=rule,
        form_class=PoolRuleForm,
        save=pool_services.pool_rule_set,
        saved=_("The customer pool rule was saved."),
        rows=rows,
        title=_("Customer pool"),
        intro=_(
            "Accounts nobody owns are in the customer pool, where every salesperson may claim them. With the rule "
            "on, an account nobody followed up (no activity logged, planned or done, no claim) for the days set "
            "goes back to the pool every hour — never one with an open deal."
        ),
    )


# ---------------------------------------------------------------- quote approval (报价审批)


class QuoteApprovalRuleForm(forms.ModelForm):
    class Meta:
        model = QuoteApprovalRule
        fields = ["is_active", "max_discount_percent", "admin_discount_percent", "max_total"]


@actor_required
def quote_approval_settings(request):
    rule = quote_approvals.approval_rule_of(request.actor.company_id)
    rows = [
        (_("Quotes beyond the limits need approval"), _("Yes") if rule.is_active else _("No")),
        (_("Largest discount without approval"), f"{rule.max_discount_percent} %"),
        (
            _("Beyond this discount an admin approves too"),
            f"{rule.admin_discount_percent} %" if rule.admin_discount_percent is not None else _("No second level"),
        ),
        (_("Largest total without approval"), rule.max_total if rule.max_total is not None else _("No limit")),
    ]
    return _rule_page(
        request,
        page="crm:settings-quote-approval",
        model=QuoteApprovalRule,
        rule=rule,
        form_class=QuoteApprovalRuleForm,
        save=quote_approvals.approval_rule_set,
        saved=_("The quote approval rule was saved."),
        rows=rows,
        title=_("Quote approval"),
        intro=_(
            "A quote with a line discounted beyond the limit, or a total beyond it, goes to the customer only after "
            "a manager of the deal's team (else an admin) approves it — beyond the second level, the manager and "
            "then an admin. The salesperson asks from the deal's page; nobody approves their own quote."
        ),
    )
