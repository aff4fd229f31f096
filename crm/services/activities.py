"""Writes of activities: calls, meetings, tasks and notes on accounts, contacts, leads and opportunities."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Activity, ActivityKind
from crm.services.mail import addresses_clean
from suite.models import Company, Membership, Team
from suite.services.mentions import Mentions, mentions_notify

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ACTIVITY_FIELDS = frozenset(
    {
        "kind",
        "subject",
        "body",
        "due_at",
        "done_at",
        "remind_at",
        "duration_minutes",
        "location",
        "outcome",
        "email_to",
        "email_cc",
        "email_message_id",
        "account",
        "contact",
        "lead",
        "opportunity",
        "ticket",
        "owner",
        "team",
    }
)
_LINKS = ("account", "contact", "lead", "opportunity", "ticket")


def lock_activity(pk: int) -> Activity:
    """The activity row, locked for the rest of the transaction."""
    return Activity.objects.select_for_update(of=("self",)).get(pk=pk)


def _apply(activity: Activity, fields: dict[str, Any]) -> list[str]:
    unknown = set(fields) - ACTIVITY_FIELDS
    if unknown:
        raise TypeError(f"unknown activity fields: {', '.join(sorted(unknown))}")
    errors: dict[str, list] = {}
    company_id = activity.company_id
    for name in _LINKS:
        record = fields.get(name)
        if record is None:
            continue
        if record.company_id != company_id or getattr(record, "merged_into_id", None):
            errors.setdefault(name, []).append(_("Unknown record."))
    owner = fields.get("owner")
    if owner is not None and not Membership.objects.filter(company_id=company_id, user=owner, is_active=True).exists():
        errors.setdefault("owner", []).append(_("The owner must be an active member of the company."))
    team: Team | None = fields.get("team")
    if team is not None and team.company_id != company_id:
        errors.setdefault("team", []).append(_("Unknown team."))
    for key in ("due_at", "done_at", "remind_at"):
        value = fields.get(key)
        if value is not None and (not isinstance(value, datetime) or timezone.is_naive(value)):
            errors.setdefault(key, []).append(_("Give a date and time with its time zone."))
    for key in ("email_to", "email_cc"):  # a logged e-mail's addresses: checked and written one way
        if fields.get(key):
            fields[key] = ", ".join(addresses_clean(fields[key], field=key, errors=errors, maximum=None))
    changed = []
    for name, value in fields.items():
        if isinstance(value, str):
            value = value.strip()
        if getattr(activity, name) != value:
            setattr(activity, name, value)
            changed.append(name)
    if not any(getattr(activity, f"{name}_id") for name in _LINKS):
        errors.setdefault("account", []).append(
            _("Link the activity to an account, contact, lead, opportunity or ticket.")
        )
    if "remind_at" in changed and activity.reminded_at is not None:
        activity.reminded_at = None  # a new reminder time: remind again
        changed.append("reminded_at")
    if activity.kind == ActivityKind.NOTE and activity.done_at is None:
        activity.done_at = timezone.now()
        changed.append("done_at")
    try:
        activity.full_clean(
            exclude=[
                f.name for f in Activity._meta.fields if f.name not in fields or f.name in (*_LINKS, "owner", "team")
            ],
            validate_unique=False,
            validate_constraints=False,
        )
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    return changed


@transaction.atomic
def activity_create(*, company: Company, by: User | None, **fields: Any) -> Activity:
    """Log or plan an activity linked to at least one of account, contact, lead, opportunity, ticket (of the
    company).

    The owner (who does it) defaults to ``by``; a note is done when written. When only an opportunity, a contact
    or a ticket is given, the customer is filled from it so the activity shows on the customer's timeline.
    Colleagues named with "@" in the details are told (``suite.services.mentions``) if they may see the record the
    activity is on; what became of them is on the returned activity's ``mentions``. Publishes nothing.
    """
    fields.setdefault("owner", by)
    opportunity, contact, ticket = fields.get("opportunity"), fields.get("contact"), fields.get("ticket")
    if ticket is not None and ticket.company_id == company.pk and contact is None and ticket.contact_id:
        fields["contact"] = contact = ticket.contact
    if fields.get("account") is None:
        if opportunity is not None and opportunity.company_id == company.pk and opportunity.account_id:
            fields["account"] = opportunity.account
        elif contact is not None and contact.company_id == company.pk and contact.account_id:
            fields["account"] = contact.account
        elif ticket is not None and ticket.company_id == company.pk and ticket.account_id:
            fields["account"] = ticket.account
    activity = Activity(company=company)
    _apply(activity, fields)
    if activity.team_id is None and activity.owner_id is not None:
        activity.team = _only_team(company.pk, activity.owner_id)
    activity.save()
    activity.mentions = _tell_mentioned(activity, by)
    return activity


# the record an activity is "on": the most specific one it links to (as in the activity list and the calendar)
_MENTION_RECORDS = ("ticket", "opportunity", "lead", "contact", "account")


def _tell_mentioned(activity: Activity, by: User | None, *, before: str = "") -> Mentions:
    if not activity.body or activity.kind == ActivityKind.EMAIL:  # an e-mail's text is the customer's to read
        return Mentions()
    name = next(name for name in _MENTION_RECORDS if getattr(activity, f"{name}_id"))
    record = getattr(activity, name)
    link = reverse(f"crm:{name}-detail", args=[record.pk])
    return mentions_notify(company=activity.company, by=by, text=activity.body, record=record, link=link, before=before)


def _only_team(company_id: int, user_id: int) -> Team | None:
    """The user's team in the company when they are in exactly one (with several, no team is guessed)."""
    teams = list(Team.objects.filter(company_id=company_id, memberships__user_id=user_id)[:2])
    return teams[0] if len(teams) == 1 else None


@transaction.atomic
def activity_update(*, activity: Activity, by: User | None, **fields: Any) -> Activity:
    """Change an activity (reschedule, reassign, relink, edit). Colleagues an edit of the details names with "@"
    for the first time are told, as for a new activity (``activity.mentions``); those named before are not told
    again. Locks the row."""
    activity = lock_activity(activity.pk)
    before = activity.body
    changed = _apply(activity, fields)
    if changed:
        activity.save(update_fields=[*dict.fromkeys(changed), "updated_at"])
    activity.mentions = _tell_mentioned(activity, by, before=before) if "body" in changed else Mentions()
    return activity


@transaction.atomic
def activity_reassign(*, activity: Activity, by: User | None, owner: User, team: Team | None = None) -> Activity:
    """Give an open activity to ``owner`` (an active member of the company) and ``team`` — by default the new
    owner's team when they are in exactly one, as for a new activity — so that it shows on their "My day" and in
    their manager's lists. A done activity keeps its owner: it counts in that person's activity figures
    (``crm.selectors_kpi.activities_done``). Giving an activity to its owner changes nothing. The caller checks
    the policy ("assign"); the change is in the audit trail. Locks the row; publishes nothing."""
    activity = lock_activity(activity.pk)
    if activity.done_at is not None:
        raise ValidationError({"owner": [_("A done activity keeps its owner.")]})
    if activity.owner_id == owner.pk and (team is None or activity.team_id == team.pk):
        return activity
    if team is None:
        team = _only_team(activity.company_id, owner.pk)
    changed = _apply(activity, {"owner": owner, "team": team})
    if changed:
        activity.save(update_fields=[*dict.fromkeys(changed), "updated_at"])
    return activity


@transaction.atomic
def activity_complete(
    *, activity: Activity, by: User | None, outcome: str = "", done_at: datetime | None = None
) -> Activity:
    """Mark an activity done (now, or at ``done_at``) with an optional outcome. Completing a done activity
    changes nothing. Locks the row."""
    activity = lock_activity(activity.pk)
    if activity.done_at is not None:
        return activity
    activity.done_at = done_at or timezone.now()
    activity.outcome = (outcome or activity.outcome).strip()
    activity.save(update_fields=["done_at", "outcome", "updated_at"])
    return activity


@transaction.atomic
def activity_reopen(*, activity: Activity, by: User | None) -> Activity:
    """Mark a done task, call or meeting as not done again (notes are always done). Locks the row."""
    activity = lock_activity(activity.pk)
    if activity.kind == ActivityKind.NOTE:
        raise ValidationError({"kind": [_("A note cannot be reopened.")]})
    if activity.kind == ActivityKind.EMAIL and activity.email_to and activity.done_at is not None:
        raise ValidationError({"kind": [_("A sent e-mail cannot be reopened.")]})
    if activity.done_at is not None:
        activity.done_at = None
        activity.save(update_fields=["done_at", "updated_at"])
    return activity


@transaction.atomic
def activity_delete(*, activity: Activity, by: User | None) -> None:
    """Delete an activity (the audit trail keeps what it said). Locks the row."""
    lock_activity(activity.pk).delete()
