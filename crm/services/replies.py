"""Writes of reply templates (``crm.models.replies``) and their use in a ticket's reply.

A shared template (no owner) is kept by those whose role may ``share`` reply templates (managers, admins); anyone
else keeps their own. Using one fills in the placeholders for the ticket and counts the use (not audited)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Account, Contact, Lead, ReplyTemplate, Ticket, TicketCategory
from crm.selectors import reply_filled
from suite import policy
from suite.models import Company
from suite.templatetags.troika import person_name

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from suite.policy import Actor

FIELDS = frozenset({"title", "body", "category"})


def _ours(category, template: ReplyTemplate) -> bool:
    return isinstance(category, TicketCategory) and category.company_id == template.company_id


def _apply(template: ReplyTemplate, fields: dict) -> None:
    unknown = set(fields) - FIELDS
    if unknown:
        raise TypeError(f"unknown reply template fields: {', '.join(sorted(unknown))}")
    errors: dict[str, list] = {}
    for name, value in fields.items():
        if name in ("title", "body"):
            value = (value or "").strip()
            if name == "title":
                value = " ".join(value.split())
        elif name == "category" and value is not None and not _ours(value, template):
            errors["category"] = [_("Unknown ticket category.")]
            continue
        setattr(template, name, value)
    try:
        template.full_clean(exclude=["company", "owner", "category"], validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        for name, messages in error.message_dict.items():
            errors.setdefault(name, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def _save(template: ReplyTemplate) -> ReplyTemplate:
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        raise ValidationError({"title": [_("A reply template with this title exists already.")]}) from None
    return template


def _may_keep(actor: Actor, template: ReplyTemplate) -> None:
    mine = template.owner_id is not None and template.owner_id == actor.user.pk
    if not mine and not policy.can(actor, "share", ReplyTemplate):
        raise ValidationError({"shared": [_("Only managers and admins keep the company's shared replies.")]})


@transaction.atomic
def reply_template_create(*, company: Company, actor: Actor, shared: bool = False, **fields) -> ReplyTemplate:
    """A new template: the actor's own, or (``shared``) the company's. Field errors as ``ValidationError``."""
    template = ReplyTemplate(company=company, owner=None if shared else actor.user)
    _may_keep(actor, template)
    _apply(template, fields)
    return _save(template)


@transaction.atomic
def reply_template_update(*, template: ReplyTemplate, actor: Actor, **fields) -> ReplyTemplate:
    """Change a template one may keep (one's own; a shared one for managers and admins)."""
    template = ReplyTemplate.objects.select_for_update().get(pk=template.pk)
    _may_keep(actor, template)
    _apply(template, fields)
    return _save(template)


@transaction.atomic
def reply_template_delete(*, template: ReplyTemplate, actor: Actor) -> None:
    _may_keep(actor, template)
    template.delete()


def reply_text(*, template: ReplyTemplate, ticket: Ticket, by: User | None) -> str:
    """The template's text for ``ticket``, placeholders filled in ({customer}: the account or contact, {contact}:
    the person, {agent}: who replies, {ticket}: its number, {company}: ours); the use is counted."""
    return reply_text_for(template=template, record=ticket, by=by)


def reply_text_for(*, template: ReplyTemplate, record, by: User | None) -> str:
    """The template's text for a ticket, an account, a contact, a lead or a deal (an e-mail about it): {customer}
    is the account (else the contact, else a lead's company or name), {contact} the person, {agent} who writes,
    {ticket} a ticket's number (else empty), {company} ours. The use is counted."""
    account = record if isinstance(record, Account) else getattr(record, "account", None)
    contact = record if isinstance(record, Contact) else getattr(record, "contact", None)
    if isinstance(record, Lead):
        customer, person = record.company_name or record.name, record.name
    else:
        customer = (account or contact).name if (account or contact) is not None else ""
        person = contact.name if contact is not None else ""
    values = {
        "customer": customer,
        "contact": person,
        "agent": person_name(by),
        "ticket": f"#{record.pk}" if isinstance(record, Ticket) else "",
        "company": record.company.name,
    }
    ReplyTemplate.objects.filter(pk=template.pk).update(usage_count=F("usage_count") + 1, last_used_at=timezone.now())
    return reply_filled(template, values)
