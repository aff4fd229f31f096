"""Publishing: an event row in the caller's transaction, and a debounced wake-up of the relay after commit."""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from .registry import EVENT_NAME, current_event

logger = logging.getLogger(__name__)

# Set while a relay task is queued and has not started claiming yet; see request_relay().
RELAY_FLAG_TTL = 60

# Publishing is on the path of every business write: one plain INSERT, without the ORM's per-save machinery.
_COLUMNS = "uuid, name, version, payload, company_id, correlation_id, created_by_id, created_at, next_attempt_at"
_INSERT_ONE = (
    f"INSERT INTO suite_outboxevent ({_COLUMNS}, state, attempts, last_error) "
    "VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, 'pending', 0, '') RETURNING id"
)
_INSERT_MANY = (
    f"INSERT INTO suite_outboxevent ({_COLUMNS}, state, attempts, last_error) "
    "SELECT u, n, v, p::jsonb, c, r, b, t, t, 'pending', 0, '' "
    "FROM unnest(%s::uuid[], %s::varchar[], %s::smallint[], %s::text[], %s::bigint[], %s::uuid[], %s::bigint[]) "
    "AS e(u, n, v, p, c, r, b), (SELECT %s::timestamptz AS t) AS now "
    "RETURNING id, uuid"
)


def relay_flag_key() -> str:
    return f"events:relay-requested:{settings.CELERY_TASK_DEFAULT_QUEUE}"


def _check(name: str, payload, version: int) -> None:
    if not EVENT_NAME.match(name):
        raise ValueError(f"event name {name!r} must look like <app>.<entity>.<past-tense verb>")
    if not isinstance(payload, dict):
        raise TypeError("an event payload is a dict of JSON values")
    if version < 1:
        raise ValueError("event versions start at 1")


def _connection_in_transaction(using: str, name: str):
    connection = connections[using]
    if not connection.in_atomic_block:
        raise TransactionManagementError(
            f"events.publish({name!r}) outside transaction.atomic: publish in the transaction of the change"
        )
    return connection


def _wake_relay_after_commit(connection, using: str) -> None:
    # One wake-up per transaction, not one per event: a burst of 2,000 publishes costs one Redis round trip.
    if not any(entry[1] is request_relay for entry in connection.run_on_commit):
        transaction.on_commit(request_relay, using=using)


def _correlation(correlation_id: uuid.UUID | None, own: uuid.UUID) -> uuid.UUID:
    if correlation_id is not None:
        return correlation_id
    parent = current_event.get()
    return parent.correlation_id if parent is not None else own


def _row(using: str, **fields):
    from suite.models.outbox import OutboxEvent

    event = OutboxEvent(state=OutboxEvent.State.PENDING, attempts=0, last_error="", **fields)
    event._state.adding = False
    event._state.db = using
    return event


def publish(
    name: str,
    payload: dict,
    *,
    company_id: int | None = None,
    by=None,
    correlation_id: uuid.UUID | None = None,
    version: int = 1,
    using: str = DEFAULT_DB_ALIAS,
):
    """Write the event ``name`` to the outbox in the current transaction; it is relayed after commit.

    Must be called inside ``transaction.atomic``: the event is part of the business change that caused it, and
    is delivered if and only if that change commits (outside a transaction this raises
    ``TransactionManagementError``). ``payload`` is serialised with Django's JSON encoder (Decimal → string).
    ``correlation_id`` defaults to the correlation id of the event being handled, if any (a chain of events
    shares one), else to the new event's own id. Returns the ``OutboxEvent`` row.
    """
    _check(name, payload, version)
    connection = _connection_in_transaction(using, name)
    now = timezone.now()
    event_uuid = uuid.uuid4()
    correlation_id = _correlation(correlation_id, event_uuid)
    created_by_id = getattr(by, "pk", None)
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_ONE,
            [
                event_uuid,
                name,
                version,
                json.dumps(payload, cls=DjangoJSONEncoder),
                company_id,
                correlation_id,
                created_by_id,
                now,
                now,
            ],
        )
        event_id = cursor.fetchone()[0]
    _wake_relay_after_commit(connection, using)
    return _row(
        using,
        id=event_id,
        uuid=event_uuid,
        name=name,
        version=version,
        payload=payload,
        company_id=company_id,
        correlation_id=correlation_id,
        created_by_id=created_by_id,
        created_at=now,
        next_attempt_at=now,
    )


def publish_many(
    items: Iterable[tuple[str, dict]],
    *,
    company_id: int | None = None,
    by=None,
    correlation_id: uuid.UUID | None = None,
    version: int = 1,
    using: str = DEFAULT_DB_ALIAS,
    correlation_ids: list[uuid.UUID | None] | None = None,
    created_by_ids: list[int | None] | None = None,
) -> list:
    """``publish`` for many ``(name, payload)`` at once, in one INSERT: for bulk paths (imports, generators,
    batch handlers). Same rules and guarantees; each event gets its own id and, unless given, its own correlation
    id. ``correlation_ids`` / ``created_by_ids`` (one per item, e.g. the events a batch handler answers) override
    ``correlation_id`` / ``by`` item by item (``None`` in ``correlation_ids``: the default)."""
    items = list(items)
    if not items:
        return []
    for name, payload in items:
        _check(name, payload, version)
    connection = _connection_in_transaction(using, items[0][0])
    now = timezone.now()
    uuids = [uuid.uuid4() for _ in items]
    if correlation_ids is not None:
        correlations = [
            _correlation(given or correlation_id, own) for given, own in zip(correlation_ids, uuids, strict=True)
        ]
    else:
        correlations = [_correlation(correlation_id, own) for own in uuids]
    created_by_id = getattr(by, "pk", None)
    creators = list(created_by_ids) if created_by_ids is not None else [created_by_id] * len(items)
    payloads = [json.dumps(payload, cls=DjangoJSONEncoder) for _, payload in items]
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_MANY,
            [
                uuids,
                [name for name, _ in items],
                [version] * len(items),
                payloads,
                [company_id] * len(items),
                correlations,
                creators,
                now,
            ],
        )
        ids = {row_uuid: row_id for row_id, row_uuid in cursor.fetchall()}
    _wake_relay_after_commit(connection, using)
    return [
        _row(
            using,
            id=ids[own],
            uuid=own,
            name=name,
            version=version,
            payload=payload,
            company_id=company_id,
            correlation_id=correlation,
            created_by_id=creator,
            created_at=now,
            next_attempt_at=now,
        )
        for own, correlation, creator, (name, payload) in zip(uuids, correlations, creators, items, strict=True)
    ]


def request_relay(linger: float | None = None) -> bool:
    """Queue a relay task unless one is already queued; return True when this call queued it.

    A Redis flag (SET NX) debounces the wake-ups; the relay clears the flag *before* it starts claiming, so an
    event committed after the flag was seen set is still picked up by that relay. If Redis is unreachable the
    event waits for beat's periodic relay (every second) — it is in the database, nothing is lost.

    The task runs ``linger`` seconds later (default ``TROIKA_OUTBOX_RELAY_LINGER_SECONDS``): every commit of
    that window finds the flag set and is delivered by the same relay, in one batch (batch handlers then do one
    set-based call for many events instead of one call each). A backlog's wake-ups pass 0.
    """
    if linger is None:
        linger = getattr(settings, "TROIKA_OUTBOX_RELAY_LINGER_SECONDS", 0.0)
    from .tasks import relay

    key = relay_flag_key()
    try:
        if not cache.add(key, 1, timeout=RELAY_FLAG_TTL):
            return False
    except Exception as exc:
        logger.warning("could not flag the outbox relay in Redis, beat's relay will deliver: %s", exc)
        return False
    try:
        relay.apply_async(countdown=linger, expires=300) if linger > 0 else relay.apply_async(expires=300)
    except Exception as exc:
        logger.warning("could not queue the outbox relay, beat's relay will deliver: %s", exc)
        with contextlib.suppress(Exception):  # Redis is down: the flag expires by itself
            cache.delete(key)
        return False
    return True


def clear_relay_flag() -> None:
    try:
        cache.delete(relay_flag_key())
    except Exception as exc:
        logger.warning("could not clear the outbox relay flag: %s", exc)
