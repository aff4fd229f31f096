"""Sales orders competing for the same stock, confirmed in parallel transactions (real threads, each with its
own PostgreSQL connection): stock is never reserved twice nor goes negative, and the same delivered quantity
is never invoiced twice."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from erp.models import SalesOrderState, StockQuant, StockReservation
from erp.services import sales as svc
from erp.tests.sales_support import make_shop
from erp.tests.test_stock_concurrency import assert_database_invariants, run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
D = Decimal


def test_concurrent_confirmations_never_reserve_the_same_stock_twice(company):
    shop = make_shop(company)
    product = shop.product(stock=D("20"))
    orders = [shop.order((product, 3)) for _ in range(12)]  # 36 wanted, 20 on hand

    results = run_concurrently(len(orders), lambda i: svc.sales_order_confirm(order=orders[i]), threads=12)

    assert all(getattr(r, "state", None) == SalesOrderState.CONFIRMED for r in results), results
    quant = StockQuant.objects.get(product=product)
    assert (quant.quantity, quant.reserved) == (D("20"), D("20"))
    held = [
        line.reservation.open_quantity if line.reservation_id else D("0")
        for order in orders
        for line in order.lines.select_related("reservation")
    ]
    assert sum(held) == D("20")
    assert all(D("0") <= h <= D("3") for h in held)
    assert sum(r.open_quantity for r in StockReservation.objects.filter(product=product, state="active")) == D("20")
    assert_database_invariants(product)


def test_concurrent_shipments_of_competing_orders_never_take_stock_below_zero(company):
    shop = make_shop(company)
    product = shop.product(stock=D("10"))
    orders = [shop.order((product, 4)) for _ in range(5)]
    for order in orders:  # 10 reserved over the first orders, the rest wait for stock
        svc.sales_order_confirm(order=order)
    deliveries = [order.deliveries.get() for order in orders]

    results = run_concurrently(len(deliveries), lambda i: svc.delivery_ship(delivery=deliveries[i]), threads=5)

    refused = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(r, svc.StockConflict) for r in refused), refused
    quant = StockQuant.objects.get(product=product)
    assert quant.quantity == D("0") and quant.reserved == D("0")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(delivered_quantity), 0) FROM erp_salesorderline WHERE product_id = %s", [product.pk]
        )
        assert cursor.fetchone()[0] == D("10")
    assert_database_invariants(product)


def test_invoicing_the_same_order_twice_at_once_invoices_it_once(company):
    shop = make_shop(company)
    product = shop.product(stock=D("5"))
    order = shop.confirmed((product, 5))
    svc.delivery_ship(delivery=order.deliveries.get())

    results = run_concurrently(4, lambda i: svc.sales_order_invoice(order=order), threads=4)

    invoices = [r for r in results if not isinstance(r, Exception)]
    assert len(invoices) == 1
    assert all(isinstance(r, svc.StateConflict) for r in results if isinstance(r, Exception))
    assert order.lines.get().invoiced_quantity == D("5")
