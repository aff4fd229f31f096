"""Celery tasks of the event backbone: the relay, the outbox clean-up, webhook deliveries.

Tasks fetch by id and call a service or the relay; they hold no logic of their own.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from .outbox import clear_relay_flag, request_relay
from .relay import relay as relay_events

logger = logging.getLogger(__name__)

# Retries due sooner than this are scheduled as a delayed relay; later ones are picked up by beat's relay.
_SCHEDULE_RETRIES_WITHIN = 120.0


# The relay opens a pghistory context per handler run (event, handler, user), not one for the whole task.
@shared_task(name="suite.events.relay", ignore_result=True, troika_audit_context=False)
def relay() -> dict:
    """Deliver every due outbox event (woken by publish after commit, by beat every second, and after a
    failure's backoff)."""
    clear_relay_flag()  # before claiming: an event committed from now on wakes another relay or is seen here
    # a backlog wakes one more relay (debounced), at once
    result = relay_events(on_full_batch=lambda: request_relay(linger=0))
    if result.more:
        request_relay(linger=0)
    if result.next_retry_at is not None:
        delay = max(0.0, (result.next_retry_at - timezone.now()).total_seconds())
        if delay <= _SCHEDULE_RETRIES_WITHIN:
            relay.apply_async(countdown=delay + 0.05, expires=delay + 300)
    if result.claimed:
        logger.info(
            "outbox relay: %s events in %s batches (%s done, %s retrying, %s dead) in %.3fs",
            result.claimed,
            result.batches,
            result.done,
            result.retrying,
            result.dead,
            result.seconds,
        )
    return {"claimed": result.claimed, "done": result.done, "retrying": result.retrying, "dead": result.dead}


@shared_task(name="suite.events.prune", ignore_result=True)
def prune() -> int:
    """Delete delivered events older than ``TROIKA_OUTBOX_RETENTION_DAYS`` (dead letters stay)."""
    from suite.services.events import outbox_prune

    return outbox_prune()


@shared_task(name="suite.webhooks.deliver", ignore_result=True)
def webhook_deliver(delivery_id: int) -> None:
    """Send one webhook delivery (if it is due and not sent yet)."""
    from suite.services.webhooks import webhook_delivery_attempt

    webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(name="suite.webhooks.sweep", ignore_result=True)
def webhook_sweep() -> int:
    """Queue webhook deliveries whose retry is overdue (their delayed task was lost with a worker)."""
    from suite.services.webhooks import webhook_deliveries_requeue_overdue

    return webhook_deliveries_requeue_overdue()
