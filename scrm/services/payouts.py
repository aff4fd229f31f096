"""Red-envelope payout of granted QR prizes through WeChat Pay's "send red packet" (scrm.channels.wechat_pay).

Where the settings live: the campaign's WeChat Official Account channel (``oauth_channel``, whose openids the
scanners have). Its encrypted credentials hold ``pay_mch_id`` and ``pay_api_key``; its config ``app_id`` (the
wxappid), ``pay_send_name``, ``pay_client_ip`` and optionally ``pay_api_base``, ``pay_cert_file``, ``pay_key_file``
(merchant client certificate for mutual TLS).

States of ``QrClaim.payout_status``: ``pending`` → ``sent`` | ``failed`` (reason) | ``retrying`` (``SYSTEMERROR``
or no answer; sent again later with the same bill number). One prize is paid at most once: the claim is the
unit (UNIQUE per code), its bill number is derived from the claim and stored UNIQUE, and a send happens only
while holding the claim's row lock in state pending/retrying. The campaign's budget was taken when the prize was
granted and is never touched here (a retry costs nothing more).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from scrm.channels.wechat_pay import RedPacketClient
from scrm.models import Channel, QrCampaign, QrClaim

RETRY_DELAYS = (30, 120, 600, 1800)  # seconds before attempts 2, 3, 4, 5; then the payout is failed
SWEEP_GRACE = timedelta(minutes=5)  # a send this late lost its task (killed worker, flushed queue): queue it again


def payout_client(channel: Channel | None) -> RedPacketClient | None:
    """The red packet client of a WeChat Official Account channel, or ``None`` if it has no WeChat Pay set up."""
    if channel is None:
        return None
    credentials, config = channel.credentials, channel.config or {}
    if not credentials.get("pay_mch_id") or not credentials.get("pay_api_key"):
        return None
    return RedPacketClient(
        mch_id=credentials["pay_mch_id"],
        api_key=credentials["pay_api_key"],
        wxappid=config.get("app_id", ""),
        send_name=config.get("pay_send_name", "") or channel.name,
        client_ip=config.get("pay_client_ip", "127.0.0.1"),
        api_base=config.get("pay_api_base", "https://api.mch.weixin.qq.com"),
        cert_file=config.get("pay_cert_file", ""),
        key_file=config.get("pay_key_file", ""),
    )


def bill_number(mch_id: str, claim: QrClaim) -> str:
    """The documented form mch_id + yyyymmdd + 10 digits (28 characters), unique per prize."""
    return f"{mch_id}{claim.claimed_on:%Y%m%d}{claim.pk % 10**10:010d}"[:28]


def payout_wanted(claim: QrClaim, campaign: QrCampaign, openid: str) -> bool:
    return claim.payout_status == QrClaim.Payout.PENDING and bool(openid) and campaign.oauth_channel_id is not None


def qr_payout_queue(claim: QrClaim, *, campaign: QrCampaign, openid: str) -> None:
    """After the grant commits, queue the payout (only for a WeChat scanner of a campaign with WeChat Pay)."""
    if not payout_wanted(claim, campaign, openid):
        return
    if payout_client(Channel.objects.get(pk=campaign.oauth_channel_id)) is None:
        return  # no WeChat Pay set up: the prize stays "to pay" for finance, as before
    from scrm.tasks import qr_payout_send as task

    claim_id = claim.pk
    QrClaim.objects.filter(pk=claim_id).update(payout_due_at=timezone.now())
    transaction.on_commit(lambda: task.delay(claim_id))


def qr_payouts_sweep(*, now=None) -> list[int]:
    """The claims whose send is overdue by more than ``SWEEP_GRACE``: their task was lost (a worker killed before
    it ran or re-queued it). Marks them due now and returns their ids for the caller to queue again; sending twice is
    harmless (the claim's row lock and state decide, and WeChat Pay pays one bill number once)."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            QrClaim.objects.select_for_update(skip_locked=True)
            .filter(
                payout_status__in=(QrClaim.Payout.PENDING, QrClaim.Payout.RETRYING),
                payout_due_at__isnull=False,
                payout_due_at__lt=now - SWEEP_GRACE,
            )
            .order_by("payout_due_at")
            .values_list("pk", flat=True)[:500]
        )
        if ids:
            QrClaim.objects.filter(pk__in=ids).update(payout_due_at=now)
    return ids


def qr_payout_send(*, claim_id: int) -> QrClaim | None:
    """Send (or send again) the red packet of one claim. ``None`` when another worker holds the claim."""
    with transaction.atomic():
        claim = (
            QrClaim.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("campaign", "scan")
            .filter(pk=claim_id)
            .first()
        )
        if claim is None or claim.payout_status not in (QrClaim.Payout.PENDING, QrClaim.Payout.RETRYING):
            return claim
        campaign = claim.campaign
        channel = Channel.objects.filter(pk=campaign.oauth_channel_id).first() if campaign.oauth_channel_id else None
        client = payout_client(channel)
        fields = [
            "payout_status", "payout_reason", "payout_attempts", "mch_billno", "payout_listid", "payout_sent_at",
            "payout_due_at",
        ]  # fmt: skip
        claim.payout_due_at = None
        if client is None or not claim.scan.openid:
            claim.payout_status = QrClaim.Payout.FAILED
            claim.payout_reason = _("No WeChat Pay account or no WeChat openid for this prize.")
            claim.save(update_fields=fields)
            return claim
        claim.mch_billno = claim.mch_billno or bill_number(client.mch_id, claim)
        claim.payout_attempts += 1
        result = client.send(
            billno=claim.mch_billno,
            openid=claim.scan.openid,
            amount=claim.amount,
            wishing=campaign.landing_title or campaign.name,
            act_name=campaign.name,
            remark=campaign.name,
        )
        if result.ok:
            claim.payout_status, claim.payout_reason = QrClaim.Payout.SENT, ""
            claim.payout_listid, claim.payout_sent_at = result.listid[:64], timezone.now()
        elif result.retry and claim.payout_attempts <= len(RETRY_DELAYS):
            claim.payout_status, claim.payout_reason = QrClaim.Payout.RETRYING, result.reason
            claim.payout_due_at = timezone.now() + timedelta(seconds=RETRY_DELAYS[claim.payout_attempts - 1])
        else:
            claim.payout_status, claim.payout_reason = QrClaim.Payout.FAILED, result.reason
        claim.save(update_fields=fields)
        return claim
