"""The complaint → quality link on a service ticket (closed loop, flow 5): which delivered ERP lot the complaint
is about, and the quality non-conformances ERP opened for it."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm import selectors
from crm.models import Ticket
from crm.services.complaints import ticket_lot_link, ticket_lots_choices
from erp.selectors.production import non_conformances_of_ticket
from suite import policy
from suite.ui.records import actor_required


def complaint_context(actor, ticket: Ticket) -> dict:
    """What the ticket page shows about the delivered lot: the lots the customer received (for the form, when the
    actor may change the ticket) and the non-conformances that answer the ticket (two queries)."""
    can_link = policy.can(actor, "change", ticket) and ticket.status != "closed"
    return {
        "can_link_lot": can_link,
        "lot_choices": ticket_lots_choices(ticket) if can_link else [],
        "non_conformances": list(non_conformances_of_ticket(company=ticket.company_id, crm_ticket_id=ticket.pk)),
    }


@require_POST
@actor_required
def ticket_link_lot(request, pk: int):
    """Link the complaint to a delivered lot (``ticket_lot_link``); errors come back as a message on the page."""
    actor = request.actor
    ticket = policy.get_visible_or_404(actor, selectors.tickets_visible_to(actor), pk=pk)
    if not policy.can(actor, "change", ticket):
        messages.error(request, _("You may not change this ticket."))
        return redirect("crm:ticket-detail", pk=ticket.pk)
    try:
        ticket = ticket_lot_link(ticket=ticket, lot_id=request.POST.get("lot"), by=actor.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Linked to lot %(lot)s: quality is told.") % {"lot": ticket.erp_lot_code})
    return redirect("crm:ticket-detail", pk=ticket.pk)
