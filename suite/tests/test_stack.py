"""The launcher: its one-line errors, and `make run` end to end (up, login, Ctrl-C stops everything, a second
run adds nothing)."""

import contextlib
import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest

from suite.stack import BASE_DIR


def test_unreachable_database_url_is_a_one_line_error():
    result = subprocess.run(
        [sys.executable, "-m", "suite.stack", "exec", "--", "true"],
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
            "REDIS_URL": "redis://127.0.0.1:1/0",
        },
        capture_output=True,
        text=True,
        cwd=BASE_DIR,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach the database in DATABASE_URL (127.0.0.1:1)")
    assert "Traceback" not in result.stderr


def test_port_already_taken_is_a_one_line_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "suite.stack", "run"],
            env={"PATH": "/usr/bin:/bin", "PORT": str(port)},
            capture_output=True,
            text=True,
            cwd=BASE_DIR,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: port {port} on 127.0.0.1 is already taken; stop what uses it or run `make run PORT={port + 1}`"
    )


def test_importing_the_package_neither_loads_settings_nor_leaks_var_stack_env_into_the_environment():
    """The launcher (python -m suite.stack) and the benchmarks decide from os.environ whether DATABASE_URL /
    REDIS_URL were given; importing ``suite`` or the settings must not answer that question for them."""
    probe = (
        "import os, sys\n"
        "import suite.stack\n"
        "from django.conf import settings\n"
        "print(settings.configured)\n"
        "settings.DATABASES\n"
        "print(os.environ.get('DATABASE_URL'), os.environ.get('REDIS_URL'), os.environ.get('SECRET_KEY'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}

    result = subprocess.run([sys.executable, "-c", probe], env=env, cwd=BASE_DIR, capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["False", "None None None"]


# --------------------------------------------------------------------------- `make run` end to end


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MakeRun:
    """`make run` in its own process group (as a terminal runs it), its output collected by a thread."""

    def __init__(self, env: dict[str, str]) -> None:
        # -o: never reinstall the venv here (the test uses the one it runs in).
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "-o", ".venv/.installed", "run"],
            env=env, cwd=BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.process.stdout:
            self.output.append(raw.decode(errors="replace"))

    @property
    def text(self) -> str:
        return "".join(self.output)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.text)
            if match:
                return match
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"`make run` did not print {pattern!r}; output:\n{self.text[-5000:]}")

    def ctrl_c(self, timeout: float = 90) -> int:
        os.killpg(self.process.pid, signal.SIGINT)  # what the terminal does: the whole foreground group
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self, var_dir) -> None:
        """After a failed check: let the launcher stop its children (Ctrl-C), then SIGKILL whatever is left of
        every process group it made (its children run in sessions of their own and would outlive make)."""
        groups = {self.process.pid}
        with contextlib.suppress(psutil.NoSuchProcess):
            groups |= {os.getpgid(p.pid) for p in psutil.Process(self.process.pid).children(recursive=True)}
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(60)
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        for pid in _service_pids(var_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _service_pids(var_dir) -> set[int]:
    pids = set()
    for pid_file in (var_dir / "pg" / "data" / "postmaster.pid", var_dir / "redis" / "redis.pid"):
        with contextlib.suppress(FileNotFoundError, ValueError):
            pids.add(int(pid_file.read_text().split()[0]))
    for pid in list(pids):
        with contextlib.suppress(psutil.NoSuchProcess):
            pids |= {child.pid for child in psutil.Process(pid).children(recursive=True)}
    return pids


def _alive(pids: set[int]) -> dict[int, str]:
    alive = {}
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE:
                alive[pid] = " ".join(process.cmdline())[:120]
    return alive


def _login(base: str, username: str, password: str) -> tuple[int, str, str]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base}/", timeout=30) as response:  # the root redirects to the login page
        login_url, page = response.geturl(), response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": username, "password": password})
    request = urllib.request.Request(login_url, data=form.encode(), headers={"Referer": login_url})
    with opener.open(request, timeout=30) as response:
        return response.status, response.geturl(), response.read().decode()


def _wait_for_health(base: str, timeout: float) -> None:
    """/healthz turns 200 once the worker's first heartbeat arrived."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
                assert response.status == 200
                return
        except urllib.error.HTTPError as error:
            if error.code != 503 or time.monotonic() > deadline:
                raise
        time.sleep(1)


# Derived state that beat keeps while the suite runs: segment bitmaps absorb their delta rows every few seconds,
# and the channel poller writes each demo channel's cursor on its first poll. Their row counts move between two
# runs without any business row changing.
DERIVED_TABLES = {"crm_segmentbitdelta", "crm_segmentbitmap", "scrm_channelcursor"}


def _row_counts(pg_port: int) -> dict[str, int]:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{pg_port}/troika", autocommit=True) as conn:
        tables = [
            row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ]
        return {
            table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for table in tables
            if table not in DERIVED_TABLES
        }


@pytest.fixture
def stack_var_dir():
    """A var/ of its own, not under pytest's temp root: pytest resets that to 0700 whenever another session
    starts, and the embedded PostgreSQL (run as an unprivileged user) must keep reaching its data."""
    path = Path(tempfile.mkdtemp(prefix="troika-stack-test-")) / "var"
    yield path
    shutil.rmtree(path.parent, ignore_errors=True)


@pytest.mark.slow
# Two cold starts (init, migrate, seed; then a warm one): ~2 min on a quiet 2-core machine, 5+ min when the
# machine is shared, so its own budget above the suite's 300 s per test.
@pytest.mark.timeout(900)
def test_make_run_serves_the_login_page_and_ctrl_c_stops_every_process(stack_var_dir):
    var_dir = stack_var_dir
    web_port, pg_port, redis_port = _free_port(), _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TROIKA_", "DATABASE_URL", "REDIS_URL"))}
    env.pop("SECRET_KEY", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        PORT=str(web_port), TROIKA_PG_PORT=str(pg_port), TROIKA_REDIS_PORT=str(redis_port),
        TROIKA_VAR_DIR=str(var_dir), WORKER_CONCURRENCY="1", PYTHONUNBUFFERED="1",
    )  # fmt: skip
    base = f"http://127.0.0.1:{web_port}"
    counts = []

    for run_number in (1, 2):
        run = MakeRun(env)
        try:
            run.wait_for(re.escape(f"Troika is running:  {base}/"), timeout=600 if run_number == 1 else 300)
            children = {p.pid for p in psutil.Process(run.process.pid).children(recursive=True)}
            services = _service_pids(var_dir)
            commands = [" ".join(psutil.Process(pid).cmdline()) for pid in children | services]
            for label, words in {
                "gunicorn": ("gunicorn", "suite.wsgi"),
                "Celery worker": ("celery", " worker"),
                "Celery beat": ("celery", " beat"),
                "PostgreSQL": ("postgres",),
                "Redis": ("redis-server",),
            }.items():
                assert any(all(w in cmd for w in words) for cmd in commands), f"{label} not running: {commands}"
            assert "Troika is running" in run.text
            assert "warning: /healthz" not in run.text  # the banner waited for a green /healthz

            before_login = _row_counts(pg_port)
            status, final_url, page = _login(base, "sales1", "troika-demo")
            assert status == 200
            assert urllib.parse.urlsplit(final_url).path == "/", final_url
            assert 'name="password"' not in page  # past the login form, in the UI shell
            _wait_for_health(base, timeout=5)  # green already: the banner waited for it
            counts.append((before_login, _row_counts(pg_port)))
        except BaseException:
            run.kill(var_dir)
            raise
        run.ctrl_c()  # make's exit status after an interrupt is make's business; what matters is below

        assert _alive(children | services) == {}, run.text[-3000:]
        for port in (web_port, pg_port, redis_port):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                raise AssertionError(f"port {port} still answers after Ctrl-C")
        assert "Traceback" not in run.text, run.text[-5000:]
        if run_number == 1:
            assert "demo data: created" in run.text
        else:
            assert "demo data: already present" in run.text

    # The second run found every row the first one left (its login's session included) and added none.
    assert counts[1][0] == counts[0][1]


# --------------------------------------------------------------------------- the Makefile on a fresh machine


def _fresh_checkout_makefile(tmp_path):
    """The Makefile and the files it depends on, without a venv, as on a fresh clone."""
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt", "plugins/troika-shop/pyproject.toml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((BASE_DIR / name).read_bytes())
    return tmp_path


def test_missing_python_is_a_one_line_error(tmp_path):
    checkout = _fresh_checkout_makefile(tmp_path)

    result = subprocess.run(
        ["make", "--no-print-directory", "PYTHON=/nonexistent/python3", "run"],
        cwd=checkout, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode != 0
    assert result.stdout.strip() == (
        "error: /nonexistent/python3 not found; install Python 3.11 or newer (or run make PYTHON=/path/to/python3.11)"
    )
    assert not (checkout / ".venv").exists()


def test_too_old_python_is_a_one_line_error(tmp_path):
    checkout = _fresh_checkout_makefile(tmp_path)
    old_python = tmp_path / "python3.8"
    old_python.write_text('#!/bin/sh\nif [ "$1" = "-V" ]; then echo "Python 3.8.10"; exit 0; fi\nexit 1\n')
    old_python.chmod(0o755)

    result = subprocess.run(
        ["make", "--no-print-directory", f"PYTHON={old_python}", "install"],
        cwd=checkout, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode != 0
    assert result.stdout.strip() == f"error: Troika needs Python 3.11 or newer; {old_python} is Python 3.8.10"
