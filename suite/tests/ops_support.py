"""Helpers of the operations tests: a key namespace of their own, and real gunicorn / Celery processes
running against the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection

from suite.ops import heartbeat
from suite.stack import BASE_DIR

VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def own_namespace(settings):
    """Heartbeats and task counts under a key prefix of this test only (other tests run real workers)."""
    prefix = f"ops-test-{uuid.uuid4().hex[:10]}"
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "KEY_PREFIX": prefix}}
    client, keys = heartbeat.redis_client(), (heartbeat.heartbeat_key(), heartbeat.task_counts_key())
    yield prefix
    client.delete(*keys)


def namespace() -> str:
    """The key prefix ``own_namespace`` gave this test."""
    return django_settings.CACHES["default"]["KEY_PREFIX"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_database_url() -> str:
    """The URL of the database this test session uses (pytest-django's test database)."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "postgres")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


def process_env(prefix: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=test_database_url(),
        REDIS_URL=django_settings.REDIS_URL,
        TROIKA_CACHE_PREFIX=prefix,
        TROIKA_ENV="test",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(extra)
    return env


def wait_until(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM the process group, SIGKILL what is left after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def running_gunicorn(env: dict[str, str], *, workers: int = 2, log_path: Path):
    """gunicorn with Troika's config on a free loopback port; yields its base URL. stderr goes to ``log_path``."""
    port = free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "suite.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
             "--config", "python:suite.gunicorn_conf"],
            env=env, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait_until(lambda: process.poll() is not None or port_open(port), timeout=30, what="gunicorn")
            assert process.poll() is None, log_path.read_text()
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(process)


@contextlib.contextmanager
def running_worker(env: dict[str, str], *, queue: str, log_path: Path):
    """A real Celery worker (prefork, one child) consuming ``queue``; yields the process."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", "suite", "worker", "--queues", queue, "--concurrency", "1",
             "--loglevel", "INFO", "--hostname", f"{queue}@%h", "--without-mingle", "--without-gossip"],
            env=env, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            yield process
        finally:
            stop(process)
