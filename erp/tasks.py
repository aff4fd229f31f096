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


# ---------------------------------------------------------------- receivables (closed loop)


@shared_task(name="erp.invoices_overdue_publish", ignore_result=True)
def invoices_overdue_publish() -> int:
    """Announce newly overdue customer invoices (``erp.invoice.overdue``, once each; beat, hourly)."""
    from erp.services.collections import invoices_overdue_publish as publish

    return publish()


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


@shared_task(name="erp.payroll_commissions_compute", ignore_result=True)
def payroll_commissions_compute(company_id: int, year: int, month: int) -> int:
    """Recompute a month's sales commission lines (``erp.services.commissions``); returns how many are set."""
    from erp.services.commissions import payroll_commissions_compute as compute
    from erp.services.payroll import PayrollConflict
    from suite.models import Company

    try:
        return len(compute(company=Company.objects.get(pk=company_id), year=year, month=month))
    except PayrollConflict:
        return 0
