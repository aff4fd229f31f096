"""``/metrics``: Prometheus exposition, served to loopback clients or with the METRICS_TOKEN."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from suite.ops import heartbeat
from suite.tests.ops_support import own_namespace  # noqa: F401


def samples(page: bytes) -> dict[tuple[str, tuple], float]:
    """Every sample of the page, parsed by prometheus_client's own parser (so the page must be valid)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(page.decode())
        for sample in family.samples
    }


@pytest.mark.django_db
@pytest.mark.usefixtures("own_namespace")
def test_loopback_client_gets_a_valid_page_with_request_counts_and_latencies(client):
    client.get("/healthz")
    client.get("/healthz")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    values = samples(response.content)
    by_view = values[
        (
            "django_http_requests_total_by_view_transport_method_total",
            (("method", "GET"), ("transport", "http"), ("view", "healthz")),
        )
    ]
    assert by_view >= 2
    assert any(name == "django_http_requests_latency_seconds_by_view_method_bucket" for name, _ in values)


@pytest.mark.django_db
@pytest.mark.usefixtures("own_namespace")
def test_celery_task_counts_flushed_by_a_worker_process_are_exported(client):
    heartbeat.count_task("crm.tasks.import_customers", "success")
    heartbeat.count_task("crm.tasks.import_customers", "success")
    heartbeat.count_task("crm.tasks.import_customers", "failure")
    assert heartbeat.flush_task_counts() == 3
    heartbeat.beat_once(member="worker-m:1")

    values = samples(client.get("/metrics").content)

    task = ("task", "crm.tasks.import_customers")
    assert values[("troika_celery_tasks_total", (("state", "success"), task))] == 2
    assert values[("troika_celery_tasks_total", (("state", "failure"), task))] == 1
    assert values[("troika_celery_worker_processes_alive", ())] == 1
    assert values[("troika_metrics_collector_errors", (("collector", "celery"),))] == 0


@pytest.mark.django_db
@pytest.mark.usefixtures("own_namespace")
def test_redis_down_still_serves_the_page_and_says_which_collector_failed(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    response = client.get("/metrics")

    assert response.status_code == 200
    values = samples(response.content)
    assert values[("troika_metrics_collector_errors", (("collector", "celery"),))] == 1
    assert ("troika_celery_worker_processes_alive", ()) not in values


@pytest.mark.django_db
@pytest.mark.parametrize(
    "extra",
    [
        {"REMOTE_ADDR": "10.1.2.3"},
        {"REMOTE_ADDR": "203.0.113.9"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"},  # a proxy on the same host
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_FORWARDED": "for=203.0.113.9"},
    ],
)
def test_non_loopback_or_proxied_clients_are_refused(client, extra):
    response = client.get("/metrics", **extra)

    assert response.status_code == 403
    assert b"troika_" not in response.content


@pytest.mark.django_db
@pytest.mark.usefixtures("own_namespace")
def test_ipv6_loopback_is_served(client):
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


@pytest.mark.django_db
@pytest.mark.usefixtures("own_namespace")
def test_with_a_token_only_the_bearer_of_it_is_served(client, settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token-value"

    assert client.get("/metrics").status_code == 403  # loopback alone is no longer enough
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="s3cret-metrics-token-value").status_code == 403
    served = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token-value", REMOTE_ADDR="10.9.9.9")
    assert served.status_code == 200
    assert b"troika_celery_tasks_total" in served.content


@pytest.mark.django_db
@pytest.mark.usefixtures("own_namespace")
def test_outbox_backlog_and_lag_are_exported_from_outbox_stats(client, company):
    from django.db import transaction

    from suite import events

    with transaction.atomic():
        for n in range(3):
            events.publish("suite.metricstest.happened", {"n": n}, company_id=company.id)

    values = samples(client.get("/metrics").content)

    stats = events.selectors.outbox_stats()
    assert stats.pending == 3
    assert values[("troika_outbox_pending_events", ())] == 3
    assert values[("troika_outbox_dead_events", ())] == stats.dead == 0
    assert 0 <= values[("troika_outbox_oldest_pending_age_seconds", ())] < 60
    assert values[("troika_outbox_lag_p95_seconds", ())] == stats.lag_p95_seconds
    assert values[("troika_metrics_collector_errors", (("collector", "outbox"),))] == 0
