"""``/metrics``: Prometheus exposition of requests, latencies, Celery task counts and outbox lag.

- Requests and latencies come from django-prometheus's middleware. Under gunicorn each worker process keeps
  its own counters, so when ``PROMETHEUS_MULTIPROC_DIR`` is set (``make run`` sets it) the page is built with
  prometheus_client's multiprocess collector, which sums the files every process writes there.
- Celery task counts are counted inside the worker (``suite.ops.heartbeat``) into Redis and read here at
  scrape time, as are the worker heartbeats.
- Outbox figures are read at scrape time from ``suite.events.selectors.outbox_stats()``.

Access: when the ``METRICS_TOKEN`` setting is set, a request must carry ``Authorization: Bearer <token>``;
otherwise only requests from a loopback address that did not pass through a proxy are answered.
Everyone else gets 403. See README "Operations".
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from suite.ops import heartbeat

logger = logging.getLogger(__name__)

_PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


class CeleryCollector:
    """Task counts by task and state, and the worker heartbeats, read from Redis at scrape time."""

    def collect(self):
        tasks = CounterMetricFamily(
            "troika_celery_tasks", "Celery tasks finished, by task name and state", labels=["task", "state"]
        )
        for (task_name, state), n in sorted(heartbeat.task_counts().items()):
            tasks.add_metric([task_name, state], n)
        yield tasks
        health = heartbeat.worker_health()
        yield GaugeMetricFamily(
            "troika_celery_worker_processes_alive",
            f"Celery processes with a heartbeat in the last {int(heartbeat.HEARTBEAT_MAX_AGE)} s",
            value=health.alive,
        )
        if health.newest_age is not None:
            yield GaugeMetricFamily(
                "troika_celery_worker_heartbeat_age_seconds",
                "Seconds since the newest Celery worker heartbeat",
                value=health.newest_age,
            )


class OutboxCollector:
    """Pending and dead events, the oldest pending event's age and the relay lag p95."""

    def collect(self):
        from suite.events.selectors import outbox_stats

        stats = outbox_stats()
        yield GaugeMetricFamily("troika_outbox_pending_events", "Outbox events not yet relayed", value=stats.pending)
        yield GaugeMetricFamily(
            "troika_outbox_dead_events", "Outbox deliveries in the dead-letter state", value=stats.dead
        )
        yield GaugeMetricFamily(
            "troika_outbox_oldest_pending_age_seconds",
            "Age of the oldest event still waiting to be relayed (0 when none waits)",
            value=stats.oldest_pending_age_seconds or 0.0,
        )
        yield GaugeMetricFamily(
            "troika_outbox_lag_p95_seconds",
            "95th percentile of the time from publish to delivery over recent events",
            value=stats.lag_p95_seconds or 0.0,
        )


class TroikaCollector:
    """Runs Troika's collectors; when one fails (Redis or the database down) the rest of the page is served
    and ``troika_metrics_collector_errors{collector}`` says which one failed."""

    def __init__(self, collectors: dict) -> None:
        self.collectors = collectors

    def collect(self):
        errors = GaugeMetricFamily(
            "troika_metrics_collector_errors", "1 when a collector failed during this scrape", labels=["collector"]
        )
        for name, collector in self.collectors.items():
            try:
                families = list(collector.collect())
            except Exception as exc:
                logger.warning("metrics collector %s failed: %s", name, exc)
                errors.add_metric([name], 1)
                continue
            errors.add_metric([name], 0)
            yield from families
        yield errors


def exposition() -> bytes:
    """The whole metrics page: the process (or multiprocess) registry, then Troika's own collectors."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        base = CollectorRegistry()
        multiprocess.MultiProcessCollector(base)
    else:
        base = REGISTRY
    ours = CollectorRegistry(auto_describe=False)
    ours.register(TroikaCollector({"celery": CeleryCollector(), "outbox": OutboxCollector()}))
    return generate_latest(base) + generate_latest(ours)


def _client_is_loopback(request) -> bool:
    if any(request.META.get(header) for header in _PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def metrics_allowed(request) -> bool:
    token = getattr(settings, "METRICS_TOKEN", "")
    if token:
        sent = request.META.get("HTTP_AUTHORIZATION", "")
        return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())
    return _client_is_loopback(request)


@never_cache
@require_GET
def metrics(request):
    if not metrics_allowed(request):
        return HttpResponse(
            "metrics are served to loopback clients, or with Authorization: Bearer <METRICS_TOKEN>\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
