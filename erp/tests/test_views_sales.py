"""Sales fulfilment pages: lists (paginated, fixed query counts), the order form with field errors, order
actions, the pick / ship screen and returns."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from erp.models import DeliveryOrder, SalesOrder, SalesReturn, StockQuant
from erp.services import sales as svc
from erp.tests.sales_support import make_shop
from suite.models import Role

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def shop(company):
    company.enabled_modules = ["erp_supply", "erp_finance"]
    company.save(update_fields=["enabled_modules"])
    return make_shop(company)


def client_for(membership) -> Client:
    client = Client()
    client.cookies["django_language"] = "en"  # the assertions read English labels
    client.force_login(membership.user)
    return client


@pytest.mark.parametrize("url", ["/erp/sales/orders/", "/erp/sales/deliveries/", "/erp/sales/returns/"])
def test_lists_render_with_a_fixed_number_of_queries(shop, url, django_assert_max_num_queries):
    client = client_for(shop.member(Role.MANAGER))
    product = shop.product(stock=D("50"))
    for _ in range(5):
        order = shop.confirmed((product, 2))
        delivery = svc.delivery_ship(delivery=order.deliveries.get())
        svc.sales_return_create(
            delivery=delivery, lines=[{"delivery_line": delivery.lines.get().pk, "quantity": 1}], reason="x"
        )
    client.get(url)  # warm the session and the menu

    with django_assert_max_num_queries(25):
        response = client.get(url)

    assert response.status_code == 200
    assert b"SO00005" in response.content or b"OUT00005" in response.content or b"RMA00005" in response.content


def test_the_order_form_shows_field_errors_and_creates_a_draft(shop):
    client = client_for(shop.member(Role.MANAGER))
    product = shop.product(stock=D("5"))
    data = {
        "partner": shop.customer.pk,
        "warehouse": shop.warehouse.pk,
        "line0-product": product.pk,
        "line0-quantity": "1.5",
        "line0-tax": shop.vat.pk,
    }

    bad = client.post("/erp/sales/orders/new/", data)

    assert bad.status_code == 200
    assert 'class="field-error"' in bad.content.decode()
    assert not SalesOrder.objects.exists()
    data["line0-quantity"] = "2"
    created = client.post("/erp/sales/orders/new/", data)
    order = SalesOrder.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/erp/sales/orders/{order.pk}/"
    assert order.amount_total == D("226.00")


def test_confirm_pick_ship_and_return_through_the_pages(shop):
    manager = client_for(shop.member(Role.MANAGER))
    warehouse = client_for(shop.member(Role.WAREHOUSE))
    product = shop.product(stock=D("10"))
    order = shop.order((product, 4))

    assert manager.post(f"/erp/sales/orders/{order.pk}/confirm/").status_code == 302
    delivery = DeliveryOrder.objects.get(sales_order=order)
    page = warehouse.get(f"/erp/sales/deliveries/{delivery.pk}/")
    assert page.status_code == 200 and b"Pick" in page.content
    line = delivery.lines.get()
    warehouse.post(f"/erp/sales/deliveries/{delivery.pk}/pick/", {"line": line.pk, "lot": "", "quantity": "3"})
    warehouse.post(
        f"/erp/sales/deliveries/{delivery.pk}/ship/", {"carrier": "SF", "tracking_number": "SF9", "backorder": "1"}
    )

    delivery.refresh_from_db()
    assert (delivery.state, delivery.tracking_number) == ("shipped", "SF9")
    assert StockQuant.objects.get(product=product).quantity == D("7")
    assert DeliveryOrder.objects.filter(backorder_of=delivery).count() == 1
    assert warehouse.get(f"/erp/sales/orders/{order.pk}/").status_code == 200

    response = warehouse.post(
        f"/erp/sales/deliveries/{delivery.pk}/return/",
        {
            "delivery_line": line.pk,
            "return_quantity": "1",
            "return_lot": "",
            "reason": "Dented",
            "destination": "stock",
        },
    )
    sales_return = SalesReturn.objects.get()
    assert response["Location"] == f"/erp/sales/returns/{sales_return.pk}/"
    warehouse.post(f"/erp/sales/returns/{sales_return.pk}/receive/")
    assert StockQuant.objects.get(product=product).quantity == D("8")


def test_a_salesperson_cannot_act_on_orders_from_the_pages(shop):
    sales = shop.member(Role.SALES)
    client = client_for(sales)
    product = shop.product(stock=D("10"))
    order = shop.order((product, 1), salesperson=sales.user)

    assert client.get(f"/erp/sales/orders/{order.pk}/").status_code == 200
    assert client.post(f"/erp/sales/orders/{order.pk}/confirm/").status_code == 403
    assert client.get("/erp/sales/orders/new/").status_code == 403
    other = shop.order((product, 1))
    assert client.get(f"/erp/sales/orders/{other.pk}/").status_code == 404
