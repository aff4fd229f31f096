"""Campaign members in the browser: add the customers of a list filter / search (accounts, contacts or leads)
or of a saved segment (SCRM's saved contact filters, compiled by ``crm.selectors_segments``) to a campaign —
picked ones or all that match — and remove a member added by mistake. Policy: adding and removing need the
"add" / "delete" permission on campaign members (admins, marketing); the candidates are what the actor may see."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors
from crm import selectors_campaigns as campaign_selectors
from crm.models import Account, CampaignMember, Contact, Lead, LifecycleStage
from crm.selectors_segments import SegmentQueryError, customers_in_segment
from crm.services import campaigns as campaign_services
from crm.views.common import require
from scrm import selectors as scrm_selectors
from suite import policy
from suite.ui import search as shell_search
from suite.ui.choices import chosen_many
from suite.ui.records import actor_required

MAX_ADD_AT_ONCE = 2000
PREVIEW = 50
SOURCES = {"account": Account, "contact": Contact, "lead": Lead}


def _segments(actor) -> list:
    try:
        return list(scrm_selectors.segments_visible_to(actor)[:200])
    except LookupError:  # SCRM not installed in this company's policy set
        return []


def _candidates(actor, params) -> tuple[str, object, dict]:
    """The records the filter names, as the actor may see them: ``(source, queryset, filters)``."""
    source = params.get("source", "account")
    segment_id = params.get("segment", "")
    if source == "segment":
        segment = next((s for s in _segments(actor) if str(s.pk) == segment_id), None)
        if segment is None:
            return source, Contact.objects.none(), {"segment": segment_id}
        try:
            contacts = customers_in_segment(company_id=actor.company_id, query=segment.query)
        except SegmentQueryError:
            return source, Contact.objects.none(), {"segment": segment_id}
        visible = policy.scope(actor, Contact.objects.filter(pk__in=contacts.values("pk")))
        return source, visible.order_by("name", "id"), {"segment": segment_id}
    if source not in SOURCES:
        source = "account"
    query = shell_search.normalize(params.get("q", ""))
    filters = {"q": query} if query else {}
    if source == "account":
        records = selectors.accounts_visible_to(actor, search=query)
    elif source == "contact":
        records = selectors.contacts_visible_to(actor, search=query)
    else:
        records = selectors.leads_visible_to(actor, search=query)
    stage = params.get("stage", "")
    if source != "lead" and stage in LifecycleStage.values:
        records = records.filter(lifecycle_stage=stage)
        filters["stage"] = stage
    city = " ".join(params.get("city", "").split())[:50]
    if city:
        records = records.filter(city__startswith=city.removesuffix("市"))
        filters["city"] = city
    if params.get("owner") == "me":
        records = records.filter(owner=actor.user)
        filters["owner"] = "me"
    return source, records.order_by("name", "id"), filters


@actor_required
def campaign_members_add(request, pk: int):
    """GET: the filter (source, search, stage, city, mine / a segment) with the count and the first matches;
    POST: add the ticked ones (``pick``) or all that match (``all=1``, at most ``MAX_ADD_AT_ONCE``)."""
    actor = request.actor
    campaign = policy.get_visible_or_404(actor, campaign_selectors.campaigns_visible_to(actor), pk=pk)
    require(actor, "add", CampaignMember)
    params = request.POST if request.method == "POST" else request.GET
    source, records, filters = _candidates(actor, params)
    model_name = "contact" if source == "segment" else source
    if request.method == "POST":
        if params.get("all") == "1":
            chosen = list(records[: MAX_ADD_AT_ONCE + 1])
            if len(chosen) > MAX_ADD_AT_ONCE:
                messages.error(
                    request,
                    _("More than %(max)s match: narrow the filter and add them in parts.") % {"max": MAX_ADD_AT_ONCE},
                )
                return redirect(f"{request.path}?{request.POST.urlencode()}")
        else:
            chosen = chosen_many(records, request.POST.getlist("pick"))
        if not chosen:
            messages.error(request, _("Nothing to add: tick at least one customer."))
            return redirect(f"{request.path}?{request.POST.urlencode()}")
        existing = set(
            CampaignMember.objects.filter(campaign=campaign, **{f"{model_name}__in": chosen}).values_list(
                f"{model_name}_id", flat=True
            )
        )
        try:
            with transaction.atomic():
                for record in chosen:
                    if record.pk not in existing:
                        campaign_services.campaign_member_add(campaign=campaign, by=actor.user, **{model_name: record})
        except ValidationError as error:
            messages.error(request, "; ".join(error.messages))
            return redirect(f"{request.path}?{request.POST.urlencode()}")
        added = len([r for r in chosen if r.pk not in existing])
        messages.success(
            request,
            _("%(added)s added to the campaign (%(already)s were members already).")
            % {"added": added, "already": len(chosen) - added},
        )
        return redirect("crm:campaign-detail", pk=campaign.pk)
    total = records.count()
    preview = list(records[:PREVIEW])
    return render(
        request,
        "crm/campaign_members_add.html",
        {
            "campaign": campaign,
            "source": source,
            "filters": filters,
            "query_string": params.urlencode(),
            "total": total,
            "preview": preview,
            "more": total > len(preview),
            "too_many": total > MAX_ADD_AT_ONCE,
            "max_at_once": MAX_ADD_AT_ONCE,
            "segments": _segments(actor),
            "segment": params.get("segment", ""),
            "stages": LifecycleStage.choices,
            "model_name": model_name,
        },
    )


@require_POST
@actor_required
def campaign_member_remove(request, pk: int, member_pk: int):
    """Remove a member added by mistake (its touches stay: they happened)."""
    actor = request.actor
    campaign = policy.get_visible_or_404(actor, campaign_selectors.campaigns_visible_to(actor), pk=pk)
    member = policy.get_visible_or_404(
        actor, campaign_selectors.campaign_members_visible_to(actor, campaign=campaign), pk=member_pk
    )
    require(actor, "delete", member)
    campaign_services.campaign_member_remove(member=member, by=actor.user)
    messages.success(request, _("The member was removed from the campaign."))
    return redirect("crm:campaign-detail", pk=campaign.pk)
