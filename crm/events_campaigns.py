"""The CRM's handler of ``scrm.campaign.touched`` (imported by ``crm.events``): SCRM executes social and push
sends of a CRM campaign and reports each send and response back; the CRM records the member and the touch
that attribution reads. Contract in docs/events.md."""

from __future__ import annotations

from datetime import datetime

from suite import events

SCRM_CAMPAIGN_TOUCHED = "scrm.campaign.touched"


@events.handler(SCRM_CAMPAIGN_TOUCHED, name="crm.campaign_touch_from_scrm")
def campaign_touch_from_scrm(event: events.Event) -> None:
    """Add the contact (or account) to the campaign as a member — ``sent`` for a send, ``responded`` for a
    response — with a touch at ``touched_at`` (``campaign_member_add``). Idempotent: the touch is keyed on the
    event's uuid, and a member is added once per campaign, its status only moving forward. Unknown or other
    companies' campaigns and customers are ignored; a merged customer's survivor is used."""
    from django.utils.dateparse import parse_datetime

    from crm.models import Account, Campaign, CampaignMemberStatus, Contact, TouchSource
    from crm.services.campaigns import campaign_member_add

    if event.version != 1:
        return
    payload = event.payload
    company_id = event.company_id or payload.get("company_id")
    kind = payload.get("kind")
    status = {"sent": CampaignMemberStatus.SENT, "responded": CampaignMemberStatus.RESPONDED}.get(kind)
    if not company_id or status is None:
        return
    campaign = Campaign.objects.filter(pk=payload.get("crm_campaign_id"), company_id=company_id).first()
    if campaign is None:
        return
    contact = account = None
    if payload.get("contact_id"):
        contact = Contact.objects.filter(pk=payload["contact_id"], company_id=company_id).first()
    elif payload.get("account_id"):
        account = Account.objects.filter(pk=payload["account_id"], company_id=company_id).first()
    if contact is None and account is None:
        return
    touched_at = parse_datetime(str(payload.get("touched_at") or "")) or event.created_at
    if not isinstance(touched_at, datetime) or touched_at.tzinfo is None:
        touched_at = event.created_at
    campaign_member_add(
        campaign=campaign,
        by=None,
        contact=contact,
        account=account,
        status=status,
        at=touched_at,
        source=TouchSource.SCRM,
        source_key=f"scrm:{event.uuid}",
    )
