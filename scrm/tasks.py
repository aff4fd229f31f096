"""Celery tasks of SCRM: fetch by id, call a service, nothing else."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="scrm.deliveries_process", ignore_result=True)
def deliveries_process(channel_id: int) -> int:
    """Process the channel's pending deliveries in batches until none is left."""
    from scrm.services.inbox import deliveries_process as process

    total = 0
    while True:
        result = process(channel_id=channel_id)
        total += result.deliveries
        if result.deliveries == 0:
            return total


@shared_task(name="scrm.channel_poll", ignore_result=True)
def channel_poll(channel_id: int) -> int:
    """Poll one channel from its stored cursor."""
    from scrm.services.polling import channel_poll as poll

    return poll(channel_id=channel_id).stored


@shared_task(name="scrm.channels_poll_due", ignore_result=True)
def channels_poll_due() -> int:
    """Beat: queue a poll of every active polling channel not in backoff, and sweep pending deliveries."""
    from scrm.services.polling import channels_due_for_poll, channels_with_pending_deliveries

    due = channels_due_for_poll()
    for channel_id in due:
        channel_poll.delay(channel_id)
    for channel_id in channels_with_pending_deliveries():
        deliveries_process.delay(channel_id)
    return len(due)
