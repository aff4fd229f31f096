"""Reads of the service dashboard (issue #7): SLA attainment per priority / agent / category, CSAT average and
distribution, ticket volume trend.

The measures are those of the service report (``crm.selectors.ticket_report``, rows ``TicketReportRow``): a
ticket counts in the period it was opened; a target is "decided" once it was met or its due time passed. Every
function aggregates in PostgreSQL over the tickets the actor may see (``suite.policy.scope``: a manager their
teams', nothing across companies) with a fixed number of queries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, F, Q, QuerySet
from django.db.models.functions import TruncMonth, TruncWeek
from django.utils import timezone

from crm.models import Ticket, TicketCategory, TicketPriority
from crm.selectors import TicketReportRow, ticket_report_row
from suite import policy
from suite.policy import Actor

GROUPS = ("priority", "agent", "category")


def _bounds(date_from: dt.date, date_to: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=tz)
    return start, dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)


def tickets_opened(
    actor: Actor | None,
    *,
    date_from: dt.date,
    date_to: dt.date,
    team_id: int | None = None,
    agent_id: int | None = None,
    product_id: int | None = None,
) -> QuerySet[Ticket]:
    """Tickets the actor may see opened between the dates (inclusive), of a service team, an agent or an ERP
    product (the product a complaint is about) when given."""
    start, end = _bounds(date_from, date_to)
    qs = policy.scope(actor, Ticket.objects.all()).filter(created_at__gte=start, created_at__lt=end)
    if team_id:
        qs = qs.filter(team_id=team_id)
    if agent_id:
        qs = qs.filter(assigned_agent_id=agent_id)
    if product_id:
        qs = qs.filter(erp_product_id=product_id)
    return qs


def _measures(now: dt.datetime) -> dict:
    response_decided = Q(first_response_due_at__isnull=False) & (
        Q(first_responded_at__isnull=False) | Q(first_response_due_at__lt=now)
    )
    resolution_decided = Q(resolution_due_at__isnull=False) & (
        Q(resolved_at__isnull=False) | Q(resolution_due_at__lt=now)
    )
    return {
        "volume": Count("id"),
        "resolved": Count("id", filter=Q(resolved_at__isnull=False)),
        "first_response_met": Count("id", filter=Q(first_responded_at__lte=F("first_response_due_at"))),
        "first_response_due": Count("id", filter=response_decided),
        "resolution_met": Count("id", filter=Q(resolved_at__lte=F("resolution_due_at"))),
        "resolution_due": Count("id", filter=resolution_decided),
        "csat_count": Count("csat__score"),
        "csat_average": Avg("csat__score"),
    }


def service_figures(
    actor: Actor | None,
    *,
    group_by: str,
    date_from: dt.date,
    date_to: dt.date,
    team_id: int | None = None,
    agent_id: int | None = None,
    product_id: int | None = None,
    now: dt.datetime | None = None,
) -> list[TicketReportRow]:
    """Volume, SLA attainment (first response, resolution) and CSAT per ``group_by`` ("priority": in priority
    order, key the priority value; "agent" / "category": largest volume first, key the id or None), then a total
    row (key None, label ""). Two queries at most (the aggregate and the labels of agents or categories)."""
    if group_by not in GROUPS:
        raise ValueError(f"group_by is one of {GROUPS}")
    measures = _measures(now or timezone.now())
    key = {"priority": "priority", "agent": "assigned_agent_id", "category": "category_id"}[group_by]
    qs = tickets_opened(
        actor, date_from=date_from, date_to=date_to, team_id=team_id, agent_id=agent_id, product_id=product_id
    )
    grouped = list(qs.order_by().values(key).annotate(**measures))
    ids = [row[key] for row in grouped if row[key] is not None]
    if group_by == "priority":
        labels = {value: str(label) for value, label in TicketPriority.choices}
    elif group_by == "category":
        labels = dict(TicketCategory.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}
    else:
        from suite.templatetags.troika import person_name

        labels = {user.pk: person_name(user) for user in get_user_model().objects.filter(pk__in=ids)} if ids else {}
    rows = [ticket_report_row(row, row[key], labels.get(row[key], "")) for row in grouped]
    if group_by == "priority":
        order = {value: index for index, value in enumerate(TicketPriority.values)}
        rows.sort(key=lambda r: order.get(r.key, 99))
    else:
        rows.sort(key=lambda r: (-r.volume, r.label))
    totals = {name: sum(row[name] for row in grouped) for name in measures if name != "csat_average"}
    scored = sum((row["csat_average"] or 0) * row["csat_count"] for row in grouped)
    totals["csat_average"] = (Decimal(str(scored)) / totals["csat_count"]) if totals["csat_count"] else None
    rows.append(ticket_report_row(totals, None, ""))
    return rows


@dataclass(frozen=True)
class CsatDistribution:
    counts: dict[int, int]  # score 1..5 → answers
    answers: int
    average: Decimal | None


def csat_distribution(
    actor: Actor | None,
    *,
    date_from: dt.date,
    date_to: dt.date,
    team_id: int | None = None,
    agent_id: int | None = None,
    product_id: int | None = None,
) -> CsatDistribution:
    """Answered satisfaction surveys of the tickets opened in the period, per score, and their average. One
    query."""
    qs = tickets_opened(
        actor, date_from=date_from, date_to=date_to, team_id=team_id, agent_id=agent_id, product_id=product_id
    )
    aggregates = {f"s{score}": Count("id", filter=Q(csat__score=score)) for score in range(1, 6)}
    values = qs.order_by().aggregate(answers=Count("csat__score"), average=Avg("csat__score"), **aggregates)
    average = values["average"]
    return CsatDistribution(
        counts={score: values[f"s{score}"] for score in range(1, 6)},
        answers=values["answers"],
        average=Decimal(str(average)).quantize(Decimal("0.01")) if average is not None else None,
    )


@dataclass(frozen=True)
class VolumeBucket:
    period: dt.date
    opened: int
    resolved: int
    breached: int


def ticket_volume_trend(
    actor: Actor | None,
    *,
    date_from: dt.date,
    date_to: dt.date,
    granularity: str = "month",
    team_id: int | None = None,
    agent_id: int | None = None,
    product_id: int | None = None,
) -> list[VolumeBucket]:
    """Tickets opened per month (or week) of the period, with how many of them are resolved and how many missed
    an SLA target; oldest first, only periods with tickets. One query."""
    trunc = TruncWeek if granularity == "week" else TruncMonth
    qs = tickets_opened(
        actor, date_from=date_from, date_to=date_to, team_id=team_id, agent_id=agent_id, product_id=product_id
    )
    breach = Q(first_response_breached_at__isnull=False) | Q(resolution_breached_at__isnull=False)
    rows = (
        qs.annotate(period=trunc("created_at"))
        .order_by()
        .values("period")
        .annotate(
            opened=Count("id"),
            resolved=Count("id", filter=Q(resolved_at__isnull=False)),
            breached=Count("id", filter=breach),
        )
        .order_by("period")
    )
    return [
        VolumeBucket(timezone.localtime(row["period"]).date(), row["opened"], row["resolved"], row["breached"])
        for row in rows
    ]


def _int(value) -> int | None:
    return int(value) if str(value or "").isdigit() and len(str(value)) <= 12 else None


def _date(value) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value or ""))
    except ValueError:
        return None


def ticket_drill_filter(tickets: QuerySet[Ticket], params) -> tuple[QuerySet[Ticket], dict[str, str]]:
    """Narrow a ticket list to what a dashboard figure links to: ``date_from`` / ``date_to`` (opened, inclusive),
    ``priority``, ``category`` (an id or "none"), ``agent`` (or ``owner``), ``team``, ``product`` (ERP product
    id). Values that do not parse are ignored; returns the queryset and the filters applied (for the page)."""
    applied: dict[str, str] = {}
    date_from, date_to = _date(params.get("date_from")), _date(params.get("date_to"))
    if date_from:
        tickets = tickets.filter(created_at__gte=_bounds(date_from, date_from)[0])
        applied["date_from"] = date_from.isoformat()
    if date_to:
        tickets = tickets.filter(created_at__lt=_bounds(date_to, date_to)[1])
        applied["date_to"] = date_to.isoformat()
    priority = params.get("priority", "")
    if priority in TicketPriority.values:
        tickets = tickets.filter(priority=priority)
        applied["priority"] = priority
    category = params.get("category", "")
    if category == "none":
        tickets = tickets.filter(category__isnull=True)
        applied["category"] = category
    elif _int(category):
        tickets = tickets.filter(category_id=_int(category))
        applied["category"] = category
    for name, field in (("agent", "assigned_agent_id"), ("owner", "assigned_agent_id"), ("team", "team_id")):
        if _int(params.get(name)):
            tickets = tickets.filter(**{field: _int(params.get(name))})
            applied[name] = params.get(name)
    if _int(params.get("product")):
        tickets = tickets.filter(erp_product_id=_int(params.get("product")))
        applied["product"] = params.get("product")
    return tickets, applied
