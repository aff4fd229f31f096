"""Campaign pages (figures, code generation, query counts), the public landing page (phone form and WeChat
sign-in against a local fake of WeChat's OAuth API, prizes) and the UGC wall."""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from scrm.models import Coupon, QrClaim, QrScan, SocialIdentity, UgcPost
from scrm.services.campaigns import Scanner, code_path, qr_prize_claim, qr_scan_record
from scrm.tests.factories import make_channel, make_identity
from scrm.tests.factories_campaigns import make_campaign, make_code, make_coupon_template, make_ugc
from suite.models import Role

pytestmark = pytest.mark.django_db
PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.44"


@pytest.fixture
def login():
    def make(membership) -> Client:
        client = Client()
        client.force_login(membership.user)
        return client

    return make


@pytest.fixture
def marketing(company, member):
    company.enabled_modules = ["scrm"]
    company.save(update_fields=["enabled_modules"])
    return member(company, Role.MARKETING)


def test_campaign_list_and_detail_show_figures_with_flat_queries(
    company, marketing, login, django_assert_max_num_queries
):
    client = login(marketing)
    for n in range(3):
        campaign = make_campaign(company, name=f"活动{n}")
        scan = qr_scan_record(
            code=make_code(company, campaign=campaign), scanner=Scanner(phone=f"1390000000{n}", province="浙江")
        )
        qr_prize_claim(scan=scan)
    client.get("/scrm/qr-campaigns/")
    with django_assert_max_num_queries(12):
        page = client.get("/scrm/qr-campaigns/")
    assert page.status_code == 200
    assert page.content.decode().count('class="campaign-row"') == 3
    with django_assert_max_num_queries(20):
        detail = client.get(f"/scrm/qr-campaigns/{campaign.pk}/")
    html = detail.content.decode()
    assert 'data-figure="scans">1<' in html and 'data-figure="spent">¥1.88<' in html
    assert "浙江" in html and html.count('class="scan-row"') == 1


def test_generate_codes_from_the_page_with_field_errors(company, marketing, login):
    client = login(marketing)
    client.cookies["django_language"] = "en"  # the assertion reads the English message
    campaign = make_campaign(company)
    response = client.post(f"/scrm/qr-campaigns/{campaign.pk}/", {"count": "2", "product_sku": "NO", "lot_code": "L"})
    assert response.status_code == 200
    assert "No lot L of product NO" in response.content.decode()
    response = client.post(f"/scrm/qr-campaigns/{campaign.pk}/", {"count": "2", "channel_label": "抖音直播"})
    assert response.status_code == 302
    assert campaign.codes.filter(channel_label="抖音直播").count() == 2


def test_sales_cannot_open_campaign_pages(company, member, login):
    assert login(member(company, Role.SALES)).get("/scrm/qr-campaigns/").status_code == 403


def test_landing_with_phone_form_then_prize_then_code_used(company):
    campaign = make_campaign(company, prize_amount=Decimal("2.00"), landing_title="扫码赢红包")
    code = make_code(company, campaign=campaign)
    phone = Client(HTTP_USER_AGENT=PHONE_UA)
    phone.cookies["django_language"] = "en"  # the assertions read English texts
    url = code_path(code)
    page = phone.get(url + "?src=box")
    assert page.status_code == 200
    assert "扫码赢红包" in page.content.decode() and not QrScan.objects.exists()
    bad = phone.post(url, {"action": "identify", "phone": "12"})
    assert bad.status_code == 200 and "valid mobile number" in bad.content.decode()
    assert (
        phone.post(
            url, {"action": "identify", "phone": "139 1234 5678", "province": "江苏", "city": "南京"}
        ).status_code
        == 302
    )
    phone.get(url)
    phone.get(url)  # reloading records no second scan
    scan = QrScan.objects.get()
    assert (scan.phone, scan.province, scan.city, scan.source) == ("+8613912345678", "江苏", "南京", "box")
    assert phone.post(url, {"action": "claim"}).status_code == 302
    assert "¥2.00" in phone.get(url).content.decode()
    assert QrClaim.objects.get().amount == Decimal("2.00")

    someone_else = Client()

    someone_else.cookies["django_language"] = "en"
    someone_else.post(url, {"action": "identify", "phone": "13700000000"})
    someone_else.post(url, {"action": "claim"})
    assert "claimed already" in someone_else.get(url).content.decode()
    assert QrClaim.objects.count() == 1


def test_forged_code_is_404(company):
    code = make_code(company)
    changed = "y" if code.serial[0] == "x" else "x"  # a serial may start with "x" itself (1 in 64)
    forged = code_path(code).replace(code.serial, changed + code.serial[1:])
    assert forged != code_path(code)
    assert Client().get(forged).status_code == 404
    assert Client().get("/scrm/q/nothing/").status_code == 404


def test_wechat_sign_in_against_the_fake_oauth_server(company, httpserver, settings):
    settings.TROIKA_OUTBOUND_ALLOW = [f"{httpserver.host}:{httpserver.port}"]
    base = httpserver.url_for("").rstrip("/")
    oa = make_channel(
        company,
        "wechat_oa",
        credentials={"app_secret": "oa-secret"},
        config={"app_id": "wxAPP", "api_base": base, "oauth_base": base},
    )
    campaign = make_campaign(company, oauth_channel=oa, reward_template=make_coupon_template(company))
    code = make_code(company, campaign=campaign)
    httpserver.expect_request(
        "/sns/oauth2/access_token",
        query_string={"appid": "wxAPP", "secret": "oa-secret", "code": "CODE1", "grant_type": "authorization_code"},
    ).respond_with_json(
        {
            "access_token": "AT",
            "expires_in": 7200,
            "refresh_token": "RT",
            "openid": "oScan1",
            "scope": "snsapi_userinfo",
        }
    )
    httpserver.expect_request(
        "/sns/userinfo", query_string={"access_token": "AT", "openid": "oScan1", "lang": "zh_CN"}
    ).respond_with_data(
        json.dumps(
            {"openid": "oScan1", "nickname": "扫码的小王", "province": "四川", "city": "成都", "unionid": "uX"},
            ensure_ascii=False,
        ),
        content_type="application/json",
    )
    httpserver.expect_request(
        "/sns/oauth2/access_token",
        query_string={"appid": "wxAPP", "secret": "oa-secret", "code": "BAD", "grant_type": "authorization_code"},
    ).respond_with_json({"errcode": 40029, "errmsg": "invalid code"})
    phone = Client(HTTP_USER_AGENT=PHONE_UA)
    phone.cookies["django_language"] = "en"  # the assertions read English texts
    url = code_path(code)
    assert "Continue with WeChat" in phone.get(url).content.decode()

    start = phone.get(url + "wechat/")
    assert start.status_code == 302
    authorize = urlsplit(start["Location"])
    params = parse_qs(authorize.query)
    assert authorize.path == "/connect/oauth2/authorize" and params["appid"] == ["wxAPP"]
    assert params["redirect_uri"][0].endswith(url + "oauth/")
    state = params["state"][0]

    assert phone.get(url + "oauth/", {"code": "CODE1", "state": "forged"}).status_code == 302
    assert not QrScan.objects.exists()  # a wrong state signs nobody in
    phone.get(url + "wechat/")
    state = phone.session["scrm.qr.oauth_state"]
    back = phone.get(url + "oauth/", {"code": "CODE1", "state": state})
    assert back.status_code == 302 and back["Location"] == url
    phone.get(url)
    scan = QrScan.objects.get()
    assert (scan.openid, scan.nickname, scan.province, scan.city, scan.source) == (
        "oScan1",
        "扫码的小王",
        "四川",
        "成都",
        "wechat",
    )
    assert scan.identity == SocialIdentity.objects.get(channel_kind="wechat_oa", external_id="oScan1")
    phone.post(url, {"action": "claim"})
    coupon = Coupon.objects.get()
    assert coupon.identity == scan.identity
    assert coupon.code in phone.get(url).content.decode()

    other = Client()

    other.cookies["django_language"] = "en"
    other.get(url + "wechat/")
    other.get(url + "oauth/", {"code": "BAD", "state": other.session["scrm.qr.oauth_state"]})
    assert "did not complete" in other.get(url).content.decode()


def test_ugc_wall_filters_features_and_rewards(company, marketing, login, django_assert_max_num_queries):
    client = login(marketing)
    identity = make_identity(company)
    good = make_ugc(company, text="Love it, great quality", identity=identity)
    make_ugc(company, text="差评，垃圾")
    for _ in range(3):
        make_ugc(company, identity=make_identity(company))
    client.get("/scrm/ugc/")
    with django_assert_max_num_queries(12):
        page = client.get("/scrm/ugc/")
    assert page.content.decode().count('class="card ugc-card') == 5
    negative = client.get("/scrm/ugc/", {"sentiment": "negative"}).content.decode()
    assert negative.count('class="card ugc-card') == 1
    client.post(f"/scrm/ugc/{good.pk}/action/", {"action": "feature"})
    template = make_coupon_template(company)
    client.post(f"/scrm/ugc/{good.pk}/action/", {"action": "reward", "template": template.pk})
    good.refresh_from_db()
    assert good.is_featured and good.reward_coupon is not None
    featured = client.get("/scrm/ugc/", {"featured": "1"}).content.decode()
    assert featured.count('class="card ugc-card') == 1 and good.reward_coupon.code in featured
    assert UgcPost.objects.filter(is_featured=True).count() == 1
