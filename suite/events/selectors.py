"""Reads about the outbox: its health for /metrics and /healthz, and the dead letters for admins."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import QuerySet

from suite.models.outbox import OutboxEvent

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
