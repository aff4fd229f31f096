"""ERP handler of its own ``erp.payment.received`` (closed loop, flow 11): money in from a customer refreshes the
commission lines of the payment's month (``erp.services.commissions``), so that month's payroll run shows them.
Imported at the end of ``erp/events.py``."""

from __future__ import annotations

import logging

from suite import events as _events

logger = logging.getLogger(__name__)


@_events.handler("erp.payment.received", name="erp.commissions_on_payment_received")
def commissions_on_payment_received(event: _events.Event) -> None:
    """Recompute the commissions of the payment's month (absolute: a redelivery writes the same lines). A month
    whose payroll is already posted is left alone (logged): its pay is final."""
    import datetime as dt

    from erp.services.commissions import payroll_commissions_compute
    from erp.services.payroll import PayrollConflict
    from suite.models import Company

    if event.version != 1 or not event.payload.get("allocations"):
        return
    day = dt.date.fromisoformat(event.payload["date"])
    company = Company.objects.get(pk=event.company_id)
    try:
        payroll_commissions_compute(company=company, year=day.year, month=day.month)
    except PayrollConflict:
        logger.info("commissions of %s-%02d not refreshed: the payroll is posted", day.year, day.month)
