"""Stock under concurrent requests (issue 5, acceptance 3): real threads, each with its own PostgreSQL
connection and transaction.

* 200 reservations of 1 unit of a product with 50 on hand: exactly 50 succeed, 150 are refused, 50 reserved;
* concurrent deliveries never take on-hand below zero;
* reservations and deliveries racing each other never over-commit the stock;
* opposite transfers between two warehouses do not deadlock.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection, connections

from erp.models import Location, MoveKind, StockMove, StockQuant, StockReservation
from erp.services import inventory as inv
from erp.tests.factories import make_product, make_warehouse, stocked

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
D = Decimal


def run_concurrently(count: int, work, *, threads: int = 20) -> list:
    """Call ``work(i)`` for i in range(count) from ``threads`` threads, all released at once; each thread uses
    (and finally closes) its own database connection. Returns each call's result or the exception it raised."""
    barrier = threading.Barrier(min(threads, count))

    def call(i):
        try:
            if i < threads:
                barrier.wait(timeout=30)
            return work(i)
        except Exception as exc:  # the refusals are the point of the test
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(call, range(count)))


def assert_database_invariants(product) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM erp_stockquant WHERE quantity < 0 OR reserved < 0 OR reserved > quantity")
        assert cursor.fetchone()[0] == 0
    for quant in StockQuant.objects.filter(product=product):
        moved_in = sum(m.quantity for m in StockMove.objects.filter(product=product, to_location=quant.location))
        moved_out = sum(m.quantity for m in StockMove.objects.filter(product=product, from_location=quant.location))
        assert quant.quantity == moved_in - moved_out
        held = sum(a.quantity for a in quant.allocations.filter(reservation__state="active"))
        assert quant.reserved == held


def test_200_concurrent_reservations_of_50_on_hand_reserve_exactly_50(company):
    product, warehouse = stocked(company, quantity=D("50"))

    results = run_concurrently(
        200,
        lambda i: inv.stock_reserve(product=product, warehouse=warehouse, quantity=1, reference=f"SO-{i}"),
    )

    succeeded = [r for r in results if isinstance(r, StockReservation)]
    refused = [r for r in results if isinstance(r, inv.InsufficientStock)]
    assert (len(succeeded), len(refused)) == (50, 150), {type(r).__name__ for r in results}
    quant = StockQuant.objects.get(product=product)
    assert (quant.quantity, quant.reserved) == (D("50"), D("50"))
    assert StockReservation.objects.filter(product=product, state="active").count() == 50
    assert len({r.reference for r in succeeded}) == 50
    assert_database_invariants(product)


def test_concurrent_deliveries_never_take_stock_below_zero(company):
    product, warehouse = stocked(company, quantity=D("30"))

    results = run_concurrently(
        60, lambda i: inv.stock_deliver(product=product, warehouse=warehouse, quantity=1, reference=f"DN-{i}")
    )

    delivered = [r for r in results if isinstance(r, list)]
    refused = [r for r in results if isinstance(r, inv.InsufficientStock)]
    assert (len(delivered), len(refused)) == (30, 30)
    assert StockQuant.objects.get(product=product).quantity == D("0")
    assert StockMove.objects.filter(product=product, kind=MoveKind.DELIVERY).count() == 30
    assert_database_invariants(product)


def test_reservations_and_deliveries_racing_never_over_commit(company):
    product, warehouse = stocked(company, quantity=D("40"))

    def work(i):
        if i % 2:
            return inv.stock_reserve(product=product, warehouse=warehouse, quantity=2, reference=f"SO-{i}")
        return inv.stock_deliver(product=product, warehouse=warehouse, quantity=3, reference=f"DN-{i}")

    results = run_concurrently(40, work)

    reserved = sum(D(2) for r in results if isinstance(r, StockReservation))
    delivered = sum(D(3) for r in results if isinstance(r, list))
    assert all(isinstance(r, StockReservation | list | inv.InsufficientStock) for r in results), results
    quant = StockQuant.objects.get(product=product)
    assert quant.reserved == reserved
    assert quant.quantity == D(40) - delivered
    assert quant.quantity >= quant.reserved
    assert reserved + delivered > D(34)  # the stock was used up, not refused wholesale
    assert_database_invariants(product)


def test_opposite_transfers_do_not_deadlock(company):
    product = make_product(company)
    east, west = make_warehouse(company), make_warehouse(company)
    inv.stock_receive(product=product, warehouse=east, quantity=100)
    inv.stock_receive(product=product, warehouse=west, quantity=100)

    def work(i):
        source, target = (east, west) if i % 2 else (west, east)
        return inv.stock_transfer(product=product, from_warehouse=source, to_warehouse=target, quantity=1)

    results = run_concurrently(40, work)

    assert all(isinstance(r, list) for r in results), [r for r in results if not isinstance(r, list)]
    east_stock = Location.objects.get(warehouse=east, is_default=True).quants.get().quantity
    west_stock = Location.objects.get(warehouse=west, is_default=True).quants.get().quantity
    assert (east_stock, west_stock) == (D("100"), D("100"))
    assert_database_invariants(product)
