"""Issue 4, QR campaigns: a code scanned on a phone-sized screen opens the landing page (no login, no CDN),
the scanner enters a mobile number and region, opens the red envelope and sees the prize; the scan and the
prize are recorded. Screenshot: /tmp/troika-scrm-qr-landing.png."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from scrm.models import QrClaim, QrScan
from scrm.services.campaigns import code_path, qr_campaign_create, qr_codes_generate
from suite.testing import CompanyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_scan_on_a_phone_identify_and_win(live_server, browser):
    company = CompanyFactory(name="花漾美妆", code="scrm-qr-journey")
    campaign = qr_campaign_create(
        company=company,
        name="新品扫码赢红包",
        kind="red_envelope",
        status="active",
        landing_title="扫码赢红包",
        prize_amount=Decimal("6.66"),
        budget=Decimal("100"),
    )
    code = qr_codes_generate(campaign=campaign, count=1, channel_label="门店A")[0]
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="zh-CN", is_mobile=True)
    page = context.new_page()
    outside = []
    page.on(
        "request", lambda request: outside.append(request.url) if not request.url.startswith(live_server.url) else None
    )
    try:
        page.goto(f"{live_server.url}{code_path(code)}?src=box")
        expect(page.get_by_role("heading", name="扫码赢红包")).to_be_visible()
        page.locator("input[name=phone]").fill("139 1234 5678")
        page.locator("input[name=province]").fill("浙江")
        page.locator("input[name=city]").fill("杭州")
        page.locator("#identify").click()
        page.locator("#claim").click()
        expect(page.locator(".prize")).to_contain_text("¥6.66")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling on a phone
        page.screenshot(path="/tmp/troika-scrm-qr-landing.png", full_page=True)
    finally:
        context.close()
    scan = QrScan.objects.get(code=code)
    assert (scan.phone, scan.province, scan.city, scan.source) == ("+8613912345678", "浙江", "杭州", "box")
    assert QrClaim.objects.get(code=code).amount == Decimal("6.66")
    assert outside == []  # no CDN: every request stays on our server
