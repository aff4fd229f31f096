"""Factories of campaigns, their members, costs and touches, web forms, reminder preferences and nudges (through
the services), registered as tenant factories for tests/test_tenant_isolation.py (imported by
``crm.tests.factories``)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from crm.models import (
    Campaign,
    CampaignCost,
    CampaignMember,
    CampaignTouch,
    OpportunityNudge,
    ReminderPreference,
    WebForm,
)
from crm.services.campaigns import campaign_cost_add, campaign_create, campaign_member_add, campaign_touch_record
from crm.services.customers import contact_create
from crm.services.opportunities import opportunity_create
from crm.services.reminders import reminder_preference_set
from crm.services.webforms import web_form_create
from suite.models import Role
from suite.testing import make_member, tenant_factory

_seq = itertools.count(1)


def make_campaign(company, *, by=None, code: str | None = None, **fields) -> Campaign:
    n = next(_seq)
    fields.setdefault("name", f"活动{n}")
    fields.setdefault("channel", "wechat")
    fields.setdefault("start_date", date(2026, 1, 1))
    return campaign_create(company=company, by=by, code=code or f"camp-{n}", **fields)


def make_contact(company, *, by=None, **fields):
    fields.setdefault("name", f"客户{next(_seq)}")
    return contact_create(company=company, by=by, force=True, **fields)


@tenant_factory(Campaign)
def campaign_in(company) -> Campaign:
    return make_campaign(company, by=make_member(company, Role.MARKETING).user)


@tenant_factory(CampaignCost)
def campaign_cost_in(company) -> CampaignCost:
    return campaign_cost_add(
        campaign=campaign_in(company), by=None, incurred_on=date(2026, 1, 5), description="广告", amount="100.00"
    )


@tenant_factory(CampaignMember)
def campaign_member_in(company) -> CampaignMember:
    return campaign_member_add(campaign=campaign_in(company), by=None, contact=make_contact(company))


@tenant_factory(CampaignTouch)
def campaign_touch_in(company) -> CampaignTouch:
    return campaign_touch_record(campaign=campaign_in(company), kind="sent", contact=make_contact(company))


@tenant_factory(WebForm)
def web_form_in(company) -> WebForm:
    return web_form_create(
        company=company, by=None, name=f"表单{next(_seq)}", title="联系我们", fields=["name", "phone", "email"]
    )


@tenant_factory(ReminderPreference)
def reminder_preference_in(company) -> ReminderPreference:
    return reminder_preference_set(
        company=company, by=make_member(company, Role.ADMIN).user, email_reminders=True, company_default=True
    )


@tenant_factory(OpportunityNudge)
def nudge_in(company) -> OpportunityNudge:
    owner = make_member(company, Role.SALES).user
    contact = make_contact(company, by=owner)
    opportunity = opportunity_create(company=company, by=owner, name="冷商机", contact=contact, amount=Decimal("10"))
    now = timezone.now()
    return OpportunityNudge.objects.create(
        company=company,
        opportunity=opportunity,
        owner=owner,
        nudged_at=now,
        nudged_on=now.date(),
        stale_days=7,
        last_activity_at=now - timedelta(days=8),
    )
