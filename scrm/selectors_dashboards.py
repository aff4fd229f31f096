"""Reads of the social dashboard (issue #7): response times of the inbox, sentiment trend and UGC volume.

Every figure is aggregated in PostgreSQL over policy-scoped querysets (``suite.policy.scope``): a manager sees the
conversations of their teams, nothing crosses companies. Each function runs a fixed number of queries whatever the
data size.

A conversation's response time is from its first inbound message to the first reply of the company
(``Conversation.first_response_at``); it counts in the period its first inbound message fell in. The social
first-response target is ``FIRST_RESPONSE_TARGET`` (SCRM has no per-channel SLA policy).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.utils import timezone

from scrm.models import Channel, Conversation, UgcPost
from suite import policy
from suite.models import Membership
from suite.policy import Actor

FIRST_RESPONSE_TARGET = dt.timedelta(minutes=60)
User = get_user_model()
MINUTE = Decimal("0.1")


class Percentile(Aggregate):
    """PostgreSQL ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


class EpochSeconds(Func):
    template = "EXTRACT(EPOCH FROM %(expressions)s)"
    output_field = FloatField()


def day_bounds(date_from: dt.date, date_to: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Aware [start, end) datetimes of the inclusive day range in the current time zone."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start, end


def _minutes(seconds: float | None) -> Decimal | None:
    return None if seconds is None else (Decimal(str(seconds)) / 60).quantize(MINUTE)


def _percent(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1")) if whole else None


@dataclass(frozen=True)
class ResponseRow:
    """First-response figures of one channel or agent (``key`` None with ``label`` "" is the total row)."""

    key: int | None
    label: str
    conversations: int
    answered: int
    p50_minutes: Decimal | None
    p90_minutes: Decimal | None
    met: int
    decided: int  # answered, or unanswered past the target

    @property
    def attainment(self) -> Decimal | None:
        return _percent(self.met, self.decided)


def conversations_started(
    actor: Actor | None,
    *,
    date_from: dt.date,
    date_to: dt.date,
    team_id: int | None = None,
    owner_id: int | None = None,
    channel_id: int | None = None,
) -> QuerySet[Conversation]:
    """Conversations the actor may see whose first inbound message fell between the dates (inclusive), annotated
    with ``started_at``; ``team_id`` keeps those assigned to a member of the team, ``owner_id`` to one user."""
    start, end = day_bounds(date_from, date_to)
    # first_inbound_at: the earliest inbound message's sent_at, stored (not a subquery per conversation)
    qs = policy.scope(actor, Conversation.objects.all()).filter(first_inbound_at__gte=start, first_inbound_at__lt=end)
    qs = qs.annotate(started_at=F("first_inbound_at"))
    if team_id:
        members = Membership.objects.filter(company_id=actor.company_id, teams=team_id).values("user_id")
        qs = qs.filter(assigned_to_id__in=Subquery(members))
    if owner_id:
        qs = qs.filter(assigned_to_id=owner_id)
    if channel_id:
        qs = qs.filter(channel_id=channel_id)
    return qs


def response_times(
    actor: Actor | None,
    *,
    group_by: str,
    date_from: dt.date,
    date_to: dt.date,
    team_id: int | None = None,
    owner_id: int | None = None,
    now: dt.datetime | None = None,
) -> list[ResponseRow]:
    """First-response time p50/p90 (minutes) and attainment of ``FIRST_RESPONSE_TARGET`` per ``group_by``
    ("channel" or "agent"), most conversations first, then a total row. Two queries: the grouped rows (labels
    joined) and the total (percentiles do not add up, so the total is aggregated again)."""
    if group_by not in ("channel", "agent"):
        raise ValueError("group_by is 'channel' or 'agent'")
    now = now or timezone.now()
    qs = conversations_started(actor, date_from=date_from, date_to=date_to, team_id=team_id, owner_id=owner_id)
    waited = ExpressionWrapper(F("first_response_at") - F("started_at"), output_field=DurationField())
    qs = qs.annotate(waited=waited)
    seconds = EpochSeconds(F("waited"))
    target = Value(FIRST_RESPONSE_TARGET, output_field=DurationField())
    measures = {
        "conversations": Count("id"),
        "answered": Count("id", filter=Q(first_response_at__isnull=False)),
        "p50": Percentile(seconds, 0.5, filter=Q(first_response_at__isnull=False)),
        "p90": Percentile(seconds, 0.9, filter=Q(first_response_at__isnull=False)),
        "met": Count("id", filter=Q(waited__lte=target)),
        "decided": Count(
            "id",
            filter=Q(first_response_at__isnull=False) | Q(started_at__lt=now - FIRST_RESPONSE_TARGET),
        ),
    }
    if group_by == "channel":
        key, label = "channel_id", "channel__name"
    else:
        key, label = "assigned_to_id", "assigned_to__username"
    grouped = list(qs.order_by().values(key, label).annotate(**measures))
    total = qs.order_by().aggregate(**measures)

    def row(values: dict, key_value, label_value: str) -> ResponseRow:
        return ResponseRow(
            key=key_value,
            label=label_value or "",
            conversations=values["conversations"],
            answered=values["answered"],
            p50_minutes=_minutes(values["p50"]),
            p90_minutes=_minutes(values["p90"]),
            met=values["met"],
            decided=values["decided"],
        )

    rows = [row(values, values[key], values[label]) for values in grouped]
    rows.sort(key=lambda r: (-r.conversations, r.label))
    rows.append(row(total, None, ""))
    return rows


def response_times_both(
    actor: Actor | None,
    *,
    date_from: dt.date,
    date_to: dt.date,
    team_id: int | None = None,
    owner_id: int | None = None,
    now: dt.datetime | None = None,
) -> tuple[list[ResponseRow], list[ResponseRow]]:
    """``response_times`` per channel and per agent (each with the total row) in one query: the conversations
    of the period read once, grouped by channel, by agent and not at all (GROUPING SETS), labels joined on the
    few grouped rows."""
    now = now or timezone.now()
    conversations = (
        conversations_started(actor, date_from=date_from, date_to=date_to, team_id=team_id, owner_id=owner_id)
        .order_by()
        .values("channel_id", "assigned_to_id", "first_response_at", "started_at")
    )
    sql, params = conversations.query.sql_with_params()
    answered = "c.first_response_at IS NOT NULL"
    seconds = "EXTRACT(EPOCH FROM c.first_response_at - c.started_at)"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT g.by_channel, g.by_agent, g.channel_id, ch.name, g.assigned_to_id, u.username, g.conversations,"
            " g.answered, g.p50, g.p90, g.met, g.decided FROM (SELECT GROUPING(c.channel_id) = 0 AS by_channel,"
            " GROUPING(c.assigned_to_id) = 0 AS by_agent, c.channel_id, c.assigned_to_id, COUNT(*) AS conversations,"
            f" COUNT(*) FILTER (WHERE {answered}) AS answered,"
            f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {seconds}) FILTER (WHERE {answered}) AS p50,"
            f" percentile_cont(0.9) WITHIN GROUP (ORDER BY {seconds}) FILTER (WHERE {answered}) AS p90,"
            " COUNT(*) FILTER (WHERE c.first_response_at - c.started_at <= %s) AS met,"
            f" COUNT(*) FILTER (WHERE {answered} OR c.started_at < %s) AS decided"
            f" FROM ({sql}) c GROUP BY GROUPING SETS ((c.channel_id), (c.assigned_to_id), ())) g"
            f" LEFT JOIN {Channel._meta.db_table} ch ON ch.id = g.channel_id AND g.by_channel"
            f" LEFT JOIN {User._meta.db_table} u ON u.id = g.assigned_to_id AND g.by_agent",
            [FIRST_RESPONSE_TARGET, now - FIRST_RESPONSE_TARGET, *params],  # in the order of the text
        )
        grouped = cursor.fetchall()
    by_channel, by_agent, total = [], [], None
    for (
        is_channel,
        is_agent,
        channel_id,
        channel_name,
        agent_id,
        username,
        n,
        n_answered,
        p50,
        p90,
        met,
        decided,
    ) in grouped:
        figures = {
            "conversations": n,
            "answered": n_answered,
            "p50_minutes": _minutes(p50),
            "p90_minutes": _minutes(p90),
            "met": met,
            "decided": decided,
        }
        if is_channel:
            by_channel.append(ResponseRow(key=channel_id, label=channel_name or "", **figures))
        elif is_agent:
            by_agent.append(ResponseRow(key=agent_id, label=username or "", **figures))
        else:
            total = ResponseRow(key=None, label="", **figures)
    if total is None:  # no conversation: the empty total the aggregate would give
        total = ResponseRow(None, "", 0, 0, None, None, 0, 0)
    for rows in (by_channel, by_agent):
        rows.sort(key=lambda r: (-r.conversations, r.label))
        rows.append(total)
    return by_channel, by_agent


@dataclass(frozen=True)
class SentimentBucket:
    period: dt.date
    positive: int
    neutral: int
    negative: int


def _period_starts(date_from: dt.date, date_to: dt.date, granularity: str) -> list[dt.date]:
    """The starts of the weeks (Monday) or months that ``date_from``..``date_to`` touch — ``date_trunc``'s buckets."""
    if granularity == "month":
        start, starts = date_from.replace(day=1), []
        while start <= date_to:
            starts.append(start)
            start = (start + dt.timedelta(days=32)).replace(day=1)
        return starts
    start = date_from - dt.timedelta(days=date_from.weekday())
    return [start + dt.timedelta(days=7 * n) for n in range((date_to - start).days // 7 + 1)]


def sentiment_trend(
    actor: Actor | None, *, date_from: dt.date, date_to: dt.date, granularity: str = "week"
) -> list[SentimentBucket]:
    """UGC posts the actor may see per week (or month, in the site's time zone) of ``posted_at`` and sentiment,
    oldest first; only periods with posts are returned. One query (``ugc_trend_and_volumes``)."""
    return ugc_trend_and_volumes(actor, date_from=date_from, date_to=date_to, granularity=granularity)[0]


@dataclass(frozen=True)
class UgcVolume:
    channel_id: int | None
    channel_name: str
    posts: int
    negative: int


def ugc_volume_by_channel(actor: Actor | None, *, date_from: dt.date, date_to: dt.date) -> list[UgcVolume]:
    """UGC posts the actor may see per channel (``None``: entered by hand) posted between the dates, largest
    first. One query (``ugc_trend_and_volumes``)."""
    return ugc_trend_and_volumes(actor, date_from=date_from, date_to=date_to)[1]


def ugc_trend_and_volumes(
    actor: Actor | None, *, date_from: dt.date, date_to: dt.date, granularity: str = "week"
) -> tuple[list[SentimentBucket], list[UgcVolume]]:
    """The sentiment trend and the volume per channel of the UGC posts the actor may see posted between the
    dates, from one scan of the posts: counted per (bucket, channel, sentiment) — a few hundred groups, a hash
    aggregate — and summed both ways here. Each post's bucket (week or month in the site's time zone) is found
    with ``width_bucket`` over the buckets' starts (where grouping by ``date_trunc`` sorted every post); the
    channel names are joined to the groups, not to the posts. One query."""
    start, end = day_bounds(date_from, date_to)
    tz = timezone.get_current_timezone()
    starts = _period_starts(date_from, date_to, granularity)
    edges = [dt.datetime.combine(day, dt.time.min, tzinfo=tz) for day in starts]
    posts = (
        policy.scope(actor, UgcPost.objects.all())
        .filter(posted_at__gte=start, posted_at__lt=end)
        .order_by()
        .values("posted_at", "channel_id", "sentiment")
    )
    sql, params = posts.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT g.n, g.channel_id, ch.name, g.sentiment, g.posts FROM (SELECT width_bucket(p.posted_at,"
            f" %s::timestamptz[]) AS n, p.channel_id, p.sentiment, COUNT(*) AS posts FROM ({sql}) p GROUP BY 1, 2, 3)"
            f" g LEFT JOIN {Channel._meta.db_table} ch ON ch.id = g.channel_id",
            [edges, *params],
        )
        rows = cursor.fetchall()
    per_bucket: dict[int, dict[str, int]] = {}
    per_channel: dict[int | None, list] = {}
    for n, channel_id, channel_name, sentiment, count in rows:
        bucket = per_bucket.setdefault(n, {"positive": 0, "neutral": 0, "negative": 0})
        if sentiment in bucket:
            bucket[sentiment] += count
        volume = per_channel.setdefault(channel_id, [channel_name or "", 0, 0])
        volume[1] += count
        if sentiment == "negative":
            volume[2] += count
    trend = [
        SentimentBucket(period=starts[n - 1], positive=c["positive"], neutral=c["neutral"], negative=c["negative"])
        for n, c in sorted(per_bucket.items())
        if c["positive"] or c["neutral"] or c["negative"]
    ]
    volumes = [
        UgcVolume(channel_id, name, posts, negative) for channel_id, (name, posts, negative) in per_channel.items()
    ]
    volumes.sort(key=lambda v: (-v.posts, v.channel_name))
    return trend, volumes


# ---------------------------------------------------------------- drill-down targets


def _int(value) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() and len(text) <= 12 else None


def _date(value) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value or ""))
    except ValueError:
        return None


def conversations_drilled(conversations: QuerySet[Conversation], actor: Actor | None, params) -> tuple[QuerySet, dict]:
    """Narrow the inbox as the social dashboard links it: ``channel``, ``agent`` (or ``owner``), ``team`` (assigned
    to a member), ``date_from`` / ``date_to`` (first inbound message, inclusive). Returns the queryset and the
    parameters applied."""
    applied: dict[str, str] = {}
    if _int(params.get("channel")):
        conversations = conversations.filter(channel_id=_int(params.get("channel")))
        applied["channel"] = params.get("channel")
    for name in ("agent", "owner"):
        if _int(params.get(name)):
            conversations = conversations.filter(assigned_to_id=_int(params.get(name)))
            applied[name] = params.get(name)
    if _int(params.get("team")) and actor is not None:
        members = Membership.objects.filter(company_id=actor.company_id, teams=_int(params.get("team")))
        conversations = conversations.filter(assigned_to_id__in=members.values("user_id"))
        applied["team"] = params.get("team")
    date_from, date_to = _date(params.get("date_from")), _date(params.get("date_to"))
    if date_from:
        conversations = conversations.filter(first_inbound_at__gte=day_bounds(date_from, date_from)[0])
        applied["date_from"] = date_from.isoformat()
    if date_to:
        conversations = conversations.filter(first_inbound_at__lt=day_bounds(date_to, date_to)[1])
        applied["date_to"] = date_to.isoformat()
    return conversations, applied


def ugc_drilled(posts: QuerySet[UgcPost], params) -> tuple[QuerySet[UgcPost], dict]:
    """Narrow the UGC wall: ``channel`` (an id or "none": entered by hand), ``date_from`` / ``date_to`` (posted,
    inclusive)."""
    applied: dict[str, str] = {}
    channel = params.get("channel", "")
    if channel == "none":
        posts = posts.filter(channel__isnull=True)
        applied["channel"] = channel
    elif _int(channel):
        posts = posts.filter(channel_id=_int(channel))
        applied["channel"] = channel
    date_from, date_to = _date(params.get("date_from")), _date(params.get("date_to"))
    if date_from:
        posts = posts.filter(posted_at__gte=day_bounds(date_from, date_from)[0])
        applied["date_from"] = date_from.isoformat()
    if date_to:
        posts = posts.filter(posted_at__lt=day_bounds(date_to, date_to)[1])
        applied["date_to"] = date_to.isoformat()
    return posts, applied
