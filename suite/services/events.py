"""Writes on the outbox other than publishing: retrying dead letters, pruning delivered events."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from suite.events.outbox import request_relay
from suite.models.outbox import HandlerRun, OutboxEvent


@transaction.atomic
def event_retry(*, event: OutboxEvent, by=None) -> OutboxEvent:
    """Put a dead (or backing-off) event back in the queue, due now; its failed handlers get a fresh set of
    ``TROIKA_OUTBOX_MAX_ATTEMPTS`` tries. Handlers that already succeeded are not run again.

    Locks the event row (waits for a relay that is processing it). A delivered event is returned unchanged.
    Wakes the relay after commit.
    """
    locked = OutboxEvent.objects.select_for_update(of=("self",)).get(pk=event.pk)
    if locked.state == OutboxEvent.State.DONE:
        return locked
    HandlerRun.objects.filter(event=locked).exclude(
        status__in=[HandlerRun.Status.DONE, HandlerRun.Status.SKIPPED]
    ).update(status=HandlerRun.Status.FAILED, attempts=0)
    locked.state = OutboxEvent.State.PENDING
    locked.next_attempt_at = timezone.now()
    locked.save(update_fields=["state", "next_attempt_at"])
    transaction.on_commit(request_relay)
    return locked


def outbox_prune(*, older_than_days: int | None = None, chunk: int = 5000) -> int:
    """Delete delivered events created more than ``older_than_days`` (``TROIKA_OUTBOX_RETENTION_DAYS``) ago,
    with their handler runs and webhook deliveries, ``chunk`` events per transaction. Dead letters and pending
    events stay. Returns the number of events deleted.
    """
    days = settings.TROIKA_OUTBOX_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            # Oldest first through the primary key: old rows are at its start, so this never scans the table.
            cursor.execute(
                """
                WITH doomed AS (
                    SELECT id FROM suite_outboxevent
                     WHERE state = 'done' AND created_at < %s
                     ORDER BY id LIMIT %s
                       FOR UPDATE SKIP LOCKED
                ), runs AS (
                    DELETE FROM suite_handlerrun WHERE event_id IN (SELECT id FROM doomed)
                ), deliveries AS (
                    DELETE FROM suite_webhookdelivery WHERE event_id IN (SELECT id FROM doomed)
                )
                DELETE FROM suite_outboxevent WHERE id IN (SELECT id FROM doomed)
                """,
                [cutoff, chunk],
            )
            count = cursor.rowcount
        deleted += count
        if count < chunk:
            return deleted
