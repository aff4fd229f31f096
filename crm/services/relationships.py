"""CRM follow-up of SCRM relationship signals (called by the handlers in ``crm/events.py``): cadence tasks on
leads, open opportunities flagged at risk when a customer leaves WeCom, and a staff handover's CRM records
moved to the successor."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm.models import Account, Activity, ActivityKind, Lead, Opportunity, OpportunityContactRole, Ticket
from crm.models.leads import LeadStatus
from crm.models.opportunities import OpportunityStatus
from crm.models.tickets import ACTIVE_STATUSES
from crm.services.activities import activity_create
from suite.models import Membership

User = get_user_model()


def _active_member(company_id: int, user_id: int | None) -> bool:
    return bool(user_id) and Membership.objects.filter(company_id=company_id, user_id=user_id, is_active=True).exists()


@transaction.atomic
def lead_follow_up_task_create(
    *,
    company_id: int,
    lead_id: int,
    owner_id: int | None,
    subject: str,
    body: str,
    key: str,
    due_at: str | datetime | None = None,
) -> Activity | None:
    """A follow-up task on a lead for ``owner_id`` (an active member) or the lead's owner. ``key`` makes it
    idempotent (kept at the end of the task's details); a converted or missing lead gets none."""
    lead = Lead.objects.select_related("company").filter(pk=lead_id, company_id=company_id).first()
    if lead is None or lead.status == LeadStatus.CONVERTED:
        return None
    marker = f"[{key}]"
    existing = Activity.objects.filter(lead=lead, body__endswith=marker).first()
    if existing is not None:
        return existing
    owner = User.objects.filter(pk=owner_id).first() if _active_member(company_id, owner_id) else lead.owner
    if isinstance(due_at, str):
        due_at = parse_datetime(due_at)
    return activity_create(
        company=lead.company,
        by=None,
        owner=owner,
        lead=lead,
        kind=ActivityKind.TASK,
        subject=(subject or lead.name or "Follow up")[:200],
        body=f"{body}\n{marker}".strip(),
        due_at=due_at or timezone.now(),
    )


@transaction.atomic
def opportunities_flag_at_risk(*, company_id: int, contact_id: int | None, account_id: int | None, reason: str) -> int:
    """Flag the customer's open opportunities at risk (already flagged ones unchanged): a contact's are those
    they are the main contact of or sit in the buying committee of. Returns how many were flagged now. Locks
    them (ordered by pk)."""
    if contact_id:  # the deal's main contact, or a member of its buying committee
        concerned = Q(contact_id=contact_id) | Q(
            pk__in=OpportunityContactRole.objects.filter(contact_id=contact_id).values("opportunity_id")
        )
    elif account_id:
        concerned = Q(account_id=account_id)
    else:
        return 0
    rows = list(
        Opportunity.objects.filter(concerned, company_id=company_id, status=OpportunityStatus.OPEN, at_risk=False)
        .order_by("pk")
        .select_for_update(of=("self",))
    )
    for opportunity in rows:
        opportunity.at_risk = True
        opportunity.at_risk_reason = reason[:200]
        opportunity.save(update_fields=["at_risk", "at_risk_reason", "updated_at"])
    return len(rows)


@transaction.atomic
def owner_records_reassign(*, company_id: int, from_user_id: int, to_user_id: int) -> dict[str, int]:
    """Move the old owner's open leads, open opportunities, active tickets and accounts to the new owner (an
    active member of the company; otherwise nothing moves). Returns the counts by kind."""
    if from_user_id == to_user_id or not _active_member(company_id, to_user_id):
        return {}
    now = timezone.now()
    moved = {
        "leads": Lead.objects.filter(company_id=company_id, owner_id=from_user_id).exclude(
            status__in=[LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED]
        ),
        "opportunities": Opportunity.objects.filter(
            company_id=company_id, owner_id=from_user_id, status=OpportunityStatus.OPEN
        ),
        "tickets": Ticket.objects.filter(company_id=company_id, owner_id=from_user_id, status__in=ACTIVE_STATUSES),
        "accounts": Account.objects.filter(company_id=company_id, owner_id=from_user_id),
    }
    return {kind: qs.update(owner_id=to_user_id, updated_at=now) for kind, qs in moved.items()}
