"""The stock ledger: receipts (moving average cost), deliveries, transfers, approved adjustments, reservations;
the quant always equals the sum of its moves; the database refuses negative stock, over-reservation and any
change to a move, even from raw SQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Q, Sum
from django.utils import translation

from erp.models import (
    AdjustmentState,
    IncomingSupply,
    Location,
    LocationKind,
    MoveKind,
    ReservationState,
    StockMove,
    StockQuant,
    StockReservation,
    SupplyState,
)
from erp.selectors.inventory import stock_level
from erp.services import inventory as inv
from erp.tests.factories import make_lot, make_product, make_uom, make_warehouse, stocked
from suite.models import OutboxEvent, Role
from suite.testing import make_member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """Messages are compared in English (the default language of the project is Chinese)."""
    with translation.override("en"):
        yield


D = Decimal


def quant_matches_moves(product) -> None:
    """Every quant of ``product`` equals moves in minus moves out of its location and lot."""
    for quant in StockQuant.objects.filter(product=product):
        lot = Q(lot=quant.lot) if quant.lot_id else Q(lot__isnull=True)
        moves = StockMove.objects.filter(lot, product=product)
        incoming = moves.filter(to_location=quant.location).aggregate(s=Sum("quantity"))["s"] or D(0)
        outgoing = moves.filter(from_location=quant.location).aggregate(s=Sum("quantity"))["s"] or D(0)
        assert quant.quantity == incoming - outgoing, quant


@pytest.fixture
def warehouse(company):
    return make_warehouse(company, code="SH", name="上海仓")


@pytest.fixture
def stock_location(warehouse):
    return Location.objects.get(warehouse=warehouse, is_default=True)


@pytest.fixture
def product(company):
    return make_product(company, sku="GEAR-1", name="齿轮")


@pytest.fixture
def approver(company):
    return make_member(company, Role.MANAGER).user


# ---------------------------------------------------------------- receipts


def test_receipt_writes_a_move_and_the_quant(company, product, warehouse, stock_location):
    move = inv.stock_receive(product=product, warehouse=warehouse, quantity=10, unit_cost="8.5", reference="PO-1")

    assert (move.kind, move.quantity, move.to_location_id, move.unit_cost) == (
        MoveKind.RECEIPT,
        D("10"),
        stock_location.pk,
        D("8.5"),
    )
    assert move.from_location.kind == LocationKind.SUPPLIER
    quant = StockQuant.objects.get(product=product)
    assert (quant.quantity, quant.reserved, quant.warehouse_id) == (D("10"), D("0"), warehouse.pk)
    assert stock_level(company=company, product=product).free == D("10")


def test_moving_average_cost_follows_receipts(product, warehouse):
    inv.stock_receive(product=product, warehouse=warehouse, quantity=10, unit_cost="10")
    inv.stock_receive(product=product, warehouse=warehouse, quantity=30, unit_cost="14")
    product.refresh_from_db()
    assert product.average_cost == D("13")  # (10×10 + 30×14) / 40

    inv.stock_deliver(product=product, warehouse=warehouse, quantity=20)
    inv.stock_receive(product=product, warehouse=warehouse, quantity=20, unit_cost="7")
    product.refresh_from_db()
    assert product.average_cost == D("10")  # (20×13 + 20×7) / 40
    assert StockMove.objects.filter(kind=MoveKind.DELIVERY).get().unit_cost == D("13")


def test_cost_in_a_packaging_unit_is_per_stock_unit(company, warehouse):
    product = make_product(company, uom=make_uom(company, "pcs"))
    box = make_uom(company, "box", name="箱")
    inv.uom_conversion_set(product=product, uom=box, factor=12)

    move = inv.stock_receive(product=product, warehouse=warehouse, quantity=2, uom=box, unit_cost="60")

    product.refresh_from_db()
    assert (move.quantity, move.unit_cost, product.average_cost) == (D("24"), D("5"), D("5"))


def test_receipt_input_errors_write_nothing(company, other_company, product, warehouse):
    for kwargs, field in [
        ({"quantity": -1}, "quantity"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": "abc"}, "quantity"),
        ({"quantity": "1e30"}, "quantity"),
        ({"quantity": 1, "unit_cost": -2}, "unit_cost"),
        ({"quantity": 1, "warehouse": make_warehouse(other_company)}, "warehouse"),
    ]:
        kwargs.setdefault("warehouse", warehouse)
        with pytest.raises(ValidationError) as error:
            inv.stock_receive(product=product, **kwargs)
        assert field in error.value.message_dict, kwargs
    assert not StockMove.objects.exists()
    assert not StockQuant.objects.filter(quantity__gt=0).exists()


def test_lot_tracked_products_need_a_lot(company, warehouse):
    milk = make_product(company, tracks_lots=True)
    with pytest.raises(ValidationError) as error:
        inv.stock_receive(product=milk, warehouse=warehouse, quantity=5)
    assert "lot" in error.value.message_dict

    lot = make_lot(milk, code="B1", expiry_date=dt.date(2099, 1, 1))
    inv.stock_receive(product=milk, warehouse=warehouse, quantity=5, lot=lot)
    assert StockQuant.objects.get(product=milk).lot_id == lot.pk


def test_receipt_counts_against_expected_supply(product, warehouse):
    supply = inv.incoming_supply_plan(
        product=product, warehouse=warehouse, quantity=10, expected_date=dt.date(2026, 3, 1), reference="PO-7"
    )
    inv.stock_receive(product=product, warehouse=warehouse, quantity=4, incoming_supply=supply)
    supply.refresh_from_db()
    assert (supply.received_quantity, supply.state) == (D("4"), SupplyState.OPEN)

    inv.stock_receive(product=product, warehouse=warehouse, quantity=6, incoming_supply=supply)
    supply.refresh_from_db()
    assert supply.state == SupplyState.DONE
    assert IncomingSupply.objects.get().open_quantity == D("0")


# ---------------------------------------------------------------- deliveries


def test_delivery_takes_free_stock_only(company, product, warehouse):
    inv.stock_receive(product=product, warehouse=warehouse, quantity=10)
    inv.stock_reserve(product=product, warehouse=warehouse, quantity=7, reference="SO-1")

    with pytest.raises(inv.InsufficientStock) as error:
        inv.stock_deliver(product=product, warehouse=warehouse, quantity=4)
    assert (error.value.requested, error.value.available) == (D("4"), D("3"))
    assert StockMove.objects.filter(kind=MoveKind.DELIVERY).count() == 0

    [move] = inv.stock_deliver(product=product, warehouse=warehouse, quantity=3, reference="DN-1")
    assert move.to_location.kind == LocationKind.CUSTOMER
    level = stock_level(company=company, product=product)
    assert (level.on_hand, level.reserved, level.free) == (D("7"), D("7"), D("0"))
    quant_matches_moves(product)


def test_delivery_is_first_expiry_first_out_and_skips_expired_lots(company, warehouse):
    milk = make_product(company, tracks_lots=True)
    expired = make_lot(milk, code="OLD", expiry_date=dt.date(2000, 1, 1))
    late = make_lot(milk, code="LATE", expiry_date=dt.date(2099, 6, 1))
    early = make_lot(milk, code="EARLY", expiry_date=dt.date(2099, 1, 1))
    for lot in (expired, late, early):
        inv.stock_receive(product=milk, warehouse=warehouse, quantity=5, lot=lot)

    moves = inv.stock_deliver(product=milk, warehouse=warehouse, quantity=7)

    assert [(m.lot.code, m.quantity) for m in moves] == [("EARLY", D("5")), ("LATE", D("2"))]
    with pytest.raises(inv.InsufficientStock) as error:
        inv.stock_deliver(product=milk, warehouse=warehouse, quantity=4)
    assert error.value.available == D("3")  # the expired lot is not offered
    # named explicitly, the expired lot can still leave (to be destroyed, returned …)
    [move] = inv.stock_deliver(product=milk, warehouse=warehouse, quantity=5, lot=expired)
    assert move.lot_id == expired.pk
    quant_matches_moves(milk)


def test_delivery_from_several_locations(company, product, warehouse, stock_location):
    shelf = inv.location_create(warehouse=warehouse, code="B-2", name="B区2号架")
    inv.stock_receive(product=product, location=shelf, quantity=4)
    inv.stock_receive(product=product, warehouse=warehouse, quantity=4)

    moves = inv.stock_deliver(product=product, warehouse=warehouse, quantity=6)

    # the warehouse's default location is emptied first, then the shelf
    assert [(m.from_location_id, m.quantity) for m in moves] == [(stock_location.pk, D("4")), (shelf.pk, D("2"))]
    quant_matches_moves(product)


# ---------------------------------------------------------------- transfers


def test_transfer_between_warehouses_keeps_totals_and_lots(company, warehouse):
    beijing = make_warehouse(company, code="BJ", name="北京仓")
    milk = make_product(company, tracks_lots=True)
    lot = make_lot(milk, code="B7", expiry_date=dt.date(2099, 1, 1))
    inv.stock_receive(product=milk, warehouse=warehouse, quantity=10, lot=lot)

    [move] = inv.stock_transfer(product=milk, from_warehouse=warehouse, to_warehouse=beijing, quantity=4)

    assert (move.kind, move.lot_id) == (MoveKind.TRANSFER, lot.pk)
    assert stock_level(company=company, product=milk, warehouse=warehouse).on_hand == D("6")
    assert stock_level(company=company, product=milk, warehouse=beijing).on_hand == D("4")
    assert stock_level(company=company, product=milk).on_hand == D("10")
    quant_matches_moves(milk)


def test_transfer_refusals(company, product, warehouse, stock_location):
    inv.stock_receive(product=product, warehouse=warehouse, quantity=3)
    with pytest.raises(ValidationError) as error:
        inv.stock_transfer(product=product, from_location=stock_location, to_location=stock_location, quantity=1)
    assert "to_location" in error.value.message_dict
    with pytest.raises(inv.InsufficientStock):
        inv.stock_transfer(product=product, from_warehouse=warehouse, to_warehouse=make_warehouse(company), quantity=4)
    assert StockMove.objects.filter(kind=MoveKind.TRANSFER).count() == 0


# ---------------------------------------------------------------- adjustments


def test_adjustment_waits_for_approval_by_someone_else(company, product, warehouse, stock_location, approver):
    clerk = make_member(company, Role.WAREHOUSE).user
    inv.stock_receive(product=product, warehouse=warehouse, quantity=10)

    adjustment = inv.stock_adjust(product=product, location=stock_location, quantity_delta=-2, reason="破损", by=clerk)
    assert adjustment.state == AdjustmentState.PENDING
    assert stock_level(company=company, product=product).on_hand == D("10")

    with pytest.raises(inv.StockConflict):
        inv.stock_adjustment_approve(adjustment=adjustment, by=clerk)
    adjustment = inv.stock_adjustment_approve(adjustment=adjustment, by=approver)

    assert adjustment.state == AdjustmentState.APPLIED
    assert (adjustment.move.kind, adjustment.move.quantity) == (MoveKind.ADJUSTMENT, D("2"))
    assert adjustment.move.to_location.kind == LocationKind.ADJUSTMENT
    assert stock_level(company=company, product=product).on_hand == D("8")
    with pytest.raises(inv.StateConflict):
        inv.stock_adjustment_approve(adjustment=adjustment, by=approver)
    quant_matches_moves(product)


def test_positive_adjustment_and_rejection(company, product, stock_location, approver):
    found = inv.stock_adjust(product=product, location=stock_location, quantity_delta="3", reason="盘盈")
    inv.stock_adjustment_approve(adjustment=found, by=approver)
    lost = inv.stock_adjust(product=product, location=stock_location, quantity_delta=-1, reason="?")
    inv.stock_adjustment_reject(adjustment=lost, by=approver, note="请先复核")

    lost.refresh_from_db()
    assert (lost.state, lost.decision_note, lost.move_id) == (AdjustmentState.REJECTED, "请先复核", None)
    assert stock_level(company=company, product=product).on_hand == D("3")


def test_adjustment_cannot_write_off_reserved_stock(company, product, warehouse, stock_location, approver):
    inv.stock_receive(product=product, warehouse=warehouse, quantity=5)
    inv.stock_reserve(product=product, warehouse=warehouse, quantity=4, reference="SO-9")
    adjustment = inv.stock_adjust(product=product, location=stock_location, quantity_delta=-2, reason="丢失")

    with pytest.raises(inv.InsufficientStock):
        inv.stock_adjustment_approve(adjustment=adjustment, by=approver)

    adjustment.refresh_from_db()
    assert adjustment.state == AdjustmentState.PENDING
    assert stock_level(company=company, product=product).on_hand == D("5")


def test_adjustment_input_errors(company, product, stock_location):
    with pytest.raises(ValidationError) as error:
        inv.stock_adjust(product=product, location=stock_location, quantity_delta=0, reason="x")
    assert "quantity_delta" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        inv.stock_adjust(product=product, location=stock_location, quantity_delta=1, reason=" ")
    assert "reason" in error.value.message_dict
    customers = inv.virtual_location(company=company, kind=LocationKind.CUSTOMER)
    with pytest.raises(ValidationError) as error:
        inv.stock_adjust(product=product, location=customers, quantity_delta=1, reason="x")
    assert "location" in error.value.message_dict


# ---------------------------------------------------------------- reservations


def test_reserve_release_and_consume(company, product, warehouse):
    inv.stock_receive(product=product, warehouse=warehouse, quantity=10)

    reservation = inv.stock_reserve(product=product, warehouse=warehouse, quantity=6, reference="SO-1/1")
    assert stock_level(company=company, product=product).reserved == D("6")

    reservation = inv.stock_release(reservation=reservation, quantity=2)
    assert (reservation.state, reservation.open_quantity) == (ReservationState.ACTIVE, D("4"))

    moves = inv.stock_consume_reservation(reservation=reservation, quantity=3)
    assert [m.reservation_id for m in moves] == [reservation.pk]
    reservation.refresh_from_db()
    assert (reservation.consumed_quantity, reservation.open_quantity) == (D("3"), D("1"))

    inv.stock_consume_reservation(reservation=reservation)
    reservation.refresh_from_db()
    assert reservation.state == ReservationState.CONSUMED
    level = stock_level(company=company, product=product)
    assert (level.on_hand, level.reserved) == (D("6"), D("0"))
    with pytest.raises(inv.StateConflict):
        inv.stock_release(reservation=reservation)
    quant_matches_moves(product)


def test_reserved_stock_consumed_by_production(company, product, warehouse):
    inv.stock_receive(product=product, warehouse=warehouse, quantity=5)
    reservation = inv.stock_reserve(product=product, warehouse=warehouse, quantity=5, reference="MO-12")

    [move] = inv.stock_consume_reservation(reservation=reservation, to=LocationKind.PRODUCTION)

    assert (move.kind, move.to_location.kind, move.reference) == (MoveKind.PRODUCTION, LocationKind.PRODUCTION, "MO-12")
    with pytest.raises(ValidationError):
        inv.stock_consume_reservation(reservation=reservation, to=LocationKind.SUPPLIER)
    assert stock_level(company=company, product=product).on_hand == D(0)


def test_reservation_refusals_write_nothing(company, other_company, product, warehouse):
    inv.stock_receive(product=product, warehouse=warehouse, quantity=5)
    with pytest.raises(inv.InsufficientStock) as error:
        inv.stock_reserve(product=product, warehouse=warehouse, quantity=6, reference="SO-1")
    assert "Only 5 pcs of GEAR-1 are free" in error.value.message
    with pytest.raises(ValidationError) as error:
        inv.stock_reserve(product=product, warehouse=warehouse, quantity=1, reference="")
    assert "reference" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        inv.stock_reserve(product=product, warehouse=make_warehouse(other_company), quantity=1, reference="SO")
    assert "warehouse" in error.value.message_dict
    reservation = inv.stock_reserve(product=product, warehouse=warehouse, quantity=2, reference="SO-2")
    with pytest.raises(inv.StockConflict) as error:
        inv.stock_release(reservation=reservation, quantity=3)
    assert error.value.field == "quantity"

    assert StockReservation.objects.count() == 1
    assert StockQuant.objects.get(product=product).reserved == D("2")


def test_reservations_span_lots_first_expiry_first(company, warehouse):
    milk = make_product(company, tracks_lots=True)
    late = make_lot(milk, code="L", expiry_date=dt.date(2099, 6, 1))
    early = make_lot(milk, code="E", expiry_date=dt.date(2099, 1, 1))
    inv.stock_receive(product=milk, warehouse=warehouse, quantity=3, lot=late)
    inv.stock_receive(product=milk, warehouse=warehouse, quantity=3, lot=early)

    reservation = inv.stock_reserve(product=milk, warehouse=warehouse, quantity=4, reference="SO-5")

    held = {a.quant.lot.code: a.quantity for a in reservation.allocations.select_related("quant__lot")}
    assert held == {"E": D("3"), "L": D("1")}
    inv.stock_release(reservation=reservation, quantity=1)  # the latest-expiring stock is freed first
    held = {a.quant.lot.code: a.quantity for a in reservation.allocations.select_related("quant__lot")}
    assert held == {"E": D("3"), "L": D("0")}


def test_stock_changes_publish_events(company, product, warehouse):
    inv.stock_receive(product=product, warehouse=warehouse, quantity=10, reference="PO-1")
    inv.stock_reserve(product=product, warehouse=warehouse, quantity=4, reference="SO-1")

    payloads = [e.payload for e in OutboxEvent.objects.filter(name="erp.stock.changed").order_by("id")]
    assert payloads[-1] == {
        "product_id": product.pk,
        "sku": "GEAR-1",
        "warehouse_id": warehouse.pk,
        "on_hand": "10.0000",
        "reserved": "4.0000",
        "free": "6.0000",
        "total_free": "6.0000",
        "reason": "reservation",
        "reference": "SO-1",
    }
    assert [p["reason"] for p in payloads] == ["receipt", "reservation"]


def test_services_and_stock_refuse_non_stockable_products(company, warehouse):
    service = make_product(company, is_stockable=False)
    with pytest.raises(ValidationError) as error:
        inv.stock_receive(product=service, warehouse=warehouse, quantity=1)
    assert "product" in error.value.message_dict


# ---------------------------------------------------------------- the database's own guarantees


def test_moves_cannot_be_updated_or_deleted_even_with_raw_sql(product, warehouse):
    move = inv.stock_receive(product=product, warehouse=warehouse, quantity=5)

    for statement in (
        "UPDATE erp_stockmove SET quantity = 500 WHERE id = %s",
        "DELETE FROM erp_stockmove WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="Cannot update or delete rows from erp_stockmove"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [move.pk])
    with pytest.raises(DatabaseError, match="erp_stockmove"), transaction.atomic():
        StockMove.objects.filter(pk=move.pk).update(reference="changed")
    move.refresh_from_db()
    assert (move.quantity, move.reference) == (D("5"), "")


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("UPDATE erp_stockquant SET quantity = -1, reserved = 0 WHERE id = %s", "erp_stockquant_quantity_not_negative"),
        ("UPDATE erp_stockquant SET reserved = -1 WHERE id = %s", "erp_stockquant_reserved_not_negative"),
        ("UPDATE erp_stockquant SET reserved = quantity + 1 WHERE id = %s", "erp_stockquant_reserved_le_on_hand"),
    ],
)
def test_quants_cannot_go_negative_or_be_over_reserved_even_with_raw_sql(product, warehouse, statement, constraint):
    inv.stock_receive(product=product, warehouse=warehouse, quantity=5)
    quant = StockQuant.objects.get(product=product)

    with pytest.raises(IntegrityError, match=constraint), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [quant.pk])


def test_moves_need_a_positive_quantity_in_the_database(company, product, warehouse, stock_location):
    customers = inv.virtual_location(company=company, kind=LocationKind.CUSTOMER)
    with pytest.raises(IntegrityError, match="erp_stockmove_quantity_positive"), transaction.atomic():
        StockMove.objects.create(
            company=company,
            product=product,
            from_location=stock_location,
            to_location=customers,
            quantity=D("-1"),
            kind=MoveKind.DELIVERY,
        )


def test_stock_service_query_counts(product, warehouse, django_assert_max_num_queries):
    inv.stock_receive(product=product, warehouse=warehouse, quantity=100, unit_cost=1)
    inv.stock_deliver(product=product, warehouse=warehouse, quantity=1)  # the customers' location now exists
    # counts include the SAVEPOINT / RELEASE of the service's atomic block inside the test's transaction; a
    # receipt and a delivery also value their moves (erp.services.valuation: the product's valuation row
    # upserted-and-locked and updated, the company's valuation settings read, the layer inserted)
    with django_assert_max_num_queries(15):
        inv.stock_receive(product=product, warehouse=warehouse, quantity=1, unit_cost=1)
    with django_assert_max_num_queries(8):
        inv.stock_reserve(product=product, warehouse=warehouse, quantity=1, reference="SO")
    with django_assert_max_num_queries(12):
        inv.stock_deliver(product=product, warehouse=warehouse, quantity=1)


def test_stocked_helper(company):
    product, warehouse = stocked(company, quantity=D("7"))
    assert stock_level(company=company, product=product, warehouse=warehouse).on_hand == D("7")
