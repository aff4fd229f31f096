"""Sales commission base (closed loop, flow 11): the money customers paid in a period on invoices of sales orders,
per salesperson — what ``erp.services.commissions`` turns into the period's payroll commission lines."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import F, OuterRef, Subquery

from erp.models import Allocation, InvoiceKind, InvoiceState, PaymentStateChoice, SalesOrder

CENT = Decimal("0.01")


def commission_base_by_salesperson(*, company_id: int, start: dt.date, end: dt.date) -> dict[int, Decimal]:
    """``{salesperson user id: base}``: for every allocation of a posted customer payment dated ``start`` …
    ``end`` (both included) to a posted customer invoice whose origin is a sales order with a salesperson, the
    untaxed share of the allocated amount (allocated × untaxed ÷ total) in the company currency (× the invoice's
    exchange rate), summed per salesperson and rounded to the cent. One query."""
    salesperson = SalesOrder.objects.filter(
        company_id=OuterRef("invoice__company_id"), number=OuterRef("invoice__origin"), salesperson__isnull=False
    ).values("salesperson_id")[:1]
    rows = (
        Allocation.objects.filter(
            company_id=company_id,
            payment__isnull=False,
            payment__state=PaymentStateChoice.POSTED,
            payment__date__gte=start,
            payment__date__lte=end,
            invoice__kind=InvoiceKind.OUT_INVOICE,
            invoice__state=InvoiceState.POSTED,
            invoice__amount_total__gt=0,
        )
        .exclude(invoice__origin="")
        .annotate(salesperson_id=Subquery(salesperson))
        .filter(salesperson_id__isnull=False)
        .values_list(
            "salesperson_id",
            "amount",
            F("invoice__amount_untaxed"),
            F("invoice__amount_total"),
            F("invoice__exchange_rate"),
        )
    )
    totals: dict[int, Decimal] = {}
    for user_id, amount, untaxed, total, rate in rows:
        totals[user_id] = totals.get(user_id, Decimal("0")) + amount * untaxed / total * rate
    return {user_id: value.quantize(CENT, rounding=ROUND_HALF_UP) for user_id, value in totals.items()}
