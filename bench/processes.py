"""Real server processes for the end-to-end benches (``scrm_ingest``, ``loop_latency``): gunicorn and Celery on the
bench database, and the CPU they (and their PostgreSQL backends) use.

Every process is started with ``PGAPPNAME=<app_name>`` so that its backends can be found in ``pg_stat_activity``
and their CPU counted; each runs in its own session (process group) and is stopped with the whole group.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench

BACKENDS = "postgres"  # the CpuMeter label of the PostgreSQL backends


def group_pids(root_pid: int) -> list[int]:
    """The process and all its descendants (a Celery pool, gunicorn's workers)."""
    import psutil

    try:
        root = psutil.Process(root_pid)
        return [root.pid, *(child.pid for child in root.children(recursive=True))]
    except psutil.Error:
        return []


def backend_pids(app_name: str) -> list[int]:
    """PostgreSQL backends of the connections made with ``application_name = app_name``."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [app_name])
        return [row[0] for row in cursor.fetchall()]


def backends_by_owner(app_name: str, roots: dict[str, int]) -> dict[int, str]:
    """Backend pid → label of the process group (``roots``: label → root pid) whose TCP connection it serves,
    matched by the client port (``pg_stat_activity.client_port``); backends of no group are left out."""
    import psutil
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid, client_port FROM pg_stat_activity WHERE application_name = %s", [app_name])
        ports = {port: pid for pid, port in cursor.fetchall() if port}
    owners: dict[int, str] = {}
    for label, root in roots.items():
        for pid in group_pids(root):
            with contextlib.suppress(psutil.Error):
                for conn in psutil.Process(pid).net_connections(kind="tcp"):
                    if conn.laddr and conn.laddr.port in ports:
                        owners[ports[conn.laddr.port]] = label
    return owners


class CpuMeter:
    """CPU seconds (user + system, from /proc) of process groups and of our PostgreSQL backends between the first
    and the last sample (a process that ends between samples is counted up to its last sample).

    ``groups``: label → root pid (or one root pid, labelled ``"process"``); the backends are labelled
    ``BACKENDS``. ``used(label)`` sums one label; ``used(backends=True/False)`` the backends / all the rest."""

    def __init__(self, groups: dict[str, int] | int, *, app_name: str) -> None:
        self.groups = groups if isinstance(groups, dict) else {"process": groups}
        self.app_name = app_name
        self.seen: dict[tuple[str, int], tuple[float, float]] = {}  # (label, pid) → (first, last) cpu seconds

    def sample(self, *, backends: bool = True) -> None:
        import psutil

        for label, root in self.groups.items():
            for pid in group_pids(root):
                self._note(label, pid, psutil)
        if backends:
            self.sample_backends()

    def sample_backends(self) -> None:
        import psutil

        for pid in backend_pids(self.app_name):
            self._note(BACKENDS, pid, psutil)

    def _note(self, label: str, pid: int, psutil) -> None:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            value = times.user + times.system
            first = self.seen.get((label, pid), (value, value))[0]
            self.seen[(label, pid)] = (first, value)

    def used(self, label: str | None = None, *, backends: bool | None = None) -> float:
        def counted(name: str) -> bool:
            if label is not None:
                return name == label
            return (name == BACKENDS) == bool(backends)

        return sum(last - first for (name, _pid), (first, last) in self.seen.items() if counted(name))

    def used_by_backends(self, pids) -> float:
        """CPU seconds of those of our PostgreSQL backends whose pid is in ``pids``."""
        return sum(last - first for (name, pid), (first, last) in self.seen.items() if name == BACKENDS and pid in pids)


def stop_group(process: subprocess.Popen | None, timeout: float = 30) -> None:
    """SIGTERM to the process's group, SIGKILL after ``timeout`` seconds."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class CeleryProcess:
    """``celery -A suite worker`` (``kind="worker"``, ``--concurrency``) or ``celery -A suite beat`` on the bench
    database and queue; ``name`` goes into the worker's hostname and the log's folder is ``directory``."""

    def __init__(self, kind: str, concurrency: int, directory: Path, *, app_name: str, name: str = "bench") -> None:
        self.kind, self.concurrency, self.directory = kind, concurrency, directory
        self.app_name, self.name = app_name, name
        self.process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.kind}.log"

    def start(self) -> float:
        """Starts the process; a worker is waited for until it is ready to consume. Returns that time."""
        from django.conf import settings

        ready = self.directory / f"{self.kind}-ready"
        ready.unlink(missing_ok=True)
        env = bench.bench_env()
        env.update(
            TROIKA_WORKER_READY_FILE=str(ready),
            CELERY_SKIP_CHECKS="1",
            LOG_LEVEL="WARNING",
            PGAPPNAME=self.app_name,
            PYTHONPATH=str(settings.BASE_DIR),
        )
        celery = str(Path(sys.executable).parent / "celery")
        if self.kind == "worker":
            command = [celery, "-A", "suite", "worker", "--concurrency", str(self.concurrency), "--queues",
                       settings.CELERY_TASK_DEFAULT_QUEUE, "--without-mingle", "--without-gossip", "--loglevel",
                       "WARNING", "--hostname", f"{self.name}-{os.getpid()}@%h"]  # fmt: skip
        else:
            command = [celery, "-A", "suite", self.kind, "--loglevel", "WARNING", "--schedule",
                       str(self.directory / f"celery{self.kind}-schedule")]  # fmt: skip
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            command, env=env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        if self.kind != "worker":
            time.sleep(1.0)
            if self.process.poll() is not None:
                raise SystemExit(f"celery {self.kind} did not start:\n" + self.log_path.read_text())
            return time.time()
        deadline = time.monotonic() + 90
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the Celery worker did not start:\n" + self.log_path.read_text())
            time.sleep(0.02)
        return time.time()

    def rss(self) -> float:
        """Resident memory of the process and its pool children, MB."""
        import psutil

        total = 0
        for pid in group_pids(self.process.pid):
            with contextlib.suppress(psutil.Error):
                total += psutil.Process(pid).memory_info().rss
        return total / 1e6

    def stop(self) -> None:
        stop_group(self.process)


@contextlib.contextmanager
def gunicorn(workers: int, *, app_name: str, name: str = "bench"):
    """Troika under gunicorn (``workers`` sync workers, suite/gunicorn_conf.py, the bench database), as
    bench/http_load.py starts it. Yields ``(port, master pid)``; stops the whole group on exit."""
    from bench.http_load import BASE_DIR, free_port

    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"troika-{name}-gunicorn-{port}.log"
    metrics_dir = tempfile.mkdtemp(prefix="troika-bench-prometheus-")
    env = bench.bench_env()
    env.update(PROMETHEUS_MULTIPROC_DIR=metrics_dir, PGAPPNAME=app_name, LOG_LEVEL="WARNING")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "suite.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers), "--config", "python:suite.gunicorn_conf"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=BASE_DIR,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/healthz")
                connection.getresponse().read()  # any answer (/healthz says 503 while no worker beats)
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"error: gunicorn did not start; see {log_path}")
            time.sleep(0.2)
        yield port, process.pid
    finally:
        stop_group(process, timeout=20)
