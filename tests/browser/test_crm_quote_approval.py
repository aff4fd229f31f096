"""Quote approval (报价审批) in real Chromium, the machinery supplier's story: a salesperson's quote gives 15 % off a
lathe where 10 % is what a salesperson may give; they ask for approval with a note, the sales manager finds it on
My day and approves it, and the salesperson marks it sent."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from crm.services.customers import account_create
from crm.services.opportunities import opportunity_create, pipeline_default_ensure
from crm.services.quote_approvals import approval_rule_set
from crm.services.quotes import opportunity_line_add, quote_create
from erp.tests.catalogue import catalogue_product
from suite.models import Membership, Module, Role
from suite.testing import CompanyFactory, TeamFactory, UserFactory
from tests.browser.test_crm_journey import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_quote_beyond_the_discount_limit_is_approved_by_the_manager_then_sent(live_server, browser):
    company = CompanyFactory(
        name="华东机械装备有限公司", code="approve", enabled_modules=[Module.CRM, Module.ERP_SUPPLY]
    )
    pipeline_default_ensure(company=company)
    team = TeamFactory(company=company, name="华东销售一组")
    sales = UserFactory(username="li.sales", first_name="雷", last_name="李")
    boss = UserFactory(username="zhou.manager", first_name="敏", last_name="周")
    Membership.objects.create(user=sales, company=company, role=Role.SALES).teams.set([team])
    Membership.objects.create(user=boss, company=company, role=Role.MANAGER).teams.set([team])
    team.manager = boss
    team.save()
    approval_rule_set(company=company, by=None, is_active=True, max_discount_percent=Decimal("10"))
    account = account_create(company=company, by=sales, name="苏州精工机械有限公司", city="苏州")
    deal = opportunity_create(company=company, by=sales, name="二期车间数控车床采购", account=account)
    lathe = catalogue_product(company, name="数控车床 CK6140", list_price="128000.00")
    opportunity_line_add(opportunity=deal, by=sales, product_id=lathe.pk, quantity="6", discount_percent="15")
    quote = quote_create(opportunity=deal, by=sales)

    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    try:
        log_in(page, live_server.url, "li.sales")
        page.goto(f"{live_server.url}/crm/opportunities/{deal.pk}/")
        quotes = page.locator("#opportunity-quotes")
        expect(quotes.get_by_text("Needs approval")).to_be_visible()
        expect(quotes.get_by_role("button", name="Mark sent")).to_have_count(0)
        quotes.get_by_label("Note for the approver").fill("对手报价低 12%，老客户二期")
        quotes.get_by_role("button", name="Ask for approval").click()
        expect(page.get_by_text(f"Quote {quote.display_number} was put forward.")).to_be_visible()
        expect(page.locator("#opportunity-quotes").get_by_text("Waiting for approval")).to_be_visible()
        page.context.clear_cookies()

        log_in(page, live_server.url, "zhou.manager")
        page.goto(f"{live_server.url}/crm/my-day/")
        waiting = page.locator('[data-testid="quote-approvals"]')
        expect(waiting).to_contain_text("对手报价低 12%")
        waiting.get_by_role("link", name=quote.display_number, exact=False).click()
        quotes = page.locator("#opportunity-quotes")
        quotes.get_by_label("Note").fill("同意，本月内有效")
        quotes.get_by_role("button", name="Approve").click()
        expect(page.get_by_text(f"Quote {quote.display_number} is approved.")).to_be_visible()
        page.context.clear_cookies()

        log_in(page, live_server.url, "li.sales")
        page.goto(f"{live_server.url}/crm/opportunities/{deal.pk}/")
        quotes = page.locator("#opportunity-quotes")
        expect(quotes.get_by_test_id("quote-approval")).to_have_text("Approved")
        expect(quotes.get_by_test_id("approval-trail")).to_contain_text("同意，本月内有效")  # who said yes, and why
        quotes.get_by_role("button", name="Mark sent").click()
        expect(page.get_by_text(f"Quote {quote.display_number} is marked sent.")).to_be_visible()
        page.screenshot(path="/tmp/troika-crm-quote-approval.png", full_page=True)
    finally:
        context.close()
    quote.refresh_from_db()
    assert (quote.state, quote.approval, quote.approval_decided_by) == ("sent", "approved", boss)
