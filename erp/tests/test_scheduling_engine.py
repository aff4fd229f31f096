"""Finite-capacity forward scheduling against hand-checked Gantt charts (issue #6 "Scheduling")."""

import itertools
from datetime import date, datetime, time, timedelta

import pytest

from erp.services.scheduling_engine import Calendar, Operation, Order, SchedulingError, WorkCenter, schedule

MONDAY = date(2026, 11, 30)
DAY_SHIFTS = ((time(8), time(12)), (time(13), time(17)))
WEEKDAYS = Calendar(shifts=dict.fromkeys(range(5), DAY_SHIFTS))


def at(day_offset: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(MONDAY + timedelta(days=day_offset), time(hour, minute))


def test_working_time_skips_breaks_nights_weekends_and_holidays():
    assert WEEKDAYS.add_working_minutes(at(0, 16), 600) == (at(0, 16), at(2, 9))
    assert WEEKDAYS.add_working_minutes(at(5, 10), 30) == (at(7, 8), at(7, 8, 30))  # Saturday → Monday
    assert WEEKDAYS.add_working_minutes(at(0, 12, 15), 30) == (at(0, 13), at(0, 13, 30))  # lunch break
    holiday = Calendar(shifts=WEEKDAYS.shifts, closed=frozenset({MONDAY + timedelta(days=1)}))
    assert holiday.add_working_minutes(at(0, 16), 600) == (at(0, 16), at(3, 9))  # Tuesday closed


def test_orders_are_loaded_in_priority_order_on_finite_capacity():
    centres = {1: WorkCenter(1, WEEKDAYS), 2: WorkCenter(2, WEEKDAYS, units=2)}
    o1 = Order(1, at(0, 8), at(1, 17), (Operation(11, 1, 10, 60, 180), Operation(12, 2, 20, 0, 120)))
    o2 = Order(2, at(0, 8), at(0, 17), (Operation(21, 1, 10, 0, 240), Operation(22, 2, 20, 0, 120)))
    rush = Order(3, at(0, 10), None, (Operation(31, 1, 10, 0, 60),), priority=1)
    plans = {p.order: p for p in schedule(work_centers=centres, orders=[o1, o2, rush])}

    def gantt(order_id):
        return [(s.operation, s.unit, s.start, s.end) for s in plans[order_id].operations]

    assert gantt(3) == [(31, 0, at(0, 10), at(0, 11))]
    # order 2 is due first: it gets machine 1 after the rush order and crosses the lunch break and the night
    assert gantt(2) == [(21, 0, at(0, 11), at(0, 16)), (22, 0, at(0, 16), at(1, 9))]
    # order 1 waits for machine 1 until 16:00; on centre 2 it takes the second, idle unit
    assert gantt(1) == [(11, 0, at(0, 16), at(1, 11)), (12, 1, at(1, 11), at(1, 14))]
    assert plans[1].late_by is None and plans[1].completion == at(1, 14)
    assert plans[2].late_by == timedelta(hours=16)


def test_no_machine_ever_runs_two_operations_at_once():
    centres = {1: WorkCenter(1, WEEKDAYS, units=2)}
    orders = [Order(i, at(0, 8), None, (Operation(i, 1, 10, 0, 90 + i),)) for i in range(30)]
    ops = [s for plan in schedule(work_centers=centres, orders=orders) for s in plan.operations]
    for unit in (0, 1):
        booked = sorted((s.start, s.end) for s in ops if s.unit == unit)
        assert all(prev_end <= start for (_, prev_end), (start, _) in itertools.pairwise(booked))
    assert len(ops) == 30


def test_queue_time_delays_the_next_operation():
    centres = {1: WorkCenter(1, WEEKDAYS), 2: WorkCenter(2, WEEKDAYS)}
    order = Order(1, at(0, 8), None, (Operation(1, 1, 10, 0, 60), Operation(2, 2, 20, 0, 60, queue_minutes=120)))
    (plan,) = schedule(work_centers=centres, orders=[order])
    assert [(s.start, s.end) for s in plan.operations] == [(at(0, 8), at(0, 9)), (at(0, 11), at(0, 12))]


def test_bad_input_is_refused():
    with pytest.raises(SchedulingError, match="unknown work centre"):
        schedule(work_centers={}, orders=[Order(1, at(0, 8), None, (Operation(1, 9, 10, 0, 60),))])
    with pytest.raises(SchedulingError, match="no working time"):
        Calendar(shifts={}).add_working_minutes(at(0, 8), 10)
