"""Outgoing webhooks: subscriptions, fan-out of events to them, and signed, retried deliveries.

A delivery is a POST of the event as JSON with these headers (docs/events.md, "Webhooks"):

* ``X-Troika-Event``: the event name; ``X-Troika-Delivery``: the delivery's id (stable across retries, so a
  receiver can drop duplicates);
* ``X-Troika-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the secret>``.

Any 2xx is success; anything else (or no answer) is retried with backoff
(``TROIKA_WEBHOOK_BACKOFF_SECONDS`` × 2ⁿ⁻¹, at most an hour apart) up to ``TROIKA_WEBHOOK_MAX_ATTEMPTS`` times.
A URL that resolves to a private address is given up at once (``suite.net``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from suite import net
from suite.events.registry import EVENT_PATTERN, Event, pattern_matches
from suite.models import Company
from suite.models.outbox import OutboxEvent
from suite.models.webhooks import WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Troika-Signature"
EVENT_HEADER = "X-Troika-Event"
DELIVERY_HEADER = "X-Troika-Delivery"
MAX_PATTERNS = 50
RESPONSE_EXCERPT_CHARS = 1000
RESPONSE_READ_BYTES = 64 * 1024
BACKOFF_MAX_SECONDS = 3600.0
OVERDUE_GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class SubscriptionWithSecret:
    subscription: WebhookSubscription
    secret: str  # returned when created or rotated; the API shows it only then


# --------------------------------------------------------------------------- signing


def webhook_secret_generate() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def webhook_signature(*, secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Troika-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def webhook_signature_verify(*, secret: str, body: bytes, header: str, tolerance: int = 300, now: int | None = None):
    """What a receiver does (and what our tests do): True if ``header`` signs ``body`` with ``secret`` and its
    timestamp is within ``tolerance`` seconds of ``now``."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else int(time.time())) - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret=secret, body=body, timestamp=timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


# --------------------------------------------------------------------------- subscriptions


def _clean(*, url: str | None, events: list[str] | None) -> None:
    errors: dict[str, list[str]] = {}
    if url is not None:
        try:
            net.validate_url(url)
        except net.UnsafeURL as exc:
            errors["url"] = [str(exc)]
    if events is not None:
        if not isinstance(events, list) or not events:
            errors["events"] = [_("Subscribe to at least one event name or pattern.")]
        elif len(events) > MAX_PATTERNS:
            errors["events"] = [_("At most %(n)s event names or patterns.") % {"n": MAX_PATTERNS}]
        else:
            bad = [name for name in events if not isinstance(name, str) or not EVENT_PATTERN.match(name)]
            if bad:
                errors["events"] = [
                    _('%(names)s: use event names such as "crm.opportunity.won", "crm.*" or "*".')
                    % {"names": ", ".join(map(str, bad))}
                ]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def webhook_subscription_create(
    *, company: Company, url: str, events: list[str], description: str = "", active: bool = True, by=None
) -> SubscriptionWithSecret:
    """Subscribe ``url`` to ``events`` for ``company`` with a new signing secret (returned once)."""
    _clean(url=url, events=events)
    secret = webhook_secret_generate()
    subscription = WebhookSubscription.objects.create(
        company=company,
        url=url,
        event_names=sorted(set(events)),
        description=description,
        active=active,
        secret=secret,
        created_by=by if getattr(by, "pk", None) else None,
    )
    return SubscriptionWithSecret(subscription, secret)


def _lock(subscription: WebhookSubscription) -> WebhookSubscription:
    return WebhookSubscription.objects.select_for_update(of=("self",)).get(pk=subscription.pk)


@transaction.atomic
def webhook_subscription_update(
    *,
    subscription: WebhookSubscription,
    by=None,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    active: bool | None = None,
) -> WebhookSubscription:
    """Change what is given (``None``: unchanged). Locks the subscription. Deliveries already made keep the
    URL they were made to; pending ones go to the new URL."""
    _clean(url=url, events=events)
    subscription = _lock(subscription)
    changed = []
    for name, value in (("url", url), ("description", description), ("active", active)):
        if value is not None and getattr(subscription, name) != value:
            setattr(subscription, name, value)
            changed.append(name)
    if events is not None and sorted(set(events)) != subscription.event_names:
        subscription.event_names = sorted(set(events))
        changed.append("event_names")
    if changed:
        subscription.save(update_fields=[*changed, "updated_at"])
    return subscription


@transaction.atomic
def webhook_subscription_rotate_secret(*, subscription: WebhookSubscription, by=None) -> SubscriptionWithSecret:
    """Replace the signing secret (returned once); deliveries from now on are signed with the new one.
    Locks the subscription."""
    subscription = _lock(subscription)
    subscription.secret = webhook_secret_generate()
    subscription.save(update_fields=["secret", "updated_at"])
    return SubscriptionWithSecret(subscription, subscription.secret)


@transaction.atomic
def webhook_subscription_delete(*, subscription: WebhookSubscription, by=None) -> None:
    """Delete the subscription and its delivery log; queued deliveries find nothing and stop."""
    _lock(subscription).delete()


# --------------------------------------------------------------------------- fan-out and delivery


def webhook_fan_out(*, events: list[Event]) -> list[int]:
    """Create a delivery for every (event, active subscription of the event's company that matches its name)
    and queue them after commit. One query for all the batch's subscriptions; events without a company go
    nowhere. Idempotent through the relay's handler runs (and a unique (subscription, event) constraint).
    """
    company_ids = {event.company_id for event in events if event.company_id is not None}
    if not company_ids:
        return []
    by_company: dict[int, list[tuple[int, list[str]]]] = defaultdict(list)
    for sub_id, company_id, patterns in WebhookSubscription.objects.filter(
        company_id__in=company_ids, active=True
    ).values_list("id", "company_id", "event_names"):
        by_company[company_id].append((sub_id, patterns))
    if not by_company:
        return []
    now = timezone.now()
    deliveries = [
        WebhookDelivery(subscription_id=sub_id, event_id=event.id, next_retry_at=now)
        for event in events
        for sub_id, patterns in by_company.get(event.company_id, ())
        if any(pattern_matches(pattern, event.name) for pattern in patterns)
    ]
    if not deliveries:
        return []
    ids = [delivery.pk for delivery in WebhookDelivery.objects.bulk_create(deliveries)]
    transaction.on_commit(lambda: _queue(ids))
    return ids


def _queue(ids: list[int], countdown: float | None = None) -> None:
    from suite.events.tasks import webhook_deliver

    for delivery_id in ids:
        try:
            webhook_deliver.apply_async((delivery_id,), countdown=countdown)
        except Exception as exc:  # Redis down: the sweeper (beat) queues it later
            logger.warning("could not queue webhook delivery %s: %s", delivery_id, exc)


def webhook_body(event: OutboxEvent) -> bytes:
    """The JSON a subscriber receives for ``event``."""
    document = {
        "id": str(event.uuid),
        "name": event.name,
        "version": event.version,
        "created_at": event.created_at.isoformat(),
        "company_id": event.company_id,
        "correlation_id": str(event.correlation_id),
        "payload": event.payload,
    }
    return json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":")).encode()


def webhook_backoff(attempts: int) -> timedelta:
    seconds = settings.TROIKA_WEBHOOK_BACKOFF_SECONDS * (2 ** max(0, attempts - 1))
    return timedelta(seconds=min(seconds, BACKOFF_MAX_SECONDS))


def webhook_delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery | None:
    """Send the delivery if it is due and not finished; record the outcome and schedule the next try.

    Locks the delivery row for the duration of the request (``SKIP LOCKED``: a second task for the same
    delivery returns ``None`` at once instead of sending twice). Returns the delivery, or ``None`` when it is
    gone or being sent by another worker.
    """
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("subscription", "event")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status in (WebhookDelivery.Status.SUCCEEDED, WebhookDelivery.Status.DEAD):
            return delivery
        now = now or timezone.now()
        if delivery.next_retry_at is not None and delivery.next_retry_at > now:
            return delivery  # not due: an early or duplicate task
        subscription = delivery.subscription
        delivery.attempts += 1
        if not subscription.active:
            _finish(delivery, status=WebhookDelivery.Status.DEAD, error=_("The subscription was deactivated."))
            return delivery
        body = webhook_body(delivery.event)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"Troika-Webhooks/{settings.TROIKA_VERSION}",
            EVENT_HEADER: delivery.event.name,
            DELIVERY_HEADER: str(delivery.uuid),
            SIGNATURE_HEADER: webhook_signature(secret=subscription.secret, body=body, timestamp=int(time.time())),
        }
        started = time.monotonic()
        response = None
        error = ""
        give_up = False
        try:
            response = net.request(
                "POST",
                subscription.url,
                body=body,
                headers=headers,
                timeout=settings.TROIKA_WEBHOOK_TIMEOUT_SECONDS,
                max_bytes=RESPONSE_READ_BYTES,
            )
        except net.UnsafeURL as exc:
            error, give_up = str(exc), True
        except net.OutboundError as exc:
            error = str(exc) or type(exc).__name__
        delivery.duration_ms = int((time.monotonic() - started) * 1000)
        if response is not None:
            delivery.response_status = response.status
            delivery.response_excerpt = response.body[: RESPONSE_EXCERPT_CHARS * 4].decode("utf-8", "replace")[
                :RESPONSE_EXCERPT_CHARS
            ]
            if 200 <= response.status < 300:
                delivery.delivered_at = timezone.now()
                _finish(delivery, status=WebhookDelivery.Status.SUCCEEDED, error="")
                return delivery
            error = _("The endpoint answered HTTP %(status)s.") % {"status": response.status}
        if give_up or delivery.attempts >= settings.TROIKA_WEBHOOK_MAX_ATTEMPTS:
            _finish(delivery, status=WebhookDelivery.Status.DEAD, error=error)
        else:
            delay = webhook_backoff(delivery.attempts)
            delivery.next_retry_at = now + delay
            _finish(delivery, status=WebhookDelivery.Status.FAILED, error=error)
            delivery_pk = delivery.pk
            transaction.on_commit(lambda: _queue([delivery_pk], countdown=delay.total_seconds()))
    return delivery


def _finish(delivery: WebhookDelivery, *, status: str, error: str) -> None:
    delivery.status = status
    delivery.error = error
    if status != WebhookDelivery.Status.FAILED:
        delivery.next_retry_at = None
    delivery.save(
        update_fields=[
            "status",
            "attempts",
            "response_status",
            "response_excerpt",
            "duration_ms",
            "error",
            "next_retry_at",
            "delivered_at",
        ]
    )
    log = logger.info if status == WebhookDelivery.Status.SUCCEEDED else logger.warning
    log(
        "webhook delivery %s of event %s to subscription %s: %s (attempt %s, HTTP %s, %s ms) %s",
        delivery.uuid,
        delivery.event_id,
        delivery.subscription_id,
        status,
        delivery.attempts,
        delivery.response_status,
        delivery.duration_ms,
        error,
    )


def webhook_deliveries_requeue_overdue(*, now: datetime | None = None, limit: int = 500) -> int:
    """Queue deliveries whose next try is more than a grace period overdue (their task was lost with a
    worker, or Redis was down when they were queued). Returns how many were queued."""
    cutoff = (now or timezone.now()) - timedelta(seconds=OVERDUE_GRACE_SECONDS)
    ids = list(
        WebhookDelivery.objects.filter(
            status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED], next_retry_at__lte=cutoff
        )
        .order_by("next_retry_at")
        .values_list("id", flat=True)[:limit]
    )
    _queue(ids)
    return len(ids)
