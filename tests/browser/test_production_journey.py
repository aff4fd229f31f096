"""Issue 6, acceptance 5: a planner runs MRP (a real Celery worker executes the job while the page polls its
progress), confirms the planned production order and releases it; an operator completes it on the shop-floor
page (start, report and finish both operations); the finished lot appears in stock.

Screenshots of each page go to /tmp/troika-production-*.png."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from erp.models import Lot, ProductionOrder, StockQuant
from erp.services import mrp
from erp.tests.production_support import make_plant
from suite.models import Membership, Module, Role
from suite.testing import CompanyFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Troika-123"


@pytest.fixture
def plant_with_people(db):
    company = CompanyFactory(
        name="宁波齿轮泵制造有限公司",
        code="production-journey",
        enabled_modules=[Module.ERP_PRODUCTION, Module.ERP_SUPPLY],
    )
    plant = make_plant(company)
    plant.stock(plant.housing, "10", "20")
    plant.stock(plant.bolt, "20", "5")
    mrp.forecast_lines_replace(
        company=company,
        source="manual",
        lines=[{"product": plant.pump, "date": timezone.localdate() + dt.timedelta(days=6), "quantity": "5"}],
    )
    for username, role in (("li.planner", Role.PRODUCTION), ("wang.operator", Role.PRODUCTION)):
        user = UserFactory(username=username, first_name=username.split(".")[0])
        user.set_password(PASSWORD)
        user.save()
        Membership.objects.create(user=user, company=company, role=role)
    return plant


def log_in(browser, base_url, username):
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-US")
    page = context.new_page()
    page.goto(f"{base_url}/login/")
    page.get_by_role("button", name="English").click()
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main navigation")).to_be_visible()
    return context, page


def test_planner_runs_mrp_operator_completes_lot_in_stock(
    live_server, browser, plant_with_people, celery_worker_process
):
    plant = plant_with_people
    base = live_server.url

    # -- the planner runs MRP; the worker plans 5 pumps for the forecast
    context, page = log_in(browser, base, "li.planner")
    try:
        page.goto(f"{base}/erp/production/mrp/")
        page.get_by_role("button", name="Run MRP").click()
        expect(page.locator("#mrp-status")).to_have_text("Done", timeout=60_000)
        row = page.locator(f'#planned-orders tr[data-product="{plant.pump.sku}"]')
        expect(row).to_contain_text("5")
        expect(row).to_contain_text("forecast manual")  # why this order
        page.screenshot(path="/tmp/troika-production-mrp.png", full_page=True)

        # -- confirms it: a draft production order; releases it (components reserved, operations scheduled)
        row.get_by_role("button", name="Confirm").click()
        expect(page.get_by_text("Confirmed: MO")).to_be_visible()
        page.locator(f'#planned-orders tr[data-product="{plant.pump.sku}"] a').first.click()
        page.get_by_role("button", name="Release").click()
        expect(page.locator("#order-state")).to_have_text("Released")
        expect(page.locator("#promised")).not_to_have_text("—")
    finally:
        context.close()
    order = ProductionOrder.objects.get(company=plant.company)

    # -- the operator works both operations on the shop floor (tablet size)
    context, page = log_in(browser, base, "wang.operator")
    try:
        page.set_viewport_size({"width": 800, "height": 1280})
        page.goto(f"{base}/erp/production/shop-floor/")
        assembly = page.get_by_role("region", name=f"{order.number} 装配")
        assembly.get_by_role("button", name="Start").click()
        assembly = page.get_by_role("region", name=f"{order.number} 装配")
        expect(assembly).to_contain_text("Running")
        assembly.get_by_label("Good").fill("5")
        assembly.get_by_role("button", name="Report and finish").click()
        expect(page.get_by_text(f"{order.number} 装配: reported.")).to_be_visible()
        testing = page.get_by_role("region", name=f"{order.number} 试验")
        testing.get_by_label("Good").fill("5")
        testing.get_by_role("button", name="Report and finish").click()
        expect(page.get_by_text(f"{order.number} 试验: reported.")).to_be_visible()
        expect(page.get_by_text("No operations to do.")).to_be_visible()
        page.screenshot(path="/tmp/troika-production-shop-floor.png", full_page=True)

        # -- the order is done and its lot is in stock
        page.goto(f"{base}/erp/production/orders/{order.pk}/")
        expect(page.locator("#order-state")).to_have_text("Done")
        expect(page.locator("#receipts")).to_contain_text(f"{order.number}-1")
        page.screenshot(path="/tmp/troika-production-order.png", full_page=True)
    finally:
        context.close()
    lot = Lot.objects.get(product=plant.pump, code=f"{order.number}-1")
    quant = StockQuant.objects.get(product=plant.pump, lot=lot)
    assert (quant.warehouse_id, quant.quantity) == (plant.warehouse.pk, Decimal("5"))
    order.refresh_from_db()
    assert order.state == "done" and order.wip_value == 0
