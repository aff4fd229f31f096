"""``/healthz``: database, Redis and a worker heartbeat seen in the last minute, as JSON with 200 or 503."""

import pytest

from suite.ops import heartbeat
from suite.tests.ops_support import own_namespace  # noqa: F401


@pytest.mark.django_db
@pytest.mark.usefixtures("own_namespace")
def test_without_a_worker_heartbeat_health_is_503_with_the_reason(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "ok"
    assert body["checks"]["worker"]["status"] == "fail"
    assert body["checks"]["worker"]["error"] == "no Celery worker heartbeat in the last 60 s"
    assert body["checks"]["worker"]["alive_processes"] == 0


@pytest.mark.django_db
@pytest.mark.usefixtures("own_namespace")
def test_a_fresh_heartbeat_makes_health_200(client):
    heartbeat.beat_once(member="worker-a:1")

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "worker"}
    assert all(check["status"] == "ok" for check in body["checks"].values())
    assert body["checks"]["worker"]["alive_processes"] == 1
    assert 0 <= body["checks"]["worker"]["last_seen_seconds_ago"] < 5


@pytest.mark.django_db
@pytest.mark.usefixtures("own_namespace")
def test_a_heartbeat_older_than_a_minute_does_not_count(client):
    client_redis = heartbeat.redis_client()
    now = heartbeat.redis_now(client_redis)
    client_redis.zadd(heartbeat.heartbeat_key(), {"worker-old:1": now - 61})

    response = client.get("/healthz")

    assert response.status_code == 503
    worker = response.json()["checks"]["worker"]
    assert worker["alive_processes"] == 0
    assert worker["last_seen_seconds_ago"] >= 61


@pytest.mark.django_db
@pytest.mark.usefixtures("own_namespace")
def test_a_worker_that_shut_down_cleanly_is_forgotten_at_once(client):
    heartbeat.beat_once(member="worker-b:2")
    heartbeat.forget(member="worker-b:2")

    assert client.get("/healthz").status_code == 503


@pytest.mark.django_db
@pytest.mark.usefixtures("own_namespace")
def test_unreachable_redis_is_503_not_500(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    response = client.get("/healthz")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["redis"]["status"] == "fail"
    assert checks["redis"]["error"].startswith("ConnectionError")
    assert checks["worker"]["status"] == "fail"


@pytest.mark.django_db
@pytest.mark.usefixtures("own_namespace")
def test_health_answers_only_get(client):
    assert client.post("/healthz").status_code == 405
