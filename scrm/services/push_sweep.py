"""Pushes stuck in "sending" after a worker died.

A recipient is ``sending`` between its reservation (committed) and the record of the platform's answer. A worker
killed in between leaves it there for good, and a campaign whose batch task was lost stops with recipients
still ``queued``. The beat sweep (``scrm.push_sends_sweep``) puts recipients ``sending`` for longer than the lease
(``SCRM_PUSH_SEND_LEASE_SECONDS``, default 300 s, far above the 10 s send timeout) back to ``queued`` and
re-queues a batch of every sending campaign that made no progress within the lease.

One send per recipient: a recipient is one ``PushMessage`` row, UNIQUE on (campaign, identity); a batch only
sends a row it moved ``queued`` → ``sending`` itself under ``SELECT … FOR UPDATE SKIP LOCKED``, and a row
``sent`` never goes back. The sweep only touches rows ``sending`` past the lease (conditional UPDATE).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from scrm.models import PushCampaign, PushCampaignStatus, PushMessage, PushMessageStatus

DEFAULT_LEASE_SECONDS = 300


def lease_seconds() -> int:
    return int(getattr(settings, "SCRM_PUSH_SEND_LEASE_SECONDS", DEFAULT_LEASE_SECONDS))


def push_sends_sweep(*, now: datetime | None = None, lease: int | None = None) -> list[int]:
    """Re-queue recipients ``sending`` longer than the lease; return the sending campaigns needing a batch."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=lease if lease is not None else lease_seconds())
    with transaction.atomic():
        stale = list(
            PushMessage.objects.select_for_update(skip_locked=True)
            .filter(
                status=PushMessageStatus.SENDING,
                reserved_at__lt=cutoff,
                campaign__status=PushCampaignStatus.SENDING,
            )
            .values_list("pk", "campaign_id")[:5000]
        )
        if stale:
            PushMessage.objects.filter(
                pk__in=[pk for pk, _c in stale], status=PushMessageStatus.SENDING, reserved_at__lt=cutoff
            ).update(status=PushMessageStatus.QUEUED, reserved_at=None)
    recent = PushMessage.objects.filter(campaign=OuterRef("pk"), reserved_at__gte=cutoff)
    queued = PushMessage.objects.filter(campaign=OuterRef("pk"), status=PushMessageStatus.QUEUED)
    idle = PushCampaign.objects.filter(status=PushCampaignStatus.SENDING, started_at__lt=cutoff).filter(
        Exists(queued), ~Exists(recent)
    )
    return sorted({campaign_id for _pk, campaign_id in stale} | set(idle.values_list("pk", flat=True)))
