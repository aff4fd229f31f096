"""The event handler the outbox benchmark measures with (loaded by its worker via TROIKA_EXTRA_EVENT_MODULES).

It does no work of its own: the figure is the relay's cost per event — claim, savepoint, audit context,
handler-run record, state update — plus the webhook fan-out handler every event also goes through.
"""

from suite import events

BENCH_EVENT = "bench.outbox.tested"


@events.handler(BENCH_EVENT, name="bench.noop")
def noop(event: events.Event) -> None:
    return None
