"""Process-wide hooks: the audit context of Celery tasks, and the worker's "ready" mark for supervisors.

Every task runs inside ``suite.audit.worker_context(task name)``, so history rows written by a task say
``source: worker`` and which task. A task declared with ``troika_audit_context=False`` opens finer contexts
itself (the outbox relay: one per handler run). The request-id contextvar is set to the task id by
``suite.ops.heartbeat``'s own prerun hook.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import signals

from suite.audit import worker_context

_open_contexts: dict[str, object] = {}


@signals.task_prerun.connect(dispatch_uid="suite.audit.task_prerun")
def _enter_audit_context(task_id=None, task=None, **_kwargs) -> None:
    if task is None or not getattr(task, "troika_audit_context", True):
        return
    context = worker_context(task.name)
    context.__enter__()
    _open_contexts[task_id] = context


@signals.task_postrun.connect(dispatch_uid="suite.audit.task_postrun")
def _exit_audit_context(task_id=None, **_kwargs) -> None:
    context = _open_contexts.pop(task_id, None)
    if context is not None:
        context.__exit__(None, None, None)


@signals.worker_ready.connect(dispatch_uid="suite.worker_ready_file")
def _mark_ready(**_kwargs) -> None:
    # TROIKA_WORKER_READY_FILE: a path the worker touches once it consumes its queue (tests wait for it).
    path = os.environ.get("TROIKA_WORKER_READY_FILE")
    if path:
        Path(path).write_text(str(os.getpid()))
