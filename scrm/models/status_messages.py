"""Order status messages to customers on their social channel (closed loop, flow 3): one row per (ERP
fulfilment event, customer identity), written by SCRM's handler and sent after commit through the channel's
connector — only with a live consent (``scrm.services.consent``), like pushes."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models.tenancy import TenantModel

from .channels import Channel
from .inbox import SocialIdentity


class StatusMessageStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    SKIPPED = "skipped", _("Skipped")
    FAILED = "failed", _("Failed")


class StatusMessageSkip(models.TextChoices):
    NO_CONSENT = "no_consent", _("No consent")
    NO_CHANNEL = "no_channel", _("No channel to reach the customer")


@audited
class StatusMessage(TenantModel):
    """One status message (shipped, delivered …) for one matched customer identity. ``source_key`` (the ERP
    event and the identity) makes the handler idempotent: a redelivered event finds the row."""

    source_key = models.CharField(_("source"), max_length=120)
    event_name = models.CharField(_("event"), max_length=100)
    crm_account_id = models.BigIntegerField(_("CRM account id"), null=True, blank=True)
    crm_contact_id = models.BigIntegerField(_("CRM contact id"))
    crm_opportunity_id = models.BigIntegerField(_("CRM opportunity id"), null=True, blank=True)
    identity = models.ForeignKey(SocialIdentity, on_delete=models.PROTECT, related_name="+")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(_("text"), max_length=2000)
    status = models.CharField(
        _("status"), max_length=10, choices=StatusMessageStatus.choices, default=StatusMessageStatus.QUEUED
    )
    skip_reason = models.CharField(_("skipped because"), max_length=20, choices=StatusMessageSkip.choices, blank=True)
    external_id = models.CharField(_("platform message id"), max_length=200, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("status message")
        verbose_name_plural = _("status messages")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "source_key"], name="scrm_statusmessage_source_unique"),
            models.CheckConstraint(
                condition=Q(status__in=StatusMessageStatus.values), name="scrm_statusmessage_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="skipped") | ~Q(skip_reason=""), name="scrm_statusmessage_skip_has_reason"
            ),
        ]
        indexes = [models.Index(fields=["company", "crm_contact_id", "-id"], name="scrm_statusmessage_contact")]

    def __str__(self) -> str:
        return self.source_key
