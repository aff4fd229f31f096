"""Auto-tag rules and saved segments.

A ``TagRule`` says "when X happens to a matched customer, put tag T on them" (X: a keyword in an inbound message, a
behaviour event, an ERP purchase, a CRM campaign response). Rules run in SCRM (the inbox pipeline and event
handlers); the tag itself is written by the CRM through ``scrm.customer.tag_requested``. A ``Segment`` is a saved
boolean query over CRM tags and attributes, compiled to SQL by ``crm.selectors.customers_in_segment``.

CRM tags and campaigns are referred to by plain ids (no foreign key across apps), like ``SocialIdentity``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models.tenancy import TenantModel


class RuleTrigger(models.TextChoices):
    KEYWORD = "keyword", _("Message keyword")
    BEHAVIOUR = "behaviour", _("Behaviour event")
    PURCHASE = "purchase", _("ERP purchase")
    CAMPAIGN = "campaign", _("Campaign participation")


class Behaviour(models.TextChoices):
    SCANNED_QR = "scanned_qr", _("Scanned a QR code")
    JOINED_COMMUNITY = "joined_community", _("Joined a community")
    REPLIED_TO_PUSH = "replied_to_push", _("Replied to a push")
    CLICKED_PUSH = "clicked_push", _("Clicked a push link")
    ADDED_CONTACT = "added_contact", _("Added a staff member on WeCom")


@audited
class TagRule(TenantModel):
    """Tag customers automatically. ``keywords`` (any of, case-insensitive substring) for keyword rules;
    ``behaviour`` for behaviour rules; ``product_ids`` (any of) and/or ``min_amount`` for purchase rules;
    ``crm_campaign_id`` for campaign rules. ``remove_tag_id`` (optional) is taken off at the same time (e.g.
    "潜客" off when "已购" goes on)."""

    name = models.CharField(_("name"), max_length=200)
    trigger = models.CharField(_("trigger"), max_length=20, choices=RuleTrigger.choices)
    is_active = models.BooleanField(_("active"), default=True)
    keywords = models.JSONField(_("keywords"), default=list, blank=True)
    behaviour = models.CharField(_("behaviour"), max_length=30, choices=Behaviour.choices, blank=True)
    product_ids = models.JSONField(_("ERP product ids"), default=list, blank=True)
    min_amount = models.DecimalField(_("minimum order amount"), max_digits=18, decimal_places=2, null=True, blank=True)
    crm_campaign_id = models.BigIntegerField(_("CRM campaign id"), null=True, blank=True)
    add_tag_id = models.BigIntegerField(_("CRM tag to add"))
    remove_tag_id = models.BigIntegerField(_("CRM tag to remove"), null=True, blank=True)

    class Meta:
        verbose_name = _("auto-tag rule")
        verbose_name_plural = _("auto-tag rules")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="scrm_tagrule_name_unique"),
            models.CheckConstraint(condition=Q(trigger__in=RuleTrigger.values), name="scrm_tagrule_trigger_valid"),
            models.CheckConstraint(
                condition=Q(min_amount__isnull=True) | Q(min_amount__gte=0), name="scrm_tagrule_min_amount_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["company", "trigger"], condition=Q(is_active=True), name="scrm_tagrule_active")]

    def __str__(self) -> str:
        return self.name

    @property
    def reference(self) -> str:
        """How the CRM's tag history names this rule."""
        return f"scrm:{self.pk} {self.name}"[:200]


@audited(exclude=["last_count", "counted_at"])
class Segment(TenantModel):
    """A saved boolean query over customers (see ``crm.selectors_segments`` for the grammar)."""

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    query = models.JSONField(_("query"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_count = models.PositiveIntegerField(_("last count"), null=True, blank=True)
    counted_at = models.DateTimeField(_("counted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="scrm_segment_name_unique")]

    def __str__(self) -> str:
        return self.name
