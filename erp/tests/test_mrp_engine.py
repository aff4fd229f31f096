"""MRP netting against hand-checked plans (issue #6 acceptance 1): levels, lead times, lot sizes, safety stock."""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from erp.services.mrp_engine import BomLine, Demand, Item, MrpError, Receipt, low_level_codes, plan

TODAY = date(2026, 12, 1)


def day(n: int) -> date:
    return TODAY + timedelta(days=n)


BIKE, FRAME, WHEEL, STEEL = 1, 2, 3, 4


def bike_items(**overrides) -> dict[int, Item]:
    items = {
        BIKE: Item(BIKE, make=True, lead_time_days=2, on_hand=D("3")),
        FRAME: Item(FRAME, make=True, lead_time_days=3, lot_rule="fixed", lot_size=D("10")),
        WHEEL: Item(WHEEL, make=False, lead_time_days=5, lot_rule="minimum", lot_size=D("50"), on_hand=D("10")),
        STEEL: Item(STEEL, make=False, lead_time_days=4),
    }
    items.update(overrides)
    return items


BOM = [
    BomLine(BIKE, FRAME, D("1")),
    BomLine(BIKE, WHEEL, D("2")),
    BomLine(FRAME, STEEL, D("4"), scrap=D("0.2")),  # 4 ÷ 0.8 = 5 kg of steel per frame
]


def summary(orders):
    return [(o.item, o.kind, o.quantity, o.due, o.release) for o in orders]


def test_three_level_plan_with_offsets_lot_sizing_and_scrap():
    orders = plan(
        items=bike_items(),
        bom=BOM,
        demand=[Demand(BIKE, day(10), D("8"), "SO1"), Demand(BIKE, day(20), D("5"), "SO2")],
        today=TODAY,
    )
    assert summary(orders) == [
        # bikes: 3 on hand cover 3 of the first 8; lot for lot, released 2 days early
        (BIKE, "produce", D("5"), day(10), day(8)),
        (BIKE, "produce", D("5"), day(20), day(18)),
        # frames: 5 needed on day 8 → a fixed lot of 10, which also covers the 5 needed on day 18
        (FRAME, "produce", D("10"), day(8), day(5)),
        # wheels: 10 on hand cover day 8's 10; day 18's 10 → the minimum lot of 50
        (WHEEL, "purchase", D("50"), day(18), day(13)),
        # steel: 10 frames × 5 kg on the frames' release day, released 4 days earlier
        (STEEL, "purchase", D("50.0"), day(5), day(1)),
    ]
    frame_order = orders[2]
    assert [d.due for d in frame_order.covers] == [day(8), day(18)]
    assert "below safety stock" in frame_order.reason
    assert not any(o.late for o in orders)


def test_scheduled_receipts_and_safety_stock_are_netted():
    items = {
        WHEEL: Item(WHEEL, make=False, lead_time_days=5, safety_stock=D("20"), on_hand=D("30")),
    }
    orders = plan(
        items=items,
        bom=[],
        demand=[Demand(WHEEL, day(10), D("40"), "SO1"), Demand(WHEEL, day(12), D("15"), "SO2")],
        receipts=[Receipt(WHEEL, day(10), D("25"), "PO7")],
        today=TODAY,
    )
    # day 10: 30 + 25 − 40 = 15 < 20 → order 5; day 12: 20 − 15 = 5 < 20 → order 15
    assert summary(orders) == [
        (WHEEL, "purchase", D("5"), day(10), day(5)),
        (WHEEL, "purchase", D("15"), day(12), day(7)),
    ]


def test_stock_below_safety_without_demand_is_refilled_and_flagged_late():
    items = {STEEL: Item(STEEL, make=False, lead_time_days=4, safety_stock=D("12"), on_hand=D("2"))}
    (order,) = plan(items=items, bom=[], demand=[], today=TODAY)
    assert (order.quantity, order.due, order.release, order.late) == (D("10"), TODAY, day(-4), True)


def test_a_demand_inside_the_lead_time_gives_a_late_order():
    items = {STEEL: Item(STEEL, make=False, lead_time_days=7)}
    (order,) = plan(items=items, bom=[], demand=[Demand(STEEL, day(3), D("1"), "SO9")], today=TODAY)
    assert order.late and order.release == day(-4)


def test_low_level_code_is_the_deepest_use():
    # steel is used by the frame (level 2) and directly by the bike (level 1): it is netted at level 2
    bom = [*BOM, BomLine(BIKE, STEEL, D("1"))]
    assert low_level_codes(bike_items(), bom) == {BIKE: 0, FRAME: 1, WHEEL: 1, STEEL: 2}


def test_bom_cycle_and_bad_lines_are_refused():
    with pytest.raises(MrpError, match="cycle"):
        plan(items=bike_items(), bom=[*BOM, BomLine(STEEL, BIKE, D("1"))], demand=[], today=TODAY)
    with pytest.raises(MrpError, match="scrap"):
        plan(items=bike_items(), bom=[BomLine(BIKE, FRAME, D("1"), scrap=D("1"))], demand=[], today=TODAY)
    with pytest.raises(MrpError, match="unknown item"):
        plan(items=bike_items(), bom=[], demand=[Demand(99, TODAY, D("1"), "SO")], today=TODAY)
