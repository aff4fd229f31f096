"""Reads about the outbox: its health for /metrics and /healthz, and the dead letters for admins."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from suite.models.outbox import HandlerRun, OutboxEvent

from .registry import subscribers

# Lag is measured over recently delivered events: at most this many of the newest ids, in this window.
LAG_WINDOW_EVENTS = 5000
LAG_WINDOW_SECONDS = 300


@dataclass(frozen=True)
class OutboxStats:
    pending: int
    dead: int
    oldest_pending_age_seconds: float  # 0.0 when nothing is pending
    lag_p95_seconds: float  # delivered_at - created_at, p95 over recent deliveries; 0.0 when none


def outbox_stats() -> OutboxStats:
    """Pending and dead counts, the age of the oldest pending event and the delivery lag p95, in one query.

    The counts use the partial indexes of pending and dead rows (small tables in a healthy system); the lag
    looks at the newest ``LAG_WINDOW_EVENTS`` ids only, through the primary key, never at the whole table.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT
              (SELECT count(*) FROM suite_outboxevent WHERE state = 'pending'),
              (SELECT count(*) FROM suite_outboxevent WHERE state = 'dead'),
              (SELECT extract(epoch FROM clock_timestamp() - min(created_at))
                 FROM suite_outboxevent WHERE state = 'pending'),
              (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - created_at))
                 FROM suite_outboxevent
                WHERE id > (SELECT coalesce(max(id), 0) FROM suite_outboxevent) - %s
                  AND state = 'done'
                  AND delivered_at >= clock_timestamp() - make_interval(secs => %s))
            """,
            [LAG_WINDOW_EVENTS, LAG_WINDOW_SECONDS],
        )
        pending, dead, oldest, lag = cursor.fetchone()
    return OutboxStats(
        pending=int(pending),
        dead=int(dead),
        oldest_pending_age_seconds=max(0.0, float(oldest or 0.0)),
        lag_p95_seconds=max(0.0, float(lag or 0.0)),
    )


def dead_letters() -> QuerySet[OutboxEvent]:
    """Events whose handlers gave up, newest first, with their handler runs."""
    return OutboxEvent.objects.filter(state=OutboxEvent.State.DEAD).prefetch_related("handler_runs").order_by("-id")


# --- Trace: every event of one correlation id with its handler runs (issue #7, "Loop visibility") ---------------


@dataclass(frozen=True)
class TraceRun:
    """One handler's processing of one event. ``status``: done, skipped (module disabled for the company),
    failed (will retry), dead, or pending (subscribed, not run yet)."""

    handler: str
    status: str
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    error: str

    @property
    def ok(self) -> bool:
        return self.status in ("done", "skipped")


@dataclass(frozen=True)
class TraceEvent:
    id: int
    uuid: uuid.UUID
    name: str
    version: int
    app: str
    state: str
    correlation_id: uuid.UUID
    company_id: int | None
    created_at: datetime
    delivered_at: datetime | None
    lag_ms: int | None  # created_at → delivered_at
    attempts: int
    last_error: str
    payload: dict
    runs: tuple[TraceRun, ...]


def trace(correlation_id, *, company) -> list[TraceEvent]:
    """Every event of ``correlation_id`` in ``company`` (a ``Company`` or its id), oldest first, each with its
    handler runs in the order they started (for a pending event, handlers not run yet appear as ``pending``).

    An unknown correlation id, or one of another company, gives ``[]`` (callers answer 404). Two queries.
    """
    try:
        correlation = correlation_id if isinstance(correlation_id, uuid.UUID) else uuid.UUID(str(correlation_id))
    except ValueError:
        return []
    company_id = getattr(company, "pk", company)
    runs_qs = HandlerRun.objects.order_by("started_at", "id")
    events = (
        OutboxEvent.objects.filter(correlation_id=correlation, company_id=company_id)
        .prefetch_related(Prefetch("handler_runs", queryset=runs_qs))
        .order_by("created_at", "id")
    )
    result = []
    for event in events:
        runs = [
            TraceRun(
                handler=run.handler,
                status=run.status,
                attempts=run.attempts,
                started_at=run.started_at,
                finished_at=run.finished_at,
                duration_ms=run.duration_ms,
                error=run.last_error,
            )
            for run in event.handler_runs.all()
        ]
        if event.state == OutboxEvent.State.PENDING:
            seen = {run.handler for run in runs}
            runs.extend(
                TraceRun(sub.name, "pending", 0, None, None, None, "")
                for sub in subscribers(event.name)
                if sub.name not in seen
            )
        lag = None
        if event.delivered_at is not None:
            lag = max(0, int((event.delivered_at - event.created_at).total_seconds() * 1000))
        result.append(
            TraceEvent(
                id=event.id,
                uuid=event.uuid,
                name=event.name,
                version=event.version,
                app=event.name.split(".", 1)[0],
                state=event.state,
                correlation_id=event.correlation_id,
                company_id=event.company_id,
                created_at=event.created_at,
                delivered_at=event.delivered_at,
                lag_ms=lag,
                attempts=event.attempts,
                last_error=event.last_error,
                payload=event.payload,
                runs=tuple(runs),
            )
        )
    return result


# --- Loop monitor: throughput per event type, relay lag, failures and dead letters of one company ----------------


@dataclass(frozen=True)
class EventTypeRate:
    name: str
    total: int
    per_minute: tuple[int, ...]  # oldest minute first, one entry per minute of the window

    @property
    def peak(self) -> int:
        return max(self.per_minute, default=0)


@dataclass(frozen=True)
class FailingRun:
    event_id: int
    event_name: str
    correlation_id: uuid.UUID
    handler: str
    status: str  # failed (will retry) or dead
    attempts: int
    finished_at: datetime
    error: str


@dataclass(frozen=True)
class LoopMonitor:
    since: datetime
    until: datetime
    minutes: int
    rates: tuple[EventTypeRate, ...]
    delivered: int
    lag_p50_ms: int | None
    lag_p95_ms: int | None
    pending: int
    failing: tuple[FailingRun, ...]
    dead_letters: tuple[OutboxEvent, ...]


MONITOR_FAILURE_LIMIT = 50


def loop_monitor(*, company, now: datetime | None = None, minutes: int = 60) -> LoopMonitor:
    """The loop's health for one company over the last ``minutes``: events per type per minute, relay lag p50/p95
    (created_at → delivered_at of the events delivered in the window), pending count, the latest failing handler
    runs and the dead letters (newest first, at most ``MONITOR_FAILURE_LIMIT`` each). Four queries."""
    company_id = getattr(company, "pk", company)
    until = now or timezone.now()
    since = until - timedelta(minutes=minutes)
    first_minute = since.replace(second=0, microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT name, date_trunc('minute', created_at) AS minute, count(*)
              FROM suite_outboxevent
             WHERE company_id = %s AND created_at > %s AND created_at <= %s
             GROUP BY name, minute
            """,
            [company_id, since, until],
        )
        counts: dict[str, list[int]] = {}
        for name, minute, count in cursor.fetchall():
            index = int((minute - first_minute).total_seconds() // 60)
            slots = counts.setdefault(name, [0] * (minutes + 1))
            if 0 <= index <= minutes:
                slots[index] += count
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE state = 'done' AND delivered_at IS NOT NULL),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - created_at))
                       FILTER (WHERE state = 'done' AND delivered_at IS NOT NULL),
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - created_at))
                       FILTER (WHERE state = 'done' AND delivered_at IS NOT NULL),
                   count(*) FILTER (WHERE state = 'pending')
              FROM suite_outboxevent
             WHERE company_id = %s AND created_at > %s AND created_at <= %s
            """,
            [company_id, since, until],
        )
        delivered, p50, p95, pending = cursor.fetchone()
    failing = (
        HandlerRun.objects.filter(
            event__company_id=company_id,
            status__in=[HandlerRun.Status.FAILED, HandlerRun.Status.DEAD],
        )
        .filter(event__state__in=[OutboxEvent.State.PENDING, OutboxEvent.State.DEAD])
        .select_related("event")
        .order_by("-finished_at", "-id")[:MONITOR_FAILURE_LIMIT]
    )
    dead = (
        OutboxEvent.objects.filter(state=OutboxEvent.State.DEAD, company_id=company_id)
        .only("id", "uuid", "name", "correlation_id", "created_at", "attempts", "last_error", "company_id", "state")
        .order_by("-id")[:MONITOR_FAILURE_LIMIT]
    )
    rates = sorted(
        (EventTypeRate(name, sum(slots), tuple(slots)) for name, slots in counts.items()),
        key=lambda rate: (-rate.total, rate.name),
    )
    return LoopMonitor(
        since=since,
        until=until,
        minutes=minutes,
        rates=tuple(rates),
        delivered=int(delivered or 0),
        lag_p50_ms=None if p50 is None else round(float(p50) * 1000),
        lag_p95_ms=None if p95 is None else round(float(p95) * 1000),
        pending=int(pending or 0),
        failing=tuple(
            FailingRun(
                run.event_id,
                run.event.name,
                run.event.correlation_id,
                run.handler,
                run.status,
                run.attempts,
                run.finished_at,
                run.last_error,
            )
            for run in failing
        ),
        dead_letters=tuple(dead),
    )
