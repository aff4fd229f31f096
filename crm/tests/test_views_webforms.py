"""The public web-to-lead form: honeypot, minimum fill time (signed timestamp), per-IP rate limit, invalid
phone, and a valid submission that goes through lead_create (assignment rules, scoring, source, campaign)."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.urls import reverse

from crm.models import CampaignTouch, Lead
from crm.services import webforms
from crm.services.leads import assignment_rule_create, lead_scoring_rule_create
from crm.services.webforms import form_token_issue, web_form_create
from crm.tests.factories_campaigns import make_campaign
from suite.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def web_form(company):
    return web_form_create(
        company=company,
        by=None,
        name="官网咨询",
        title="联系我们",
        fields=["name", "company_name", "phone", "email", "province", "notes"],
        required_fields=["name", "phone"],
        campaign=make_campaign(company, code="default-camp"),
        success_message="谢谢，我们会尽快联系您。",
    )


@pytest.fixture(autouse=True)
def _clean_rate_limits(web_form):
    cache.delete_many([f"crm:webform:{web_form.pk}:{ip}" for ip in ("203.0.113.7", "203.0.113.8")])


def _post(client, web_form, *, ip="203.0.113.7", age=10, query="", **fields):
    data = {
        "name": "陈静",
        "company_name": "静好文具",
        "phone": "138 1234 5678",
        "email": "Chen@Example.com",
        "province": "广东",
        "notes": "想要报价",
        "website_url": "",
        "form_token": form_token_issue(web_form, now=time.time() - age),
        **fields,
    }
    url = reverse("crm:web-form", args=[web_form.key]) + query
    return client.post(url, data, REMOTE_ADDR=ip)


def test_the_form_page_is_public_and_carries_a_signed_timestamp(client, web_form):
    page = client.get(reverse("crm:web-form", args=[web_form.key]) + "?utm_campaign=spring")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="form_token"' in html and 'value="spring"' in html and 'name="website_url"' in html
    assert client.get(reverse("crm:web-form", args=["not-a-key"])).status_code == 404


def test_a_valid_submission_creates_a_scored_assigned_lead_with_its_campaign(client, company, member, web_form):
    rep = member(company, Role.SALES, username="gd_rep").user
    assignment_rule_create(
        company=company, by=None, name="广东", kind="by_province", match_values=["广东省"], assignees=[rep]
    )
    lead_scoring_rule_create(
        company=company, by=None, name="官网", field="source", operator="equals", value="website", points=30
    )
    spring = make_campaign(company, code="spring")
    response = _post(client, web_form, query="?utm_campaign=SPRING")
    assert response.status_code == 200
    assert "谢谢，我们会尽快联系您。" in response.content.decode()
    lead = Lead.objects.get()
    assert (lead.name, lead.phone, lead.email, lead.source) == ("陈静", "+8613812345678", "chen@example.com", "website")
    assert (lead.owner, lead.score, lead.campaign) == (rep, 30, spring)
    assert CampaignTouch.objects.get(lead=lead).source == "web_form"


def test_without_a_campaign_in_the_link_the_forms_default_is_used(client, web_form):
    assert _post(client, web_form).status_code == 200
    assert Lead.objects.get().campaign.code == "default-camp"


def test_honeypot_submissions_are_thanked_and_dropped(client, web_form):
    response = _post(client, web_form, website_url="http://spam.example")
    assert response.status_code == 200
    assert not Lead.objects.exists()


def test_too_fast_submissions_are_refused_with_a_message(client, web_form):
    client.cookies["django_language"] = "en"  # the assertion reads the English message
    response = _post(client, web_form, age=0)
    assert response.status_code == 400
    assert "very fast" in response.content.decode()
    assert not Lead.objects.exists()


def test_tampered_or_foreign_tokens_are_refused(client, web_form, company):
    assert _post(client, web_form, form_token="forged").status_code == 400
    other = web_form_create(company=company, by=None, name="另一个", title="t", fields=["name"])
    assert _post(client, web_form, form_token=form_token_issue(other, now=time.time() - 10)).status_code == 400
    assert not Lead.objects.exists()


def test_rate_limit_per_ip(client, web_form):
    for i in range(webforms.RATE_LIMIT):
        assert _post(client, web_form, name=f"访客{i}").status_code == 200
    refused = _post(client, web_form, name="第六位")
    assert refused.status_code == 429
    assert Lead.objects.count() == webforms.RATE_LIMIT
    assert _post(client, web_form, ip="203.0.113.8", name="另一个网络").status_code == 200


def test_invalid_phone_is_shown_next_to_the_field(client, web_form):
    response = _post(client, web_form, phone="12345")
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["phone"]
    assert not Lead.objects.exists()
    assert 'name="form_token"' in response.content.decode()


def test_required_fields_are_enforced(client, web_form):
    response = _post(client, web_form, name="")
    assert response.status_code == 400
    assert response.context["form"].errors["name"]
    assert not Lead.objects.exists()


def test_an_inactive_form_is_gone(client, web_form):
    from crm.services.webforms import web_form_update

    web_form_update(form=web_form, by=None, is_active=False)
    assert client.get(reverse("crm:web-form", args=[web_form.key])).status_code == 404


def test_form_configuration_is_checked(company):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        web_form_create(company=company, by=None, name="坏", title="t", fields=["phone"], required_fields=["email"])
    assert {"fields", "required_fields"} <= set(error.value.message_dict)
    with pytest.raises(ValidationError):
        web_form_create(company=company, by=None, name="坏2", title="t", fields=["name", "password"])
