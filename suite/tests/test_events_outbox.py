"""The outbox in one process: publishing, the relay's guarantees, retries, dead letters, correlation.

The relay runs here as a function (``relay_batch``) on the real database; suite/tests/test_events_worker.py
runs the same code in a real Celery worker, killed and restarted.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pghistory.models
import pytest
from django.db import connection, connections, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from suite import events
from suite.events.registry import pattern_matches
from suite.events.relay import relay, relay_batch
from suite.models import HandlerRun, OutboxEvent, Team
from suite.services.events import event_retry, outbox_prune
from suite.tests import event_handlers_for_tests as handlers


@pytest.fixture
def effect_table(db):
    handlers.create_effect_table()


def publish(name: str, payload: dict | None = None, **kwargs) -> OutboxEvent:
    with transaction.atomic():
        return events.publish(name, payload or {}, **kwargs)


# --------------------------------------------------------------------------- publishing


def test_publish_outside_a_transaction_is_refused(transactional_db):
    with pytest.raises(TransactionManagementError):
        events.publish("tests.thing.happened", {})
    with pytest.raises(TransactionManagementError):
        events.publish_many([("tests.thing.happened", {})])
    assert OutboxEvent.objects.count() == 0


@pytest.mark.parametrize("name", ["Tests.Thing.Happened", "tests.thing", "tests..happened", "tests.thing.happened.*"])
def test_publish_refuses_malformed_names(db, name):
    with pytest.raises(ValueError, match="past-tense verb"), transaction.atomic():
        events.publish(name, {})


def test_publish_writes_a_pending_row_that_is_its_own_correlation(db, company, member):
    user = member(company, "sales").user
    event = publish("tests.thing.happened", {"tag": "甲", "amount": "12.50"}, company_id=company.id, by=user)
    row = OutboxEvent.objects.get(pk=event.pk)
    assert (row.name, row.version, row.state, row.attempts) == ("tests.thing.happened", 1, "pending", 0)
    assert row.payload == {"tag": "甲", "amount": "12.50"}
    assert row.company_id == company.id and row.created_by_id == user.id
    assert row.correlation_id == row.uuid
    assert row.next_attempt_at == row.created_at


def test_publish_in_a_rolled_back_savepoint_leaves_nothing(db, effect_table):
    with transaction.atomic():
        kept = events.publish("tests.thing.happened", {"tag": "kept"})
        try:
            with transaction.atomic():
                events.publish("tests.thing.happened", {"tag": "rolled back"})
                raise RuntimeError("undo the inner change")
        except RuntimeError:
            pass
    assert list(OutboxEvent.objects.values_list("id", flat=True)) == [kept.id]
    relay_batch()
    assert [tag for *_, tag in handlers.effects("tests.record")] == ["kept"]


def test_pattern_matching():
    assert pattern_matches("*", "crm.opportunity.won")
    assert pattern_matches("crm.*", "crm.opportunity.won")
    assert pattern_matches("crm.opportunity.*", "crm.opportunity.won")
    assert not pattern_matches("crm.*", "crmx.opportunity.won")
    assert not pattern_matches("erp.*", "crm.opportunity.won")
    assert pattern_matches("crm.opportunity.won", "crm.opportunity.won")
    assert not pattern_matches("crm.opportunity.won", "crm.opportunity.lost")


# --------------------------------------------------------------------------- delivery, once


def test_relay_delivers_to_every_handler_once_and_twice_changes_nothing(db, effect_table):
    event = publish("tests.thing.happened", {"tag": "a"})

    first = relay_batch()

    assert (first.claimed, first.done) == (1, 1)
    assert sorted(h for _, h, *_ in handlers.effects()) == ["tests.record", "tests.record_second"]
    row = OutboxEvent.objects.get(pk=event.pk)
    assert row.state == "done" and row.attempts == 1 and row.delivered_at is not None
    runs = {run.handler: run for run in HandlerRun.objects.filter(event=event)}
    assert set(runs) == {"tests.record", "tests.record_second", "suite.webhooks.fan_out"}
    assert {run.status for run in runs.values()} == {"done"}

    # The same event delivered again (at-least-once: a crash after commit, a duplicated task…).
    OutboxEvent.objects.filter(pk=event.pk).update(state="pending")
    second = relay_batch()

    assert (second.claimed, second.done) == (1, 1)
    assert len(handlers.effects()) == 2  # no handler ran again
    assert HandlerRun.objects.filter(event=event).count() == 3
    assert relay_batch().claimed == 0


def test_the_claim_brings_the_companies_modules_along_without_a_query_of_its_own(db, company, effect_table):
    from django.test.utils import CaptureQueriesContext

    publish("tests.thing.happened", {"tag": "a"}, company_id=company.pk)

    with CaptureQueriesContext(connection) as queries:
        assert relay_batch().done == 1

    company_reads = [query["sql"] for query in queries.captured_queries if "suite_company" in query["sql"]]
    assert len(company_reads) == 1 and "SKIP LOCKED" in company_reads[0], company_reads


def test_a_handler_that_rolls_back_part_of_its_work_keeps_the_rest(db, effect_table):
    publish("tests.partial.happened")
    relay_batch()
    assert [h for _, h, *_ in handlers.effects()] == ["tests.partial_rollback"]


def test_relay_claims_in_batches_oldest_first(db, effect_table):
    with transaction.atomic():
        published = [events.publish("tests.thing.happened", {"tag": str(i)}) for i in range(7)]
    result = relay(batch_size=3)
    assert (result.batches, result.claimed, result.done) == (3, 7, 7)
    assert [tag for *_, tag in handlers.effects("tests.record")] == [str(i) for i in range(7)]
    assert set(OutboxEvent.objects.values_list("state", flat=True)) == {"done"}
    assert [e.id for e in published] == sorted(e.id for e in published)


# --------------------------------------------------------------------------- failures: backoff, dead letters


def test_a_failing_handler_backs_off_then_dies_and_retry_revives_it(db, effect_table, settings, tmp_path):
    settings.TROIKA_OUTBOX_MAX_ATTEMPTS = 3
    settings.TROIKA_OUTBOX_BACKOFF_SECONDS = 2.0
    fail_file = tmp_path / "fail"
    fail_file.touch()
    event = publish("tests.flaky.happened", {"fail_file": str(fail_file)})
    now = timezone.now()

    first = relay_batch(now=now)

    assert (first.claimed, first.retrying, first.dead) == (1, 1, 0)
    row = OutboxEvent.objects.get(pk=event.pk)
    assert row.state == "pending" and row.attempts == 1
    assert row.next_attempt_at == now + timedelta(seconds=2)
    assert "failing on purpose" in row.last_error
    run = HandlerRun.objects.get(event=event, handler="tests.fail_while_file_exists")
    assert (run.status, run.attempts) == ("failed", 1)
    assert handlers.effects() == []  # the failed attempt's write was rolled back with its savepoint
    # The handler that succeeded is recorded and will not run again.
    assert HandlerRun.objects.get(event=event, handler="suite.webhooks.fan_out").status == "done"

    assert relay_batch(now=now + timedelta(seconds=1.9)).claimed == 0  # backing off

    second = relay_batch(now=now + timedelta(seconds=2))
    assert (second.claimed, second.retrying) == (1, 1)
    assert OutboxEvent.objects.get(pk=event.pk).next_attempt_at == now + timedelta(seconds=2 + 4)

    third = relay_batch(now=now + timedelta(seconds=6))
    assert (third.claimed, third.dead) == (1, 1)
    row = OutboxEvent.objects.get(pk=event.pk)
    assert (row.state, row.attempts) == ("dead", 3)
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("dead", 3)
    assert events.selectors.outbox_stats().dead == 1
    notice = OutboxEvent.objects.get(name="suite.event.dead_lettered")
    assert notice.payload["event_id"] == event.id
    assert notice.payload["handlers"] == ["tests.fail_while_file_exists"]
    assert notice.correlation_id == event.correlation_id
    assert relay_batch(now=now + timedelta(hours=2)).claimed == 1  # only the notice: dead letters stay put

    fail_file.unlink()
    event_retry(event=row)
    assert OutboxEvent.objects.get(pk=event.pk).state == "pending"
    revived = relay_batch()

    assert (revived.claimed, revived.done) == (1, 1)
    assert OutboxEvent.objects.get(pk=event.pk).state == "done"
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("done", 1)
    assert [h for _, h, *_ in handlers.effects()] == ["tests.fail_while_file_exists"]
    assert events.selectors.outbox_stats().dead == 0


def test_one_failing_handler_does_not_hold_back_or_double_the_others(db, effect_table, tmp_path):
    fail_file = tmp_path / "fail"
    fail_file.touch()
    with transaction.atomic():
        good = [events.publish("tests.thing.happened", {"tag": str(i)}) for i in range(3)]
        bad = events.publish("tests.flaky.happened", {"fail_file": str(fail_file)})
        good += [events.publish("tests.thing.happened", {"tag": str(i)}) for i in range(3, 6)]

    result = relay_batch()

    assert (result.claimed, result.done, result.retrying) == (7, 6, 1)
    # The shared savepoint was rolled back and every call re-run alone: each good effect exists once.
    assert sorted(event_id for event_id, *_ in handlers.effects("tests.record")) == [e.id for e in good]
    assert handlers.effects("tests.fail_while_file_exists") == []
    assert OutboxEvent.objects.get(pk=bad.pk).state == "pending"


def test_publish_many_writes_every_event_in_one_statement(db, company, django_assert_num_queries):
    with transaction.atomic(), django_assert_num_queries(1):
        published = events.publish_many(
            [("tests.thing.happened", {"tag": str(i)}) for i in range(50)], company_id=company.id
        )
    rows = list(OutboxEvent.objects.order_by("id"))
    assert [row.id for row in rows] == [event.id for event in published]
    assert [row.payload["tag"] for row in rows] == [str(i) for i in range(50)]
    assert all(row.correlation_id == row.uuid and row.company_id == company.id for row in rows)


def test_retry_of_a_delivered_event_changes_nothing(db, effect_table):
    event = publish("tests.thing.happened")
    relay_batch()
    assert event_retry(event=event).state == "done"
    assert relay_batch().claimed == 0


# --------------------------------------------------------------------------- concurrency


def test_two_relays_in_parallel_never_deliver_the_same_event_twice(transactional_db):
    handlers.create_effect_table()
    with transaction.atomic():
        published = [events.publish("tests.thing.happened", {"tag": str(i), "sleep": 0.001}) for i in range(300)]
    claimed_by: dict[str, int] = {}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            barrier.wait()
            claimed_by[name] = relay(batch_size=20).claimed
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(f"relay-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sum(claimed_by.values()) == len(published)
    assert all(count > 0 for count in claimed_by.values()), claimed_by  # both really worked
    recorded = [event_id for event_id, *_ in handlers.effects("tests.record")]
    assert sorted(recorded) == sorted(e.id for e in published)  # each event once, none twice
    assert OutboxEvent.objects.filter(state="done").count() == len(published)


# --------------------------------------------------------------------------- correlation, audit, stats


def test_events_published_by_a_handler_inherit_the_correlation_id(db, company):
    given = uuid.uuid4()
    started = publish("tests.chain.started", company_id=company.id)
    explicit = publish("tests.chain.started", company_id=company.id, correlation_id=given)

    relay_batch()

    children = {e.payload["parent"]: e for e in OutboxEvent.objects.filter(name="tests.chain.continued")}
    assert children[started.id].correlation_id == started.uuid
    assert children[explicit.id].correlation_id == given
    assert children[started.id].uuid != started.uuid
    assert children[started.id].company_id == company.id
    relay_batch()
    assert OutboxEvent.objects.filter(state="done").count() == 4


def test_a_handlers_writes_carry_the_event_and_handler_in_their_history(db, company, member):
    user = member(company, "admin").user
    event = publish("tests.team.requested", {"name": "华南销售组"}, company_id=company.id, by=user)

    relay_batch()

    team = Team.objects.get(company=company, name="华南销售组")
    metadata = pghistory.models.Events.objects.tracks(team).get().pgh_context
    assert metadata["source"] == "worker"
    assert metadata["handler"] == "tests.create_team"
    assert metadata["event"] == str(event.uuid)
    assert metadata["user"] == user.id


def test_outbox_stats(db, effect_table):
    assert events.selectors.outbox_stats() == events.selectors.OutboxStats(0, 0, 0.0, 0.0)
    old = publish("tests.thing.happened")
    OutboxEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(seconds=30))
    publish("tests.thing.happened")

    stats = events.selectors.outbox_stats()
    assert stats.pending == 2 and stats.dead == 0
    assert 29 < stats.oldest_pending_age_seconds < 600

    relay_batch()
    stats = events.selectors.outbox_stats()
    assert stats.pending == 0 and stats.oldest_pending_age_seconds == 0.0
    assert stats.lag_p95_seconds > 25  # the event created 30 s ago


def test_prune_deletes_old_delivered_events_only(db, effect_table):
    old_done = publish("tests.thing.happened")
    recent_done = publish("tests.thing.happened")
    relay_batch()
    old_pending = publish("tests.thing.happened")
    long_ago = timezone.now() - timedelta(days=31)
    OutboxEvent.objects.filter(pk__in=[old_done.pk, old_pending.pk]).update(created_at=long_ago)

    assert outbox_prune() == 1

    assert set(OutboxEvent.objects.values_list("id", flat=True)) == {recent_done.id, old_pending.id}
    assert not HandlerRun.objects.filter(event_id=old_done.id).exists()


def test_relay_sees_its_own_transaction_clock(db):
    # Inside a test transaction now() is frozen; the relay compares with the Python clock it is given.
    event = publish("tests.thing.happened")
    assert relay_batch(now=event.created_at - timedelta(seconds=1)).claimed == 0
    assert connection.in_atomic_block


def test_tasks_run_in_a_worker_audit_context(db, company):
    from celery import signals

    from suite.events.tasks import prune

    signals.task_prerun.send(sender=prune, task_id="task-1", task=prune, args=(), kwargs={})
    try:
        team = Team.objects.create(company=company, name="任务创建的组")
    finally:
        signals.task_postrun.send(sender=prune, task_id="task-1", task=prune, args=(), kwargs={}, retval=None)
    metadata = pghistory.models.Events.objects.tracks(team).get().pgh_context
    assert metadata == {**metadata, "source": "worker", "task": "suite.events.prune"}


def test_dead_letters_are_listed_and_retried_in_admin(db, effect_table, admin_client, settings, tmp_path):
    settings.TROIKA_OUTBOX_MAX_ATTEMPTS = 1
    fail_file = tmp_path / "fail"
    fail_file.touch()
    event = publish("tests.flaky.happened", {"fail_file": str(fail_file)})
    relay_batch()
    assert OutboxEvent.objects.get(pk=event.pk).state == "dead"

    listing = admin_client.get("/admin/suite/outboxevent/", {"state__exact": "dead"})
    assert listing.status_code == 200
    assert "tests.flaky.happened" in listing.content.decode()
    detail = admin_client.get(f"/admin/suite/outboxevent/{event.pk}/change/")
    assert "failing on purpose" in detail.content.decode()  # the handler run's error, inline

    fail_file.unlink()
    response = admin_client.post(
        "/admin/suite/outboxevent/", {"action": "retry", "_selected_action": [event.pk]}, follow=True
    )
    assert response.status_code == 200
    assert OutboxEvent.objects.get(pk=event.pk).state == "pending"
    relay_batch()
    assert OutboxEvent.objects.get(pk=event.pk).state == "done"
    assert [h for _, h, *_ in handlers.effects()] == ["tests.fail_while_file_exists"]
