"""Pages of segments (editor with a live count), auto-tag rules and push campaigns (form and report). Thin:
forms parse, services write, selectors read; errors are shown next to their field."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_datetime
from django.utils.timezone import make_aware
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors as crm_selectors
from scrm import selectors
from scrm.models import Behaviour, PushCampaign, RuleTrigger, Segment, TagRule
from scrm.services import pushes as push_services
from scrm.services import segments as segment_services
from suite import policy
from suite.ui.choices import chosen, chosen_id, chosen_many
from suite.ui.records import actor_required

PAGE_SIZE = 25
EXAMPLE_QUERY = {
    "and": [
        {"tag": 0},
        {"field": "province", "in": ["广东省"]},
        {"not": {"field": "lifecycle_stage", "in": ["churned"]}},
    ]
}


def _require(actor, action: str, target) -> None:
    if not policy.can(actor, action, target):
        raise PermissionDenied


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}


# ---------------------------------------------------------------- segments


@actor_required
def segment_list(request):
    actor = request.actor
    _require(actor, "view", Segment)
    page = Paginator(selectors.segments_visible_to(actor), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "scrm/segments.html", {"page": page, "can_add": policy.can(actor, "add", Segment)})


def _segment_or_404(actor, pk: int) -> Segment:
    segment = selectors.segments_visible_to(actor).filter(pk=pk).first()
    if segment is None:
        raise Http404
    return segment


def _parse_query(raw: str):
    try:
        return json.loads(raw or ""), None
    except json.JSONDecodeError as exc:
        return None, _("Not valid JSON: %(error)s") % {"error": exc.msg}


@actor_required
def segment_edit(request, pk: int | None = None):
    """Create or edit a segment; the count under the query refreshes as you type (``segment_count_view``)."""
    actor = request.actor
    segment = _segment_or_404(actor, pk) if pk else None
    _require(actor, "change" if segment else "add", segment or Segment)
    errors: dict[str, list[str]] = {}
    values = {
        "name": segment.name if segment else "",
        "description": segment.description if segment else "",
        "query": json.dumps(segment.query if segment else EXAMPLE_QUERY, ensure_ascii=False, indent=2),
    }
    if request.method == "POST":
        values = {key: request.POST.get(key, "") for key in values}
        query, problem = _parse_query(values["query"])
        if problem:
            errors["query"] = [problem]
        else:
            try:
                if segment:
                    segment = segment_services.segment_update(
                        segment=segment, by=request.user, name=values["name"], description=values["description"],
                        query=query,
                    )  # fmt: skip
                else:
                    segment = segment_services.segment_create(
                        company=actor.company, by=request.user, name=values["name"],
                        description=values["description"], query=query,
                    )  # fmt: skip
            except ValidationError as exc:
                errors = _errors(exc)
        if not errors:
            flash.success(request, _("Segment saved."))
            return redirect("scrm:segment-edit", pk=segment.pk)
    tags = crm_selectors.tags_visible_to(actor).select_related("group")
    return render(
        request,
        "scrm/segment_edit.html",
        {
            "segment": segment,
            "values": values,
            "errors": errors,
            "tags": tags,
            "fields": crm_selectors.segment_fields(),
        },
        status=400 if errors else 200,
    )


@require_POST
@actor_required
def segment_count_view(request):
    """The live count partial: the number of contacts the query in the form matches, or what is wrong."""
    actor = request.actor
    _require(actor, "view", Segment)
    query, problem = _parse_query(request.POST.get("query", ""))
    errors = [problem] if problem else crm_selectors.segment_query_errors(query, company_id=actor.company.pk)
    count = None if errors else crm_selectors.segment_count(company_id=actor.company.pk, query=query)
    return render(request, "scrm/_segment_count.html", {"count": count, "errors": errors})


# ---------------------------------------------------------------- auto-tag rules


@actor_required
def rule_list(request):
    actor = request.actor
    _require(actor, "view", TagRule)
    rules = list(selectors.tag_rules_visible_to(actor))
    tags = {
        t.pk: t
        for t in crm_selectors.tags_visible_to(actor).filter(
            pk__in={r.add_tag_id for r in rules} | {r.remove_tag_id for r in rules if r.remove_tag_id}
        )
    }
    errors: dict[str, list[str]] = {}
    values = {"trigger": "keyword"}
    if request.method == "POST":
        _require(actor, "add", TagRule)
        values = request.POST.dict()
        try:
            fields = _rule_fields(request.POST)
            segment_services.tag_rule_create(company=actor.company, by=request.user, **fields)
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            flash.success(request, _("Rule saved."))
            return redirect("scrm:rules")
    return render(
        request,
        "scrm/rules.html",
        {
            "rules": [(rule, tags.get(rule.add_tag_id), tags.get(rule.remove_tag_id)) for rule in rules],
            "all_tags": crm_selectors.tags_visible_to(actor).select_related("group"),
            "triggers": RuleTrigger.choices,
            "behaviours": Behaviour.choices,
            "values": values,
            "errors": errors,
            "can_add": policy.can(actor, "add", TagRule),
        },
        status=400 if errors else 200,
    )


def _rule_fields(post) -> dict:
    errors = {}

    def number(name, kind=int):
        raw = (post.get(name) or "").strip()
        if not raw:
            return None
        try:
            return kind(raw)
        except (ValueError, InvalidOperation):
            errors[name] = [_("Enter a number.")]
            return None

    fields = {
        "name": post.get("name", ""),
        "trigger": post.get("trigger", ""),
        "keywords": [k.strip() for k in post.get("keywords", "").replace("，", ",").split(",") if k.strip()],
        "behaviour": post.get("behaviour", ""),
        "product_ids": [],
        "min_amount": number("min_amount", Decimal),
        "crm_campaign_id": number("crm_campaign_id"),
        "add_tag_id": number("add_tag_id"),
        "remove_tag_id": number("remove_tag_id"),
    }
    for raw in post.get("product_ids", "").replace("，", ",").split(","):
        if raw.strip():
            try:
                fields["product_ids"].append(int(raw))
            except ValueError:
                errors["product_ids"] = [_("Product ids are whole numbers.")]
    if errors:
        raise ValidationError(errors)
    return fields


# ---------------------------------------------------------------- push campaigns


@actor_required
def push_list(request):
    actor = request.actor
    _require(actor, "view", PushCampaign)
    page = Paginator(selectors.push_campaigns_visible_to(actor), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "scrm/pushes.html", {"page": page, "can_add": policy.can(actor, "add", PushCampaign)})


@actor_required
def push_new(request):
    actor = request.actor
    _require(actor, "add", PushCampaign)
    segments = selectors.segments_visible_to(actor)
    channels = selectors.channels_visible_to(actor).filter(is_active=True)
    values = {"text": "{name}您好！{link} 回复TD退订"}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        values = request.POST.dict()
        segment = chosen(segments, values.get("segment"))
        chosen_channels = chosen_many(channels, request.POST.getlist("channels"))
        try:
            scheduled_at = parse_datetime(values.get("scheduled_at", "") or "")
        except ValueError:  # well-formed but impossible (30 February): the field's error below
            scheduled_at = None
        if scheduled_at is not None and scheduled_at.tzinfo is None:
            scheduled_at = make_aware(scheduled_at)
        if segment is None:
            errors["segment"] = [_("Choose a segment.")]
        if not chosen_channels:
            errors["contents"] = [_("Choose at least one channel.")]
        if values.get("scheduled_at") and scheduled_at is None:
            errors["scheduled_at"] = [_("Enter a date and time.")]
        crm_campaign_id = values.get("crm_campaign_id") or None
        if crm_campaign_id and chosen_id(crm_campaign_id) is None:
            errors["crm_campaign_id"] = [_("Enter a number.")]
        if not errors:
            try:
                campaign = push_services.push_campaign_create(
                    company=actor.company,
                    by=request.user,
                    name=values.get("name", ""),
                    segment=segment,
                    contents=[(channel, values.get("text", "")) for channel in chosen_channels],
                    link_url=values.get("link_url", ""),
                    crm_campaign_id=chosen_id(crm_campaign_id) if crm_campaign_id else None,
                    scheduled_at=scheduled_at,
                )
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                flash.success(request, _("Push campaign saved."))
                return redirect("scrm:push-detail", pk=campaign.pk)
    return render(
        request,
        "scrm/push_form.html",
        {
            "segments": segments,
            "channels": channels,
            "values": values,
            "errors": errors,
            "chosen": request.POST.getlist("channels"),
            "variables": push_services.VARIABLES,
        },
        status=400 if errors else 200,
    )


@actor_required
def push_detail(request, pk: int):
    actor = request.actor
    campaign = selectors.push_campaigns_visible_to(actor).filter(pk=pk).first()
    if campaign is None:
        raise Http404
    page = Paginator(selectors.push_messages_visible_to(actor, campaign=campaign), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "scrm/push_detail.html",
        {
            "campaign": campaign,
            "report": push_services.push_campaign_report(campaign),
            "page": page,
            "can_change": policy.can(actor, "change", campaign),
        },
    )


@require_POST
@actor_required
def push_cancel_view(request, pk: int):
    actor = request.actor
    campaign = selectors.push_campaigns_visible_to(actor).filter(pk=pk).first()
    if campaign is None:
        raise Http404
    _require(actor, "change", campaign)
    push_services.push_campaign_cancel(campaign=campaign, by=request.user)
    flash.success(request, _("Campaign cancelled."))
    return redirect("scrm:push-detail", pk=pk)
