"""gunicorn settings used by `make run`; production may pass its own."""

import os

from prometheus_client import multiprocess

# Two sync workers beat threads on 2 cores (PERFORMANCE-NOTES.md); WEB_WORKERS overrides.
worker_class = "sync"
timeout = 60
graceful_timeout = 10
keepalive = 5


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
