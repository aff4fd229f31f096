"""Cycle counts with approval and transfers between warehouses (direct and through transit)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError

from erp.models import (
    AdjustmentState,
    CountState,
    LocationKind,
    StockAdjustment,
    StockMove,
    StockQuant,
    TransferState,
)
from erp.selectors.inventory import stock_level
from erp.services import inventory as inv
from erp.services import stock_operations as ops
from erp.services import valuation
from erp.tests.factories import make_lot, make_warehouse
from suite.models import Role

pytestmark = pytest.mark.django_db


def _count_with(buying, found: dict, *, by):
    count = ops.stock_count_create(company=buying.company, warehouse=buying.warehouse, by=by)
    lines = {line.product_id: line for line in count.lines.all()}
    ops.stock_count_record(
        count=count, lines=[{"line": lines[pid], "counted_quantity": qty} for pid, qty in found.items()], by=by
    )
    return count


def test_count_sheet_applies_differences_as_adjustments_after_approval(buying):
    counter = buying.member(Role.WAREHOUSE)
    approver = buying.member(Role.MANAGER)
    a, b, c = buying.product(), buying.product(), buying.product()
    for product, quantity in ((a, 10), (b, 5), (c, 7)):
        inv.stock_receive(product=product, warehouse=buying.warehouse, quantity=quantity, unit_cost=D("2"))

    count = _count_with(buying, {a.pk: D("8"), b.pk: D("6"), c.pk: D("7")}, by=counter)
    assert {line.product_id: line.expected_quantity for line in count.lines.all()} == {
        a.pk: D("10"),
        b.pk: D("5"),
        c.pk: D("7"),
    }
    ops.stock_count_submit(count=count, by=counter)
    with pytest.raises(inv.StockConflict):  # the counter does not approve their own count
        ops.stock_count_approve(count=count, by=counter)

    count = ops.stock_count_approve(count=count, by=approver)

    assert count.state == CountState.APPLIED
    assert stock_level(company=buying.company, product=a).on_hand == D("8")
    assert stock_level(company=buying.company, product=b).on_hand == D("6")
    moves = StockMove.objects.filter(reference=count.number).order_by("product_id")
    assert [(m.product_id, m.quantity, m.to_location.kind) for m in moves] == [
        (a.pk, D("2"), LocationKind.ADJUSTMENT),
        (b.pk, D("1"), LocationKind.INTERNAL),
    ]
    adjustments = StockAdjustment.objects.filter(move__in=moves)
    assert {(x.quantity_delta, x.state, x.decided_by_id) for x in adjustments} == {
        (D("-2"), AdjustmentState.APPLIED, approver.pk),
        (D("1"), AdjustmentState.APPLIED, approver.pk),
    }
    assert buying.balance("1405") == valuation.stock_value_total(company=buying.company) == D("42.00")
    assert buying.balance("1901") == D("2.00")  # −2 @ 2 lost, +1 @ 2 found


def test_count_cannot_be_submitted_half_counted_and_cannot_take_reserved_stock(buying):
    counter = buying.member(Role.WAREHOUSE)
    approver = buying.member(Role.MANAGER)
    product = buying.product()
    inv.stock_receive(product=product, warehouse=buying.warehouse, quantity=10, unit_cost=D("1"))
    count = ops.stock_count_create(company=buying.company, warehouse=buying.warehouse, by=counter)
    with pytest.raises(ValidationError):
        ops.stock_count_submit(count=count, by=counter)

    line = count.lines.get()
    ops.stock_count_record(count=count, lines=[{"line": line, "counted_quantity": 2}], by=counter)
    ops.stock_count_submit(count=count, by=counter)
    inv.stock_reserve(product=product, warehouse=buying.warehouse, quantity=5, reference="SO-1")
    with pytest.raises(inv.InsufficientStock):
        ops.stock_count_approve(count=count, by=approver)
    assert stock_level(company=buying.company, product=product).on_hand == D("10")
    assert not StockMove.objects.filter(reference=count.number).exists()


def test_count_records_found_lots_and_rejects_bad_quantities(buying):
    counter = buying.member(Role.WAREHOUSE)
    product = buying.product(tracks_lots=True)
    lot = make_lot(product)
    location = buying.warehouse.locations.get(is_default=True)
    count = ops.stock_count_create(company=buying.company, warehouse=buying.warehouse, products=[product], by=counter)
    with pytest.raises(ValidationError) as caught:
        ops.stock_count_record(count=count, lines=[{"line": count.lines.get(), "counted_quantity": "-1"}])
    assert "lines.0.counted_quantity" in caught.value.message_dict
    ops.stock_count_record(
        count=count,
        lines=[{"product": product, "location": location, "lot": lot, "counted_quantity": 3}],
        by=counter,
    )
    assert count.lines.get(lot=lot).counted_quantity == D("3")


def test_direct_transfer_moves_at_once(buying):
    product = buying.product()
    other = make_warehouse(buying.company)
    inv.stock_receive(product=product, warehouse=buying.warehouse, quantity=10, unit_cost=D("1"))
    transfer = ops.stock_transfer_create(
        company=buying.company,
        from_warehouse=buying.warehouse,
        to_warehouse=other,
        via_transit=False,
        lines=[{"product": product, "quantity": 4}],
    )
    transfer = ops.stock_transfer_ship(transfer=transfer)
    assert transfer.state == TransferState.DONE
    assert stock_level(company=buying.company, product=product, warehouse=other).on_hand == D("4")


def test_transfer_through_transit_with_partial_receipt_keeps_lots(buying):
    product = buying.product(tracks_lots=True)
    lot = make_lot(product)
    other = make_warehouse(buying.company)
    inv.stock_receive(product=product, warehouse=buying.warehouse, lot=lot, quantity=10, unit_cost=D("3"))
    transfer = ops.stock_transfer_create(
        company=buying.company,
        from_warehouse=buying.warehouse,
        to_warehouse=other,
        lines=[{"product": product, "quantity": 6}],
    )
    transfer = ops.stock_transfer_ship(transfer=transfer)
    assert transfer.state == TransferState.IN_TRANSIT
    assert stock_level(company=buying.company, product=product).on_hand == D("4")  # 6 are on the road

    line = transfer.lines.get()
    with pytest.raises(ValidationError):
        ops.stock_transfer_receive(transfer=transfer, lines=[{"line": line, "quantity": 7}])
    ops.stock_transfer_receive(transfer=transfer, lines=[{"line": line, "quantity": 2}])
    transfer.refresh_from_db()
    assert transfer.state == TransferState.IN_TRANSIT
    ops.stock_transfer_receive(transfer=transfer)
    transfer.refresh_from_db()
    assert transfer.state == TransferState.DONE
    assert StockQuant.objects.get(product=product, warehouse=other).lot_id == lot.pk
    assert stock_level(company=buying.company, product=product, warehouse=other).on_hand == D("6")
    assert buying.balance("1405") == valuation.stock_value_total(company=buying.company) == D("30.00")


def test_transfer_short_of_free_stock_writes_nothing(buying):
    product = buying.product()
    other = make_warehouse(buying.company)
    inv.stock_receive(product=product, warehouse=buying.warehouse, quantity=3, unit_cost=D("1"))
    transfer = ops.stock_transfer_create(
        company=buying.company,
        from_warehouse=buying.warehouse,
        to_warehouse=other,
        lines=[{"product": product, "quantity": 5}],
    )
    with pytest.raises(inv.InsufficientStock):
        ops.stock_transfer_ship(transfer=transfer)
    transfer.refresh_from_db()
    assert transfer.state == TransferState.DRAFT
    assert stock_level(company=buying.company, product=product).on_hand == D("3")
