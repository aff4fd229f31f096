"""Calendar subscriptions (日程订阅): make, replace and stop a person's secret iCalendar address, and find the
subscription an address names.

The address carries ``<prefix>.<key>`` as ``suite.services.tokens`` does for API tokens: the prefix finds the row,
the key is compared in constant time with its stored SHA-256, and the key itself is never stored — it is in the
address shown once when made. A calendar app asks for the address every few minutes to hours, with no login: the
secret is the credential, as with the "secret address in iCal format" of other calendars.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from crm.models import CalendarFeed
from suite import modules
from suite.models import Membership
from suite.policy import Actor

LAST_USED_EVERY = 60  # seconds between two writes of a subscription's last_used_at
_MAX_SECRET = 120  # "<prefix>.<key>" is 8 + 1 + 43 characters; anything much longer is not ours


@dataclass(frozen=True)
class IssuedFeed:
    feed: CalendarFeed
    secret: str  # "<prefix>.<key>": shown to the person once, never stored


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def calendar_feed_issue(*, actor: Actor) -> IssuedFeed:
    """Make the actor's subscription address in their company, or replace the one they have: the old address stops
    working at once. Locks the person's subscription row (``update_or_create``: two clicks at once end with one
    row, the last address made). The returned secret is the only copy of the key. Publishes nothing."""
    prefix = secrets.token_hex(4)
    key = secrets.token_urlsafe(32)
    feed, _created = CalendarFeed.objects.update_or_create(
        company_id=actor.company_id,
        user_id=actor.user.pk,
        defaults={"prefix": prefix, "key_hash": _hash(key), "created_at": timezone.now(), "last_used_at": None},
    )
    return IssuedFeed(feed=feed, secret=f"{prefix}.{key}")


@transaction.atomic
def calendar_feed_revoke(*, actor: Actor) -> bool:
    """Stop the actor's subscription in their company: its address answers 404 from now on. Whether there was one
    (stopping twice changes nothing). Publishes nothing."""
    deleted, _by_model = CalendarFeed.objects.filter(company_id=actor.company_id, user_id=actor.user.pk).delete()
    return deleted > 0


def calendar_feed_find(secret: str) -> CalendarFeed | None:
    """The subscription an address's secret names, with its company and user — or ``None`` when the secret is
    malformed, unknown or has the wrong key, when the person is no longer an active member of the company (or their
    account is switched off), or when the company has switched the CRM module off. Writes ``last_used_at`` at most
    once a minute per subscription."""
    if not secret or len(secret) > _MAX_SECRET:
        return None
    prefix, _dot, key = secret.partition(".")
    if not prefix or not key or len(prefix) > CalendarFeed._meta.get_field("prefix").max_length:
        return None
    active_member = Membership.objects.filter(
        company_id=OuterRef("company_id"), user_id=OuterRef("user_id"), is_active=True
    )
    feed = (
        CalendarFeed.objects.select_related("company", "user")
        .filter(Exists(active_member), prefix=prefix, user__is_active=True)
        .order_by("pk")
        .first()
    )
    if feed is None or not secrets.compare_digest(feed.key_hash, _hash(key)):
        return None
    if not modules.company_has(feed.company, modules.CRM):
        return None
    now = timezone.now()
    if feed.last_used_at is None or now - feed.last_used_at > timedelta(seconds=LAST_USED_EVERY):
        # conditional, so that calendar apps asking at the same moment write it once
        stale = now - timedelta(seconds=LAST_USED_EVERY)
        CalendarFeed.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale), pk=feed.pk).update(
            last_used_at=now
        )
        feed.last_used_at = now
    return feed
