"""Loop visibility: the loop monitor (throughput, lag, failures, dead letters with retry) — issue #7."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from suite import events
from suite.models import HandlerRun, OutboxEvent, Role

pytestmark = pytest.mark.django_db


def plant(company, name, *, created_at, lag_ms=None, state="done", error=""):
    delivered = created_at + timedelta(milliseconds=lag_ms) if lag_ms is not None else None
    event_id = uuid.uuid4()
    return OutboxEvent.objects.create(
        uuid=event_id,
        name=name,
        company=company,
        correlation_id=event_id,
        created_at=created_at,
        next_attempt_at=created_at,
        delivered_at=delivered,
        state=state,
        attempts=1 if state != "pending" else 0,
        last_error=error,
    )


@pytest.fixture
def planted(company, other_company):
    now = timezone.now().replace(second=30, microsecond=0)
    for minutes_ago, lag in ((5, 100), (5, 200), (4, 300), (2, 400)):
        plant(company, "tests.thing.happened", created_at=now - timedelta(minutes=minutes_ago), lag_ms=lag)
    plant(company, "tests.chain.started", created_at=now - timedelta(minutes=1), lag_ms=1000)
    plant(company, "tests.thing.happened", created_at=now - timedelta(minutes=90), lag_ms=99999)  # outside the hour
    plant(other_company, "tests.thing.happened", created_at=now - timedelta(minutes=3), lag_ms=50000)
    plant(company, "tests.thing.happened", created_at=now - timedelta(seconds=10), state="pending")
    dead = plant(company, "tests.flaky.happened", created_at=now - timedelta(minutes=3), state="dead", error="boom")
    HandlerRun.objects.create(
        event=dead,
        handler="tests.fail_while_file_exists",
        status="dead",
        attempts=5,
        last_error="RuntimeError: boom",
        started_at=now,
        finished_at=now,
    )
    other_dead = plant(other_company, "tests.flaky.happened", created_at=now - timedelta(minutes=3), state="dead")
    return {"now": now, "dead": dead, "other_dead": other_dead}


def test_monitor_counts_planted_events_per_type_per_minute_and_their_lag(company, planted):
    data = events.selectors.loop_monitor(company=company, now=planted["now"])

    rates = {rate.name: rate for rate in data.rates}
    assert rates["tests.thing.happened"].total == 5  # four delivered and one pending, in this hour only
    assert rates["tests.chain.started"].total == 1
    assert rates["tests.flaky.happened"].total == 1
    slots = rates["tests.thing.happened"].per_minute
    assert len(slots) == 61 and sum(slots) == 5 and rates["tests.thing.happened"].peak == 2
    assert slots[-6] == 2 and slots[-5] == 1 and slots[-3] == 1  # 5, 4 and 2 minutes ago
    # Lags 100, 200, 300, 400, 1000 ms (the other company's 50 s and the 90-minute-old event are left out).
    assert data.delivered == 5
    assert data.lag_p50_ms == 300
    assert data.lag_p95_ms == 880  # percentile_cont: 400 + 0.8 × (1000 − 400)
    assert data.pending == 1
    assert [event.pk for event in data.dead_letters] == [planted["dead"].pk]
    assert [(run.handler, run.status, run.attempts) for run in data.failing] == [
        ("tests.fail_while_file_exists", "dead", 5)
    ]


def client_for(membership):
    client = Client()
    client.force_login(membership.user)
    return client


def test_monitor_page_for_managers_with_a_flat_query_count(company, member, planted, django_assert_max_num_queries):
    manager = client_for(member(company, Role.MANAGER))
    manager.get(reverse("ops-loop"))  # warm the session

    with django_assert_max_num_queries(12):
        response = manager.get(reverse("ops-loop"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "tests.thing.happened" in html and "tests.fail_while_file_exists" in html
    assert reverse("ops-loop-retry", kwargs={"pk": planted["dead"].pk}) in html
    assert reverse("ops-loop-retry", kwargs={"pk": planted["other_dead"].pk}) not in html
    assert client_for(member(company, Role.SALES)).get(reverse("ops-loop")).status_code == 404
    for _ in range(20):
        plant(company, "tests.more.happened", created_at=planted["now"] - timedelta(minutes=7), lag_ms=10)
    with django_assert_max_num_queries(12):
        assert manager.get(reverse("ops-loop")).status_code == 200


def test_retry_button_requeues_the_dead_letter_and_records_who_did_it(company, member, planted):
    manager = member(company, Role.MANAGER)
    dead = planted["dead"]

    response = client_for(manager).post(reverse("ops-loop-retry", kwargs={"pk": dead.pk}))

    assert response.status_code == 302
    dead.refresh_from_db()
    assert dead.state == "pending"
    notice = OutboxEvent.objects.get(name="suite.event.retried")
    assert notice.created_by_id == manager.user_id and notice.correlation_id == dead.correlation_id
    assert notice.payload["event_id"] == dead.pk and notice.payload["previous_state"] == "dead"
    assert HandlerRun.objects.get(event=dead).status == "failed"  # a fresh set of tries


def test_retry_is_refused_to_sales_to_get_and_for_another_companys_event(company, member, planted):
    sales = client_for(member(company, Role.SALES))
    admin = client_for(member(company, Role.ADMIN))

    assert sales.post(reverse("ops-loop-retry", kwargs={"pk": planted["dead"].pk})).status_code == 404
    assert admin.get(reverse("ops-loop-retry", kwargs={"pk": planted["dead"].pk})).status_code == 405
    assert admin.post(reverse("ops-loop-retry", kwargs={"pk": planted["other_dead"].pk})).status_code == 404
    assert OutboxEvent.objects.filter(state="dead").count() == 2
    assert not OutboxEvent.objects.filter(name="suite.event.retried").exists()
