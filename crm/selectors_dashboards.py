"""Reads of the sales and marketing dashboards (issue #7): aggregates in PostgreSQL over the opportunities,
stage history, targets and campaigns the actor may see (``suite.policy.scope``), narrowed by the dashboard
filters (``suite.dashboards.Filters``). A fixed number of queries each, whatever the data."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

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
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.models import (
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
from suite.policy import Scope

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
WEIGHTED = ExpressionWrapper(
    F("amount") * F("stage__probability") / Decimal(100), output_field=DecimalField(max_digits=20, decimal_places=4)
)
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
        .values("status", "bucket")
        .annotate(n=Count("*"), total=Sum("amount"), weighted=Sum(WEIGHTED), cycle=Value(None, DurationField()))
    )
    rows = closed.union(open_, all=True)
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
    stage up to the furthest it reached (skipped stages count as passed). Three queries."""
    pipeline = pipeline or default_pipeline(filters.actor)
    if pipeline is None:
        return []
    stages = [s for s in pipeline.stages.filter(is_active=True).order_by("sequence", "id") if not s.is_lost]
    # The furthest stage per deal is read from the period's stage changes alone (the covering index
    # crm_stagechange_funnel, aggregated once: a MATERIALIZED CTE), then narrowed to the deals the actor may see
    # and the filters pick — the deals the stage-change policy shows (it scopes a change by its deal's owner and
    # team, as the opportunity policy scopes the deal), joined on one row per deal instead of one per change.
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
    changes_scope = policy.policy_for(OpportunityStageChange).scope_for(filters.actor.role)
    if changes_scope is not Scope.COMPANY or filters.team_id or filters.owner_id or filters.product_id:
        visible_sql, where_params = _opps(filters).values("id").query.sql_with_params()
        where = f" WHERE p.opportunity_id IN ({visible_sql})"
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH p AS MATERIALIZED ({sql}) SELECT furthest, count(*) FROM p{where} GROUP BY furthest",
            (*params, *where_params),
        )
        counts = dict(cursor.fetchall())
    result, previous = [], None
    for stage in stages:
        reached = sum(n for sequence, n in counts.items() if sequence >= stage.sequence)
        conversion = (Decimal(reached * 100) / previous).quantize(Decimal("0.1")) if previous else None
        result.append(FunnelStage(stage=stage, reached=reached, conversion=conversion))
        previous = reached
    return result


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
    rows = (
        _opps(filters)
        .filter(closed_in, status__in=[OpportunityStatus.WON, OpportunityStatus.LOST])
        .values("owner_id", "owner__username", "owner__first_name", "owner__last_name", "team_id", "team__name")
        .annotate(
            won_count=Count("id", filter=won),
            lost_count=Count("id", filter=~won),
            won_amount=Coalesce(Sum("amount", filter=won), ZERO),
            cycle=Sum(CYCLE, filter=won),
        )
        .order_by()
    )
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
