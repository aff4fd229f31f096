"""The explained promise (issue #7, flow 9): ``erp.selectors.promise`` and ``GET /api/v1/erp/promise/`` — free
stock, then purchase receipts by date, then production by its finite-capacity schedule; 400 with field
messages; scoped to the caller's company. And flow 12's API half: confirming over the credit limit (open
receivables + the order) answers 409 with the reason."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from erp.selectors.promise import explain_promise
from erp.services import invoicing
from erp.services import production as prod
from erp.tests.catalogue import catalogue_product, expect_supply
from erp.tests.production_support import make_plant
from erp.tests.sales_support import make_shop
from suite.models import Role

pytestmark = pytest.mark.django_db
D = Decimal
PROMISE = "/api/v1/erp/promise/"


@pytest.fixture
def shop(company):
    return make_shop(company)


@pytest.fixture
def english_client(api_client):
    """``api_client`` asking for English answers (the suite's default language is Chinese)."""

    def make(membership):
        client = api_client(membership)
        client.cookies["django_language"] = "en"
        client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
        return client

    return make


def errors_by_field(response) -> dict:
    return {error["field"]: error["message"] for error in response.json()["errors"]}


def test_free_5_and_a_purchase_of_10_in_7_days_promise_12_in_7_days_with_the_steps(shop, english_client):
    today = timezone.localdate()
    product = catalogue_product(shop.company, on_hand="5", warehouse=shop.warehouse)
    expect_supply(product, quantity="10", on=today + dt.timedelta(days=7), warehouse=shop.warehouse)
    client = english_client(shop.member(Role.SALES))

    response = client.get(PROMISE, {"product": product.pk, "quantity": "12", "warehouse": shop.warehouse.pk})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["promised_date"] == (today + dt.timedelta(days=7)).isoformat()
    assert (body["quantity"], body["shortfall"], body["warehouse"]) == ("12.0000", "0.0000", shop.warehouse.pk)
    steps = [(s["position"], s["kind"], s["date"], s["quantity"], s["cumulative"]) for s in body["steps"]]
    assert steps == [
        (1, "free_stock", today.isoformat(), "5.0000", "5.0000"),
        (2, "purchase", (today + dt.timedelta(days=7)).isoformat(), "7.0000", "12.0000"),
    ]
    assert body["steps"][0]["explanation"] == "5 from free stock, today"
    assert body["steps"][1]["explanation"].startswith("7 from purchase receipt PO-")
    # 5 or fewer: today; more than the supply: no date and the shortfall
    assert client.get(PROMISE, {"product": product.pk, "quantity": "5"}).json()["promised_date"] == today.isoformat()
    beyond = client.get(PROMISE, {"product": product.pk, "quantity": "20"}).json()
    assert (beyond["promised_date"], beyond["shortfall"]) == (None, "5.0000")


def test_reserved_stock_is_not_promised_and_receipts_are_taken_by_date(shop):
    today = timezone.localdate()
    product = catalogue_product(shop.company, on_hand="8", warehouse=shop.warehouse)
    shop.confirmed((product, 6))  # 6 of the 8 reserved
    expect_supply(product, quantity="4", on=today + dt.timedelta(days=9), warehouse=shop.warehouse)
    expect_supply(product, quantity="3", on=today + dt.timedelta(days=3), warehouse=shop.warehouse)

    promise = explain_promise(company=shop.company, product=product, quantity=D("6"), warehouse=shop.warehouse)

    assert [(s.kind, s.date, s.quantity) for s in promise.steps] == [
        ("free_stock", today, D("2")),
        ("purchase", today + dt.timedelta(days=3), D("3")),
        ("purchase", today + dt.timedelta(days=9), D("1")),
    ]
    assert promise.promised_date == today + dt.timedelta(days=9)


def test_production_counts_from_its_finite_capacity_schedule(db, english_client):
    plant = make_plant()
    plant.stock(plant.housing, "1000", "10")
    plant.stock(plant.bolt, "2000", "5")
    today = timezone.localdate()
    # two orders on the same assembly line: the second one is scheduled after the first, not on its due date
    first = prod.production_order_release(
        order=prod.production_order_create(
            company=plant.company,
            product=plant.pump,
            quantity=D("200"),
            warehouse=plant.warehouse,
            due_date=today + dt.timedelta(days=60),
            priority=1,
        )
    )
    second = prod.production_order_release(
        order=prod.production_order_create(
            company=plant.company,
            product=plant.pump,
            quantity=D("20"),
            warehouse=plant.warehouse,
            due_date=today + dt.timedelta(days=60),
            priority=2,
        )
    )
    first.refresh_from_db()
    first_done = timezone.localtime(first.promised_at).date()
    second_done = timezone.localtime(second.promised_at).date()
    assert first_done >= today and second_done >= first_done and second_done < today + dt.timedelta(days=60)
    client = english_client(_manager(plant))

    body = client.get(PROMISE, {"product": plant.pump.pk, "quantity": "210"}).json()

    assert body["promised_date"] == second_done.isoformat()
    assert [(s["kind"], s["reference"], s["quantity"], s["scheduled"]) for s in body["steps"]] == [
        ("production", first.number, "200.0000", True),
        ("production", second.number, "10.0000", True),
    ]
    assert "scheduled to finish" in body["steps"][1]["explanation"]


def _manager(plant):
    from suite.testing import make_member

    return make_member(plant.company, Role.MANAGER)


def test_bad_input_is_a_400_naming_the_fields(shop, english_client, other_company):
    client = english_client(shop.member(Role.SALES))
    foreign = catalogue_product(other_company, on_hand="50")
    product = catalogue_product(shop.company)

    missing = client.get(PROMISE)
    assert missing.status_code == 400 and set(errors_by_field(missing)) == {"product", "quantity"}
    bad = client.get(PROMISE, {"product": product.pk, "quantity": "-1", "warehouse": "x"})
    assert bad.status_code == 400 and set(errors_by_field(bad)) == {"quantity", "warehouse"}
    assert "greater than 0" in errors_by_field(bad)["quantity"]
    assert client.get(PROMISE, {"product": product.pk, "quantity": "abc"}).status_code == 400
    # another company's product does not exist for this caller
    other = client.get(PROMISE, {"product": foreign.pk, "quantity": "1"})
    assert other.status_code == 400 and set(errors_by_field(other)) == {"product"}


def test_the_promise_needs_a_signed_in_member(client, shop):
    product = catalogue_product(shop.company)
    assert client.get(PROMISE, {"product": product.pk, "quantity": "1"}).status_code in (401, 403)


def test_the_promise_is_a_fixed_number_of_queries(shop, api_client, django_assert_max_num_queries):
    today = timezone.localdate()
    product = catalogue_product(shop.company, on_hand="1", warehouse=shop.warehouse)
    for days in range(1, 30):
        expect_supply(product, quantity="1", on=today + dt.timedelta(days=days), warehouse=shop.warehouse)
    client = api_client(shop.member(Role.SALES))
    with django_assert_max_num_queries(12):
        body = client.get(PROMISE, {"product": product.pk, "quantity": "25"}).json()
    assert body["promised_date"] == (today + dt.timedelta(days=24)).isoformat() and len(body["steps"]) == 25


def test_confirming_over_the_limit_counting_open_receivables_answers_409_with_the_reason(company, api_client):
    shop = make_shop(company, credit_limit=D("1000.00"))
    product = shop.product(stock=D("50"), price=D("100"))
    invoicing.invoice_create(
        company=company,
        kind="out_invoice",
        partner=shop.customer,
        lines=[{"description": "earlier delivery", "quantity": D("1"), "unit_price": D("800")}],
    )
    order = shop.order((product, 3), partner=shop.customer)  # 339.00 alone is within 1,000; with the 800 owed it is not
    manager = api_client(shop.member(Role.MANAGER))

    response = manager.post(f"/api/v1/erp/sales-orders/{order.pk}/confirm/")

    assert response.status_code == 409
    error = response.json()["errors"][0]
    assert error["code"] == "credit_hold"
    assert error["message"] == "exposure 800.00 + 339.00 exceeds the credit limit 1000.00 by 139.00"
    assert response.json()["order"]["state"] == "held"
