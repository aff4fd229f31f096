"""Campaigns: plan, costs, members and touches, attribution (first and last touch), ROI and cost per lead /
customer, the lead conversion carrying touches over, merges, and the ``scrm.campaign.touched`` handler."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.errors import CrmConflict
from crm.models import CampaignCost, CampaignMember, CampaignTouch, LeadStatus
from crm.selectors_campaigns import campaign_comparison
from crm.services.campaigns import (
    campaign_cost_add,
    campaign_create,
    campaign_delete,
    campaign_member_add,
    campaign_member_status_set,
    campaign_update,
)
from crm.services.customers import customer_merge
from crm.services.leads import lead_convert, lead_create
from crm.services.opportunities import opportunity_win
from crm.tests.factories_campaigns import make_campaign, make_contact
from suite import events
from suite.events.relay import relay_batch
from suite.models import Role
from suite.policy import Actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(company, member):
    return member(company, Role.MARKETING, username="marketer")


@pytest.fixture
def marketing_actor(marketer):
    return Actor(marketer)


# ---------------------------------------------------------------- plan and costs


def test_campaign_create_normalises_and_checks_the_plan(company, marketer):
    campaign = campaign_create(
        company=company,
        by=marketer.user,
        name=" 春季展会 ",
        code="Spring Expo 2026",
        channel="exhibition",
        start_date=date(2026, 3, 1),
        end_date=date(2026, 3, 31),
        budget="50000",
        target_segment="华东制造业",
    )
    assert (campaign.name, campaign.code, campaign.budget, campaign.status) == (
        "春季展会",
        "spring-expo-2026",
        Decimal("50000.00"),
        "planned",
    )
    assert campaign.owner == marketer.user


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"budget": "-1"}, "budget"),
        ({"budget": "abc"}, "budget"),
        ({"end_date": date(2025, 12, 31)}, "end_date"),
        ({"channel": "carrier_pigeon"}, "channel"),
        ({"status": "paused"}, "status"),
        ({"code": "!!!"}, "code"),
    ],
)
def test_campaign_create_refuses_bad_input(company, fields, field):
    with pytest.raises(ValidationError) as error:
        make_campaign(company, **fields)
    assert field in error.value.message_dict


def test_campaign_code_is_unique_in_the_company(company, other_company):
    make_campaign(company, code="spring")
    make_campaign(other_company, code="spring")  # another company may use it
    with pytest.raises(ValidationError) as error:
        make_campaign(company, code="SPRING")
    assert "code" in error.value.message_dict


def test_campaign_update_moves_status_and_keeps_constraints(company):
    campaign = make_campaign(company)
    campaign = campaign_update(campaign=campaign, by=None, status="active", budget="100.50")
    assert (campaign.status, campaign.budget) == ("active", Decimal("100.50"))
    with pytest.raises(ValidationError):
        campaign_update(campaign=campaign, by=None, end_date=date(2020, 1, 1))


def test_costs_are_positive_decimals_also_in_the_database(company):
    campaign = make_campaign(company)
    cost = campaign_cost_add(
        campaign=campaign, by=None, incurred_on=date(2026, 1, 2), description="朋友圈广告", amount="1200.50"
    )
    assert cost.amount == Decimal("1200.50")
    for bad in ("0", "-5", "x"):
        with pytest.raises(ValidationError) as error:
            campaign_cost_add(campaign=campaign, by=None, incurred_on=date(2026, 1, 2), description="x", amount=bad)
        assert "amount" in error.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignCost.objects.filter(pk=cost.pk).update(amount=Decimal("-1"))


def test_a_campaign_with_results_is_not_deleted(company):
    empty = make_campaign(company)
    campaign_delete(campaign=empty, by=None)
    used = make_campaign(company)
    campaign_member_add(campaign=used, by=None, contact=make_contact(company))
    with pytest.raises(CrmConflict):
        campaign_delete(campaign=used, by=None)


# ---------------------------------------------------------------- members and touches


def test_member_add_records_touches_and_status_only_moves_forward(company):
    campaign = make_campaign(company)
    contact = make_contact(company)
    member = campaign_member_add(campaign=campaign, by=None, contact=contact)
    again = campaign_member_add(campaign=campaign, by=None, contact=contact)
    assert again.pk == member.pk and member.status == "sent"
    member = campaign_member_status_set(member=member, by=None, status="responded")
    assert member.responded_at is not None
    assert list(CampaignTouch.objects.filter(campaign=campaign).order_by("id").values_list("kind", flat=True)) == [
        "sent",
        "responded",
    ]
    with pytest.raises(ValidationError):
        campaign_member_status_set(member=member, by=None, status="sent")


def test_member_is_exactly_one_record_of_the_company(company, other_company):
    campaign = make_campaign(company)
    with pytest.raises(ValidationError):
        campaign_member_add(campaign=campaign, by=None)
    with pytest.raises(ValidationError):
        campaign_member_add(campaign=campaign, by=None, contact=make_contact(other_company))


def test_a_contact_touch_also_counts_for_its_account(company):
    from crm.tests.factories import AccountFactory

    account = AccountFactory(company=company)
    contact = make_contact(company, account=account)
    campaign = make_campaign(company)
    campaign_member_add(campaign=campaign, by=None, contact=contact)
    touch = CampaignTouch.objects.get(campaign=campaign)
    assert (touch.contact_id, touch.account_id) == (contact.pk, account.pk)


def test_lead_created_for_a_campaign_carries_it_and_conversion_carries_the_touches(company, sales_user):
    campaign = make_campaign(company)
    lead = lead_create(company=company, by=sales_user, name="王芳", company_name="芳华贸易", campaign=campaign)
    assert lead.campaign == campaign
    member = CampaignMember.objects.get(campaign=campaign, lead=lead)
    assert member.status == "responded"
    touch = CampaignTouch.objects.get(campaign=campaign, lead=lead)
    assert (touch.kind, touch.touched_at) == ("lead_created", lead.created_at)

    result = lead_convert(lead=lead, by=sales_user, amount="8000")
    touch.refresh_from_db()
    assert (touch.opportunity_id, touch.account_id, touch.contact_id) == (
        result.opportunity.pk,
        result.account.pk,
        result.contact.pk,
    )
    member.refresh_from_db()
    assert member.status == "converted" and member.converted_at is not None
    assert result.lead.status == LeadStatus.CONVERTED


def test_lead_create_refuses_another_companys_campaign(company, other_company, sales_user):
    with pytest.raises(ValidationError) as error:
        lead_create(company=company, by=sales_user, name="李雷", campaign=make_campaign(other_company))
    assert "campaign" in error.value.message_dict


def test_merging_two_members_of_one_campaign_keeps_one_membership(company):
    campaign = make_campaign(company)
    survivor, duplicate = make_contact(company, name="张伟"), make_contact(company, name="张伟")
    campaign_member_add(campaign=campaign, by=None, contact=survivor)
    campaign_member_add(campaign=campaign, by=None, contact=duplicate)
    customer_merge(survivor=survivor, duplicate=duplicate, by=None)
    assert CampaignMember.objects.filter(campaign=campaign).count() == 1
    assert CampaignTouch.objects.filter(campaign=campaign, contact=survivor).count() == 2


# ---------------------------------------------------------------- attribution and ROI


@pytest.fixture
def two_campaigns(company, sales_user):
    """A brings lead 1 (converted, won 3,000); B touches lead 1 after it was created (before the deal) and
    brings lead 2. A cost 1,000, B 500."""
    a = make_campaign(company, name="A 展会", code="a")
    b = make_campaign(company, name="B 直播", code="b")
    campaign_cost_add(campaign=a, by=None, incurred_on=date(2026, 1, 3), description="展位", amount="1000")
    campaign_cost_add(campaign=b, by=None, incurred_on=date(2026, 1, 4), description="投流", amount="500")
    lead_1 = lead_create(company=company, by=sales_user, name="赵敏", company_name="敏捷科技", campaign=a)
    campaign_member_add(campaign=b, by=None, lead=lead_1, at=timezone.now())
    conversion = lead_convert(lead=lead_1, by=sales_user, amount="3000")
    opportunity_win(opportunity=conversion.opportunity, by=sales_user)
    lead_create(company=company, by=sales_user, name="钱进", campaign=b)
    return a, b


def _by_name(rows):
    return {row.campaign.code: row for row in rows}


def test_first_touch_credits_the_campaign_that_brought_the_lead(two_campaigns, marketing_actor):
    rows = _by_name(campaign_comparison(marketing_actor, model="first"))
    a, b = rows["a"], rows["b"]
    assert (a.leads, a.opportunities, a.customers, a.won_deals, a.won_revenue) == (1, 1, 1, 1, Decimal("3000.00"))
    assert (b.leads, b.opportunities, b.customers, b.won_deals, b.won_revenue) == (1, 0, 0, 0, Decimal("0.00"))
    assert (a.cost, a.roi, a.cost_per_lead, a.cost_per_customer) == (
        Decimal("1000.00"),
        Decimal("2.00"),
        Decimal("1000.00"),
        Decimal("1000.00"),
    )
    assert (b.roi, b.cost_per_lead, b.cost_per_customer) == (Decimal("-1.00"), Decimal("500.00"), None)
    # lead 1 converted: its memberships of A and B are both "converted"
    assert (a.members, a.responses, b.members, b.responses) == (1, 1, 2, 2)


def test_last_touch_credits_the_latest_campaign_before_the_deal(two_campaigns, marketing_actor):
    rows = _by_name(campaign_comparison(marketing_actor, model="last"))
    a, b = rows["a"], rows["b"]
    # leads: B touched lead 1 only after it was created, so each campaign still has its own lead
    assert (a.leads, b.leads) == (1, 1)
    assert (a.opportunities, a.customers, a.won_revenue) == (0, 0, Decimal("0.00"))
    assert (b.opportunities, b.customers, b.won_revenue, b.roi) == (1, 1, Decimal("3000.00"), Decimal("5.00"))


def test_comparison_sorts_and_filters_by_period(two_campaigns, marketing_actor):
    rows = campaign_comparison(marketing_actor, model="first", sort="-cost")
    assert [row.campaign.code for row in rows] == ["a", "b"]
    rows = campaign_comparison(marketing_actor, model="first", sort="cost_per_customer")
    assert [row.campaign.code for row in rows] == ["a", "b"]  # empty values last
    later = campaign_comparison(marketing_actor, model="first", date_from=timezone.localdate() + timedelta(days=1))
    assert all(row.leads == 0 and row.cost == 0 for row in later)


def test_comparison_query_count_does_not_grow(company, sales_user, marketing_actor, django_assert_max_num_queries):
    for i in range(6):
        campaign = make_campaign(company)
        campaign_cost_add(campaign=campaign, by=None, incurred_on=date(2026, 1, 1), description="x", amount="10")
        for j in range(3):
            lead_create(company=company, by=sales_user, name=f"线索{i}-{j}", campaign=campaign)
    with django_assert_max_num_queries(8):
        rows = campaign_comparison(marketing_actor, model="last")
    assert sum(row.leads for row in rows) == 18


# ---------------------------------------------------------------- scrm.campaign.touched


def _publish_touch(company, campaign, contact, kind: str, touched_at) -> events.Event:
    with transaction.atomic():
        return events.publish(
            "scrm.campaign.touched",
            {
                "company_id": company.pk,
                "crm_campaign_id": campaign.pk,
                "contact_id": contact.pk,
                "account_id": None,
                "touched_at": touched_at.isoformat(),
                "kind": kind,
            },
            company_id=company.pk,
        )


def test_scrm_campaign_touched_adds_member_and_touch_once(company):
    campaign = make_campaign(company)
    contact = make_contact(company)
    sent_at = timezone.now() - timedelta(hours=2)
    _publish_touch(company, campaign, contact, "sent", sent_at)
    response = _publish_touch(company, campaign, contact, "responded", sent_at + timedelta(hours=1))
    relay_batch()

    member = CampaignMember.objects.get(campaign=campaign, contact=contact)
    assert (member.status, member.sent_at, member.responded_at) == ("responded", sent_at, sent_at + timedelta(hours=1))
    touches = list(CampaignTouch.objects.filter(campaign=campaign).order_by("touched_at").values_list("kind", "source"))
    assert touches == [("sent", "scrm"), ("responded", "scrm")]

    # the same event handled again (an operator's retry) changes nothing
    from crm.events_campaigns import campaign_touch_from_scrm
    from suite.events.registry import Event

    campaign_touch_from_scrm(
        Event(
            id=response.pk,
            uuid=response.uuid,
            name=response.name,
            version=1,
            payload=response.payload,
            company_id=company.pk,
            correlation_id=response.correlation_id,
            created_at=response.created_at,
            created_by_id=None,
            attempts=0,
        )
    )
    assert CampaignTouch.objects.filter(campaign=campaign).count() == 2


def test_scrm_campaign_touched_ignores_another_companys_campaign(company, other_company):
    campaign = make_campaign(other_company)
    contact = make_contact(company)
    _publish_touch(company, campaign, contact, "sent", timezone.now())
    relay_batch()
    assert not CampaignMember.objects.exists()
