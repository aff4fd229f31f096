"""The outbox through a real Celery worker on real Redis and PostgreSQL: delivery after commit, nothing after a
rollback, retries into the dead-letter state, and ``kill -9`` of the worker in the middle of a handler.

Each test starts its own ``celery worker`` subprocess (suite/testing_worker.py) on the test database.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from django.db import transaction

from suite import events
from suite.models import HandlerRun, OutboxEvent
from suite.services.events import event_retry
from suite.tests import event_handlers_for_tests as handlers

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def wait_until(condition, timeout: float = 20.0, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def process_alive(pid: int) -> bool:
    """True unless the process is gone or a zombie (killed, waiting to be reaped by whoever adopted it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def state_of(event: OutboxEvent) -> str:
    return OutboxEvent.objects.values_list("state", flat=True).get(pk=event.pk)


@pytest.fixture
def effect_table(transactional_db):
    handlers.create_effect_table()


def test_a_committed_event_is_delivered_once_and_a_rolled_back_one_never(effect_table, celery_worker_process):
    with pytest.raises(RuntimeError), transaction.atomic():
        events.publish("tests.thing.happened", {"tag": "rolled back"})
        raise RuntimeError("the business change failed")
    with transaction.atomic():
        delivered = events.publish("tests.thing.happened", {"tag": "committed"})

    wait_until(lambda: state_of(delivered) == "done", message="delivery by the worker")

    recorded = handlers.effects("tests.record")
    assert [(event_id, tag) for event_id, _, _, tag in recorded] == [(delivered.id, "committed")]
    assert OutboxEvent.objects.count() == 1  # the rolled-back event never existed
    assert handlers.effects("tests.record")[0][2] != os.getpid()  # applied in the worker, not here
    # A second relay of the same row (at-least-once) applies nothing twice.
    OutboxEvent.objects.filter(pk=delivered.pk).update(state="pending")
    from suite.events.outbox import request_relay

    request_relay()
    wait_until(lambda: state_of(delivered) == "done", message="the second delivery")
    assert len(handlers.effects("tests.record")) == 1


def test_a_burst_of_events_wakes_few_relays_and_is_all_delivered(effect_table, celery_worker_factory):
    from suite.ops import heartbeat

    worker = celery_worker_factory(concurrency=2).start()
    heartbeat.redis_client().delete(heartbeat.task_counts_key())
    for _ in range(4):
        with transaction.atomic():
            for i in range(250):
                events.publish("tests.thing.happened", {"tag": str(i)})
    wait_until(lambda: not OutboxEvent.objects.filter(state="pending").exists(), message="1,000 events relayed")
    recorded = [event_id for event_id, *_ in handlers.effects("tests.record")]
    assert len(recorded) == len(set(recorded)) == 1000
    # The worker counts its tasks in Redis about once a second: 1,000 events took a handful of relay tasks.
    relays = wait_until(lambda: heartbeat.task_counts().get(("suite.events.relay", "success")), message="counts")
    assert 1 <= relays <= 12, relays
    assert worker.process.poll() is None


def test_a_failing_handler_is_retried_with_backoff_then_dead_then_revived(
    effect_table, celery_worker_factory, tmp_path
):
    celery_worker_factory(env={"TROIKA_OUTBOX_MAX_ATTEMPTS": "3", "TROIKA_OUTBOX_BACKOFF_SECONDS": "0.3"}).start()
    fail_file = tmp_path / "fail"
    fail_file.touch()
    with transaction.atomic():
        event = events.publish("tests.flaky.happened", {"fail_file": str(fail_file)})

    wait_until(lambda: state_of(event) == "dead", timeout=20, message="the dead-letter state")

    run = HandlerRun.objects.get(event=event, handler="tests.fail_while_file_exists")
    assert (run.status, run.attempts) == ("dead", 3)
    assert "failing on purpose" in run.last_error
    assert OutboxEvent.objects.get(pk=event.pk).attempts == 3
    assert handlers.effects() == []  # every failed attempt's writes were rolled back

    fail_file.unlink()
    event_retry(event=OutboxEvent.objects.get(pk=event.pk))
    wait_until(lambda: state_of(event) == "done", message="delivery after the retry")
    assert [h for _, h, *_ in handlers.effects()] == ["tests.fail_while_file_exists"]
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("done", 1)


def _publish_blocking_event(tmp_path: Path) -> tuple[OutboxEvent, Path]:
    block_file = tmp_path / "block"
    block_file.touch()
    pid_file = tmp_path / "handler.pid"
    with transaction.atomic():
        event = events.publish("tests.crash.requested", {"block_file": str(block_file), "pid_file": str(pid_file)})
    return event, pid_file


def test_kill_9_of_the_pool_process_mid_handler_loses_nothing_and_applies_once(
    effect_table, celery_worker_process, tmp_path
):
    event, pid_file = _publish_blocking_event(tmp_path)
    handler_pid = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), message="the handler to block"))
    assert handler_pid != celery_worker_process.pid  # a pool child, not the main worker process
    assert state_of(event) == "pending"
    assert handlers.effects() == []  # written, but not committed

    os.kill(handler_pid, signal.SIGKILL)

    # acks_late + reject_on_worker_lost: the worker re-queues the relay task of the dead child at once.
    wait_until(lambda: state_of(event) == "done", message="delivery after the child was killed")
    assert [(event_id, pid) for event_id, _, pid, _ in handlers.effects()] == [(event.id, handlers.effects()[0][2])]
    assert handlers.effects()[0][2] != handler_pid
    run = HandlerRun.objects.get(event=event, handler="tests.record_then_block")
    assert (run.status, run.attempts) == ("done", 1)  # the killed attempt left no trace


def test_kill_9_of_the_whole_worker_mid_handler_loses_nothing_and_applies_once(
    effect_table, celery_worker_process, tmp_path
):
    event, pid_file = _publish_blocking_event(tmp_path)
    handler_pid = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), message="the handler to block"))

    celery_worker_process.kill9()  # the worker, its pool and the relay task's unacknowledged message

    # SIGKILL is delivered at once, but the orphaned pool child takes a moment to exit and be reaped.
    wait_until(lambda: not process_alive(handler_pid), message="the killed handler process to be gone")
    assert state_of(event) == "pending"
    assert handlers.effects() == []
    # A new worker with beat: the periodic relay finds the event; the lost task message is not needed.
    celery_worker_process.start(beat=True)
    wait_until(lambda: state_of(event) == "done", message="delivery by the new worker's periodic relay")
    effects = handlers.effects()
    assert len(effects) == 1 and effects[0][0] == event.id and effects[0][2] != handler_pid
    assert HandlerRun.objects.get(event=event, handler="tests.record_then_block").attempts == 1
