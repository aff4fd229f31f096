"""pytest fixture ``celery_worker_process``: a real ``celery -A suite worker`` subprocess on real Redis.

The worker runs against the pytest test database (so tests that use it need ``transactional_db``: their data
must be committed for another process to see it) and consumes the test session's own queue
(``settings.CELERY_TASK_DEFAULT_QUEUE``, derived from the test database name; see settings.py), so it never
takes tasks of the dev stack or of another test run. It also imports the modules in
``TROIKA_EXTRA_EVENT_MODULES`` (default: the tests' event handlers), so handlers registered for tests run in
the worker too.

    def test_something(celery_worker_process):
        worker = celery_worker_process          # started, consuming
        worker.kill9()                          # SIGKILL to the worker and its pool children
        worker.start(beat=True)                 # a new worker, with an embedded beat
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

TEST_EVENT_MODULES = "suite.tests.event_handlers_for_tests"
READY_TIMEOUT = 30.0


def test_database_url() -> str:
    """DATABASE_URL of the database this test session uses (the test database, after pytest-django made it)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{credentials}@{host}:{port}/{db['NAME']}"


def purge_queue(queue: str) -> None:
    from suite.celery import app

    with app.connection_for_write() as conn, contextlib.suppress(Exception):
        conn.default_channel.queue_purge(queue)


class WorkerProcess:
    """Start, kill and stop ``celery worker`` subprocesses for one test (one running at a time)."""

    def __init__(self, directory: Path, *, concurrency: int = 1, env: dict[str, str] | None = None) -> None:
        self.directory = directory
        self.concurrency = concurrency
        self.extra_env = dict(env or {})
        self.queue = settings.CELERY_TASK_DEFAULT_QUEUE
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=test_database_url(),
            REDIS_URL=settings.REDIS_URL,
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            TROIKA_ENV="test",
            TROIKA_QUEUE=self.queue,
            TROIKA_CACHE_PREFIX=settings.CACHES["default"].get("KEY_PREFIX", ""),
            TROIKA_EXTRA_EVENT_MODULES=TEST_EVENT_MODULES,
            TROIKA_OUTBOUND_ALLOW=",".join(settings.TROIKA_OUTBOUND_ALLOW),
            CONN_MAX_AGE="600",
            CELERY_SKIP_CHECKS="1",
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self, *, beat: bool = False, timeout: float = READY_TIMEOUT) -> WorkerProcess:
        """Start a worker (optionally with an embedded beat) and wait until it consumes the queue."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("a worker is running already; kill9() or stop() it first")
        self.starts += 1
        ready_file = self.directory / f"worker-{self.starts}.ready"
        self.log_path = self.directory / f"worker-{self.starts}.log"
        command = [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "suite",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(self.concurrency),
            "--queues",
            self.queue,
            "--hostname",
            f"test-{uuid.uuid4().hex[:8]}@%h",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ]
        if beat:
            command += ["--beat", "--schedule", str(self.directory / f"beat-{self.starts}.db")]
        env = self.environment()
        env["TROIKA_WORKER_READY_FILE"] = str(ready_file)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                env=env,
                cwd=settings.BASE_DIR,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill9() reaches the pool children too
            )
        deadline = time.monotonic() + timeout
        while not ready_file.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.kill9()
                raise RuntimeError(f"the Celery worker was not ready within {timeout}s:\n{self.log()}")
            time.sleep(0.05)
        return self

    def kill9(self) -> None:
        """SIGKILL the worker and every process of its group (pool children, embedded beat): a crash."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """A warm shutdown (SIGTERM), then SIGKILL if it does not end in time (~1.5 s: the tests' teardown uses
        ``kill9()`` instead — their work is checked already, and the outbox does not care)."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
        # Pool children may outlive a warm shutdown by a moment; the group goes with them.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def log(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-6000:]
        return ""


def worker_for_test(tmp_path: Path, **kwargs) -> WorkerProcess:
    purge_queue(settings.CELERY_TASK_DEFAULT_QUEUE)
    from suite.events.outbox import clear_relay_flag

    clear_relay_flag()
    return WorkerProcess(tmp_path, **kwargs)


@pytest.fixture
def celery_worker_factory(transactional_db, tmp_path):
    """``celery_worker_factory(concurrency=1, env={...})`` → an unstarted ``WorkerProcess``; all are stopped at
    the end of the test (before the database is flushed)."""
    workers: list[WorkerProcess] = []

    def make(**kwargs) -> WorkerProcess:
        worker = worker_for_test(tmp_path, **kwargs)
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.kill9()
    purge_queue(settings.CELERY_TASK_DEFAULT_QUEUE)
    from suite.events.outbox import clear_relay_flag

    clear_relay_flag()


@pytest.fixture
def celery_worker_process(celery_worker_factory):
    """A started worker (concurrency 1, no beat) on the test database and the test queue."""
    return celery_worker_factory().start()
