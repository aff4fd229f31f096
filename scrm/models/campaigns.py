"""QR-code campaigns (扫码赢红包 and 渠道活码): signed codes per product lot or per channel/staff member, the scans
of them, and the prizes granted.

Money is guarded in PostgreSQL: a campaign's ``spent`` never exceeds its ``budget`` (CHECK), and a code wins at
most one prize (UNIQUE on the claim's code). The claim service serialises claims of one campaign on its row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from suite.audit import audited
from suite.models.tenancy import TenantModel


class QrCampaignKind(models.TextChoices):
    RED_ENVELOPE = "red_envelope", _("Scan to win (扫码赢红包)")
    CHANNEL_CODE = "channel_code", _("Channel code (渠道活码)")


class QrCampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    ENDED = "ended", _("Ended")


@audited(exclude=["spent", "prizes_granted", "updated_at"])
class QrCampaign(TenantModel):
    """A QR campaign: the landing page its codes open, the prize per winning scan and the budget and limits
    that keep fraud out (one prize per code, per person, per person per day, per day overall)."""

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=QrCampaignKind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=QrCampaignStatus.choices, default=QrCampaignStatus.DRAFT
    )
    landing_title = models.CharField(_("landing page title"), max_length=200, blank=True)
    landing_text = models.TextField(_("landing page text"), blank=True)
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    prize_amount = models.DecimalField(_("red envelope per prize"), max_digits=18, decimal_places=2, default=0)
    budget = models.DecimalField(_("red envelope budget"), max_digits=18, decimal_places=2, default=0)
    spent = models.DecimalField(_("spent"), max_digits=18, decimal_places=2, default=0, editable=False)
    prizes_granted = models.PositiveIntegerField(_("prizes granted"), default=0, editable=False)
    per_person_limit = models.PositiveIntegerField(_("prizes per person"), default=1)
    per_person_daily_limit = models.PositiveIntegerField(_("prizes per person per day"), default=1)
    daily_prize_limit = models.PositiveIntegerField(_("prizes per day (all people)"), null=True, blank=True)
    reward_template = models.ForeignKey(
        "scrm.CouponTemplate",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("coupon given with each prize"),
    )
    oauth_channel = models.ForeignKey(
        "scrm.Channel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("WeChat Official Account for sign-in"),
    )

    class Meta:
        verbose_name = _("QR campaign")
        verbose_name_plural = _("QR campaigns")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="scrm_qr_campaign_name_unique"),
            models.CheckConstraint(condition=Q(budget__gte=0), name="scrm_qr_campaign_budget_positive"),
            models.CheckConstraint(condition=Q(prize_amount__gte=0), name="scrm_qr_campaign_prize_positive"),
            models.CheckConstraint(
                condition=Q(spent__gte=0) & Q(spent__lte=F("budget")), name="scrm_qr_campaign_within_budget"
            ),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(starts_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="scrm_qr_campaign_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def remaining_budget(self):
        return self.budget - self.spent


class QrCode(TenantModel):
    """One printed or shared code. ``serial`` is random and unique; the URL carries it signed (so a guessed or
    altered code is refused before any lookup). A code points at an ERP lot (plain id, with the SKU and lot
    code copied for the page) or at a channel / staff member (渠道活码)."""

    campaign = models.ForeignKey(QrCampaign, on_delete=models.CASCADE, related_name="codes")
    serial = models.CharField(_("serial"), max_length=24, unique=True, editable=False)
    lot_id = models.BigIntegerField(_("ERP lot id"), null=True, blank=True)
    product_sku = models.CharField(_("product SKU"), max_length=64, blank=True)
    lot_code = models.CharField(_("lot code"), max_length=64, blank=True)
    channel_label = models.CharField(_("channel"), max_length=100, blank=True)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("staff member"),
    )
    scan_count = models.PositiveIntegerField(_("scans"), default=0, editable=False)
    claimed_at = models.DateTimeField(_("prize claimed at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("QR code")
        verbose_name_plural = _("QR codes")
        ordering = ["id"]
        indexes = [models.Index(fields=["campaign", "id"], name="scrm_qr_code_by_campaign")]

    def __str__(self) -> str:
        return self.serial


class QrScan(models.Model):
    """One scan that reached the landing page with a known scanner: who (WeChat openid from OAuth, or a phone
    from the form), where (province/city), from what source (``wechat``, ``browser``, a ``src`` label)."""

    company = models.ForeignKey("suite.Company", on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(QrCampaign, on_delete=models.CASCADE, related_name="scans")
    code = models.ForeignKey(QrCode, on_delete=models.CASCADE, related_name="scans")
    scanner_key = models.CharField(_("scanner"), max_length=100)
    openid = models.CharField(_("WeChat openid"), max_length=64, blank=True)
    unionid = models.CharField(_("WeChat unionid"), max_length=64, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    nickname = models.CharField(_("nickname"), max_length=100, blank=True)
    province = models.CharField(_("province"), max_length=50, blank=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    source = models.CharField(_("source"), max_length=50, blank=True)
    identity = models.ForeignKey(
        "scrm.SocialIdentity", null=True, blank=True, on_delete=models.SET_NULL, related_name="qr_scans"
    )
    scanned_at = models.DateTimeField(_("scanned at"), auto_now_add=True)

    class Meta:
        verbose_name = _("QR scan")
        verbose_name_plural = _("QR scans")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["campaign", "-id"], name="scrm_qr_scan_by_campaign"),
            models.Index(fields=["campaign", "province", "city"], name="scrm_qr_scan_by_region"),
        ]

    def __str__(self) -> str:
        return f"{self.scanner_key} @ {self.code_id}"


class QrClaim(models.Model):
    """A prize granted for a code: the red-envelope amount (paid out by finance; ``payout_status``) and the
    coupon issued with it. UNIQUE on ``code``: one prize per code, whatever the application does."""

    class Payout(models.TextChoices):
        PENDING = "pending", _("To pay")
        PAID = "paid", _("Paid")
        NONE = "none", _("No red envelope")
        # WeChat Pay red packet (scrm.services.payouts): sent | failed (reason) | retrying (same bill number).
        SENT = "sent", _("Sent by WeChat Pay")
        FAILED = "failed", _("Payout failed")
        RETRYING = "retrying", _("Retrying payout")

    company = models.ForeignKey("suite.Company", on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(QrCampaign, on_delete=models.CASCADE, related_name="claims")
    code = models.OneToOneField(QrCode, on_delete=models.CASCADE, related_name="claim")
    scan = models.ForeignKey(QrScan, on_delete=models.PROTECT, related_name="+")
    scanner_key = models.CharField(_("scanner"), max_length=100)
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=2)
    coupon = models.ForeignKey("scrm.Coupon", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    payout_status = models.CharField(_("payout"), max_length=10, choices=Payout.choices, default=Payout.PENDING)
    claimed_at = models.DateTimeField(_("claimed at"))
    claimed_on = models.DateField(_("claimed on"))
    # The WeChat Pay bill number of the red packet: set once at the first attempt and reused on every retry, so
    # WeChat Pay pays one prize at most once (UNIQUE here too).
    mch_billno = models.CharField(_("bill number"), max_length=28, null=True, blank=True, unique=True, editable=False)
    payout_reason = models.CharField(_("payout failure reason"), max_length=200, blank=True, editable=False)
    payout_attempts = models.PositiveSmallIntegerField(_("payout attempts"), default=0, editable=False)
    payout_listid = models.CharField(_("WeChat Pay order id"), max_length=64, blank=True, editable=False)
    payout_sent_at = models.DateTimeField(_("paid out at"), null=True, blank=True, editable=False)
    # When the next send is due (queued now, or a retry's countdown); a claim still pending/retrying well after it
    # lost its task with a killed worker and is queued again by the beat sweep (scrm.services.payouts).
    payout_due_at = models.DateTimeField(_("payout due at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("QR prize")
        verbose_name_plural = _("QR prizes")
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="scrm_qr_claim_amount_positive")]
        indexes = [
            models.Index(fields=["campaign", "scanner_key", "claimed_on"], name="scrm_qr_claim_by_person"),
            models.Index(fields=["campaign", "claimed_on"], name="scrm_qr_claim_by_day"),
            models.Index(
                fields=["payout_due_at"],
                name="scrm_qr_claim_payout_due",
                condition=Q(payout_status__in=["pending", "retrying"], payout_due_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scanner_key}: {self.amount}"
