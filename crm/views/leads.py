"""Lead pages: the list (search, status filter, sort) with a convert button, the lead's page (score explained,
activities, status), and the create / edit form."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors
from crm.errors import CrmConflict
from crm.models import Activity, Lead, LeadStatus, Source
from crm.services import leads as lead_services
from crm.views import custom_fields
from crm.views.bulk import lead_bulk_context
from crm.views.common import paginate, require, sorted_by
from crm.views.exports import export_list, export_requested
from crm.views.forms import LeadForm, apply_errors
from suite import policy
from suite.policy import Scope
from suite.ui import search as shell_search
from suite.ui.choices import chosen_id
from suite.ui.records import actor_required
from suite.ui.saved_views import default_view_redirect

LEAD_SORTS = {"score": "score", "created": "created_at", "name": "name", "company": "company_name"}
LEAD_FIELDS = [
    "name",
    "name_en",
    "company_name",
    "title",
    "phone",
    "email",
    "wechat_id",
    "province",
    "city",
    "industry",
    "source",
    "notes",
]


def _day(raw: str) -> date | None:
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None
    return day if date(1, 1, 2) <= day <= date(9999, 12, 30) else None


def _lead_filters(request, leads):
    """The list's filters besides status and search — source (抖音, web form …), owner (``me`` or a member),
    hot (score at least ``HOT_LEAD_SCORE``), created from / until (local days, inclusive) — applied to ``leads``.
    Values that cannot be read are left out, never passed to the database; the export reads the same ones."""
    params = request.GET
    filters: dict[str, str] = {}
    source = params.get("source", "")
    if source in Source.values:
        leads = leads.filter(source=source)
        filters["source"] = source
    owner = params.get("owner", "")
    if owner == "me":
        leads = leads.filter(owner=request.actor.user)
        filters["owner"] = owner
    elif chosen_id(owner) is not None:
        leads = leads.filter(owner_id=chosen_id(owner))
        filters["owner"] = str(chosen_id(owner))
    if params.get("hot") == "1":
        leads = leads.filter(score__gte=selectors.HOT_LEAD_SCORE)
        filters["hot"] = "1"
    for name, lookup, shift in (("created_from", "created_at__gte", 0), ("created_to", "created_at__lt", 1)):
        day = _day(params.get(name, ""))
        if day is not None:
            start = day + timedelta(days=shift)
            leads = leads.filter(**{lookup: timezone.make_aware(datetime(start.year, start.month, start.day))})
            filters[name] = day.isoformat()
    return leads, filters


@actor_required
def lead_list(request):
    actor = request.actor
    require(actor, "view", Lead)
    if opened_with_default := default_view_redirect(request, "crm:lead-list"):
        return opened_with_default
    query = shell_search.normalize(request.GET.get("q", ""))
    leads = selectors.leads_visible_to(actor, search=query)
    status = request.GET.get("status", "open")
    if status == "open":
        leads = leads.filter(status__in=selectors.OPEN_LEAD_STATUSES)
    elif status in LeadStatus.values:
        leads = leads.filter(status=status)
    else:
        status = "all"
    leads, filters = _lead_filters(request, leads)
    leads, sort = sorted_by(request, leads, LEAD_SORTS, "-created_at")
    if export_requested(request):
        return export_list(request, leads, "lead")
    sees_others = policy.policy_for(Lead).scope_for(actor.role) is not Scope.OWN
    return render(
        request,
        "crm/lead_list.html",
        {
            "page": paginate(request, leads),
            "query": query,
            "status": status,
            "statuses": LeadStatus.choices,
            "filters": filters,
            "sources": Source.choices,
            "members": selectors.assignable_users(actor) if sees_others else [],
            "hot_score": selectors.HOT_LEAD_SCORE,
            "sort": sort,
            "can_add": policy.can(actor, "add", Lead),
            "can_convert": policy.can(actor, "convert", Lead),
            "can_export": policy.can(actor, "export", Lead),
            "bulk": lead_bulk_context(actor),
        },
    )


def _lead_or_404(actor, pk: int) -> Lead:
    return policy.get_visible_or_404(actor, selectors.leads_visible_to(actor), pk=pk)


def _lead_form(request, instance: Lead | None = None):
    actor = request.actor
    require(actor, "change" if instance else "add", instance or Lead)
    initial = {name: getattr(instance, name) for name in LEAD_FIELDS} if instance else {}
    schema = custom_fields.schema_for(actor, "lead")
    if request.method == "POST":
        form = LeadForm(request.POST, initial=initial)
        custom_fields.add_fields(form, schema, instance.custom if instance else None)
        if form.is_valid():
            data = {name: form.cleaned_data[name] for name in LEAD_FIELDS}
            custom = custom_fields.changes(form)
            try:
                if instance is None:
                    lead = lead_services.lead_create(company=actor.company, by=actor.user, custom=custom, **data)
                    messages.success(request, _("The lead %(name)s was created.") % {"name": lead})
                else:
                    changed = {k: v for k, v in data.items() if form.initial.get(k) != v}
                    lead = lead_services.lead_update(lead=instance, by=actor.user, custom=custom, **changed)
                    messages.success(request, _("Your changes were saved."))
                return redirect("crm:lead-list")
            except ValidationError as error:
                apply_errors(form, error)
            except CrmConflict as error:
                form.add_error(None, str(error.message))
    else:
        form = LeadForm(initial=initial)
        custom_fields.add_fields(form, schema, instance.custom if instance else None)
    return render(
        request,
        "crm/form.html",
        {
            "form": form,
            "instance": instance,
            "kind": "lead",
            "title": _("Edit lead %(name)s") % {"name": instance} if instance else _("New lead"),
            "back": reverse("crm:lead-list"),
        },
    )


@actor_required
def lead_create(request):
    return _lead_form(request)


@actor_required
def lead_edit(request, pk: int):
    return _lead_form(request, _lead_or_404(request.actor, pk))


@actor_required
def lead_detail(request, pk: int):
    """A lead's page: its details and custom values, why it has its score (the matched rules and their points),
    its activities, and the actions (edit, log an activity, convert, change the status)."""
    actor = request.actor
    lead = policy.get_visible_or_404(
        actor, selectors.leads_visible_to(actor).select_related("owner", "team", "campaign"), pk=pk
    )
    return render(
        request,
        "crm/lead_detail.html",
        {
            "lead": lead,
            "explanation": lead.score_explanation or {},
            "activities": selectors.activities_visible_to(actor, lead=lead).order_by("-created_at")[:30],
            "statuses": [(value, label) for value, label in LeadStatus.choices if value != LeadStatus.CONVERTED],
            "custom_values": custom_fields.shown(custom_fields.schema_for(actor, "lead"), lead.custom),
            "can_change": policy.can(actor, "change", Lead),
            "can_convert": policy.can(actor, "convert", Lead),
            "can_add_activity": policy.can(actor, "add", Activity),
        },
    )


@require_POST
@actor_required
def lead_status(request, pk: int):
    """Move the lead to new / contacted / qualified / disqualified (with the reason), from its page."""
    actor = request.actor
    lead = _lead_or_404(actor, pk)
    require(actor, "change", lead)
    try:
        lead_services.lead_status_set(
            lead=lead, status=request.POST.get("status", ""), by=actor.user, reason=request.POST.get("reason", "")
        )
        messages.success(request, _("Your changes were saved."))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except CrmConflict as error:
        messages.error(request, str(error.message))
    return redirect("crm:lead-detail", pk=lead.pk)


@require_POST
@actor_required
def lead_convert(request, pk: int):
    """Convert the lead into account + contact + opportunity (reusing existing customers) and go to the new
    customer's page."""
    actor = request.actor
    lead = _lead_or_404(actor, pk)
    require(actor, "convert", lead)
    try:
        result = lead_services.lead_convert(lead=lead, by=actor.user)
    except CrmConflict as error:
        messages.error(request, str(error.message))
        return redirect("crm:lead-list")
    reused = _(" (existing customer records were reused)") if result.reused else ""
    messages.success(
        request,
        _("%(lead)s was converted: customer and opportunity created%(reused)s.") % {"lead": lead, "reused": reused},
    )
    if result.account is not None:
        return redirect("crm:account-detail", pk=result.account.pk)
    return redirect("crm:contact-detail", pk=result.contact.pk)
