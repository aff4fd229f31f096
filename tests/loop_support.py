"""Shared helpers of the closed-loop tests (tests/test_loop_*.py): run the outbox relay in-process until it is
idle, redeliver events, and hold a PostgreSQL advisory lock from a second connection."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from django.db import connections

from suite.events.registry import Event
from suite.events.relay import relay_batch
from suite.models import OutboxEvent


def relay_all(*, now=None, rounds: int = 20) -> int:
    """Relay due events (and those their handlers publish) until nothing is claimed; returns how many."""
    total = 0
    for _ in range(rounds):
        claimed = relay_batch(now=now).claimed
        total += claimed
        if not claimed:
            return total
    raise AssertionError("the relay did not become idle")


def redeliver(*names: str) -> int:
    """Mark the delivered events called ``names`` pending again (what a crash after commit or a duplicated task
    does) and relay them; returns how many were claimed."""
    count = OutboxEvent.objects.filter(name__in=names).update(state="pending")
    relay_all()
    return count


def as_event(row: OutboxEvent) -> Event:
    return Event(
        id=row.pk,
        uuid=row.uuid,
        name=row.name,
        version=row.version,
        payload=row.payload,
        company_id=row.company_id,
        correlation_id=row.correlation_id,
        created_at=row.created_at,
        created_by_id=row.created_by_id,
    )


@contextmanager
def advisory_lock_held(key1, key2=None):
    """Hold ``pg_advisory_lock(key1, key2)`` — or ``pg_advisory_lock(hashtext(key1))`` for a text key — in another
    database connection (another thread) for the block."""
    if key2 is None:
        lock, unlock, params = (
            "SELECT pg_advisory_lock(hashtext(%s))",
            "SELECT pg_advisory_unlock(hashtext(%s))",
            [key1],
        )
    else:
        lock, unlock, params = "SELECT pg_advisory_lock(%s, %s)", "SELECT pg_advisory_unlock(%s, %s)", [key1, key2]
    locked, release, done = threading.Event(), threading.Event(), threading.Event()

    def hold():
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute(lock, params)
                locked.set()
                release.wait(30)
                cursor.execute(unlock, params)
        finally:
            connections["default"].close()
            done.set()

    thread = threading.Thread(target=hold)
    thread.start()
    assert locked.wait(10), "could not take the advisory lock"
    try:
        yield
    finally:
        release.set()
        done.wait(10)
        thread.join(10)
