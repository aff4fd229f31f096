"""Consent and pushes.

``Consent``: the lawful basis (PIPL art. 13 / GDPR art. 6: consent, contract, legitimate interest) on which we may
push to a CRM contact on a kind of channel, where it came from and when; withdrawing (退订/TD, the unsubscribe link,
staff) sets ``withdrawn_at`` at once and a push is never sent without a live consent.

``PushCampaign``: personalised content per channel sent to the matched customers of a ``Segment``; every recipient
is a ``PushMessage`` (queued → sending → sent / failed / skipped) carrying delivery, open and click tracking. The
frequency cap (``PushPolicy``: at most N pushes per contact in D days across campaigns) is checked under a row
lock of the contact's ``PushCapLock``, so two parallel sends cannot both take the last slot.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models.tenancy import TenantModel

from .channels import Channel, ChannelKind
from .inbox import SocialIdentity
from .segments import Segment


class LawfulBasis(models.TextChoices):
    CONSENT = "consent", _("Consent")
    CONTRACT = "contract", _("Contract")
    LEGITIMATE_INTEREST = "legitimate_interest", _("Legitimate interest")


@audited
class Consent(TenantModel):
    """May we push to this contact on this kind of channel, on what basis, since when (and until when)."""

    crm_contact_id = models.BigIntegerField(_("CRM contact id"))
    channel_kind = models.CharField(_("channel kind"), max_length=20, choices=ChannelKind.choices)
    lawful_basis = models.CharField(_("lawful basis"), max_length=30, choices=LawfulBasis.choices)
    source = models.CharField(_("source"), max_length=200, help_text=_("where it was given, e.g. QR landing page"))
    evidence = models.TextField(_("evidence"), blank=True, help_text=_("wording shown, form id, message id …"))
    granted_at = models.DateTimeField(_("granted at"))
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    withdrawn_via = models.CharField(_("withdrawn via"), max_length=50, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["-granted_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "crm_contact_id", "channel_kind"],
                condition=Q(withdrawn_at__isnull=True),
                name="scrm_consent_one_live_per_channel",
            ),
            models.CheckConstraint(
                condition=Q(lawful_basis__in=LawfulBasis.values), name="scrm_consent_lawful_basis_valid"
            ),
            models.CheckConstraint(
                condition=Q(withdrawn_at__isnull=True) | Q(withdrawn_at__gte=models.F("granted_at")),
                name="scrm_consent_withdrawn_after_granted",
            ),
        ]
        indexes = [models.Index(fields=["company", "crm_contact_id"], name="scrm_consent_contact")]

    def __str__(self) -> str:
        return f"{self.crm_contact_id} / {self.channel_kind}: {self.lawful_basis}"


@audited
class PushPolicy(TenantModel):
    """The company's frequency cap: at most ``max_pushes`` pushes to one contact in ``window_days`` days."""

    max_pushes = models.PositiveSmallIntegerField(_("pushes at most"), default=3)
    window_days = models.PositiveSmallIntegerField(_("in days"), default=7)

    class Meta:
        verbose_name = _("push policy")
        verbose_name_plural = _("push policies")
        constraints = [
            models.UniqueConstraint(fields=["company"], name="scrm_pushpolicy_one_per_company"),
            models.CheckConstraint(condition=Q(window_days__gte=1), name="scrm_pushpolicy_window_positive"),
        ]

    def __str__(self) -> str:
        return f"≤ {self.max_pushes} / {self.window_days} d"


class PushCampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    SENDING = "sending", _("Sending")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")
    # closed loop (issue #7, flow 8): a warm-up campaign waits for its product's restock; a sending campaign of a
    # product pauses while its stock is below the threshold or its price list has expired
    WAITING_STOCK = "waiting_stock", _("Waiting for stock")
    PAUSED_STOCK = "paused_stock", _("Paused: stock or price")


@audited
class PushCampaign(TenantModel):
    """A push to a segment: content per channel, a schedule, an optional tracked link and CRM campaign."""

    name = models.CharField(_("name"), max_length=200)
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="push_campaigns")
    crm_campaign_id = models.BigIntegerField(_("CRM campaign id"), null=True, blank=True)
    link_url = models.URLField(_("tracked link"), blank=True, help_text=_("{link} in the text is replaced by it"))
    status = models.CharField(
        _("status"), max_length=20, choices=PushCampaignStatus.choices, default=PushCampaignStatus.DRAFT
    )
    # The ERP product the campaign sells (closed loop, flow 8), read through erp.selectors.stock_signals: it starts
    # (waiting_stock) when the free stock reaches the threshold and pauses (paused_stock) below it or when the
    # price list expires.
    erp_product_id = models.BigIntegerField(_("ERP product id"), null=True, blank=True)
    stock_threshold = models.DecimalField(
        _("minimum free stock"), max_digits=18, decimal_places=4, default=Decimal("1"),
        help_text=_("Sent only while the product's free stock is at least this."),
    )  # fmt: skip
    erp_price_list_id = models.BigIntegerField(_("ERP price list id"), null=True, blank=True)
    stock_reason = models.CharField(_("why waiting or paused"), max_length=200, blank=True)
    scheduled_at = models.DateTimeField(_("scheduled at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("push campaign")
        verbose_name_plural = _("push campaigns")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=PushCampaignStatus.values), name="scrm_pushcampaign_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="scheduled") | Q(scheduled_at__isnull=False),
                name="scrm_pushcampaign_scheduled_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["waiting_stock", "paused_stock"]) | Q(erp_product_id__isnull=False),
                name="scrm_pushcampaign_stock_states_have_product",
            ),
            models.CheckConstraint(condition=Q(stock_threshold__gt=0), name="scrm_pushcampaign_threshold_positive"),
        ]
        indexes = [
            models.Index(fields=["scheduled_at"], condition=Q(status="scheduled"), name="scrm_pushcampaign_due"),
            models.Index(
                fields=["company", "erp_product_id"],
                condition=Q(erp_product_id__isnull=False),
                name="scrm_pushcampaign_product",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PushContent(models.Model):
    """The text of a campaign on one channel, with ``{name}``, ``{city}``, ``{link}`` … placeholders."""

    campaign = models.ForeignKey(PushCampaign, on_delete=models.CASCADE, related_name="contents")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(_("text"), max_length=2000)

    class Meta:
        verbose_name = _("push content")
        verbose_name_plural = _("push contents")
        constraints = [models.UniqueConstraint(fields=["campaign", "channel"], name="scrm_pushcontent_one_per_channel")]

    def __str__(self) -> str:
        return self.text[:50]


class PushMessageStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")


class SkipReason(models.TextChoices):
    NO_CONSENT = "no_consent", _("No lawful basis recorded")
    WITHDRAWN = "withdrawn", _("Unsubscribed")
    FREQUENCY_CAP = "frequency_cap", _("Frequency cap reached")
    CANCELLED = "cancelled", _("Campaign cancelled")


class PushMessage(models.Model):
    """One recipient of a push campaign on one channel, and what happened to it."""

    company = models.ForeignKey("suite.Company", on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(PushCampaign, on_delete=models.CASCADE, related_name="messages")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="+")
    identity = models.ForeignKey(SocialIdentity, on_delete=models.PROTECT, related_name="+")
    crm_contact_id = models.BigIntegerField(_("CRM contact id"))
    status = models.CharField(
        _("status"), max_length=10, choices=PushMessageStatus.choices, default=PushMessageStatus.QUEUED
    )
    skip_reason = models.CharField(_("skipped because"), max_length=20, choices=SkipReason.choices, blank=True)
    text = models.TextField(_("text sent"), blank=True)
    external_id = models.CharField(_("platform message id"), max_length=200, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    reserved_at = models.DateTimeField(_("counted against the cap at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    opened_at = models.DateTimeField(_("opened at"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("first click at"), null=True, blank=True)
    clicks = models.PositiveIntegerField(_("clicks"), default=0)

    class Meta:
        verbose_name = _("push message")
        verbose_name_plural = _("push messages")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "identity"], name="scrm_pushmessage_one_per_identity"),
            models.CheckConstraint(
                condition=Q(status__in=PushMessageStatus.values), name="scrm_pushmessage_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="scrm_pushmessage_campaign"),
            models.Index(
                fields=["company", "crm_contact_id", "reserved_at"],
                condition=Q(status__in=["sending", "sent"]),
                name="scrm_pushmessage_cap",
            ),
            models.Index(fields=["identity", "-sent_at"], condition=Q(status="sent"), name="scrm_pushmessage_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} → {self.identity_id}: {self.status}"


class PushCapLock(models.Model):
    """The row two parallel sends to the same contact both lock (``SELECT … FOR UPDATE``) before counting the
    contact's pushes in the window: the count and the reservation happen one after the other, never together."""

    company = models.ForeignKey("suite.Company", on_delete=models.CASCADE, related_name="+")
    crm_contact_id = models.BigIntegerField(_("CRM contact id"))
    last_reserved_at = models.DateTimeField(_("last reserved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("push cap lock")
        verbose_name_plural = _("push cap locks")
        constraints = [
            models.UniqueConstraint(fields=["company", "crm_contact_id"], name="scrm_pushcaplock_one_per_contact")
        ]

    def __str__(self) -> str:
        return str(self.crm_contact_id)
