"""Who handles which event: the ``@handler`` decorator, the registry it fills, and the ``Event`` handlers get.

Imports nothing from the models, so an app's ``events.py`` can be imported at any time.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from suite.modules import module_of

# <app>.<entity>.<past-tense verb>, lower case; more dotted parts are allowed (erp.stock.move.posted).
EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){2,}$")
# What a handler or a webhook subscribes to: an event name, "*", or a prefix such as "crm.*" or "erp.stock.*".
EVENT_PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$")


@dataclass(frozen=True)
class Event:
    """An event as a handler receives it (a committed ``OutboxEvent`` row, read-only)."""

    id: int
    uuid: uuid.UUID
    name: str
    version: int
    payload: dict[str, Any]
    company_id: int | None
    correlation_id: uuid.UUID
    created_at: datetime
    created_by_id: int | None = None
    attempts: int = 0


@dataclass(frozen=True)
class Subscription:
    """A registered handler: ``name`` is its stable identity (the key of its ``HandlerRun`` records)."""

    name: str
    pattern: str
    func: Callable[..., None]
    batch: bool = False
    origin: str = field(default="", compare=False)
    # The module the handler belongs to (suite.modules): idle for companies that have not enabled it.
    module: str | None = field(default=None, compare=False)


_handlers: dict[str, Subscription] = {}
_by_event_name: dict[str, tuple[Subscription, ...]] = {}

# The event whose handler is running now: an event published while handling it inherits its correlation id.
current_event: contextvars.ContextVar[Event | None] = contextvars.ContextVar("troika_current_event", default=None)


def current_correlation_id() -> uuid.UUID | None:
    """The correlation id of the event being handled now (None outside a handler): a record a handler creates can
    keep it, so later events about that record join the same chain (``publish(..., correlation_id=...)``)."""
    parent = current_event.get()
    return parent.correlation_id if parent is not None else None


def pattern_matches(pattern: str, event_name: str) -> bool:
    """``"*"`` matches everything, ``"crm.*"`` every name starting with ``crm.``, anything else itself."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_name.startswith(pattern[:-1])
    return pattern == event_name


def handler(pattern: str, *, name: str | None = None, batch: bool = False, module: str | None = None) -> Callable:
    """Register the decorated function as a handler of the events matching ``pattern``.

    ``name`` is the handler's permanent identity (default: ``module.function``): its ``HandlerRun`` records are
    keyed by it, so renaming a handler makes it process already-handled events again. A handler must be
    idempotent and must only write to the database (send e-mail, HTTP, tasks through ``transaction.on_commit``):
    it runs in a savepoint that is rolled back if it raises, and may run again after a crash.

    ``batch=True``: the function receives a list of events (all of one relay batch that match) and is called
    once per batch; if it raises, it is called again for each event alone so one bad event does not hold back
    the others. Use it where one query per batch replaces one per event (webhook fan-out).

    ``module``: the module package (``suite.modules``, e.g. ``"erp_supply"``) the handler belongs to; default:
    derived from the function's Python module (``crm.*`` → crm, ``erp.events_hr`` → erp_hr, platform → none).
    For a company that has not enabled it the relay does not call the handler and records the run as skipped.
    """
    if not EVENT_PATTERN.match(pattern):
        raise ImproperlyConfigured(f"{pattern!r} is not an event name or pattern such as 'crm.*'")

    def decorate(func: Callable) -> Callable:
        handler_name = name or f"{func.__module__}.{func.__qualname__}"
        origin = f"{func.__module__}.{func.__qualname__}"
        existing = _handlers.get(handler_name)
        if existing is not None and existing.origin != origin:
            raise ImproperlyConfigured(
                f"event handler name {handler_name!r} is used by {existing.origin} and {origin}; names must be unique"
            )
        owner = module if module is not None else module_of(func.__module__)
        _handlers[handler_name] = Subscription(handler_name, pattern, func, batch, origin, owner)
        _by_event_name.clear()
        return func

    return decorate


def subscribers(event_name: str) -> tuple[Subscription, ...]:
    """The handlers of ``event_name``, in registration order (memoised per name)."""
    found = _by_event_name.get(event_name)
    if found is None:
        found = tuple(s for s in _handlers.values() if pattern_matches(s.pattern, event_name))
        _by_event_name[event_name] = found
    return found


def registered_handlers() -> dict[str, Subscription]:
    return dict(_handlers)
