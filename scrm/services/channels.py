"""Channel configuration and the intake of raw deliveries (webhook or poll)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from scrm.channels.base import REPLAY_WINDOW_SECONDS, InboundEvent, NonceReplayError, WebhookResult
from scrm.channels.secrets import encrypt_credentials
from scrm.models import Channel, ChannelKind, Delivery, WebhookNonce
from scrm.models.channels import DELIVERY_LANES, delivery_lane
from scrm.services.bulk import insert_rows_new
from suite import net
from suite.models import Company, Membership

CHANNEL_FIELDS = frozenset({"name", "kind", "is_active", "config", "default_assignee"})
URL_CONFIG_KEYS = ("outbound_url", "api_base")


def _check_config(config) -> None:
    """``config`` is an object; URLs in it are http(s) and not aimed at our own network (``suite.net``; the
    full check with DNS runs on every call)."""
    if config is None:
        return
    if not isinstance(config, dict):
        raise ValidationError({"config": _("The configuration must be an object.")})
    for key in URL_CONFIG_KEYS:
        if key in config:
            try:
                net.validate_url(str(config[key]))
            except net.UnsafeURL as exc:
                raise ValidationError({"config": f"{key}: {exc}"}) from exc


def _check_assignee(company: Company, user) -> None:
    if user is not None and not Membership.objects.filter(company=company, user=user, is_active=True).exists():
        raise ValidationError({"default_assignee": _("The assignee must be an active member of the company.")})


@transaction.atomic
def channel_create(*, company: Company, kind: str, name: str, credentials: dict | None = None, **fields) -> Channel:
    """Connect a social account: credentials are stored encrypted. No locks; publishes nothing."""
    if kind not in ChannelKind.values:
        raise ValidationError({"kind": _("Unknown channel kind.")})
    unknown = set(fields) - CHANNEL_FIELDS
    if unknown:
        raise ValidationError({field: _("This field cannot be set.") for field in unknown})
    _check_assignee(company, fields.get("default_assignee"))
    _check_config(fields.get("config"))
    if Channel.objects.filter(company=company, name=name).exists():
        raise ValidationError({"name": _("A channel with this name already exists.")})
    channel = Channel(
        company=company, kind=kind, name=name, credentials_encrypted=encrypt_credentials(credentials or {})
    )
    for key, value in fields.items():
        setattr(channel, key, value)
    channel.full_clean(exclude=["credentials_encrypted"])
    channel.save()
    return channel


@transaction.atomic
def channel_update(*, channel: Channel, credentials: dict | None = None, **fields) -> Channel:
    """Change a channel's settings; ``credentials`` (when given) replace the stored ones whole. Locks the row."""
    channel = Channel.objects.select_for_update().get(pk=channel.pk)
    unknown = set(fields) - (CHANNEL_FIELDS - {"kind"})
    if unknown:
        raise ValidationError({field: _("This field cannot be changed.") for field in unknown})
    if "default_assignee" in fields:
        _check_assignee(channel.company, fields["default_assignee"])
    _check_config(fields.get("config"))
    if (
        "name" in fields
        and Channel.objects.filter(company_id=channel.company_id, name=fields["name"]).exclude(pk=channel.pk).exists()
    ):
        raise ValidationError({"name": _("A channel with this name already exists.")})
    for key, value in fields.items():
        setattr(channel, key, value)
    update_fields = [*fields, "updated_at"]
    if credentials is not None:
        channel.credentials_encrypted = encrypt_credentials(credentials)
        update_fields.append("credentials_encrypted")
    channel.save(update_fields=update_fields)
    return channel


def deliveries_record(*, channel: Channel, events: Iterable[InboundEvent]) -> int:
    """Store inbound items as received, once per (channel, external id), and have them processed after commit.

    One INSERT … ON CONFLICT DO NOTHING RETURNING (``scrm.services.bulk.insert_rows_new``): a retried webhook or a
    re-polled item is dropped by the unique constraint, whatever process inserts it. Returns how many were new.
    When some were, asks for ``scrm.deliveries_process`` on commit (``deliveries_process_request``; the beat
    sweep picks up anything a lost task left behind).
    """
    received_at = timezone.now().isoformat()  # one receipt time per request
    company_id, channel_id = channel.company_id, channel.pk
    rows = [
        {
            "company_id": company_id,
            "channel_id": channel_id,
            "external_id": event.external_id,
            "payload": event.as_payload(),
            "received_at": received_at,
            "lane": delivery_lane(event.sender_id),  # the sender's lane: drained in order, beside the other lanes
        }
        for event in events
    ]
    if not rows:
        return 0
    # One statement, so no transaction of its own (no BEGIN/COMMIT round trips): in autocommit it commits by
    # itself and ``on_commit`` runs at once; inside a caller's transaction, after that one commits.
    new = len(insert_rows_new(Delivery, rows))  # ON CONFLICT DO NOTHING RETURNING: only the new ones
    if new:
        transaction.on_commit(lambda: deliveries_process_request(channel_id))
    return new


def webhook_receive(*, channel: Channel, result: WebhookResult) -> int:
    """Store a verified push: its nonce (when the platform signs one) and its events, in one transaction.

    A nonce seen before on the channel is a replay — the same signed request again, or its signature with another
    body where the platform does not sign the body (WeChat Official Account's plain mode): ``NonceReplayError``
    (401), nothing stored. The nonce is written with the deliveries, so a push that fails to store can be
    retried with its nonce. Returns how many deliveries were new."""
    if not result.nonce:
        return deliveries_record(channel=channel, events=result.events) if result.events else 0
    with transaction.atomic():
        row = {"channel_id": channel.pk, "value": result.nonce[:100], "seen_at": timezone.now().isoformat()}
        fresh = insert_rows_new(WebhookNonce, [row])  # ON CONFLICT DO NOTHING: empty when the nonce was seen
        if not fresh:
            raise NonceReplayError(_("This request was received before (its nonce was used): a replay."))
        return deliveries_record(channel=channel, events=result.events) if result.events else 0


def webhook_nonces_prune() -> int:
    """Forget nonces older than twice the replay window (a request that old is refused by its timestamp)."""
    cutoff = timezone.now() - timedelta(seconds=2 * REPLAY_WINDOW_SECONDS)
    deleted, _by_model = WebhookNonce.objects.filter(seen_at__lt=cutoff).delete()
    return deleted


DRAIN_FLAG_TTL = 60
# The task starts this long after the first delivery that asked for it, so a burst is processed in batches of
# hundreds (a batch's fixed cost — a dozen statements — is then cheap per item) at the price of 0.25 s of latency.
DRAIN_DELAY = 0.25
DRAIN_SLICE = 2.0  # seconds a drain task works before it hands over to a fresh one (scrm.tasks)
# Lanes a drain task's batch takes (of ``DELIVERY_LANES``): half, so the two worker processes of a deployment
# drain side by side, each on lanes of its own; more processes need more lanes (or a smaller share).
DRAIN_LANES = DELIVERY_LANES // 2


def _drain_flag_key(channel_id: int) -> str:
    from django.conf import settings

    return f"scrm:deliveries-requested:{settings.CELERY_TASK_DEFAULT_QUEUE}:{channel_id}"


def deliveries_process_request(channel_id: int, *, delay: float = DRAIN_DELAY) -> bool:
    """Queue ``scrm.deliveries_process`` for the channel unless one is queued and has not started yet (a Redis
    flag, SET NX, like the outbox relay's): a webhook answering 2,000 requests/s queues a handful of tasks, not
    2,000. The task clears the flag *before* it claims, so a delivery committed after the flag was seen set is
    still picked up by that task; if Redis is down the beat sweep (``scrm.channels_poll_due``) processes the
    stored deliveries — they are in the database, nothing is lost. Returns True when this call queued a task."""
    import logging

    from django.core.cache import cache

    from scrm import tasks

    try:
        if not cache.add(_drain_flag_key(channel_id), 1, timeout=DRAIN_FLAG_TTL):
            return False
    except Exception as exc:  # Redis unreachable: beat's sweep delivers
        logging.getLogger(__name__).warning("could not flag the deliveries task: %s", exc)
        return False
    try:
        tasks.deliveries_process.apply_async((channel_id,), countdown=delay or None, expires=300)
    except Exception as exc:
        logging.getLogger(__name__).warning("could not queue the deliveries task, beat will: %s", exc)
        deliveries_process_flag_clear(channel_id)
        return False
    return True


def deliveries_process_flag_clear(channel_id: int) -> None:
    import contextlib

    from django.core.cache import cache

    with contextlib.suppress(Exception):  # the flag expires by itself
        cache.delete(_drain_flag_key(channel_id))
