"""Issue 7, acceptance 5 (second half): a salesperson wins a deal and sees the promised delivery date appear on
it without reloading — the win goes through the outbox to ERP (sales order, reservation, promise) and back to
CRM, processed by a relay running beside the live server. Screenshots: /tmp/troika-loop-promise-*.png."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from crm.services.opportunities import opportunity_create, pipeline_default_ensure
from crm.services.quotes import opportunity_line_add
from crm.tests.factories import AccountFactory
from erp.tests.catalogue import catalogue_product
from erp.tests.sales_support import make_shop
from suite.events.relay import relay_batch
from suite.models import Membership, Module, Role
from suite.testing import CompanyFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Troika-123"


@pytest.fixture
def deal(db):
    company = CompanyFactory(
        name="华东机械装备有限公司",
        name_en="East China Machinery",
        code="loop-promise",
        enabled_modules=[Module.CRM, Module.ERP_SUPPLY, Module.ERP_FINANCE],
    )
    pipeline_default_ensure(company=company)
    sales = UserFactory(username="zhang.sales", first_name="伟", last_name="张")
    Membership.objects.create(user=sales, company=company, role=Role.SALES)
    shop = make_shop(company)
    product = catalogue_product(company, list_price="80", on_hand="20", warehouse=shop.warehouse)
    account = AccountFactory(company=company, by=sales, name="苏州精工机械有限公司")
    opportunity = opportunity_create(company=company, by=sales, name="数控车床配件", account=account)
    opportunity_line_add(opportunity=opportunity, by=sales, product_id=product.pk, quantity="4")
    return opportunity


@pytest.fixture
def running_relay():
    """The outbox relay, in a thread beside the live server (what the Celery worker does in production)."""
    stop = threading.Event()

    def run():
        try:
            while not stop.is_set():
                if not relay_batch().claimed:
                    stop.wait(0.3)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(10)


def log_in(page, base_url, username):
    page.goto(f"{base_url}/login/")
    page.get_by_role("button", name="English").click()
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main navigation")).to_be_visible()


def test_salesperson_sees_the_promised_date_appear_on_a_won_deal(live_server, browser, deal, running_relay):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    try:
        log_in(page, live_server.url, "zhang.sales")
        page.goto(f"{live_server.url}/crm/opportunities/{deal.pk}/")
        page.get_by_role("button", name="Won", exact=True).click()
        promised = page.get_by_test_id("promised-date")
        expect(promised).to_be_visible()
        page.screenshot(path="/tmp/troika-loop-promise-won.png", full_page=True)
        page.evaluate("window.__troikaNoReload = true")  # a reload would drop this marker

        date = promised.locator("time")
        expect(date).to_be_visible(timeout=30_000)  # the card polls every 3 s
        assert page.evaluate("window.__troikaNoReload === true")
        page.screenshot(path="/tmp/troika-loop-promise-date.png", full_page=True)
        deal.refresh_from_db()
        assert date.get_attribute("datetime") == deal.promised_date.isoformat()
        # 4 of 20 in stock: promised from free stock, within days
        assert timezone.localdate() <= deal.promised_date <= timezone.localdate() + dt.timedelta(days=14)
    finally:
        context.close()
