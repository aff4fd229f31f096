"""Polling channels from a stored cursor, with backoff on rate limits and errors.

Order of work per poll: fetch after the stored cursor → store the items (dedupe on (channel, external id)) →
advance the cursor. A crash between the last two steps re-fetches the same items on the next poll and the
dedupe drops them: no gap (the cursor never moves past unsaved items) and no duplicate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from scrm.channels import RateLimited, connector_for
from scrm.models import Channel, ChannelCursor, Delivery
from suite import net

from .channels import channel_update, deliveries_record

logger = logging.getLogger(__name__)
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
POLLING_KINDS = ("simulator", "weibo", "xiaohongshu")


@dataclass
class PollResult:
    fetched: int = 0
    stored: int = 0
    cursor: str = ""
    skipped: str = ""  # why nothing was polled: "backoff", "inactive", "locked"


def poll_fetch_and_store(*, channel: Channel, cursor: str) -> tuple[int, int, str]:
    """Fetch the items after ``cursor`` and store them; the cursor is NOT advanced here. Returns
    (fetched, newly stored, next cursor). Saves refreshed platform tokens (``channel_update``)."""
    connector = connector_for(channel)
    items, next_cursor = connector.poll(cursor)
    if getattr(connector, "credentials_changed", False):
        channel_update(channel=channel, credentials=connector.credentials)
    stored = deliveries_record(channel=channel, events=items)
    return len(items), stored, next_cursor


def _backoff(cursor: ChannelCursor, seconds: int, error: str) -> None:
    cursor.failures += 1
    cursor.backoff_until = timezone.now() + timedelta(seconds=seconds)
    cursor.last_error = error[:500]
    cursor.save(update_fields=["failures", "backoff_until", "last_error"])


def channel_poll(*, channel_id: int) -> PollResult:
    """Poll one channel once. Locks its cursor row (``NOWAIT``-free ``SKIP LOCKED``: a second concurrent poll
    of the same channel does nothing); on ``RateLimited`` waits at least the platform's ``retry_after``, on
    other errors backs off 30 s × 2ⁿ (≤ 1 h). Publishes nothing (the inbox pipeline does)."""
    channel = Channel.objects.filter(pk=channel_id, is_active=True).first()
    if channel is None:
        return PollResult(skipped="inactive")
    ChannelCursor.objects.get_or_create(channel=channel)
    with transaction.atomic():
        cursor = ChannelCursor.objects.select_for_update(skip_locked=True).filter(channel=channel).first()
        if cursor is None:
            return PollResult(skipped="locked")
        if cursor.backoff_until and cursor.backoff_until > timezone.now():
            return PollResult(cursor=cursor.cursor, skipped="backoff")
        try:
            fetched, stored, next_cursor = poll_fetch_and_store(channel=channel, cursor=cursor.cursor)
        except RateLimited as exc:
            backoff = max(exc.retry_after, min(BACKOFF_BASE_SECONDS * 2**cursor.failures, BACKOFF_MAX_SECONDS))
            _backoff(cursor, backoff, str(exc))
            return PollResult(cursor=cursor.cursor, skipped="backoff")
        except (net.OutboundError, net.UnsafeURL, ValueError, KeyError, OSError) as exc:
            logger.warning("poll of channel %s failed: %s", channel_id, exc)
            _backoff(cursor, min(BACKOFF_BASE_SECONDS * 2**cursor.failures, BACKOFF_MAX_SECONDS), str(exc))
            return PollResult(cursor=cursor.cursor, skipped="error")
        except Exception as exc:  # the platform's own API errors (WeiboApiError …)
            logger.warning("poll of channel %s failed: %s", channel_id, exc)
            _backoff(cursor, min(BACKOFF_BASE_SECONDS * 2**cursor.failures, BACKOFF_MAX_SECONDS), str(exc))
            return PollResult(cursor=cursor.cursor, skipped="error")
        cursor.cursor = next_cursor
        cursor.failures = 0
        cursor.backoff_until = None
        cursor.last_error = ""
        cursor.polled_at = timezone.now()
        cursor.save(update_fields=["cursor", "failures", "backoff_until", "last_error", "polled_at"])
    return PollResult(fetched=fetched, stored=stored, cursor=next_cursor)


def channels_due_for_poll() -> list[int]:
    """Active polling channels whose cursor is not in backoff."""
    now = timezone.now()
    return list(
        Channel.objects.filter(is_active=True, kind__in=POLLING_KINDS)
        .filter(Q(cursor__isnull=True) | Q(cursor__backoff_until__isnull=True) | Q(cursor__backoff_until__lte=now))
        .values_list("pk", flat=True)
    )


def channels_with_pending_deliveries() -> list[int]:
    """Channels with deliveries a lost task left unprocessed (received more than a minute ago)."""
    cutoff = timezone.now() - timedelta(minutes=1)
    return list(
        Delivery.objects.filter(processed_at__isnull=True, received_at__lt=cutoff)
        .values_list("channel_id", flat=True)
        .distinct()
    )
