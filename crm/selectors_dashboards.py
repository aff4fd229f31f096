"""Reads of the sales and marketing dashboards (issue #7): aggregates in PostgreSQL over the opportunities,
stage history, targets and campaigns the actor may see (``suite.policy.scope``), narrowed by the dashboard
filters (``suite.dashboards.Filters``). A fixed number of queries each, whatever the data."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import (
    Case,
    Count,
    DateField,
    DateTimeField,
    DecimalField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.models import (
    FunnelReach,
    Opportunity,
    OpportunityLine,
    OpportunityStageChange,
    OpportunityStatus,
    Pipeline,
    SalesTarget,
    Stage,
)
from crm.selectors_campaigns import CampaignResult, campaign_comparison, campaigns_visible_to
from suite import policy
from suite.models import Team
from suite.policy import Scope

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
CYCLE = ExpressionWrapper(F("closed_at") - F("created_at"), output_field=DurationField())


def _start(day: date) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day))


def _end(day: date) -> datetime:  # exclusive
    return _start(day) + timedelta(days=1)


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT)


def _days(value: timedelta | None) -> Decimal | None:
    if value is None:
        return None
    return (Decimal(value.total_seconds()) / Decimal(86400)).quantize(Decimal("0.1"))


def sales_targets_visible_to(actor) -> QuerySet[SalesTarget]:
    return policy.scope(actor, SalesTarget.objects.select_related("team", "owner"))


def filtered_opportunities(actor, *, team_id=None, owner_id=None, product_id=None) -> QuerySet[Opportunity]:
    """The opportunities the actor may see, narrowed to a team, an owner and deals offering a product."""
    qs = policy.scope(actor, Opportunity.objects.all()).order_by()
    if team_id:
        qs = qs.filter(team_id=team_id)
    if owner_id:
        qs = qs.filter(owner_id=owner_id)
    if product_id:
        qs = qs.filter(Exists(OpportunityLine.objects.filter(opportunity=OuterRef("pk"), product_id=product_id)))
    return qs


def _opps(filters) -> QuerySet[Opportunity]:
    return filtered_opportunities(
        filters.actor, team_id=filters.team_id, owner_id=filters.owner_id, product_id=filters.product_id
    )


@dataclass(frozen=True)
class SalesSummary:
    won_count: int
    won_amount: Decimal
    lost_count: int
    win_rate: Decimal | None  # percent of the deals closed in the period that were won
    cycle_days: Decimal | None  # average days from creation to win
    open_count: int
    open_amount: Decimal
    weighted_amount: Decimal  # open deals expected to close in the period × stage probability


@dataclass(frozen=True)
class SalesOverview:
    summary: SalesSummary
    weighted: dict[str, Decimal]  # bucket label → open deals expected to close then × probability
    won: dict[str, Decimal]  # bucket label → won then


class _Bucket(Func):
    """``width_bucket(value, starts)``: the 1-based index of the bucket (of ``filters.periods()``, by their start)
    a value falls in — a binary search over a dozen starts, cheaper per row than ``date_trunc`` in a time zone."""

    function = "width_bucket"
    output_field = IntegerField()


def sales_overview(filters) -> SalesOverview:
    """The headline figures and the per-bucket weighted pipeline and won amounts of the period in one aggregate
    query: the deals closed in the period (by closing bucket) and the open ones expected to close in it (by
    expected-close bucket), grouped by status and bucket — two arms of a UNION ALL, each read from its covering
    index (``crm_opportunity_closed_cover`` / ``crm_opportunity_open_cover``: index-only scans)."""
    periods = filters.periods()
    labels = [label for label, _first, _last in periods]
    closed_starts = Value([_start(first) for _label, first, _last in periods], ArrayField(DateTimeField()))
    open_starts = Value([first for _label, first, _last in periods], ArrayField(DateField()))
    closed = (
        _opps(filters)
        .filter(
            status__in=[OpportunityStatus.WON, OpportunityStatus.LOST],
            closed_at__gte=_start(filters.date_from),
            closed_at__lt=_end(filters.date_to),
        )
        .annotate(bucket=_Bucket(F("closed_at"), closed_starts))
        .values("status", "bucket")
        .annotate(n=Count("*"), total=Sum("amount"), weighted=Value(None, DecimalField()), cycle=Sum(CYCLE))
    )
    open_ = (
        _opps(filters)
        .filter(
            status=OpportunityStatus.OPEN,
            expected_close_date__gte=filters.date_from,
            expected_close_date__lte=filters.date_to,
        )
        .annotate(bucket=_Bucket(F("expected_close_date"), open_starts))
        .values("status", "bucket", "stage_id")
        .annotate(n=Count("*"), total=Sum("amount"))
    )
    # the open deals are grouped by stage on the index alone, and weighted by the stage's probability after
    # (Σ amount × p / 100 per stage is the sum of the deals' weighted amounts: exact numeric arithmetic)
    closed_sql, closed_params = closed.query.sql_with_params()
    open_sql, open_params = open_.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"({closed_sql}) UNION ALL (SELECT o.status, o.bucket, sum(o.n)::bigint, sum(o.total),"
            f" sum(o.total * s.probability / 100), NULL::interval FROM ({open_sql}) o"
            f" JOIN {Stage._meta.db_table} s ON s.id = o.stage_id GROUP BY o.status, o.bucket)",
            (*closed_params, *open_params),
        )
        columns = ("status", "bucket", "n", "total", "weighted", "cycle")
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    counts: dict[str, int] = defaultdict(int)
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    weighted_total = Decimal(0)
    cycle_total = timedelta(0)
    weighted: dict[str, Decimal] = defaultdict(Decimal)
    won: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        status = row["status"]
        label = labels[row["bucket"] - 1]  # in the period: 1 … len(periods)
        counts[status] += row["n"]
        amounts[status] += row["total"] or 0
        if status == OpportunityStatus.OPEN:
            weighted_total += row["weighted"] or 0
            weighted[label] += row["weighted"] or 0
        elif status == OpportunityStatus.WON:
            cycle_total += row["cycle"] or timedelta(0)
            won[label] += row["total"] or 0
    won_count, lost_count = counts[OpportunityStatus.WON], counts[OpportunityStatus.LOST]
    closed_count = won_count + lost_count
    summary = SalesSummary(
        won_count=won_count,
        won_amount=_money(amounts[OpportunityStatus.WON]),
        lost_count=lost_count,
        win_rate=(Decimal(won_count * 100) / closed_count).quantize(Decimal("0.1")) if closed_count else None,
        cycle_days=_days(cycle_total / won_count) if won_count else None,
        open_count=counts[OpportunityStatus.OPEN],
        open_amount=_money(amounts[OpportunityStatus.OPEN]),
        weighted_amount=_money(weighted_total),
    )
    return SalesOverview(summary=summary, weighted=dict(weighted), won=dict(won))


def sales_summary(filters) -> SalesSummary:
    """The headline figures of the period (one aggregate query, ``sales_overview``)."""
    return sales_overview(filters).summary


@dataclass(frozen=True)
class FunnelStage:
    stage: Stage
    reached: int  # deals that entered this stage or a later one in the period
    conversion: Decimal | None  # percent of the previous stage's deals


def default_pipeline(actor) -> Pipeline | None:
    pipelines = policy.scope(actor, Pipeline.objects.filter(is_active=True)).order_by("-is_default", "sort_order", "id")
    return pipelines.first()


def sales_funnel(filters, pipeline: Pipeline | None = None) -> list[FunnelStage]:
    """Deals per stage of the (default) pipeline from the stage history of the period: a deal counts in every
    stage up to the furthest it reached (skipped stages count as passed). Three queries (four when the period
    ends before the end of its month and some stage change is dated after it).

    Read from the pre-aggregate ``FunnelReach`` when the period starts on the 1st of a month (every preset)
    in ``settings.TIME_ZONE`` and no product narrows it; otherwise from the stage history itself. Both give the
    same figures (``crm/tests/test_funnel_reach.py``)."""
    pipeline = pipeline or default_pipeline(filters.actor)
    if pipeline is None:
        return []
    stages = [s for s in pipeline.stages.filter(is_active=True).order_by("sequence", "id") if not s.is_lost]
    if _funnel_reach_applies(filters):
        reached = _funnel_reached_from_aggregate(filters, pipeline, stages)
    else:
        reached = _funnel_reached_from_history(filters, stages)
    result, previous = [], None
    for stage in stages:
        count = reached.get(stage.sequence, 0)
        conversion = (Decimal(count * 100) / previous).quantize(Decimal("0.1")) if previous else None
        result.append(FunnelStage(stage=stage, reached=count, conversion=conversion))
        previous = count
    return result


def _funnel_reach_applies(filters) -> bool:
    return (
        not filters.product_id
        and filters.date_from.day == 1
        and timezone.get_current_timezone_name() == settings.TIME_ZONE
    )


def _changes_need_deal_scope(filters) -> bool:
    changes_scope = policy.policy_for(OpportunityStageChange).scope_for(filters.actor.role)
    return changes_scope is not Scope.COMPANY or bool(filters.team_id or filters.owner_id or filters.product_id)


def _funnel_reached_from_history(filters, stages: list[Stage]) -> dict[int, int]:
    """Deals per threshold sequence from the period's stage changes (the covering index crm_stagechange_funnel):
    the furthest stage per deal (aggregated once: a MATERIALIZED CTE), narrowed to the deals the actor may see
    and the filters pick — the deals the stage-change policy shows (it scopes a change by its deal's owner and
    team, as the opportunity policy scopes the deal), joined on one row per deal instead of one per change."""
    changes = OpportunityStageChange.objects.filter(
        company_id=filters.actor.company_id,
        to_stage__in=stages,
        changed_at__gte=_start(filters.date_from),
        changed_at__lt=_end(filters.date_to),
    )
    # the stage's sequence from the few stages at hand (a CASE), not a join to the stages per change
    sequence = Case(*(When(to_stage_id=s.pk, then=Value(s.sequence)) for s in stages), output_field=IntegerField())
    per_opportunity = changes.order_by().values("opportunity_id").annotate(furthest=Max(sequence))
    sql, params = per_opportunity.query.sql_with_params()
    where, where_params = "", ()
    if _changes_need_deal_scope(filters):
        visible_sql, where_params = _opps(filters).values("id").query.sql_with_params()
        where = f" WHERE p.opportunity_id IN ({visible_sql})"
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH p AS MATERIALIZED ({sql}) SELECT furthest, count(*) FROM p{where} GROUP BY furthest",
            (*params, *where_params),
        )
        counts = dict(cursor.fetchall())
    return {stage.sequence: sum(n for furthest, n in counts.items() if furthest >= stage.sequence) for stage in stages}


def _funnel_reached_from_aggregate(filters, pipeline: Pipeline, stages: list[Stage]) -> dict[int, int]:
    """Deals per threshold sequence from ``FunnelReach``: a deal reached a threshold in the period [A, B) — A
    the 1st of a month — exactly when one of its changes reaching it lies in the period with the previous one
    before A (then exactly one does), so the count is the sum of the rows of the months A … B's month whose
    ``previous_month`` is before A's (or none), scoped like the deals (the rows carry their team and owner).
    When B is not the end of its month, the changes of [B, end of B's month) that the sum counted are
    subtracted: read from the stage history (none but future-dated ones when B is tomorrow), each with the
    furthest stage its deal reached in [A, the change)."""
    first_month = filters.date_from
    last_month = filters.date_to.replace(day=1)
    rows = policy.scope(filters.actor, FunnelReach.objects.filter(pipeline=pipeline)).filter(
        Q(previous_month__isnull=True) | Q(previous_month__lt=first_month),
        month__gte=first_month,
        month__lte=last_month,
    )
    if filters.team_id:
        rows = rows.filter(team_id=filters.team_id)
    if filters.owner_id:
        rows = rows.filter(owner_id=filters.owner_id)
    reached: dict[int, int] = defaultdict(int)
    for threshold, n in rows.order_by().values("threshold").annotate(n=Sum("changes")).values_list("threshold", "n"):
        reached[threshold] += n
    period_end = _end(filters.date_to)
    month_end = _start((last_month + timedelta(days=32)).replace(day=1))
    if period_end < month_end:
        sequence = Case(*(When(to_stage_id=s.pk, then=Value(s.sequence)) for s in stages), output_field=IntegerField())
        earlier = (
            OpportunityStageChange.objects.filter(
                opportunity_id=OuterRef("opportunity_id"),
                to_stage__in=stages,
                changed_at__gte=_start(filters.date_from),
            )
            .filter(
                Q(changed_at__lt=OuterRef("changed_at")) | Q(changed_at=OuterRef("changed_at"), id__lt=OuterRef("id"))
            )
            .order_by()
            .values("opportunity_id")
            .annotate(furthest=Max(sequence))
            .values("furthest")
        )
        after = OpportunityStageChange.objects.filter(
            company_id=filters.actor.company_id,
            to_stage__in=stages,
            changed_at__gte=period_end,
            changed_at__lt=month_end,
        )
        if _changes_need_deal_scope(filters):
            after = after.filter(opportunity_id__in=_opps(filters).values("id"))
        tail = (
            after.annotate(reach=sequence, before=Subquery(earlier))
            .order_by()
            .values("reach", "before")
            .annotate(n=Count("*"))
            .values_list("reach", "before", "n")
        )
        for reach, before, n in tail:
            for stage in {s.sequence for s in stages}:
                if stage <= reach and (before is None or before < stage):
                    reached[stage] -= n
    return reached


@dataclass(frozen=True)
class ForecastPoint:
    label: str
    weighted: Decimal  # open deals expected to close in the bucket × probability
    won: Decimal  # won in the bucket
    target: Decimal  # sales targets of the months in the bucket


def sales_forecast(filters, overview: SalesOverview | None = None) -> list[ForecastPoint]:
    """Weighted pipeline and won amount per bucket (``sales_overview``) against the sales targets of the months
    (one more query)."""
    overview = overview or sales_overview(filters)
    target: dict[str, Decimal] = defaultdict(Decimal)
    targets = sales_targets_visible_to(filters.actor).filter(
        month__gte=filters.date_from.replace(day=1), month__lte=filters.date_to
    )
    if filters.team_id:
        targets = targets.filter(team_id=filters.team_id)
    targets = targets.filter(owner_id=filters.owner_id) if filters.owner_id else targets.filter(owner__isnull=True)
    for month, total in targets.order_by().values("month").annotate(total=Sum("amount")).values_list("month", "total"):
        target[filters.bucket_label(month)] += total
    return [
        ForecastPoint(
            label,
            _money(overview.weighted.get(label)),
            _money(overview.won.get(label)),
            _money(target[label]),
        )
        for label, _start_day, _end_day in filters.periods()
    ]


@dataclass(frozen=True)
class PerformanceRow:
    group_id: int | None
    name: str
    won_count: int
    lost_count: int
    won_amount: Decimal
    win_rate: Decimal | None
    cycle_days: Decimal | None


def sales_performance_all(filters) -> dict[str, list[PerformanceRow]]:
    """Win rate and cycle time of the deals closed in the period per owner and per team: one aggregate query
    grouped by (owner, team), rolled up both ways here."""
    closed_in = Q(closed_at__gte=_start(filters.date_from), closed_at__lt=_end(filters.date_to))
    won = Q(status=OpportunityStatus.WON)
    per_owner_team = (
        _opps(filters)
        .filter(closed_in, status__in=[OpportunityStatus.WON, OpportunityStatus.LOST])
        .values("owner_id", "team_id")
        .annotate(
            won_count=Count("id", filter=won),
            lost_count=Count("id", filter=~won),
            won_amount=Coalesce(Sum("amount", filter=won), ZERO),
            cycle=Sum(CYCLE, filter=won),
        )
        .order_by()
    )
    # grouped by the ids on the covering index alone; the few names joined to the groups after
    sql, params = per_owner_team.query.sql_with_params()
    users, teams = get_user_model()._meta.db_table, Team._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.owner_id, a.team_id, a.won_count, a.lost_count, a.won_amount, a.cycle, u.username,"
            f" u.first_name, u.last_name, t.name FROM ({sql}) a LEFT JOIN {users} u ON u.id = a.owner_id"
            f" LEFT JOIN {teams} t ON t.id = a.team_id",
            params,
        )
        columns = ("owner_id", "team_id", "won_count", "lost_count", "won_amount", "cycle", "owner__username",
                   "owner__first_name", "owner__last_name", "team__name")  # fmt: skip
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    groups: dict[str, dict] = {"owner": {}, "team": {}}
    for row in rows:
        full_name = f"{row['owner__last_name']}{row['owner__first_name']}".strip()
        for group_by, key, name in (
            ("owner", row["owner_id"], full_name or row["owner__username"]),
            ("team", row["team_id"], row["team__name"]),
        ):
            entry = groups[group_by].setdefault(
                key, {"name": name or "—", "won": 0, "lost": 0, "amount": Decimal(0), "cycle": timedelta(0)}
            )
            entry["won"] += row["won_count"]
            entry["lost"] += row["lost_count"]
            entry["amount"] += row["won_amount"]
            entry["cycle"] += row["cycle"] or timedelta(0)
    result = {}
    for group_by, entries in groups.items():
        result[group_by] = sorted(
            (
                PerformanceRow(
                    group_id=key,
                    name=v["name"],
                    won_count=v["won"],
                    lost_count=v["lost"],
                    won_amount=_money(v["amount"]),
                    win_rate=(Decimal(v["won"] * 100) / (v["won"] + v["lost"])).quantize(Decimal("0.1"))
                    if v["won"] + v["lost"]
                    else None,
                    cycle_days=_days(v["cycle"] / v["won"]) if v["won"] else None,
                )
                for key, v in entries.items()
            ),
            key=lambda r: (-r.won_amount, str(r.name)),
        )
    return result


def sales_performance(filters, *, group_by: str = "owner") -> list[PerformanceRow]:
    if group_by not in ("owner", "team"):
        raise ValueError("group_by is 'owner' or 'team'")
    return sales_performance_all(filters)[group_by]


# ---------------------------------------------------------------- marketing


def marketing_campaigns(filters) -> list[CampaignResult]:
    """The campaign comparison of the period (first-touch attribution; ROI on revenue and on margin booked by
    ERP), narrowed to a team's campaigns. A constant number of queries (``campaign_comparison``)."""
    campaigns = campaigns_visible_to(filters.actor)
    if filters.team_id:
        campaigns = campaigns.filter(team_id=filters.team_id)
    if not campaigns.exists():  # nothing to attribute to: skip the attribution queries
        return []
    rows = campaign_comparison(
        filters.actor, model="first", date_from=filters.date_from, date_to=filters.date_to, sort="-booked_revenue"
    )
    if filters.team_id:
        rows = [row for row in rows if row.campaign.team_id == filters.team_id]
    return rows


# ---------------------------------------------------------------- drill-down to the opportunity list


def opportunities_drilled(
    actor,
    queryset: QuerySet[Opportunity],
    *,
    status: str = "all",
    team_id: int | None = None,
    owner_id: int | None = None,
    product_id: int | None = None,
    stage_id: int | None = None,
    reached_stage_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Opportunity]:
    """Narrow the opportunity list the way a dashboard figure counted it: ``reached_stage`` — deals that entered
    that stage or a later one of its pipeline in the period (the funnel); otherwise the period applies to the
    closing date of won / lost deals (``status`` "all" with a period: the deals closed in it, won or lost — the
    win rate) and to the expected close date of open ones (the forecast)."""
    if team_id:
        queryset = queryset.filter(team_id=team_id)
    if owner_id:
        queryset = queryset.filter(owner_id=owner_id)
    if product_id:
        queryset = queryset.filter(
            Exists(OpportunityLine.objects.filter(opportunity=OuterRef("pk"), product_id=product_id))
        )
    if stage_id:
        queryset = queryset.filter(stage_id=stage_id)
    if reached_stage_id:
        stage = policy.scope(actor, Stage.objects.all()).filter(pk=reached_stage_id).first()
        if stage is None:
            return queryset.none()
        changes = OpportunityStageChange.objects.filter(
            opportunity=OuterRef("pk"),
            to_stage__pipeline_id=stage.pipeline_id,
            to_stage__sequence__gte=stage.sequence,
            to_stage__is_lost=False,
        )
        if date_from:
            changes = changes.filter(changed_at__gte=_start(date_from))
        if date_to:
            changes = changes.filter(changed_at__lt=_end(date_to))
        return queryset.filter(Exists(changes))
    if status not in (OpportunityStatus.WON, OpportunityStatus.LOST, OpportunityStatus.OPEN) and (date_from or date_to):
        queryset = queryset.filter(status__in=[OpportunityStatus.WON, OpportunityStatus.LOST])
    if status != OpportunityStatus.OPEN:
        if date_from:
            queryset = queryset.filter(closed_at__gte=_start(date_from))
        if date_to:
            queryset = queryset.filter(closed_at__lt=_end(date_to))
    elif status == OpportunityStatus.OPEN:
        if date_from:
            queryset = queryset.filter(expected_close_date__gte=date_from)
        if date_to:
            queryset = queryset.filter(expected_close_date__lte=date_to)
    return queryset


def product_choices(actor, *, limit: int = 500) -> list[tuple[int, str]]:
    """The products offered on the deals the actor may see (the dashboards' product filter): one query."""
    rows = (
        policy.scope(actor, OpportunityLine.objects.all())
        .order_by("product_id")
        .distinct("product_id")
        .values_list("product_id", "product_name")[:limit]
    )
    return [(int(product_id), name) for product_id, name in rows]
