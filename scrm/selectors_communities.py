"""Reads of communities, cadences, channel QR codes and handover jobs: scoped by the policy layer, with the
figures their pages show."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.utils import timezone

from scrm.models import (
    Cadence,
    CadenceEnrollment,
    Community,
    CommunityMember,
    CommunityMemberChange,
    CommunityPost,
    ContactWay,
    HandoverItem,
    HandoverJob,
)
from suite import policy
from suite.policy import Actor


def communities_visible_to(actor: Actor | None, *, status: str = "") -> QuerySet[Community]:
    """Communities with their current member count (``member_count``) and channel joined."""
    qs = policy.scope(actor, Community.objects.select_related("channel", "owner")).annotate(
        member_count=Count("members", filter=Q(members__left_at__isnull=True), distinct=True)
    )
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("name", "id")


def community_members_of(community: Community, *, current: bool = True) -> QuerySet[CommunityMember]:
    qs = CommunityMember.objects.filter(community=community).select_related("identity")
    if current:
        qs = qs.filter(left_at__isnull=True)
    return qs.order_by("-joined_at", "-id")


def community_posts_of(community: Community) -> QuerySet[CommunityPost]:
    return (
        CommunityPost.objects.filter(community=community, parent__isnull=True)
        .select_related("member", "author")
        .prefetch_related("answers__author", "answers__member")
        .order_by("-posted_at", "-id")
    )


def community_posts_visible_to(actor: Actor | None) -> QuerySet[CommunityPost]:
    return policy.scope(actor, CommunityPost.objects.select_related("member", "author")).order_by("-posted_at", "-id")


@dataclass(frozen=True)
class WeekFlow:
    week: date
    joins: int
    leaves: int


@dataclass(frozen=True)
class CommunityFigures:
    """Engagement figures of one community at ``as_of``."""

    members: int
    active_7d: int  # members who posted in the last 7 days
    active_30d: int
    posts_30d: int
    questions: int
    answered: int
    answer_rate: Decimal | None  # answered / questions, percent with one decimal; None without questions
    weeks: list[WeekFlow] = field(default_factory=list)  # joins and leaves per week, oldest first


def community_figures(community: Community, *, as_of: datetime | None = None, weeks: int = 8) -> CommunityFigures:
    """Members now, active members (posted) in 7 / 30 days, posts in 30 days, the answer rate of questions
    and joins/leaves per ISO week for the last ``weeks`` weeks. Four queries."""
    now = as_of or timezone.now()
    members = CommunityMember.objects.filter(community=community, left_at__isnull=True).count()
    posts = CommunityPost.objects.filter(community=community)
    stats = posts.aggregate(
        active_7d=Count("member", filter=Q(posted_at__gte=now - timedelta(days=7)), distinct=True),
        active_30d=Count("member", filter=Q(posted_at__gte=now - timedelta(days=30)), distinct=True),
        posts_30d=Count("id", filter=Q(posted_at__gte=now - timedelta(days=30))),
        questions=Count("id", filter=Q(kind=CommunityPost.Kind.QUESTION)),
        answered=Count("id", filter=Q(kind=CommunityPost.Kind.QUESTION, answered=True)),
    )
    rate = None
    if stats["questions"]:
        rate = (Decimal(stats["answered"] * 100) / Decimal(stats["questions"])).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP
        )
    this_week = (now - timedelta(days=now.weekday())).date()
    first_week = this_week - timedelta(weeks=weeks - 1)
    rows = (
        CommunityMemberChange.objects.filter(
            community=community, occurred_at__date__gte=first_week, occurred_at__lte=now
        )
        .annotate(week=TruncWeek("occurred_at"))
        .values("week")
        .annotate(
            joins=Count("id", filter=Q(kind=CommunityMemberChange.Kind.JOINED)),
            leaves=Count("id", filter=Q(kind=CommunityMemberChange.Kind.LEFT)),
        )
    )
    by_week = {row["week"].date(): row for row in rows}
    flows = [
        WeekFlow(
            week=week,
            joins=by_week.get(week, {}).get("joins", 0),
            leaves=by_week.get(week, {}).get("leaves", 0),
        )
        for week in (first_week + timedelta(weeks=n) for n in range(weeks))
    ]
    return CommunityFigures(members=members, answer_rate=rate, weeks=flows, **stats)


def cadences_visible_to(actor: Actor | None) -> QuerySet[Cadence]:
    """Cadences with their steps prefetched and active enrolment counts."""
    return (
        policy.scope(actor, Cadence.objects.select_related("channel"))
        .prefetch_related("steps")
        .annotate(
            active_enrollments=Count(
                "enrollments", filter=Q(enrollments__status=CadenceEnrollment.Status.ACTIVE), distinct=True
            )
        )
        .order_by("name", "id")
    )


def cadence_enrollments_visible_to(actor: Actor | None, *, cadence: Cadence | None = None) -> QuerySet:
    qs = policy.scope(actor, CadenceEnrollment.objects.select_related("cadence", "owner", "identity"))
    if cadence is not None:
        qs = qs.filter(cadence=cadence)
    return qs.order_by("-id")


def contact_ways_visible_to(actor: Actor | None) -> QuerySet[ContactWay]:
    return policy.scope(actor, ContactWay.objects.select_related("channel", "owner")).order_by("-id")


def handover_jobs_visible_to(actor: Actor | None) -> QuerySet[HandoverJob]:
    """Handover jobs with item counts by state (``customers_total``, ``customers_waiting``,
    ``customers_transferred``, ``customers_failed``, ``groups_total``, ``groups_transferred``)."""
    customer, group = Q(items__kind=HandoverItem.Kind.CUSTOMER), Q(items__kind=HandoverItem.Kind.GROUP)
    return (
        policy.scope(actor, HandoverJob.objects.select_related("channel", "from_user", "to_user"))
        .annotate(
            customers_total=Count("items", filter=customer),
            customers_waiting=Count(
                "items",
                filter=customer & Q(items__status__in=[HandoverItem.Status.WAITING, HandoverItem.Status.PENDING]),
            ),
            customers_transferred=Count("items", filter=customer & Q(items__status=HandoverItem.Status.TRANSFERRED)),
            customers_failed=Count("items", filter=customer & Q(items__status=HandoverItem.Status.FAILED)),
            groups_total=Count("items", filter=group),
            groups_transferred=Count("items", filter=group & Q(items__status=HandoverItem.Status.TRANSFERRED)),
        )
        .order_by("-id")
    )


def handover_items_of(job: HandoverJob, *, status: str = "") -> QuerySet[HandoverItem]:
    qs = HandoverItem.objects.filter(job=job)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("kind", "id")
