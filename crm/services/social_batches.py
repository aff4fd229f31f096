"""Set-based writes for SCRM's high-volume events (issue #4 ingestion): the tickets of a relay batch's negative
posts and the unionids of a batch's resolved identities, each in a few statements instead of a service call per
event. The rules are those of the per-item services (``crm.services.tickets.ticket_open``,
``crm.services.customers.contact_update``): same numbering, SLA, owner, audit (pghistory triggers record the
bulk writes too) and idempotence; the relay calls them once per batch and, if one raises, once per event.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Contact, Ticket, TicketChannel, TicketPriority, TicketStatus
from crm.services.locking import advisory_lock
from crm.services.tickets import MAX_BODY_LENGTH, _sla_for
from suite.lookups import present_in

UGC_SOURCE_PREFIX = "scrm-ugc:"


def negative_ugc_source_key(payload: dict) -> str:
    """The ticket's ``source_message_id`` for a ``scrm.ugc.negative`` payload: unique per company."""
    return f"{UGC_SOURCE_PREFIX}{payload['ugc_id']}"


def _negative_ugc_texts(payload: dict) -> tuple[str, str]:
    where = payload.get("channel_name") or _("social media")  # the channel as the company named it
    text = " ".join(str(payload.get("text") or "").split())
    subject = _("Negative post on %(where)s: %(text)s") % {"where": where, "text": text[:80]}
    keywords = ", ".join(payload.get("keywords") or [])
    description = "\n\n".join(
        part
        for part in (
            payload.get("text") or "",
            payload.get("url") or "",
            _("Keywords: %(keywords)s") % {"keywords": keywords} if keywords else "",
            _("Sentiment score: %(score)s") % {"score": payload.get("sentiment_score")},
        )
        if part
    )
    return " ".join(subject[:200].split()), description.strip()


@transaction.atomic
def tickets_for_negative_ugc(*, company_id: int, items: list[dict]) -> list[Ticket]:
    """A high-priority social ticket per negative post (``scrm.ugc.negative`` v1 payloads) of one company, for
    the author's CRM contact when matched: what ``ticket_open`` would do for each, in five statements for the
    lot (existing source keys, contacts, SLA policy, numbering under the company's numbering lock, one INSERT).

    Idempotent: a post that has its ticket (source key ``scrm-ugc:<id>``, unique per company) is skipped, and a
    post given twice gets one ticket. No team and no agent (``ticket_open`` without them assigns nobody and
    notifies nobody). Raises ``ValidationError`` as ``ticket_open`` would (a contact whose account was merged),
    before writing anything. Returns the tickets created."""
    wanted: dict[str, dict] = {}
    for payload in items:
        wanted.setdefault(negative_ugc_source_key(payload), payload)
    if not wanted:
        return []
    existing = set(
        Ticket.objects.filter(present_in("source_message_id", wanted), company_id=company_id)
        .order_by()
        .values_list("source_message_id", flat=True)
    )
    todo = [(key, payload) for key, payload in wanted.items() if key not in existing]
    if not todo:
        return []
    contact_ids = {payload["crm_contact_id"] for _key, payload in todo if payload.get("crm_contact_id")}
    contacts = (
        {
            contact.pk: contact
            for contact in Contact.objects.filter(
                pk__in=contact_ids, company_id=company_id, merged_into__isnull=True
            ).select_related("account")
        }
        if contact_ids
        else {}
    )
    now = timezone.now()
    policy = _sla_for(company_id, TicketPriority.HIGH)
    tickets = []
    for key, payload in todo:
        contact = contacts.get(payload.get("crm_contact_id"))
        account = contact.account if contact is not None and contact.account_id else None
        if account is not None and account.merged_into_id:
            raise ValidationError({"account": [_("Unknown account.")]})
        subject, description = _negative_ugc_texts(payload)
        owner_id = next((c.owner_id for c in (account, contact) if c is not None and c.owner_id), None)
        ticket = Ticket(
            company_id=company_id,
            subject=subject,
            description=description[:MAX_BODY_LENGTH],
            account=account,
            contact=contact,
            requester_name=" ".join(str(payload.get("author_name") or "").split())[:200],
            channel=TicketChannel.SOCIAL,
            priority=TicketPriority.HIGH,
            status=TicketStatus.NEW,
            owner_id=owner_id,
            source_message_id=key[:255],
        )
        ticket.sla_policy = policy  # as _apply_sla, with the policy read once for the lot
        if policy is not None:
            ticket.first_response_due_at = now + timedelta(minutes=policy.first_response_minutes)
            ticket.resolution_due_at = now + timedelta(minutes=policy.resolution_minutes)
        tickets.append(ticket)
    advisory_lock(f"crm.ticket.number:{company_id}")  # ticket_open's numbering lock, once for the lot
    top = Ticket.objects.filter(company_id=company_id).aggregate(top=Max("number"))["top"] or 0
    for offset, ticket in enumerate(tickets, start=1):
        ticket.number = top + offset
    return Ticket.objects.bulk_create(tickets)


@transaction.atomic
def contacts_link_unionids(*, company_id: int, links: list[tuple[int, str]]) -> int:
    """Record SCRM-matched WeChat unionids (``(contact id, unionid)`` pairs of one company) on contacts that have
    none yet, as ``contact_update`` would for each: skipped when the contact is merged, already has a unionid,
    or another live contact holds that unionid (a duplicate for people to merge). Two reads for the lot; only
    the contacts that really change go through ``contact_update`` (row lock, search text, audit). Returns how
    many were linked. Idempotent."""
    from crm.services.customers import contact_update

    wanted: dict[int, str] = {}
    for contact_id, unionid in links:
        if contact_id and unionid:
            wanted.setdefault(contact_id, unionid)
    if not wanted:
        return 0
    blank = list(
        Contact.objects.filter(pk__in=list(wanted), company_id=company_id, merged_into__isnull=True, unionid="")
    )
    if not blank:
        return 0
    held = set(
        Contact.objects.filter(
            present_in("unionid", {wanted[c.pk] for c in blank}), company_id=company_id, merged_into__isnull=True
        )
        .order_by()
        .values_list("unionid", flat=True)
    )
    linked = 0
    for contact in sorted(blank, key=lambda c: c.pk):
        unionid = wanted[contact.pk]
        if unionid in held:
            continue
        contact_update(contact=contact, by=None, unionid=unionid)
        held.add(unionid)  # the same unionid offered for two contacts: the first one gets it
        linked += 1
    return linked
