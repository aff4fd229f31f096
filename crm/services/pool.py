"""The customer pool (客户公海): releasing accounts to it, claiming and assigning them from it, the company's rule,
and the sweep that returns accounts nobody followed up (``crm.models.pool``).

An account is *in the pool* when nobody owns it. Every move locks the account row first, so two people claiming
the same account at once make one owner (the second is told someone was quicker), and the sweep never takes an
account back while its owner is logging a call on it. A follow-up is an activity on the account (logged, planned
or done — calls on its contacts and deals count, ``activity_create`` files them under the account), its creation,
or its last claim; an account with an open deal is never returned.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm.errors import CrmConflict
from crm.models import Account, Contact, LifecycleStage, Opportunity, OpportunityStatus, PoolMove, PoolRule
from crm.models.pool import PoolMoveKind, PoolMoveReason
from crm.selectors_pool import (
    accounts_held,
    followed_up_after,
    idle_filter,
    not_followed_up_since,
    pool_rule_of,
    works_in_pool,
)
from crm.services.customers import default_team, lock_customer
from crm.services.following import tell_account_owner_changes
from suite.models import Company, Membership, Notification
from suite.policy import Actor
from suite.selectors import is_company_admin
from suite.services.notifications import notification_send

if TYPE_CHECKING:
    from django.contrib.auth.models import User

POOL_SWEEP_BATCH = 500
# the rule's fields a company sets, in the settings form's order
RULE_FIELDS = (
    "is_active",
    "idle_days",
    "stages",
    "max_owned",
    "max_claims_per_day",
    "reclaim_after_days",
    "warn_days",
    "by_team",
)


@transaction.atomic
def pool_rule_set(*, company: Company, by: User | None, **fields) -> PoolRule:
    """Create or change the company's pool rule (only the fields given). Field errors as ``ValidationError``;
    nothing is saved then."""
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise TypeError(f"unknown pool rule fields: {', '.join(sorted(unknown))}")
    rule = PoolRule.objects.select_for_update().filter(company=company).first() or PoolRule(company=company)
    for name, value in fields.items():
        if name == "stages":
            value = list(dict.fromkeys(value or []))
            if not value or set(value) - set(LifecycleStage.values):
                raise ValidationError({"stages": _("Choose at least one lifecycle stage.")})
        setattr(rule, name, value)
    rule.full_clean(exclude=["company"], validate_unique=False, validate_constraints=False)
    rule.save()
    return rule


def _has_open_deal(account_id: int) -> bool:
    return Opportunity.objects.filter(account_id=account_id, status=OpportunityStatus.OPEN).exists()


@transaction.atomic
def account_release(*, account: Account, by: User | None, note: str = "") -> Account:
    """Give an account back to the pool: nobody owns it (nor its team) any more — with the rule's team pools on,
    it is in its team's pool (部门公海). Refused (``CrmConflict``) for a merged account, one already in the pool,
    or one with an open deal (hand the deal over or close it first). The contacts at it that its owner had go
    with it; its deals and activities keep their owners. The account's followers are told (not ``by``)."""
    account = lock_customer(Account, account.pk)
    if account.merged_into_id is not None:
        raise CrmConflict(_("This customer was merged into another record; edit that one instead."))
    if account.owner_id is None:
        raise CrmConflict(_("This account is in the pool already."))
    if _has_open_deal(account.pk):
        raise CrmConflict(_("This account has an open deal: close it or hand it over before releasing the account."))
    PoolMove.objects.create(
        company_id=account.company_id,
        account=account,
        kind=PoolMoveKind.RELEASED,
        reason=PoolMoveReason.MANUAL,
        note=" ".join((note or "").split())[:200],
        user=by,
        previous_owner_id=account.owner_id,
    )
    _contacts_follow(account.pk, from_owner_id=account.owner_id, to_owner=None, team=None)
    previous_owner_id = account.owner_id
    account.pool_team_id = account.team_id if pool_rule_of(account.company_id).by_team else None
    account.owner, account.team, account.pool_warned_at = None, None, None
    account.save(update_fields=["owner", "team", "pool_team", "pool_warned_at", "updated_at"])
    tell_account_owner_changes([(account, previous_owner_id)], by=by)
    return account


def _in_team_pool(account: Account, user) -> bool:
    """Whether ``user`` works in the pool the account is in (``crm.selectors_pool.works_in_pool``)."""
    membership = Membership.objects.filter(company_id=account.company_id, user=user, is_active=True).first()
    return membership is not None and works_in_pool(Actor(membership), account.pool_team_id)


def _contacts_follow(account_id: int, *, from_owner_id, to_owner, team) -> None:
    """The people at the account go where it goes: those its owner had (into the pool), or those nobody has (to
    whoever takes it) — so whoever claims an account can reach it. Contacts someone else owns stay theirs."""
    contacts = Contact.objects.filter(account_id=account_id, merged_into__isnull=True)
    contacts = contacts.filter(owner_id=from_owner_id) if from_owner_id else contacts.filter(owner__isnull=True)
    contacts.update(owner=to_owner, team=team, updated_at=timezone.now())


def _take(account: Account, *, to_user, by, kind: str) -> Account:
    """Move a pool account to ``to_user`` (its row locked), checking the rule's limit and, for a claim, that the
    one who let it go has waited long enough."""
    if account.merged_into_id is not None:
        raise CrmConflict(_("This customer was merged into another record; edit that one instead."))
    if account.owner_id is not None:
        raise CrmConflict(_("Someone else took this account a moment ago."))
    if not Membership.objects.filter(company_id=account.company_id, user=to_user, is_active=True).exists():
        raise ValidationError({"user": _("Choose an active member of the company.")})
    rule = pool_rule_of(account.company_id)
    team_pool = rule.by_team and account.pool_team_id is not None  # (else everyone works in the company's pool)
    if team_pool and not _in_team_pool(account, by if by else to_user):
        raise CrmConflict(_("This account is in another team's pool."))
    if (
        team_pool
        and kind == PoolMoveKind.ASSIGNED
        and not _in_team_pool(account, to_user)
        and not (by is not None and is_company_admin(account.company_id, by))
    ):
        raise ValidationError({"user": _("Choose someone of the team whose pool it is in.")})
    if rule.max_owned:  # the taker's membership row is locked: two claims at once cannot both pass the limit
        Membership.objects.select_for_update().filter(company_id=account.company_id, user=to_user).first()
        held = accounts_held(company_id=account.company_id, user=to_user)
        if held >= rule.max_owned:
            field = "user" if kind == PoolMoveKind.ASSIGNED else "account"
            raise ValidationError(
                {
                    field: ngettext(
                        "Holds %(count)d account already: the company's limit is %(limit)d.",
                        "Holds %(count)d accounts already: the company's limit is %(limit)d.",
                        held,
                    )
                    % {"count": held, "limit": rule.max_owned}
                }
            )
    if kind == PoolMoveKind.CLAIMED and rule.max_claims_per_day:
        if not rule.max_owned:  # (else locked above) two claims at once cannot both pass the day's limit
            Membership.objects.select_for_update().filter(company_id=account.company_id, user=to_user).first()
        today = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
        claimed = PoolMove.objects.filter(
            company_id=account.company_id, kind=PoolMoveKind.CLAIMED, new_owner=to_user, created_at__gte=today
        ).count()
        if claimed >= rule.max_claims_per_day:
            raise ValidationError(
                {
                    "account": ngettext(
                        "You claimed %(count)d account today: the company's limit is %(limit)d a day.",
                        "You claimed %(count)d accounts today: the company's limit is %(limit)d a day.",
                        claimed,
                    )
                    % {"count": claimed, "limit": rule.max_claims_per_day}
                }
            )
    if kind == PoolMoveKind.CLAIMED and rule.reclaim_after_days:
        since = timezone.now() - timedelta(days=rule.reclaim_after_days)
        let_go = (
            PoolMove.objects.filter(
                account=account, kind=PoolMoveKind.RELEASED, previous_owner=to_user, created_at__gt=since
            )
            .order_by("-created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        if let_go is not None:
            again = timezone.localdate(let_go + timedelta(days=rule.reclaim_after_days))
            raise ValidationError(
                {"account": _("You let this account go recently: you may claim it again from %(date)s.") % {
                    "date": again.isoformat()}}
            )  # fmt: skip
    PoolMove.objects.create(
        company_id=account.company_id,
        account=account,
        kind=kind,
        user=by,
        new_owner=to_user,
    )
    account.owner, account.team = to_user, default_team(account.company_id, to_user)
    account.pool_team, account.pool_warned_at = None, None
    _contacts_follow(account.pk, from_owner_id=None, to_owner=to_user, team=account.team)
    account.save(update_fields=["owner", "team", "pool_team", "pool_warned_at", "updated_at"])
    tell_account_owner_changes([(account, None)], by=by)  # the new owner (unless they claimed it) and followers
    return account


@transaction.atomic
def account_claim(*, account: Account, by: User) -> Account:
    """``by`` takes an account from the pool. Refused: someone was quicker (``CrmConflict``), ``by`` holds the
    rule's most accounts already, or let this one go fewer than the rule's days ago (``ValidationError``). The
    account's followers are told."""
    return _take(lock_customer(Account, account.pk), to_user=by, by=by, kind=PoolMoveKind.CLAIMED)


@transaction.atomic
def account_pool_assign(*, account: Account, to_user, by: User | None) -> Account:
    """A manager hands a pool account to ``to_user`` (an active member; within the rule's limit). ``to_user``
    is told (unless it is ``by``), and so are the account's followers."""
    return _take(lock_customer(Account, account.pk), to_user=to_user, by=by, kind=PoolMoveKind.ASSIGNED)


def _tell_owners(rule: PoolRule, by_owner: dict[int, int], *, title, body, link: str, level: str = "") -> None:
    """One notification to each owner in ``by_owner`` (owner id → how many of their accounts) who is still an
    active member of the rule's company; ``title(count)`` and ``body()`` say it, in the owner's language."""
    active = set(
        Membership.objects.filter(company_id=rule.company_id, user_id__in=by_owner, is_active=True).values_list(
            "user_id", flat=True
        )
    )
    for owner_id, count in by_owner.items():
        if owner_id in active:
            notification_send(
                recipients=[owner_id],
                company=rule.company,
                title=lambda count=count: title(count),
                body=body,
                link=link,
                level=level or Notification.Level.INFO,
            )


@transaction.atomic
def pool_sweep(*, now: datetime | None = None) -> int:
    """Return to the pool the accounts each active rule says nobody followed up (at most ``POOL_SWEEP_BATCH``
    per company and run): rows locked ``SKIP LOCKED`` and checked again once locked, so an owner saving the
    account at that moment keeps it and two sweeps release each account once. Each previous owner gets one
    notification per run; the accounts' followers hear that they went back to the pool (one line each, or one
    for many: ``tell_account_owner_changes``). Returns how many accounts went back."""
    now = now or timezone.now()
    released = 0
    for rule in PoolRule.objects.filter(is_active=True).select_related("company"):
        cutoff = now - timedelta(days=rule.idle_days)
        idle = idle_filter(rule, now=now) & not_followed_up_since(cutoff)
        candidates = Account.objects.filter(idle).order_by("pk").values_list("pk", flat=True)[:POOL_SWEEP_BATCH]
        locked = list(
            Account.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(pk__in=list(candidates))
            .filter(idle)
            .order_by("pk")
        )
        if not locked:
            continue
        PoolMove.objects.bulk_create(
            PoolMove(
                company_id=rule.company_id,
                account=account,
                kind=PoolMoveKind.RELEASED,
                reason=PoolMoveReason.IDLE,
                previous_owner_id=account.owner_id,
            )
            for account in locked
        )
        by_owner: dict[int, int] = {}
        for account in locked:
            by_owner[account.owner_id] = by_owner.get(account.owner_id, 0) + 1
        ids = [a.pk for a in locked]
        # the people at each account that its owner had go with it (two statements for the batch)
        owners = {account.pk: account.owner_id for account in locked}
        people = Contact.objects.filter(account_id__in=ids, merged_into__isnull=True, owner__isnull=False)
        theirs = [pk for pk, at, owner in people.values_list("pk", "account_id", "owner_id") if owners[at] == owner]
        Contact.objects.filter(pk__in=theirs).update(owner=None, team=None, updated_at=now)
        # with team pools, each account goes to its team's pool (SET reads the row as it was: the old team)
        pool_team = F("team") if rule.by_team else None
        Account.objects.filter(pk__in=ids).update(
            owner=None, team=None, pool_team=pool_team, pool_warned_at=None, updated_at=now
        )
        released += len(locked)
        # their followers hear it too (not the previous owners: the line below tells them)
        previous = {account.pk: account.owner_id for account in locked}
        for account in locked:
            account.owner_id = account.team_id = None
            account.company = rule.company
        tell_account_owner_changes([(a, previous[a.pk]) for a in locked], by=None, skip=set(previous.values()))
        _tell_owners(
            rule,
            by_owner,
            title=lambda count: (
                ngettext(
                    "%(count)d of your accounts went back to the customer pool",
                    "%(count)d of your accounts went back to the customer pool",
                    count,
                )
                % {"count": count}
            ),
            body=lambda days=rule.idle_days: _("Nobody followed them up for %(days)d days.") % {"days": days},
            link=reverse("crm:pool"),
        )
    return released


@transaction.atomic
def pool_warn(*, now: datetime | None = None) -> int:
    """Tell owners which of their accounts each active rule returns to the pool within its ``warn_days`` unless
    someone follows them up: one notification per owner and run, each account once per idle spell (marked
    ``pool_warned_at``; a follow-up after the mark starts a new spell), at most ``POOL_SWEEP_BATCH`` accounts per
    company and run. Returns how many accounts were warned of."""
    now = now or timezone.now()
    warned = 0
    for rule in PoolRule.objects.filter(is_active=True, warn_days__gt=0).select_related("company"):
        soon = now + timedelta(days=rule.warn_days)
        due = (
            idle_filter(rule, now=soon)
            & not_followed_up_since(soon - timedelta(days=rule.idle_days))
            & (Q(pool_warned_at__isnull=True) | followed_up_after(OuterRef("pool_warned_at")))
        )
        rows = list(Account.objects.filter(due).order_by("pk").values_list("pk", "owner_id")[:POOL_SWEEP_BATCH])
        if not rows:
            continue
        Account.objects.filter(pk__in=[pk for pk, _owner in rows]).update(pool_warned_at=now)
        warned += len(rows)
        by_owner: dict[int, int] = {}
        for _pk, owner_id in rows:
            by_owner[owner_id] = by_owner.get(owner_id, 0) + 1
        _tell_owners(
            rule,
            by_owner,
            title=lambda count, days=rule.warn_days: (
                ngettext(
                    "%(count)d of your accounts goes back to the customer pool within %(days)d days",
                    "%(count)d of your accounts go back to the customer pool within %(days)d days",
                    count,
                )
                % {"count": count, "days": days}
            ),
            body=lambda: _("Log a call or plan a follow-up to keep them: My day lists them."),
            link=reverse("crm:my-day"),
            level=Notification.Level.WARNING,
        )
    return warned
