"""The API of QR campaigns, coupons and UGC: field-level 400s, policies, actions, query counts on lists."""

from __future__ import annotations

from decimal import Decimal

import pytest

from scrm.models import Coupon, QrCampaign, QrCode, UgcPost
from scrm.services.campaigns import Scanner, qr_prize_claim, qr_scan_record
from scrm.tests.factories import make_identity
from scrm.tests.factories_campaigns import make_campaign, make_code, make_coupon, make_coupon_template, make_ugc
from suite.models import Role

pytestmark = pytest.mark.django_db
BASE = "/api/v1/scrm"


@pytest.fixture
def marketing(company, member):
    return member(company, Role.MARKETING)


def test_create_campaign_and_generate_codes(company, marketing, api_client):
    client = api_client(marketing)
    template = make_coupon_template(company)
    response = client.post(
        f"{BASE}/qr-campaigns/",
        {
            "name": "新品扫码赢红包",
            "kind": "red_envelope",
            "status": "active",
            "prize_amount": "1.88",
            "budget": "500.00",
            "reward_template": template.pk,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["spent"], body["remaining_budget"], body["code_total"]) == ("0.00", "500.00", 0)
    campaign_id = body["id"]

    response = client.post(
        f"{BASE}/qr-campaigns/{campaign_id}/codes/", {"count": 3, "channel_label": "门店A"}, format="json"
    )
    assert response.status_code == 201, response.content
    codes = response.json()
    assert len(codes) == 3 and all(c["url"].startswith("/scrm/q/") for c in codes)
    assert client.get(f"{BASE}/qr-campaigns/{campaign_id}/").json()["code_total"] == 3
    assert client.get(f"{BASE}/qr-codes/", {"campaign": campaign_id}).json()["count"] == 3


def test_campaign_input_errors_are_per_field(company, marketing, api_client):
    client = api_client(marketing)
    make_campaign(company, name="重复")
    response = client.post(
        f"{BASE}/qr-campaigns/", {"name": "重复", "kind": "red_envelope", "budget": "-5"}, format="json"
    )
    assert response.status_code == 400
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"budget"}
    response = client.post(f"{BASE}/qr-campaigns/", {"name": "重复", "kind": "red_envelope"}, format="json")
    assert response.status_code == 400
    assert {error["field"] for error in response.json()["errors"]} == {"name"}
    campaign = make_campaign(company)
    response = client.post(
        f"{BASE}/qr-campaigns/{campaign.pk}/codes/", {"count": 5, "product_sku": "X", "lot_code": "Y"}, format="json"
    )
    assert response.status_code == 400
    assert {error["field"] for error in response.json()["errors"]} == {"lot_code"}
    assert QrCampaign.objects.filter(company=company).count() == 2


def test_service_reads_campaigns_but_cannot_change_them(company, member, api_client):
    client = api_client(member(company, Role.SERVICE))
    campaign = make_campaign(company)
    assert client.get(f"{BASE}/qr-campaigns/{campaign.pk}/").status_code == 200
    assert client.patch(f"{BASE}/qr-campaigns/{campaign.pk}/", {"budget": "1"}, format="json").status_code == 403
    assert client.post(f"{BASE}/qr-campaigns/{campaign.pk}/codes/", {"count": 1}, format="json").status_code == 403
    sales = api_client(member(company, Role.SALES))
    assert sales.get(f"{BASE}/qr-campaigns/").status_code == 403


def test_figures_and_scanners_by_region(company, marketing, api_client):
    campaign = make_campaign(company)
    for phone, province in (("13900000001", "浙江"), ("13900000002", "浙江"), ("13900000003", "广东")):
        scan = qr_scan_record(
            code=make_code(company, campaign=campaign), scanner=Scanner(phone=phone, province=province), source="box"
        )
        qr_prize_claim(scan=scan)
    client = api_client(marketing)
    figures = client.get(f"{BASE}/qr-campaigns/{campaign.pk}/figures/").json()
    assert (figures["scans"], figures["scanners"], figures["prizes"], figures["spent"]) == (3, 3, 3, "5.64")
    assert figures["by_region"][0] == {"province": "浙江", "city": "", "n": 2}
    scanners = client.get(f"{BASE}/qr-campaigns/{campaign.pk}/scanners/", {"province": "浙江"}).json()
    assert sorted(s["phone"] for s in scanners) == ["13900000001", "13900000002"]
    refused = client.get(f"{BASE}/qr-campaigns/{campaign.pk}/scanners/", {"city": "杭\x00州"})
    assert (refused.status_code, refused.json()["errors"][0]["field"]) == (400, "city")
    assert client.get(f"{BASE}/qr-claims/", {"campaign": campaign.pk}).json()["count"] == 3
    assert client.get(f"{BASE}/qr-scans/", {"campaign": campaign.pk, "province": "广东"}).json()["count"] == 1


def test_coupon_issue_and_redeem_once(company, marketing, member, api_client):
    template = make_coupon_template(company, value=Decimal("20"))
    identity = make_identity(company, crm_contact_id=5)
    client = api_client(marketing)
    response = client.post(f"{BASE}/coupons/", {"template": template.pk, "identity": identity.pk}, format="json")
    assert response.status_code == 201, response.content
    code = response.json()["code"]
    assert response.json()["crm_contact_id"] == 5
    service = api_client(member(company, Role.SERVICE))
    response = service.post(f"{BASE}/coupons/redeem/", {"code": code, "order_reference": "SO-9"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "redeemed"
    again = service.post(f"{BASE}/coupons/redeem/", {"code": code}, format="json")
    assert again.status_code == 400
    assert again.json()["errors"][0]["field"] == "code"
    assert (
        service.post(f"{BASE}/coupons/", {"template": template.pk, "recipient_phone": "1"}, format="json").status_code
        == 403
    )


def test_coupon_template_validation(company, marketing, api_client):
    response = api_client(marketing).post(
        f"{BASE}/coupon-templates/", {"name": "九折", "kind": "percent_off", "value": "150"}, format="json"
    )
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"value"}


def test_ugc_capture_feature_and_reward(company, marketing, api_client):
    client = api_client(marketing)
    identity = make_identity(company)
    response = client.post(
        f"{BASE}/ugc/",
        {"kind": "review", "text": "Great serum, love it", "identity": identity.pk, "rating": 5},
        format="json",
    )
    assert response.status_code == 201, response.content
    post = response.json()
    assert (post["sentiment"], post["language"]) == ("positive", "en")
    assert client.post(f"{BASE}/ugc/{post['id']}/feature/", {}, format="json").json()["is_featured"] is True
    template = make_coupon_template(company)
    rewarded = client.post(f"{BASE}/ugc/{post['id']}/reward/", {"template": template.pk}, format="json")
    assert rewarded.status_code == 200, rewarded.content
    assert rewarded.json()["reward_coupon_code"]
    twice = client.post(f"{BASE}/ugc/{post['id']}/reward/", {"template": template.pk}, format="json")
    assert twice.status_code == 400
    assert Coupon.objects.filter(reason="ugc_reward").count() == 1
    bad = client.post(f"{BASE}/ugc/", {"kind": "review", "text": "x", "rating": 7}, format="json")
    assert bad.status_code == 400 and {e["field"] for e in bad.json()["errors"]} == {"rating"}
    negative = client.get(f"{BASE}/ugc/", {"sentiment": "negative"}).json()
    assert negative["count"] == 0


def test_list_endpoints_have_flat_query_counts(company, marketing, api_client, django_assert_max_num_queries):
    client = api_client(marketing)
    for _ in range(3):
        campaign = make_campaign(company)
        qr_prize_claim(
            scan=qr_scan_record(code=make_code(company, campaign=campaign), scanner=Scanner(phone="13800000001"))
        )
        make_coupon(company)
        make_ugc(company, identity=make_identity(company))
    client.get(f"{BASE}/qr-campaigns/")  # warm the session / actor caches
    for path in ("qr-campaigns", "qr-codes", "qr-scans", "qr-claims", "coupon-templates", "coupons", "ugc"):
        with django_assert_max_num_queries(8):
            response = client.get(f"{BASE}/{path}/")
        assert response.status_code == 200, path
        assert response.json()["count"] >= 3, path
    assert QrCode.objects.filter(company=company).count() == 3
    assert UgcPost.objects.filter(company=company).count() == 3
