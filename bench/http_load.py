"""``python -m bench http_load``: HTTP load on loopback, p50/p95/p99 and requests/s per operation.

By default it starts its own gunicorn (2 sync workers, Troika's gunicorn config, the bench database) on a
free loopback port, and measures the operations in :func:`default_operations`: the login page, ``/healthz``,
and authenticated API lists. Each operation runs until ``--requests`` were answered or ``--duration`` seconds
passed, whichever comes first, after a short warm-up, with ``--concurrency`` connections spread over
``--processes`` client processes (the client shares the machine's cores with the server, as wrk did for the
ceilings in PERFORMANCE-NOTES.md).

    python -m bench http_load                                  defaults: 16 connections, ≤ 3000 requests, ≤ 15 s
    python -m bench http_load --concurrency 32 --requests 20000 --duration 60
    python -m bench http_load --url http://127.0.0.1:8000      a server already running (loopback only)
    python -m bench http_load --only healthz --only login_page

Targets are loopback only: any host other than localhost, 127.0.0.0/8 or ::1 is refused.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import bench

BASE_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Operation:
    name: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    expect: int = 200
    ceiling: str = "tiny_json"  # key of bench.CEILINGS this operation is compared with
    note: str = ""
    method: str = "GET"
    body: bytes = b""  # sent with Content-Length (give Content-Type in ``headers``)
    paths: tuple[str, ...] = ()  # when given, the requests cycle through these paths instead of ``path``


@dataclass
class Result:
    operation: Operation
    latencies: list[float]  # seconds, of the requests answered with the expected status
    errors: int
    statuses: dict[int, int]
    seconds: float

    @property
    def requests_per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct_ms(self, fraction: float) -> float:
        return bench.percentile(self.latencies, fraction) * 1000


# --------------------------------------------------------------------------- a small HTTP/1.1 client


class LoadError(Exception):
    pass


def build_request(host: str, port: int, op: Operation, path: str | None = None) -> bytes:
    lines = [f"{op.method} {path or op.path} HTTP/1.1", f"Host: {host}:{port}", "User-Agent: troika-bench"]
    lines += ["Accept: */*", *[f"{k}: {v}" for k, v in op.headers.items()]]
    if op.body or op.method != "GET":
        lines.append(f"Content-Length: {len(op.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + op.body


def build_requests(host: str, port: int, op: Operation) -> list[bytes]:
    """One request per path of ``op.paths`` (non-ASCII characters percent-encoded), or the one of ``op.path``."""
    from urllib.parse import quote

    paths = [quote(p, safe="/?&=%:+,.-_~") for p in op.paths] or [op.path]
    return [build_request(host, port, op, path) for path in paths]


class Connection:
    """One keep-alive connection; reconnects when the server closes (gunicorn's sync workers always do)."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.sock: socket.socket | None = None
        self.buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
        self.sock = None
        self.buffer = b""

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionResetError("server closed the connection")
        return data

    def request(self, payload: bytes) -> int:
        """Send ``payload`` and read the whole response; return the status code."""
        for attempt in (0, 1):
            fresh = self.sock is None
            if fresh:
                self.sock = socket.create_connection(self.address, timeout=30)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.sock.sendall(payload)
                return self._read_response()
            except (ConnectionResetError, BrokenPipeError):
                self.close()
                if fresh or attempt:  # a stale keep-alive connection is retried once on a new one
                    raise
        raise AssertionError("unreachable")

    def _read_response(self) -> int:
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked, close = None, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if chunked:
            rest = self._read_chunked(rest)
        elif length is not None:
            while len(rest) < length:
                rest += self._recv()
            rest = rest[length:]
        else:  # body until the server closes
            with contextlib.suppress(ConnectionResetError):
                while True:
                    rest += self._recv()
            close = True
        if close:
            self.close()
        else:
            self.buffer = rest
        return status

    def _read_chunked(self, data: bytes) -> bytes:
        while True:
            while b"\r\n" not in data:
                data += self._recv()
            size_line, _, data = data.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(data) < size + 2:
                data += self._recv()
            data = data[size + 2 :]
            if size == 0:
                return data


# --------------------------------------------------------------------------- the load loop


def _client_process(address, payloads, threads, requests, deadline, warmup, expect, out) -> None:
    """Run ``threads`` connections until ``requests`` answers or ``deadline``; send the results to ``out``.
    The requests cycle through ``payloads`` (one request, or the same operation on different records)."""
    lock = threading.Lock()
    state = {"left": requests, "warm": warmup, "next": 0}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = [0]

    def worker() -> None:
        conn = Connection(address)
        local, local_statuses, local_errors = [], {}, 0
        while time.monotonic() < deadline:
            with lock:
                warming = state["warm"] > 0
                if warming:
                    state["warm"] -= 1
                elif state["left"] <= 0:
                    break
                else:
                    state["left"] -= 1
                payload = payloads[state["next"] % len(payloads)]
                state["next"] += 1
            started = time.perf_counter()
            try:
                status = conn.request(payload)
            except OSError:
                conn.close()
                status = 0
            elapsed = time.perf_counter() - started
            if warming:
                continue
            local_statuses[status] = local_statuses.get(status, 0) + 1
            if status == expect:
                local.append(elapsed)
            else:
                local_errors += 1
        conn.close()
        with lock:
            latencies.extend(local)
            errors[0] += local_errors
            for status, n in local_statuses.items():
                statuses[status] = statuses.get(status, 0) + n

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    out.send((latencies, errors[0], statuses))
    out.close()


def run_operation(base_url: str, op: Operation, *, concurrency: int, processes: int, requests: int,
                  duration: float, warmup: int) -> Result:  # fmt: skip
    """Load one operation and collect the latencies of all client processes."""
    parts = urlsplit(base_url)
    address = (parts.hostname, parts.port or 80)
    payloads = build_requests(parts.hostname, address[1], op)
    processes = max(1, min(processes, concurrency))
    context = multiprocessing.get_context("fork")
    started = time.perf_counter()
    deadline = time.monotonic() + duration
    children, pipes = [], []
    for k in range(processes):
        threads = concurrency // processes + (1 if k < concurrency % processes else 0)
        share = requests // processes + (1 if k < requests % processes else 0)
        receive, send = context.Pipe(duplex=False)
        child = context.Process(
            target=_client_process,
            args=(
                address,
                payloads[k::processes] or payloads,
                threads,
                share,
                deadline,
                warmup // processes,
                op.expect,
                send,
            ),
            daemon=True,
        )
        child.start()
        send.close()
        children.append(child)
        pipes.append(receive)
    latencies: list[float] = []
    errors = 0
    statuses: dict[int, int] = {}
    for receive in pipes:
        part_latencies, part_errors, part_statuses = receive.recv()
        latencies.extend(part_latencies)
        errors += part_errors
        for status, n in part_statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    for child in children:
        child.join()
    seconds = time.perf_counter() - started
    latencies.sort()
    return Result(operation=op, latencies=latencies, errors=errors, statuses=statuses, seconds=seconds)


# --------------------------------------------------------------------------- the server under test


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def gunicorn(workers: int, app: str = "suite.wsgi"):
    """``app`` (Troika by default) under gunicorn (sync workers, suite/gunicorn_conf.py, the bench database)."""
    port = free_port()
    metrics_dir = tempfile.mkdtemp(prefix="troika-bench-prometheus-")
    log_path = Path(tempfile.gettempdir()) / f"troika-bench-gunicorn-{port}.log"
    env = bench.bench_env()
    env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # as `make run` serves it
    venv_bin = Path(sys.executable).parent
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(venv_bin / "gunicorn"), app, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
             "--config", "python:suite.gunicorn_conf"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=BASE_DIR,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"error: gunicorn did not start; see {log_path}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", log_path
        log_path.unlink(missing_ok=True)  # kept only when something went wrong
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def api_token(username: str = "admin", company_code: str = "bench-0001") -> str:
    """A fresh API token of ``username``'s membership in ``company_code`` (falling back to the demo company)."""
    from suite.models import Membership
    from suite.services.tokens import api_token_issue

    membership = Membership.objects.filter(company__code=company_code, role="admin").order_by(
        "id"
    ).first() or Membership.objects.get(company__code="ecm", user__username=username)
    return api_token_issue(membership=membership, name="bench http_load").secret


def ensure_list_data(min_members: int = 200) -> str:
    """The code of the bench company with the most members (generated if none has ``min_members``): its
    member list is the 50-row page the API list operation measures."""
    from django.db.models import Count

    from suite.models import Company

    def largest():
        return (
            Company.objects.filter(code__startswith="bench-")
            .annotate(members=Count("memberships"))
            .order_by("-members", "code")
            .values_list("code", "members")
            .first()
        )

    found = largest()
    if found is None or found[1] < min_members:
        from bench.generators import GenerationContext, discover

        generator = next(g for g in discover() if g.name == "suite.tenancy")
        existing = Company.objects.filter(code__startswith="bench-").count()
        generator.run(GenerationContext(sizes={"companies": existing + 1, "users_per_company": min_members}))
        found = largest()
    return found[0]


def default_operations() -> list[Operation]:
    from suite.models import Membership

    company_code = ensure_list_data()
    members = Membership.objects.filter(company__code=company_code).count()
    print(f"API calls as the administrator of {company_code} ({members} members)", flush=True)
    auth = {"Authorization": f"Token {api_token(company_code=company_code)}"}
    return [
        Operation("login_page", "/login/", note="the login form: template, CSRF cookie, no query"),
        Operation("healthz", "/healthz", note="SELECT 1, Redis PING, heartbeat read"),
        Operation("api_me", "/api/v1/suite/me/", auth, note="token auth, the caller and their companies"),
        Operation(
            "api_memberships_list",
            "/api/v1/suite/memberships/",
            auth,
            ceiling="drf_list",
            note="DRF list, page of 50 with count, of a company's members",
        ),
        Operation("api_teams_list", "/api/v1/suite/teams/", auth, ceiling="drf_list", note="DRF list of teams"),
    ]


def service_times(operations: list[Operation], *, repeat: int = 100) -> dict[str, tuple[float, int]]:
    """Per operation: the median time of one request handled in this process, one at a time, through
    Django's full middleware stack without HTTP or contention (ms), and the SQL queries it runs."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    logging.getLogger("troika.access").setLevel(logging.WARNING)  # thousands of lines of this process's own
    client = Client()
    result = {}
    for op in operations:
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in op.headers.items()}
        for _ in range(20):
            client.get(op.path, **headers)
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            client.get(op.path, **headers)
            samples.append(time.perf_counter() - started)
        with CaptureQueriesContext(connection) as queries:
            client.get(op.path, **headers)
        result[op.name] = (bench.median(samples) * 1000, len(queries.captured_queries))
    return result


# --------------------------------------------------------------------------- command line


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench http_load", description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server to load instead of starting gunicorn (loopback only)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections at once (default 16)")
    parser.add_argument("--processes", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--requests", type=int, default=3000, help="answers per operation at most (default 3000)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per operation at most (default 15)")
    parser.add_argument("--warmup", type=int, default=200, help="requests per operation first, not counted (200)")
    parser.add_argument("--only", action="append", default=[], metavar="OPERATION")
    parser.add_argument(
        "--no-calibration", action="store_true", help="skip the Django-free baseline measured with the same client"
    )
    parser.add_argument("--json", dest="json_path", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.url:
        host = urlsplit(args.url).hostname or ""
        if urlsplit(args.url).scheme != "http" or not bench.is_loopback_host(host):
            print(f"error: refusing {args.url}: the load harness only targets http:// on loopback "
                  "(localhost, 127.0.0.0/8, ::1)", file=sys.stderr)  # fmt: skip
            return 2
    if min(args.concurrency, args.requests, args.processes) < 1 or args.duration <= 0:
        parser.error("--concurrency, --requests, --processes and --duration must be positive")

    bench.setup()
    from suite.ops import heartbeat

    heartbeat.start()  # this process beats like a worker would, so /healthz answers 200 as in production
    heartbeat.beat_once()
    operations = default_operations()
    if args.only:
        unknown = set(args.only) - {op.name for op in operations}
        if unknown:
            parser.error(f"unknown operation(s) {sorted(unknown)}; known: {[op.name for op in operations]}")
        operations = [op for op in operations if op.name in args.only]

    load = {
        "concurrency": args.concurrency,
        "processes": args.processes,
        "requests": args.requests,
        "duration": args.duration,
    }
    calibration = None
    if not args.url and not args.no_calibration:
        with gunicorn(args.workers, app="bench._calibration:application") as (base_url, _log):
            op = Operation("calibration", "/", note="a 12-byte WSGI app, no Django: this client's ceiling here")
            run_operation(base_url, op, **{**load, "requests": args.warmup, "duration": 30.0}, warmup=0)
            calibration = run_operation(base_url, op, warmup=0, **load)
    server = contextlib.nullcontext((args.url.rstrip("/"), None)) if args.url else gunicorn(args.workers)
    results = [calibration] if calibration else []
    with server as (base_url, log_path):
        where = f"gunicorn, {args.workers} sync workers" if log_path else base_url
        print(
            f"target {where}; {args.concurrency} connections in {args.processes} client processes; "
            f"per operation ≤ {args.requests} requests or ≤ {args.duration:g} s after {args.warmup} warm-up",
            flush=True,
        )
        for op in operations:
            # Warm-up first, off the clock: each gunicorn worker loads templates, translations and
            # connections on its first requests (seconds on a busy machine).
            run_operation(
                base_url,
                op,
                concurrency=args.concurrency,
                processes=args.processes,
                requests=args.warmup,
                duration=max(30.0, args.duration),
                warmup=0,
            )
            results.append(
                run_operation(base_url, op, concurrency=args.concurrency, processes=args.processes,
                              requests=args.requests, duration=args.duration, warmup=0)
            )  # fmt: skip
    in_process = service_times(operations) if not args.url else {}
    rows = []
    for r in results:
        ceiling = bench.CEILINGS[r.operation.ceiling]
        versus_here = f"{r.requests_per_second / calibration.requests_per_second:.0%}" if calibration else "–"
        alone = in_process.get(r.operation.name)
        rows.append([
            r.operation.name, len(r.latencies), r.errors, f"{r.requests_per_second:,.0f}",
            f"{r.pct_ms(0.50):.1f}", f"{r.pct_ms(0.95):.1f}", f"{r.pct_ms(0.99):.1f}",
            f"{r.requests_per_second / ceiling:.0%} of {r.operation.ceiling} ({ceiling:,.0f}/s)", versus_here,
            f"{alone[0]:.2f} ms, {alone[1]} queries" if alone else "–",
        ])  # fmt: skip
    bench.print_table(
        [
            "operation",
            "ok",
            "errors",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "vs ceiling",
            "vs calibration",
            "one at a time, in-process",
        ],
        rows,
    )
    for r in results:
        if r.errors:
            print(f"  {r.operation.name}: statuses {dict(sorted(r.statuses.items()))} (0 = connection error)")
    if args.json_path:
        Path(args.json_path).write_text(
            json.dumps(
                [
                    {
                        "operation": r.operation.name,
                        "path": r.operation.path,
                        "ok": len(r.latencies),
                        "errors": r.errors,
                        "statuses": r.statuses,
                        "seconds": round(r.seconds, 3),
                        "requests_per_second": round(r.requests_per_second, 1),
                        "p50_ms": round(r.pct_ms(0.50), 2),
                        "p95_ms": round(r.pct_ms(0.95), 2),
                        "p99_ms": round(r.pct_ms(0.99), 2),
                        "ceiling": r.operation.ceiling,
                        "in_process_ms": in_process.get(r.operation.name, (None, None))[0],
                        "queries": in_process.get(r.operation.name, (None, None))[1],
                    }
                    for r in results
                ],
                indent=2,
            )
        )
    return 1 if any(r.errors for r in results) else 0
