"""Soft reservations of accepted CRM quotes (closed loop, issue #7, flow 9): placed when a quote is accepted,
consumed when its deal becomes a sales order, released when the deal is lost; a quote past its validity holds
nothing (the selectors ignore expired rows, no job needed)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from erp.models import Product, QuoteReservation, QuoteReservationState, Warehouse
from suite.models import Company

ZERO = Decimal("0")


@transaction.atomic
def quote_reservations_place(*, company: Company | int, payload: dict) -> list[QuoteReservation]:
    """Soft-reserve the stocked products of an accepted quote (``crm.quote.accepted`` payload: ``quote_id``,
    ``number``, ``opportunity_id``, ``valid_until``, ``lines``) until ``valid_until``, in the company's first
    active warehouse. Quantities of the same product are added up. Idempotent: a quote already placed (any
    state) places nothing again. Unknown or non-stocked products and non-positive quantities are skipped (a
    quote is a promise to the customer, not ERP's to refuse). No locks beyond the unique constraint."""
    company_id = getattr(company, "pk", company)
    quote_id = int(payload["quote_id"])
    if QuoteReservation.objects.filter(company_id=company_id, crm_quote_id=quote_id).exists():
        return []
    expires_on = dt.date.fromisoformat(payload["valid_until"])
    if expires_on < timezone.localdate():
        return []
    wanted: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for line in payload.get("lines") or []:
        try:
            quantity = Decimal(str(line.get("quantity")))
            product_id = int(line.get("product_id"))
        except (InvalidOperation, TypeError, ValueError):
            continue
        if quantity > 0:
            wanted[product_id] += quantity
    stocked = set(
        Product.objects.filter(company_id=company_id, pk__in=list(wanted), is_stockable=True).values_list(
            "pk", flat=True
        )
    )
    warehouse = Warehouse.objects.filter(company_id=company_id, is_active=True).order_by("code").first()
    rows = [
        QuoteReservation(
            company_id=company_id,
            product_id=product_id,
            warehouse=warehouse,
            quantity=quantity,
            crm_quote_id=quote_id,
            crm_quote_number=str(payload.get("number") or "")[:40],
            crm_opportunity_id=payload.get("opportunity_id"),
            expires_on=expires_on,
        )
        for product_id, quantity in sorted(wanted.items())
        if product_id in stocked
    ]
    return QuoteReservation.objects.bulk_create(rows)


@transaction.atomic
def quote_reservations_settle(*, company: Company | int, crm_opportunity_id: int, consumed: bool) -> int:
    """End the active soft reservations of a deal's quotes: ``consumed`` (its sales order reserves for real)
    or released (the deal was lost). Returns how many ended; a second call ends none."""
    return QuoteReservation.objects.filter(
        company_id=getattr(company, "pk", company),
        crm_opportunity_id=crm_opportunity_id,
        state=QuoteReservationState.ACTIVE,
    ).update(
        state=QuoteReservationState.CONSUMED if consumed else QuoteReservationState.RELEASED,
        updated_at=timezone.now(),
    )
