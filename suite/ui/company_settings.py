"""The company settings page: an administrator ticks the module packages the company uses (suite.modules)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from suite.models import Module, Role
from suite.modules import enabled_set
from suite.services.tenancy import company_update_settings
from suite.ui import menu
from suite.ui.records import actor_required

menu.register(
    menu.MenuItem(
        "admin", gettext_lazy("Company settings"), "company-settings", roles=frozenset({Role.ADMIN}), order=15
    )
)


class ModulesForm(forms.Form):
    enabled_modules = forms.MultipleChoiceField(
        label=gettext_lazy("Modules"),
        choices=Module.choices,
        widget=forms.CheckboxSelectMultiple,
        required=True,
        error_messages={"required": gettext_lazy("Tick at least one module.")},
        help_text=gettext_lazy(
            "Disabled modules disappear from the menu, the API and the admin site, and their event handlers stay "
            "idle for this company. Their data is kept: enabling a module again shows it."
        ),
    )


@actor_required
def company_settings(request):
    actor = request.actor
    if actor.role != Role.ADMIN:
        raise Http404
    company = actor.company
    if request.method == "POST":
        form = ModulesForm(request.POST)
        if form.is_valid():
            try:
                company_update_settings(company=company, by=request.user, **form.cleaned_data)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, _("The company's modules are saved."))
                return redirect("company-settings")
    else:
        form = ModulesForm(initial={"enabled_modules": sorted(enabled_set(company.enabled_modules))})
    return render(request, "ui/company_settings.html", {"form": form, "company": company})
