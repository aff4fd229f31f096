"""Owner handovers (closed loop, flow 11 — people → customers).

``owner_handover_start`` is called by the CRM handler of ``erp.employee.deactivated``: it records one
``OwnerHandover`` job per source (``erp.employee:<id>``, unique per company — a redelivered or replayed event
finds the job and does nothing), publishes ``crm.owner_handover.started`` v1 (SCRM hands the person's WeCom
customers over to the successor's WeCom account with its existing handover jobs) and runs the job.

``owner_handover_run`` moves the records in chunks of ``HANDOVER_CHUNK`` ids per kind, reading the current owners
each time (so a second run moves only what is left, and the counts are never doubled). It locks each chunk's rows
``NOWAIT``: a record someone is saving at that moment makes the run fail rather than wait; inside the outbox
relay the whole handler is then rolled back and retried with backoff, so the effect is applied once.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from crm.models import Account, Activity, Contact, HandoverState, Lead, LeadStatus, Opportunity, OwnerHandover, Ticket
from crm.models.opportunities import OpportunityStatus
from crm.models.tickets import ACTIVE_STATUSES
from crm.services.funnel import funnel_reach_kept
from suite import events
from suite.models import Membership
from suite.services.notifications import notification_send
from suite.templatetags.troika import person_name

OWNER_HANDOVER_STARTED = "crm.owner_handover.started"
HANDOVER_CHUNK = 500


def owner_handover_started_payload(handover: OwnerHandover) -> dict:
    """v1 of ``crm.owner_handover.started``: ``handover_id``, ``from_user_id``, ``to_user_id``,
    ``erp_employee_id``, ``source_key``. SCRM hands the from-user's social contacts to the to-user."""
    return {
        "handover_id": handover.pk,
        "from_user_id": handover.from_user_id,
        "to_user_id": handover.to_user_id,
        "erp_employee_id": handover.erp_employee_id,
        "source_key": handover.source_key,
    }


def _active_member(company_id: int, user_id: int | None) -> bool:
    return bool(user_id) and Membership.objects.filter(company_id=company_id, user_id=user_id, is_active=True).exists()


def lock_handover(pk: int) -> OwnerHandover:
    return OwnerHandover.objects.select_for_update(of=("self",)).get(pk=pk)


@transaction.atomic
def owner_handover_start(
    *,
    company_id: int,
    from_user_id: int,
    to_user_id: int | None,
    source_key: str,
    erp_employee_id: int | None = None,
    by=None,
) -> OwnerHandover:
    """Record and run the handover of ``from_user_id``'s CRM records to ``to_user_id`` (idempotent per
    ``source_key``: an existing job is returned untouched). Without a successor who is an active member of the
    company the job is recorded as failed with the reason, and nothing moves (a manager reassigns by hand).
    Publishes ``crm.owner_handover.started`` when there is a successor."""
    existing = OwnerHandover.objects.filter(company_id=company_id, source_key=source_key).first()
    if existing is not None:
        return existing
    successor_ok = to_user_id is not None and to_user_id != from_user_id and _active_member(company_id, to_user_id)
    handover = OwnerHandover.objects.create(
        company_id=company_id,
        from_user_id=from_user_id,
        to_user_id=to_user_id if successor_ok else None,
        source_key=source_key[:100],
        erp_employee_id=erp_employee_id,
        state=HandoverState.RUNNING if successor_ok else HandoverState.FAILED,
        last_error="" if successor_ok else _("No successor who is an active member of the company."),
        finished_at=None if successor_ok else timezone.now(),
    )
    if not successor_ok:
        return handover
    events.publish(OWNER_HANDOVER_STARTED, owner_handover_started_payload(handover), company_id=company_id, by=by)
    OwnerHandover.objects.filter(pk=handover.pk).update(social_requested=True)
    return owner_handover_run(handover=handover)


def _kinds(handover: OwnerHandover) -> dict[str, QuerySet]:
    company_id, user_id = handover.company_id, handover.from_user_id
    return {
        "leads": Lead.objects.filter(company_id=company_id, owner_id=user_id).exclude(
            status__in=[LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED]
        ),
        "opportunities": Opportunity.objects.filter(
            company_id=company_id, owner_id=user_id, status=OpportunityStatus.OPEN
        ),
        "activities": Activity.objects.filter(company_id=company_id, owner_id=user_id, done_at__isnull=True),
        "tickets": Ticket.objects.filter(company_id=company_id, status__in=ACTIVE_STATUSES).filter(
            Q(owner_id=user_id) | Q(assigned_agent_id=user_id)
        ),
        "accounts": Account.objects.filter(company_id=company_id, owner_id=user_id),
        "contacts": Contact.objects.filter(company_id=company_id, owner_id=user_id, merged_into__isnull=True),
    }


def _move_chunk(kind: str, qs: QuerySet, handover: OwnerHandover, chunk_size: int) -> int:
    ids = list(qs.order_by("pk").select_for_update(nowait=True, of=("self",)).values_list("pk", flat=True)[:chunk_size])
    if not ids:
        return 0
    now = timezone.now()
    rows = qs.model.objects.filter(pk__in=ids)
    if kind == "tickets":
        rows.filter(owner_id=handover.from_user_id).update(owner_id=handover.to_user_id, updated_at=now)
        rows.filter(assigned_agent_id=handover.from_user_id).update(
            assigned_agent_id=handover.to_user_id, updated_at=now
        )
    elif kind == "opportunities":  # the sales funnel's pre-aggregate is kept per owner
        with funnel_reach_kept(company_id=handover.company_id, opportunity_ids=ids):
            rows.update(owner_id=handover.to_user_id, updated_at=now)
    else:
        rows.update(owner_id=handover.to_user_id, updated_at=now)
    return len(ids)


@transaction.atomic
def owner_handover_run(*, handover: OwnerHandover, chunk_size: int = HANDOVER_CHUNK) -> OwnerHandover:
    """Move what the from-user still owns to the successor, ``chunk_size`` records at a time per kind, adding
    to the job's counts after each chunk; the job ends ``done``. Locks the job, then each chunk's rows
    (``NOWAIT``: raises ``DatabaseError`` when one is being changed — the caller retries). Safe to call again.
    When it ends, the successor is told what they took over (one notification)."""
    handover = lock_handover(handover.pk)
    if handover.to_user_id is None or handover.state == HandoverState.DONE:
        return handover
    for kind, qs in _kinds(handover).items():
        field = f"{kind}_moved"
        while True:
            moved = _move_chunk(kind, qs, handover, chunk_size)
            if not moved:
                break
            setattr(handover, field, getattr(handover, field) + moved)
            handover.chunks += 1
            handover.save(update_fields=[field, "chunks", "updated_at"])
            if moved < chunk_size:
                break
    handover.state = HandoverState.DONE
    handover.last_error = ""
    handover.finished_at = timezone.now()
    handover.save(update_fields=["state", "last_error", "finished_at", "updated_at"])
    _tell_successor(handover)
    return handover


def _tell_successor(handover: OwnerHandover) -> None:
    """One line for the successor, in their language, saying whose book they took over and what it holds
    (nothing when nothing moved, or when they are no longer an active member)."""
    counts = [
        (handover.accounts_moved, lambda n: ngettext("%(count)d account", "%(count)d accounts", n)),
        (handover.contacts_moved, lambda n: ngettext("%(count)d contact", "%(count)d contacts", n)),
        (handover.opportunities_moved, lambda n: ngettext("%(count)d open deal", "%(count)d open deals", n)),
        (handover.leads_moved, lambda n: ngettext("%(count)d lead", "%(count)d leads", n)),
        (handover.tickets_moved, lambda n: ngettext("%(count)d open ticket", "%(count)d open tickets", n)),
        (handover.activities_moved, lambda n: ngettext("%(count)d open activity", "%(count)d open activities", n)),
    ]
    counts = [(count, word) for count, word in counts if count]
    if not counts or not _active_member(handover.company_id, handover.to_user_id):
        return
    previous = person_name(handover.from_user)
    notification_send(
        recipients=[handover.to_user_id],
        company=handover.company,
        title=lambda: _("You took over %(person)s's customers") % {"person": previous},
        body=lambda: pgettext("between the items of a list", ", ").join(word(n) % {"count": n} for n, word in counts),
        link=f"{reverse('crm:account-list')}?owner=me",
    )
