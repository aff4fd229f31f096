"""Outgoing webhooks: integrators subscribe a URL to event names; each matching event is POSTed, signed.

The secret is stored as it is (the HMAC signature needs it); the API shows it once, when it is created or
rotated (docs/decisions.md, "Webhook secrets").
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited

from .outbox import OutboxEvent
from .tenancy import Company


@audited(exclude=["secret"])
class WebhookSubscription(models.Model):
    company = models.ForeignKey(
        Company, on_delete=models.CASCADE, related_name="webhook_subscriptions", verbose_name=_("company")
    )
    url = models.URLField(_("URL"), max_length=500)
    event_names = ArrayField(
        models.CharField(max_length=150),
        verbose_name=_("events"),
        help_text=_('Event names; "*" for every event, "crm.*" for every event of an app.'),
    )
    description = models.CharField(_("description"), max_length=200, blank=True)
    secret = models.CharField(_("signing secret"), max_length=100, editable=False)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["-id"]
        indexes = [models.Index(fields=["company"], condition=Q(active=True), name="webhook_active_by_company")]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event sent to one subscription: the latest attempt's outcome and the retry schedule."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed, will retry")
        DEAD = "dead", _("Gave up")

    uuid = models.UUIDField(_("delivery id"), default=uuid.uuid4, unique=True, editable=False)
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("subscription")
    )
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="+", verbose_name=_("event"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_excerpt = models.TextField(_("response excerpt"), blank=True, default="")
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True, default="")
    next_retry_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="webhook_delivery_once_per_event")
        ]
        indexes = [
            models.Index(
                fields=["next_retry_at"], condition=Q(status__in=["pending", "failed"]), name="webhook_delivery_due"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.subscription_id} ({self.status})"
