"""The customer pool (客户公海) in real Chromium: a salesperson lets an account go from its 360° page with a reason;
a colleague of another team finds it in the pool (where it is, not how to reach it), claims it and lands on its
page as its owner; the one who let it go is told to wait before taking it back."""

import pytest
from playwright.sync_api import expect

from crm.models import Account, PoolMove
from crm.services.customers import account_create, contact_create
from crm.services.pool import pool_rule_set
from suite.models import Membership, Module, Role
from suite.testing import CompanyFactory, TeamFactory, UserFactory
from tests.browser.test_crm_journey import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_account_let_go_is_claimed_from_the_pool(live_server, browser):
    company = CompanyFactory(name="华东机械装备有限公司", code="pool", enabled_modules=[Module.CRM])
    east, south = TeamFactory(company=company, name="华东销售组"), TeamFactory(company=company, name="华南销售组")
    leaving = UserFactory(username="li.sales", first_name="雷", last_name="李")
    taking = UserFactory(username="chen.sales", first_name="晨", last_name="陈")
    Membership.objects.create(user=leaving, company=company, role=Role.SALES).teams.set([east])
    Membership.objects.create(user=taking, company=company, role=Role.SALES).teams.set([south])
    pool_rule_set(company=company, by=None, is_active=True, idle_days=30, reclaim_after_days=7)
    account = account_create(company=company, by=leaving, name="宁波北仑港机配件厂", city="宁波", phone="13812345678")
    contact_create(company=company, by=leaving, name="王建国", account=account, phone="13912345678")

    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    try:
        log_in(page, live_server.url, "li.sales")
        page.goto(f"{live_server.url}/crm/accounts/{account.pk}/")
        page.get_by_text("Release to the pool").click()
        page.get_by_label("Why (optional)").fill("暂无采购计划")
        page.get_by_role("button", name="Release", exact=True).click()
        expect(page.get_by_text("宁波北仑港机配件厂 is in the customer pool now.")).to_be_visible()
        row = page.locator('[data-testid="pool-rows"] tbody tr', has_text="宁波北仑港机配件厂")
        expect(row).to_be_visible()
        row.get_by_role("button", name="Claim").click()  # the one who let it go waits
        expect(page.get_by_text("You let this account go recently")).to_be_visible()
        page.context.clear_cookies()

        log_in(page, live_server.url, "chen.sales")
        page.goto(f"{live_server.url}/crm/my-day/")
        page.get_by_role("link", name="Customer pool").click()
        row = page.locator('[data-testid="pool-rows"] tbody tr', has_text="宁波北仑港机配件厂")
        expect(row).to_contain_text("宁波")
        expect(page.locator('[data-testid="pool-rows"]')).not_to_contain_text("138")  # no phone until it is yours
        row.get_by_role("button", name="Claim").click()
        expect(page.get_by_text("宁波北仑港机配件厂 is yours now.")).to_be_visible()
        expect(page.get_by_role("heading", name="宁波北仑港机配件厂")).to_be_visible()
        expect(page.get_by_text("王建国")).to_be_visible()  # the people at it came with it
        page.screenshot(path="/tmp/troika-crm-pool.png", full_page=True)
    finally:
        context.close()
    account.refresh_from_db()
    assert (account.owner, account.team) == (taking, south)
    assert list(PoolMove.objects.filter(account=account).values_list("kind", flat=True).order_by("id")) == [
        "released", "claimed",
    ]  # fmt: skip
    assert Account.objects.filter(company=company, owner__isnull=True).count() == 0
