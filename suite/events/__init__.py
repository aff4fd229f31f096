"""The event backbone: a transactional outbox relayed to handlers by Celery (docs/events.md).

    from suite import events

    # inside the transaction.atomic block of a service:
    events.publish("crm.opportunity.won", {"opportunity_id": 1}, company_id=company.id, by=user)

    # in an app's events.py:
    @events.handler("crm.opportunity.won", name="erp.create_sales_order")
    def create_sales_order(event: events.Event) -> None: ...

This package imports no models at import time, so any module may import it; the relay, the tasks and the
platform's own handlers are loaded by ``SuiteConfig.ready``.
"""

from importlib import import_module

from .outbox import publish, publish_many
from .registry import Event, current_correlation_id, handler, pattern_matches, registered_handlers, subscribers

__all__ = [
    "Event",
    "current_correlation_id",
    "handler",
    "pattern_matches",
    "publish",
    "publish_many",
    "registered_handlers",
    "selectors",
    "subscribers",
]


def __getattr__(name: str):
    # ``events.selectors.outbox_stats()`` without importing the models when this package is imported.
    if name == "selectors":
        return import_module(f"{__name__}.selectors")
    raise AttributeError(name)
