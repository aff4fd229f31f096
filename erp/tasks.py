"""Celery tasks of ERP: fetch by id, call a service, nothing else. One section per domain."""

from __future__ import annotations

from celery import shared_task

# ---------------------------------------------------------------- production


@shared_task(name="erp.mrp_run", ignore_result=True)
def mrp_run(run_id: int) -> str:
    """Execute a queued MRP run (``erp.services.mrp.mrp_run_execute``); returns its final status."""
    from erp.services.mrp import mrp_run_execute

    return mrp_run_execute(run_id=run_id).status


@shared_task(name="erp.production_alert_late", ignore_result=True)
def production_alert_late() -> int:
    """Notify production staff of operations past their scheduled end (beat, every five minutes)."""
    from erp.services.production import production_alert_late as alert

    return alert()


# ---------------------------------------------------------------- HR: payroll


@shared_task(name="erp.payroll_run_compute", ignore_result=True)
def payroll_run_compute(run_id: int) -> str:
    """Compute a payroll run (``erp.services.payroll.payroll_run_compute``); returns its final state."""
    from erp.services.payroll import PayrollConflict
    from erp.services.payroll import payroll_run_compute as compute

    try:
        return compute(run_id=run_id).state
    except PayrollConflict as exc:
        return exc.code
