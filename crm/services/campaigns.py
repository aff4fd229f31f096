"""Writes of marketing campaigns: the plan, cost lines, members and touches, and the bookkeeping that keeps
attribution right — a lead created for a campaign, a lead converted (its touches carry over to the account,
contact and opportunity), two customers merged, SCRM reporting a send or a response.

A touch is the fact attribution reads: "campaign C reached X at time T". Adding a member or changing its
status records the matching touch in the same transaction; a touch with a ``source_key`` is recorded once.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from crm.errors import CrmConflict
from crm.models import (
    Account,
    Campaign,
    CampaignChannel,
    CampaignCost,
    CampaignMember,
    CampaignMemberStatus,
    CampaignStatus,
    CampaignTouch,
    Contact,
    Lead,
    Opportunity,
    Tag,
    TouchKind,
    TouchSource,
)
from crm.text import build_search_text
from suite.models import Company, Membership

if TYPE_CHECKING:
    from django.contrib.auth.models import User

CAMPAIGN_FIELDS = frozenset(
    {
        "name",
        "name_en",
        "code",
        "channel",
        "status",
        "budget",
        "currency",
        "start_date",
        "end_date",
        "target_segment",
        "description",
        "owner",
        "team",
    }
)
_TEXT = {"name", "name_en", "target_segment", "description"}
_STATUS_TOUCH = {
    CampaignMemberStatus.RESPONDED: TouchKind.RESPONDED,
    CampaignMemberStatus.CONVERTED: TouchKind.CONVERTED,
}
_STATUS_RANK = {CampaignMemberStatus.SENT: 0, CampaignMemberStatus.RESPONDED: 1, CampaignMemberStatus.CONVERTED: 2}


def lock_campaign(pk: int) -> Campaign:
    """The campaign row, locked for the rest of the transaction."""
    return Campaign.objects.select_for_update(of=("self",)).get(pk=pk)


def lock_member(pk: int) -> CampaignMember:
    return CampaignMember.objects.select_for_update(of=("self",)).get(pk=pk)


def _money(value, field: str, errors: dict, *, positive: bool = False) -> Decimal | None:
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError, TypeError):
        errors.setdefault(field, []).append(_("Enter an amount such as 1200.50."))
        return None
    if not amount.is_finite() or amount < 0 or (positive and amount == 0):
        errors.setdefault(field, []).append(
            _("The amount must be more than zero.") if positive else _("The amount cannot be negative.")
        )
        return None
    if abs(amount) >= Decimal("1e16"):
        errors.setdefault(field, []).append(_("The amount is too large."))
        return None
    return amount


def _apply(campaign: Campaign, fields: dict[str, Any]) -> list[str]:
    unknown = set(fields) - CAMPAIGN_FIELDS
    if unknown:
        raise TypeError(f"unknown campaign fields: {', '.join(sorted(unknown))}")
    errors: dict[str, list] = {}
    changed = []
    for name, value in fields.items():
        if name in _TEXT:
            value = (value or "").strip()
        elif name == "code":
            value = slugify(str(value or "").strip())[:50]
        elif name == "budget":
            value = _money(value, "budget", errors)
            if value is None:
                continue
        elif name == "currency":
            value = str(value or "").strip().upper()
        if getattr(campaign, name) != value:
            setattr(campaign, name, value)
            changed.append(name)
    if not campaign.name:
        errors.setdefault("name", []).append(_("This field cannot be blank."))
    if not campaign.code:
        errors.setdefault("code", []).append(_("Give a code of letters, digits, - or _ (used in links)."))
    if campaign.channel not in CampaignChannel.values:
        errors.setdefault("channel", []).append(_("Unknown channel."))
    if campaign.status not in CampaignStatus.values:
        errors.setdefault("status", []).append(_("Unknown status."))
    if not isinstance(campaign.start_date, date):
        errors.setdefault("start_date", []).append(_("Give the start date."))
    elif campaign.end_date is not None and campaign.end_date < campaign.start_date:
        errors.setdefault("end_date", []).append(_("The campaign cannot end before it starts."))
    if len(campaign.currency or "") != 3 or not campaign.currency.isalpha():
        errors.setdefault("currency", []).append(_("Use a three-letter currency code such as CNY."))
    owner = fields.get("owner")
    if (
        owner is not None
        and not Membership.objects.filter(company_id=campaign.company_id, user=owner, is_active=True).exists()
    ):
        errors.setdefault("owner", []).append(_("The owner must be an active member of the company."))
    team = fields.get("team")
    if team is not None and team.company_id != campaign.company_id:
        errors.setdefault("team", []).append(_("Unknown team."))
    if errors:
        raise ValidationError(errors)
    return changed


def _check_tags(company_id: int, tags) -> list[Tag]:
    tags = list(tags or ())
    if any(tag.company_id != company_id for tag in tags):
        raise ValidationError({"target_tags": [_("Unknown tag.")]})
    return tags


def _save_unique(campaign: Campaign, **kwargs) -> None:
    try:
        with transaction.atomic():
            campaign.save(**kwargs)
    except IntegrityError:
        raise ValidationError({"code": [_("Another campaign uses this code.")]}) from None


def campaign_search_text(campaign: Campaign) -> str:
    """The campaign's search key: its names with their pinyin (``douyin`` finds 抖音信息流) and its code."""
    return build_search_text(names=[campaign.name, campaign.name_en], others=[campaign.code])


@transaction.atomic
def campaign_create(
    *,
    company: Company,
    by: User | None,
    name: str,
    code: str,
    channel: str,
    start_date: date,
    target_tags=(),
    **fields: Any,
) -> Campaign:
    """Plan a campaign (status ``planned`` unless given). ``code`` is slugified and unique in the company;
    ``budget`` is never negative; ``end_date`` is not before ``start_date``. Publishes nothing."""
    fields.setdefault("owner", by)
    campaign = Campaign(company=company)
    _apply(campaign, {"name": name, "code": code, "channel": channel, "start_date": start_date, **fields})
    tags = _check_tags(company.pk, target_tags)
    campaign.search_text = campaign_search_text(campaign)
    _save_unique(campaign)
    if tags:
        campaign.target_tags.set(tags)
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, by: User | None, target_tags=None, **fields: Any) -> Campaign:
    """Change a campaign's plan or status (``planned`` → ``active`` → ``done``, or back). Locks the row."""
    campaign = lock_campaign(campaign.pk)
    changed = _apply(campaign, fields)
    if changed:
        campaign.search_text = campaign_search_text(campaign)
        _save_unique(campaign, update_fields=[*changed, "search_text", "updated_at"])
    if target_tags is not None:
        campaign.target_tags.set(_check_tags(campaign.company_id, target_tags))
    return campaign


@transaction.atomic
def campaign_delete(*, campaign: Campaign, by: User | None) -> None:
    """Delete a campaign planned by mistake. One with touches, costs or leads is part of the results and is
    kept (``CrmConflict``): set it ``done`` instead. Locks the row."""
    campaign = lock_campaign(campaign.pk)
    if (
        CampaignTouch.objects.filter(campaign=campaign).exists()
        or CampaignCost.objects.filter(campaign=campaign).exists()
        or Lead.objects.filter(campaign=campaign).exists()
    ):
        raise CrmConflict(_("This campaign has results (touches, costs or leads); mark it done instead."))
    campaign.delete()


# ---------------------------------------------------------------- costs


@transaction.atomic
def campaign_cost_add(
    *, campaign: Campaign, by: User | None, incurred_on: date, description: str, amount: Decimal | str
) -> CampaignCost:
    """Add a dated cost line (more than zero) to a campaign. Locks the campaign row (so a report never reads
    half of a batch of lines)."""
    campaign = lock_campaign(campaign.pk)
    errors: dict[str, list] = {}
    value = _money(amount, "amount", errors, positive=True)
    description = (description or "").strip()
    if not description:
        errors["description"] = [_("Say what the cost was for.")]
    if not isinstance(incurred_on, date):
        errors["incurred_on"] = [_("Give the date of the cost.")]
    if errors:
        raise ValidationError(errors)
    return CampaignCost.objects.create(
        company_id=campaign.company_id,
        campaign=campaign,
        incurred_on=incurred_on,
        description=description[:200],
        amount=value,
        created_by=by,
    )


@transaction.atomic
def campaign_cost_update(*, cost: CampaignCost, by: User | None, **fields: Any) -> CampaignCost:
    """Correct a cost line (``incurred_on``, ``description``, ``amount``). Locks the row."""
    allowed = {"incurred_on", "description", "amount"}
    if set(fields) - allowed:
        raise TypeError(f"unknown cost fields: {', '.join(sorted(set(fields) - allowed))}")
    cost = CampaignCost.objects.select_for_update(of=("self",)).get(pk=cost.pk)
    errors: dict[str, list] = {}
    if "amount" in fields:
        fields["amount"] = _money(fields["amount"], "amount", errors, positive=True)
    if "description" in fields:
        fields["description"] = (fields["description"] or "").strip()[:200]
        if not fields["description"]:
            errors["description"] = [_("Say what the cost was for.")]
    if errors:
        raise ValidationError(errors)
    for name, value in fields.items():
        setattr(cost, name, value)
    cost.save(update_fields=[*fields, "updated_at"])
    return cost


@transaction.atomic
def campaign_cost_delete(*, cost: CampaignCost, by: User | None) -> None:
    """Delete a cost line entered by mistake (the audit trail keeps it)."""
    CampaignCost.objects.select_for_update(of=("self",)).get(pk=cost.pk).delete()


# ---------------------------------------------------------------- touches


def _live(record):
    """A merged customer's survivor (touches and members follow merges)."""
    while record is not None and getattr(record, "merged_into_id", None):
        record = record.merged_into
    return record


@transaction.atomic
def campaign_touch_record(
    *,
    campaign: Campaign,
    kind: str,
    touched_at: datetime | None = None,
    lead: Lead | None = None,
    contact: Contact | None = None,
    account: Account | None = None,
    source: str = TouchSource.MANUAL,
    source_key: str = "",
) -> CampaignTouch:
    """Record that ``campaign`` reached a lead, contact or account at ``touched_at`` (now by default). A
    contact's account is filled in, so the touch also counts for the account. With a ``source_key`` the same
    touch reported twice is one row (the first is returned). No locks. Publishes nothing."""
    errors: dict[str, list] = {}
    if kind not in TouchKind.values:
        errors["kind"] = [_("Unknown kind of touch.")]
    for name, record in (("lead", lead), ("contact", contact), ("account", account)):
        if record is not None and record.company_id != campaign.company_id:
            errors[name] = [_("Unknown record.")]
    if lead is None and contact is None and account is None:
        errors["contact"] = [_("Name the lead, contact or account the campaign reached.")]
    if touched_at is not None and (not isinstance(touched_at, datetime) or timezone.is_naive(touched_at)):
        errors["touched_at"] = [_("Give a date and time with its time zone.")]
    if errors:
        raise ValidationError(errors)
    contact, account = _live(contact), _live(account)
    if account is None and contact is not None and contact.account_id:
        account = contact.account
    if lead is not None and lead.converted_at is not None:
        # a touch of a converted lead counts for what it became
        contact = contact or lead.converted_contact
        account = account or lead.converted_account
    if source_key:
        existing = CampaignTouch.objects.filter(company_id=campaign.company_id, source_key=source_key).first()
        if existing is not None:
            return existing
    touch = CampaignTouch(
        company_id=campaign.company_id,
        campaign=campaign,
        kind=kind,
        source=source,
        source_key=source_key[:100],
        touched_at=touched_at or timezone.now(),
        lead=lead,
        contact=contact,
        account=account,
    )
    if not source_key:
        touch.save()
        return touch
    try:
        with transaction.atomic():
            touch.save()
    except IntegrityError:  # the same key recorded at the same moment by another transaction
        return CampaignTouch.objects.get(company_id=campaign.company_id, source_key=source_key)
    return touch


def campaign_touches_carry_over(
    *, lead: Lead, account: Account | None, contact: Contact | None, opportunity: Opportunity | None
) -> int:
    """On conversion (called by ``lead_convert`` in its transaction): the lead's touches now also count for
    the account, contact and opportunity it became, and its memberships are marked converted. Returns the
    number of touches carried over."""
    changes: dict[str, Any] = {"updated_at": timezone.now()}
    touches = CampaignTouch.objects.filter(lead=lead)
    count = 0
    if opportunity is not None:
        count = touches.filter(opportunity__isnull=True).update(opportunity=opportunity, **changes)
    if contact is not None:
        count = max(count, touches.filter(contact__isnull=True).update(contact=contact, **changes))
    if account is not None:
        count = max(count, touches.filter(account__isnull=True).update(account=account, **changes))
    now = timezone.now()
    for member in CampaignMember.objects.select_for_update(of=("self",)).filter(lead=lead).order_by("pk"):
        if member.status != CampaignMemberStatus.CONVERTED:
            member.status = CampaignMemberStatus.CONVERTED
            member.converted_at = now
            member.save(update_fields=["status", "converted_at", "updated_at"])
            CampaignTouch.objects.create(
                company_id=member.company_id,
                campaign_id=member.campaign_id,
                kind=TouchKind.CONVERTED,
                source=TouchSource.LEAD,
                touched_at=now,
                lead=lead,
                contact=contact,
                account=account,
                opportunity=opportunity,
            )
    return count


def campaign_members_dedupe_for_merge(*, model: type, survivor, duplicate) -> int:
    """Before ``customer_merge`` re-points rows: where a campaign reached both the duplicate and the survivor,
    the duplicate's membership is dropped (the survivor's stays; the duplicate's touches still move). Returns
    how many were dropped."""
    key = "account" if model is Account else "contact"
    survivor_campaigns = CampaignMember.objects.filter(**{key: survivor}).values("campaign_id")
    deleted, _rows = CampaignMember.objects.filter(**{key: duplicate}, campaign_id__in=survivor_campaigns).delete()
    return deleted


# ---------------------------------------------------------------- members


def _target_of(*, lead, contact, account) -> tuple[str, Any]:
    given = [(name, record) for name, record in (("lead", lead), ("contact", contact), ("account", account)) if record]
    if len(given) != 1:
        raise ValidationError({"contact": [_("A member is exactly one lead, contact or account.")]})
    return given[0]


@transaction.atomic
def campaign_member_add(
    *,
    campaign: Campaign,
    by: User | None,
    lead: Lead | None = None,
    contact: Contact | None = None,
    account: Account | None = None,
    status: str = CampaignMemberStatus.SENT,
    at: datetime | None = None,
    source: str = TouchSource.MANUAL,
    source_key: str = "",
) -> CampaignMember:
    """Add a lead, contact or account to a campaign (it was sent the campaign at ``at``), recording a ``sent``
    touch — and a ``responded``/``converted`` one when added with that status. Adding a member twice returns
    the existing membership, moved forward to ``status`` if that is further; with a ``source_key`` (a reported
    send or response) a repeat still records its touch, once per key. Locks the campaign row."""
    name, record = _target_of(lead=lead, contact=contact, account=account)
    if record.company_id != campaign.company_id:
        raise ValidationError({name: [_("Unknown record.")]})
    if status not in CampaignMemberStatus.values:
        raise ValidationError({"status": [_("Unknown status.")]})
    record = _live(record)
    campaign = lock_campaign(campaign.pk)
    at = at or timezone.now()
    member = CampaignMember.objects.filter(campaign=campaign, **{name: record}).first()
    if member is not None and source_key and _STATUS_RANK[status] <= _STATUS_RANK[member.status]:
        # a reported repeat (another send, another response): one more touch, once per key
        campaign_touch_record(
            campaign=campaign,
            kind=TouchKind.SENT if status == CampaignMemberStatus.SENT else _STATUS_TOUCH[status],
            touched_at=at,
            source=source,
            source_key=source_key,
            **{name: record},
        )
        return member
    if member is None:
        member = CampaignMember.objects.create(
            company_id=campaign.company_id,
            campaign=campaign,
            sent_at=at,
            status=CampaignMemberStatus.SENT,
            **{name: record},
        )
        campaign_touch_record(
            campaign=campaign,
            kind=TouchKind.SENT,
            touched_at=at,
            source=source,
            source_key=f"{source_key}:sent" if source_key else "",
            **{name: record},
        )
    if _STATUS_RANK[status] > _STATUS_RANK[member.status]:
        member = campaign_member_status_set(
            member=member, by=by, status=status, at=at, source=source, source_key=source_key
        )
    return member


@transaction.atomic
def campaign_member_status_set(
    *,
    member: CampaignMember,
    by: User | None,
    status: str,
    at: datetime | None = None,
    source: str = TouchSource.MANUAL,
    source_key: str = "",
) -> CampaignMember:
    """Mark a member responded or converted (at ``at``, now by default), recording the touch. Setting the
    status it has changes nothing; a status never moves back. Locks the member row."""
    if status not in CampaignMemberStatus.values:
        raise ValidationError({"status": [_("Unknown status.")]})
    member = lock_member(member.pk)
    if _STATUS_RANK[status] < _STATUS_RANK[member.status]:
        raise ValidationError({"status": [_("A member's status does not move back.")]})
    if status == member.status:
        return member
    at = at or timezone.now()
    member.status = status
    changed = ["status"]
    if status == CampaignMemberStatus.CONVERTED:
        member.converted_at = at
        changed.append("converted_at")
    if member.responded_at is None:
        member.responded_at = at
        changed.append("responded_at")
    member.save(update_fields=[*changed, "updated_at"])
    campaign_touch_record(
        campaign=member.campaign,
        kind=_STATUS_TOUCH[status],
        touched_at=at,
        lead=member.lead,
        contact=member.contact,
        account=member.account,
        source=source,
        source_key=source_key,
    )
    return member


@transaction.atomic
def campaign_member_remove(*, member: CampaignMember, by: User | None) -> None:
    """Remove a member added by mistake; its touches stay (they happened). Locks the row."""
    lock_member(member.pk).delete()


def campaign_lead_attribute(*, lead: Lead, campaign: Campaign, source: str = TouchSource.LEAD) -> CampaignTouch:
    """A lead created for ``campaign`` (called by ``lead_create`` in its transaction): it is a responding
    member, and the campaign touched it at the moment it was created."""
    CampaignMember.objects.create(
        company_id=lead.company_id,
        campaign=campaign,
        lead=lead,
        status=CampaignMemberStatus.RESPONDED,
        sent_at=lead.created_at,
        responded_at=lead.created_at,
    )
    return campaign_touch_record(
        campaign=campaign, kind=TouchKind.LEAD_CREATED, touched_at=lead.created_at, lead=lead, source=source
    )
