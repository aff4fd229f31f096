"""Outbox throughput and lag through a real Celery worker (``python -m bench outbox``).

Measured on the bench database (see ``bench/__init__.py``) with ``celery worker --concurrency 2``, in three
scenarios (``--scenario`` picks one; default all):

* **drain**: ``--events`` events are published while no worker runs (``publish_many``, 500 per transaction);
  then the worker starts, and events / (last ``delivered_at`` − worker ready) is what the relay does flat out;
* **live-bulk**: the worker runs while events are published at ``--rate`` events/s (2,000) in transactions of
  500 written with ``publish_many`` (a bulk import); lag = ``delivered_at − created_at``, p50/p95/p99;
* **live-single**: the same load from 2 threads, each ``publish`` call its own INSERT, 10 events per
  transaction (many small business transactions, like web requests). An event's lag includes the time its
  own transaction stays open after publishing it.

Every event goes through two handlers: ``bench.noop`` (no work: the relay's own cost per event) and the
platform's webhook fan-out (one query per batch). Target on 2 cores: ≥ 2,000 events/s, lag p95 < 1 s. The
last column checks that every event was delivered and handled exactly once (one ``HandlerRun`` each).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import bench
from bench.outbox_handlers import BENCH_EVENT

TARGET_RATE = 2000.0
TARGET_LAG_P95 = 1.0


@dataclass(frozen=True)
class Scenario:
    name: str
    live: bool  # the worker runs while events are published
    bulk: bool  # publish_many (one INSERT per transaction) or publish (one per event)
    batch: int  # events per transaction
    producers: int  # publishing threads

    def describe(self, rate: float) -> str:
        how = "publish_many" if self.bulk else "publish"
        offered = f"{rate:,.0f}/s offered" if self.live and rate > 0 else "flat out"
        return f"{how}, {self.batch}/txn, {self.producers} thread(s), {offered}"


SCENARIOS = {
    "drain": Scenario("drain", live=False, bulk=True, batch=500, producers=1),
    "live-bulk": Scenario("live-bulk", live=True, bulk=True, batch=500, producers=1),
    "live-single": Scenario("live-single", live=True, bulk=False, batch=10, producers=2),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench outbox", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20000, help="events per scenario (default 20000)")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="live: events/s offered (0 = flat out)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--relay-batch", type=int, default=500, help="events the relay claims at once")
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    return parser


class Worker:
    def __init__(self, args, directory: Path) -> None:
        self.args = args
        self.directory = directory
        self.process: subprocess.Popen | None = None
        self.ready_at = 0.0

    def start(self) -> float:
        from django.conf import settings

        ready = self.directory / "ready"
        ready.unlink(missing_ok=True)
        env = bench.bench_env()
        env.update(
            TROIKA_EXTRA_EVENT_MODULES="bench.outbox_handlers",
            TROIKA_OUTBOX_BATCH_SIZE=str(self.args.relay_batch),
            TROIKA_WORKER_READY_FILE=str(ready),
            CELERY_SKIP_CHECKS="1",
            LOG_LEVEL="WARNING",
            PYTHONPATH=str(settings.BASE_DIR),
        )
        command = [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "suite",
            "worker",
            "--concurrency",
            str(self.args.concurrency),
            "--queues",
            settings.CELERY_TASK_DEFAULT_QUEUE,
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
            "--hostname",
            f"bench-{os.getpid()}@%h",
        ]
        log = open(self.directory / "worker.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            command, env=env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the Celery worker did not start:\n" + (self.directory / "worker.log").read_text())
            time.sleep(0.02)
        self.ready_at = time.time()
        return self.ready_at

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _reset() -> None:
    """Forget earlier bench events and tasks: an empty queue, no relay flag, no bench rows."""
    from django.conf import settings
    from django.db import connection

    from suite.celery import app
    from suite.events.outbox import clear_relay_flag

    with app.connection_for_write() as conn, contextlib.suppress(Exception):
        conn.default_channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE)
    clear_relay_flag()
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM suite_handlerrun WHERE event_id IN (SELECT id FROM suite_outboxevent WHERE name = %s)",
            [BENCH_EVENT],
        )
        cursor.execute(
            "DELETE FROM suite_webhookdelivery WHERE event_id IN (SELECT id FROM suite_outboxevent WHERE name = %s)",
            [BENCH_EVENT],
        )
        cursor.execute("DELETE FROM suite_outboxevent WHERE name = %s", [BENCH_EVENT])
    connection.close()
    import psycopg

    with psycopg.connect(bench.bench_database_url().replace("postgres://", "postgresql://", 1), autocommit=True) as c:
        c.execute("VACUUM ANALYZE suite_outboxevent, suite_handlerrun")


def _company_id() -> int | None:
    from suite.models import Company

    return Company.objects.order_by("id").values_list("id", flat=True).first()


def _publish(total: int, batch: int, rate: float, company_id: int | None, *, producers: int, bulk: bool):
    """Publish ``total`` events from ``producers`` threads (each its own connection, like web workers), ``batch``
    per transaction, paced to ``rate`` events/s in all (0 = flat out). Returns (start, end, first event id)."""
    from django.db import connection, transaction

    from suite import events

    shares = [total // producers + (1 if i < total % producers else 0) for i in range(producers)]
    first_ids: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(producers + 1)

    def produce(share: int) -> None:
        try:
            barrier.wait()
            started = time.time()
            sent = 0
            while sent < share:
                size = min(batch, share - sent)
                with transaction.atomic():
                    if bulk:
                        published = events.publish_many(
                            [(BENCH_EVENT, {"n": sent + i}) for i in range(size)], company_id=company_id
                        )
                    else:
                        published = [
                            events.publish(BENCH_EVENT, {"n": sent + i}, company_id=company_id) for i in range(size)
                        ]
                if sent == 0:
                    first_ids.append(published[0].id)
                sent += size
                if rate > 0:
                    pause = started + sent / (rate / producers) - time.time()
                    if pause > 0:
                        time.sleep(pause)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=produce, args=(share,)) for share in shares if share]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.time()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return started, time.time(), min(first_ids)


def _wait_delivered(first_id: int, total: int, timeout: float) -> None:
    from django.db import connection

    deadline = time.monotonic() + timeout
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM suite_outboxevent WHERE state = 'pending' AND id >= %s AND name = %s",
                [first_id, BENCH_EVENT],
            )
            pending = cursor.fetchone()[0]
        if pending == 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out with {pending} of {total} events still pending")
        time.sleep(0.1)


def _figures(first_id: int) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE state = 'done'),
                   extract(epoch FROM min(created_at)), extract(epoch FROM max(delivered_at)),
                   percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
                       ORDER BY extract(epoch FROM delivered_at - created_at)),
                   max(extract(epoch FROM delivered_at - created_at))
              FROM suite_outboxevent WHERE id >= %s AND name = %s
            """,
            [first_id, BENCH_EVENT],
        )
        count, done, first_created, last_delivered, (p50, p95, p99), lag_max = cursor.fetchone()
        cursor.execute(
            """
            SELECT count(*), count(DISTINCT (event_id, handler)) FROM suite_handlerrun
             WHERE event_id >= %s AND handler = 'bench.noop'
            """,
            [first_id],
        )
        runs, distinct_runs = cursor.fetchone()
    return {
        "count": count,
        "done": done,
        "first_created": float(first_created),
        "last_delivered": float(last_delivered),
        "lag": (float(p50), float(p95), float(p99), float(lag_max)),
        "runs": runs,
        "distinct_runs": distinct_runs,
    }


def _run(args, scenario: Scenario, worker: Worker, company_id) -> dict:
    _reset()
    rate = args.rate if scenario.live else 0
    if scenario.live:
        worker.start()
    publish_start, publish_end, first_id = _publish(
        args.events, scenario.batch, rate, company_id, producers=scenario.producers, bulk=scenario.bulk
    )
    started = publish_start if scenario.live else worker.start()
    _wait_delivered(first_id, args.events, args.timeout)
    worker.stop()
    figures = _figures(first_id)
    seconds = figures["last_delivered"] - started
    figures.update(publish_rate=args.events / (publish_end - publish_start), rate=args.events / seconds)
    return figures


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    bench.setup(seed=False)
    company_id = _company_id()
    chosen = list(SCENARIOS.values()) if args.scenario == "all" else [SCENARIOS[args.scenario]]
    results = {}
    with tempfile.TemporaryDirectory(prefix="troika-bench-outbox-") as directory:
        worker = Worker(args, Path(directory))
        try:
            for scenario in chosen:
                results[scenario.name] = _run(args, scenario, worker, company_id)
        finally:
            worker.stop()
    noop_ceiling = bench.CEILINGS["celery_noop"]
    rows = []
    status = 0
    for scenario in chosen:
        figures = results[scenario.name]
        p50, p95, p99, lag_max = figures["lag"]
        exactly_once = figures["done"] == figures["count"] == figures["runs"] == figures["distinct_runs"]
        status = status or (0 if exactly_once else 1)
        rows.append(
            [
                scenario.name,
                scenario.describe(args.rate),
                f"{figures['count']:,}",
                f"{figures['publish_rate']:,.0f}/s",
                f"{figures['rate']:,.0f}/s",
                f"{figures['rate'] / noop_ceiling:.2f}×",
                *(f"{value:.3f}" if scenario.live else "—" for value in (p50, p95, p99, lag_max)),
                "yes" if exactly_once else "NO",
            ]
        )
    bench.print_table(
        [
            "scenario",
            "publishing",
            "events",
            "published",
            "relayed",
            "vs Celery no-op",
            "lag p50 s",
            "lag p95 s",
            "lag p99 s",
            "lag max s",
            "each once",
        ],
        rows,
    )
    print(
        f"celery worker --concurrency {args.concurrency}, relay batches of {args.relay_batch}; Celery no-op "
        f"ceiling {noop_ceiling:,.0f} tasks/s (PERFORMANCE-NOTES.md); target ≥ {TARGET_RATE:,.0f} events/s "
        f"relayed and lag p95 < {TARGET_LAG_P95:.0f} s",
        flush=True,
    )
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
