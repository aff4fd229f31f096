"""Complaints in the closed loop (flow 5 — complaint → quality → reply): a service ticket linked to the ERP lot
the customer received (ERP opens a quality non-conformance on it), and the ticket's resolution announced with its
satisfaction survey link (SCRM tells the customer on their social channel, with consent)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from crm.models import Ticket
from erp.selectors.fulfilment import lots_delivered_to
from suite import events

TICKET_LOT_LINKED = "crm.ticket.lot_linked"
TICKET_RESOLVED = "crm.ticket.resolved"


def _customer_account_id(ticket: Ticket) -> int | None:
    if ticket.account_id:
        return ticket.account_id
    return ticket.contact.account_id if ticket.contact_id else None


def ticket_lots_choices(ticket: Ticket) -> list[dict]:
    """The lots ERP shipped to the ticket's customer (its account, or the contact's account), newest first: what
    the agent may link the complaint to (``erp.selectors.fulfilment.lots_delivered_to``)."""
    account_id = _customer_account_id(ticket)
    if account_id is None:
        return []
    return lots_delivered_to(company_id=ticket.company_id, crm_account_id=account_id)


def ticket_lot_linked_payload(ticket: Ticket, lot: dict) -> dict:
    """v1 of ``crm.ticket.lot_linked``: ``ticket_id``, ``number``, ``subject``, ``description`` (≤ 2,000 chars),
    ``account_id``, ``contact_id``, ``lot_id``, ``lot_code``, ``product_id``, ``delivery_number``, ``quantity``
    (delivered, decimal string)."""
    return {
        "ticket_id": ticket.pk,
        "number": ticket.number,
        "subject": ticket.subject,
        "description": (ticket.description or "")[:2000],
        "account_id": _customer_account_id(ticket),
        "contact_id": ticket.contact_id,
        "lot_id": lot["lot_id"],
        "lot_code": lot["lot_code"],
        "product_id": lot["product_id"],
        "delivery_number": lot["delivery_number"],
        "quantity": str(lot["quantity"]),
    }


@transaction.atomic
def ticket_lot_link(*, ticket: Ticket, lot_id, by) -> Ticket:
    """Link the complaint to a lot ERP delivered to the ticket's customer and publish ``crm.ticket.lot_linked``
    (ERP opens a non-conformance on the lot and its production order). A lot the customer never received is a
    field error (nothing written); linking the same lot again changes and publishes nothing; another lot replaces
    it (and ERP opens one for that lot too). Locks the ticket."""
    from crm.services.tickets import lock_ticket

    ticket = lock_ticket(ticket.pk)
    try:
        lot_id = int(lot_id)
    except (TypeError, ValueError):
        raise ValidationError({"lot": [_("Choose a lot.")]}) from None
    account_id = _customer_account_id(ticket)
    if account_id is None:
        raise ValidationError({"lot": [_("Link the ticket to a customer first.")]})
    found = lots_delivered_to(company_id=ticket.company_id, crm_account_id=account_id, lot_id=lot_id)
    if not found:
        raise ValidationError({"lot": [_("This customer received no such lot.")]})
    if ticket.erp_lot_id == lot_id:
        return ticket
    lot = found[0]
    ticket.erp_lot_id, ticket.erp_lot_code, ticket.erp_product_id = lot_id, lot["lot_code"][:60], lot["product_id"]
    ticket.save(update_fields=["erp_lot_id", "erp_lot_code", "erp_product_id", "updated_at"])
    events.publish(TICKET_LOT_LINKED, ticket_lot_linked_payload(ticket, lot), company_id=ticket.company_id, by=by)
    return ticket


def ticket_resolved_payload(ticket: Ticket, survey) -> dict:
    """v1 of ``crm.ticket.resolved``: ``ticket_id``, ``number``, ``subject``, ``account_id``, ``contact_id``,
    ``erp_lot_id``, ``resolved_at``, ``csat_url`` (the customer's single-use survey link; null when the customer
    already answered)."""
    csat_url = None
    if survey is not None and survey.submitted_at is None and survey.token:
        csat_url = settings.TROIKA_PUBLIC_URL.rstrip("/") + reverse("crm:csat", args=[survey.token])
    return {
        "ticket_id": ticket.pk,
        "number": ticket.number,
        "subject": ticket.subject,
        "account_id": _customer_account_id(ticket),
        "contact_id": ticket.contact_id,
        "erp_lot_id": ticket.erp_lot_id,
        "resolved_at": ticket.resolved_at.isoformat() if ticket.resolved_at else None,
        "csat_url": csat_url,
    }


def ticket_resolved_publish(*, ticket: Ticket, survey, by) -> None:
    """Publish ``crm.ticket.resolved`` in the resolving transaction (``ticket_resolve`` calls it)."""
    events.publish(TICKET_RESOLVED, ticket_resolved_payload(ticket, survey), company_id=ticket.company_id, by=by)
