"""Collections (closed loop, flow 4): customer invoices past their due date are announced to the CRM once each.

``invoices_overdue_publish`` runs from beat (``erp.invoices_overdue_publish``, hourly). Each overdue customer
invoice gets ``overdue_notified_at`` and one ``erp.invoice.overdue`` event in the same transaction, so a second
run, a concurrent run or a retried task publishes nothing more for it.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from erp import events as erp_events
from erp.models import Invoice, InvoiceKind, InvoiceState
from suite import events

OVERDUE_BATCH = 500


def invoices_overdue_publish(*, today: dt.date | None = None, company_id: int | None = None) -> int:
    """Publish ``erp.invoice.overdue`` once per posted customer invoice with an amount due whose due date is
    before ``today`` (default: the local date). Works in transactions of ``OVERDUE_BATCH`` invoices, locking them
    with ``SKIP LOCKED`` (two runs never announce the same invoice). Returns how many were announced."""
    today = today or timezone.localdate()
    announced = 0
    while True:
        with transaction.atomic():
            qs = Invoice.objects.filter(
                kind=InvoiceKind.OUT_INVOICE,
                state=InvoiceState.POSTED,
                amount_residual__gt=0,
                due_date__lt=today,
                overdue_notified_at__isnull=True,
            )
            if company_id is not None:
                qs = qs.filter(company_id=company_id)
            batch = list(
                qs.select_for_update(of=("self",), skip_locked=True)
                .select_related("partner")
                .order_by("pk")[:OVERDUE_BATCH]
            )
            if not batch:
                return announced
            now = timezone.now()
            Invoice.objects.filter(pk__in=[invoice.pk for invoice in batch]).update(overdue_notified_at=now)
            for invoice in batch:
                invoice.overdue_notified_at = now
                events.publish(
                    erp_events.INVOICE_OVERDUE,
                    erp_events.invoice_overdue_payload(invoice, today=today),
                    company_id=invoice.company_id,
                    correlation_id=invoice.correlation_id,
                )
            announced += len(batch)
            if len(batch) < OVERDUE_BATCH:
                return announced
