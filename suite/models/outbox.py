"""The transactional outbox: events written in the same transaction as the business change that caused them.

``OutboxEvent`` is one published event; ``HandlerRun`` records that one handler processed one event. The relay
(``suite.events.relay``) writes a ``HandlerRun`` in the same transaction as the handler's effect, so an event is
applied at most once per handler even though it is delivered at least once (docs/events.md).
"""

import uuid

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .tenancy import Company


class OutboxEvent(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")
        DEAD = "dead", _("Dead letter")

    id = models.BigAutoField(primary_key=True)
    uuid = models.UUIDField(_("event id"), default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=150)
    version = models.PositiveSmallIntegerField(_("version"), default=1)
    payload = models.JSONField(_("payload"), encoder=DjangoJSONEncoder, default=dict)
    company = models.ForeignKey(
        Company,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("company"),
        db_index=False,  # looked up through the webhook subscriptions, never by this column alone
    )
    correlation_id = models.UUIDField(_("correlation id"), db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
        db_index=False,
    )
    created_at = models.DateTimeField(_("created at"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(_("relay attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True, default="")

    class Meta:
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        ordering = ["-id"]
        indexes = [
            # The relay's claim query walks this small index in id order; done rows leave it.
            models.Index(fields=["id"], condition=Q(state="pending"), name="outbox_pending_idx"),
            models.Index(fields=["id"], condition=Q(state="dead"), name="outbox_dead_idx"),
            # Pruning finds old rows by time; a BRIN index costs next to nothing on an append-only table.
            BrinIndex(fields=["created_at"], name="outbox_created_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"


class HandlerRun(models.Model):
    """One handler's processing of one event: written with the handler's effect, so it is applied once."""

    class Status(models.TextChoices):
        DONE = "done", _("Done")
        SKIPPED = "skipped", _("Skipped: module not enabled for the company")
        FAILED = "failed", _("Failed, will retry")
        DEAD = "dead", _("Dead letter")

    event = models.ForeignKey(
        OutboxEvent, on_delete=models.CASCADE, related_name="handler_runs", verbose_name=_("event"), db_index=False
    )
    handler = models.CharField(_("handler"), max_length=200)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True, default="")
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)

    class Meta:
        verbose_name = _("handler run")
        verbose_name_plural = _("handler runs")
        ordering = ["event_id", "handler"]
        constraints = [models.UniqueConstraint(fields=["event", "handler"], name="handler_run_once_per_event")]

    def __str__(self) -> str:
        return f"{self.handler} ← {self.event_id} ({self.status})"
