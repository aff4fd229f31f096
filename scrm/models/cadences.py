"""Cadences: follow-up sequences for people who left their details (留资), e.g. a training school's Douyin
leads. A cadence is a list of steps (a task for the lead's owner, a push message, a wait), each run a delay
after the previous one. A lead from the cadence's source is enrolled when it arrives; the beat task runs due
steps — each step of an enrolment exactly once (``CadenceStepRun`` is unique per enrolment and step) — until
the sequence ends, the lead converts or the person opts out.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models.tenancy import TenantModel

from .channels import Channel
from .inbox import SocialIdentity

DEFAULT_STOP_KEYWORDS = "退订,TD,T,unsubscribe,stop"


@audited
class Cadence(TenantModel):
    """A follow-up sequence. ``trigger_source`` is a CRM lead source code (``douyin``, ``website`` …): leads
    created with it are enrolled; ``channel`` is where push steps are sent (and where a lead's social identity
    is looked up by unionid or phone)."""

    name = models.CharField(_("name"), max_length=200)
    is_active = models.BooleanField(_("active"), default=True)
    trigger_source = models.CharField(_("enrol leads from source"), max_length=20, blank=True)
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.PROTECT, related_name="cadences", verbose_name=_("channel")
    )
    stop_keywords = models.CharField(
        _("opt-out keywords"),
        max_length=200,
        default=DEFAULT_STOP_KEYWORDS,
        help_text=_("comma-separated; a reply that is one of them stops the cadence (退订, TD …)"),
    )

    class Meta:
        verbose_name = _("cadence")
        verbose_name_plural = _("cadences")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="scrm_cadence_name_unique")]

    def __str__(self) -> str:
        return self.name


@audited
class CadenceStep(TenantModel):
    class Kind(models.TextChoices):
        TASK = "task", _("Task for the owner")
        PUSH = "push", _("Push message")
        WAIT = "wait", _("Wait")

    cadence = models.ForeignKey(Cadence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(_("position"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    delay_minutes = models.PositiveIntegerField(_("delay after the previous step (minutes)"), default=0)
    subject = models.CharField(_("task subject"), max_length=200, blank=True)
    message = models.TextField(_("message"), blank=True, help_text=_("{name} is replaced by the lead's name"))

    class Meta:
        verbose_name = _("cadence step")
        verbose_name_plural = _("cadence steps")
        ordering = ["cadence", "position"]
        constraints = [
            models.UniqueConstraint(fields=["cadence", "position"], name="scrm_cadence_step_position_unique"),
            models.CheckConstraint(condition=Q(kind__in=["task", "push", "wait"]), name="scrm_cadence_step_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.cadence_id}#{self.position} {self.kind}"


@audited(exclude=["next_run_at"])
class CadenceEnrollment(TenantModel):
    """One lead going through one cadence. ``next_position`` is the step to run at ``next_run_at``."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Completed")
        CONVERTED = "converted", _("Converted")
        OPTED_OUT = "opted_out", _("Opted out")
        STOPPED = "stopped", _("Stopped")

    cadence = models.ForeignKey(Cadence, on_delete=models.PROTECT, related_name="enrollments")
    lead_id = models.BigIntegerField(_("CRM lead id"))
    lead_name = models.CharField(_("lead name"), max_length=200, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
    )
    identity = models.ForeignKey(
        SocialIdentity, null=True, blank=True, on_delete=models.SET_NULL, related_name="cadence_enrollments"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    next_position = models.PositiveSmallIntegerField(_("next step"), default=1)
    next_run_at = models.DateTimeField(_("next run at"), null=True, blank=True)
    stopped_at = models.DateTimeField(_("stopped at"), null=True, blank=True)
    stop_reason = models.CharField(_("stop reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("cadence enrolment")
        verbose_name_plural = _("cadence enrolments")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["cadence", "lead_id"], name="scrm_cadence_enrollment_once_per_lead"),
            models.CheckConstraint(
                condition=Q(status="active", next_run_at__isnull=False) | ~Q(status="active"),
                name="scrm_cadence_enrollment_active_has_next",
            ),
        ]
        indexes = [
            models.Index(fields=["next_run_at"], condition=Q(status="active"), name="scrm_cadence_due"),
            models.Index(fields=["company", "lead_id"], name="scrm_cadence_enrollment_lead"),
        ]

    def __str__(self) -> str:
        return f"{self.cadence_id}: lead {self.lead_id}"


class CadenceStepRun(models.Model):
    """That a step of an enrolment ran, and what came of it. Unique per (enrolment, step): a step runs once."""

    class Outcome(models.TextChoices):
        TASK_REQUESTED = "task", _("Task requested")
        SENT = "sent", _("Sent")
        SKIPPED = "skipped", _("Skipped")
        FAILED = "failed", _("Failed")
        WAITED = "waited", _("Waited")

    company = models.ForeignKey("suite.Company", on_delete=models.CASCADE, related_name="+")
    enrollment = models.ForeignKey(CadenceEnrollment, on_delete=models.CASCADE, related_name="runs")
    step = models.ForeignKey(CadenceStep, on_delete=models.CASCADE, related_name="runs")
    ran_at = models.DateTimeField(_("ran at"), auto_now_add=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    detail = models.CharField(_("detail"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("cadence step run")
        verbose_name_plural = _("cadence step runs")
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["enrollment", "step"], name="scrm_cadence_step_run_once")]

    def __str__(self) -> str:
        return f"{self.enrollment_id}/{self.step_id}: {self.outcome}"
