"""Stored answers to API POSTs sent with an ``Idempotency-Key`` header (suite.api.idempotency).

One row per (user, key): claimed ``in_flight`` before the view runs, then ``completed`` with the response that is
replayed to every retry with the same key and the same request. Rows expire after
``TROIKA_IDEMPOTENCY_TTL`` (24 h) and are purged by a beat task.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class IdempotencyKey(models.Model):
    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", _("In flight")
        COMPLETED = "completed", _("Completed")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    key = models.CharField(_("key"), max_length=255)
    # SHA-256 of method, path, query, the company acted in and the body: the same key with another request is
    # refused instead of silently answering with the first request's response.
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    method = models.CharField(_("method"), max_length=10)
    path = models.CharField(_("path"), max_length=2048)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_headers = models.JSONField(_("response headers"), default=dict, blank=True)
    response_body = models.BinaryField(_("response body"), default=b"", blank=True)
    created_at = models.DateTimeField(_("created at"))
    locked_at = models.DateTimeField(_("claimed at"))

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.key} ({self.get_state_display()})"
