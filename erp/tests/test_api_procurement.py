"""The procurement and inventory-operations API at /api/v1/erp/: explicit POST actions, 400 with field errors
and nothing written, 409 for state refusals, roles, and query counts of the lists and pages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.utils import timezone

from erp.models import GoodsReceipt, PurchaseOrder, StockMove
from erp.services import inventory as inv
from erp.services import procurement as buy
from erp.tests.factories import make_purchase_order
from suite.models import Role
from suite.testing import api_client_for, make_member

pytestmark = pytest.mark.django_db
BASE = "/api/v1/erp"


def client_of(buying, role):
    return api_client_for(make_member(buying.company, role))


def fields_of(response) -> set:
    return {e["field"] for e in response.json()["errors"]}


def test_order_flow_through_the_api(buying):
    buy.procurement_settings_set(company=buying.company, approval_threshold=D("100"))
    manager, approver = client_of(buying, Role.MANAGER), client_of(buying, Role.MANAGER)
    keeper = client_of(buying, Role.WAREHOUSE)
    product = buying.product()
    expected = (timezone.localdate() + dt.timedelta(days=2)).isoformat()
    response = manager.post(
        f"{BASE}/purchase-orders/",
        {
            "supplier": buying.supplier.pk,
            "warehouse": buying.warehouse.pk,
            "expected_date": expected,
            "lines": [{"product": product.pk, "quantity": "30", "unit_price": "5.00", "tax": buying.tax().pk}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    order = response.json()
    assert order["amount_total"] == "169.50" and order["state"] == "draft"
    url = f"{BASE}/purchase-orders/{order['id']}"

    assert manager.post(f"{url}/submit/").json()["state"] == "to_approve"
    assert keeper.post(f"{url}/approve/").status_code == 403
    assert manager.post(f"{url}/approve/").status_code == 409  # submitted it
    assert approver.post(f"{url}/approve/").json()["state"] == "approved"
    assert manager.post(f"{url}/confirm/").json()["state"] == "confirmed"

    line_id = order["lines"][0]["id"]
    too_many = keeper.post(f"{url}/receive/", {"lines": [{"order_line": line_id, "quantity": "31"}]}, format="json")
    assert too_many.status_code == 400 and fields_of(too_many) == {"lines.0.quantity"}
    assert not GoodsReceipt.objects.exists() and not StockMove.objects.filter(product=product).exists()

    received = keeper.post(f"{url}/receive/", {"lines": [{"order_line": line_id, "quantity": "12"}]}, format="json")
    assert received.status_code == 201 and received.json()["lines"][0]["quantity"] == "12.0000"
    assert manager.get(f"{url}/").json()["lines"][0]["received_quantity"] == "12.0000"

    bill = manager.post(
        f"{url}/bill/", {"lines": [{"order_line": line_id, "quantity": "12", "unit_price": "6"}]}, format="json"
    )
    assert bill.status_code == 201 and bill.json()["state"] == "blocked"
    finance = client_of(buying, Role.FINANCE)
    match_url = f"{BASE}/bill-matches/{bill.json()['id']}"
    blocked = finance.post(f"{match_url}/post/")
    assert blocked.status_code == 409 and blocked.json()["errors"][0]["code"] == "bill_blocked"
    assert finance.post(f"{match_url}/approve/", {"note": "ok"}).json()["state"] == "approved"
    assert finance.post(f"{match_url}/post/").json()["invoice_state"] == "posted"

    performance = manager.get(f"{BASE}/supplier-performance/")
    assert performance.status_code == 200 and performance.json()[0]["receipt_lines"] == 1


def test_bad_order_input_is_400_with_field_errors_and_nothing_written(buying):
    manager = client_of(buying, Role.MANAGER)
    response = manager.post(
        f"{BASE}/purchase-orders/",
        {
            "supplier": buying.supplier.pk,
            "warehouse": buying.warehouse.pk,
            "lines": [{"product": buying.product().pk, "quantity": "-1", "unit_price": "2"}],
        },
        format="json",
    )
    assert response.status_code == 400 and "lines.0.quantity" in fields_of(response)
    assert not PurchaseOrder.objects.exists()


def test_count_and_transfer_through_the_api(buying):
    keeper, manager = client_of(buying, Role.WAREHOUSE), client_of(buying, Role.MANAGER)
    product = buying.product()
    inv.stock_receive(product=product, warehouse=buying.warehouse, quantity=5, unit_cost=D("2"))
    count = keeper.post(f"{BASE}/stock-counts/", {"warehouse": buying.warehouse.pk}, format="json").json()
    url = f"{BASE}/stock-counts/{count['id']}"
    line = count["lines"][0]["id"]
    assert (
        keeper.post(f"{url}/record/", {"lines": [{"line": line, "counted_quantity": "4"}]}, format="json").status_code
        == 200
    )
    assert keeper.post(f"{url}/submit/").json()["state"] == "submitted"
    assert keeper.post(f"{url}/approve/").status_code == 403
    applied = manager.post(f"{url}/approve/").json()
    assert applied["state"] == "applied" and applied["lines"][0]["applied_difference"] == "-1.0000"

    from erp.tests.factories import make_warehouse

    other = make_warehouse(buying.company)
    transfer = keeper.post(
        f"{BASE}/transfers/",
        {
            "from_warehouse": buying.warehouse.pk,
            "to_warehouse": other.pk,
            "lines": [{"product": product.pk, "quantity": "9"}],
        },
        format="json",
    ).json()
    short = keeper.post(f"{BASE}/transfers/{transfer['id']}/ship/")
    assert short.status_code == 409 and short.json()["errors"][0]["code"] == "insufficient_stock"


def test_lists_and_pages_have_bounded_queries(buying, client, django_assert_max_num_queries):
    admin = make_member(buying.company, Role.ADMIN)
    api = api_client_for(admin)
    for _ in range(3):
        make_purchase_order(buying.company)
    client.force_login(admin.user)
    for url in (
        f"{BASE}/purchase-orders/",
        f"{BASE}/purchase-requisitions/",
        f"{BASE}/rfqs/",
        f"{BASE}/receipts/",
        f"{BASE}/stock-counts/",
        f"{BASE}/transfers/",
        f"{BASE}/valuation-layers/",
        f"{BASE}/bill-matches/",
    ):
        with django_assert_max_num_queries(12):
            assert api.get(url).status_code == 200, url
    for url in ("/erp/purchase-orders/", "/erp/stock-counts/", "/erp/transfers/"):
        with django_assert_max_num_queries(25):
            assert client.get(url).status_code == 200, url
    order = PurchaseOrder.objects.filter(company=buying.company).first()
    with django_assert_max_num_queries(30):
        assert client.get(f"/erp/purchase-orders/{order.pk}/").status_code == 200
    with django_assert_max_num_queries(30):
        assert client.get(f"/erp/purchase-orders/{order.pk}/receive/").status_code == 200
