"""Leads from SCRM (``scrm.contact.created``): a person who adds the company on a social platform (a WeCom
「添加客户」) or leaves contact details there (a Douyin 留资) and matches no CRM customer becomes a lead, so sales
follows them up like any other — assigned (the channel's default assignee, else the assignment rules), scored,
enrolled by SCRM in the follow-up cadences of its source."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from crm.models import Lead, Source
from crm.selectors import OPEN_LEAD_STATUSES
from crm.services.leads import lead_create
from crm.services.locking import advisory_lock
from crm.text import normalize_phone
from suite.models import Company

# The kind of SCRM channel → the lead's source (also what by-source assignment rules and cadences key on).
SOURCES = {
    "wecom": Source.WECOM,
    "wechat_oa": Source.WECHAT,
    "douyin": Source.DOUYIN,
    "xiaohongshu": Source.XIAOHONGSHU,
    "weibo": Source.WEIBO,
}


@transaction.atomic
def lead_from_social_contact(
    *,
    company_id: int,
    channel_kind: str,
    external_id: str,
    display_name: str = "",
    phone: str = "",
    unionid: str = "",
    owner_id: int | None = None,
    staff_external_id: str = "",
    platform_event: str = "",
    note: str = "",
) -> Lead | None:
    """The lead of a person new to the CRM who added the company on ``channel_kind`` (or left details there, or
    whom staff asked a lead for); an open lead of the company from the same platform identity, or with the same
    unionid or phone, is returned instead (a person re-adding is not a second lead).
    A phone the CRM cannot read is kept in the notes rather than refused. ``owner_id`` counts only when it is an
    active member. ``None`` for an unknown company. Publishes ``crm.lead.created`` (through ``lead_create``)."""
    company = Company.objects.filter(pk=company_id).first()
    if company is None:
        return None
    notes = []
    try:
        phone = normalize_phone(phone or "")
    except ValidationError:
        notes.append(_("Phone given on the platform: %(phone)s") % {"phone": phone})
        phone = ""
    social_ref = f"{channel_kind}:{external_id}"[:160] if external_id else ""
    same_person = Q(social_ref=social_ref) if social_ref else Q()
    if unionid:
        same_person |= Q(unionid=unionid)
    if phone:
        same_person |= Q(phone=phone)
    if same_person:
        if social_ref:  # two events of one person handled at once (two workers) still make one lead
            advisory_lock(f"crm.social_lead:{company_id}:{social_ref}")
        existing = (
            Lead.objects.select_for_update()
            .filter(same_person, company_id=company_id, status__in=OPEN_LEAD_STATUSES)
            .order_by("pk")
            .first()
        )
        if existing is not None:
            return existing
    owner = (
        get_user_model()
        .objects.filter(pk=owner_id, memberships__company_id=company_id, memberships__is_active=True, is_active=True)
        .first()
        if owner_id
        else None
    )
    source = SOURCES.get(channel_kind, Source.OTHER)
    said = {"platform": Source(source).label, "external_id": external_id}
    if platform_event == "staff_request":  # staff made a lead of a conversation (「转线索」)
        how = _("Made a lead from a %(platform)s conversation (%(external_id)s).") % said
    elif platform_event not in ("", "add_external_contact"):  # a lead capture (Douyin 留资), with what they wrote
        how = _("Left contact details on %(platform)s (%(external_id)s).") % said
    else:
        how = _("Added the company on %(platform)s (%(external_id)s).") % said
    notes[:0] = [how, *([note] if note else [])]
    if staff_external_id:
        notes.append(_("Added staff account: %(staff)s") % {"staff": staff_external_id})
    return lead_create(
        company=company,
        by=None,
        owner=owner,
        name=(display_name or external_id)[:200],
        phone=phone,
        unionid=unionid,
        source=source,
        notes="\n".join(notes),
        social_ref=social_ref,
    )
