"""Bulk actions in real Chromium: a sales manager ticks "select all" on the account list, chooses "Assign owner"
(only the person input shows), picks a salesperson and applies; the message and the new owners are on the list."""

import pytest
from playwright.sync_api import expect

from crm.models import Account
from crm.services.customers import account_create
from suite.models import Membership, Module, Role
from suite.testing import CompanyFactory, TeamFactory, UserFactory
from tests.browser.test_crm_journey import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_reassigns_a_page_of_accounts(live_server, browser):
    company = CompanyFactory(name="华东机械装备有限公司", code="bulk", enabled_modules=[Module.CRM])
    team = TeamFactory(company=company, name="华东销售一组")
    manager = UserFactory(username="zhou.manager", first_name="敏", last_name="周")
    leaving = UserFactory(username="li.sales", first_name="雷", last_name="李")
    taking_over = UserFactory(username="chen.sales", first_name="晨", last_name="陈")
    Membership.objects.create(user=manager, company=company, role=Role.MANAGER).teams.set([team])
    for user in (leaving, taking_over):
        Membership.objects.create(user=user, company=company, role=Role.SALES).teams.set([team])
    for name in ("明远科技", "恒达物流", "华信电子"):
        account_create(company=company, by=leaving, name=name, city="上海")

    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    try:
        log_in(page, live_server.url, "zhou.manager")
        page.goto(f"{live_server.url}/crm/accounts/")
        bar = page.locator("#bulk-form")
        expect(bar.get_by_label("Person")).to_be_hidden()  # no action chosen yet: no inputs
        page.get_by_label("Select all on this page").check()
        expect(page.locator('input[name="ids"]:checked')).to_have_count(3)
        bar.get_by_label("With the selected records").select_option(label="Assign owner")
        expect(bar.get_by_label("Person")).to_be_visible()
        expect(bar.get_by_label("Stage")).to_be_hidden()
        bar.get_by_label("Person").select_option(label="陈晨")
        bar.get_by_role("button", name="Apply to selected").click()
        expect(page.get_by_text("Assign owner: 3 records changed.")).to_be_visible()
        expect(page.locator("#customer-results tbody tr", has_text="陈晨")).to_have_count(3)
        page.screenshot(path="/tmp/troika-crm-bulk.png", full_page=True)
    finally:
        context.close()
    assert set(Account.objects.filter(company=company).values_list("owner__username", flat=True)) == {"chen.sales"}
