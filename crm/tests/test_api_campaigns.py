"""The campaign API: plan, costs, members, touches, comparison; web forms, reminder preferences, nudges —
bad input as 400 with field errors, conflicts as 409, roles refused with 403, and list query counts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from crm.models import Campaign, CampaignCost, WebForm
from crm.services.campaigns import campaign_cost_add, campaign_member_add
from crm.services.leads import lead_create
from crm.tests.factories_campaigns import make_campaign, make_contact, nudge_in
from suite.api.throttling import clear_throttles
from suite.models import Role

pytestmark = pytest.mark.django_db
BASE = "/api/v1/crm"


@pytest.fixture(autouse=True)
def _no_throttles():
    clear_throttles()


@pytest.fixture
def marketer(company, member):
    return member(company, Role.MARKETING, username="mkt")


@pytest.fixture
def mkt_client(api_client, marketer):
    return api_client(marketer)


def test_create_and_update_a_campaign(mkt_client, company):
    response = mkt_client.post(
        f"{BASE}/campaigns/",
        {"name": "双十一直播", "code": "1111 Live", "channel": "douyin", "start_date": "2026-11-01", "budget": "20000"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["code"], body["budget"], body["status"]) == ("1111-live", "20000.00", "planned")
    response = mkt_client.patch(f"{BASE}/campaigns/{body['id']}/", {"status": "active"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "active"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"budget": "-1"}, "budget"),
        ({"end_date": "2025-01-01"}, "end_date"),
        ({"channel": "fax"}, "channel"),
        ({"start_date": "soon"}, "start_date"),
    ],
)
def test_bad_campaign_input_is_a_field_error(mkt_client, payload, field):
    data = {"name": "坏活动", "code": "bad", "channel": "email", "start_date": "2026-01-01", **payload}
    response = mkt_client.post(f"{BASE}/campaigns/", data, format="json")
    assert response.status_code == 400
    assert field in str(response.json())
    assert not Campaign.objects.exists()


def test_duplicate_code_is_a_field_error(mkt_client, company):
    make_campaign(company, code="dup")
    response = mkt_client.post(
        f"{BASE}/campaigns/",
        {"name": "x", "code": "dup", "channel": "email", "start_date": "2026-01-01"},
        format="json",
    )
    assert response.status_code == 400 and "code" in str(response.json())


def test_sales_may_view_but_not_plan_campaigns(api_client, sales, company):
    make_campaign(company)
    client = api_client(sales)
    assert client.get(f"{BASE}/campaigns/").status_code == 200
    response = client.post(
        f"{BASE}/campaigns/", {"name": "x", "code": "x", "channel": "email", "start_date": "2026-01-01"}, format="json"
    )
    assert response.status_code == 403
    assert client.get(f"{BASE}/campaigns/compare/").status_code == 403
    assert client.get(f"{BASE}/campaign-costs/").status_code == 403


def test_costs_members_and_the_comparison(mkt_client, company, sales_user):
    campaign = make_campaign(company, code="expo")
    response = mkt_client.post(
        f"{BASE}/campaign-costs/",
        {"campaign": campaign.pk, "incurred_on": "2026-01-10", "description": "展位费", "amount": "3000.00"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    bad = mkt_client.post(
        f"{BASE}/campaign-costs/",
        {"campaign": campaign.pk, "incurred_on": "2026-01-10", "description": "退款", "amount": "-5"},
        format="json",
    )
    assert bad.status_code == 400 and "amount" in str(bad.json())
    assert CampaignCost.objects.count() == 1

    contact = make_contact(company)
    member = mkt_client.post(
        f"{BASE}/campaign-members/", {"campaign": campaign.pk, "contact": contact.pk}, format="json"
    )
    assert member.status_code == 201, member.json()
    responded = mkt_client.post(
        f"{BASE}/campaign-members/{member.json()['id']}/status/", {"status": "responded"}, format="json"
    )
    assert responded.status_code == 200 and responded.json()["status"] == "responded"
    back = mkt_client.post(f"{BASE}/campaign-members/{member.json()['id']}/status/", {"status": "sent"}, format="json")
    assert back.status_code == 400

    lead_create(company=company, by=sales_user, name="展会访客", campaign=campaign)
    rows = mkt_client.get(f"{BASE}/campaigns/compare/", {"model": "last", "sort": "-leads"}).json()
    row = next(r for r in rows if r["campaign"]["code"] == "expo")
    assert (row["leads"], row["members"], row["responses"], row["cost"], row["cost_per_lead"]) == (
        1,
        2,
        2,
        "3000.00",
        "3000.00",
    )
    assert mkt_client.get(f"{BASE}/campaigns/compare/", {"model": "middle"}).status_code == 400
    assert (
        mkt_client.get(f"{BASE}/campaigns/compare/", {"date_from": "2026-02-01", "date_to": "2026-01-01"}).status_code
        == 400
    )


def test_a_campaign_with_results_answers_409_on_delete(mkt_client, company):
    campaign = make_campaign(company)
    campaign_member_add(campaign=campaign, by=None, contact=make_contact(company))
    assert mkt_client.delete(f"{BASE}/campaigns/{campaign.pk}/").status_code == 409
    empty = make_campaign(company)
    assert mkt_client.delete(f"{BASE}/campaigns/{empty.pk}/").status_code == 204


def test_web_forms_api(mkt_client, company):
    response = mkt_client.post(
        f"{BASE}/web-forms/",
        {"name": "官网", "title": "联系我们", "fields": ["name", "phone"], "required_fields": ["phone"]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["url"] == f"/crm/forms/{body['key']}/" and len(body["key"]) >= 32
    bad = mkt_client.post(
        f"{BASE}/web-forms/",
        {"name": "坏", "title": "t", "fields": ["phone"], "required_fields": ["email"]},
        format="json",
    )
    assert bad.status_code == 400
    assert WebForm.objects.count() == 1


def test_reminder_preferences_api(api_client, sales, company, member):
    client = api_client(sales)
    response = client.post(f"{BASE}/reminder-preferences/", {"email_reminders": True}, format="json")
    assert response.status_code == 201, response.json()
    assert (
        client.post(
            f"{BASE}/reminder-preferences/", {"email_reminders": True, "company_default": True}, format="json"
        ).status_code
        == 400
    )
    admin_client = api_client(member(company, Role.ADMIN, username="adm"))
    assert (
        admin_client.post(
            f"{BASE}/reminder-preferences/", {"email_reminders": True, "company_default": True}, format="json"
        ).status_code
        == 201
    )
    assert len(client.get(f"{BASE}/reminder-preferences/").json()["results"]) == 1  # only their own


def test_activity_api_takes_remind_at(api_client, sales, company):
    contact = make_contact(company, by=sales.user)
    remind = (timezone.now() + timedelta(hours=1)).isoformat()
    response = api_client(sales).post(
        f"{BASE}/activities/",
        {"kind": "task", "subject": "发报价", "contact": contact.pk, "remind_at": remind},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["remind_at"] is not None and response.json()["reminded_at"] is None


def test_pipeline_stale_after_days_via_api(api_client, admin, company):
    from crm.services.opportunities import pipeline_default_ensure

    pipeline = pipeline_default_ensure(company=company)
    client = api_client(admin)
    assert (
        client.patch(f"{BASE}/pipelines/{pipeline.pk}/", {"stale_after_days": 14}, format="json").json()[
            "stale_after_days"
        ]
        == 14
    )
    assert client.patch(f"{BASE}/pipelines/{pipeline.pk}/", {"stale_after_days": 0}, format="json").status_code == 400


# ---------------------------------------------------------------- query counts


@pytest.mark.parametrize(
    "route", ["campaigns", "campaign-costs", "campaign-members", "campaign-touches", "web-forms", "nudges"]
)
def test_list_query_count_does_not_grow(route, api_client, company, member, django_assert_max_num_queries):
    admin = member(company, Role.ADMIN, username=f"adm-{route}")
    client = api_client(admin)

    def fill(n):
        for _ in range(n):
            campaign = make_campaign(company)
            campaign_cost_add(campaign=campaign, by=None, incurred_on=date(2026, 1, 1), description="x", amount="1")
            campaign_member_add(campaign=campaign, by=None, contact=make_contact(company))
            from crm.tests.factories_campaigns import web_form_in

            web_form_in(company)
            nudge = nudge_in(company)
            nudge.__class__.objects.filter(pk=nudge.pk).update(owner=admin.user)

    fill(2)
    with django_assert_max_num_queries(12) as small:
        assert client.get(f"{BASE}/{route}/").status_code == 200
    fill(5)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(f"{BASE}/{route}/")
    assert response.status_code == 200 and response.json()["count"] >= 7


def test_compare_query_count(mkt_client, company, sales_user, django_assert_max_num_queries):
    for _ in range(5):
        lead_create(company=company, by=sales_user, name="访客", campaign=make_campaign(company))
    with django_assert_max_num_queries(14):
        assert mkt_client.get(f"{BASE}/campaigns/compare/").status_code == 200
