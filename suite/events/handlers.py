"""The platform's own event handlers (loaded by ``SuiteConfig.ready``)."""

from __future__ import annotations

from .registry import Event, handler


@handler("*", name="suite.webhooks.fan_out", batch=True)
def webhooks_fan_out(events: list[Event]) -> None:
    """Every event of a company goes to that company's matching webhook subscriptions (one query per batch)."""
    from suite.services.webhooks import webhook_fan_out

    webhook_fan_out(events=events)
