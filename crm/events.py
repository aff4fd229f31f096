"""The events the CRM publishes (names and payload builders: the contract in docs/events.md), and its handlers
of other apps' events.

Payloads hold ids and the facts a consumer needs; amounts are decimal strings. A change to a payload that a
consumer could notice is a new ``version``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crm.models import Account, Contact, Lead, Opportunity

CUSTOMER_MERGED = "crm.customer.merged"
LEAD_CONVERTED = "crm.lead.converted"
LEAD_CREATED = "crm.lead.created"
OPPORTUNITY_CREATED = "crm.opportunity.created"
OPPORTUNITY_WON = "crm.opportunity.won"
OPPORTUNITY_LOST = "crm.opportunity.lost"
QUOTE_ACCEPTED = "crm.quote.accepted"


def customer_merged_payload(
    *, survivor: Account | Contact, duplicate: Account | Contact, moved: dict[str, int]
) -> dict:
    """v1: ``kind`` ("account" | "contact"), ``survivor_id``, ``duplicate_id``, ``moved`` (CRM rows re-pointed,
    by ``app.model.field``). Consumers re-point their own references from the duplicate to the survivor."""
    return {
        "kind": survivor._meta.model_name,
        "survivor_id": survivor.pk,
        "duplicate_id": duplicate.pk,
        "moved": moved,
    }


def lead_created_payload(*, lead: Lead) -> dict:
    """v1: ``lead_id``, ``name``, ``source``, ``owner_id`` (may be null), ``phone``, ``unionid``,
    ``campaign_id`` (may be null). SCRM enrols it in the follow-up cadences of its source."""
    return {
        "lead_id": lead.pk,
        "name": lead.name,
        "source": lead.source,
        "owner_id": lead.owner_id,
        "phone": lead.phone,
        "unionid": lead.unionid,
        "campaign_id": lead.campaign_id,
    }


def lead_converted_payload(*, lead: Lead) -> dict:
    """v1: ``lead_id``, ``account_id`` / ``contact_id`` / ``opportunity_id`` (each may be null), ``owner_id``,
    ``source``, ``merged_into_existing`` (the customers that already existed and were reused)."""
    return {
        "lead_id": lead.pk,
        "account_id": lead.converted_account_id,
        "contact_id": lead.converted_contact_id,
        "opportunity_id": lead.converted_opportunity_id,
        "owner_id": lead.owner_id,
        "source": lead.source,
        "merged_into_existing": lead.conversion_reused,
    }


def _deal_fields(opportunity: Opportunity) -> dict:
    """What every opportunity event says of the deal (v1 of each)."""
    return {
        "opportunity_id": opportunity.pk,
        "name": opportunity.name,
        "account_id": opportunity.account_id,
        "contact_id": opportunity.contact_id,
        "owner_id": opportunity.owner_id,
        "team_id": opportunity.team_id,
        "pipeline_id": opportunity.stage.pipeline_id,
        "stage_id": opportunity.stage_id,
        "amount": str(opportunity.amount),
        "currency": opportunity.currency,
        "expected_close_date": opportunity.expected_close_date.isoformat() if opportunity.expected_close_date else None,
    }


def opportunity_created_payload(*, opportunity: Opportunity) -> dict:
    """v1 of ``crm.opportunity.created``: see docs/events.md. Reads only what the create has in hand (no query)."""
    return {
        **_deal_fields(opportunity),
        "lead_id": opportunity.lead_id,
        "created_at": opportunity.created_at.isoformat() if opportunity.created_at else None,
    }


def opportunity_closed_payload(*, opportunity: Opportunity, lines=None) -> dict:
    """v1 of ``crm.opportunity.won`` and ``crm.opportunity.lost``: see docs/events.md. ``lines``: the
    opportunity's lines when the caller has read them already (else ``opportunity.lines.all()``)."""
    return {
        **_deal_fields(opportunity),
        "closed_at": opportunity.closed_at.isoformat() if opportunity.closed_at else None,
        "lost_reason_id": opportunity.lost_reason_id,
        "lines": [line_payload(line) for line in (opportunity.lines.all() if lines is None else lines)],
        # compatible additions for the closed loop (issue #7): ERP names its partner and checks the CRM's limit
        "account_name": opportunity.account.name if opportunity.account_id else None,
        # the CRM's credit limit; 0 (the default) means "none set in CRM" and travels as null
        "credit_limit": (
            str(opportunity.account.credit_limit)
            if opportunity.account_id and opportunity.account.credit_limit
            else None
        ),
    }


def line_payload(line) -> dict:
    """One opportunity or quote line in an event (``lines`` of ``crm.opportunity.won`` and
    ``crm.quote.accepted``): the ERP product and the agreed terms; quantities and amounts as decimal strings."""
    return {
        "product_id": line.product_id,
        "sku": line.sku,
        "name": line.product_name,
        "uom": line.uom,
        "quantity": str(line.quantity),
        "unit_price": str(line.unit_price),
        "discount": str(line.discount_percent),
        "tax_rate": str(line.tax_rate),
        "net_amount": str(line.net_amount),
        "tax_amount": str(line.tax_amount),
        "line_total": str(line.line_total),
    }


def quote_accepted_payload(*, quote) -> dict:
    """v1 of ``crm.quote.accepted``: see docs/events.md."""
    opportunity = quote.opportunity
    return {
        "quote_id": quote.pk,
        "number": quote.number,
        "version": quote.version,
        "opportunity_id": quote.opportunity_id,
        "account_id": opportunity.account_id,
        "contact_id": opportunity.contact_id,
        "owner_id": opportunity.owner_id,
        "currency": quote.currency,
        "valid_until": quote.valid_until.isoformat(),
        "subtotal": str(quote.subtotal),
        "tax_total": str(quote.tax_total),
        "total": str(quote.total),
        "accepted_at": quote.decided_at.isoformat() if quote.decided_at else None,
        "lines": [line_payload(line) for line in quote.lines.all()],
    }


# ---------------------------------------------------------------- handlers of other apps' events (SCRM)

from suite import events as _events  # noqa: E402


@_events.handler("scrm.identity.resolved", name="crm.contact_link_social_identity", batch=True)
def contact_link_social_identity(events: list[_events.Event] | _events.Event) -> None:
    """SCRM matched social identities to contacts: record each WeChat unionid on its contact when the contact
    has none yet (``crm.services.social_batches.contacts_link_unionids``: two reads per company and batch, a
    ``contact_update`` only for the contacts that change). A batch handler (one call per relay batch; a single
    event is accepted too). Idempotent: a second delivery finds the unionid already set."""
    from crm.services.social_batches import contacts_link_unionids

    by_company: dict[int, list[tuple[int, str]]] = {}
    for event in events if isinstance(events, list) else [events]:
        unionid = event.payload.get("unionid") or ""
        contact_id = event.payload.get("crm_contact_id")
        if unionid and contact_id:
            by_company.setdefault(event.company_id, []).append((contact_id, unionid))
    for company_id, links in by_company.items():
        contacts_link_unionids(company_id=company_id, links=links)


@_events.handler("scrm.contact.removed", name="crm.churn_follow_up_task")
def churn_follow_up_task(event: _events.Event) -> None:
    """A matched customer ended the WeCom relationship (or was removed): a follow-up task for the contact's
    owner, due tomorrow (``activity_create``). Idempotent: one open task per contact and subject."""
    from datetime import timedelta

    from django.utils import timezone
    from django.utils.translation import gettext as _

    from crm.models import Activity, ActivityKind, Contact
    from crm.services.activities import activity_create

    contact_id = event.payload.get("crm_contact_id")
    if not contact_id:
        return
    contact = Contact.objects.filter(pk=contact_id, company_id=event.company_id, merged_into__isnull=True).first()
    if contact is None or contact.owner_id is None:
        return
    subject = _("Churn risk: %(name)s left WeCom") % {"name": contact.name}
    if Activity.objects.filter(contact=contact, subject=subject, done_at__isnull=True).exists():
        return
    activity_create(
        company=contact.company,
        by=None,
        owner=contact.owner,
        contact=contact,
        kind=ActivityKind.TASK,
        subject=subject[:200],
        body=event.payload.get("change", ""),
        due_at=timezone.now() + timedelta(days=1),
    )


@_events.handler(OPPORTUNITY_WON, name="crm.tell_followers_of_win")
def tell_followers_of_win(event: _events.Event) -> None:
    """Those who follow a won deal or its account are told, with the amount (``crm.services.following``)."""
    _tell_followers_of_close(event, won=True)


@_events.handler(OPPORTUNITY_LOST, name="crm.tell_followers_of_loss")
def tell_followers_of_loss(event: _events.Event) -> None:
    """Those who follow a lost deal or its account are told, with the reason and the note."""
    _tell_followers_of_close(event, won=False)


@_events.handler(LEAD_CREATED, name="crm.tell_owner_of_new_lead")
def tell_owner_of_new_lead(event: _events.Event) -> None:
    """The owner of a new lead someone else made (the rules for a web form or a Douyin lead, a colleague) is told:
    one growing "new leads for you" line (``crm.services.lead_alerts``)."""
    from crm.services.lead_alerts import new_lead_tell_owner

    new_lead_tell_owner(company_id=event.company_id, lead_id=event.payload.get("lead_id"), by_id=event.created_by_id)


@_events.handler(OPPORTUNITY_CREATED, name="crm.tell_followers_of_new_deal")
def tell_followers_of_new_deal(event: _events.Event) -> None:
    """Those who follow the account of a new deal are told (not its creator; only those who may see the deal;
    ``crm.services.following.tell_account_followers_of_new_deal``). A deal deleted or closed since is old news:
    its win or loss tells them."""
    from django.contrib.auth import get_user_model

    from crm.models import Opportunity, OpportunityStatus
    from crm.services.following import tell_account_followers_of_new_deal

    opportunity = (
        Opportunity.objects.filter(pk=event.payload.get("opportunity_id"), company_id=event.company_id)
        .select_related("account", "company")
        .first()
    )
    if opportunity is None or opportunity.account_id is None or opportunity.status != OpportunityStatus.OPEN:
        return
    by = get_user_model().objects.filter(pk=event.created_by_id).first() if event.created_by_id else None
    tell_account_followers_of_new_deal(opportunity, by=by)


def _tell_followers_of_close(event: _events.Event, *, won: bool) -> None:
    from django.contrib.auth import get_user_model
    from django.utils.translation import gettext as _

    from crm.models import Opportunity, OpportunityStatus
    from crm.services.following import deal_amount, local_name, tell_deal_followers

    opportunity = (
        Opportunity.objects.filter(pk=event.payload.get("opportunity_id"), company_id=event.company_id)
        .select_related("account", "lost_reason", "company")
        .first()
    )
    if opportunity is None or opportunity.status != (OpportunityStatus.WON if won else OpportunityStatus.LOST):
        return  # deleted, or reopened since: old news
    by = get_user_model().objects.filter(pk=event.created_by_id).first() if event.created_by_id else None
    if won:
        amount = deal_amount(opportunity)
        tell_deal_followers(
            opportunity,
            by=by,
            title=lambda: _("%(deal)s was won: %(amount)s") % {"deal": opportunity, "amount": amount},
        )
    else:
        tell_deal_followers(
            opportunity,
            by=by,
            title=lambda: (
                _("%(deal)s was lost: %(reason)s")
                % {"deal": opportunity, "reason": local_name(opportunity.lost_reason)}
            ),
            body=opportunity.lost_note,
        )


from crm import events_campaigns  # noqa: E402,F401  scrm.campaign.touched (campaign attribution)

# ---------------------------------------------------------------- SCRM cadences and WeCom relationships


@_events.handler("scrm.cadence.task_due", name="crm.cadence_task_create")
def cadence_task_create(event: _events.Event) -> None:
    """A cadence step asks for a follow-up task on a lead: a task for the enrolment's owner (else the lead's
    owner), due now. Idempotent: one task per cadence step run (keyed in the task's body)."""
    from crm.services.relationships import lead_follow_up_task_create

    payload = event.payload
    lead_follow_up_task_create(
        company_id=event.company_id,
        lead_id=payload["lead_id"],
        owner_id=payload.get("owner_id"),
        subject=payload.get("subject") or "",
        body=payload.get("body") or "",
        key=f"cadence:{payload['enrollment_id']}:{payload['step_id']}",
        due_at=payload.get("due_at"),
    )


@_events.handler("scrm.contact.removed", name="crm.churn_flag_opportunities")
def churn_flag_opportunities(event: _events.Event) -> None:
    """A matched customer ended the WeCom relationship: the customer's open opportunities are flagged at risk.
    Idempotent (flagged ones stay flagged)."""
    from crm.services.relationships import opportunities_flag_at_risk

    payload = event.payload
    if not payload.get("crm_contact_id") and not payload.get("crm_account_id"):
        return
    opportunities_flag_at_risk(
        company_id=event.company_id,
        contact_id=payload.get("crm_contact_id"),
        account_id=payload.get("crm_account_id"),
        reason=f"WeCom {payload.get('change', '')}".strip(),
    )


@_events.handler("scrm.handover.completed", name="crm.handover_reassign_records")
def handover_reassign_records(event: _events.Event) -> None:
    """A staff handover finished: the old user's open leads, open opportunities, open tickets and accounts go
    to the new user. Idempotent: a second delivery finds nothing left to move."""
    from crm.services.relationships import owner_records_reassign

    if event.version != 1:
        return
    owner_records_reassign(
        company_id=event.company_id,
        from_user_id=event.payload["from_user_id"],
        to_user_id=event.payload["to_user_id"],
    )


@_events.handler("scrm.ugc.negative", name="crm.ticket_for_negative_ugc", batch=True)
def ticket_for_negative_ugc(events: list[_events.Event] | _events.Event) -> None:
    """Negative reviews / comments / mentions captured by SCRM: a service ticket each (channel "social", high
    priority, numbered and SLA-timed as ``ticket_open`` does) for the author's CRM contact when matched, so
    service follows them up. A batch handler: one ``tickets_for_negative_ugc`` per company and relay batch
    (a single event is accepted too). Idempotent: the ticket's source key ``scrm-ugc:<id>`` is unique per
    company, and a redelivery finds it."""
    from crm.services.social_batches import tickets_for_negative_ugc

    by_company: dict[int, list[dict]] = {}
    for event in events if isinstance(events, list) else [events]:
        by_company.setdefault(event.company_id, []).append(event.payload)
    for company_id, items in by_company.items():
        tickets_for_negative_ugc(company_id=company_id, items=items)


from crm import (  # noqa: E402  handlers of other apps' events, each in its own module
    events_channel_orders,  # noqa: F401  commerce channel plugins → account, won deal (docs/plugins.md)
    events_finance,  # noqa: F401  ERP receivables → customer finance facts, overdue follow-ups (loop)
    events_handovers,  # noqa: F401  HR employee deactivated → owner handover (loop, flow 11)
    events_order_progress,  # noqa: F401  ERP production/shipments → opportunity fulfilment (loop, flow 3)
    events_promise,  # noqa: F401  ERP sales orders of won deals → promised date on the deal (loop)
    events_segments,  # noqa: F401  SCRM auto-tag rules, last interactions, spend (segments)
    events_social_leads,  # noqa: F401  SCRM: a person new to the CRM added the company → lead
    events_social_tickets,  # noqa: F401  SCRM: staff asked for a ticket from a conversation → ticket
)
