"""Writes of service tickets: open (SLA applied, round-robin assignment within a team), reply, note, assign,
escalate, resolve (follow-up visit task + satisfaction survey), close, CSAT answers, the SLA breach sweep,
inbound e-mail, and the configuration (categories, SLA policies, inbound tokens).

Every function is keyword-only and atomic. The ticket row is locked (``lock_ticket``) by every change of a
ticket; numbering and round-robin assignment are serialised per company / team with transaction-level advisory
locks. Nothing here publishes an event: tickets stay inside the CRM. Notifications go through
``suite.services.notifications``; e-mail to the customer is queued after commit (``crm.tasks``).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from crm.errors import CrmConflict
from crm.models import (
    Account,
    Activity,
    ActivityKind,
    Contact,
    CsatSurvey,
    SlaPolicy,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketInboundToken,
    TicketMessage,
    TicketMessageKind,
    TicketPriority,
    TicketStatus,
)
from crm.models.tickets import ACTIVE_STATUSES, PRIORITY_ORDER
from crm.services.activities import activity_create
from crm.services.following import tell_ticket_followers
from crm.services.locking import advisory_lock
from crm.services.mail import header_text, plain_text
from crm.text import normalize_email, normalize_phone
from suite.models import Company, Membership, Role, Team
from suite.services.mentions import mentions_notify
from suite.services.notifications import Text, notification_send

if TYPE_CHECKING:
    from django.contrib.auth.models import User

FOLLOW_UP_DAYS = 3
CSAT_VALID_DAYS = 30
MAX_BODY_LENGTH = 50_000
MAX_INBOUND_EMAIL_BYTES = 5 * 1024 * 1024
SUBJECT_NUMBER = re.compile(r"\[#(\d{1,9})\]")
SLA_SWEEP_BATCH = 500


class CsatAlreadyAnsweredError(CrmConflict):
    code = "already_answered"


class CsatExpiredError(CrmConflict):
    code = "expired"


class TicketClosedError(CrmConflict):
    code = "ticket_closed"


# ---------------------------------------------------------------- locks


def lock_ticket(pk: int) -> Ticket:
    """The ticket row, locked for the rest of the transaction (``FOR UPDATE OF`` the ticket only)."""
    return Ticket.objects.select_for_update(of=("self",)).get(pk=pk)


# ---------------------------------------------------------------- helpers


def _is_member(company_id: int, user) -> bool:
    return Membership.objects.filter(company_id=company_id, user=user, is_active=True).exists()


def _clean_text(value: Any, *, field: str, errors: dict, required: bool = False, max_length: int | None = None) -> str:
    text = str(value or "").strip()
    if required and not text:
        errors.setdefault(field, []).append(_("This field cannot be blank."))
    if max_length is not None and len(text) > max_length:
        errors.setdefault(field, []).append(
            _("Ensure this value has at most %(max)d characters.") % {"max": max_length}
        )
    return text


def _sla_for(company_id: int, priority: str) -> SlaPolicy | None:
    return SlaPolicy.objects.filter(company_id=company_id, priority=priority, is_active=True).first()


def _apply_sla(ticket: Ticket, *, opened_at: datetime) -> None:
    policy = _sla_for(ticket.company_id, ticket.priority)
    ticket.sla_policy = policy
    if policy is None:
        ticket.first_response_due_at = ticket.resolution_due_at = None
        return
    ticket.first_response_due_at = opened_at + timedelta(minutes=policy.first_response_minutes)
    ticket.resolution_due_at = opened_at + timedelta(minutes=policy.resolution_minutes)


def _team_agents(team: Team) -> list[int]:
    """User ids who take tickets of ``team``: its active service members, or (a team without service staff)
    all its active members; in a stable order."""
    members = Membership.objects.filter(company_id=team.company_id, teams=team, is_active=True)
    service = sorted(members.filter(role=Role.SERVICE).values_list("user_id", flat=True))
    return service or sorted(members.values_list("user_id", flat=True))


def _next_agent(team: Team) -> int | None:
    """Round robin within ``team``: the agent after the one who got the team's latest assigned ticket.

    Stateless (the order comes from the tickets themselves) and serialised per team with an advisory lock, so
    two tickets opened at the same moment go to two different agents."""
    agents = _team_agents(team)
    if not agents:
        return None
    advisory_lock(f"crm.ticket.round_robin:{team.pk}")
    last = (
        Ticket.objects.filter(team=team, assigned_agent__isnull=False)
        .order_by("-created_at", "-id")
        .values_list("assigned_agent_id", flat=True)
        .first()
    )
    if last is None:
        return agents[0]
    later = [agent for agent in agents if agent > last]
    return later[0] if later else agents[0]


def _next_number(company_id: int) -> int:
    advisory_lock(f"crm.ticket.number:{company_id}")
    current = Ticket.objects.filter(company_id=company_id).aggregate(top=Max("number"))["top"]
    return (current or 0) + 1


def _check_customer(company_id: int, account: Account | None, contact: Contact | None, errors: dict) -> None:
    if account is not None and (account.company_id != company_id or account.merged_into_id):
        errors.setdefault("account", []).append(_("Unknown account."))
    if contact is not None and (contact.company_id != company_id or contact.merged_into_id):
        errors.setdefault("contact", []).append(_("Unknown contact."))
    if account is not None and contact is not None and contact.account_id and contact.account_id != account.pk:
        errors.setdefault("contact", []).append(_("This contact belongs to another account."))


def _customer_owner(account: Account | None, contact: Contact | None):
    for customer in (account, contact):
        if customer is not None and customer.owner_id:
            return customer.owner
    return None


def _notify(ticket: Ticket, user_ids, *, title: Text, body: str = "", level: str = "info") -> None:
    """Notify those of ``user_ids`` who are still active members of the ticket's company (``title``: a function
    that writes it, called in each one's language)."""
    wanted = {pk for pk in user_ids if pk}
    if not wanted:
        return
    members = set(
        Membership.objects.filter(company_id=ticket.company_id, user_id__in=wanted, is_active=True).values_list(
            "user_id", flat=True
        )
    )
    if members:
        notification_send(
            recipients=members,
            company=ticket.company,
            title=title,
            body=body,
            link=f"/crm/tickets/{ticket.pk}/",
            level=level,
        )


def requester_email_of(ticket: Ticket) -> str:
    """Where e-mail to the customer of ``ticket`` goes: the requester's address, else the contact's."""
    if ticket.requester_email:
        return ticket.requester_email
    if ticket.contact_id and ticket.contact.email:
        return ticket.contact.email
    return ""


def _queue_customer_email(ticket: Ticket, *, message_id: int | None = None, survey: bool = False) -> None:
    if not requester_email_of(ticket):
        return
    ticket_id = ticket.pk

    def send():
        from crm.tasks import ticket_customer_email

        ticket_customer_email.delay(ticket_id, message_id=message_id, survey=survey)

    transaction.on_commit(send)


# ---------------------------------------------------------------- open and update


@transaction.atomic
def ticket_open(
    *,
    company: Company,
    by: User | None,
    subject: str,
    description: str = "",
    account: Account | None = None,
    contact: Contact | None = None,
    channel: str = TicketChannel.WEB,
    category: TicketCategory | None = None,
    priority: str = TicketPriority.NORMAL,
    team: Team | None = None,
    assigned_agent: User | None = None,
    requester_name: str = "",
    requester_email: str = "",
    source_message_id: str = "",
) -> Ticket:
    """Open a ticket, numbered next in the company (``#n``).

    The account is taken from the contact when only a contact is given; the owner is the customer's owner (so
    the salesperson sees it). The SLA policy of the company for ``priority`` sets the first-response and
    resolution due times. The team is ``team``, else the category's default team; the agent is
    ``assigned_agent``, else the next agent of the team in round robin (an advisory lock per team), else
    nobody (the team's queue). Notifies the assigned agent. Publishes nothing.
    """
    errors: dict[str, list] = {}
    subject = " ".join(_clean_text(subject, field="subject", errors=errors, required=True, max_length=200).split())
    description = _clean_text(description, field="description", errors=errors, max_length=MAX_BODY_LENGTH)
    if channel not in TicketChannel.values:
        errors.setdefault("channel", []).append(_("Unknown channel."))
    if priority not in TicketPriority.values:
        errors.setdefault("priority", []).append(_("Unknown priority."))
    if contact is not None and account is None and contact.company_id == company.pk and contact.account_id:
        account = contact.account
    _check_customer(company.pk, account, contact, errors)
    if category is not None and (category.company_id != company.pk or not category.is_active):
        errors.setdefault("category", []).append(_("Unknown category."))
    if team is not None and team.company_id != company.pk:
        errors.setdefault("team", []).append(_("Unknown team."))
    if assigned_agent is not None and not _is_member(company.pk, assigned_agent):
        errors.setdefault("assigned_agent", []).append(_("The agent must be an active member of the company."))
    requester_email = normalize_email(requester_email or "")
    if requester_email:
        try:
            validate_email(requester_email)
        except ValidationError:
            errors.setdefault("requester_email", []).append(_("Enter a valid e-mail address."))
    if errors:
        raise ValidationError(errors)

    if team is None and category is not None and category.default_team_id:
        team = category.default_team
    now = timezone.now()
    ticket = Ticket(
        company=company,
        subject=subject,
        description=description,
        account=account,
        contact=contact,
        requester_name=" ".join(str(requester_name or "").split())[:200],
        requester_email=requester_email,
        channel=channel,
        category=category,
        priority=priority,
        status=TicketStatus.NEW,
        owner=_customer_owner(account, contact),
        team=team,
        source_message_id=(source_message_id or "")[:255],
    )
    if assigned_agent is not None:
        ticket.assigned_agent = assigned_agent
    elif team is not None:
        ticket.assigned_agent_id = _next_agent(team)
    _apply_sla(ticket, opened_at=now)
    ticket.number = _next_number(company.pk)
    ticket.save()
    if ticket.assigned_agent_id and ticket.assigned_agent_id != getattr(by, "pk", None):
        _notify(
            ticket, [ticket.assigned_agent_id], title=lambda: _("New ticket for you: %(ticket)s") % {"ticket": ticket}
        )
    if account is not None:  # those who follow the account hear of its new tickets
        tell_ticket_followers(
            ticket,
            by=by,
            title=lambda: _("New ticket for %(account)s: %(ticket)s") % {"account": account.name, "ticket": ticket},
        )
    return ticket


TICKET_FIELDS = frozenset({"subject", "description", "category", "priority", "account", "contact"})


@transaction.atomic
def ticket_update(*, ticket: Ticket, by: User | None, **fields: Any) -> Ticket:
    """Change a ticket's subject, description, category, priority or customer. A new priority re-applies the
    SLA policy from the moment the ticket was opened. A closed ticket is not edited. Locks the row."""
    unknown = set(fields) - TICKET_FIELDS
    if unknown:
        raise TypeError(f"unknown ticket fields: {', '.join(sorted(unknown))}")
    ticket = lock_ticket(ticket.pk)
    if ticket.status == TicketStatus.CLOSED:
        raise TicketClosedError(_("This ticket is closed."))
    errors: dict[str, list] = {}
    if "subject" in fields:
        fields["subject"] = " ".join(
            _clean_text(fields["subject"], field="subject", errors=errors, required=True, max_length=200).split()
        )
    if "description" in fields:
        fields["description"] = _clean_text(
            fields["description"], field="description", errors=errors, max_length=MAX_BODY_LENGTH
        )
    if "priority" in fields and fields["priority"] not in TicketPriority.values:
        errors.setdefault("priority", []).append(_("Unknown priority."))
    category = fields.get("category")
    if category is not None and (category.company_id != ticket.company_id or not category.is_active):
        errors.setdefault("category", []).append(_("Unknown category."))
    account = fields.get("account", ticket.account)
    contact = fields.get("contact", ticket.contact)
    if "contact" in fields and "account" not in fields and contact is not None and contact.account_id:
        account = fields["account"] = contact.account
    _check_customer(ticket.company_id, account, contact, errors)
    if errors:
        raise ValidationError(errors)
    changed = []
    for name, value in fields.items():
        if getattr(ticket, name) != value:
            setattr(ticket, name, value)
            changed.append(name)
    if {"account", "contact"} & set(changed):
        owner = _customer_owner(account, contact)
        if ticket.owner_id != getattr(owner, "pk", None):
            ticket.owner = owner
            changed.append("owner")
    if "priority" in changed:
        _apply_sla(ticket, opened_at=ticket.created_at)
        changed += ["sla_policy", "first_response_due_at", "resolution_due_at"]
    if changed:
        ticket.save(update_fields=[*dict.fromkeys(changed), "updated_at"])
    return ticket


# ---------------------------------------------------------------- the thread


def _message(ticket: Ticket, *, kind: str, body: str, by, errors: dict | None = None, **extra) -> TicketMessage:
    errors = {} if errors is None else errors
    body = _clean_text(body, field="body", errors=errors, required=True, max_length=MAX_BODY_LENGTH)
    if errors:
        raise ValidationError(errors)
    return TicketMessage.objects.create(
        company_id=ticket.company_id,
        ticket=ticket,
        kind=kind,
        author=by,
        body=body,
        **extra,
    )


@transaction.atomic
def ticket_reply(*, ticket: Ticket, by: User | None, body: str) -> TicketMessage:
    """Reply to the customer. The first reply stops the first-response timer; a new or open ticket then waits
    for the customer (``pending``). Queues the e-mail to the requester after commit. A closed ticket takes no
    reply (``TicketClosedError``). Locks the ticket row."""
    ticket = lock_ticket(ticket.pk)
    if ticket.status == TicketStatus.CLOSED:
        raise TicketClosedError(_("This ticket is closed; open a new one."))
    message = _message(ticket, kind=TicketMessageKind.REPLY, body=body, by=by)
    changed = []
    if ticket.first_responded_at is None:
        ticket.first_responded_at = message.created_at
        changed.append("first_responded_at")
        changed += _late(ticket, "first_response", message.created_at)
    if ticket.status in (TicketStatus.NEW, TicketStatus.OPEN):
        ticket.status = TicketStatus.PENDING
        changed.append("status")
    if ticket.assigned_agent_id is None and by is not None and _is_member(ticket.company_id, by):
        ticket.assigned_agent = by
        changed.append("assigned_agent")
    if changed:
        ticket.save(update_fields=[*changed, "updated_at"])
    _queue_customer_email(ticket, message_id=message.pk)
    return message


@transaction.atomic
def ticket_note(*, ticket: Ticket, by: User | None, body: str) -> TicketMessage:
    """Add an internal note (never shown or sent to the customer). Changes no timer or status; a closed
    ticket still takes notes. Colleagues named with "@" are told if they may see the ticket (the returned
    message's ``mentions``: ``suite.services.mentions``). Locks the ticket row."""
    ticket = lock_ticket(ticket.pk)
    message = _message(ticket, kind=TicketMessageKind.NOTE, body=body, by=by)
    ticket.save(update_fields=["updated_at"])
    message.mentions = mentions_notify(
        company=ticket.company, by=by, text=message.body, record=ticket, link=f"/crm/tickets/{ticket.pk}/"
    )
    return message


@transaction.atomic
def ticket_customer_message(
    *, ticket: Ticket, body: str, author_name: str = "", author_email: str = "", email_message_id: str = ""
) -> TicketMessage:
    """Record a message from the customer: a pending or resolved ticket is open again (a resolved one loses its
    resolution time); a closed one is refused (``TicketClosedError``: the caller opens a new ticket). Notifies
    the assigned agent. Locks the ticket row."""
    ticket = lock_ticket(ticket.pk)
    if ticket.status == TicketStatus.CLOSED:
        raise TicketClosedError(_("This ticket is closed; open a new one."))
    message = _message(
        ticket,
        kind=TicketMessageKind.INBOUND,
        body=body,
        by=None,
        author_name=(author_name or "")[:200],
        author_email=normalize_email(author_email or ""),
        email_message_id=(email_message_id or "")[:255],
    )
    changed = ["updated_at"]
    if ticket.status in (TicketStatus.PENDING, TicketStatus.RESOLVED):
        ticket.status = TicketStatus.OPEN
        ticket.resolved_at = None
        changed += ["status", "resolved_at"]
    ticket.save(update_fields=changed)
    _notify(
        ticket, [ticket.assigned_agent_id], title=lambda: _("The customer wrote on %(ticket)s") % {"ticket": ticket}
    )
    tell_ticket_followers(
        ticket,
        by=None,
        title=lambda: _("The customer wrote on %(ticket)s") % {"ticket": ticket},
        body=Truncator(message.body).chars(300),
        skip=[ticket.assigned_agent_id],
    )
    return message


# ---------------------------------------------------------------- assignment and escalation


@transaction.atomic
def ticket_assign(*, ticket: Ticket, by: User | None, agent: User | None = None, team: Team | None = None) -> Ticket:
    """Give the ticket to ``agent`` (an active member), or — with only ``team`` — to the team's next agent in
    round robin. A new ticket becomes open. Notifies the new agent. Locks the row."""
    ticket = lock_ticket(ticket.pk)
    if ticket.status == TicketStatus.CLOSED:
        raise TicketClosedError(_("This ticket is closed."))
    errors: dict[str, list] = {}
    if team is not None and team.company_id != ticket.company_id:
        errors["team"] = [_("Unknown team.")]
    if agent is not None and not _is_member(ticket.company_id, agent):
        errors["agent"] = [_("The agent must be an active member of the company.")]
    if agent is None and team is None:
        errors["agent"] = [_("Choose an agent or a team.")]
    if errors:
        raise ValidationError(errors)
    if team is not None:
        ticket.team = team
    agent_id = agent.pk if agent is not None else _next_agent(team)
    previous = ticket.assigned_agent_id
    ticket.assigned_agent_id = agent_id
    if ticket.status == TicketStatus.NEW and agent_id:
        ticket.status = TicketStatus.OPEN
    ticket.save(update_fields=["team", "assigned_agent", "status", "updated_at"])
    if agent_id and agent_id != previous and agent_id != getattr(by, "pk", None):
        _notify(ticket, [agent_id], title=lambda: _("Ticket assigned to you: %(ticket)s") % {"ticket": ticket})
    return ticket


@transaction.atomic
def ticket_escalate(
    *, ticket: Ticket, by: User | None, reason: str, team: Team | None = None, priority: str | None = None
) -> Ticket:
    """Escalate: flag the ticket with ``reason``, optionally raise its priority (SLA re-applied from opening)
    and hand it to another ``team`` (its next agent in round robin). Notifies the team's manager, the agent and
    the customer's owner. Escalating again updates the reason. Refused on resolved and closed tickets. Locks
    the row."""
    ticket = lock_ticket(ticket.pk)
    if ticket.status not in ACTIVE_STATUSES:
        raise CrmConflict(_("Only an unresolved ticket can be escalated."))
    errors: dict[str, list] = {}
    reason = _clean_text(reason, field="reason", errors=errors, required=True, max_length=255)
    if team is not None and team.company_id != ticket.company_id:
        errors["team"] = [_("Unknown team.")]
    if priority is not None and priority not in TicketPriority.values:
        errors["priority"] = [_("Unknown priority.")]
    elif priority is not None and PRIORITY_ORDER.index(priority) < PRIORITY_ORDER.index(ticket.priority):
        errors["priority"] = [_("An escalation does not lower the priority.")]
    if errors:
        raise ValidationError(errors)
    changed = ["escalated", "escalated_at", "escalation_reason", "updated_at"]
    ticket.escalated = True
    ticket.escalated_at = timezone.now()
    ticket.escalation_reason = reason
    if priority is not None and priority != ticket.priority:
        ticket.priority = priority
        _apply_sla(ticket, opened_at=ticket.created_at)
        changed += ["priority", "sla_policy", "first_response_due_at", "resolution_due_at"]
    if team is not None and team.pk != ticket.team_id:
        ticket.team = team
        ticket.assigned_agent_id = _next_agent(team)
        changed += ["team", "assigned_agent"]
    ticket.save(update_fields=changed)
    manager_id = ticket.team.manager_id if ticket.team_id else None
    _notify(
        ticket,
        [manager_id, ticket.assigned_agent_id, ticket.owner_id],
        title=lambda: _("Ticket escalated: %(ticket)s") % {"ticket": ticket},
        body=reason,
        level="warning",
    )
    tell_ticket_followers(
        ticket, by=by, title=lambda: _("Ticket escalated: %(ticket)s") % {"ticket": ticket}, body=reason
    )
    return ticket


# ---------------------------------------------------------------- resolution, follow-up and CSAT


def _follow_up_owner(ticket: Ticket, by):
    for candidate in (ticket.owner, ticket.assigned_agent, by):
        if candidate is not None and _is_member(ticket.company_id, candidate):
            return candidate
    return None


@dataclass(frozen=True)
class Resolution:
    ticket: Ticket
    follow_up: Activity | None
    survey: CsatSurvey


@transaction.atomic
def ticket_resolve(
    *, ticket: Ticket, by: User | None, resolution: str = "", follow_up_days: int | None = None
) -> Resolution:
    """Resolve the ticket: status ``resolved`` now; an optional ``resolution`` text is kept as an internal note.

    Then, the follow-up visit (回访): a task for the customer's owner (else the agent, else ``by``) due in
    ``follow_up_days`` (default ``CRM_TICKET_FOLLOW_UP_DAYS``, 3), linked to the ticket's account/contact (none
    when the ticket has no customer); and a satisfaction survey with a single-use token, valid 30 days, whose
    link is e-mailed to the requester after commit. Resolving a resolved ticket changes nothing and returns
    what it made the first time; a ticket reopened and resolved again gets a new follow-up and a fresh survey
    token (unless the customer answered the survey already: that answer is kept). A closed ticket is refused.
    Locks the ticket row.
    """
    ticket = lock_ticket(ticket.pk)
    if ticket.status == TicketStatus.CLOSED:
        raise TicketClosedError(_("This ticket is closed."))
    if ticket.status == TicketStatus.RESOLVED:
        return Resolution(ticket, ticket.follow_up_activity, ticket.csat)
    days = follow_up_days if follow_up_days is not None else getattr(settings, "CRM_TICKET_FOLLOW_UP_DAYS", 3)
    if not isinstance(days, int) or not 0 <= days <= 365:
        raise ValidationError({"follow_up_days": [_("Give a whole number of days from 0 to 365.")]})
    if resolution and resolution.strip():
        _message(ticket, kind=TicketMessageKind.NOTE, body=resolution, by=by)
    now = timezone.now()
    ticket.status = TicketStatus.RESOLVED
    ticket.resolved_at = now
    late = _late(ticket, "resolution", now)
    follow_up = None
    owner = _follow_up_owner(ticket, by)
    if (ticket.account_id or ticket.contact_id) and owner is not None:
        follow_up = activity_create(
            company=ticket.company,
            by=by,
            kind=ActivityKind.TASK,
            subject=str(_("Follow-up visit (回访): %(ticket)s") % {"ticket": ticket})[:200],
            body=str(_("Call the customer back: is the problem solved, are they satisfied?")),
            due_at=now + timedelta(days=days),
            account=ticket.account,
            contact=ticket.contact,
            ticket=ticket,
            owner=owner,
        )
        ticket.follow_up_activity = follow_up
    ticket.save(update_fields=["status", "resolved_at", "follow_up_activity", *late, "updated_at"])
    survey = CsatSurvey.objects.select_for_update(of=("self",)).filter(ticket=ticket).first()
    send_survey = survey is None or survey.submitted_at is None
    if survey is None:
        survey = CsatSurvey(company_id=ticket.company_id, ticket=ticket)
    if send_survey:  # an answer the customer gave before the ticket was reopened is kept, not asked again
        survey.token = secrets.token_urlsafe(32)
        survey.expires_at = now + timedelta(days=CSAT_VALID_DAYS)
        survey.save()
    if follow_up is not None and owner.pk != getattr(by, "pk", None):
        _notify(ticket, [owner.pk], title=lambda: _("Follow-up visit to do: %(ticket)s") % {"ticket": ticket})
    if send_survey:
        _queue_customer_email(ticket, survey=True)
    from crm.services.complaints import ticket_resolved_publish  # closed loop: SCRM replies with the survey link

    ticket_resolved_publish(ticket=ticket, survey=survey, by=by)
    tell_ticket_followers(ticket, by=by, title=lambda: _("%(ticket)s was resolved") % {"ticket": ticket})
    return Resolution(ticket, follow_up, survey)


@transaction.atomic
def ticket_close(*, ticket: Ticket, by: User | None) -> Ticket:
    """Close a ticket for good (after resolution, or as spam / duplicate). Closing twice changes nothing.
    Locks the row."""
    ticket = lock_ticket(ticket.pk)
    if ticket.status == TicketStatus.CLOSED:
        return ticket
    ticket.status = TicketStatus.CLOSED
    ticket.closed_at = timezone.now()
    ticket.save(update_fields=["status", "closed_at", "updated_at"])
    return ticket


@transaction.atomic
def csat_submit(*, token: str, score: Any, comment: str = "") -> CsatSurvey:
    """Record the customer's satisfaction answer (``score`` 1–5, optional comment) for the survey of ``token``.

    The token is single-use: a second answer is refused (``CsatAlreadyAnsweredError``), as is one after the
    survey expired (``CsatExpiredError``); an unknown token is a ``ValidationError`` on ``token``. Locks the
    survey row, so two answers sent at once record one."""
    errors: dict[str, list] = {}
    try:
        score = int(str(score).strip())
    except (TypeError, ValueError):
        score = None
    if score is None or not 1 <= score <= 5:
        errors["score"] = [_("Choose a score from 1 to 5.")]
    comment = _clean_text(comment, field="comment", errors=errors, max_length=2000)
    survey = (
        CsatSurvey.objects.select_for_update(of=("self",)).filter(token=str(token or "")[:64]).first()
        if token
        else None
    )
    if survey is None:
        raise ValidationError({"token": [_("This survey link is not valid.")]})
    if survey.submitted_at is not None:
        raise CsatAlreadyAnsweredError(_("This survey was answered already. Thank you!"))
    if survey.expires_at <= timezone.now():
        raise CsatExpiredError(_("This survey link has expired."))
    if errors:
        raise ValidationError(errors)
    survey.score = score
    survey.comment = comment
    survey.submitted_at = timezone.now()
    survey.save(update_fields=["score", "comment", "submitted_at", "updated_at"])
    return survey


# ---------------------------------------------------------------- SLA breaches


def _late(ticket: Ticket, target: str, done_at: datetime) -> list[str]:
    """A first response or resolution made after its due time missed the SLA, whether or not the sweep saw the
    ticket overdue first (beat down, or done within the sweep's minute): mark it breached at its due time. No
    notification — it is done. Returns the field changed, if any, for ``update_fields``."""
    due, breached = getattr(ticket, f"{target}_due_at"), f"{target}_breached_at"
    if due is None or done_at <= due or getattr(ticket, breached) is not None:
        return []
    setattr(ticket, breached, due)
    return [breached]


@dataclass(frozen=True)
class SlaSweep:
    first_response_breaches: int
    resolution_breaches: int


def _breach_batch(*, now: datetime, due_field: str, done_field: str, breached_field: str) -> list[Ticket]:
    tickets = list(
        Ticket.objects.select_for_update(of=("self",), skip_locked=True)
        .filter(
            status__in=ACTIVE_STATUSES,
            **{f"{due_field}__lt": now, f"{done_field}__isnull": True, f"{breached_field}__isnull": True},
        )
        .select_related("company", "team")
        .order_by(due_field, "pk")[:SLA_SWEEP_BATCH]
    )
    if tickets:
        Ticket.objects.filter(pk__in=[t.pk for t in tickets]).update(**{breached_field: now})
    return tickets


@transaction.atomic
def tickets_check_sla(*, now: datetime | None = None) -> SlaSweep:
    """Mark every unresolved ticket whose first response or resolution is overdue as breached (once) and
    notify its agent, its team's manager and — for a resolution breach — the customer's owner.

    Claims up to 500 tickets per kind with ``FOR UPDATE SKIP LOCKED``, so two sweeps running at once never
    notify twice; what is left is taken by the next run (beat, every minute). Publishes nothing."""
    now = now or timezone.now()
    responses = _breach_batch(
        now=now,
        due_field="first_response_due_at",
        done_field="first_responded_at",
        breached_field="first_response_breached_at",
    )
    resolutions = _breach_batch(
        now=now, due_field="resolution_due_at", done_field="resolved_at", breached_field="resolution_breached_at"
    )
    for ticket in responses:
        _notify(
            ticket,
            [ticket.assigned_agent_id, ticket.team.manager_id if ticket.team_id else None],
            title=lambda ticket=ticket: _("First response overdue: %(ticket)s") % {"ticket": ticket},
            level="error",
        )
    for ticket in resolutions:
        _notify(
            ticket,
            [ticket.assigned_agent_id, ticket.team.manager_id if ticket.team_id else None, ticket.owner_id],
            title=lambda ticket=ticket: _("Resolution overdue: %(ticket)s") % {"ticket": ticket},
            level="error",
        )
    return SlaSweep(first_response_breaches=len(responses), resolution_breaches=len(resolutions))


# ---------------------------------------------------------------- inbound e-mail


@dataclass(frozen=True)
class InboundResult:
    ticket: Ticket
    message: TicketMessage | None
    created: bool
    duplicate: bool


def _contact_by_email(company_id: int, address: str) -> Contact | None:
    if not address:
        return None
    return (
        Contact.objects.filter(company_id=company_id, email=address, merged_into__isnull=True)
        .select_related("account", "owner")
        .order_by("pk")
        .first()
    )


def _contact_by_phone(company_id: int, phone: str) -> Contact | None:
    if not phone:
        return None
    return (
        Contact.objects.filter(company_id=company_id, phone=phone, merged_into__isnull=True)
        .select_related("account", "owner")
        .order_by("pk")
        .first()
    )


@transaction.atomic
def ticket_from_social_conversation(*, company_id: int, payload: dict) -> Ticket | None:
    """The service ticket staff asked for from an SCRM conversation (``scrm.conversation.escalated`` v1): channel
    social, the customer's last message as the subject and the recent messages as the description, for the
    matched CRM contact (its account, its owner), given to the staff member who asked when they are an agent of
    the company (else the round robin). Idempotent: the payload's ``source_key`` is the ticket's source, so asking
    again for the same last message finds the ticket. ``None`` for an unknown company."""
    company = Company.objects.filter(pk=company_id).first()
    if company is None:
        return None
    key = str(payload.get("source_key") or "")[:255]
    existing = Ticket.objects.filter(company_id=company_id, source_message_id=key).first() if key else None
    if existing is not None:
        return existing
    contact = (
        Contact.objects.filter(pk=payload.get("crm_contact_id"), company_id=company_id)
        .select_related("account")
        .first()
        if payload.get("crm_contact_id")
        else None
    )
    while contact is not None and contact.merged_into_id is not None:  # merged since: the survivor
        contact = Contact.objects.select_related("account").get(pk=contact.merged_into_id)
    account = contact.account if contact is not None else None
    if account is None and payload.get("crm_account_id"):
        account = Account.objects.filter(pk=payload["crm_account_id"], company_id=company_id).first()
    if account is not None and account.merged_into_id is not None:
        account = Account.objects.filter(pk=account.merged_into_id).first()
    requester = payload.get("requested_by_id")
    agent = get_user_model().objects.filter(pk=requester).first() if requester else None
    if agent is not None and not _is_member(company_id, agent):
        agent = None
    name = str(payload.get("display_name") or "")
    return ticket_open(
        company=company,
        by=agent,
        subject=str(payload.get("subject") or "") or _("Message from %(name)s") % {"name": name or "?"},
        description=str(payload.get("transcript") or "")[:MAX_BODY_LENGTH],
        contact=contact,
        account=account,
        channel=TicketChannel.SOCIAL,
        assigned_agent=agent,
        requester_name=name[:200],
        source_message_id=key,
    )


@transaction.atomic
def ticket_from_web_form(
    *,
    company: Company,
    subject: str,
    description: str = "",
    name: str = "",
    email: str = "",
    phone: str = "",
    company_name: str = "",
    category: TicketCategory | None = None,
) -> Ticket:
    """A service request sent from a public support form (``WebForm`` of kind ``ticket``): a ticket on the web
    channel, matched to a live contact by e-mail, else by phone (with the contact's account), answered to the
    e-mail given. What matched nothing (the phone, the company name) is kept in the description for the agent.
    ``ValidationError`` for a bad subject, e-mail or phone; nothing is written then. Notifies the agent
    (``ticket_open``)."""
    errors: dict[str, list] = {}
    try:
        phone = normalize_phone(phone or "")
    except ValidationError as exc:
        errors["phone"] = exc.messages
    email = normalize_email(email or "")
    if errors:
        raise ValidationError(errors)
    contact = _contact_by_email(company.pk, email) or _contact_by_phone(company.pk, phone)
    details = []
    if contact is None:
        given = ((_("Phone"), phone), (_("Company"), (company_name or "").strip()))
        details = [f"{label}: {value}" for label, value in given if value]
    body = "\n\n".join(part for part in ((description or "").strip(), "\n".join(details)) if part)
    return ticket_open(
        company=company,
        by=None,
        subject=subject,
        description=body,
        contact=contact,
        account=contact.account if contact is not None else None,
        channel=TicketChannel.WEB,
        category=category,
        requester_name=(name or "").strip()[:200],
        requester_email=email,
    )


@transaction.atomic
def ticket_inbound_email(*, company: Company, raw: bytes) -> InboundResult:
    """Turn a raw RFC 5322 message into a ticket of ``company``, or a customer message on an existing one.

    Parsed with the standard library (``email``, default policy): the sender (``From``) is matched to a live
    contact by e-mail address (with the contact's account); the text body (or the HTML one, stripped) is the
    message. A subject holding ``[#number]`` of one of the company's tickets that is not closed appends to that
    ticket (reopening it); otherwise a new e-mail ticket is opened. A ``Message-ID`` seen before returns the
    earlier result (mail gateways retry). Raises ``ValidationError`` for a message without a sender or with
    neither subject nor body. Serialised per company and Message-ID with an advisory lock.
    """
    if len(raw) > MAX_INBOUND_EMAIL_BYTES:
        raise ValidationError({"message": [_("The e-mail is too large.")]})
    message = email.message_from_bytes(raw, policy=email.policy.default)
    name, address = parseaddr(header_text(message, "From"))
    address = normalize_email(address)
    try:
        validate_email(address)
    except ValidationError:
        raise ValidationError({"from": [_("The e-mail has no valid sender address.")]}) from None
    subject = header_text(message, "Subject")[:200]
    body = plain_text(message, limit=MAX_BODY_LENGTH)
    message_id = header_text(message, "Message-ID")[:255]
    if not subject and not body:
        raise ValidationError({"message": [_("The e-mail has neither a subject nor a text.")]})
    if message_id:
        advisory_lock(f"crm.ticket.inbound:{company.pk}:{message_id}")
        earlier = (
            TicketMessage.objects.filter(company=company, email_message_id=message_id).select_related("ticket").first()
        )
        if earlier is not None:
            return InboundResult(earlier.ticket, earlier, created=False, duplicate=True)
        earlier_ticket = Ticket.objects.filter(company=company, source_message_id=message_id).first()
        if earlier_ticket is not None:
            return InboundResult(earlier_ticket, None, created=False, duplicate=True)

    match = SUBJECT_NUMBER.search(subject)
    if match:
        existing = (
            Ticket.objects.filter(company=company, number=int(match.group(1)))
            .exclude(status=TicketStatus.CLOSED)
            .first()
        )
        if existing is not None:
            added = ticket_customer_message(
                ticket=existing,
                body=body or subject,
                author_name=name,
                author_email=address,
                email_message_id=message_id,
            )
            return InboundResult(existing, added, created=False, duplicate=False)

    contact = _contact_by_email(company.pk, address)
    ticket = ticket_open(
        company=company,
        by=None,
        subject=subject or body[:80],
        description=body,
        account=contact.account if contact is not None else None,
        contact=contact,
        channel=TicketChannel.EMAIL,
        requester_name=name or (contact.name if contact is not None else ""),
        requester_email=address,
        source_message_id=message_id,
    )
    return InboundResult(ticket, None, created=True, duplicate=False)


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedInboundToken:
    token: TicketInboundToken
    secret: str  # shown once


@transaction.atomic
def inbound_token_issue(*, company: Company, name: str, by: User | None) -> IssuedInboundToken:
    """A new inbound e-mail token of the company; the secret is returned once and only its hash is kept."""
    errors: dict[str, list] = {}
    name = _clean_text(name, field="name", errors=errors, required=True, max_length=100)
    if errors:
        raise ValidationError(errors)
    secret = "tin_" + secrets.token_urlsafe(32)
    token = TicketInboundToken.objects.create(
        company=company, name=name, prefix=secret[:10], token_hash=_token_hash(secret), created_by=by
    )
    return IssuedInboundToken(token, secret)


@transaction.atomic
def inbound_token_revoke(*, token: TicketInboundToken, by: User | None) -> None:
    """Deactivate the token: mail posted with it is refused from now on."""
    TicketInboundToken.objects.filter(pk=token.pk).update(is_active=False, updated_at=timezone.now())


def inbound_token_company(secret: str) -> Company | None:
    """The company an active inbound token belongs to (``None`` for an unknown or revoked one); records its
    use. A read with a tiny write, outside any caller transaction."""
    if not secret or len(secret) > 200:
        return None
    token = (
        TicketInboundToken.objects.select_related("company")
        .filter(token_hash=_token_hash(secret), is_active=True)
        .first()
    )
    if token is None:
        return None
    TicketInboundToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.company


# ---------------------------------------------------------------- configuration


@transaction.atomic
def ticket_category_create(
    *, company: Company, by: User | None, name: str, name_en: str = "", default_team: Team | None = None, **extra
) -> TicketCategory:
    """A ticket category of the company (names unique in the company)."""
    category = TicketCategory(company=company)
    return _save_category(category, {"name": name, "name_en": name_en, "default_team": default_team, **extra})


@transaction.atomic
def ticket_category_update(*, category: TicketCategory, by: User | None, **fields: Any) -> TicketCategory:
    """Rename, re-team, reorder or retire (``is_active``) a category. Locks the row."""
    category = TicketCategory.objects.select_for_update(of=("self",)).get(pk=category.pk)
    return _save_category(category, fields)


_CATEGORY_FIELDS = frozenset({"name", "name_en", "default_team", "is_active", "sort_order"})


def _save_category(category: TicketCategory, fields: dict) -> TicketCategory:
    unknown = set(fields) - _CATEGORY_FIELDS
    if unknown:
        raise TypeError(f"unknown category fields: {', '.join(sorted(unknown))}")
    errors: dict[str, list] = {}
    if "name" in fields:
        fields["name"] = _clean_text(fields["name"], field="name", errors=errors, required=True, max_length=100)
    if "name_en" in fields:
        fields["name_en"] = _clean_text(fields["name_en"], field="name_en", errors=errors, max_length=100)
    team = fields.get("default_team")
    if team is not None and team.company_id != category.company_id:
        errors["default_team"] = [_("Unknown team.")]
    if errors:
        raise ValidationError(errors)
    for name, value in fields.items():
        setattr(category, name, value)
    try:
        with transaction.atomic():
            category.save()
    except IntegrityError:
        raise ValidationError({"name": [_("This name is already used.")]}) from None
    return category


@transaction.atomic
def ticket_category_delete(*, category: TicketCategory, by: User | None) -> None:
    """Delete a category no ticket uses (else ``CrmConflict``: retire it with ``is_active`` instead)."""
    category = TicketCategory.objects.select_for_update(of=("self",)).get(pk=category.pk)
    if category.tickets.exists():
        raise CrmConflict(_("Tickets use this category; make it inactive instead."))
    category.delete()


@transaction.atomic
def sla_policy_set(
    *,
    company: Company,
    by: User | None,
    priority: str,
    first_response_minutes: int,
    resolution_minutes: int,
    is_active: bool = True,
) -> SlaPolicy:
    """Create or replace the company's SLA targets for ``priority`` (tickets opened from now on use them)."""
    errors: dict[str, list] = {}
    if priority not in TicketPriority.values:
        errors["priority"] = [_("Unknown priority.")]
    for name, value in (("first_response_minutes", first_response_minutes), ("resolution_minutes", resolution_minutes)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 525_600:
            errors[name] = [_("Give a whole number of minutes from 1 to 525600 (a year).")]
    if not errors and resolution_minutes < first_response_minutes:
        errors["resolution_minutes"] = [_("Resolution cannot be due before the first response.")]
    if errors:
        raise ValidationError(errors)
    policy, _created = SlaPolicy.objects.update_or_create(
        company=company,
        priority=priority,
        defaults={
            "first_response_minutes": first_response_minutes,
            "resolution_minutes": resolution_minutes,
            "is_active": is_active,
        },
    )
    return policy


@transaction.atomic
def sla_policy_delete(*, policy: SlaPolicy, by: User | None) -> None:
    """Remove the targets of a priority; tickets keep the due times they were given."""
    SlaPolicy.objects.filter(pk=policy.pk).delete()
