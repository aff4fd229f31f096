"""MRP at the database level (issue #6): demand from confirmed sales orders and forecasts, supply from stock and
expected receipts, safety stock → a run → planned orders with their explanation → confirmed into a production
order or a purchase order. The plant is erp/tests/production_support.py; the hand-checked plan is in each test."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from erp.models import DemandForecast, MrpRunStatus, PlannedKind, PlannedState, ProductionState, PurchaseOrder, Tax
from erp.services import inventory as inv
from erp.services import mrp, sales
from erp.services import partners as ps
from erp.services import production as prod

D = Decimal
pytestmark = pytest.mark.django_db


def confirmed_order(plant, product, quantity, requested):
    customer = ps.partner_create(company=plant.company, name="杭州客户有限公司", is_customer=True)
    order = sales.sales_order_create(
        company=plant.company,
        partner=customer,
        warehouse=plant.warehouse,
        lines=[
            {
                "product": product,
                "quantity": D(quantity),
                "unit_price": D("300"),
                "tax": Tax.objects.get(company=plant.company, name="增值税 13%"),
                "requested_date": requested,
            }
        ],
    )
    return sales.sales_order_confirm(order=order)


def run(plant, today, **params):
    started = mrp.mrp_run_start(company=plant.company, warehouse=plant.warehouse, queue=False, **params)
    return mrp.mrp_run_execute(run_id=started.pk, today=today)


def plan_of(result):
    return [
        (p.product_id, p.kind, p.quantity, p.due_date, p.release_date, p.late)
        for p in result.planned_orders.order_by("level", "product_id", "due_date")
    ]


def test_run_nets_sales_orders_forecasts_and_safety_stock_level_by_level(plant):
    """Pump: 10 sold for day 10, 5 forecast for day 20 → make 10 (due 10, release 8) and 5 (due 20, release 18).
    Housing: 3 on hand; 10 needed on day 8 → make 7 (release 6); 5 on day 18 → make 5 (release 16).
    Bolt: 5 on hand, safety stock 10 → buy 5 today (release 5 days ago: late); 20 on day 8 → buy 20 (release 3);
    10 on day 18 → buy 10 (release 13). Casting: 7 / (1 − 0.2) = 8.75 on day 6 → buy 8.75, release day −1 (late);
    5 / 0.8 = 6.25 on day 16 → buy 6.25 (release 9).
    The run's day is the 15th of next month: the order (day 10) and the forecast (day 20) fall in different
    months, so the order does not consume the forecast (test_forecast_is_consumed_by_orders_of_its_month)."""
    today = (timezone.localdate().replace(day=1) + dt.timedelta(days=40)).replace(day=15)
    day = lambda n: today + dt.timedelta(days=n)  # noqa: E731
    plant.stock(plant.housing, "3", "20")
    plant.stock(plant.bolt, "5", "5")
    prod.product_planning_set(product=plant.bolt, safety_stock=D("10"))
    so = confirmed_order(plant, plant.pump, "10", day(10))
    mrp.forecast_lines_replace(
        company=plant.company, source="manual", lines=[{"product": plant.pump, "date": day(20), "quantity": "5"}]
    )
    result = run(plant, today)
    assert result.status == MrpRunStatus.DONE and result.progress == 100
    assert result.demand_count == 2 and result.planned_count == 9
    P, B = PlannedKind.PRODUCE, PlannedKind.PURCHASE
    assert plan_of(result) == [
        (plant.pump.pk, P, D("10"), day(10), day(8), False),
        (plant.pump.pk, P, D("5"), day(20), day(18), False),
        (plant.housing.pk, P, D("7"), day(8), day(6), False),
        (plant.housing.pk, P, D("5"), day(18), day(16), False),
        (plant.bolt.pk, B, D("5"), today, day(-5), True),
        (plant.bolt.pk, B, D("20"), day(8), day(3), False),
        (plant.bolt.pk, B, D("10"), day(18), day(13), False),
        (plant.casting.pk, B, D("8.75"), day(6), day(-1), True),
        (plant.casting.pk, B, D("6.25"), day(16), day(9), False),
    ]
    first = result.planned_orders.get(product=plant.pump, due_date=day(10))
    assert so.number in first.explanation and "below safety stock" in first.explanation
    assert result.planned_orders.get(product=plant.bolt, due_date=today).reason.startswith("on hand 5")


def test_open_supply_and_open_production_orders_count(plant):
    """4 pumps expected on day 5 (a purchase) leave 6 to make for the 10 sold; a released order for 3 more
    (expected supply on its due day) leaves 3, and its components are demand on the housing."""
    today = timezone.localdate()
    confirmed_order(plant, plant.pump, "10", today + dt.timedelta(days=10))
    inv.incoming_supply_plan(
        product=plant.pump,
        warehouse=plant.warehouse,
        quantity=D("4"),
        expected_date=today + dt.timedelta(days=5),
        reference="PO-TEST",
    )
    result = run(plant, today, include_forecasts=False)
    assert result.planned_orders.get(product=plant.pump).quantity == D("6")
    plant.stock(plant.housing, "3", "20")
    plant.stock(plant.bolt, "6", "5")
    prod.production_order_release(
        order=prod.production_order_create(
            company=plant.company,
            product=plant.pump,
            quantity=D("3"),
            warehouse=plant.warehouse,
            due_date=today + dt.timedelta(days=4),
        ),
        schedule=False,
    )
    again = run(plant, today, include_forecasts=False)
    assert again.planned_orders.get(product=plant.pump).quantity == D("3")
    assert result.planned_orders.filter(state=PlannedState.PROPOSED).count() == 0  # superseded by the new run


def test_confirming_planned_orders_makes_production_and_purchase_orders(plant):
    today = timezone.localdate()
    confirmed_order(plant, plant.pump, "10", today + dt.timedelta(days=10))
    result = run(plant, today)
    planner = plant.member()
    make = result.planned_orders.get(product=plant.pump)
    confirmed = mrp.planned_order_confirm(planned=make, by=planner)
    order = confirmed.production_order
    assert (order.state, order.quantity, order.due_date) == (ProductionState.DRAFT, D("10"), make.due_date)
    assert {m.product_id: m.required_quantity for m in order.materials.all()} == {
        plant.housing.pk: D("10"),
        plant.bolt.pk: D("20"),
    }
    with pytest.raises(prod.ProductionConflict):
        mrp.planned_order_confirm(planned=make, by=planner)
    buy = result.planned_orders.get(product=plant.bolt)
    purchase = mrp.planned_order_confirm(planned=buy, quantity=D("25"), by=planner).purchase_order
    assert isinstance(purchase, PurchaseOrder) and purchase.supplier == plant.buying.supplier
    [line] = purchase.lines.all()
    assert (line.product_id, line.quantity, line.unit_price) == (plant.bolt.pk, D("25"), D("5"))


def test_a_bom_cycle_fails_the_run_with_the_reason(plant):
    today = timezone.localdate()
    confirmed_order(plant, plant.pump, "1", today + dt.timedelta(days=3))
    # a cycle the BOM service would refuse, written behind its back, is reported by the run, not a crash
    from erp.models import BomLine

    bom = prod.bom_in_force(product=plant.housing, on=today)
    BomLine.objects.create(company=plant.company, bom=bom, component=plant.pump, quantity=D("1"))
    result = run(plant, today)
    assert result.status == MrpRunStatus.FAILED and "cycle" in result.message


def test_forecast_lines_replace_is_idempotent_per_source(plant):
    today = timezone.localdate()
    lines = [{"product": plant.pump.pk, "date": (today + dt.timedelta(days=7)).isoformat(), "quantity": "12.5"}]
    assert mrp.forecast_lines_replace(company=plant.company, source="crm_pipeline", lines=lines) == 1
    mrp.forecast_lines_replace(company=plant.company, source="crm_pipeline", lines=lines)
    mrp.forecast_lines_replace(company=plant.company, source="manual", lines=lines)
    assert DemandForecast.objects.filter(company=plant.company, source="crm_pipeline").count() == 1
    assert DemandForecast.objects.filter(company=plant.company).count() == 2
    with pytest.raises(ValidationError) as error:
        mrp.forecast_lines_replace(
            company=plant.company, source="crm_pipeline", lines=[{"product": plant.pump, "date": "x", "quantity": "1"}]
        )
    assert "lines.0.date" in error.value.message_dict
    assert DemandForecast.objects.filter(company=plant.company, source="crm_pipeline").count() == 1


def test_forecast_is_consumed_by_orders_of_its_month(plant):
    """Per product and month, demand = max(forecast, ordered): 10 forecast (two sources) and 4 ordered in one
    month plan 10, not 14; 3 forecast and 5 ordered in the next month plan the 5 ordered only."""
    today = (timezone.localdate().replace(day=1) + dt.timedelta(days=40)).replace(day=3)
    next_month = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    confirmed_order(plant, plant.pump, "4", today.replace(day=20))
    confirmed_order(plant, plant.pump, "5", next_month.replace(day=10))
    mrp.forecast_lines_replace(
        company=plant.company, source="crm_pipeline", lines=[{"product": plant.pump, "date": today, "quantity": "6"}]
    )
    mrp.forecast_lines_replace(
        company=plant.company,
        source="social_intent",
        lines=[
            {"product": plant.pump, "date": today.replace(day=25), "quantity": "4"},
            {"product": plant.pump, "date": next_month.replace(day=2), "quantity": "3"},
        ],
    )

    result = run(plant, today, include_forecasts=True)

    pump = result.planned_orders.filter(product=plant.pump).order_by("due_date")
    assert sum(p.quantity for p in pump if p.due_date < next_month) == D("10")
    assert sum(p.quantity for p in pump if p.due_date >= next_month) == D("5")
    explained = " ".join(p.explanation for p in pump)
    assert "forecast crm_pipeline+social_intent" in explained and "(10 − 4 ordered)" in explained
