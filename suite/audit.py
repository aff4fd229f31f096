"""Audit trail: who changed which business record, when, what (field old → new) and from where.

Recording is done by PostgreSQL triggers installed by django-pghistory, so ``queryset.update()``, bulk writes
and raw SQL are recorded as well as ``save()``; nothing in Python can bypass it. This module adds the context
every row carries (user, source ``ui``/``api``/``admin``/``worker``, url, request id) and the one read that
pages and admin use to show a record's history.

A business model opts in with ``@audited`` (insert, update and delete events).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pghistory
import pghistory.middleware
import pghistory.models
from django.db.models import Model

from suite.ops.logging import current_request_id


def audited(model: type[Model] | None = None, *, exclude: Iterable[str] = ()):
    """Class decorator: track inserts, updates and deletes of ``model`` by trigger.

    ``@audited`` or ``@audited(exclude=["key_hash"])``: excluded fields are neither copied into the history table
    nor do changes to them alone make an event (secrets, hashes, "last seen" timestamps).
    """

    def decorate(model_class: type[Model]) -> type[Model]:
        return pghistory.track(
            pghistory.InsertEvent(),
            pghistory.UpdateEvent(),
            pghistory.DeleteEvent(),
            exclude=list(exclude) or None,
        )(model_class)

    return decorate(model) if model is not None else decorate


def source_of(path: str) -> str:
    if path.startswith("/admin/"):
        return "admin"
    if path.startswith("/api/"):
        return "api"
    return "ui"


class AuditContextMiddleware(pghistory.middleware.HistoryMiddleware):
    """pghistory's middleware with where the change came from and the request id."""

    def get_context(self, request):
        context = super().get_context(request)
        context["source"] = source_of(request.path)
        context["request_id"] = current_request_id()
        return context


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    label: str  # insert / update / delete
    user_id: int | None
    username: str
    source: str
    changes: dict[str, tuple[object, object]]


def history_of(obj: Model, *, limit: int = 200) -> list[HistoryEntry]:
    """The changes of one record, newest first, with the field diffs and their context."""
    from django.contrib.auth import get_user_model

    events = pghistory.models.Events.objects.tracks(obj).order_by("-pgh_created_at", "-pgh_id")[:limit]
    entries = []
    user_ids = set()
    for event in events:
        metadata = event.pgh_context or {}  # the aggregate Events view carries the context as JSON
        user_ids.add(metadata.get("user"))
        entries.append((event, metadata))
    users = dict(get_user_model().objects.filter(pk__in=[u for u in user_ids if u]).values_list("pk", "username"))
    result = []
    for event, metadata in entries:
        diff = event.pgh_diff or {}
        if not diff and event.pgh_label in ("insert", "delete"):
            # the first and the last snapshot have no previous/next row to diff with: show every value
            data = {name: value for name, value in (event.pgh_data or {}).items() if name != "id"}
            inserted = event.pgh_label == "insert"
            diff = {name: (None, value) if inserted else (value, None) for name, value in data.items()}
        result.append(
            HistoryEntry(
                at=event.pgh_created_at,
                label=event.pgh_label,
                user_id=metadata.get("user"),
                username=users.get(metadata.get("user"), ""),
                source=metadata.get("source", "database"),
                changes={name: (old_new[0], old_new[1]) for name, old_new in diff.items()},
            )
        )
    return result


def worker_context(task_name: str):
    """The audit context for a Celery task (entered by suite.celery signals)."""
    return pghistory.context(source="worker", task=task_name)
