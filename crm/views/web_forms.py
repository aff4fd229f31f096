"""Web-to-lead forms in the browser (admins and marketing): the list with each form's public address, and the
create / edit page — fields asked and required, lead source, default campaign, texts, on/off — which shows the
public URL, a campaign link and an HTML snippet to put on a website, how its leads are assigned and what spam
protection applies. The public form itself is ``crm.views.campaigns.web_form``."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import selectors
from crm import selectors_campaigns as campaign_selectors
from crm.models import WEB_FORM_FIELDS, AssignmentRule, Source, WebForm, WebFormKind
from crm.services import webforms as webform_services
from crm.views.common import require
from crm.views.forms import apply_errors
from suite import policy
from suite.ui import menu
from suite.ui.records import actor_required

menu.register(
    menu.MenuItem(
        "crm",
        gettext_lazy("Web forms"),
        "crm:web-form-list",
        module="crm",
        order=62,
        check=lambda actor: policy.can(actor, "view", WebForm),
    ),
)

FIELD_LABELS = {
    "name": gettext_lazy("Contact name"),
    "company_name": gettext_lazy("Company name"),
    "title": gettext_lazy("Job title"),
    "phone": gettext_lazy("Phone"),
    "email": gettext_lazy("Email"),
    "wechat_id": gettext_lazy("WeChat ID"),
    "province": gettext_lazy("Province"),
    "city": gettext_lazy("City"),
    "industry": gettext_lazy("Industry"),
    "notes": gettext_lazy("Notes"),
    "subject": gettext_lazy("Subject (support forms)"),
    "description": gettext_lazy("Description (support forms)"),
}
FIELD_CHOICES = [(name, FIELD_LABELS.get(name, name)) for name in WEB_FORM_FIELDS]


class WebFormConfigForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name (internal)"), max_length=100)
    kind = forms.ChoiceField(
        label=gettext_lazy("Makes"), choices=WebFormKind.choices, initial=WebFormKind.LEAD, required=False
    )
    title = forms.CharField(label=gettext_lazy("Title shown"), max_length=200)
    intro = forms.CharField(
        label=gettext_lazy("Introduction"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )
    fields = forms.MultipleChoiceField(
        label=gettext_lazy("Fields asked"), choices=FIELD_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    required_fields = forms.MultipleChoiceField(
        label=gettext_lazy("Required fields"),
        choices=FIELD_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    source = forms.ChoiceField(label=gettext_lazy("Lead source"), choices=Source.choices)
    campaign = forms.ModelChoiceField(label=gettext_lazy("Default campaign"), queryset=None, required=False)
    ticket_category = forms.ModelChoiceField(
        label=gettext_lazy("Ticket category (support forms)"), queryset=None, required=False
    )
    success_message = forms.CharField(label=gettext_lazy("Thank-you message"), max_length=255, required=False)
    is_active = forms.BooleanField(label=gettext_lazy("Active (the public address works)"), required=False)

    def __init__(self, *args, campaigns, categories, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = campaigns
        self.fields["ticket_category"].queryset = categories


def _public_url(request, form: WebForm) -> str:
    return request.build_absolute_uri(reverse("crm:web-form", args=[form.key]))


def _snippet(url: str, instance: WebForm | None) -> str:
    """A link to the form to paste into a website (the site's pages may not be framed, so no iframe)."""
    if instance is None:
        return ""
    return f'<a href="{url}" target="_blank" rel="noopener">{escape(instance.title)}</a>'


def _assignment_rules(actor, source: str) -> list[dict]:
    """The active rules a lead from this form may be routed by, in the order they are tried."""
    rows = []
    for rule in selectors.assignment_rules_visible_to(actor).filter(is_active=True).order_by("priority", "id"):
        if rule.kind == AssignmentRule.Kind.BY_SOURCE and source not in rule.match_values:
            continue
        rows.append({"name": rule.name, "kind": rule.get_kind_display(), "values": ", ".join(rule.match_values)})
    return rows


@actor_required
def web_form_list(request):
    actor = request.actor
    require(actor, "view", WebForm)
    rows = [
        {"form": form, "url": _public_url(request, form), "source": dict(Source.choices).get(form.source, form.source)}
        for form in campaign_selectors.web_forms_visible_to(actor).select_related("campaign").order_by("name", "id")
    ]
    return render(request, "crm/web_form_list.html", {"rows": rows, "can_add": policy.can(actor, "add", WebForm)})


def _config_page(request, *, instance: WebForm | None):
    actor = request.actor
    campaigns = campaign_selectors.campaigns_visible_to(actor)
    initial = {"fields": ["name", "company_name", "phone"], "source": Source.WEBSITE, "is_active": True}
    if instance is not None:
        initial = {name: getattr(instance, name) for name in WebFormConfigForm.base_fields}
    categories = selectors.ticket_categories_visible_to(actor).filter(is_active=True)
    form = WebFormConfigForm(request.POST or None, initial=initial, campaigns=campaigns, categories=categories)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        data["kind"] = data.get("kind") or (instance.kind if instance is not None else WebFormKind.LEAD)
        try:
            if instance is None:
                instance = webform_services.web_form_create(company=actor.company, by=actor.user, **data)
                messages.success(request, _("The form was created: share its address below."))
            else:
                instance = webform_services.web_form_update(form=instance, by=actor.user, **data)
                messages.success(request, _("Your changes were saved."))
            return redirect("crm:web-form-edit", pk=instance.pk)
        except ValidationError as error:
            apply_errors(form, error)
    url = _public_url(request, instance) if instance is not None else ""
    campaign_code = instance.campaign.code if instance is not None and instance.campaign_id else ""
    source = (form.data.get("source") if form.is_bound else None) or (instance.source if instance else Source.WEBSITE)
    return render(
        request,
        "crm/web_form_config.html",
        {
            "form": form,
            "instance": instance,
            "title": _("Edit web form") if instance else _("New web form"),
            "public_url": url,
            "campaign_url": f"{url}?utm_campaign={campaign_code}" if url and campaign_code else "",
            "snippet": _snippet(url, instance),
            "rules": _assignment_rules(actor, source),
            "spam": {
                "min_seconds": webform_services.MIN_FILL_SECONDS,
                "rate_limit": webform_services.RATE_LIMIT,
                "rate_minutes": webform_services.RATE_WINDOW_SECONDS // 60,
            },
            "can_change": instance is None or policy.can(actor, "change", instance),
        },
    )


@actor_required
def web_form_create(request):
    require(request.actor, "add", WebForm)
    return _config_page(request, instance=None)


@actor_required
def web_form_edit(request, pk: int):
    actor = request.actor
    instance = policy.get_visible_or_404(actor, campaign_selectors.web_forms_visible_to(actor), pk=pk)
    if request.method == "POST":
        require(actor, "change", instance)
    return _config_page(request, instance=instance)
