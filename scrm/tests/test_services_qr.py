"""QR campaigns: signed codes, scans with identity and region, prizes with their anti-fraud limits, and the
budget under 200 concurrent claims."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from scrm.models import Coupon, QrCampaign, QrClaim, QrCode, QrScan, SocialIdentity
from scrm.services.campaigns import (
    ClaimOutcome,
    Scanner,
    code_path,
    code_token,
    qr_campaign_create,
    qr_campaign_update,
    qr_codes_generate,
    qr_prize_claim,
    qr_scan_record,
    serial_from_token,
)
from scrm.tests.factories import make_channel
from scrm.tests.factories_campaigns import make_campaign, make_code, make_coupon_template, make_scan
from suite.models import OutboxEvent, Role

pytestmark = pytest.mark.django_db


def test_codes_are_unique_and_signed(company):
    campaign = make_campaign(company)
    codes = qr_codes_generate(campaign=campaign, count=50, channel_label="门店 A")
    assert len({c.serial for c in codes}) == 50
    token = code_token(codes[0])
    assert serial_from_token(token) == codes[0].serial
    assert code_path(codes[0]) == f"/scrm/q/{token}/"
    forged = codes[1].serial + token[len(codes[0].serial) :]
    assert serial_from_token(forged) is None
    assert serial_from_token("nothing") is None


def test_generate_refuses_bad_input_per_field(company, other_company, member):
    campaign = make_campaign(company)
    stranger = member(other_company, Role.SALES).user
    with pytest.raises(ValidationError) as caught:
        qr_codes_generate(campaign=campaign, count=0, product_sku="NOPE", lot_code="L1", staff=stranger)
    assert set(caught.value.message_dict) == {"count", "lot_code", "staff"}
    assert not QrCode.objects.filter(campaign=campaign).exists()


def test_campaign_validation(company):
    with pytest.raises(ValidationError) as caught:
        qr_campaign_create(
            company=company,
            name="",
            budget="-1",
            prize_amount="abc",
            starts_at=timezone.now(),
            ends_at=timezone.now() - timedelta(days=1),
        )
    assert set(caught.value.message_dict) == {"name", "budget", "prize_amount", "ends_at"}


def test_budget_cannot_go_below_what_was_paid(company):
    campaign = make_campaign(company, prize_amount=Decimal("5.00"), budget=Decimal("10.00"))
    assert qr_prize_claim(scan=make_scan(company, code=make_code(company, campaign=campaign))).granted
    with pytest.raises(ValidationError) as caught:
        qr_campaign_update(campaign=campaign, budget="4.99")
    assert "budget" in caught.value.message_dict
    assert qr_campaign_update(campaign=campaign, budget="5.00").budget == Decimal("5.00")


def test_database_refuses_spending_over_budget(company):
    campaign = make_campaign(company, budget=Decimal("10.00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        QrCampaign.objects.filter(pk=campaign.pk).update(spent=Decimal("10.01"))


def test_scan_records_scanner_region_source_and_publishes(company):
    code = make_code(company, campaign=make_campaign(company))
    scan = qr_scan_record(
        code=code, scanner=Scanner(phone="13912345678", province="浙江", city="杭州"), source="wechat"
    )
    assert (scan.scanner_key, scan.province, scan.city, scan.source) == ("tel:13912345678", "浙江", "杭州", "wechat")
    code.refresh_from_db()
    assert code.scan_count == 1
    event = OutboxEvent.objects.get(name="scrm.qr.scanned")
    assert event.payload["scan_id"] == scan.pk
    assert event.payload["province"] == "浙江"
    with pytest.raises(ValidationError):
        qr_scan_record(code=code, scanner=Scanner())


def test_wechat_scanner_becomes_a_social_identity_of_the_official_account(company):
    oa = make_channel(company, "wechat_oa", credentials={"app_secret": "s"}, config={"app_id": "wx1"})
    code = make_code(company, campaign=make_campaign(company, oauth_channel=oa))
    scan = qr_scan_record(code=code, scanner=Scanner(openid="o-abc", unionid="u-1", nickname="小王"))
    identity = SocialIdentity.objects.get(channel_kind="wechat_oa", external_id="o-abc")
    assert (scan.identity, identity.unionid, identity.display_name) == (identity, "u-1", "小王")


def test_one_prize_per_code(company):
    campaign = make_campaign(company)
    code = make_code(company, campaign=campaign)
    first = qr_prize_claim(scan=make_scan(company, code=code))
    second = qr_prize_claim(scan=make_scan(company, code=code))  # another person with the same code
    assert first.granted and first.claim.amount == Decimal("1.88")
    assert second.outcome == ClaimOutcome.CODE_USED
    code.refresh_from_db()
    assert code.claimed_at is not None
    assert QrClaim.objects.filter(code=code).count() == 1


def test_per_person_and_per_day_limits(company):
    campaign = make_campaign(company, per_person_limit=2, per_person_daily_limit=1, daily_prize_limit=2)

    def claim(phone):
        return qr_prize_claim(scan=make_scan(company, code=make_code(company, campaign=campaign), phone=phone)).outcome

    assert claim("13900000001") == ClaimOutcome.GRANTED
    assert claim("13900000001") == ClaimOutcome.PERSON_DAILY_LIMIT
    QrClaim.objects.filter(campaign=campaign).update(claimed_on=timezone.localdate() - timedelta(days=1))
    assert claim("13900000001") == ClaimOutcome.GRANTED  # a new day
    assert claim("13900000001") == ClaimOutcome.PERSON_LIMIT  # two in the whole campaign
    assert claim("13900000002") == ClaimOutcome.GRANTED  # the second prize of today
    assert claim("13900000003") == ClaimOutcome.DAILY_LIMIT  # two a day for everybody together
    campaign.refresh_from_db()
    assert campaign.prizes_granted == 3


def test_not_running_campaigns_grant_nothing(company):
    draft = make_campaign(company, status="draft")
    assert qr_prize_claim(scan=make_scan(company, code=make_code(company, campaign=draft))).outcome == "not_running"
    later = make_campaign(company, starts_at=timezone.now() + timedelta(hours=1))
    assert qr_prize_claim(scan=make_scan(company, code=make_code(company, campaign=later))).outcome == "not_running"
    channel_code = make_campaign(company, kind="channel_code")
    scan = make_scan(company, code=make_code(company, campaign=channel_code))
    assert qr_prize_claim(scan=scan).outcome == "no_prizes"


def test_budget_exhausted(company):
    campaign = make_campaign(company, prize_amount=Decimal("3.00"), budget=Decimal("7.00"))
    outcomes = [
        qr_prize_claim(scan=make_scan(company, code=make_code(company, campaign=campaign))).outcome for _ in range(3)
    ]
    assert outcomes == ["granted", "granted", "budget_exhausted"]
    campaign.refresh_from_db()
    assert campaign.spent == Decimal("6.00")


def test_prize_with_a_coupon(company):
    template = make_coupon_template(company)
    campaign = make_campaign(company, reward_template=template)
    result = qr_prize_claim(scan=make_scan(company, code=make_code(company, campaign=campaign), phone="13700000000"))
    coupon = Coupon.objects.get(pk=result.claim.coupon_id)
    assert (coupon.reason, coupon.recipient_phone) == ("qr_prize", "13700000000")


@pytest.mark.django_db(transaction=True)
def test_200_concurrent_claims_on_a_budget_of_50_grant_exactly_50(company):
    campaign = make_campaign(
        company, prize_amount=Decimal("1.00"), budget=Decimal("50.00"), per_person_limit=1, per_person_daily_limit=1
    )
    codes = qr_codes_generate(campaign=campaign, count=200)
    scans = [
        qr_scan_record(code=code, scanner=Scanner(phone=f"1380000{n:04d}"), source="test")
        for n, code in enumerate(codes)
    ]
    threads_count = 20
    barrier = threading.Barrier(threads_count)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(first: int) -> None:
        try:
            barrier.wait(timeout=30)
            for scan in scans[first::threads_count]:
                try:
                    outcome = qr_prize_claim(scan=scan).outcome
                except Exception as exc:  # reported in the assertion below
                    outcome = f"error {type(exc).__name__}: {exc}"
                with lock:
                    outcomes.append(outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 200
    assert outcomes.count("granted") == 50, [o for o in outcomes if o.startswith("error")][:3]
    assert outcomes.count("budget_exhausted") == 150
    campaign.refresh_from_db()
    assert (campaign.spent, campaign.prizes_granted) == (Decimal("50.00"), 50)
    assert QrClaim.objects.filter(campaign=campaign).count() == 50
    assert QrScan.objects.filter(campaign=campaign).count() == 200
