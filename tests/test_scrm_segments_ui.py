"""Pages and API of segments, rules and pushes: the live count partial, field errors, roles, query counts."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client

from crm.services.customers import customer_tags_set
from crm.tests.factories import ContactFactory, TagFactory
from scrm.models import PushCampaign, Segment, TagRule
from scrm.services import pushes
from scrm.services.segments import segment_create, tag_rule_create
from scrm.tests.factories import make_channel
from scrm.tests.factories_segments import push_message_in
from suite.models import Role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]  # the tests read English messages


@pytest.fixture
def marketer(company, member):
    return member(company, Role.MARKETING)


@pytest.fixture
def browser(marketer):
    client = Client()
    client.force_login(marketer.user)
    return client


def test_live_count_partial_counts_and_explains_errors(company, browser):
    vip = TagFactory(company=company, name="VIP")
    for i in range(3):
        customer_tags_set(
            customer=ContactFactory(company=company, province="广东省" if i else "浙江省"), tags=[vip], by=None
        )
    page = browser.get("/scrm/segments/new/").content.decode()
    assert 'hx-post="/scrm/segments/count/"' in page and "delay:400ms" in page

    query = {"and": [{"tag": vip.pk}, {"field": "province", "in": ["广东省"]}]}
    counted = browser.post("/scrm/segments/count/", {"query": json.dumps(query)}, headers={"HX-Request": "true"})
    assert counted.status_code == 200 and 'data-count="2"' in counted.content.decode()
    broken = browser.post("/scrm/segments/count/", {"query": '{"and": ['}, headers={"HX-Request": "true"})
    assert "Not valid JSON" in broken.content.decode()
    unknown = browser.post("/scrm/segments/count/", {"query": '{"tag": 999999}'}, headers={"HX-Request": "true"})
    assert "query: unknown tag." in unknown.content.decode()


def test_segment_form_saves_and_shows_field_errors(company, browser):
    tag = TagFactory(company=company)
    bad = browser.post("/scrm/segments/new/", {"name": "", "query": '{"field": "age", "min": 40, "max": 3}'})
    assert bad.status_code == 400
    html = bad.content.decode()
    assert "the minimum age is above the maximum" in html
    assert not Segment.objects.exists()
    good = browser.post("/scrm/segments/new/", {"name": "广东VIP", "query": json.dumps({"tag": tag.pk})})
    assert good.status_code == 302
    assert Segment.objects.get().query == {"tag": tag.pk}


def test_rule_form_and_roles(company, member, browser):
    tag = TagFactory(company=company, name="询价")
    response = browser.post(
        "/scrm/rules/", {"name": "价格", "trigger": "keyword", "keywords": "价格，多少钱", "add_tag_id": str(tag.pk)}
    )
    assert response.status_code == 302
    assert TagRule.objects.get().keywords == ["价格", "多少钱"]
    sales = Client()
    sales.force_login(member(company, Role.SALES).user)
    assert sales.get("/scrm/rules/").status_code == 403
    assert sales.post("/scrm/segments/count/", {"query": "{}"}).status_code == 403


def test_push_pages_query_counts(company, browser, django_assert_max_num_queries):
    for _ in range(3):
        message = push_message_in(company)
    pushes.push_send_batch(campaign_id=message.campaign_id)
    with django_assert_max_num_queries(12):
        listing = browser.get("/scrm/pushes/")
    assert listing.status_code == 200 and listing.content.decode().count("/scrm/pushes/") >= 3
    with django_assert_max_num_queries(14):
        detail = browser.get(f"/scrm/pushes/{message.campaign_id}/")
    assert detail.status_code == 200
    with django_assert_max_num_queries(12):
        assert browser.get("/scrm/segments/").status_code == 200


def test_push_form_creates_a_scheduled_campaign_or_shows_errors(company, browser):
    channel = make_channel(company, "simulator")
    segment = segment_create(company=company, name="全部", query={"field": "city", "in": ["深圳市"]})
    bad = browser.post(
        "/scrm/pushes/new/", {"name": "x", "segment": segment.pk, "channels": [channel.pk], "text": "{salary}"}
    )
    assert bad.status_code == 400 and "Unknown variables: salary" in bad.content.decode()
    good = browser.post(
        "/scrm/pushes/new/",
        {
            "name": "周末",
            "segment": segment.pk,
            "channels": [channel.pk],
            "text": "{name}周末见",
            "scheduled_at": "2030-01-01T10:00",
        },
    )
    assert good.status_code == 302
    assert PushCampaign.objects.get().status == "scheduled"


# ---------------------------------------------------------------- API


def test_api_segment_preview_count_and_field_errors(company, marketer, api_client):
    client = api_client(marketer)
    tag = TagFactory(company=company)
    customer_tags_set(customer=ContactFactory(company=company), tags=[tag], by=None)
    assert client.post("/api/v1/scrm/segments/count/", {"query": {"tag": tag.pk}}, format="json").json() == {"count": 1}
    refused = client.post("/api/v1/scrm/segments/", {"name": "x", "query": {"or": []}}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "query"
    created = client.post("/api/v1/scrm/segments/", {"name": "x", "query": {"tag": tag.pk}}, format="json")
    assert created.status_code == 201
    assert client.post(f"/api/v1/scrm/segments/{created.json()['id']}/count/").json() == {"count": 1}


def test_api_consent_and_push_campaign(company, marketer, api_client):
    client = api_client(marketer)
    contact = ContactFactory(company=company)
    consent = client.post(
        "/api/v1/scrm/consents/",
        {"crm_contact_id": contact.pk, "channel_kind": "wecom", "lawful_basis": "consent", "source": "门店扫码"},
        format="json",
    )
    assert consent.status_code == 201, consent.content
    withdrawn = client.post(f"/api/v1/scrm/consents/{consent.json()['id']}/withdraw/")
    assert withdrawn.json()["withdrawn_via"] == "staff"
    bad = client.post(
        "/api/v1/scrm/consents/",
        {"crm_contact_id": 10**9, "channel_kind": "wecom", "lawful_basis": "vibes", "source": ""},
        format="json",
    )
    assert bad.status_code == 400
    assert {e["field"] for e in bad.json()["errors"]} >= {"lawful_basis", "source"}

    channel = make_channel(company, "simulator")
    segment = segment_create(company=company, name="s", query={"field": "city", "in": ["深圳市"]})
    created = client.post(
        "/api/v1/scrm/push-campaigns/",
        {"name": "p", "segment": segment.pk, "contents": [{"channel": channel.pk, "text": "{name} hi"}]},
        format="json",
    )
    assert created.status_code == 201, created.content
    report = client.get(f"/api/v1/scrm/push-campaigns/{created.json()['id']}/report/").json()
    assert report["recipients"] == 0


def test_api_list_query_counts(company, marketer, api_client, django_assert_max_num_queries):
    client = api_client(marketer)
    for _ in range(3):
        push_message_in(company)
    for url in ("/api/v1/scrm/push-campaigns/", "/api/v1/scrm/push-messages/", "/api/v1/scrm/segments/",
                "/api/v1/scrm/consents/", "/api/v1/scrm/tag-rules/"):  # fmt: skip
        with django_assert_max_num_queries(10):
            assert client.get(url).status_code == 200, url


def test_admin_pages_list_and_cancel_through_the_service(company, admin_client):
    message = push_message_in(company)
    for url in (
        "/admin/scrm/tagrule/",
        "/admin/scrm/segment/",
        "/admin/scrm/consent/",
        "/admin/scrm/pushpolicy/",
        "/admin/scrm/pushcampaign/",
        "/admin/scrm/pushmessage/",
        "/admin/crm/tagchange/",
        "/admin/crm/contactfacts/",
        f"/admin/scrm/pushcampaign/{message.campaign_id}/change/",
    ):
        assert admin_client.get(url).status_code == 200, url
    response = admin_client.post(
        "/admin/scrm/pushcampaign/", {"action": "cancel", "_selected_action": [message.campaign_id]}
    )
    assert response.status_code == 302
    message.refresh_from_db()
    assert (message.status, message.skip_reason) == ("skipped", "cancelled")


def test_a_purchase_rule_shows_its_minimum_as_money(company, browser):
    big = TagFactory(company=company, name="大单")
    tag_rule_create(
        company=company, name="大单客户", trigger="purchase", min_amount=Decimal("10000"), add_tag_id=big.pk
    )

    html = browser.get("/scrm/rules/").content.decode()

    assert "≥ CN¥10,000.00" in html
