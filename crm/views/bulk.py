"""Bulk actions of the CRM lists (accounts, contacts, leads, opportunities, tickets): tick records, choose an
action, apply — through each record's own service, all or nothing (``suite.ui.bulk``).

    accounts, contacts   assign owner · set lifecycle stage · add tag · remove tag
    leads                assign owner · disqualify (with a reason)
    opportunities        assign owner
    tickets              assign to an agent · set priority
    activities           mark done · reassign owner (managers and admins: the "assign" permission)
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from crm import selectors
from crm.errors import CrmConflict
from crm.models import (
    Account,
    Activity,
    Contact,
    Lead,
    LeadStatus,
    LifecycleStage,
    Opportunity,
    Ticket,
    TicketPriority,
)
from crm.services import activities as activity_services
from crm.services import customers as customer_services
from crm.services import leads as lead_services
from crm.services import opportunities as opportunity_services
from crm.services import tickets as ticket_services
from suite.ui.bulk import BulkAction, bulk_apply, bulk_context
from suite.ui.choices import chosen
from suite.ui.records import actor_required


def _member(actor, data):
    """The active member of the actor's company chosen in ``owner``."""
    user = chosen(selectors.assignable_users(actor), data.get("owner"))
    if user is None:
        raise ValidationError(_("Choose a member of the company."))
    return user


def _choice(data, name: str, values, message):
    value = data.get(name, "")
    if value not in values:
        raise ValidationError(message)
    return value


# ---------------------------------------------------------------- accounts and contacts


def _customer_update(record, actor, **fields):
    update = customer_services.account_update if isinstance(record, Account) else customer_services.contact_update
    key = "account" if isinstance(record, Account) else "contact"
    return update(**{key: record}, by=actor.user, **fields)


def _customer_owner(actor, data):
    owner = _member(actor, data)
    return lambda record: _customer_update(record, actor, owner=owner)


def _accounts_owner(actor, data):
    """All the ticked accounts to one owner in one service call: the new owner is told once, not per account."""
    owner = _member(actor, data)
    return lambda accounts: customer_services.accounts_owner_assign(accounts=accounts, owner=owner, by=actor.user)


def _customer_stage(actor, data):
    stage = _choice(data, "stage", LifecycleStage.values, _("Choose a lifecycle stage."))
    return lambda record: _customer_update(record, actor, lifecycle_stage=stage)


def _tag(actor, data):
    tag = chosen(selectors.tags_visible_to(actor), data.get("tag"))
    if tag is None:
        raise ValidationError(_("Choose a tag."))
    return tag


def _tag_add(actor, data):
    tag = _tag(actor, data)

    def apply(record):
        tags = list(record.tags.all())
        if tag not in tags:
            customer_services.customer_tags_set(customer=record, tags=[*tags, tag], by=actor.user)

    return apply


def _tag_remove(actor, data):
    tag = _tag(actor, data)

    def apply(record):
        tags = list(record.tags.all())
        if tag in tags:
            customer_services.customer_tags_set(customer=record, tags=[t for t in tags if t != tag], by=actor.user)

    return apply


CUSTOMER_ACTIONS = [
    BulkAction("owner", _("Assign owner"), _customer_owner, fields=("owner",)),
    BulkAction("stage", _("Set lifecycle stage"), _customer_stage, fields=("stage",)),
    BulkAction("tag_add", _("Add tag"), _tag_add, fields=("tag",)),
    BulkAction("tag_remove", _("Remove tag"), _tag_remove, fields=("tag",)),
]
ACCOUNT_ACTIONS = [
    BulkAction("owner", _("Assign owner"), _accounts_owner, fields=("owner",), together=True),
    *CUSTOMER_ACTIONS[1:],
]


def _members(actor) -> list:
    return list(selectors.assignable_users(actor))


def customer_bulk_context(actor, kind: str) -> dict | None:
    model = Account if kind == "account" else Contact
    return bulk_context(
        ACCOUNT_ACTIONS if kind == "account" else CUSTOMER_ACTIONS,
        url=reverse(f"crm:{kind}-bulk"),
        actor=actor,
        model=model,
        members=_members(actor),
        stages=LifecycleStage.choices,
        tags=list(selectors.tags_visible_to(actor).select_related("group").order_by("group__sort_order", "name")),
    )


def _name(record) -> str:
    return getattr(record, "name", None) or getattr(record, "subject", None) or str(record)


def _ticket_label(ticket) -> str:
    return f"#{ticket.number} {ticket.subject}"


def _bulk_view(select, actions, list_name: str, label):
    """The POST view applying ``actions`` to the ticked records among ``select(actor)``."""

    @actor_required
    def view(request):
        return bulk_apply(
            request,
            queryset=select(request.actor),
            actions=actions,
            list_url=reverse(list_name),
            refused=(CrmConflict,),
            label=label,
        )

    return view


account_bulk = _bulk_view(selectors.accounts_visible_to, ACCOUNT_ACTIONS, "crm:account-list", _name)


contact_bulk = _bulk_view(selectors.contacts_visible_to, CUSTOMER_ACTIONS, "crm:contact-list", _name)


# ---------------------------------------------------------------- leads


def _lead_owner(actor, data):
    owner = _member(actor, data)
    return lambda lead: lead_services.lead_assign(lead=lead, by=actor.user, owner=owner)


def _lead_disqualify(actor, data):
    reason = " ".join(str(data.get("reason", "")).split())[:200]
    if not reason:
        raise ValidationError(_("Say why the leads are disqualified."))
    return lambda lead: lead_services.lead_status_set(
        lead=lead, status=LeadStatus.DISQUALIFIED, by=actor.user, reason=reason
    )


LEAD_ACTIONS = [
    BulkAction("owner", _("Assign owner"), _lead_owner, fields=("owner",)),
    BulkAction("disqualify", _("Disqualify"), _lead_disqualify, fields=("reason",)),
]


def lead_bulk_context(actor) -> dict | None:
    return bulk_context(LEAD_ACTIONS, url=reverse("crm:lead-bulk"), actor=actor, model=Lead, members=_members(actor))


lead_bulk = _bulk_view(selectors.leads_visible_to, LEAD_ACTIONS, "crm:lead-list", _name)


# ---------------------------------------------------------------- opportunities


def _opportunity_owner(actor, data):
    owner = _member(actor, data)
    return lambda opportunity: opportunity_services.opportunity_update(
        opportunity=opportunity, by=actor.user, owner=owner
    )


OPPORTUNITY_ACTIONS = [BulkAction("owner", _("Assign owner"), _opportunity_owner, fields=("owner",))]


def opportunity_bulk_context(actor) -> dict | None:
    return bulk_context(
        OPPORTUNITY_ACTIONS,
        url=reverse("crm:opportunity-bulk"),
        actor=actor,
        model=Opportunity,
        members=_members(actor),
    )


opportunity_bulk = _bulk_view(selectors.opportunities_visible_to, OPPORTUNITY_ACTIONS, "crm:opportunity-list", _name)


# ---------------------------------------------------------------- tickets


def _ticket_agent(actor, data):
    agent = _member(actor, data)
    return lambda ticket: ticket_services.ticket_assign(ticket=ticket, by=actor.user, agent=agent)


def _ticket_priority(actor, data):
    priority = _choice(data, "priority", TicketPriority.values, _("Choose a priority."))
    return lambda ticket: ticket_services.ticket_update(ticket=ticket, by=actor.user, priority=priority)


TICKET_ACTIONS = [
    BulkAction("agent", _("Assign to"), _ticket_agent, fields=("owner",)),
    BulkAction("priority", _("Set priority"), _ticket_priority, fields=("priority",)),
]


def ticket_bulk_context(actor) -> dict | None:
    return bulk_context(
        TICKET_ACTIONS,
        url=reverse("crm:ticket-bulk"),
        actor=actor,
        model=Ticket,
        members=_members(actor),
        priorities=TicketPriority.choices,
    )


ticket_bulk = _bulk_view(selectors.tickets_visible_to, TICKET_ACTIONS, "crm:ticket-list", _ticket_label)


# ---------------------------------------------------------------- activities


def _activity_done(actor, data):
    return lambda activity: activity_services.activity_complete(activity=activity, by=actor.user)


def _activity_owner(actor, data):
    owner = _member(actor, data)
    return lambda activity: activity_services.activity_reassign(activity=activity, by=actor.user, owner=owner)


ACTIVITY_ACTIONS = [
    BulkAction("done", _("Mark done"), _activity_done),
    BulkAction("owner", _("Reassign owner"), _activity_owner, fields=("owner",), permission="assign"),
]


def activity_bulk_context(actor) -> dict | None:
    return bulk_context(
        ACTIVITY_ACTIONS,
        url=reverse("crm:activity-bulk"),
        actor=actor,
        model=Activity,
        members=_members(actor),
    )


activity_bulk = _bulk_view(selectors.activities_visible_to, ACTIVITY_ACTIONS, "crm:activity-list", _name)
