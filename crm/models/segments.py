"""What segments read besides the contact itself: the history of every tag change on a contact (manual or by an
SCRM auto-tag rule) and the contact's behaviour facts (spend, last interaction) kept by CRM handlers of ERP and
SCRM events, so a segment count is one SQL query over CRM tables."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .customers import Contact, Tag


class TagChangeAction(models.TextChoices):
    ADDED = "added", _("Tagged")
    REMOVED = "removed", _("Untagged")


class TagChangeSource(models.TextChoices):
    MANUAL = "manual", _("By hand")
    RULE = "rule", _("Auto-tag rule")
    IMPORT = "import", _("Import")
    API = "api", _("API")


class TagChange(models.Model):
    """One tag put on or taken off a contact: who (user) or what (rule) did it, and when. Append-only."""

    company = models.ForeignKey("suite.Company", on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="tag_changes")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="changes")
    action = models.CharField(_("action"), max_length=10, choices=TagChangeAction.choices)
    source = models.CharField(_("source"), max_length=10, choices=TagChangeSource.choices)
    rule = models.CharField(_("rule"), max_length=200, blank=True, help_text=_("the auto-tag rule, e.g. scrm:12 价格"))
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(_("at"), db_default=models.functions.Now())

    class Meta:
        verbose_name = _("tag change")
        verbose_name_plural = _("tag changes")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["contact", "-at"], name="crm_tagchange_contact")]
        constraints = [
            models.CheckConstraint(condition=Q(action__in=TagChangeAction.values), name="crm_tagchange_action_valid")
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} {self.action} {self.tag_id}"


class ContactFacts(models.Model):
    """Behaviour facts of a contact that segments filter on: money spent (paid invoices of its account, in the
    company currency) and the last social interaction. One row per contact, created on the first fact."""

    contact = models.OneToOneField(Contact, on_delete=models.CASCADE, primary_key=True, related_name="facts")
    company = models.ForeignKey("suite.Company", on_delete=models.CASCADE, related_name="+")
    spend = models.DecimalField(_("spend"), max_digits=18, decimal_places=2, default=Decimal("0.00"))
    last_purchase_at = models.DateTimeField(_("last purchase"), null=True, blank=True)
    last_interaction_at = models.DateTimeField(_("last interaction"), null=True, blank=True)

    class Meta:
        verbose_name = _("contact facts")
        verbose_name_plural = _("contact facts")
        # Covering (contact_id included): a segment's "spend ≥ X" is an index-only scan of the company's range.
        indexes = [
            models.Index(fields=["company", "spend"], include=["contact"], name="crm_contactfacts_spend_cover"),
            models.Index(
                fields=["company", "last_interaction_at"], include=["contact"], name="crm_contactfacts_seen_cover"
            ),
        ]

    def __str__(self) -> str:
        return str(self.contact_id)
