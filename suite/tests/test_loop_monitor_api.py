"""The loop monitor over the API (issue #7): ``GET /api/v1/events/monitor/`` and
``POST /api/v1/events/dead-letters/<id>/retry/`` — the page's figures and retry button, admins and managers
only, scoped to the company acted in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from suite.models import HandlerRun, OutboxEvent, Role
from suite.testing import api_client_for
from suite.tests.test_loop_monitor import plant

pytestmark = pytest.mark.django_db

MONITOR = "/api/v1/events/monitor/"


def retry_url(event) -> str:
    return f"/api/v1/events/dead-letters/{event.pk}/retry/"


@pytest.fixture
def planted(company, other_company):
    now = timezone.now()
    for minutes_ago, lag in ((5, 100), (5, 200), (4, 300), (2, 400)):
        plant(company, "tests.thing.happened", created_at=now - timedelta(minutes=minutes_ago), lag_ms=lag)
    plant(company, "tests.chain.started", created_at=now - timedelta(minutes=1), lag_ms=1000)
    plant(company, "tests.thing.happened", created_at=now - timedelta(minutes=90), lag_ms=99999)  # outside 60 min
    plant(other_company, "tests.thing.happened", created_at=now - timedelta(minutes=3), lag_ms=50000)
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
    return {"dead": dead, "other_dead": other_dead}


def test_monitor_api_gives_rates_lag_failures_and_dead_letters_of_the_company(
    company, member, planted, django_assert_max_num_queries
):
    client = api_client_for(member(company, Role.ADMIN), token=True)

    with django_assert_max_num_queries(10):
        response = client.get(MONITOR)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["minutes"] == 60
    rates = {rate["name"]: rate for rate in body["rates"]}
    assert set(rates) == {"tests.thing.happened", "tests.chain.started", "tests.flaky.happened"}
    assert rates["tests.thing.happened"]["total"] == 4 and rates["tests.thing.happened"]["peak"] == 2
    assert len(rates["tests.thing.happened"]["per_minute"]) == 61
    # lags 100, 200, 300, 400, 1000 ms: the other company's 50 s and the 90-minute-old event are left out
    assert (body["delivered"], body["lag_p50_ms"], body["lag_p95_ms"]) == (5, 300, 880)
    assert [d["id"] for d in body["dead_letters"]] == [planted["dead"].pk]
    assert body["dead_letters"][0]["retry_url"] == retry_url(planted["dead"])
    assert [(f["handler"], f["status"], f["attempts"]) for f in body["failing"]] == [
        ("tests.fail_while_file_exists", "dead", 5)
    ]

    # a two-hour window sees the older event; the query count does not grow with the events
    for _ in range(30):
        plant(company, "tests.more.happened", created_at=timezone.now() - timedelta(minutes=7), lag_ms=10)
    with django_assert_max_num_queries(10):
        wide = client.get(MONITOR, {"minutes": 120}).json()
    wide_rates = {rate["name"]: rate["total"] for rate in wide["rates"]}
    assert wide_rates["tests.thing.happened"] == 5 and wide_rates["tests.more.happened"] == 30


def test_monitor_api_refuses_bad_windows_with_a_field_message(company, member):
    client = api_client_for(member(company, Role.MANAGER))
    for bad in ("0", "abc", "100000"):
        response = client.get(MONITOR, {"minutes": bad})
        assert response.status_code == 400
        assert "minutes" in str(response.json())


def test_a_salesperson_gets_403_and_the_other_company_sees_only_its_own(company, other_company, member, planted):
    sales = api_client_for(member(company, Role.SALES), token=True)
    assert sales.get(MONITOR).status_code == 403
    assert sales.post(retry_url(planted["dead"])).status_code == 403
    assert OutboxEvent.objects.get(pk=planted["dead"].pk).state == "dead"

    other_admin = api_client_for(member(other_company, Role.ADMIN), token=True)
    body = other_admin.get(MONITOR).json()
    assert [d["id"] for d in body["dead_letters"]] == [planted["other_dead"].pk]
    assert body["delivered"] == 1 and body["lag_p50_ms"] == 50000
    assert other_admin.post(retry_url(planted["dead"])).status_code == 404  # company A's dead letter
    assert OutboxEvent.objects.get(pk=planted["dead"].pk).state == "dead"
    admin = api_client_for(member(company, Role.ADMIN))
    assert admin.post("/api/v1/events/dead-letters/999999999/retry/").status_code == 404

    anonymous = api_client_for(member(company, Role.ADMIN))
    anonymous.logout()
    assert anonymous.get(MONITOR).status_code in (401, 403)


def test_retry_api_requeues_the_dead_letter_and_records_who_did_it(company, member, planted):
    manager = member(company, Role.MANAGER)
    dead = planted["dead"]

    response = api_client_for(manager, token=True).post(retry_url(dead))

    assert response.status_code == 200, response.content
    assert response.json()["state"] == "pending" and response.json()["id"] == dead.pk
    dead.refresh_from_db()
    assert dead.state == "pending"
    notice = OutboxEvent.objects.get(name="suite.event.retried")
    assert notice.created_by_id == manager.user_id and notice.correlation_id == dead.correlation_id
    assert HandlerRun.objects.get(event=dead).status == "failed"  # a fresh set of tries
    # the monitor no longer lists it as a dead letter
    body = api_client_for(manager).get(MONITOR).json()
    assert body["dead_letters"] == []
    # a delivered event is left alone: 200 with its state, nothing published
    OutboxEvent.objects.filter(pk=dead.pk).update(state="done", delivered_at=timezone.now())
    again = api_client_for(manager).post(retry_url(dead))
    assert again.status_code == 200 and again.json()["state"] == "done"
    assert OutboxEvent.objects.filter(name="suite.event.retried").count() == 1
