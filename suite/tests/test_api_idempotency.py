"""``Idempotency-Key`` on API POSTs (acceptance 5): replay, a reused key, a concurrent duplicate, expiry."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from suite.api.idempotency import idempotency_keys_purge
from suite.models import IdempotencyKey, Role, Team
from suite.testing import api_client_for, make_member

TEAMS = "/api/v1/suite/teams/"


def post(client, body, key, url=TEAMS):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_same_key_and_body_replays_the_response_without_a_second_record(company):
    client = api_client_for(make_member(company, Role.ADMIN))
    first = post(client, {"name": "华北销售"}, "create-team-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first

    again = post(client, {"name": "华北销售"}, "create-team-1")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert Team.objects.filter(company=company, name="华北销售").count() == 1


def test_same_key_with_another_body_is_422_and_changes_nothing(company):
    client = api_client_for(make_member(company, Role.ADMIN))
    assert post(client, {"name": "一组"}, "k-1").status_code == 201
    response = post(client, {"name": "二组"}, "k-1")
    assert response.status_code == 422
    assert response.json() == {
        "errors": [
            {
                "field": "Idempotency-Key",
                "code": "idempotency_key_reused",
                "message": response.json()["errors"][0]["message"],
            }
        ]
    }
    assert not Team.objects.filter(name="二组").exists()
    # the same key on another endpoint is another request too
    assert post(client, {"name": "一组"}, "k-1", url="/api/v1/suite/tokens/").status_code == 422


def test_keys_belong_to_one_user(company):
    first = api_client_for(make_member(company, Role.ADMIN))
    second = api_client_for(make_member(company, Role.MANAGER))
    assert post(first, {"name": "甲"}, "shared-key").status_code == 201
    response = post(second, {"name": "乙"}, "shared-key")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Team.objects.filter(name__in=["甲", "乙"]).count() == 2


def test_validation_errors_are_replayed_too(company):
    client = api_client_for(make_member(company, Role.ADMIN))
    first = post(client, {"name": ""}, "bad-1")
    assert first.status_code == 400
    again = post(client, {"name": ""}, "bad-1")
    assert again.status_code == 400 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


@pytest.mark.urls("suite.tests.probe")
def test_server_errors_are_not_stored_so_a_retry_runs_again(company):
    client = api_client_for(make_member(company, Role.ADMIN))
    first = post(client, {"status": 503}, "flaky", url="/api/v1/probe/echo/")
    second = post(client, {"status": 503}, "flaky", url="/api/v1/probe/echo/")
    assert first.status_code == second.status_code == 503
    assert "Idempotent-Replayed" not in second
    assert first.json()["errors"][0]["message"] != second.json()["errors"][0]["message"]  # ran twice
    assert not IdempotencyKey.objects.filter(key="flaky").exists()

    ok = post(client, {"status": 201}, "fine", url="/api/v1/probe/echo/")
    replay = post(client, {"status": 201}, "fine", url="/api/v1/probe/echo/")
    assert replay.json()["nonce"] == ok.json()["nonce"] and replay["Idempotent-Replayed"] == "true"


def test_works_with_api_tokens_and_ignores_anonymous_and_get(company):
    membership = make_member(company, Role.ADMIN)
    client = api_client_for(membership, token=True)
    assert post(client, {"name": "令牌组"}, "tok-1").status_code == 201
    assert post(client, {"name": "令牌组"}, "tok-1")["Idempotent-Replayed"] == "true"
    assert IdempotencyKey.objects.get(key="tok-1").user_id == membership.user_id

    anonymous = post(APIClient(), {"name": "x"}, "anon-1")
    assert anonymous.status_code == 401
    assert not IdempotencyKey.objects.filter(key="anon-1").exists()

    response = client.get(TEAMS, HTTP_IDEMPOTENCY_KEY="tok-1")
    assert response.status_code == 200 and "Idempotent-Replayed" not in response


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "line\nbreak"])
def test_an_invalid_key_is_a_400_in_the_error_format(company, key):
    client = api_client_for(make_member(company, Role.ADMIN))
    response = post(client, {"name": "x"}, key)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert not Team.objects.filter(name="x").exists()


def test_keys_expire_after_24_hours_and_are_purged(company):
    client = api_client_for(make_member(company, Role.ADMIN))
    assert post(client, {"name": "旧"}, "old-key").status_code == 201
    IdempotencyKey.objects.filter(key="old-key").update(created_at=timezone.now() - timedelta(hours=25))
    # an expired key is a fresh key: a new request with it runs
    response = post(client, {"name": "新"}, "old-key")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response

    assert post(client, {"name": "另一个"}, "stale").status_code == 201
    IdempotencyKey.objects.filter(key="stale").update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    assert idempotency_keys_purge() == 1
    assert set(IdempotencyKey.objects.values_list("key", flat=True)) == {"old-key"}


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_duplicate_gets_409_while_the_first_is_in_flight(company):
    admin = make_member(company, Role.ADMIN)
    first_client, second_client = api_client_for(admin), api_client_for(admin)
    results: dict[str, object] = {}

    def run_first():
        try:
            results["first"] = post(first_client, {"name": "并发组"}, "race-1")
        finally:
            connection.close()

    # Hold a lock that blocks the INSERT of a team, so the first request stays in flight after claiming its key.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE suite_team IN SHARE ROW EXCLUSIVE MODE")
        first = threading.Thread(target=run_first)
        first.start()
        deadline = time.monotonic() + 30
        while not IdempotencyKey.objects.filter(key="race-1").exists():
            assert time.monotonic() < deadline, "the first request never claimed its key"
            time.sleep(0.05)

        duplicate_result: dict[str, object] = {}

        def run_duplicate():
            try:
                duplicate_result["r"] = post(second_client, {"name": "并发组"}, "race-1")
            finally:
                connection.close()

        duplicate = threading.Thread(target=run_duplicate)
        duplicate.start()
        duplicate.join(timeout=30)
        response = duplicate_result["r"]
        assert response.status_code == 409
        assert response.json()["errors"][0]["code"] == "idempotency_in_progress"
        assert response["Retry-After"] == "1"
    first.join(timeout=30)

    assert results["first"].status_code == 201
    assert Team.objects.filter(name="并发组").count() == 1
    replay = post(api_client_for(admin), {"name": "并发组"}, "race-1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == results["first"].json()["id"]
