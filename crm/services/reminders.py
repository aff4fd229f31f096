"""Reminders of activities and nudges about stale opportunities (both run by Celery beat, see crm.tasks).

* ``activity_reminders_send`` — every minute: each open activity whose ``remind_at`` has come is reminded
  exactly once: an in-app notification to its owner and, where the owner (or else the company) chose e-mail
  reminders, a mail after commit — both in the owner's language. The ``reminded_at`` flag is set in the same
  transaction as the notification, on rows claimed with ``FOR UPDATE SKIP LOCKED`` — two sweeps at once never
  take the same row.
* ``opportunity_nudges_send`` — daily: the owner of an open opportunity in a pipeline with
  ``stale_after_days = N`` and no activity for N days is nudged (notification + ``OpportunityNudge``), at
  most once in any N days.
* ``reminder_preference_set`` — a user's own e-mail choice, or (admins) the company's default.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Exists, Max, OuterRef, Q, Subquery
from django.db.models.functions import Greatest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from crm.models import Activity, Opportunity, OpportunityNudge, OpportunityStatus, Pipeline, ReminderPreference
from suite.models import Company, Membership, Notification, Role
from suite.services.notifications import notifications_send_each

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)
REMINDER_BATCH = 500


# ---------------------------------------------------------------- preferences


def email_reminder_user_ids(company_id: int, user_ids) -> set[int]:
    """Of ``user_ids``, those who get reminders by e-mail in the company: their own preference, else the
    company's default (off when there is none). One query."""
    user_ids = set(user_ids)
    rows = ReminderPreference.objects.filter(company_id=company_id).filter(
        Q(user_id__in=user_ids) | Q(user__isnull=True)
    )
    default = False
    own: dict[int, bool] = {}
    for row in rows:
        if row.user_id is None:
            default = row.email_reminders
        else:
            own[row.user_id] = row.email_reminders
    return {user_id for user_id in user_ids if own.get(user_id, default)}


@transaction.atomic
def reminder_preference_set(
    *, company: Company, by: User, email_reminders: bool, user: User | None = None, company_default: bool = False
) -> ReminderPreference:
    """Set whether ``user``'s reminders (``by``'s own by default) also go out by e-mail, or with
    ``company_default`` the company's default (administrators only). Setting someone else's preference is for
    administrators too. Idempotent."""
    role = Membership.objects.filter(company=company, user=by, is_active=True).values_list("role", flat=True).first()
    if company_default:
        if role != Role.ADMIN:
            raise ValidationError({"company_default": [_("Only administrators set the company's default.")]})
        target = None
    else:
        target = user or by
        if target.pk != by.pk and role != Role.ADMIN:
            raise ValidationError({"user": [_("You may only change your own reminders.")]})
        if not Membership.objects.filter(company=company, user=target, is_active=True).exists():
            raise ValidationError({"user": [_("The user must be an active member of the company.")]})
    preference = ReminderPreference.objects.select_for_update(of=("self",)).filter(company=company, user=target).first()
    if preference is None:
        try:
            with transaction.atomic():
                return ReminderPreference.objects.create(company=company, user=target, email_reminders=email_reminders)
        except IntegrityError:
            preference = ReminderPreference.objects.select_for_update(of=("self",)).get(company=company, user=target)
    if preference.email_reminders != email_reminders:
        preference.email_reminders = email_reminders
        preference.save(update_fields=["email_reminders", "updated_at"])
    return preference


# ---------------------------------------------------------------- activity reminders


@dataclass(frozen=True)
class _Mail:
    subject: str
    text: str
    address: str


def _activity_link(activity: Activity) -> str:
    if activity.opportunity_id:
        return reverse("crm:opportunity-detail", args=[activity.opportunity_id])
    if activity.account_id:
        return reverse("crm:account-detail", args=[activity.account_id])
    if activity.contact_id:
        return reverse("crm:contact-detail", args=[activity.contact_id])
    return reverse("crm:my-day")


def _send_mails(mails: list[_Mail]) -> None:
    for mail in mails:
        try:
            send_mail(mail.subject, mail.text, None, [mail.address])
        except Exception:  # a mail server hiccup must not undo reminders already shown in the app
            logger.exception("reminder e-mail to %s failed", mail.address)


def _reminder_title(activity: Activity) -> str:
    """The reminder's title, in the active language (called once per reader's language)."""
    return _("Reminder: %(subject)s") % {"subject": activity.subject}


def _reminder_body(activity: Activity) -> str:
    """What is due when, the time in the active language's format."""
    if not activity.due_at:
        return str(activity.get_kind_display())
    when = date_format(timezone.localtime(activity.due_at), "SHORT_DATETIME_FORMAT")
    return _("%(kind)s due %(when)s") % {"kind": activity.get_kind_display(), "when": when}


@transaction.atomic
def activity_reminders_send(*, now: datetime | None = None, batch_size: int = REMINDER_BATCH) -> int:
    """Send the reminders that are due (``remind_at`` ≤ now, not sent, activity open, owner an active member):
    a notification each and, after commit, an e-mail where chosen — both in the owner's language
    (``Membership.language``, read with the due activities; else the language active now). Claims the rows with
    ``FOR UPDATE SKIP LOCKED`` and marks them ``reminded_at`` in this transaction: each activity is reminded
    exactly once even with two sweeps running. Per company: one query for the e-mail choices, one membership
    check and one INSERT for the notifications. Returns how many were reminded (at most ``batch_size`` per
    call)."""
    now = now or timezone.now()
    owner_membership = Membership.objects.filter(
        company_id=OuterRef("company_id"), user_id=OuterRef("owner_id"), is_active=True
    )
    due = list(
        Activity.objects.select_for_update(of=("self",), skip_locked=True)
        .filter(remind_at__lte=now, reminded_at__isnull=True, done_at__isnull=True, owner__isnull=False)
        .filter(Exists(owner_membership))
        .annotate(owner_language=Subquery(owner_membership.values("language")[:1]))
        .select_related("owner")
        .order_by("remind_at", "id")[:batch_size]
    )
    if not due:
        return 0
    Activity.objects.filter(pk__in=[a.pk for a in due]).update(reminded_at=now)
    by_company: dict[int, list[Activity]] = defaultdict(list)
    for activity in due:
        by_company[activity.company_id].append(activity)
    unknown = translation.get_language() or settings.LANGUAGE_CODE  # who never used the site: as notifications
    base = getattr(settings, "TROIKA_PUBLIC_URL", "").rstrip("/")
    mails: list[_Mail] = []
    for company_id, activities in by_company.items():
        emailed = email_reminder_user_ids(company_id, {a.owner_id for a in activities})
        notifications_send_each(
            company=company_id,
            items=[
                {
                    "recipient_id": activity.owner_id,
                    "title": lambda activity=activity: _reminder_title(activity),
                    "body": lambda activity=activity: _reminder_body(activity),
                    "link": _activity_link(activity),
                    "level": Notification.Level.INFO,
                }
                for activity in activities
            ],
            skip_non_members=True,  # an owner who left since the rows were read is not reminded
        )
        for activity in activities:
            if activity.owner_id in emailed and activity.owner.email:
                with translation.override(activity.owner_language or unknown):
                    subject, body = _reminder_title(activity), _reminder_body(activity)
                text = f"{body}\n\n{base}{_activity_link(activity)}"
                mails.append(_Mail(subject=subject, text=text, address=activity.owner.email))
    if mails:
        transaction.on_commit(lambda: _send_mails(mails))
    return len(due)


# ---------------------------------------------------------------- stale opportunity nudges


def _last_activity_expression():
    """When an opportunity last saw activity: the latest of its creation and its activities' creation or
    completion (PostgreSQL's GREATEST ignores NULLs)."""
    return Greatest("created_at", Max("activities__created_at"), Max("activities__done_at"))


@transaction.atomic
def opportunity_nudges_send(*, now: datetime | None = None) -> int:
    """Nudge the owners of stale opportunities: open, in a pipeline with ``stale_after_days`` = N, owned by an
    active member, with no activity for N days and no nudge in the last N days. Each gets a notification (in
    the owner's language; one membership check and one INSERT per pipeline) and an ``OpportunityNudge``.
    Candidate rows are locked with ``SKIP LOCKED`` and checked again once locked, so two runs at once nudge each
    opportunity once. Returns the number of nudges."""
    now = now or timezone.now()
    count = 0
    for pipeline in Pipeline.objects.filter(stale_after_days__gt=0, is_active=True):
        days = pipeline.stale_after_days
        cutoff = now - timedelta(days=days)
        recent_nudge = OpportunityNudge.objects.filter(opportunity_id=OuterRef("pk"), nudged_at__gt=cutoff)
        stale = (
            Opportunity.objects.filter(
                company_id=pipeline.company_id,
                stage__pipeline=pipeline,
                status=OpportunityStatus.OPEN,
                owner__isnull=False,
            )
            .filter(~Exists(recent_nudge))
            .annotate(last_activity_at=_last_activity_expression())
            .filter(last_activity_at__lte=cutoff)
        )
        last_seen = dict(stale.values_list("pk", "last_activity_at"))
        if not last_seen:
            continue
        locked = list(
            Opportunity.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(pk__in=list(last_seen), status=OpportunityStatus.OPEN)
            .filter(~Exists(recent_nudge))
            .filter(
                Exists(
                    Membership.objects.filter(
                        company_id=OuterRef("company_id"), user_id=OuterRef("owner_id"), is_active=True
                    )
                )
            )
            .order_by("pk")
        )
        if not locked:
            continue
        # activity logged between the two queries makes an opportunity fresh again
        fresh = dict(
            Opportunity.objects.filter(pk__in=[o.pk for o in locked])
            .annotate(last_activity_at=_last_activity_expression())
            .values_list("pk", "last_activity_at")
        )
        nudged = [o for o in locked if fresh[o.pk] <= cutoff]
        OpportunityNudge.objects.bulk_create(
            [
                OpportunityNudge(
                    company_id=o.company_id,
                    opportunity=o,
                    owner_id=o.owner_id,
                    team_id=o.team_id,
                    nudged_at=now,
                    nudged_on=timezone.localdate(now),
                    stale_days=days,
                    last_activity_at=fresh[o.pk],
                )
                for o in nudged
            ]
        )
        notifications_send_each(
            company=pipeline.company_id,
            items=[
                {
                    "recipient_id": opportunity.owner_id,
                    "title": lambda name=opportunity.name, days=days: (
                        _("No activity for %(days)d days: %(name)s") % {"days": days, "name": name}
                    ),
                    "body": lambda last=fresh[opportunity.pk]: (
                        _("Last activity %(when)s. Log a call or plan the next step.")
                        % {"when": date_format(timezone.localtime(last), "SHORT_DATE_FORMAT")}
                    ),
                    "link": reverse("crm:opportunity-detail", args=[opportunity.pk]),
                    "level": Notification.Level.WARNING,
                }
                for opportunity in nudged
            ],
            skip_non_members=True,
        )
        count += len(nudged)
    return count


@transaction.atomic
def reminder_preference_delete(*, preference: ReminderPreference, by: User) -> None:
    """Drop a preference (the user then follows the company's default; without a default, no e-mail).
    The company's default is dropped by administrators only; the policy decides whose rows ``by`` sees."""
    role = (
        Membership.objects.filter(company_id=preference.company_id, user=by, is_active=True)
        .values_list("role", flat=True)
        .first()
    )
    if preference.user_id != by.pk and role != Role.ADMIN:
        raise ValidationError({"user": [_("You may only change your own reminders.")]})
    ReminderPreference.objects.select_for_update(of=("self",)).filter(pk=preference.pk).delete()
