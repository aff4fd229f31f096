"""Issue 7, acceptance 5 (dashboards half): a manager opens the sales dashboard, filters by team (the numbers
change), drills from a funnel stage into the opportunity list and from there into a deal; then opens the
finance dashboard and sees the AR aging. Charts are drawn by the locally served Chart.js (no CDN).

Screenshots go to /tmp/troika-dashboards-*.png."""

from datetime import date

import pytest
from playwright.sync_api import expect

from crm.tests.test_dashboards_sales import build_world
from erp.tests.invoicing_support import make_books
from suite.models import Role
from suite.testing import CompanyFactory, make_member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Troika-123"
SALES_PERIOD = "date_from=2026-01-01&date_to=2026-03-31"


@pytest.fixture
def company_data(db):
    company = CompanyFactory(name="华东机械装备有限公司", name_en="East China Machinery", code="dash-journey")
    world = build_world(company)
    manager = make_member(company, Role.MANAGER, teams=[world.team_a, world.team_b], username="li.manager")
    books = make_books(company)
    books.invoice(("Widget", "1", "100.00"), day=date(2025, 3, 1))  # 113.00 overdue 30 days on 30 April
    books.invoice(("Widget", "2", "100.00"), day=date(2025, 4, 20))  # 226.00 current
    return world, manager


def log_in(page, base_url, username):
    page.goto(f"{base_url}/login/")
    page.get_by_role("button", name="English").click()
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main navigation")).to_be_visible()


def test_manager_filters_sales_dashboard_drills_into_a_deal_and_sees_ar_aging(live_server, browser, company_data):
    _world, _manager = company_data
    base = live_server.url
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page = context.new_page()
    external = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(base) else None)
    try:
        log_in(page, base, "li.manager")
        # -- the Dashboards menu lists the sales dashboard
        page.goto(f"{base}/dashboards/")
        page.locator('[data-dashboard="sales"]').click()
        expect(page.get_by_role("heading", name="Sales", exact=True)).to_be_visible()

        # -- both teams: 4,000.00 won; the charts are drawn
        page.goto(f"{base}/dashboards/sales/?{SALES_PERIOD}")
        expect(page.get_by_test_id("kpi-won_amount")).to_contain_text("4,000.00")
        expect(page.locator("#chart-funnel")).to_have_attribute("data-drawn", "1")
        page.screenshot(path="/tmp/troika-dashboards-sales.png", full_page=True)

        # -- filter by team A: the numbers change
        page.get_by_label("Team").select_option(label="A组")
        page.get_by_role("button", name="Apply").click()
        expect(page.get_by_test_id("kpi-won_amount")).to_contain_text("1,000.00")
        expect(page.get_by_test_id("kpi-win_rate")).to_contain_text("50.0")

        # -- drill from the funnel's "Proposal" stage (its numbers table) into the opportunity list
        funnel = page.get_by_test_id("chart-table-funnel")
        funnel.locator("summary").click()
        row = funnel.locator('tr[data-label="方案报价"]')
        expect(row.locator("td").first).to_have_text("2")
        row.locator("td a").first.click()
        expect(page.get_by_test_id("drill-note")).to_be_visible()
        expect(page.get_by_role("link", name="A1 won")).to_be_visible()
        expect(page.get_by_role("link", name="A3 open")).to_be_visible()
        expect(page.get_by_role("link", name="B1 won")).to_have_count(0)
        page.screenshot(path="/tmp/troika-dashboards-drill.png", full_page=True)

        # -- and into a deal
        page.get_by_role("link", name="A3 open").click()
        expect(page.get_by_role("heading", name="A3 open")).to_be_visible()

        # -- the finance dashboard: AR aging as of 30 April 2025
        page.goto(f"{base}/dashboards/finance/?date_from=2025-03-01&date_to=2025-04-30")
        expect(page.get_by_test_id("kpi-receivables")).to_contain_text("339.00")
        expect(page.get_by_test_id("kpi-overdue")).to_contain_text("113.00")
        aging = page.get_by_test_id("chart-table-aging")
        aging.locator("summary").click()
        expect(aging.locator('tr[data-label="1–30"] td').first).to_contain_text("113.00")
        expect(page.locator("#chart-aging")).to_have_attribute("data-drawn", "1")
        page.screenshot(path="/tmp/troika-dashboards-finance.png", full_page=True)
        aging.locator('tr[data-label="1–30"] td a').first.click()
        expect(page).to_have_url(f"{base}/erp/invoices/aged/?side=receivable&as_of=2025-04-30")
        assert external == [], f"requests left the server: {external}"
    finally:
        context.close()
