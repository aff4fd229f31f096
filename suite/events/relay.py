"""The relay: hands committed outbox events to their handlers, at least once, each handler's effect once.

One batch is one transaction:

1. claim up to ``TROIKA_OUTBOX_BATCH_SIZE`` due pending events, oldest first, ``FOR UPDATE SKIP LOCKED`` (another
   relay running at the same time claims other rows, never these);
2. run every subscribed handler that has not yet succeeded for the event, with the audit context of the event
   and the handler, under a savepoint shared by up to ``CHUNK`` calls — if one call raises, the chunk is rolled
   back and each of its calls runs again alone in its own savepoint, so only the failure is lost;
3. write the ``HandlerRun`` records (one bulk upsert) and the events' new states (one bulk update);
4. commit: the handlers' effects, their ``HandlerRun`` records and the events' states become visible together.

If the process dies anywhere before 4, PostgreSQL rolls the whole batch back and releases the row locks: the
events are pending again and no effect was kept. If it dies after 4, everything is recorded. So a handler's
effect is applied exactly once however often an event is delivered — as long as the handler only writes to
the database (anything else goes through ``transaction.on_commit``).

A handler that raises has its writes rolled back and is retried with exponential backoff
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
from suite.modules import is_enabled

from .registry import Event, Subscription, current_event, subscribers

logger = logging.getLogger(__name__)

DEAD_LETTERED = "suite.event.dead_lettered"

# The claim brings each event's company's ``enabled_modules`` along (suite.modules: is a handler's module on?):
# one round trip per batch instead of two. The claim itself is unchanged inside the CTE (same plan, same locks:
# only the outbox rows are locked).
CLAIM_SQL = """
    WITH claimed AS (
        SELECT id, uuid, name, version, payload, company_id, correlation_id, created_at, created_by_id, attempts
          FROM suite_outboxevent
         WHERE state = 'pending' AND next_attempt_at <= %s
         ORDER BY id
         LIMIT %s
           FOR UPDATE SKIP LOCKED
    )
    SELECT claimed.*, company.enabled_modules
      FROM claimed LEFT JOIN suite_company AS company ON company.id = claimed.company_id
     ORDER BY claimed.id
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
    skipped: bool = False  # the handler's module is not enabled for the event's company (suite.modules)

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


Attempts = dict[tuple[str, int], int]  # (handler, event id) → failed attempts so far


class _HandlerFailed(Exception):
    pass


def _call(subscription: Subscription, events: list[Event], attempts_before: Attempts) -> list[_Outcome]:
    """Call one handler (for one event, or a batch handler for several) without a savepoint of its own;
    raises ``_HandlerFailed`` if it fails."""
    single = events[0] if len(events) == 1 else None
    started_at = timezone.now()
    started = time.perf_counter()
    token = current_event.set(single)
    try:
        with _audit_context(subscription, single):
            subscription.func(events if subscription.batch else events[0])
    except Exception as exc:
        raise _HandlerFailed from exc
    finally:
        current_event.reset(token)
    duration_ms = int((time.perf_counter() - started) * 1000)
    finished_at = timezone.now()
    return [
        _Outcome(
            event.id,
            subscription.name,
            attempts_before.get((subscription.name, event.id), 0) + 1,
            started_at,
            finished_at,
            duration_ms,
        )
        for event in events
    ]


def _run(subscription: Subscription, events: list[Event], attempts_before: Attempts) -> list[_Outcome]:
    """Call one handler in a savepoint of its own; never raises: a failure is an outcome with its error."""
    try:
        with transaction.atomic():
            return _call(subscription, events, attempts_before)
    except _HandlerFailed as failed:
        exc = failed.__cause__
    except Exception as exc_:  # the savepoint itself failed (a handler swallowed a database error)
        exc = exc_
    if len(events) > 1:
        # A batch handler failed: run it for each event alone, so only the bad events are retried.
        outcomes = []
        for event in events:
            outcomes.extend(_run(subscription, [event], attempts_before))
        return outcomes
    event = events[0]
    attempts = attempts_before.get((subscription.name, event.id), 0) + 1
    logger.warning(
        "event handler %s failed on %s #%s (attempt %s): %s", subscription.name, event.name, event.id, attempts, exc
    )
    now = timezone.now()
    return [_Outcome(event.id, subscription.name, attempts, now, now, 0, _error_text(exc))]


def _run_chunk(calls: list[tuple[Subscription, list[Event]]], attempts_before: Attempts) -> list[_Outcome]:
    """Run handler calls under one savepoint (two round trips for the lot, not two per call); if any fails,
    roll them all back and run each in a savepoint of its own, so the failure is isolated. Handlers are
    idempotent and write only to the database, so running the good ones again is harmless."""
    try:
        with transaction.atomic():
            outcomes = []
            for subscription, events in calls:
                outcomes.extend(_call(subscription, events, attempts_before))
            return outcomes
    except Exception:  # noqa: S110 - each call is retried alone below, and its error recorded there
        pass
    outcomes = []
    for subscription, events in calls:
        outcomes.extend(_run(subscription, events, attempts_before))
    return outcomes


_PREVIOUS_RUNS = "SELECT event_id, handler, status, attempts FROM suite_handlerrun WHERE event_id = ANY(%s::bigint[])"
# The batch's records travel as one JSON document: encoding it is much cheaper than adapting 8 arrays.
_UPSERT_RUNS = """
    INSERT INTO suite_handlerrun
           (event_id, handler, status, attempts, last_error, started_at, finished_at, duration_ms)
    SELECT r.event_id, r.handler, r.status, r.attempts, r.last_error, r.started_at, r.finished_at, r.duration_ms
      FROM jsonb_to_recordset(%s::jsonb) AS r(event_id bigint, handler text, status text, attempts int,
                                              last_error text, started_at timestamptz, finished_at timestamptz,
                                              duration_ms int)
    ON CONFLICT (event_id, handler) DO UPDATE
       SET status = EXCLUDED.status, attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error,
           started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, duration_ms = EXCLUDED.duration_ms
"""
_MARK_DONE = """
    UPDATE suite_outboxevent SET state = 'done', delivered_at = %s, attempts = attempts + 1, last_error = ''
     WHERE id = ANY(%s::bigint[])
"""


def _id_array(ids: list[int]) -> str:
    """A PostgreSQL array literal of ids (adapting a long Python list element by element is slower)."""
    return "{" + ",".join(map(str, ids)) + "}"


CHUNK = 100  # handler calls per shared savepoint


def _company_modules(rows) -> dict[int, list[str]]:
    """The ``enabled_modules`` (read by the claim) of the batch's companies that restrict their modules.
    Companies with an empty list (every module on) are left out."""
    found = {}
    for row in rows:
        company_id, enabled = row[5], row[10]
        if company_id is None or company_id in found or not enabled:
            continue
        if isinstance(enabled, str | bytes):
            enabled = json.loads(enabled)
        if enabled:
            found[company_id] = list(enabled)
    return found


def relay_batch(*, batch_size: int | None = None, now: datetime | None = None) -> BatchResult:
    """Claim and deliver one batch of due events (one transaction). ``now``: the clock for due-ness and
    backoff (tests move it forward instead of sleeping). A handler whose module (``suite.modules``) the event's
    company has not enabled is not called: its run is recorded as ``skipped`` (the claim reads the batch's
    companies' ``enabled_modules``).

    Locks the claimed ``OutboxEvent`` rows (``SKIP LOCKED``). Publishes ``suite.event.dead_lettered`` for each
    event that becomes a dead letter. Queries per batch: claim, handler runs, event states (plus, only for
    events tried before, their earlier runs; plus one savepoint pair per ``CHUNK`` handler calls).
    """
    batch_size = batch_size or settings.TROIKA_OUTBOX_BATCH_SIZE
    max_attempts = settings.TROIKA_OUTBOX_MAX_ATTEMPTS
    result = BatchResult()
    with transaction.atomic(), connection.cursor() as cursor:
        clock = now or timezone.now()
        cursor.execute(CLAIM_SQL, [clock, batch_size])
        rows = cursor.fetchall()
        events = [_event_from_row(row) for row in rows]
        if not events:
            return result
        result.claimed = len(events)

        # Runs recorded by earlier tries (only events tried before can have any).
        previous: dict[tuple[int, str], tuple[str, int]] = {}
        retried = [event.id for event in events if event.attempts > 0]
        if retried:
            cursor.execute(_PREVIOUS_RUNS, [_id_array(retried)])
            for event_id, handler_name, status, attempts in cursor.fetchall():
                previous[(event_id, handler_name)] = (status, attempts)

        calls: list[tuple[Subscription, list[Event]]] = []
        attempts_before: Attempts = {}
        batch_groups: dict[str, tuple[Subscription, list[Event]]] = {}
        company_modules = _company_modules(rows)
        skipped: list[_Outcome] = []
        for event in events:
            for subscription in subscribers(event.name):
                status, attempts = previous.get((event.id, subscription.name), ("", 0))
                if status in (HandlerRun.Status.DONE, HandlerRun.Status.SKIPPED):
                    continue  # applied (or skipped) by an earlier delivery of this event
                if (
                    subscription.module is not None
                    and event.company_id in company_modules
                    and not is_enabled(company_modules[event.company_id], subscription.module)
                ):
                    # Idle: the company has not enabled the handler's module. Recorded, never called.
                    at = timezone.now()
                    skipped.append(_Outcome(event.id, subscription.name, 0, at, at, 0, skipped=True))
                    continue
                if attempts:
                    attempts_before[(subscription.name, event.id)] = attempts
                if subscription.batch:
                    batch_groups.setdefault(subscription.name, (subscription, []))[1].append(event)
                else:
                    calls.append((subscription, [event]))
        calls.extend(batch_groups.values())
        outcomes: list[_Outcome] = skipped
        for start in range(0, len(calls), CHUNK):
            outcomes.extend(_run_chunk(calls[start : start + CHUNK], attempts_before))

        failures: dict[int, _EventFailures] = defaultdict(_EventFailures)
        records = []
        for outcome in outcomes:
            status = HandlerRun.Status.SKIPPED if outcome.skipped else HandlerRun.Status.DONE
            if not outcome.ok:
                failure = failures[outcome.event_id]
                failure.errors.append(f"{outcome.handler}: {outcome.error.strip().splitlines()[-1]}")
                failure.max_attempts = max(failure.max_attempts, outcome.attempts)
                if outcome.attempts >= max_attempts:
                    status = HandlerRun.Status.DEAD
                    failure.dead_handlers.append(outcome.handler)
                else:
                    status = HandlerRun.Status.FAILED
            records.append(
                {
                    "event_id": outcome.event_id,
                    "handler": outcome.handler,
                    "status": str(status),
                    "attempts": outcome.attempts,
                    "last_error": outcome.error,
                    "started_at": outcome.started_at.isoformat(),
                    "finished_at": outcome.finished_at.isoformat(),
                    "duration_ms": outcome.duration_ms,
                }
            )
        if records:
            cursor.execute(_UPSERT_RUNS, [json.dumps(records)])

        done_ids = [event.id for event in events if event.id not in failures]
        if done_ids:
            cursor.execute(_MARK_DONE, [timezone.now(), _id_array(done_ids)])
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
