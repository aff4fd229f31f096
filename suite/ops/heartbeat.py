"""Worker liveness and task counts, kept in Redis so the web processes can report them.

Imported by ``suite/celery.py``, so every Celery process (the main worker process and each pool child)
connects these signal handlers:

- a daemon thread per process refreshes the process's member of a Redis sorted set every
  ``HEARTBEAT_INTERVAL`` seconds (score = Redis server time, so clocks of other hosts do not matter);
  ``/healthz`` passes its worker check when a member is younger than ``HEARTBEAT_MAX_AGE``;
- ``task_success`` / ``task_failure`` / ``task_retry`` are counted per task name in the process and added to a
  Redis hash by the same thread about once a second (one round trip per second, not one per task);
  ``/metrics`` exports the hash as ``troika_celery_tasks_total{task, state}``.

This module is imported while Django's settings are still loading (``suite/__init__`` imports the Celery app):
only the standard library and ``celery.signals`` are imported at module level.
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import threading
import time

from celery import shared_task, signals

HEARTBEAT_INTERVAL = 15.0
HEARTBEAT_MAX_AGE = 60.0
FLUSH_INTERVAL = 1.0
_FORGET_AFTER = 3600  # members older than this are pruned from the set

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_pending_counts: collections.Counter[tuple[str, str]] = collections.Counter()
_thread_pid: int | None = None
_client = None
_client_key: tuple[int, str] | None = None


# --------------------------------------------------------------------------- Redis keys and client


def _namespace() -> str:
    from django.conf import settings

    return settings.CACHES["default"].get("KEY_PREFIX") or "troika"


def heartbeat_key() -> str:
    return f"{_namespace()}:ops:worker-heartbeats"


def task_counts_key() -> str:
    return f"{_namespace()}:ops:celery-task-counts"


def redis_client():
    """A Redis client for this process and ``settings.REDIS_URL`` (recreated after a fork or a settings change),
    with short timeouts: an ops probe must answer, not hang."""
    global _client, _client_key
    from django.conf import settings

    key = (os.getpid(), settings.REDIS_URL)
    if _client is None or _client_key != key:
        import redis

        _client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30
        )
        _client_key = key
    return _client


def redis_now(client) -> float:
    seconds, microseconds = client.time()
    return seconds + microseconds / 1_000_000


def process_member() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --------------------------------------------------------------------------- heartbeats


def beat_once(*, member: str | None = None) -> float:
    """Record that this process (or ``member``) is alive now; return the Redis time written."""
    client = redis_client()
    now = redis_now(client)
    key = heartbeat_key()
    pipe = client.pipeline(transaction=False)
    pipe.zadd(key, {member or process_member(): now})
    pipe.zremrangebyscore(key, "-inf", now - _FORGET_AFTER)
    pipe.expire(key, _FORGET_AFTER)
    pipe.execute()
    return now


def forget(*, member: str | None = None) -> None:
    """Remove this process's heartbeat (on a clean shutdown, so health turns red at once, not a minute later)."""
    redis_client().zrem(heartbeat_key(), member or process_member())


class WorkerHealth:
    """What the heartbeat set says: how many processes beat within ``max_age`` and the newest beat's age."""

    def __init__(self, alive: int, newest_age: float | None) -> None:
        self.alive = alive
        self.newest_age = newest_age

    @property
    def ok(self) -> bool:
        return self.alive > 0


def worker_health(*, max_age: float = HEARTBEAT_MAX_AGE) -> WorkerHealth:
    """Read the heartbeat set in one round trip (Redis time and every member: a few per worker host)."""
    pipe = redis_client().pipeline(transaction=False)
    pipe.time()
    pipe.zrange(heartbeat_key(), 0, -1, withscores=True)
    (seconds, microseconds), members = pipe.execute()
    now = seconds + microseconds / 1_000_000
    alive = sum(1 for _member, score in members if score >= now - max_age)
    newest_age = max(0.0, now - max(score for _member, score in members)) if members else None
    return WorkerHealth(alive=alive, newest_age=newest_age)


# --------------------------------------------------------------------------- task counts


def count_task(task_name: str, state: str) -> None:
    """Count one finished task in this process; the heartbeat thread adds the counts to Redis."""
    with _lock:
        _pending_counts[(task_name, state)] += 1


def flush_task_counts() -> int:
    """Add this process's pending counts to the Redis hash; return how many tasks were flushed."""
    with _lock:
        if not _pending_counts:
            return 0
        counts = dict(_pending_counts)
        _pending_counts.clear()
    try:
        pipe = redis_client().pipeline(transaction=True)  # all or nothing: a retry after an error never doubles
        key = task_counts_key()
        for (task_name, state), n in counts.items():
            pipe.hincrby(key, f"{task_name}|{state}", n)
        pipe.execute()
    except Exception:
        with _lock:  # Redis is down: keep the counts for the next flush instead of losing them
            _pending_counts.update(counts)
        raise
    return sum(counts.values())


def task_counts() -> dict[tuple[str, str], int]:
    """All counts in Redis, as ``{(task_name, state): n}``."""
    raw = redis_client().hgetall(task_counts_key())
    result = {}
    for field, value in raw.items():
        task_name, _, state = field.decode().rpartition("|")
        result[(task_name, state)] = int(value)
    return result


# --------------------------------------------------------------------------- the thread and the signals


def _loop() -> None:
    next_beat = 0.0
    failures = 0
    while True:
        try:
            if time.monotonic() >= next_beat:
                beat_once()
                next_beat = time.monotonic() + HEARTBEAT_INTERVAL
            flush_task_counts()
            failures = 0
        except Exception as exc:
            failures += 1
            if failures in (1, 10) or failures % 300 == 0:
                logger.warning("worker heartbeat to Redis failed (%s failures in a row): %s", failures, exc)
        time.sleep(FLUSH_INTERVAL)


def _after_fork_in_child() -> None:
    # A child forked while the parent's heartbeat thread held the lock would otherwise inherit it locked;
    # the parent's pending counts are the parent's to flush.
    global _lock
    _lock = threading.Lock()
    _pending_counts.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def start() -> bool:
    """Start the heartbeat thread in this process unless it runs already; return True when started now."""
    global _thread_pid
    with _lock:
        if _thread_pid == os.getpid():
            return False
        _thread_pid = os.getpid()
    threading.Thread(target=_loop, name="troika-heartbeat", daemon=True).start()
    return True


@signals.worker_ready.connect
def _on_worker_ready(**_kwargs) -> None:
    start()


@signals.worker_process_init.connect
def _on_worker_process_init(**_kwargs) -> None:
    start()


@signals.worker_process_shutdown.connect
@signals.worker_shutdown.connect
def _on_shutdown(**_kwargs) -> None:
    try:
        flush_task_counts()
        forget()
    except Exception as exc:
        logger.warning("could not flush task counts or remove the heartbeat on shutdown: %s", exc)


def _task_name(sender) -> str:
    return getattr(sender, "name", None) or str(sender)


@signals.task_success.connect
def _on_task_success(sender=None, **_kwargs) -> None:
    count_task(_task_name(sender), "success")


@signals.task_failure.connect
def _on_task_failure(sender=None, **_kwargs) -> None:
    count_task(_task_name(sender), "failure")


@signals.task_retry.connect
def _on_task_retry(sender=None, **_kwargs) -> None:
    count_task(_task_name(sender), "retry")


@signals.task_prerun.connect
def _on_task_prerun(task_id=None, **_kwargs) -> None:
    # Log lines written while a task runs carry its id where web log lines carry the request id.
    from suite.ops.logging import set_request_id

    set_request_id(task_id or "")


@signals.task_postrun.connect
def _on_task_postrun(**_kwargs) -> None:
    from suite.ops.logging import set_request_id

    set_request_id("")


@shared_task(name="suite.ops.probe", bind=True, ignore_result=True, acks_late=True)
def probe(self, outcome: str = "success") -> str:
    """A task that proves a worker consumes its queue end to end (a heartbeat only proves it is alive).

    ``outcome``: ``success``; ``failure`` raises; ``retry`` retries once, then succeeds.
    """
    if outcome == "failure":
        raise RuntimeError("probe asked to fail")
    if outcome == "retry" and self.request.retries == 0:
        raise self.retry(countdown=0, max_retries=1)
    return "pong"
