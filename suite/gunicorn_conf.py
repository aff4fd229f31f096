"""gunicorn settings used by `make run`; production may pass its own.

Logs: gunicorn's own lines are JSON like the application's. Its access log is off: the application writes one
JSON access line per request with the request id (``suite.ops.middleware``), so a request is logged once.
"""

import os

from prometheus_client import multiprocess

# Two sync workers beat threads on 2 cores (PERFORMANCE-NOTES.md); WEB_WORKERS overrides.
worker_class = "sync"
timeout = 60
graceful_timeout = 10
keepalive = 5
# gunicorn's runtime control socket (~/.gunicorn/gunicorn.ctl) would be shared by every gunicorn of the user
# (make run, make bench, tests); Troika does not use it.
control_socket_disable = True

_JSON = {
    "()": "pythonjsonlogger.json.JsonFormatter",
    "fmt": "%(levelname)s %(name)s %(message)s %(process)d",
    "timestamp": "time",
    "rename_fields": {"levelname": "level", "name": "logger", "process": "pid"},
}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": _JSON},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
}


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
