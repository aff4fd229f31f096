"""Coupons: templates (what a coupon is worth) and the coupons issued from them to customers.

A coupon is issued to a social identity (and/or a CRM contact by plain id), as a manual gift, a QR-campaign
prize or a reward for user-generated content; it is redeemed once (a conditional UPDATE, safe under concurrent
redemptions) or expires (beat task ``scrm.coupons_expire``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models.tenancy import TenantModel


class CouponKind(models.TextChoices):
    AMOUNT_OFF = "amount_off", _("Amount off (立减)")
    PERCENT_OFF = "percent_off", _("Percent off (折扣)")


@audited
class CouponTemplate(TenantModel):
    """What a coupon gives, how long it stays valid after issue and how many may be issued at most."""

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=CouponKind.choices, default=CouponKind.AMOUNT_OFF)
    value = models.DecimalField(_("value"), max_digits=18, decimal_places=2)
    min_spend = models.DecimalField(_("minimum spend"), max_digits=18, decimal_places=2, default=0)
    valid_days = models.PositiveIntegerField(_("valid for (days after issue)"), default=30)
    total_quantity = models.PositiveIntegerField(_("total quantity"), null=True, blank=True)
    issued_count = models.PositiveIntegerField(_("issued"), default=0, editable=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("coupon template")
        verbose_name_plural = _("coupon templates")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="scrm_coupon_template_name_unique"),
            models.CheckConstraint(condition=Q(value__gt=0), name="scrm_coupon_template_value_positive"),
            models.CheckConstraint(
                condition=~Q(kind="percent_off") | Q(value__lte=100), name="scrm_coupon_template_percent_max_100"
            ),
            models.CheckConstraint(condition=Q(min_spend__gte=0), name="scrm_coupon_template_min_spend_positive"),
            models.CheckConstraint(
                condition=Q(total_quantity__isnull=True) | Q(issued_count__lte=F("total_quantity")),
                name="scrm_coupon_template_not_over_issued",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CouponStatus(models.TextChoices):
    ISSUED = "issued", _("Issued")
    REDEEMED = "redeemed", _("Redeemed")
    EXPIRED = "expired", _("Expired")
    VOID = "void", _("Void")


class CouponReason(models.TextChoices):
    MANUAL = "manual", _("Issued by staff")
    QR_PRIZE = "qr_prize", _("QR campaign prize")
    UGC_REWARD = "ugc_reward", _("Reward for a post")


@audited
class Coupon(TenantModel):
    """One coupon held by one customer; ``code`` is what the customer shows at the till."""

    template = models.ForeignKey(
        CouponTemplate, on_delete=models.PROTECT, related_name="coupons", verbose_name=_("template")
    )
    code = models.CharField(_("code"), max_length=20, unique=True, editable=False)
    identity = models.ForeignKey(
        "scrm.SocialIdentity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="coupons",
        verbose_name=_("social identity"),
    )
    crm_contact_id = models.BigIntegerField(_("CRM contact id"), null=True, blank=True)
    recipient_phone = models.CharField(_("recipient phone"), max_length=32, blank=True)
    reason = models.CharField(_("reason"), max_length=20, choices=CouponReason.choices, default=CouponReason.MANUAL)
    status = models.CharField(_("status"), max_length=10, choices=CouponStatus.choices, default=CouponStatus.ISSUED)
    expires_at = models.DateTimeField(_("expires at"))
    redeemed_at = models.DateTimeField(_("redeemed at"), null=True, blank=True)
    redeemed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    order_reference = models.CharField(_("order reference"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="redeemed", redeemed_at__isnull=False)
                | (~Q(status="redeemed") & Q(redeemed_at__isnull=True)),
                name="scrm_coupon_redeemed_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["expires_at"], condition=Q(status="issued"), name="scrm_coupon_open_by_expiry"),
        ]

    def __str__(self) -> str:
        return self.code
