"""API of leads, opportunities and activities: the sales flow end to end, and the bad input users send."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Lead, LostReason, Opportunity
from crm.services.opportunities import pipeline_default_ensure
from crm.tests.factories import AccountFactory
from suite.api.throttling import clear_throttles
from suite.models import Role
from suite.models.outbox import OutboxEvent

pytestmark = pytest.mark.django_db

LEADS = "/api/v1/crm/leads/"
OPPORTUNITIES = "/api/v1/crm/opportunities/"
ACTIVITIES = "/api/v1/crm/activities/"


@pytest.fixture(autouse=True)
def _no_throttle():
    clear_throttles()


@pytest.fixture
def stages(company):
    return {s.name: s for s in pipeline_default_ensure(company=company).stages.all()}


def error_fields(response):
    return {e["field"] for e in response.json()["errors"]}


def test_lead_to_won_deal_through_the_api(api_client, sales, stages, company):
    client = api_client(sales)
    # a salesperson enters a lead
    lead = client.post(
        LEADS,
        {"name": "黄蓉", "company_name": "桃花岛贸易", "phone": "13566667777", "city": "舟山", "source": "referral"},
        format="json",
    )
    assert lead.status_code == 201, lead.json()
    lead_id = lead.json()["id"]
    assert lead.json()["owner"]["id"] == sales.user.pk and lead.json()["score_explanation"]["total"] == 0

    # qualifies and converts it
    assert client.post(f"{LEADS}{lead_id}/status/", {"status": "qualified"}, format="json").status_code == 200
    converted = client.post(
        f"{LEADS}{lead_id}/convert/",
        {"opportunity_name": "海产品年度采购", "amount": "360000.00", "expected_close_date": "2027-06-30"},
        format="json",
    )
    assert converted.status_code == 200, converted.json()
    body = converted.json()
    assert body["lead"]["status"] == "converted" and body["reused"] == []
    assert body["account"]["name"] == "桃花岛贸易" and body["contact"]["name"] == "黄蓉"
    opportunity_id = body["opportunity"]

    # converting again is refused clearly
    again = client.post(f"{LEADS}{lead_id}/convert/", {}, format="json")
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "already_converted"

    # drags the deal across the board, then wins it
    url = f"{OPPORTUNITIES}{opportunity_id}/"
    moved = client.post(f"{url}move/", {"stage": stages["商务谈判"].pk}, format="json")
    assert moved.status_code == 200 and moved.json()["stage"]["name"] == "商务谈判"
    assert moved.json()["weighted_amount"] == "252000.00"
    won = client.post(f"{url}move/", {"stage": stages["赢单"].pk}, format="json")
    assert won.status_code == 200 and won.json()["status"] == "won"
    event = OutboxEvent.objects.get(name="crm.opportunity.won")
    assert event.payload["opportunity_id"] == opportunity_id and event.payload["amount"] == "360000.00"
    history = client.get(f"{url}stage-history/").json()
    assert [row["to_stage"]["name"] for row in history] == ["初步接洽", "商务谈判", "赢单"]
    # a won deal is final
    change = client.patch(url, {"amount": "1.00"}, format="json")
    assert change.status_code == 409


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "负数", "amount": "-1.00"}, "amount"),
        ({"name": "太多小数", "amount": "1.001"}, "amount"),
        ({"name": "未知阶段", "stage": 987654}, "stage"),
        ({"name": "", "amount": "1"}, "name"),
        ({"name": "坏币种", "currency": "人民币"}, "currency"),
    ],
)
def test_bad_opportunity_input_is_400(api_client, sales, company, stages, payload, field):
    account = AccountFactory(company=company, by=sales.user)
    response = api_client(sales).post(OPPORTUNITIES, {"account": account.pk, **payload}, format="json")
    assert response.status_code == 400, response.json()
    assert field in error_fields(response)
    assert not Opportunity.objects.exists()


def test_stage_of_another_company_is_unknown(api_client, sales, company, other_company, stages):
    foreign_stage = pipeline_default_ensure(company=other_company).stages.first()
    account = AccountFactory(company=company, by=sales.user)
    response = api_client(sales).post(
        OPPORTUNITIES, {"name": "x", "account": account.pk, "stage": foreign_stage.pk}, format="json"
    )
    assert response.status_code == 400 and error_fields(response) == {"stage"}


def test_losing_needs_a_reason(api_client, sales, company, stages):
    account = AccountFactory(company=company, by=sales.user)
    client = api_client(sales)
    created = client.post(OPPORTUNITIES, {"name": "可能丢", "account": account.pk, "amount": "100"}, format="json")
    url = f"{OPPORTUNITIES}{created.json()['id']}/"
    no_reason = client.post(f"{url}move/", {"stage": stages["输单"].pk}, format="json")
    assert no_reason.status_code == 400 and error_fields(no_reason) == {"lost_reason"}
    reason = LostReason.objects.get(company=company, name="价格过高")
    lost = client.post(f"{url}lose/", {"lost_reason": reason.pk, "note": "贵了 20%"}, format="json")
    assert lost.status_code == 200
    assert (lost.json()["status"], lost.json()["lost_reason"]["name"], lost.json()["lost_note"]) == (
        "lost",
        "价格过高",
        "贵了 20%",
    )


def test_forecast_and_funnel_endpoints(api_client, sales, company, stages):
    account = AccountFactory(company=company, by=sales.user)
    client = api_client(sales)
    for amount, stage in (("100000.00", "方案报价"), ("50000.00", "初步接洽")):
        created = client.post(
            OPPORTUNITIES,
            {"name": amount, "account": account.pk, "amount": amount, "expected_close_date": "2027-05-20"},
            format="json",
        )
        client.post(f"{OPPORTUNITIES}{created.json()['id']}/move/", {"stage": stages[stage].pk}, format="json")
    forecast = client.get(f"{OPPORTUNITIES}forecast/", {"group_by": "owner"})
    assert forecast.status_code == 200
    assert forecast.json() == [
        {
            "month": "2027-05-01",
            "group_id": sales.user.pk,
            "open_count": 2,
            "open_amount": "150000.00",
            "weighted_amount": "55000.00",
            "won_count": 0,
            "won_amount": "0.00",
        }
    ]
    assert client.get(f"{OPPORTUNITIES}forecast/", {"group_by": "planet"}).status_code == 400
    funnel = client.get(f"{OPPORTUNITIES}funnel/", {"pipeline": stages["初步接洽"].pipeline_id})
    reached = [(s["stage"]["name"], s["reached"]) for s in funnel.json()][:3]
    assert reached == [("初步接洽", 2), ("需求确认", 1), ("方案报价", 1)]
    assert client.get(f"{OPPORTUNITIES}funnel/").status_code == 400


def test_lead_rules_and_assignment_api(api_client, admin, sales, member, company):
    reps = [member(company, Role.SALES).user for _ in range(2)]
    client = api_client(admin)
    rule = client.post(
        "/api/v1/crm/assignment-rules/",
        {"name": "华东", "kind": "by_province", "match_values": ["浙江", "江苏"], "assignees": [r.pk for r in reps]},
        format="json",
    )
    assert rule.status_code == 201, rule.json()
    scoring = client.post(
        "/api/v1/crm/scoring-rules/",
        {"name": "浙江加分", "field": "province", "operator": "equals", "value": "浙江", "points": 20},
        format="json",
    )
    assert scoring.status_code == 201, scoring.json()
    bad_rule = client.post(
        "/api/v1/crm/scoring-rules/",
        {"name": "坏", "field": "zodiac", "operator": "equals", "points": 1},
        format="json",
    )
    assert bad_rule.status_code == 400 and "field" in error_fields(bad_rule)

    lead = client.post(LEADS, {"name": "江南客户", "province": "浙江省"}, format="json").json()
    assert lead["owner"]["id"] == reps[0].pk and lead["score"] == 20
    assert lead["score_explanation"]["rules"][0]["name"] == "浙江加分"
    # a salesperson cannot reassign; an admin can, also back to the rules
    url = f"{LEADS}{lead['id']}/assign/"
    assert api_client(sales).post(url, {"owner": sales.user.pk}, format="json").status_code in (403, 404)
    assert client.post(url, {"owner": sales.user.pk}, format="json").json()["owner"]["id"] == sales.user.pk
    assert client.post(url, {}, format="json").json()["owner"]["id"] == reps[1].pk


def test_lead_bad_input(api_client, sales):
    client = api_client(sales)
    response = client.post(LEADS, {"phone": "999", "source": "pigeon"}, format="json")
    assert response.status_code == 400 and {"phone", "source"} <= error_fields(response)
    lead = client.post(LEADS, {"name": "某人"}, format="json").json()
    refused = client.post(f"{LEADS}{lead['id']}/status/", {"status": "disqualified"}, format="json")
    assert refused.status_code == 400 and error_fields(refused) == {"reason"}
    not_a_step = client.post(f"{LEADS}{lead['id']}/status/", {"status": "converted"}, format="json")
    assert not_a_step.status_code == 400
    assert Lead.objects.get(pk=lead["id"]).status == "new"


def test_activities_api_and_my_day(api_client, sales, company):
    account = AccountFactory(company=company, by=sales.user)
    client = api_client(sales)
    due = (timezone.now() - timedelta(hours=1)).isoformat()
    created = client.post(
        ACTIVITIES, {"kind": "call", "subject": "回访客户", "account": account.pk, "due_at": due}, format="json"
    )
    assert created.status_code == 201, created.json()
    activity_id = created.json()["id"]
    assert [a["id"] for a in client.get(f"{ACTIVITIES}my-day/").json()["results"]] == [activity_id]
    done = client.post(f"{ACTIVITIES}{activity_id}/complete/", {"outcome": "客户满意"}, format="json")
    assert done.status_code == 200 and done.json()["is_done"] and done.json()["outcome"] == "客户满意"
    assert client.get(f"{ACTIVITIES}my-day/").json()["results"] == []
    assert client.get(ACTIVITIES, {"done": "true"}).json()["count"] == 1
    unlinked = client.post(ACTIVITIES, {"kind": "task", "subject": "无关联"}, format="json")
    assert unlinked.status_code == 400 and error_fields(unlinked) == {"account"}
    bad_kind = client.post(ACTIVITIES, {"kind": "fax", "subject": "x", "account": account.pk}, format="json")
    assert bad_kind.status_code == 400 and error_fields(bad_kind) == {"kind"}
