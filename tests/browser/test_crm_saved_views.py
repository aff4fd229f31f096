"""Saved list views in real Chromium: a salesperson searches the accounts (htmx swaps the rows and the address),
saves what they see as the view their list opens with, finds the list opened with it next time, narrows it and keeps
the new filters in the view; "All records" shows the rest."""

import re

import pytest
from playwright.sync_api import expect

from crm.services.customers import account_create
from suite.models import DefaultView, Membership, Module, Role, SavedView
from suite.testing import CompanyFactory, UserFactory
from tests.browser.test_crm_journey import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_salesperson_saves_a_view_and_the_list_opens_with_it(live_server, browser):
    company = CompanyFactory(name="宁波港机装备有限公司", code="views", enabled_modules=[Module.CRM])
    seller = UserFactory(username="wang.sales", first_name="芳", last_name="王")
    Membership.objects.create(user=seller, company=company, role=Role.SALES)
    account_create(company=company, by=seller, name="宁波北仑港务集团", city="宁波")
    account_create(company=company, by=seller, name="杭州钢铁厂", city="杭州")

    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    try:
        log_in(page, live_server.url, "wang.sales")
        page.goto(f"{live_server.url}/crm/accounts/")
        expect(page.get_by_role("link", name="杭州钢铁厂")).to_be_visible()
        page.locator("#customer-q").fill("宁波")  # htmx: the rows and the address change, the page stays
        expect(page.get_by_role("link", name="杭州钢铁厂")).to_have_count(0)
        expect(page).to_have_url(re.compile(r"/crm/accounts/\?q=%E5%AE%81%E6%B3%A2"))

        bar = page.get_by_test_id("saved-views")
        bar.locator("summary").click()
        bar.get_by_label("Save the current filters as").fill("宁波客户")
        bar.get_by_label("Open the list with it").check()
        bar.get_by_role("button", name="Save view").click()
        expect(page.get_by_text("View “宁波客户” saved.")).to_be_visible()

        page.goto(f"{live_server.url}/crm/my-day/")
        page.get_by_role("link", name="Accounts", exact=True).first.click()  # the menu: the list opens with it
        expect(page.get_by_role("link", name="宁波北仑港务集团")).to_be_visible()
        expect(page.get_by_role("link", name="杭州钢铁厂")).to_have_count(0)
        expect(bar.locator("summary")).to_contain_text("宁波客户")
        expect(bar.get_by_test_id("saved-view-changed")).to_be_hidden()

        # narrowing the search changes the open view's filters: the bar says so and keeps them in it on request
        page.locator("#customer-q").fill("北仑")
        expect(page).to_have_url(re.compile(r"\?q=%E5%8C%97%E4%BB%91&.*view=\d+$"))  # a reload still knows the view
        expect(bar.get_by_test_id("saved-view-changed")).to_be_visible()
        bar.locator("summary").click()
        bar.get_by_role("button", name="Keep these filters in “宁波客户”").click()
        expect(page.get_by_text("View “宁波客户” now keeps these filters.")).to_be_visible()
        expect(bar.get_by_test_id("saved-view-changed")).to_be_hidden()

        bar.locator("summary").click()
        bar.get_by_role("link", name="All records").click()
        expect(page.get_by_role("link", name="杭州钢铁厂")).to_be_visible()
        page.screenshot(path="/tmp/troika-crm-saved-views.png", full_page=True)
    finally:
        context.close()
    view = SavedView.objects.get()
    assert (view.owner, view.list_key, view.query) == (seller, "crm:account-list", "q=%E5%8C%97%E4%BB%91")
    assert DefaultView.objects.get(user=seller).view == view
