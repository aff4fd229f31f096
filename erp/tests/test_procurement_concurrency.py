"""Concurrent receipts of one purchase order line never receive more than the order allows (real threads, each
with its own PostgreSQL connection and transaction); stock, layers and the stock account stay equal."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.db.models import Sum

from erp.models import GoodsReceiptLine, PurchaseOrderLine, StockQuant
from erp.selectors.procurement import stock_value
from erp.services import procurement as buy
from erp.tests.procurement_support import make_buying
from erp.tests.test_stock_concurrency import run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _order(books, quantity):
    product = books.product()
    order = buy.purchase_order_create(
        company=books.company,
        supplier=books.supplier,
        warehouse=books.warehouse,
        lines=[{"product": product, "quantity": quantity, "unit_price": D("3")}],
    )
    buy.purchase_order_submit(order=order)
    return buy.purchase_order_confirm(order=order), product


def test_concurrent_receipts_of_one_line_never_over_receive():
    books = make_buying()
    order, product = _order(books, 10)
    line = order.lines.get()

    results = run_concurrently(
        12, lambda i: buy.goods_receive(order=order, lines=[{"order_line": line.pk, "quantity": 1}])
    )

    succeeded = [r for r in results if not isinstance(r, Exception)]
    assert len(succeeded) == 10
    assert all(type(r).__name__ in ("ValidationError", "ProcurementConflict") for r in results if r not in succeeded)
    line.refresh_from_db()
    assert line.received_quantity == D("10")
    assert GoodsReceiptLine.objects.filter(order_line=line).aggregate(t=Sum("quantity"))["t"] == D("10")
    assert StockQuant.objects.filter(product=product).aggregate(t=Sum("quantity"))["t"] == D("10")
    assert books.balance("1405") == stock_value(company=books.company) == D("30.00")


def test_two_large_concurrent_receipts_only_one_fits():
    books = make_buying()
    order, _product = _order(books, 10)
    line = order.lines.get()

    results = run_concurrently(
        2, lambda i: buy.goods_receive(order=order, lines=[{"order_line": line.pk, "quantity": 6}])
    )

    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert PurchaseOrderLine.objects.get(pk=line.pk).received_quantity == D("6")
