"""Troika's benchmarks: ``python -m bench [name ...]`` (``make bench`` runs them all with default sizes).

Every ``bench/<name>.py`` with a ``main(argv) -> int`` is a benchmark. They run against a database of their
own — the server of ``DATABASE_URL`` with ``_bench`` appended to the database name, or
``TROIKA_BENCH_DATABASE_URL`` — never the demo database, and with a Redis key prefix of their own
(``troika-bench``), so a running ``make run`` stack is not disturbed. :func:`setup` prepares that (create,
migrate, seed the demo) once per process; every benchmark's ``main`` calls it first.

The figures are compared with the measured ceilings of this machine class in
``/work/shared/PERFORMANCE-NOTES.md`` (:data:`CEILINGS`); results go to ``docs/performance.md``.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_CACHE_PREFIX = "troika-bench"

# Measured ceilings (PERFORMANCE-NOTES.md): 2 vCPU, gunicorn 2 sync workers, wrk with 16 connections.
CEILINGS = {
    "tiny_json": 6400.0,  # req/s, tiny JsonResponse, no database
    "drf_list": 485.0,  # req/s, DRF list of 50 out of 100k rows, PageNumberPagination
    "drf_create": 1480.0,  # req/s, DRF create, one row
    "bulk_create_rows": 59000.0,  # rows/s, Django bulk_create(batch_size=1000)
    "copy_rows": 750000.0,  # rows/s, COPY of narrow rows
    "celery_noop": 1570.0,  # tasks/s
}

_ready = False


def bench_database_url() -> str:
    """The benchmarks' database: TROIKA_BENCH_DATABASE_URL, else DATABASE_URL's server with ``<name>_bench``."""
    explicit = os.environ.get("TROIKA_BENCH_DATABASE_URL")
    if explicit:
        return explicit
    base = os.environ.get("DATABASE_URL") or _stack_env_value(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:55432/troika"
    )
    parts = urlsplit(base)
    name = parts.path.lstrip("/") or "troika"
    if name.endswith("_bench"):
        return base
    return urlunsplit(parts._replace(path=f"/{name}_bench"))


def _stack_env_value(key: str, default: str) -> str:
    """A value of var/stack.env, read without importing ``suite`` (that would load Django's settings before
    :func:`setup` pointed them at the bench database)."""
    path = Path(__file__).resolve().parent.parent / "var" / "stack.env"
    if path.exists():
        for line in path.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip() == key and not line.startswith("#"):
                return value.strip()
    return default


def _ensure_database(url: str) -> bool:
    """Create the database of ``url`` on its server unless it exists; True when created."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def bench_env() -> dict[str, str]:
    """The environment of processes a benchmark starts (gunicorn, Celery): the bench database and key prefix,
    and throttles high enough not to turn a load test into a 429 test."""
    env = dict(os.environ)
    # TROIKA_BENCH_PREFIX: a Redis key prefix and Celery queue of a benchmark's own, so two benchmarks with
    # workers running at the same time neither take nor purge each other's tasks (bench scrm_ingest sets it).
    prefix = os.environ.get("TROIKA_BENCH_PREFIX") or BENCH_CACHE_PREFIX
    env.update(
        DATABASE_URL=bench_database_url(),
        TROIKA_CACHE_PREFIX=prefix,
        TROIKA_QUEUE=prefix,
        THROTTLE_USER="100000000/min",
        THROTTLE_ANON="100000000/min",
    )
    env.setdefault("TROIKA_ENV", "dev")
    return env


def setup(*, seed: bool = True) -> None:
    """Point this process at the bench database (created and migrated on first use), set Django up, and seed
    the demo companies once. Idempotent."""
    global _ready
    if _ready:
        return
    if "django.conf" in sys.modules and getattr(sys.modules["django.conf"].settings, "configured", False):
        raise RuntimeError("bench.setup() must run before Django's settings are loaded (import nothing from suite)")
    url = bench_database_url()
    created = _ensure_database(url)
    env = bench_env()
    for key in ("DATABASE_URL", "TROIKA_CACHE_PREFIX", "TROIKA_QUEUE", "THROTTLE_USER", "THROTTLE_ANON"):
        os.environ[key] = env[key]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "suite.settings")
    import django

    django.setup()
    from django.core.management import call_command

    if created:
        print(f"[bench] created database {urlsplit(url).path.lstrip('/')}", flush=True)
    call_command("migrate", verbosity=0, interactive=False)
    if seed:
        call_command("seed_demo", verbosity=0)
    _ready = True


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 — the only targets the load harness accepts. Names other
    than ``localhost`` are refused rather than resolved (no DNS answer can point the harness elsewhere)."""
    import ipaddress

    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def print_table(headers: list[str], rows: list[list[object]], *, out=sys.stdout) -> None:
    """A Markdown table (aligned), so output can be pasted into docs/performance.md as it is."""
    cells = [headers, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("\n".join(lines), file=out, flush=True)
