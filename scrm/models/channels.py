"""Social channels (one per connected account), their polling cursors and the raw deliveries they receive.

A ``Delivery`` is what a platform pushed to our webhook (or what a poll returned), stored as received before
any processing so the webhook can answer within WeCom's 5 s and a crashed worker loses nothing; the unique
``(channel, external_id)`` is the dedupe of retried or re-polled items.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models.tenancy import TenantModel


class ChannelKind(models.TextChoices):
    WECOM = "wecom", _("WeCom (企业微信)")
    WECHAT_OA = "wechat_oa", _("WeChat Official Account (公众号)")
    WEIBO = "weibo", _("Weibo (微博)")
    DOUYIN = "douyin", _("Douyin (抖音)")
    XIAOHONGSHU = "xiaohongshu", _("Xiaohongshu (小红书)")
    WEBHOOK = "webhook", _("Signed webhook")
    SIMULATOR = "simulator", _("Simulator")
    PLUGIN = "plugin", _("Plugin (config: plugin name)")


@audited(exclude=["credentials_encrypted"])
class Channel(TenantModel):
    """A connected social account. ``credentials`` (tokens, secrets, AES keys) are stored Fernet-encrypted in
    ``credentials_encrypted``; ``config`` holds what is not secret (corp id, API base URL, batch size)."""

    kind = models.CharField(_("kind"), max_length=20, choices=ChannelKind.choices)
    name = models.CharField(_("name"), max_length=200)
    is_active = models.BooleanField(_("active"), default=True)
    config = models.JSONField(_("configuration"), default=dict, blank=True)
    credentials_encrypted = models.TextField(_("credentials (encrypted)"), blank=True, editable=False)
    default_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("default assignee"),
    )

    class Meta:
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="scrm_channel_name_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def credentials(self) -> dict:
        from scrm.channels.secrets import decrypt_credentials

        return decrypt_credentials(self.credentials_encrypted)


class ChannelCursor(models.Model):
    """Where a channel's poller stopped: the cursor of the last saved page, and a backoff after rate limits."""

    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, related_name="cursor", verbose_name=_("channel"))
    cursor = models.CharField(_("cursor"), max_length=500, blank=True)
    backoff_until = models.DateTimeField(_("backoff until"), null=True, blank=True)
    failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    polled_at = models.DateTimeField(_("polled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("channel cursor")
        verbose_name_plural = _("channel cursors")

    def __str__(self) -> str:
        return f"{self.channel_id}: {self.cursor}"


# Lanes of a channel's pending deliveries (``Delivery.lane``): a stable hash of the sender picks one, so all of a
# sender's deliveries are in the same lane. A drain batch holds its lanes (an advisory lock per company and lane,
# ``scrm.services.inbox.deliveries_process``), so two batches never touch the same identity, conversation or
# alert and run in parallel without row-lock waits; a lane is drained in id order, one batch at a time, which
# keeps each sender's messages in order. Changing the number: drain the pending deliveries first.
DELIVERY_LANES = 8


def delivery_lane(sender_id: str) -> int:
    """The lane of a sender's deliveries: CRC-32 of the sender id, stable across processes and releases."""
    import zlib

    return zlib.crc32((sender_id or "").encode()) % DELIVERY_LANES


class Delivery(models.Model):
    """One inbound item (webhook delivery or polled item) as received, parsed into the connector-neutral
    event dict (``scrm.channels.base.InboundEvent.as_payload``)."""

    company = models.ForeignKey("suite.Company", on_delete=models.CASCADE, related_name="+")
    # Served by the unique (channel, external id) index: one index less per delivery written and processed.
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    external_id = models.CharField(_("external id"), max_length=200)
    payload = models.JSONField(_("payload"))
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    # ``delivery_lane(sender id)``, set at intake (``deliveries_record``); 0 for items without a sender.
    lane = models.SmallIntegerField(_("lane"), default=0, editable=False)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id"], name="scrm_delivery_unique_per_channel")
        ]
        indexes = [
            models.Index(
                fields=["channel", "lane", "id"],
                condition=Q(processed_at__isnull=True),
                name="scrm_delivery_pending_lane",
            )
        ]

    def __str__(self) -> str:
        return self.external_id


class WebhookNonce(models.Model):
    """A signed nonce a platform push was received with (WeCom, WeChat Official Account: ``<timestamp>:<nonce>``),
    kept while its timestamp is inside the replay window: a second request with the same pair is a replay and is
    refused before anything is stored. Written in the transaction that stores the push's deliveries (a push that
    fails to store does not burn its nonce); rows older than the window are pruned by beat."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", db_index=False)
    value = models.CharField(_("nonce"), max_length=100)
    seen_at = models.DateTimeField(_("seen at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("webhook nonce")
        verbose_name_plural = _("webhook nonces")
        constraints = [models.UniqueConstraint(fields=["channel", "value"], name="scrm_webhooknonce_unique")]

    def __str__(self) -> str:
        return self.value
