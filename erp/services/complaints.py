"""Quality follow-up of customer complaints (closed loop, flow 5): the non-conformance a CRM ticket about a
delivered lot opens, on that lot and the production order that made it."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.db import connection, transaction

from erp.models import Lot, NonConformance
from erp.selectors.fulfilment import production_order_of_lot
from erp.services.production import non_conformance_create
from suite.models import Company


class ComplaintBusy(Exception):
    """Another transaction is opening the non-conformance of this ticket and lot; the relay retries later."""


def complaint_lock_key(company_id: int, crm_ticket_id: int, lot_id: int) -> str:
    return f"erp.nc.complaint:{company_id}:{crm_ticket_id}:{lot_id}"


def _try_lock(key: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [key])
        if not cursor.fetchone()[0]:
            raise ComplaintBusy(key)


@transaction.atomic
def non_conformance_for_complaint(
    *, company_id: int, crm_ticket_id: int, lot_id: int, description: str, quantity="0", by_id: int | None = None
) -> NonConformance | None:
    """The non-conformance of CRM ticket ``crm_ticket_id`` on lot ``lot_id``: found if it exists, else opened
    (``non_conformance_create``) with the lot's product and the production order whose receipt made the lot.
    Serialised per ticket and lot (advisory lock, ``ComplaintBusy`` when taken: the relay retries), so two
    deliveries never open two. None for an unknown lot.
    Publishes nothing."""
    lot = Lot.objects.select_related("product").filter(pk=lot_id, company_id=company_id).first()
    if lot is None:
        return None
    _try_lock(complaint_lock_key(company_id, crm_ticket_id, lot_id))
    existing = NonConformance.objects.filter(company_id=company_id, crm_ticket_id=crm_ticket_id, lot=lot).first()
    if existing is not None:
        return existing
    try:
        affected = max(Decimal(str(quantity or "0")), Decimal("0"))
    except InvalidOperation:
        affected = Decimal("0")
    by = get_user_model().objects.filter(pk=by_id).first() if by_id else None
    return non_conformance_create(
        company=Company.objects.get(pk=company_id),
        product=lot.product,
        lot=lot,
        production_order=production_order_of_lot(company_id=company_id, lot_id=lot.pk),
        crm_ticket_id=crm_ticket_id,
        quantity=affected,
        description=(description or "").strip() or f"CRM ticket {crm_ticket_id}",
        by=by,
    )
