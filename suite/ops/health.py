"""``/healthz``: is this instance able to serve? PostgreSQL, Redis and a live Celery worker.

Answers 200 with ``{"status": "ok", "checks": {...}}`` when every check passes, 503 with ``"status": "fail"``
otherwise. Each check says ``ok``/``fail`` with its latency or the reason; no secrets, no hostnames. Meant for
load balancers and uptime probes, so it needs no login and is exempt from the TLS redirect.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from suite.ops import heartbeat


def _timed(check: Callable[[], dict]) -> dict:
    started = time.perf_counter()
    try:
        result = check()
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        return {"status": "fail", "error": f"{exc.__class__.__name__}: {first_line}".rstrip(": ")}
    result.setdefault("status", "ok")
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {}


def check_redis() -> dict:
    heartbeat.redis_client().ping()
    return {}


def check_worker() -> dict:
    health = heartbeat.worker_health()
    result = {
        "alive_processes": health.alive,
        "last_seen_seconds_ago": None if health.newest_age is None else round(health.newest_age, 1),
    }
    if not health.ok:
        result["status"] = "fail"
        result["error"] = f"no Celery worker heartbeat in the last {int(heartbeat.HEARTBEAT_MAX_AGE)} s"
    return result


CHECKS: dict[str, Callable[[], dict]] = {
    "database": check_database,
    "redis": check_redis,
    "worker": check_worker,
}


def run_checks() -> dict:
    """Run every check; the report ``/healthz`` returns."""
    checks = {name: _timed(check) for name, check in CHECKS.items()}
    status = "ok" if all(c["status"] == "ok" for c in checks.values()) else "fail"
    return {"status": status, "checks": checks}


@never_cache
@require_GET
def healthz(request):
    report = run_checks()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)
