"""Event handlers used by the outbox tests, registered in the test process (imported by the tests) and in the
Celery worker the tests start (``TROIKA_EXTRA_EVENT_MODULES``, see suite/testing_worker.py).

Their effect is a row in ``events_test_effect``, a table the tests create with raw SQL (it is not a model: it
exists only in the test database). A row written by a handler commits with the relay's batch or not at all,
so "applied exactly once" is "exactly one row".
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.db import connection, transaction

from suite import events

EFFECT_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS events_test_effect (
    id bigserial PRIMARY KEY,
    event_id bigint NOT NULL,
    handler text NOT NULL,
    pid integer NOT NULL,
    tag text NOT NULL DEFAULT ''
)
"""


def create_effect_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(EFFECT_TABLE_SQL)
        cursor.execute("TRUNCATE events_test_effect")


def effects(handler: str | None = None) -> list[tuple[int, str, int, str]]:
    """(event_id, handler, pid, tag) of every recorded effect, oldest first."""
    sql = "SELECT event_id, handler, pid, tag FROM events_test_effect"
    params: list = []
    if handler:
        sql += " WHERE handler = %s"
        params.append(handler)
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY id", params)
        return cursor.fetchall()


def record(event: events.Event, handler: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO events_test_effect (event_id, handler, pid, tag) VALUES (%s, %s, %s, %s)",
            [event.id, handler, os.getpid(), str(event.payload.get("tag", ""))],
        )


@events.handler("tests.thing.happened", name="tests.record")
def record_thing(event: events.Event) -> None:
    record(event, "tests.record")
    if event.payload.get("sleep"):
        time.sleep(float(event.payload["sleep"]))


@events.handler("tests.thing.happened", name="tests.record_second")
def record_thing_again(event: events.Event) -> None:
    """A second handler of the same event: each handler's effect is kept apart."""
    record(event, "tests.record_second")


@events.handler("tests.crash.requested", name="tests.record_then_block")
def record_then_block(event: events.Event) -> None:
    """Record the effect, then — once, for the process that takes the block file — hang until killed."""
    record(event, "tests.record_then_block")
    block_file = Path(event.payload["block_file"])
    taken = block_file.with_suffix(".taken")
    try:
        block_file.rename(taken)  # atomic: only one run ever blocks
    except FileNotFoundError:
        return
    Path(event.payload["pid_file"]).write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.05)
    raise RuntimeError("the test was supposed to kill this process")


@events.handler("tests.flaky.happened", name="tests.fail_while_file_exists")
def fail_while_file_exists(event: events.Event) -> None:
    """Raises while the payload's ``fail_file`` exists (after writing, to prove the savepoint rolls it back)."""
    record(event, "tests.fail_while_file_exists")
    if Path(event.payload["fail_file"]).exists():
        raise RuntimeError(f"failing on purpose while {event.payload['fail_file']} exists")


@events.handler("tests.chain.started", name="tests.chain")
def continue_chain(event: events.Event) -> None:
    """Publishes the next event of a chain: it must carry this event's correlation id."""
    events.publish("tests.chain.continued", {"parent": event.id}, company_id=event.company_id)


@events.handler("tests.team.requested", name="tests.create_team")
def create_team(event: events.Event) -> None:
    """A write to an audited model, to check the history context of handler runs."""
    from suite.models import Team

    Team.objects.create(company_id=event.company_id, name=event.payload["name"])


@events.handler("tests.partial.happened", name="tests.partial_rollback")
def partial_rollback(event: events.Event) -> None:
    """A handler that rolls back part of its own work with a savepoint of its own: the rest is kept."""
    record(event, "tests.partial_rollback")
    try:
        with transaction.atomic():
            record(event, "tests.partial_rollback.discarded")
            raise ValueError("discard the inner write")
    except ValueError:
        pass
