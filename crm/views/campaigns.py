"""Campaign pages (list, plan, detail with costs, the comparison report with its bar chart) and the public
web-to-lead form."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from crm import selectors_campaigns as selectors
from crm.models import Campaign, CampaignChannel, CampaignCost, CampaignMember, CampaignStatus, Industry
from crm.selectors_campaigns import SORT_KEYS
from crm.services import campaigns as campaign_services
from crm.services import webforms as webform_services
from crm.templatetags.crm_ui import local_name
from crm.views.common import paginate, require, sorted_by
from crm.views.exports import export_list, export_requested
from crm.views.forms import DATE_INPUT, apply_errors, blank
from suite import policy
from suite.ui import menu
from suite.ui import search as shell_search
from suite.ui.records import actor_required

menu.register(
    menu.MenuItem(
        "crm",
        gettext_lazy("Campaigns"),
        "crm:campaign-list",
        module="crm",
        order=60,
        check=lambda actor: policy.can(actor, "view", Campaign),
    ),
    menu.MenuItem(
        "crm",
        gettext_lazy("Campaign comparison"),
        "crm:campaign-compare",
        module="crm",
        order=61,
        check=lambda actor: policy.can(actor, "report", Campaign),
    ),
)


CAMPAIGN_SORTS = {
    "name": "name",
    "start_date": "start_date",
    "budget": "budget",
    "status": "status",
    "channel": "channel",
}


class CampaignForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    code = forms.CharField(label=gettext_lazy("Code (utm_campaign)"), max_length=50)
    channel = forms.ChoiceField(label=gettext_lazy("Channel"), choices=CampaignChannel.choices)
    status = forms.ChoiceField(label=gettext_lazy("Status"), choices=CampaignStatus.choices)
    budget = forms.DecimalField(label=gettext_lazy("Budget"), max_digits=18, decimal_places=2, min_value=0)
    start_date = forms.DateField(label=gettext_lazy("Start date"), widget=DATE_INPUT)
    end_date = forms.DateField(label=gettext_lazy("End date"), widget=DATE_INPUT, required=False)
    target_segment = forms.CharField(
        label=gettext_lazy("Target segment"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    description = forms.CharField(
        label=gettext_lazy("Description"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )


class CostForm(forms.Form):
    incurred_on = forms.DateField(label=gettext_lazy("Date"), widget=DATE_INPUT)
    description = forms.CharField(label=gettext_lazy("What for"), max_length=200)
    amount = forms.DecimalField(label=gettext_lazy("Amount"), max_digits=18, decimal_places=2)


class ComparisonForm(forms.Form):
    model = forms.ChoiceField(
        label=gettext_lazy("Attribution"),
        choices=[("first", gettext_lazy("First touch")), ("last", gettext_lazy("Last touch"))],
        required=False,
    )
    date_from = forms.DateField(label=gettext_lazy("From"), widget=DATE_INPUT, required=False)
    date_to = forms.DateField(label=gettext_lazy("To"), widget=DATE_INPUT, required=False)


@actor_required
def campaign_list(request):
    """The campaigns, latest start first: searched by name or code (``q``), filtered by ``channel`` and ``status``,
    sorted (``sort``), paginated — or exported (``?export=csv|xlsx``: the same rows, through ``suite.exports`` and
    the policy layer). Values that do not parse are ignored."""
    actor = request.actor
    require(actor, "view", Campaign)
    status = request.GET.get("status", "")
    status = status if status in CampaignStatus.values else ""
    campaigns = selectors.campaigns_visible_to(actor, status=status or None)
    query = shell_search.normalize(request.GET.get("q", ""))
    for term in query.lower().split():  # the names, their pinyin and the code (``campaign_search_text``)
        campaigns = campaigns.filter(search_text__contains=term)
    channel = request.GET.get("channel", "")
    if channel in CampaignChannel.values:
        campaigns = campaigns.filter(channel=channel)
    else:
        channel = ""
    campaigns, sort = sorted_by(request, campaigns, CAMPAIGN_SORTS, "-start_date")
    if export_requested(request):
        return export_list(request, campaigns, "campaign")
    return render(
        request,
        "crm/campaign_list.html",
        {
            "page": paginate(request, campaigns),
            "sort": sort,
            "query": query,
            "statuses": CampaignStatus.choices,
            "status": status,
            "channels": CampaignChannel.choices,
            "channel": channel,
            "can_add": policy.can(actor, "add", Campaign),
            "can_report": policy.can(actor, "report", Campaign),
            "can_export": policy.can(actor, "export", Campaign),
        },
    )


def _campaign_form_page(request, *, campaign: Campaign | None):
    actor = request.actor
    initial = {"status": "planned", "budget": Decimal("0"), "start_date": date.today()}
    if campaign is not None:
        initial = {name: getattr(campaign, name) for name in CampaignForm.base_fields}
    form = CampaignForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if campaign is None:
                campaign = campaign_services.campaign_create(company=actor.company, by=actor.user, **form.cleaned_data)
            else:
                campaign = campaign_services.campaign_update(campaign=campaign, by=actor.user, **form.cleaned_data)
            messages.success(request, _("The campaign was saved."))
            return redirect("crm:campaign-detail", pk=campaign.pk)
        except ValidationError as error:
            apply_errors(form, error)
    back = reverse("crm:campaign-detail", args=[campaign.pk]) if campaign else reverse("crm:campaign-list")
    title = _("Edit campaign") if campaign else _("New campaign")
    return render(request, "crm/form.html", {"form": form, "kind": "campaign", "title": title, "back": back})


@actor_required
def campaign_create(request):
    require(request.actor, "add", Campaign)
    return _campaign_form_page(request, campaign=None)


@actor_required
def campaign_edit(request, pk: int):
    campaign = policy.get_visible_or_404(request.actor, selectors.campaigns_visible_to(request.actor), pk=pk)
    require(request.actor, "change", campaign)
    return _campaign_form_page(request, campaign=campaign)


@actor_required
def campaign_detail(request, pk: int):
    actor = request.actor
    campaign = policy.get_visible_or_404(actor, selectors.campaigns_visible_to(actor), pk=pk)
    can_costs = policy.can(actor, "view", CampaignCost)
    costs = list(selectors.campaign_costs_visible_to(actor, campaign=campaign)) if can_costs else []
    members = paginate(request, selectors.campaign_members_visible_to(actor, campaign=campaign))
    return render(
        request,
        "crm/campaign_detail.html",
        {
            "campaign": campaign,
            "costs": costs,
            "cost_total": sum((c.amount for c in costs), Decimal("0.00")),
            "show_costs": can_costs,
            "members": members,
            "can_change": policy.can(actor, "change", campaign),
            "can_add_cost": policy.can(actor, "add", CampaignCost),
            "can_add_member": policy.can(actor, "add", CampaignMember),
            "can_remove_member": policy.can(actor, "delete", CampaignMember),
            "cost_form": CostForm(initial={"incurred_on": date.today()}),
        },
    )


@require_POST
@actor_required
def campaign_cost_add(request, pk: int):
    actor = request.actor
    campaign = policy.get_visible_or_404(actor, selectors.campaigns_visible_to(actor), pk=pk)
    require(actor, "add", CampaignCost)
    form = CostForm(request.POST)
    if form.is_valid():
        try:
            campaign_services.campaign_cost_add(campaign=campaign, by=actor.user, **form.cleaned_data)
            messages.success(request, _("The cost was added."))
            return redirect("crm:campaign-detail", pk=campaign.pk)
        except ValidationError as error:
            apply_errors(form, error)
    costs = list(selectors.campaign_costs_visible_to(actor, campaign=campaign))
    return render(
        request,
        "crm/campaign_detail.html",
        {
            "campaign": campaign,
            "costs": costs,
            "cost_total": sum((c.amount for c in costs), Decimal("0.00")),
            "show_costs": True,
            "members": paginate(request, selectors.campaign_members_visible_to(actor, campaign=campaign)),
            "can_change": policy.can(actor, "change", campaign),
            "can_add_cost": True,
            "cost_form": form,
        },
        status=400,
    )


def _bars(rows, key: str) -> list[dict]:
    """Bar widths (percent of the largest value) for the inline SVG chart."""
    values = [getattr(row, key) or 0 for row in rows]
    top = max(values, default=0) or 1
    return [
        {
            "label": local_name(row.campaign),  # as the table names it: the English name for English readers
            "value": value,
            "width": round(float(Decimal(value) * 100 / Decimal(top)), 1),
        }
        for row, value in zip(rows, values, strict=True)
    ]


@actor_required
def campaign_compare(request):
    """Which campaign brought the most customers, and what each cost: a sortable table and a bar chart."""
    actor = request.actor
    require(actor, "report", Campaign)
    form = ComparisonForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    model = data.get("model") or "first"
    sort = request.GET.get("sort", "-customers")
    if sort.lstrip("-") not in SORT_KEYS:
        sort = "-customers"
    rows = selectors.campaign_comparison(
        actor, model=model, date_from=data.get("date_from"), date_to=data.get("date_to"), sort=sort
    )
    return render(
        request,
        "crm/campaign_compare.html",
        {
            "form": form,
            "rows": rows,
            "model": model,
            "sort": sort,
            "customer_bars": _bars(rows, "customers"),
            "cost_bars": _bars(rows, "cost"),
            "columns": [
                ("name", _("Campaign")),
                ("members", _("Members")),
                ("responses", _("Responses")),
                ("leads", _("Leads")),
                ("opportunities", _("Opportunities")),
                ("customers", _("Customers")),
                ("won_revenue", _("Won revenue")),
                ("cost", _("Cost")),
                ("roi", _("ROI")),
                ("cost_per_lead", _("Cost per lead")),
                ("cost_per_customer", _("Cost per customer")),
                ("booked_revenue", _("Booked revenue")),
                ("gross_margin", _("Gross margin")),
                ("margin_roi", _("ROI on margin")),
            ],
        },
    )


# ---------------------------------------------------------------- the public web-to-lead form


class WebLeadForm(forms.Form):
    """The visitor's form: only the fields the company's form asks for; ``website_url`` is the honeypot."""

    LABELS = {
        "name": gettext_lazy("Your name"),
        "company_name": gettext_lazy("Company"),
        "title": gettext_lazy("Job title"),
        "phone": gettext_lazy("Mobile phone"),
        "email": gettext_lazy("E-mail"),
        "wechat_id": gettext_lazy("WeChat ID"),
        "province": gettext_lazy("Province"),
        "city": gettext_lazy("City"),
        "industry": gettext_lazy("Industry"),
        "notes": gettext_lazy("Message"),
        "subject": gettext_lazy("Subject"),
        "description": gettext_lazy("How can we help?"),
    }

    def __init__(self, *args, web_form, **kwargs):
        super().__init__(*args, **kwargs)
        for name in web_form.fields:
            required = name in web_form.required_fields
            label = self.LABELS[name]
            if name == "industry":
                field = forms.ChoiceField(label=label, choices=blank(Industry.choices), required=required)
            elif name in ("notes", "description"):
                field = forms.CharField(
                    label=label, widget=forms.Textarea(attrs={"rows": 4}), max_length=2000, required=required
                )
            elif name == "email":
                field = forms.EmailField(label=label, max_length=254, required=required)
            else:
                field = forms.CharField(label=label, max_length=200 if name != "phone" else 40, required=required)
            self.fields[name] = field
        self.fields[webform_services.HONEYPOT_FIELD] = forms.CharField(required=False)
        self.fields["form_token"] = forms.CharField(required=False, widget=forms.HiddenInput)
        self.fields["utm_campaign"] = forms.CharField(required=False, max_length=50, widget=forms.HiddenInput)


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


@csrf_protect
def web_form(request, key: str):
    """The public lead form (no login: the opaque key in the address is the form). Spam checks: honeypot,
    minimum fill time by signed timestamp, per-IP rate limit; errors are shown on the form."""
    found = selectors.web_form_by_key(key)
    if found is None:
        raise Http404
    campaign_code = request.GET.get("utm_campaign") or request.GET.get("campaign") or ""
    done = False
    ticket_number = None
    status = 200
    if request.method == "POST":
        form = WebLeadForm(request.POST, web_form=found)
        if form.is_valid():
            data = form.cleaned_data
            try:
                if data.get(webform_services.HONEYPOT_FIELD):
                    # a bot filled the field people never see: thank it and keep nothing
                    raise webform_services.SpamRefused("honeypot", "")
                webform_services.form_token_check(found, data.get("form_token", ""))
                webform_services.rate_limit_hit(found, _client_ip(request))
                made = webform_services.web_form_submit(
                    form=found,
                    data={name: data.get(name) for name in found.fields},
                    campaign_code=data.get("utm_campaign") or campaign_code,
                )
                ticket_number = getattr(made, "number", None)  # a support form's ticket: its number is the receipt
                done = True
            except webform_services.SpamRefused as refused:
                if refused.reason == "honeypot":
                    done = True
                else:
                    form.add_error(None, refused.message)
                    status = 429 if refused.reason == "rate_limited" else 400
            except ValidationError as error:
                apply_errors(form, error)
                status = 400
        else:
            status = 400
        if not done:
            # a fresh timestamp: the visitor now spends time correcting the form
            form.data = form.data.copy()
            form.data["form_token"] = webform_services.form_token_issue(found)
    else:
        form = WebLeadForm(
            web_form=found,
            initial={"form_token": webform_services.form_token_issue(found), "utm_campaign": campaign_code[:50]},
        )
    visible = [form[name] for name in found.fields]
    return render(
        request,
        "crm/web_form.html",
        {
            "web_form": found,
            "form": form,
            "visible_fields": visible,
            "honeypot": form[webform_services.HONEYPOT_FIELD],
            "done": done,
            "ticket_number": ticket_number,
        },
        status=status,
    )
