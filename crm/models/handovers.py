"""Owner handovers (closed loop, flow 11 — people → customers): when HR deactivates an employee, one tracked job
hands the person's open leads, opportunities, open activities, active tickets and customers (accounts and
contacts) to their successor, and asks SCRM to hand over their social (WeCom) contacts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models import TenantModel


class HandoverState(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


@audited
class OwnerHandover(TenantModel):
    """One handover of a user's CRM records to a successor: where it came from (``source_key``, unique per
    company: a redelivered event finds the same job), what moved (counts per kind), its state."""

    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("from user")
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("successor"),
    )
    source_key = models.CharField(_("source"), max_length=100, help_text=_("e.g. erp.employee:41"))
    erp_employee_id = models.BigIntegerField(_("ERP employee id"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=HandoverState.choices, default=HandoverState.RUNNING)
    leads_moved = models.PositiveIntegerField(_("leads moved"), default=0)
    opportunities_moved = models.PositiveIntegerField(_("opportunities moved"), default=0)
    activities_moved = models.PositiveIntegerField(_("activities moved"), default=0)
    tickets_moved = models.PositiveIntegerField(_("tickets moved"), default=0)
    accounts_moved = models.PositiveIntegerField(_("accounts moved"), default=0)
    contacts_moved = models.PositiveIntegerField(_("contacts moved"), default=0)
    chunks = models.PositiveIntegerField(_("chunks"), default=0)
    social_requested = models.BooleanField(_("social handover requested"), default=False)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("owner handover")
        verbose_name_plural = _("owner handovers")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "source_key"], name="crm_ownerhandover_source_unique"),
            models.CheckConstraint(
                condition=Q(to_user__isnull=True) | ~Q(to_user=F("from_user")), name="crm_ownerhandover_distinct"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.from_user_id} → {self.to_user_id} ({self.state})"

    @property
    def total_moved(self) -> int:
        return (
            self.leads_moved
            + self.opportunities_moved
            + self.activities_moved
            + self.tickets_moved
            + self.accounts_moved
            + self.contacts_moved
        )
