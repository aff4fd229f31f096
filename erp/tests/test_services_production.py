"""Production orders: release with reservations, issue, operations, partial completion with lots, scrap,
costing to the ledger (issue #6, acceptance 3), BOM rules, scheduling, late alerts, quality."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone

from erp.models import (
    InspectionResult,
    Lot,
    NonConformance,
    OperationState,
    ProductionState,
    StockQuant,
    StockReservation,
)
from erp.selectors import production as selectors
from erp.services import inventory as inv
from erp.services import production as prod
from erp.services.valuation import stock_value_total
from suite.models import Notification, Role

D = Decimal
pytestmark = pytest.mark.django_db


def on_hand(product):
    return StockQuant.objects.filter(product=product).aggregate(total=Sum("quantity"))["total"] or D(0)


def new_order(plant, quantity="10", **fields):
    today = timezone.localdate()
    fields.setdefault("due_date", today + dt.timedelta(days=5))
    return prod.production_order_create(
        company=plant.company, product=plant.pump, quantity=D(quantity), warehouse=plant.warehouse, **fields
    )


def test_order_takes_materials_with_scrap_and_operations_from_the_bom(plant):
    order = prod.production_order_create(
        company=plant.company,
        product=plant.housing,
        quantity=D("7"),
        warehouse=plant.warehouse,
        due_date=timezone.localdate() + dt.timedelta(days=3),
    )
    [material] = order.materials.all()
    assert (material.product_id, material.required_quantity) == (plant.casting.pk, D("8.7500"))  # 7 / 0.8
    pump_order = new_order(plant)
    assert {m.product_id: m.required_quantity for m in pump_order.materials.all()} == {
        plant.housing.pk: D("10"),
        plant.bolt.pk: D("20"),
    }
    assert [(o.name, o.setup_minutes, o.run_minutes) for o in pump_order.operations.all()] == [
        ("装配", 30, 60),
        ("试验", 0, 30),
    ]
    assert order.number.startswith("MO") and order.state == ProductionState.DRAFT


def test_costing_posts_material_labour_overhead_and_wip_returns_to_zero(plant):
    """Acceptance 3: 10 pumps; material 10 housings × 20.00 + 20 bolts × 5.00 = 300.00; labour (90 min at
    60.00/h + 30 min at 40.00/h) = 110.00; overhead (90 min at 30.00/h + 30 min at 20.00/h) = 55.00. 4 pumps
    first (40 % of the materials issued: 120.00, assembly costed 135.00 → 4/10 of 255.00 = 102.00 out of WIP),
    then 5 good and 1 scrapped: the remaining 363.00 leaves WIP with the 5. The ledger balances, WIP is zero."""
    plant.stock(plant.housing, "10", "20")
    plant.stock(plant.bolt, "20", "5")
    operator = plant.member()
    order = prod.production_order_release(order=new_order(plant), by=operator)
    assert order.state == ProductionState.RELEASED
    assert StockReservation.objects.filter(reference=order.number, state="active").count() == 2
    assembly, testing = order.operations.order_by("sequence")

    prod.operation_report(operation=assembly, good_quantity=D("10"), finish=True, by=operator)
    order.refresh_from_db()
    assert (order.state, order.labour_cost, order.overhead_cost) == (ProductionState.IN_PROGRESS, D("90"), D("45"))
    assert plant.balance("5001") == D("135.00")

    prod.operation_report(operation=testing, good_quantity=D("4"), by=operator)
    order.refresh_from_db()
    assert (order.produced_quantity, order.material_cost, order.finished_cost) == (D("4"), D("120"), D("102"))
    assert plant.balance("5001") == D("153.00")  # 120 + 135 − 102
    first_lot = Lot.objects.get(product=plant.pump, code=f"{order.number}-1")
    assert StockQuant.objects.get(product=plant.pump, lot=first_lot).quantity == D("4")

    prod.operation_report(
        operation=testing, good_quantity=D("5"), scrap_quantity=D("1"), finish=True, lot_code="GP-B2", by=operator
    )
    order.refresh_from_db()
    assert order.state == ProductionState.DONE
    assert (order.material_cost, order.labour_cost, order.overhead_cost) == (D("300"), D("110"), D("55"))
    assert order.finished_cost == D("465") and order.wip_value == 0
    assert (order.produced_quantity, order.scrapped_quantity) == (D("9"), D("1"))
    assert plant.balance("5001") == 0  # WIP back to zero
    assert plant.balance("2211") == D("-110.00") and plant.balance("5101") == D("-55.00")
    debit, credit = plant.ledger_totals()
    assert debit == credit
    assert plant.balance("1405") == stock_value_total(company=plant.company) == D("465.00")
    assert on_hand(plant.pump) == D("9") and on_hand(plant.housing) == 0 and on_hand(plant.bolt) == 0
    assert StockQuant.objects.get(product=plant.pump, lot__code="GP-B2").quantity == D("5")
    assert not StockReservation.objects.filter(reference=order.number, state="active").exists()
    plant.pump.refresh_from_db()
    assert plant.pump.average_cost == D("51.6667")  # 465 / 9


def test_release_is_all_or_nothing_when_a_component_is_short(plant):
    plant.stock(plant.housing, "10", "20")
    plant.stock(plant.bolt, "19", "5")
    order = new_order(plant)
    with pytest.raises(inv.InsufficientStock):
        prod.production_order_release(order=order)
    order.refresh_from_db()
    assert order.state == ProductionState.DRAFT
    assert not StockReservation.objects.filter(reference=order.number).exists()
    assert StockQuant.objects.filter(product=plant.housing).aggregate(r=Sum("reserved"))["r"] == 0


def test_two_orders_never_reserve_the_same_units(plant):
    plant.stock(plant.housing, "15", "20")
    plant.stock(plant.bolt, "40", "5")
    prod.production_order_release(order=new_order(plant), schedule=False)
    with pytest.raises(inv.InsufficientStock):
        prod.production_order_release(order=new_order(plant), schedule=False)
    assert StockQuant.objects.get(product=plant.housing).reserved == D("10")


def test_closing_short_releases_the_rest_and_empties_wip(plant):
    plant.stock(plant.housing, "10", "20")
    plant.stock(plant.bolt, "20", "5")
    order = prod.production_order_release(order=new_order(plant), schedule=False)
    receipt = prod.production_receive(order=order, quantity=D("5"), close=True)
    order.refresh_from_db()
    assert order.state == ProductionState.DONE and order.wip_value == 0
    # materials for half the order issued, the rest released back to free stock
    assert (on_hand(plant.housing), on_hand(plant.bolt)) == (D("5"), D("10"))
    assert StockQuant.objects.get(product=plant.housing).reserved == 0
    assert receipt.cost == order.finished_cost and plant.balance("5001") == 0


def test_receiving_more_than_open_is_refused_and_nothing_written(plant):
    plant.stock(plant.housing, "10", "20")
    plant.stock(plant.bolt, "20", "5")
    order = prod.production_order_release(order=new_order(plant), schedule=False)
    with pytest.raises(ValidationError) as error:
        prod.production_receive(order=order, quantity=D("11"))
    assert "quantity" in error.value.message_dict
    order.refresh_from_db()
    assert order.produced_quantity == 0 and order.material_cost == 0


def test_timed_operation_costs_the_time_worked(plant):
    plant.stock(plant.housing, "10", "20")
    plant.stock(plant.bolt, "20", "5")
    order = prod.production_order_release(order=new_order(plant), schedule=False)
    assembly = order.operations.order_by("sequence").first()
    prod.operation_start(operation=assembly)
    assembly.refresh_from_db()
    type(assembly).objects.filter(pk=assembly.pk).update(started_at=timezone.now() - dt.timedelta(minutes=30))
    prod.operation_stop(operation=assembly)
    assembly.refresh_from_db()
    order.refresh_from_db()
    assert assembly.state == OperationState.PAUSED and D("30") <= assembly.worked_minutes < D("30.1")
    assert order.labour_cost == D("30.00") and order.overhead_cost == D("15.00")
    assert plant.balance("5001") == D("45.00")


def test_bom_rules_cycles_overlaps_and_versions(plant):
    with pytest.raises(ValidationError) as error:
        prod.bom_create(company=plant.company, product=plant.casting, lines=[{"component": plant.pump, "quantity": 1}])
    assert "lines" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        prod.bom_create(
            company=plant.company, product=plant.pump, version="2", lines=[{"component": plant.bolt, "quantity": 3}]
        )
    assert "effective_from" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        prod.bom_create(
            company=plant.company,
            product=plant.bolt,
            lines=[{"component": plant.casting, "quantity": 1, "scrap_factor": "1"}],
        )
    assert "lines.0.scrap_factor" in error.value.message_dict
    today = timezone.localdate()
    old = prod.bom_in_force(product=plant.housing, on=today)
    prod.bom_archive(bom=old)
    v2 = prod.bom_create(
        company=plant.company,
        product=plant.housing,
        version="2",
        effective_from=today + dt.timedelta(days=10),
        lines=[{"component": plant.casting, "quantity": 2}],
    )
    assert prod.bom_in_force(product=plant.housing, on=today) is None
    assert prod.bom_in_force(product=plant.housing, on=today + dt.timedelta(days=10)) == v2


def test_schedule_sets_operations_and_promised_date(plant):
    plant.stock(plant.housing, "20", "20")
    plant.stock(plant.bolt, "40", "5")
    monday = timezone.make_aware(dt.datetime.combine(_next_monday(), dt.time(8, 0)))
    due = monday.date() + dt.timedelta(days=3)
    first = prod.production_order_release(
        order=new_order(plant, planned_start=monday.date(), due_date=due), schedule=False
    )
    second = prod.production_order_release(
        order=new_order(plant, planned_start=monday.date(), due_date=due, priority=200), schedule=False
    )
    assert prod.production_schedule(company=plant.company, now=monday) == 4
    a1, t1 = first.operations.order_by("sequence")
    a2, _t2 = second.operations.order_by("sequence")
    local = timezone.localtime
    assert (local(a1.scheduled_start).time(), local(a1.scheduled_end).time()) == (dt.time(8), dt.time(9, 30))
    assert (local(t1.scheduled_start).time(), local(t1.scheduled_end).time()) == (dt.time(9, 30), dt.time(10))
    assert local(a2.scheduled_start) == local(a1.scheduled_end)  # one assembly station: the second waits
    first.refresh_from_db()
    assert first.promised_at == t1.scheduled_end
    assert selectors.production_promised_date(company=plant.company, product=plant.pump, quantity=D("15")) == (
        local(second.operations.order_by("sequence").last().scheduled_end).date()
    )
    assert selectors.production_promised_date(company=plant.company, product=plant.pump, quantity=D("21")) is None


def _next_monday():
    today = timezone.localdate()
    return today + dt.timedelta(days=(7 - today.weekday()) % 7 or 7)


def test_late_operation_alerts_production_staff_once(plant):
    plant.stock(plant.housing, "10", "20")
    plant.stock(plant.bolt, "20", "5")
    planner = plant.member(Role.PRODUCTION)
    seller = plant.member(Role.SALES)
    order = prod.production_order_release(order=new_order(plant), by=planner)
    assert order.operations.filter(scheduled_end__isnull=False).count() == 2
    later = timezone.now() + dt.timedelta(days=30)
    assert prod.production_alert_late(now=later) == 2
    assert prod.production_alert_late(now=later) == 0
    assert Notification.objects.filter(recipient=planner, level="warning").count() == 2
    assert not Notification.objects.filter(recipient=seller).exists()


def test_failed_inspection_opens_a_non_conformance_with_lot_and_order(plant):
    plant.stock(plant.housing, "10", "20")
    plant.stock(plant.bolt, "20", "5")
    order = prod.production_order_release(order=new_order(plant), schedule=False)
    receipt = prod.production_receive(order=order, quantity=D("4"))
    plan = prod.inspection_plan_create(
        company=plant.company,
        product=plant.pump,
        name="出厂试验",
        operation_name="试验",
        characteristics=[{"name": "压力", "min": "9.5", "max": "10.5", "unit": "MPa"}],
    )
    testing = order.operations.order_by("sequence").last()
    ok = prod.inspection_record(plan=plan, measurements={"压力": "10.1"}, operation=testing, lot=receipt.lot)
    bad = prod.inspection_record(
        plan=plan,
        measurements={"压力": "11.2"},
        inspected_quantity=D("4"),
        defect_quantity=D("1"),
        operation=testing,
        lot=receipt.lot,
    )
    assert (ok.result, bad.result) == (InspectionResult.PASS, InspectionResult.FAIL)
    nc = NonConformance.objects.get(inspection=bad)
    assert (nc.lot, nc.production_order_id, nc.quantity) == (receipt.lot, order.pk, D("1"))
    complaint = prod.non_conformance_create(
        company=plant.company,
        product=plant.pump,
        production_order=order,
        crm_ticket_id=4711,
        description="客户投诉：泵漏油",
    )
    assert complaint.lot == receipt.lot  # the order's lot, found for the complaint
    assert list(selectors.non_conformances_of_ticket(company=plant.company, crm_ticket_id=4711)) == [complaint]
    [by_product] = selectors.defect_rates(plant.company, by="product")
    assert (by_product["inspected"], by_product["defective"], by_product["rate"]) == (D("5"), D("1"), D("0.2000"))
    [by_centre] = selectors.defect_rates(plant.company, by="work_center")
    assert by_centre["label"] == "WC-TST"
    with pytest.raises(ValidationError):
        prod.inspection_record(plan=plan, inspected_quantity=D("1"), defect_quantity=D("2"))
