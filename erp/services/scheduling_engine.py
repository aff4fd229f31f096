"""Finite-capacity forward scheduling of production operations on work centres.

Pure computation, no database: the scheduling service (issue #6) loads released production orders, their routing
operations and the work centres' calendars, calls `schedule()`, stores the start and end of each operation (the
Gantt view draws them) and hands each order's completion to ATP as its promised date.

Method — forward loading in priority order, the approach of Odoo's and ERPNext's planners:
- Orders are taken by priority, then due date, then id; an order's operations run in sequence, each starting when
  the previous one ends (plus its queue/move time) and when a machine of its work centre is free.
- A work centre has `units` identical machines; each operation takes the machine that frees up first.
- Time only advances inside the work centre's shifts: a calendar lists shifts per weekday and closed days
  (holidays): with shifts 8:00–12:00 and 13:00–17:00, a 600-minute operation started on Monday at 16:00 works
  60 minutes on Monday, 480 on Tuesday and ends on Wednesday at 9:00.
Operations never overlap on one machine and never start before their order's release; there is no backfilling of
earlier gaps (a later order never jumps ahead of an earlier-priority one on a machine), which keeps the plan stable
between runs.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta


class SchedulingError(ValueError):
    pass


@dataclass(frozen=True)
class Calendar:
    """Shifts per weekday (0 = Monday) as (start, end) times on the same day, plus closed dates."""

    shifts: dict[int, tuple[tuple[time, time], ...]]
    closed: frozenset[date] = frozenset()

    def intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        if day in self.closed:
            return ()
        return tuple(
            (datetime.combine(day, start), datetime.combine(day, end))
            for start, end in self.shifts.get(day.weekday(), ())
        )

    def add_working_minutes(self, start: datetime, minutes: int) -> tuple[datetime, datetime]:
        """(actual start, end) of `minutes` of work beginning no earlier than `start`."""
        if not any(self.shifts.values()):
            raise SchedulingError("The calendar has no working time.")
        remaining = timedelta(minutes=minutes)
        day = start.date()
        actual_start: datetime | None = None
        for _ in range(3660):  # ten years of days: a guard against calendars that are closed for good
            for shift_start, shift_end in self.intervals(day):
                begin = max(start, shift_start)
                if begin >= shift_end:
                    continue
                if actual_start is None:
                    actual_start = begin
                    if remaining == timedelta(0):
                        return actual_start, actual_start
                available = shift_end - begin
                if remaining <= available:
                    return actual_start, begin + remaining
                remaining -= available
                start = shift_end
            day += timedelta(days=1)
            start = max(start, datetime.combine(day, time.min))
        raise SchedulingError("No working time found within ten years of the start.")


@dataclass(frozen=True)
class WorkCenter:
    id: int
    calendar: Calendar
    units: int = 1  # identical machines or stations working in parallel


@dataclass(frozen=True)
class Operation:
    id: int
    work_center: int
    sequence: int
    setup_minutes: int
    run_minutes: int  # for the whole order quantity
    queue_minutes: int = 0  # waiting/move time after the previous operation, in calendar minutes


@dataclass(frozen=True)
class Order:
    id: int
    release: datetime
    due: datetime | None
    operations: tuple[Operation, ...]
    priority: int = 100  # lower first


@dataclass
class ScheduledOperation:
    operation: int
    order: int
    work_center: int
    unit: int
    start: datetime
    end: datetime


@dataclass
class OrderSchedule:
    order: int
    start: datetime
    completion: datetime
    late_by: timedelta | None
    operations: list[ScheduledOperation] = field(default_factory=list)


def schedule(*, work_centers: dict[int, WorkCenter], orders: list[Order]) -> list[OrderSchedule]:
    machines: dict[int, list[tuple[datetime, int]]] = {}
    for wc in work_centers.values():
        if wc.units < 1:
            raise SchedulingError(f"Work centre {wc.id} needs at least one unit.")
        machines[wc.id] = [(datetime.min, unit) for unit in range(wc.units)]
    result = []
    for order in sorted(orders, key=lambda o: (o.priority, o.due or datetime.max, o.id)):
        ready = order.release
        scheduled: list[ScheduledOperation] = []
        for op in sorted(order.operations, key=lambda o: (o.sequence, o.id)):
            if op.work_center not in work_centers:
                raise SchedulingError(f"Operation {op.id} names an unknown work centre {op.work_center}.")
            if op.setup_minutes < 0 or op.run_minutes < 0 or op.queue_minutes < 0:
                raise SchedulingError(f"Operation {op.id} has a negative duration.")
            ready += timedelta(minutes=op.queue_minutes)
            free_at, unit = heapq.heappop(machines[op.work_center])
            start, end = work_centers[op.work_center].calendar.add_working_minutes(
                max(ready, free_at), op.setup_minutes + op.run_minutes
            )
            heapq.heappush(machines[op.work_center], (end, unit))
            scheduled.append(ScheduledOperation(op.id, order.id, op.work_center, unit, start, end))
            ready = end
        start = scheduled[0].start if scheduled else order.release
        late = ready - order.due if order.due is not None and ready > order.due else None
        result.append(OrderSchedule(order.id, start, ready, late, scheduled))
    return result
