"""QR-code campaigns: create and run them, generate signed codes, record scans and grant prizes.

Claims of one campaign are serialised on its row (``lock_campaign``): the budget, per-person, per-person-per-day
and per-day limits are checked and the prize is written while the lock is held, so 200 simultaneous claims on
a budget of 50 prizes grant exactly 50. PostgreSQL backs it: ``spent <= budget`` is a CHECK and a code has at
most one claim (UNIQUE).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from erp.selectors import inventory as erp_inventory
from scrm import events as scrm_events
from scrm.models import (
    Channel,
    ChannelKind,
    CouponReason,
    CouponTemplate,
    QrCampaign,
    QrCampaignKind,
    QrCampaignStatus,
    QrClaim,
    QrCode,
    QrScan,
)
from scrm.services.coupons import coupon_issue
from scrm.services.payouts import qr_payout_queue
from suite import events
from suite.models import Company, Membership

SIGNING_SALT = "scrm.qr.code"
MAX_CODES_PER_CALL = 10_000
CAMPAIGN_FIELDS = (
    "name",
    "kind",
    "status",
    "landing_title",
    "landing_text",
    "starts_at",
    "ends_at",
    "prize_amount",
    "budget",
    "per_person_limit",
    "per_person_daily_limit",
    "daily_prize_limit",
    "reward_template",
    "oauth_channel",
)


# ---------------------------------------------------------------- campaigns


def lock_campaign(pk: int) -> QrCampaign:
    return QrCampaign.objects.select_for_update(of=("self",)).get(pk=pk)


def _money(value, *, field: str, errors: dict) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        errors.setdefault(field, []).append(_("Enter an amount."))
        return None
    if not number.is_finite() or number < 0 or number.as_tuple().exponent < -2:
        errors.setdefault(field, []).append(_("Enter an amount of at least 0 with at most two decimals."))
        return None
    return number


def _clean_campaign(company_id: int, data: dict, *, instance: QrCampaign | None = None) -> dict:
    errors: dict[str, list] = {}
    cleaned = dict(data)
    if "name" in data:
        cleaned["name"] = " ".join(str(data["name"] or "").split())[:200]
        if not cleaned["name"]:
            errors.setdefault("name", []).append(_("Give the campaign a name."))
        elif (
            QrCampaign.objects.filter(company_id=company_id, name=cleaned["name"])
            .exclude(pk=getattr(instance, "pk", None))
            .exists()
        ):
            errors.setdefault("name", []).append(_("A campaign with this name exists."))
    if "kind" in data and data["kind"] not in QrCampaignKind.values:
        errors.setdefault("kind", []).append(_("Unknown kind."))
    if "status" in data and data["status"] not in QrCampaignStatus.values:
        errors.setdefault("status", []).append(_("Unknown status."))
    for key in ("prize_amount", "budget"):
        if key in data:
            cleaned[key] = _money(data[key], field=key, errors=errors)
    budget = cleaned.get("budget", getattr(instance, "budget", Decimal("0")))
    if instance is not None and budget is not None and budget < instance.spent:
        errors.setdefault("budget", []).append(
            _("%(spent)s was paid out already; the budget cannot be lower.") % {"spent": instance.spent}
        )
    starts = cleaned.get("starts_at", getattr(instance, "starts_at", None))
    ends = cleaned.get("ends_at", getattr(instance, "ends_at", None))
    if starts and ends and ends <= starts:
        errors.setdefault("ends_at", []).append(_("The campaign must end after it starts."))
    template = cleaned.get("reward_template")
    if template is not None and template.company_id != company_id:
        errors.setdefault("reward_template", []).append(_("Unknown coupon template."))
    channel = cleaned.get("oauth_channel")
    if channel is not None and (channel.company_id != company_id or channel.kind != ChannelKind.WECHAT_OA):
        errors.setdefault("oauth_channel", []).append(_("Choose a WeChat Official Account channel of the company."))
    for key in ("per_person_limit", "per_person_daily_limit"):
        if key in data and (data[key] is None or int(data[key]) < 1):
            errors.setdefault(key, []).append(_("At least 1."))
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def qr_campaign_create(*, company: Company, **fields) -> QrCampaign:
    """A QR campaign (draft unless ``status`` says otherwise). Raises ``ValidationError`` per field."""
    fields = {k: v for k, v in fields.items() if k in CAMPAIGN_FIELDS}
    fields.setdefault("name", "")
    fields.setdefault("kind", QrCampaignKind.RED_ENVELOPE)
    cleaned = _clean_campaign(company.pk, fields)
    return QrCampaign.objects.create(company=company, **cleaned)


@transaction.atomic
def qr_campaign_update(*, campaign: QrCampaign, **fields) -> QrCampaign:
    """Change a campaign (its kind stays). Locks the campaign, so a change of budget or limits never races a
    claim; the budget cannot go below what was paid out."""
    locked = lock_campaign(campaign.pk)
    fields = {k: v for k, v in fields.items() if k in CAMPAIGN_FIELDS and k != "kind"}
    cleaned = _clean_campaign(locked.company_id, fields, instance=locked)
    for key, value in cleaned.items():
        setattr(locked, key, value)
    locked.save(update_fields=[*cleaned, "updated_at"])
    return locked


# ---------------------------------------------------------------- codes


def code_token(code: QrCode) -> str:
    """The signed value a printed code carries (``serial:signature``)."""
    return signing.Signer(salt=SIGNING_SALT).sign(code.serial)


def code_path(code: QrCode) -> str:
    return reverse("scrm:qr-landing", kwargs={"token": code_token(code)})


def serial_from_token(token: str) -> str | None:
    """The serial of a signed code, or ``None`` for an altered or forged one (no database read)."""
    try:
        return signing.Signer(salt=SIGNING_SALT).unsign(token)
    except signing.BadSignature:
        return None


@transaction.atomic
def qr_codes_generate(
    *,
    campaign: QrCampaign,
    count: int,
    product_sku: str = "",
    lot_code: str = "",
    channel_label: str = "",
    staff=None,
) -> list[QrCode]:
    """``count`` unique codes for the campaign: for one ERP lot (``product_sku`` + ``lot_code``, read through
    ``erp.selectors``) or for a channel / staff member. One INSERT. Raises ``ValidationError`` per field."""
    errors: dict[str, list] = {}
    if not isinstance(count, int) or not 1 <= count <= MAX_CODES_PER_CALL:
        errors.setdefault("count", []).append(_("Between 1 and %(max)d codes at a time.") % {"max": MAX_CODES_PER_CALL})
    lot = None
    if product_sku or lot_code:
        lot = erp_inventory.lot_find(company=campaign.company_id, sku=product_sku, code=lot_code)
        if lot is None:
            errors.setdefault("lot_code", []).append(
                _("No lot %(code)s of product %(sku)s.") % {"code": lot_code, "sku": product_sku}
            )
    if (
        staff is not None
        and not Membership.objects.filter(company_id=campaign.company_id, user=staff, is_active=True).exists()
    ):
        errors.setdefault("staff", []).append(_("The staff member must be an active member of the company."))
    if campaign.status == QrCampaignStatus.ENDED:
        errors.setdefault("campaign", []).append(_("The campaign has ended."))
    if errors:
        raise ValidationError(errors)
    codes = [
        QrCode(
            company_id=campaign.company_id,
            campaign=campaign,
            serial=secrets.token_urlsafe(12),
            lot_id=lot.pk if lot else None,
            product_sku=lot.product.sku if lot else "",
            lot_code=lot.code if lot else "",
            channel_label=" ".join(str(channel_label or "").split())[:100],
            staff=staff,
        )
        for _i in range(count)
    ]
    return QrCode.objects.bulk_create(codes, batch_size=1000)


# ---------------------------------------------------------------- scans


@dataclass
class Scanner:
    """Who scanned: a WeChat user (OAuth) or a phone number from the form, and where they are."""

    openid: str = ""
    unionid: str = ""
    phone: str = ""
    nickname: str = ""
    province: str = ""
    city: str = ""

    @property
    def key(self) -> str:
        return f"wx:{self.openid}" if self.openid else f"tel:{self.phone}"


@transaction.atomic
def qr_scan_record(*, code: QrCode, scanner: Scanner, source: str = "") -> QrScan:
    """Record a scan by a known scanner. A WeChat scanner becomes (or refreshes) a social identity of the
    campaign's Official Account channel and is resolved onto a CRM contact like any inbox sender. Publishes
    ``scrm.qr.scanned`` (behaviour for tag rules and follow-up pushes)."""
    from scrm.services.inbox import identity_resolve, identity_upsert

    if not scanner.openid and not scanner.phone:
        raise ValidationError({"phone": _("Sign in with WeChat or enter your phone number.")})
    campaign = code.campaign
    identity = None
    if scanner.openid and campaign.oauth_channel_id:
        channel = Channel.objects.get(pk=campaign.oauth_channel_id)
        identity, keys_changed = identity_upsert(
            channel=channel,
            event={"sender_id": scanner.openid, "sender_name": scanner.nickname, "unionid": scanner.unionid},
        )
        if keys_changed:
            identity = identity_resolve(identity=identity)
    scan = QrScan.objects.create(
        company_id=code.company_id,
        campaign_id=code.campaign_id,
        code=code,
        scanner_key=scanner.key[:100],
        openid=scanner.openid[:64],
        unionid=scanner.unionid[:64],
        phone=scanner.phone[:32],
        nickname=scanner.nickname[:100],
        province=scanner.province[:50],
        city=scanner.city[:50],
        source=(source or "")[:50],
        identity=identity,
    )
    QrCode.objects.filter(pk=code.pk).update(scan_count=F("scan_count") + 1)
    events.publish(
        scrm_events.QR_SCANNED, scrm_events.qr_scanned_payload(scan=scan, code=code), company_id=code.company_id
    )
    return scan


# ---------------------------------------------------------------- prizes


class ClaimOutcome:
    GRANTED = "granted"
    NOT_RUNNING = "not_running"
    NO_PRIZES = "no_prizes"
    CODE_USED = "code_used"
    PERSON_LIMIT = "person_limit"
    PERSON_DAILY_LIMIT = "person_daily_limit"
    DAILY_LIMIT = "daily_limit"
    BUDGET_EXHAUSTED = "budget_exhausted"


@dataclass
class ClaimResult:
    outcome: str
    claim: QrClaim | None = None

    @property
    def granted(self) -> bool:
        return self.outcome == ClaimOutcome.GRANTED


def campaign_is_running(campaign: QrCampaign, now=None) -> bool:
    now = now or timezone.now()
    return (
        campaign.status == QrCampaignStatus.ACTIVE
        and (campaign.starts_at is None or campaign.starts_at <= now)
        and (campaign.ends_at is None or now < campaign.ends_at)
    )


@transaction.atomic
def qr_prize_claim(*, scan: QrScan) -> ClaimResult:
    """Try to win the campaign's prize with the scan's code.

    Locks the campaign row (all claims of a campaign queue there), then refuses — as an outcome, not an error —
    a campaign not running or without prizes, a code that already won (one prize per code), a scanner at
    their campaign or daily limit, a day at the campaign's daily limit, or a budget that cannot pay one more
    prize. Else writes the claim (payout pending), adds the amount to ``spent``, marks the code and issues the
    campaign's coupon if it has one. The CHECK ``spent <= budget`` and the UNIQUE claim per code back the checks
    in the database. Once the budget is spent, claims are refused before taking the lock."""
    now = timezone.now()
    # Fast refusal without the lock once the budget is spent: ``spent`` only grows, so an unlocked read that
    # says "no money left" is true now too (a raised budget is seen by the next claim). Keeps a crowd of late
    # scanners from queueing on the campaign row.
    spent, budget, prize = QrCampaign.objects.filter(pk=scan.campaign_id).values_list(
        "spent", "budget", "prize_amount"
    )[0]
    if prize > 0 and spent + prize > budget:
        return ClaimResult(ClaimOutcome.BUDGET_EXHAUSTED)
    campaign = lock_campaign(scan.campaign_id)
    if not campaign_is_running(campaign, now):
        return ClaimResult(ClaimOutcome.NOT_RUNNING)
    if campaign.kind != QrCampaignKind.RED_ENVELOPE or (campaign.prize_amount <= 0 and not campaign.reward_template_id):
        return ClaimResult(ClaimOutcome.NO_PRIZES)
    if QrClaim.objects.filter(code_id=scan.code_id).exists():
        return ClaimResult(ClaimOutcome.CODE_USED)
    today = timezone.localdate(now)
    mine = QrClaim.objects.filter(campaign=campaign, scanner_key=scan.scanner_key)
    if mine.count() >= campaign.per_person_limit:
        return ClaimResult(ClaimOutcome.PERSON_LIMIT)
    if mine.filter(claimed_on=today).count() >= campaign.per_person_daily_limit:
        return ClaimResult(ClaimOutcome.PERSON_DAILY_LIMIT)
    if (
        campaign.daily_prize_limit is not None
        and QrClaim.objects.filter(campaign=campaign, claimed_on=today).count() >= campaign.daily_prize_limit
    ):
        return ClaimResult(ClaimOutcome.DAILY_LIMIT)
    if campaign.spent + campaign.prize_amount > campaign.budget:
        return ClaimResult(ClaimOutcome.BUDGET_EXHAUSTED)
    coupon = None
    if campaign.reward_template_id:
        template = CouponTemplate.objects.get(pk=campaign.reward_template_id)
        try:
            with transaction.atomic():
                coupon = coupon_issue(
                    template=template,
                    identity=scan.identity,
                    recipient_phone=scan.phone,
                    crm_contact_id=getattr(scan.identity, "crm_contact_id", None),
                    reason=CouponReason.QR_PRIZE,
                )
        except ValidationError:
            coupon = None  # the coupons ran out: the red envelope (if any) is still the prize
        if coupon is None and campaign.prize_amount <= 0:
            return ClaimResult(ClaimOutcome.BUDGET_EXHAUSTED)
    claim = QrClaim.objects.create(
        company_id=campaign.company_id,
        campaign=campaign,
        code_id=scan.code_id,
        scan=scan,
        scanner_key=scan.scanner_key,
        amount=campaign.prize_amount,
        coupon=coupon,
        payout_status=QrClaim.Payout.PENDING if campaign.prize_amount > 0 else QrClaim.Payout.NONE,
        claimed_at=now,
        claimed_on=today,
    )
    campaign.spent += campaign.prize_amount
    campaign.prizes_granted += 1
    campaign.save(update_fields=["spent", "prizes_granted", "updated_at"])
    QrCode.objects.filter(pk=scan.code_id).update(claimed_at=now)
    qr_payout_queue(claim, campaign=campaign, openid=scan.openid)  # red packet via WeChat Pay after commit
    return ClaimResult(ClaimOutcome.GRANTED, claim)
