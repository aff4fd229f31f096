"""The inventory API at /api/v1/erp/inventory/: master data, the stock actions, ATP and price; bad input is a
400 with field errors and a refusal by the stock a 409, with nothing written; roles decide who may do what."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from erp.models import Location, Product, StockAdjustment, StockMove, StockQuant, StockReservation
from erp.services import inventory as inv
from erp.tests.factories import make_lot, make_product, make_uom, make_warehouse
from suite.models import Role
from suite.testing import make_member

pytestmark = pytest.mark.django_db
D = Decimal
BASE = "/api/v1/erp/inventory"


@pytest.fixture
def keeper(company):
    return make_member(company, Role.WAREHOUSE)


@pytest.fixture
def manager(company):
    return make_member(company, Role.MANAGER)


@pytest.fixture
def client(api_client, keeper):
    return api_client(keeper)


@pytest.fixture
def warehouse(company):
    return make_warehouse(company, code="SH", name="上海仓")


@pytest.fixture
def product(company):
    return make_product(company, sku="GEAR-1", name="齿轮", list_price="25")


def fields_of(response) -> dict:
    return {e["field"]: e["code"] for e in response.json()["errors"]}


# ---------------------------------------------------------------- products


def test_create_and_update_a_product(client, company):
    pcs = make_uom(company, "pcs")

    response = client.post(
        f"{BASE}/products/",
        {"sku": "PUMP-9", "name": "离心泵", "name_en": "Centrifugal pump", "uom": pcs.pk, "list_price": "999.50"},
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["sku"], body["uom_code"], body["list_price"], body["average_cost"]) == (
        "PUMP-9",
        "pcs",
        "999.5000",
        "0.0000",
    )
    response = client.patch(f"{BASE}/products/{body['id']}/", {"name": "多级离心泵"})
    assert response.status_code == 200
    assert Product.objects.get(pk=body["id"]).name == "多级离心泵"


def test_a_unit_can_be_created_inactive(client):
    """The input accepted ``is_active`` on create and the service did not: a 500 for a valid body."""
    response = client.post(f"{BASE}/units/", {"code": "box", "name": "箱", "is_active": False}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["is_active"] is False
    assert client.get(f"{BASE}/units/", {"is_active": "false"}).json()["count"] == 1


def test_product_input_errors(client, company, other_company, product):
    foreign_unit = make_uom(other_company, "pcs")

    response = client.post(f"{BASE}/products/", {"sku": "GEAR-1", "name": "重复", "uom": make_uom(company).pk})
    assert response.status_code == 400
    assert set(fields_of(response)) == {"sku"}

    response = client.post(f"{BASE}/products/", {"sku": "X", "name": "X", "uom": foreign_unit.pk, "list_price": "-1"})
    assert response.status_code == 400
    assert set(fields_of(response)) == {"uom", "list_price"}
    assert Product.objects.filter(company=company).count() == 1


def test_sales_sees_products_and_prices_but_not_costs_or_stock(api_client, company, product, warehouse):
    sales = api_client(make_member(company, Role.SALES))

    listed = sales.get(f"{BASE}/products/").json()["results"]
    assert [p["sku"] for p in listed] == ["GEAR-1"]
    assert "average_cost" not in listed[0]
    assert sales.get(f"{BASE}/price/", {"product": product.pk}).json()["unit_price"] == "25.0000"
    assert sales.get(f"{BASE}/atp/", {"product": product.pk}).status_code == 200
    assert sales.post(f"{BASE}/products/", {"sku": "N", "name": "N", "uom": product.uom_id}).status_code == 403
    assert sales.get(f"{BASE}/quants/").status_code == 403
    assert sales.post(f"{BASE}/moves/receive/", {"product": product.pk, "quantity": 1}).status_code == 403


def test_product_list_query_count(client, company, django_assert_max_num_queries):
    for _ in range(20):
        make_product(company)
    with django_assert_max_num_queries(8):
        response = client.get(f"{BASE}/products/")
    assert len(response.json()["results"]) == 20


# ---------------------------------------------------------------- stock actions


def test_receive_deliver_transfer_through_the_api(client, company, product, warehouse):
    response = client.post(
        f"{BASE}/moves/receive/",
        {"product": product.pk, "warehouse": warehouse.pk, "quantity": "12", "unit_cost": "3.5", "reference": "PO-1"},
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["kind"], response.json()["quantity"]) == ("receipt", "12.0000")

    response = client.post(
        f"{BASE}/moves/deliver/", {"product": product.pk, "warehouse": warehouse.pk, "quantity": 5, "reference": "DN"}
    )
    assert response.status_code == 201
    assert [m["quantity"] for m in response.json()["moves"]] == ["5.0000"]

    beijing = make_warehouse(company, code="BJ", name="北京仓")
    response = client.post(
        f"{BASE}/moves/transfer/",
        {"product": product.pk, "from_warehouse": warehouse.pk, "to_warehouse": beijing.pk, "quantity": 2},
    )
    assert response.status_code == 201
    quants = client.get(f"{BASE}/quants/", {"product": product.pk}).json()["results"]
    assert sorted((q["warehouse"], q["quantity"]) for q in quants) == sorted(
        [(warehouse.pk, "5.0000"), (beijing.pk, "2.0000")]
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"quantity": "-3"}, "quantity"),
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "abc"}, "quantity"),
        ({"quantity": "1.5"}, "quantity"),  # pieces are whole
        ({"quantity": "1", "product": 999999}, "product"),
        ({"quantity": "1", "warehouse": None}, "warehouse"),
        ({"quantity": "1", "unit_cost": "-1"}, "unit_cost"),
    ],
)
def test_bad_receipts_are_400_with_field_errors_and_write_nothing(client, product, warehouse, payload, field):
    body = {"product": product.pk, "warehouse": warehouse.pk, **payload}

    response = client.post(f"{BASE}/moves/receive/", body, format="json")

    assert response.status_code == 400, response.json()
    assert field in fields_of(response)
    assert not StockMove.objects.exists()


def test_another_companys_records_are_unknown_input(client, other_company, product, warehouse):
    foreign_warehouse = make_warehouse(other_company)
    response = client.post(
        f"{BASE}/moves/receive/", {"product": product.pk, "warehouse": foreign_warehouse.pk, "quantity": 1}
    )
    assert response.status_code == 400
    assert fields_of(response) == {"warehouse": "does_not_exist"}


def test_more_than_available_is_409_and_writes_nothing(client, product, warehouse):
    inv.stock_receive(product=product, warehouse=warehouse, quantity=3)

    response = client.post(f"{BASE}/moves/deliver/", {"product": product.pk, "warehouse": warehouse.pk, "quantity": 4})

    assert response.status_code == 409
    body = response.json()
    assert body["errors"][0]["code"] == "insufficient_stock"
    assert body["errors"][0]["field"] == "quantity"
    assert (body["requested"], body["available"]) == ("4.0000", "3.0000")
    assert StockMove.objects.count() == 1
    response = client.post(
        f"{BASE}/reservations/reserve/",
        {"product": product.pk, "warehouse": warehouse.pk, "quantity": 4, "reference": "SO-1"},
    )
    assert response.status_code == 409
    assert not StockReservation.objects.exists()


def test_reserve_release_and_consume_through_the_api(client, product, warehouse):
    inv.stock_receive(product=product, warehouse=warehouse, quantity=10)

    response = client.post(
        f"{BASE}/reservations/reserve/",
        {"product": product.pk, "warehouse": warehouse.pk, "quantity": 6, "reference": "SO-7/1"},
    )
    assert response.status_code == 201, response.json()
    reservation_id = response.json()["id"]
    assert response.json()["open_quantity"] == "6.0000"

    response = client.post(f"{BASE}/reservations/{reservation_id}/release/", {"quantity": 1})
    assert response.json()["released_quantity"] == "1.0000"
    response = client.post(f"{BASE}/reservations/{reservation_id}/consume/", {})
    assert response.status_code == 201
    assert response.json()["reservation"]["state"] == "consumed"
    assert [m["quantity"] for m in response.json()["moves"]] == ["5.0000"]
    response = client.post(f"{BASE}/reservations/{reservation_id}/release/", {})
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "invalid_state"
    quant = StockQuant.objects.get(product=product)
    assert (quant.quantity, quant.reserved) == (D(5), D(0))


def test_adjustment_is_requested_by_the_warehouse_and_approved_by_a_manager(
    api_client, client, manager, product, warehouse
):
    inv.stock_receive(product=product, warehouse=warehouse, quantity=10)
    location = Location.objects.get(warehouse=warehouse, is_default=True)

    response = client.post(
        f"{BASE}/adjustments/",
        {"product": product.pk, "location": location.pk, "quantity_delta": "-2", "reason": "叉车撞坏"},
    )
    assert response.status_code == 201, response.json()
    adjustment_id = response.json()["id"]
    assert response.json()["state"] == "pending"
    assert client.post(f"{BASE}/adjustments/{adjustment_id}/approve/").status_code == 403

    response = api_client(manager).post(f"{BASE}/adjustments/{adjustment_id}/approve/")
    assert response.status_code == 200
    assert response.json()["state"] == "applied"
    assert StockQuant.objects.get(product=product).quantity == D(8)
    assert api_client(manager).post(f"{BASE}/adjustments/{adjustment_id}/approve/").status_code == 409


def test_adjustment_input_errors(client, product, warehouse):
    location = Location.objects.get(warehouse=warehouse, is_default=True)
    response = client.post(
        f"{BASE}/adjustments/", {"product": product.pk, "location": location.pk, "quantity_delta": "0", "reason": ""}
    )
    assert response.status_code == 400
    assert set(fields_of(response)) == {"reason"}
    response = client.post(
        f"{BASE}/adjustments/", {"product": product.pk, "location": location.pk, "quantity_delta": "0", "reason": "?"}
    )
    assert response.status_code == 400
    assert set(fields_of(response)) == {"quantity_delta"}
    assert not StockAdjustment.objects.exists()


def test_moves_list_is_cursor_paginated_newest_first(client, product, warehouse, django_assert_max_num_queries):
    for i in range(7):
        inv.stock_receive(product=product, warehouse=warehouse, quantity=1, reference=f"PO-{i}")

    with django_assert_max_num_queries(6):
        first = client.get(f"{BASE}/moves/", {"page_size": 5}).json()
    assert "count" not in first
    assert [m["reference"] for m in first["results"]] == ["PO-6", "PO-5", "PO-4", "PO-3", "PO-2"]
    second = client.get(first["next"]).json()
    assert [m["reference"] for m in second["results"]] == ["PO-1", "PO-0"]
    assert client.get(f"{BASE}/moves/", {"reference": "PO-3"}).json()["results"][0]["reference"] == "PO-3"


def test_moves_and_quants_cannot_be_written_through_the_api(api_client, company, product, warehouse):
    admin = api_client(make_member(company, Role.ADMIN))
    move = inv.stock_receive(product=product, warehouse=warehouse, quantity=1)
    quant = StockQuant.objects.get()

    # no role may change them, and the routes have no such methods: refused before anything is read
    assert admin.patch(f"{BASE}/moves/{move.pk}/", {"quantity": 5}).status_code in (403, 405)
    assert admin.delete(f"{BASE}/moves/{move.pk}/").status_code in (403, 405)
    assert admin.post(f"{BASE}/moves/", {}).status_code in (403, 405)
    assert admin.patch(f"{BASE}/quants/{quant.pk}/", {"quantity": 5}).status_code in (403, 405)
    move.refresh_from_db()
    quant.refresh_from_db()
    assert (move.quantity, quant.quantity) == (D(1), D(1))


# ---------------------------------------------------------------- ATP and price


def test_atp_endpoint(client, company, product, warehouse):
    inv.stock_receive(product=product, warehouse=warehouse, quantity=4)
    inv.incoming_supply_plan(
        product=product, warehouse=warehouse, quantity=10, expected_date=dt.date(2026, 3, 5), reference="PO-77"
    )

    response = client.get(
        f"{BASE}/atp/",
        {"product": product.pk, "warehouse": warehouse.pk, "quantity": 9, "start": "2026-03-01", "horizon_days": 10},
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["free"], body["earliest_date"]) == ("4.0000", "2026-03-05")
    assert [d["available"] for d in body["days"]][:6] == ["4.0000"] * 4 + ["14.0000"] * 2
    assert len(body["days"]) == 10


def test_atp_endpoint_input_errors(client, other_company, product):
    assert fields_of(client.get(f"{BASE}/atp/")) == {"product": "required"}
    foreign = make_product(other_company)
    assert fields_of(client.get(f"{BASE}/atp/", {"product": foreign.pk})) == {"product": "does_not_exist"}
    assert "horizon_days" in fields_of(client.get(f"{BASE}/atp/", {"product": product.pk, "horizon_days": 0}))
    assert "quantity" in fields_of(client.get(f"{BASE}/atp/", {"product": product.pk, "quantity": "-1"}))


def test_price_endpoint(client, company, product):
    tiered = inv.price_list_create(company=company, name="经销商", customer_group="dealer")
    inv.price_list_item_set(price_list=tiered, product=product, unit_price="20", min_quantity="100")

    response = client.get(f"{BASE}/price/", {"product": product.pk, "quantity": 100, "customer_group": "dealer"})
    assert response.json()["unit_price"] == "20.0000"
    assert response.json()["source"] == "price_list"
    assert client.get(f"{BASE}/price/", {"product": product.pk, "quantity": 5}).json()["unit_price"] == "25.0000"
    response = client.get(f"{BASE}/price/", {"product": product.pk, "currency": "EUR"})
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "no_price"
    assert "currency" in fields_of(client.get(f"{BASE}/price/", {"product": product.pk, "currency": "euro"}))


def test_reorder_suggestions_endpoint(client, product, warehouse):
    inv.reorder_rule_create(product=product, warehouse=warehouse, min_quantity=5, max_quantity=20)
    response = client.get(f"{BASE}/reorder-rules/suggestions/")
    assert response.status_code == 200
    [row] = response.json()
    assert (row["sku"], row["suggested_quantity"]) == ("GEAR-1", "20.0000")


def test_lots_and_expiry_through_the_api(client, company, warehouse):
    milk = make_product(company, sku="MILK", tracks_lots=True)
    response = client.post(
        f"{BASE}/lots/", {"product": milk.pk, "code": "20260301", "expiry_date": "2026-03-20"}, format="json"
    )
    assert response.status_code == 201, response.json()
    response = client.post(f"{BASE}/lots/", {"product": milk.pk, "code": "20260301"})
    assert response.status_code == 400
    assert "code" in fields_of(response)
    lot = make_lot(milk, code="B2")
    response = client.post(
        f"{BASE}/moves/receive/", {"product": milk.pk, "warehouse": warehouse.pk, "quantity": 1, "lot": lot.pk}
    )
    assert response.status_code == 201
    response = client.post(f"{BASE}/moves/receive/", {"product": milk.pk, "warehouse": warehouse.pk, "quantity": 1})
    assert fields_of(response) == {"lot": "invalid"}
