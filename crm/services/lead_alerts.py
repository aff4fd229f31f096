"""Telling salespeople of the leads they get, as the WeCom SCRMs' 新线索提醒 does — a lead followed up in minutes
is worth more than one found tomorrow:

* a new lead that went to someone other than its maker (the assignment rules for a web form, a Douyin lead, an
  API call; a colleague's choice): one line in the owner's bell that grows while unread ("5 new leads for you",
  linking to their new leads) — through ``crm.lead.created``'s handler, not in the request that made it;
* a lead a colleague hands over (``lead_assign``): "王芳 assigned you the lead …", at once;
* the leads an import routed to people: one growing line per person and import.

All in the reader's language (``suite.services.notifications.Text``); an owner who left the company is skipped.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm.models import Lead, LeadStatus
from suite.models import Membership, Notification
from suite.services.notifications import counted, notification_send, notifications_coalesce
from suite.templatetags.troika import person_name

if TYPE_CHECKING:
    from django.contrib.auth.models import User

NEW_LEADS_KEY = "crm.leads.new"  # the owner's one unread "new leads" line


def _new_leads_url() -> str:
    return f"{reverse('crm:lead-list')}?owner=me&status=new"


def _about(lead: Lead) -> str:
    """Where the lead came from and how hot it is, in the active language."""
    return _("%(source)s · score %(score)s") % {"source": lead.get_source_display(), "score": lead.score}


def new_lead_tell_owner(*, company_id: int, lead_id: int, by_id: int | None) -> bool:
    """Tell the owner of a new lead about it, unless they made it themselves, it has no owner, it was closed
    since, or they left the company. Coalesced with their unread new-lead line (``NEW_LEADS_KEY``). Runs in the
    caller's transaction (the outbox handler's); no locks; publishes nothing. Whether someone was told."""
    lead = Lead.objects.filter(pk=lead_id, company_id=company_id).first()
    if (
        lead is None
        or lead.owner_id is None
        or lead.owner_id == by_id
        or lead.status in (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED)
        or not Membership.objects.filter(company_id=company_id, user_id=lead.owner_id, is_active=True).exists()
    ):
        return False
    notifications_coalesce(
        company=company_id,
        items=[
            {
                "recipient_id": lead.owner_id,
                "key": NEW_LEADS_KEY,
                "title": lambda: _("New lead for you: %(lead)s") % {"lead": lead},
                "title_many": counted(
                    lambda count: (
                        ngettext("%(count)d new lead for you", "%(count)d new leads for you", count) % {"count": count}
                    )
                ),
                "body": lambda: _about(lead),
                "link": lead.get_absolute_url(),
                "link_many": _new_leads_url(),
                "level": Notification.Level.INFO,
            }
        ],
    )
    return True


def lead_handed_over_tell_owner(lead: Lead, *, by: User | None) -> None:
    """Tell a lead's new owner that ``by`` gave it to them (not when they took it themselves)."""
    if lead.owner_id is None or by is None or lead.owner_id == by.pk:
        return
    giver = person_name(by)
    notification_send(
        recipients=[lead.owner_id],
        company=lead.company,
        title=lambda: _("%(person)s assigned you the lead %(lead)s") % {"person": giver, "lead": lead},
        body=lambda: _about(lead),
        link=lead.get_absolute_url(),
    )


def imported_leads_tell_owners(*, company_id: int, leads: list[Lead], job_id: int, file_name: str) -> int:
    """Tell each person the import routed leads to how many they got: one line per person and import, growing
    with each chunk while unread ("120 leads from 抖音线索.xlsx were assigned to you"), linking to their new leads.
    Owners who left are skipped. Two statements per chunk whatever its size. How many people were told."""
    per_owner = Counter(lead.owner_id for lead in leads if lead.owner_id is not None)
    if not per_owner:
        return 0
    active = set(
        Membership.objects.filter(company_id=company_id, user_id__in=per_owner, is_active=True).values_list(
            "user_id", flat=True
        )
    )

    def title() -> str:
        return _("A lead from %(file)s was assigned to you") % {"file": file_name}

    title_many = counted(
        lambda count: (
            ngettext(
                "%(count)d lead from %(file)s was assigned to you",
                "%(count)d leads from %(file)s were assigned to you",
                count,
            )
            % {"count": count, "file": file_name}
        )
    )
    return notifications_coalesce(
        company=company_id,
        items=[
            {
                "recipient_id": owner_id,
                "key": f"crm.import:{job_id}",
                "count": count,
                "title": title,
                "title_many": title_many,
                "link": _new_leads_url(),
                "level": Notification.Level.INFO,
            }
            for owner_id, count in sorted(per_owner.items())
            if owner_id in active
        ],
    )
