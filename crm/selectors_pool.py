"""Reads of the customer pool (客户公海, ``crm.models.pool``): the accounts in it as the actor may see them, the
company's rule, when an account was last followed up and which of a salesperson's accounts go back soon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from crm.models import Account, Activity, Opportunity, OpportunityStatus, PoolAccount, PoolMove, PoolRule
from crm.models.pool import PoolMoveKind
from suite import policy
from suite.models import Role, Team
from suite.policy import Actor

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # "never", for GREATEST
RETURNING_SOON_DAYS = 7


def pool_rule_of(company_id: int) -> PoolRule:
    """The company's rule, or an unsaved one with the defaults (inactive: nothing returns by itself)."""
    return PoolRule.objects.filter(company_id=company_id).first() or PoolRule(company_id=company_id)


def accounts_held(*, company_id: int, user) -> int:
    """How many live accounts ``user`` owns in the company (the count the rule's ``max_owned`` limits)."""
    return Account.objects.filter(company_id=company_id, owner=user, merged_into__isnull=True).count()


def last_follow_up():
    """When an account was last followed up: the latest of its creation, its activities' creation or completion
    and its last claim or assignment (an expression over ``Account``)."""
    activities = Activity.objects.filter(account_id=OuterRef("pk")).order_by().values("account_id")
    taken = (
        PoolMove.objects.filter(account_id=OuterRef("pk"), kind__in=(PoolMoveKind.CLAIMED, PoolMoveKind.ASSIGNED))
        .order_by()
        .values("account_id")
    )

    def latest(rows, field):
        return Coalesce(Subquery(rows.annotate(at=Max(field)).values("at")), Value(EPOCH))

    return Greatest(
        F("created_at"),
        latest(activities, "created_at"),
        latest(activities, "done_at"),
        latest(taken, "created_at"),
    )


def followed_up_after(moment) -> Q:
    """The accounts followed up after ``moment`` (a datetime, or ``OuterRef`` to one of the account's own): an
    activity created or done, or a claim or hand-out, later than it."""
    later_activity = Activity.objects.filter(account_id=OuterRef("pk")).filter(
        Q(created_at__gt=moment) | Q(done_at__gt=moment)
    )
    later_claim = PoolMove.objects.filter(
        account_id=OuterRef("pk"), kind__in=(PoolMoveKind.CLAIMED, PoolMoveKind.ASSIGNED), created_at__gt=moment
    )
    return Q(Exists(later_activity)) | Q(Exists(later_claim))


def not_followed_up_since(cutoff: datetime) -> Q:
    """The accounts with no follow-up after ``cutoff`` (the same moments as ``last_follow_up``), as anti-joins
    PostgreSQL runs once over the activities rather than once per account: the sweep scans 100k accounts and
    1M activities in well under a second (docs/performance.md, "Customer pool")."""
    return Q(created_at__lte=cutoff) & ~followed_up_after(cutoff)


def idle_filter(rule: PoolRule, *, now: datetime) -> Q:
    """The accounts ``rule`` may return to the pool at ``now``, before their follow-up is looked at: owned, not
    merged, in one of its stages, older than ``idle_days``, without an open deal."""
    return Q(
        company_id=rule.company_id,
        owner__isnull=False,
        merged_into__isnull=True,
        lifecycle_stage__in=rule.stages,
        created_at__lte=now - timedelta(days=rule.idle_days),
    ) & ~Q(Exists(Opportunity.objects.filter(account_id=OuterRef("pk"), status=OpportunityStatus.OPEN)))


def in_pools_of(actor: Actor) -> Q:
    """The pools the actor works in: the company's, and — with the rule's team pools on — the pools of their
    teams (and of the teams below those they manage); an admin's are every pool."""
    if actor.role == Role.ADMIN or not pool_rule_of(actor.company_id).by_team:
        return Q()
    return Q(pool_team__isnull=True) | Q(pool_team__in=actor.team_ids)


def team_pools_of(actor: Actor) -> list[tuple[int, str]]:
    """The team pools the actor works in, as (team id, name) by name: an admin's are every team's, anyone else's
    their teams' and those below the teams they manage (``in_pools_of``)."""
    teams = Team.objects.filter(company_id=actor.company_id)
    if actor.role != Role.ADMIN:
        teams = teams.filter(pk__in=actor.team_ids)
    return list(teams.order_by("name").values_list("pk", "name"))


def works_in_pool(actor: Actor, pool_team_id: int | None) -> bool:
    """``in_pools_of`` for one account: whether the actor works in the pool of ``pool_team_id`` (None: the
    company's)."""
    if pool_team_id is None or actor.role == Role.ADMIN or not pool_rule_of(actor.company_id).by_team:
        return True
    return pool_team_id in actor.team_ids


def pool_accounts_visible_to(actor: Actor | None, *, search: str = "") -> QuerySet[PoolAccount]:
    """The accounts in the pools the actor works in (nobody owns them; ``in_pools_of``) as the actor may see
    them, latest changed first, each with ``released_at``, ``released_reason`` and ``previous_owner_id`` of its
    last release (None for an account that never had an owner)."""
    from crm.selectors import search_filter

    queryset = policy.scope(actor, PoolAccount.objects.filter(owner__isnull=True, merged_into__isnull=True))
    if actor is not None:
        queryset = queryset.filter(in_pools_of(actor))
    if search:
        queryset = search_filter(queryset, search)
    last_release = PoolMove.objects.filter(account_id=OuterRef("pk"), kind=PoolMoveKind.RELEASED).order_by(
        "-created_at", "-id"
    )
    # latest change first (a release is one): the (company, owner, updated_at) index serves "owner IS NULL" in
    # that order, and the last release is read for the 50 rows of a page only
    return queryset.annotate(
        released_at=Subquery(last_release.values("created_at")[:1]),
        released_reason=Subquery(last_release.values("reason")[:1]),
        previous_owner_id=Subquery(last_release.values("previous_owner_id")[:1]),
    ).order_by("-updated_at", "-id")


@dataclass(frozen=True)
class Returning:
    account: Account
    returns_on: datetime


def pool_returning_soon(actor: Actor | None, *, days: int = RETURNING_SOON_DAYS, limit: int = 20) -> list[Returning]:
    """The actor's own accounts the company's active rule returns to the pool within ``days`` unless someone
    follows them up, soonest first (two queries; none without an active rule)."""
    if actor is None:
        return []
    rule = pool_rule_of(actor.company_id)
    if not rule.is_active:
        return []
    now = timezone.now()
    horizon = now - timedelta(days=rule.idle_days) + timedelta(days=days)
    accounts = (
        policy.scope(actor, Account.objects.filter(owner=actor.user))
        .filter(idle_filter(rule, now=now + timedelta(days=days)))
        .filter(not_followed_up_since(horizon))
        .annotate(followed_up=last_follow_up())
        .only("id", "name", "city", "lifecycle_stage", "created_at")
        .order_by("followed_up", "id")[:limit]
    )
    return [Returning(a, max(a.followed_up + timedelta(days=rule.idle_days), now)) for a in accounts]
