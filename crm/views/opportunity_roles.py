"""The buying committee card of the opportunity page (决策链): who decides, who holds the budget, who evaluates —
add or change a person's role and stance, take a person out. The writes go through
``crm.services.opportunity_roles``; who may do what is the policy's (``OpportunityContactRole``)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors
from crm.models import Opportunity, OpportunityContactRole
from crm.services import opportunity_roles as role_services
from crm.views.common import require
from crm.views.forms import ContactRoleForm
from suite import policy
from suite.ui.records import actor_required


def _form(actor, opportunity: Opportunity, data=None) -> ContactRoleForm:
    return ContactRoleForm(data, contacts=selectors.committee_candidates_visible_to(actor, opportunity=opportunity))


def committee_context(actor, opportunity: Opportunity) -> dict:
    can_edit = policy.can(actor, "add", OpportunityContactRole) and policy.can(actor, "change", opportunity)
    return {
        "committee": list(selectors.opportunity_contact_roles_visible_to(actor, opportunity=opportunity)),
        "can_edit_committee": can_edit,
        "committee_form": _form(actor, opportunity) if can_edit else None,
    }


def _back(opportunity: Opportunity):
    return redirect(reverse("crm:opportunity-detail", args=[opportunity.pk]) + "#h-committee")


def _opportunity(actor, pk: int) -> Opportunity:
    opportunity = policy.get_visible_or_404(actor, selectors.opportunities_visible_to(actor), pk=pk)
    require(actor, "change", opportunity)
    return opportunity


@require_POST
@actor_required
def opportunity_role_set(request, pk: int):
    """Add a person to the committee, or change their role, stance and note (the same person twice is one
    seat). Bad input comes back as a message naming the field; nothing is written."""
    actor = request.actor
    opportunity = _opportunity(actor, pk)
    require(actor, "add", OpportunityContactRole)
    form = _form(actor, opportunity, request.POST)
    if form.is_valid():
        try:
            member = role_services.contact_role_set(opportunity=opportunity, by=actor.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error.messages)
        else:
            messages.success(
                request,
                _("%(person)s is in the buying committee as %(role)s.")
                % {"person": member.contact.name, "role": member.get_role_display()},
            )
            return _back(opportunity)
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        messages.error(request, f"{label}: {' '.join(errors)}" if label else " ".join(errors))
    return _back(opportunity)


@require_POST
@actor_required
def opportunity_role_remove(request, pk: int, member_pk: int):
    actor = request.actor
    opportunity = _opportunity(actor, pk)
    member = get_object_or_404(
        selectors.opportunity_contact_roles_visible_to(actor, opportunity=opportunity), pk=member_pk
    )
    require(actor, "delete", member)
    role_services.contact_role_remove(member=member, by=actor.user)
    messages.success(request, _("%(person)s was taken out of the buying committee.") % {"person": member.contact.name})
    return _back(opportunity)
