"""Acceptance 6: a person logs in, switches the shell to 中文, sees it translated, and switches back."""

import re

import pytest
from playwright.sync_api import expect

from suite.models import Membership, Module, Role
from suite.services.notifications import notification_send
from suite.testing import CompanyFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Troika-123"


@pytest.fixture
def demo_user(db):
    company = CompanyFactory(
        name="华东机械装备有限公司",
        name_en="East China Machinery",
        code="demo-ecm",
        enabled_modules=[Module.CRM, Module.SCRM, Module.ERP_FINANCE],
    )
    team = TeamFactory(company=company, name="华东销售一组")
    user = UserFactory(username="demo.sales", first_name="伟", last_name="张", email="demo.sales@example.com")
    membership = Membership.objects.create(user=user, company=company, role=Role.ADMIN)
    membership.teams.set([team])
    notification_send(recipients=[user], company=company, title="报价单 Q-2024-017 已批准", link="/")
    return user


def test_login_switch_language_and_back(live_server, page, demo_user):
    page.goto(f"{live_server.url}/login/")
    # English first, so that the switch to 中文 is something the test can see happen.
    page.get_by_role("button", name="English").click()
    page.get_by_label("Username or email").fill("demo.sales")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    nav = page.get_by_role("navigation", name="Main navigation")
    expect(nav.get_by_role("link", name="My workspace")).to_be_visible()
    expect(nav.get_by_role("link", name="Dashboards")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Unread notifications"))).to_be_visible()
    page.screenshot(path="/tmp/troika-shell-en.png", full_page=True)

    page.locator("#language-menu summary").click()
    page.get_by_role("button", name="简体中文").click()

    nav = page.get_by_role("navigation", name="主导航")
    expect(nav.get_by_role("link", name="我的工作台")).to_be_visible()
    expect(nav.get_by_role("link", name="仪表板")).to_be_visible()
    expect(nav.get_by_role("link", name="管理")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("未读通知"))).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    page.screenshot(path="/tmp/troika-shell-zh.png", full_page=True)

    # The choice sticks: another page is in Chinese too.
    page.get_by_role("link", name="人员与团队").first.click()
    expect(page.get_by_role("heading", name="人员与团队")).to_be_visible()

    page.locator("#language-menu summary").click()
    page.get_by_role("button", name="English").click()
    expect(
        page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="My workspace")
    ).to_be_visible()


def test_shell_at_phone_width_opens_the_menu(live_server, browser, demo_user):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login/")
        page.get_by_role("button", name="English").click()
        page.get_by_label("Username or email").fill("demo.sales@example.com")  # by email this time
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        nav_link = page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="My workspace")
        expect(nav_link).not_to_be_in_viewport()
        page.get_by_role("link", name="Menu").click()
        expect(nav_link).to_be_in_viewport()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing overflows sideways
        page.screenshot(path="/tmp/troika-shell-phone.png", full_page=True)
    finally:
        context.close()
