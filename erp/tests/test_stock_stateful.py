"""Property-based test of the stock ledger (issue 5, acceptance 2, the stock part): random sequences of
receipts, deliveries, transfers, approved adjustments, reservations, releases and consumptions keep every quant
equal to the sum of its moves, never negative, never over-reserved, with ``reserved`` equal to what the active
reservations hold — and the services refuse exactly what a simple model says is not free."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule, run_state_machine_as_test

from erp.models import Location, ReservationState, StockQuant
from erp.services import inventory as inv
from erp.tests.factories import make_lot, make_product, make_warehouse
from suite.models import Role
from suite.testing import CompanyFactory, make_member

D = Decimal
quantities = st.integers(min_value=1, max_value=15).map(D)

_QUANT_VS_MOVES = """
WITH flows AS (
    SELECT to_location_id AS location_id, product_id, lot_id, quantity FROM erp_stockmove WHERE company_id = %(c)s
    UNION ALL
    SELECT from_location_id, product_id, lot_id, -quantity FROM erp_stockmove WHERE company_id = %(c)s
), balances AS (
    SELECT f.location_id, f.product_id, f.lot_id, SUM(f.quantity) AS quantity
      FROM flows f JOIN erp_location l ON l.id = f.location_id AND l.kind = 'internal'
     GROUP BY 1, 2, 3
)
SELECT count(*) FROM balances b
  FULL OUTER JOIN (SELECT * FROM erp_stockquant WHERE company_id = %(c)s) q
    ON q.location_id = b.location_id AND q.product_id = b.product_id AND q.lot_id IS NOT DISTINCT FROM b.lot_id
 WHERE COALESCE(q.quantity, 0) <> COALESCE(b.quantity, 0)
"""

_RESERVED_VS_ALLOCATIONS = """
SELECT count(*) FROM erp_stockquant q
  LEFT JOIN (
      SELECT a.quant_id, SUM(a.quantity) AS held FROM erp_stockreservationallocation a
        JOIN erp_stockreservation r ON r.id = a.reservation_id AND r.state = 'active'
       GROUP BY a.quant_id
  ) h ON h.quant_id = q.id
 WHERE q.company_id = %(c)s AND q.reserved <> COALESCE(h.held, 0)
"""


class StockMachine(RuleBasedStateMachine):
    """The model: on hand and reserved per (product, warehouse); every lot is usable (no expiry)."""

    reservations = Bundle("reservations")

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        company = CompanyFactory()
        self.company = company
        self.clerk = make_member(company, Role.WAREHOUSE).user
        self.manager = make_member(company, Role.MANAGER).user
        self.plain = make_product(company, sku="PLAIN")
        self.tracked = make_product(company, sku="TRACKED", tracks_lots=True)
        self.lots = [make_lot(self.tracked, code="A"), make_lot(self.tracked, code="B")]
        self.warehouses = [make_warehouse(company), make_warehouse(company)]
        self.locations = []
        for warehouse in self.warehouses:
            self.locations.append(Location.objects.get(warehouse=warehouse, is_default=True))
            self.locations.append(inv.location_create(warehouse=warehouse, code="SHELF", name="货架"))
        self.on_hand = defaultdict(D)  # (product id, warehouse id) → quantity
        self.reserved = defaultdict(D)
        self.steps = 0
        # some stock everywhere, so that reservations and deliveries succeed as often as they are refused
        for location in self.locations:
            for product, lot in ((self.plain, None), (self.tracked, self.lots[0]), (self.tracked, self.lots[1])):
                inv.stock_receive(product=product, location=location, lot=lot, quantity=D(8), unit_cost=D(2))
                self.on_hand[product.pk, location.warehouse_id] += D(8)

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # ---------------------------------------------------------------- helpers

    def _lot_for(self, product, lot_index):
        return self.lots[lot_index] if product.tracks_lots else None

    def _free(self, product, warehouse):
        return self.on_hand[product.pk, warehouse.pk] - self.reserved[product.pk, warehouse.pk]

    def _free_at(self, product, location, lot):
        quant = StockQuant.objects.filter(product=product, location=location, lot=lot).first()
        return quant.quantity - quant.reserved if quant else D(0)

    # ---------------------------------------------------------------- rules

    @rule(tracked=st.booleans(), where=st.integers(0, 3), lot=st.integers(0, 1), quantity=quantities)
    def receive(self, tracked, where, lot, quantity):
        product = self.tracked if tracked else self.plain
        location = self.locations[where]
        inv.stock_receive(
            product=product, location=location, lot=self._lot_for(product, lot), quantity=quantity, unit_cost=D(3)
        )
        self.on_hand[product.pk, location.warehouse_id] += quantity

    @rule(tracked=st.booleans(), which=st.integers(0, 1), quantity=quantities)
    def deliver(self, tracked, which, quantity):
        product = self.tracked if tracked else self.plain
        warehouse = self.warehouses[which]
        expected_refusal = self._free(product, warehouse) < quantity
        try:
            inv.stock_deliver(product=product, warehouse=warehouse, quantity=quantity)
        except inv.InsufficientStock as refusal:
            assert expected_refusal
            assert refusal.available == self._free(product, warehouse)
            return
        assert not expected_refusal
        self.on_hand[product.pk, warehouse.pk] -= quantity

    @rule(tracked=st.booleans(), source=st.integers(0, 3), destination=st.integers(0, 3), quantity=quantities)
    def transfer(self, tracked, source, destination, quantity):
        if source == destination:
            return
        product = self.tracked if tracked else self.plain
        from_location, to_location = self.locations[source], self.locations[destination]
        free_there = sum(
            (self._free_at(product, from_location, lot) for lot in ([*self.lots] if tracked else [None])), D(0)
        )
        try:
            inv.stock_transfer(product=product, from_location=from_location, to_location=to_location, quantity=quantity)
        except inv.InsufficientStock:
            assert free_there < quantity
            return
        assert free_there >= quantity
        self.on_hand[product.pk, from_location.warehouse_id] -= quantity
        self.on_hand[product.pk, to_location.warehouse_id] += quantity

    @rule(
        tracked=st.booleans(),
        where=st.integers(0, 3),
        lot=st.integers(0, 1),
        delta=st.integers(-10, 10).filter(bool).map(D),
    )
    def adjust(self, tracked, where, lot, delta):
        product = self.tracked if tracked else self.plain
        location = self.locations[where]
        lot_record = self._lot_for(product, lot)
        free_there = self._free_at(product, location, lot_record)
        adjustment = inv.stock_adjust(
            product=product, location=location, lot=lot_record, quantity_delta=delta, reason="盘点", by=self.clerk
        )
        try:
            inv.stock_adjustment_approve(adjustment=adjustment, by=self.manager)
        except inv.InsufficientStock:
            assert delta < 0 and free_there < -delta
            return
        assert delta > 0 or free_there >= -delta
        self.on_hand[product.pk, location.warehouse_id] += delta

    @rule(target=reservations, tracked=st.booleans(), which=st.integers(0, 1), quantity=quantities)
    def reserve(self, tracked, which, quantity):
        product = self.tracked if tracked else self.plain
        warehouse = self.warehouses[which]
        expected_refusal = self._free(product, warehouse) < quantity
        self.steps += 1
        try:
            reservation = inv.stock_reserve(
                product=product, warehouse=warehouse, quantity=quantity, reference=f"SO-{self.steps}"
            )
        except inv.InsufficientStock:
            assert expected_refusal
            return None
        assert not expected_refusal
        self.reserved[product.pk, warehouse.pk] += quantity
        return reservation

    @rule(reservation=consumes(reservations), part=st.integers(0, 3))
    def release(self, reservation, part):
        if reservation is None:
            return
        reservation.refresh_from_db()
        quantity = None if part == 0 or reservation.open_quantity <= part else D(part)
        released = quantity if quantity is not None else reservation.open_quantity
        inv.stock_release(reservation=reservation, quantity=quantity)
        self.reserved[reservation.product_id, reservation.warehouse_id] -= released

    @rule(reservation=consumes(reservations), part=st.integers(0, 3))
    def consume(self, reservation, part):
        if reservation is None:
            return
        reservation.refresh_from_db()
        quantity = None if part == 0 or reservation.open_quantity <= part else D(part)
        consumed = quantity if quantity is not None else reservation.open_quantity
        inv.stock_consume_reservation(reservation=reservation, quantity=quantity)
        key = reservation.product_id, reservation.warehouse_id
        self.reserved[key] -= consumed
        self.on_hand[key] -= consumed
        reservation.refresh_from_db()
        assert reservation.state == (ReservationState.CONSUMED if quantity is None else ReservationState.ACTIVE)

    # ---------------------------------------------------------------- invariants

    @invariant()
    def quants_equal_the_sum_of_their_moves(self):
        with connection.cursor() as cursor:
            cursor.execute(_QUANT_VS_MOVES, {"c": self.company.pk})
            assert cursor.fetchone()[0] == 0
            cursor.execute(_RESERVED_VS_ALLOCATIONS, {"c": self.company.pk})
            assert cursor.fetchone()[0] == 0
            cursor.execute(
                "SELECT count(*) FROM erp_stockquant WHERE company_id = %s "
                "AND (quantity < 0 OR reserved < 0 OR reserved > quantity)",
                [self.company.pk],
            )
            assert cursor.fetchone()[0] == 0

    @invariant()
    def stock_matches_the_model(self):
        for product in (self.plain, self.tracked):
            for warehouse in self.warehouses:
                quants = StockQuant.objects.filter(product=product, warehouse=warehouse)
                assert sum((q.quantity for q in quants), D(0)) == self.on_hand[product.pk, warehouse.pk]
                assert sum((q.reserved for q in quants), D(0)) == self.reserved[product.pk, warehouse.pk]


StockMachine.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@pytest.mark.django_db
@pytest.mark.slow
def test_stock_ledger_properties():
    run_state_machine_as_test(StockMachine, settings=StockMachine.TestCase.settings)
