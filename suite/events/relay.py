"""The relay: hands committed outbox events to their handlers, at least once, each handler's effect once.

One batch is one transaction:

1. claim up to ``TROIKA_OUTBOX_BATCH_SIZE`` due pending events, oldest first, ``FOR UPDATE SKIP LOCKED`` (another
   relay running at the same time claims other rows, never these);
2. run every subscribed handler that has not yet succeeded for the event, each in a savepoint, with the
   audit context of the event and the handler;
3. write the ``HandlerRun`` records (one bulk upsert) and the events' new states (one bulk update);
4. commit: the handlers' effects, their ``HandlerRun`` records and the events' states become visible together.

If the process dies anywhere before 4, PostgreSQL rolls the whole batch back and releases the row locks: the
events are pending again and no effect was kept. If it dies after 4, everything is recorded. So a handler's
effect is applied exactly once however often an event is delivered — as long as the handler only writes to
the database (anything else goes through ``transaction.on_commit``).

A handler that raises has its savepoint rolled back and is retried with exponential backoff
(``TROIKA_OUTBOX_BACKOFF_SECONDS`` × 2ⁿ⁻¹); after ``TROIKA_OUTBOX_MAX_ATTEMPTS`` failures its run and the event
become dead letters (admin: retry), and ``suite.event.dead_lettered`` is published.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pghistory
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from suite.models.outbox import HandlerRun, OutboxEvent

from .registry import Event, Subscription, current_event, subscribers

logger = logging.getLogger(__name__)

DEAD_LETTERED = "suite.event.dead_lettered"

CLAIM_SQL = """
    SELECT id, uuid, name, version, payload, company_id, correlation_id, created_at, created_by_id, attempts
      FROM suite_outboxevent
     WHERE state = 'pending' AND next_attempt_at <= %s
     ORDER BY id
     LIMIT %s
       FOR UPDATE SKIP LOCKED
"""


@dataclass
class BatchResult:
    claimed: int = 0
    done: int = 0
    retrying: int = 0
    dead: int = 0
    next_retry_at: datetime | None = None


@dataclass
class RelayResult:
    batches: int = 0
    claimed: int = 0
    done: int = 0
    retrying: int = 0
    dead: int = 0
    more: bool = False  # stopped by the time budget with events left
    next_retry_at: datetime | None = None
    seconds: float = 0.0


@dataclass
class _Outcome:
    event_id: int
    handler: str
    attempts: int
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class _EventFailures:
    errors: list[str] = field(default_factory=list)
    max_attempts: int = 0
    dead_handlers: list[str] = field(default_factory=list)


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after ``attempts`` failures: base × 2^(attempts-1), capped."""
    base = settings.TROIKA_OUTBOX_BACKOFF_SECONDS
    seconds = min(base * (2 ** max(0, attempts - 1)), settings.TROIKA_OUTBOX_BACKOFF_MAX_SECONDS)
    return timedelta(seconds=seconds)


def _event_from_row(row) -> Event:
    payload = row[4]
    if isinstance(payload, str | bytes):
        payload = json.loads(payload)
    return Event(
        id=row[0],
        uuid=row[1],
        name=row[2],
        version=row[3],
        payload=payload,
        company_id=row[5],
        correlation_id=row[6],
        created_at=row[7],
        created_by_id=row[8],
        attempts=row[9],
    )


def _error_text(exc: BaseException) -> str:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-8)
    return "".join(lines)[-4000:]


def _audit_context(subscription: Subscription, event: Event | None):
    """The pghistory context of one handler run: history rows written by the handler say which event, which
    handler and which user's action caused them (source ``worker``)."""
    metadata = {"source": "worker", "task": "suite.events.relay", "handler": subscription.name}
    if event is not None:
        metadata.update(
            event=str(event.uuid),
            event_name=event.name,
            correlation_id=str(event.correlation_id),
            user=event.created_by_id,
        )
    return pghistory.context(**metadata)


def _run(subscription: Subscription, events: list[Event], attempts_before: dict[int, int]) -> list[_Outcome]:
    """Call one handler (for one event, or a batch handler for several) in a savepoint; never raises."""
    single = events[0] if len(events) == 1 else None
    started_at = timezone.now()
    started = time.perf_counter()
    token = current_event.set(single)
    error = ""
    try:
        with transaction.atomic(), _audit_context(subscription, single):
            subscription.func(events if subscription.batch else events[0])
    except Exception as exc:
        error = _error_text(exc)
        if single is not None:
            logger.warning(
                "event handler %s failed on %s #%s (attempt %s): %s",
                subscription.name,
                single.name,
                single.id,
                attempts_before.get(single.id, 0) + 1,
                exc,
            )
    finally:
        current_event.reset(token)
    finished_at = timezone.now()
    duration_ms = int((time.perf_counter() - started) * 1000)
    if error and single is None:
        # A batch handler failed: run it for each event alone, so only the bad events are retried.
        outcomes = []
        for event in events:
            outcomes.extend(_run(subscription, [event], attempts_before))
        return outcomes
    return [
        _Outcome(
            event_id=event.id,
            handler=subscription.name,
            attempts=attempts_before.get(event.id, 0) + 1,
            started_at=started_at,
            finished_at=finished_at,
            duration_ms=duration_ms,
            error=error,
        )
        for event in events
    ]


def relay_batch(*, batch_size: int | None = None, now: datetime | None = None) -> BatchResult:
    """Claim and deliver one batch of due events (one transaction). ``now``: the clock for due-ness and
    backoff (tests move it forward instead of sleeping).

    Locks the claimed ``OutboxEvent`` rows (``SKIP LOCKED``). Publishes ``suite.event.dead_lettered`` for each
    event that becomes a dead letter.
    """
    batch_size = batch_size or settings.TROIKA_OUTBOX_BATCH_SIZE
    max_attempts = settings.TROIKA_OUTBOX_MAX_ATTEMPTS
    result = BatchResult()
    with transaction.atomic():
        clock = now or timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(CLAIM_SQL, [clock, batch_size])
            rows = cursor.fetchall()
        if not rows:
            return result
        events = [_event_from_row(row) for row in rows]
        result.claimed = len(events)

        # Runs recorded by earlier tries (only events tried before can have any).
        previous: dict[tuple[int, str], tuple[str, int]] = {}
        retried = [event.id for event in events if event.attempts > 0]
        if retried:
            for event_id, handler_name, status, attempts in HandlerRun.objects.filter(event_id__in=retried).values_list(
                "event_id", "handler", "status", "attempts"
            ):
                previous[(event_id, handler_name)] = (status, attempts)

        outcomes: list[_Outcome] = []
        batch_groups: dict[str, tuple[Subscription, list[Event], dict[int, int]]] = {}
        for event in events:
            for subscription in subscribers(event.name):
                status, attempts = previous.get((event.id, subscription.name), ("", 0))
                if status == HandlerRun.Status.DONE:
                    continue  # applied by an earlier delivery of this event
                if subscription.batch:
                    group = batch_groups.setdefault(subscription.name, (subscription, [], {}))
                    group[1].append(event)
                    group[2][event.id] = attempts
                else:
                    outcomes.extend(_run(subscription, [event], {event.id: attempts}))
        for subscription, group_events, attempts_before in batch_groups.values():
            outcomes.extend(_run(subscription, group_events, attempts_before))

        failures: dict[int, _EventFailures] = defaultdict(_EventFailures)
        runs = []
        for outcome in outcomes:
            status = HandlerRun.Status.DONE
            if not outcome.ok:
                failure = failures[outcome.event_id]
                failure.errors.append(f"{outcome.handler}: {outcome.error.strip().splitlines()[-1]}")
                failure.max_attempts = max(failure.max_attempts, outcome.attempts)
                if outcome.attempts >= max_attempts:
                    status = HandlerRun.Status.DEAD
                    failure.dead_handlers.append(outcome.handler)
                else:
                    status = HandlerRun.Status.FAILED
            runs.append(
                HandlerRun(
                    event_id=outcome.event_id,
                    handler=outcome.handler,
                    status=status,
                    attempts=outcome.attempts,
                    last_error=outcome.error,
                    started_at=outcome.started_at,
                    finished_at=outcome.finished_at,
                    duration_ms=outcome.duration_ms,
                )
            )
        if runs:
            HandlerRun.objects.bulk_create(
                runs,
                update_conflicts=True,
                unique_fields=["event", "handler"],
                update_fields=["status", "attempts", "last_error", "started_at", "finished_at", "duration_ms"],
            )

        delivered_at = timezone.now()
        done_ids = [event.id for event in events if event.id not in failures]
        if done_ids:
            OutboxEvent.objects.filter(id__in=done_ids).update(
                state=OutboxEvent.State.DONE, delivered_at=delivered_at, attempts=F("attempts") + 1, last_error=""
            )
        result.done = len(done_ids)
        by_id = {event.id: event for event in events}
        for event_id, failure in failures.items():
            last_error = "\n".join(failure.errors)[-4000:]
            if failure.dead_handlers:
                OutboxEvent.objects.filter(id=event_id).update(
                    state=OutboxEvent.State.DEAD, attempts=F("attempts") + 1, last_error=last_error
                )
                result.dead += 1
                _dead_lettered(by_id[event_id], failure)
            else:
                retry_at = clock + backoff(failure.max_attempts)
                OutboxEvent.objects.filter(id=event_id).update(
                    attempts=F("attempts") + 1, next_attempt_at=retry_at, last_error=last_error
                )
                result.retrying += 1
                if result.next_retry_at is None or retry_at < result.next_retry_at:
                    result.next_retry_at = retry_at
    return result


def _dead_lettered(event: Event, failure: _EventFailures) -> None:
    logger.error(
        "event %s #%s is a dead letter after %s attempts of %s",
        event.name,
        event.id,
        failure.max_attempts,
        ", ".join(failure.dead_handlers),
    )
    if event.name == DEAD_LETTERED:
        return  # a dead notice about a dead notice would start a chain
    from .outbox import publish

    publish(
        DEAD_LETTERED,
        {
            "event_id": event.id,
            "event_uuid": str(event.uuid),
            "event_name": event.name,
            "handlers": failure.dead_handlers,
            "attempts": failure.max_attempts,
            "error": failure.errors[-1][-500:] if failure.errors else "",
        },
        company_id=event.company_id,
        correlation_id=event.correlation_id,
    )


def relay(
    *,
    batch_size: int | None = None,
    time_budget: float = 10.0,
    now: datetime | None = None,
    on_full_batch: Callable[[], object] | None = None,
) -> RelayResult:
    """Deliver due events batch after batch until none is left or ``time_budget`` seconds have passed.

    ``on_full_batch`` is called after each full batch (more events are probably waiting): the Celery task uses
    it to wake one more relay, so a backlog is worked off by every worker process, not by one.
    """
    batch_size = batch_size or settings.TROIKA_OUTBOX_BATCH_SIZE
    started = time.monotonic()
    total = RelayResult()
    while True:
        batch = relay_batch(batch_size=batch_size, now=now)
        total.batches += 1
        total.claimed += batch.claimed
        total.done += batch.done
        total.retrying += batch.retrying
        total.dead += batch.dead
        if batch.next_retry_at and (total.next_retry_at is None or batch.next_retry_at < total.next_retry_at):
            total.next_retry_at = batch.next_retry_at
        if batch.claimed < batch_size:
            break
        if on_full_batch is not None:
            on_full_batch()
        if time.monotonic() - started > time_budget:
            total.more = True
            break
    total.seconds = time.monotonic() - started
    return total
