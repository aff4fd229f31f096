"""WeCom relationship features: channel QR codes (``add_contact_way``) that attribute each new external
contact to a channel, campaign and staff member; and staff handover jobs (customers and groups of a leaving or
moving staff member transferred to a successor, results polled, CRM records reassigned)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models.tenancy import TenantModel

from .channels import Channel
from .inbox import SocialIdentity

STATE_MAX_LENGTH = 30  # WeCom: "state" of add_contact_way is at most 30 characters


@audited
class ContactWay(TenantModel):
    """A WeCom 「联系我」 QR code. ``state`` comes back on ``add_external_contact`` (``State``) and attributes the
    new contact; ``crm_campaign_id`` is a CRM campaign (plain id, read through ``crm.selectors``)."""

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="contact_ways")
    name = models.CharField(_("name"), max_length=200)
    state = models.CharField(_("state"), max_length=STATE_MAX_LENGTH, validators=[MaxLengthValidator(30)])
    staff_ids = models.JSONField(_("staff (WeCom UserIDs)"), default=list)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("staff member"),
    )
    crm_campaign_id = models.BigIntegerField(_("CRM campaign id"), null=True, blank=True)
    config_id = models.CharField(_("WeCom config id"), max_length=64, blank=True)
    qr_code = models.URLField(_("QR code"), max_length=500, blank=True)
    added_count = models.PositiveIntegerField(_("contacts added"), default=0)

    class Meta:
        verbose_name = _("channel QR code")
        verbose_name_plural = _("channel QR codes")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "state"], name="scrm_contact_way_state_unique"),
            models.CheckConstraint(condition=Q(state__regex=r"^.{1,30}$"), name="scrm_contact_way_state_length"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"


class ContactWayAttribution(models.Model):
    """The new contact a QR code brought: once per (code, identity), however often WeCom retries."""

    company = models.ForeignKey("suite.Company", on_delete=models.CASCADE, related_name="+")
    contact_way = models.ForeignKey(ContactWay, on_delete=models.CASCADE, related_name="attributions")
    identity = models.ForeignKey(SocialIdentity, on_delete=models.CASCADE, related_name="contact_way_attributions")
    staff_id = models.CharField(_("staff (WeCom UserID)"), max_length=64, blank=True)
    added_at = models.DateTimeField(_("added at"))

    class Meta:
        verbose_name = _("QR code attribution")
        verbose_name_plural = _("QR code attributions")
        constraints = [
            models.UniqueConstraint(fields=["contact_way", "identity"], name="scrm_contact_way_attribution_once")
        ]

    def __str__(self) -> str:
        return f"{self.contact_way_id} → {self.identity_id}"


@audited
class HandoverJob(TenantModel):
    """Hand a staff member's WeCom customers and groups over to a successor, and their CRM records with them.

    ``in_service`` uses ``externalcontact/transfer_customer`` (the customer may refuse within 24 h),
    ``resigned`` uses ``externalcontact/resigned/transfer_customer``; results come from ``transfer_result``."""

    class Kind(models.TextChoices):
        IN_SERVICE = "in_service", _("Staff member changes role")
        RESIGNED = "resigned", _("Staff member left")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUBMITTING = "submitting", _("Submitting")
        WAITING = "waiting", _("Waiting for results")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="handover_jobs")
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    handover_staff_id = models.CharField(_("from (WeCom UserID)"), max_length=64)
    takeover_staff_id = models.CharField(_("to (WeCom UserID)"), max_length=64)
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("from user")
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("to user")
    )
    transfer_success_msg = models.CharField(_("message to customers"), max_length=200, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retry_after = models.DateTimeField(_("retry after"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("handover job")
        verbose_name_plural = _("handover jobs")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(handover_staff_id=models.F("takeover_staff_id")), name="scrm_handover_distinct_staff"
            )
        ]

    def __str__(self) -> str:
        return f"{self.handover_staff_id} → {self.takeover_staff_id}"


class HandoverItem(TenantModel):
    """One customer (external_userid) or group (chat_id) of a handover job and where it stands."""

    class Kind(models.TextChoices):
        CUSTOMER = "customer", _("Customer")
        GROUP = "group", _("Group")

    class Status(models.TextChoices):
        PENDING = "pending", _("Not submitted")
        WAITING = "waiting", _("Waiting for the customer")
        TRANSFERRED = "transferred", _("Transferred")
        FAILED = "failed", _("Failed")

    job = models.ForeignKey(HandoverJob, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    external_id = models.CharField(_("external_userid / chat_id"), max_length=128)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)
    errcode = models.IntegerField(_("WeCom errcode"), null=True, blank=True)
    result_status = models.PositiveSmallIntegerField(_("WeCom transfer status"), null=True, blank=True)
    detail = models.CharField(_("detail"), max_length=200, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("handover item")
        verbose_name_plural = _("handover items")
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["job", "kind", "external_id"], name="scrm_handover_item_once")]
        indexes = [models.Index(fields=["job", "status"], name="scrm_handover_item_status")]

    def __str__(self) -> str:
        return f"{self.kind} {self.external_id}: {self.status}"
