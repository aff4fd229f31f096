"""The lead's page: details, why the score is what it is (each matched rule and its points), activities, and the
status change (a disqualification needs its reason)."""

import re

import pytest
from django.urls import reverse

from crm.models import Lead, LeadStatus
from crm.services.activities import activity_create
from crm.services.leads import lead_create, lead_scoring_rule_create
from crm.tests.test_views_customers import assert_csp_clean, browser
from suite.models import Role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("crm_enabled")]


@pytest.fixture
def lead(company, sales, admin):
    lead_scoring_rule_create(
        company=company,
        by=admin.user,
        name="展会来源",
        field="source",
        operator="equals",
        value="exhibition",
        points=30,
    )
    lead_scoring_rule_create(company=company, by=admin.user, name="有电话", field="phone", operator="is_set", points=10)
    lead_scoring_rule_create(
        company=company, by=admin.user, name="个人邮箱", field="email", operator="contains", value="qq.com", points=-5
    )
    lead = lead_create(
        company=company,
        by=sales.user,
        name="陈晨",
        company_name="晨光文具",
        phone="13800138000",
        email="chen@qq.com",
        source="exhibition",
    )
    activity_create(company=company, by=sales.user, kind="call", subject="首次电话沟通", lead=lead)
    return lead


def test_the_lead_page_explains_the_score_and_lists_activities(company, sales, lead):
    client = browser(sales)
    html = client.get(reverse("crm:lead-detail", args=[lead.pk])).content.decode()
    assert_csp_clean(html)
    assert re.search(r'data-testid="lead-score">35<', html)
    rows = re.findall(r"<tr><td>([^<]+)</td>.*?<td class=\"num\">([^<]+)</td></tr>", html, re.S)
    assert rows == [("展会来源", "+30"), ("有电话", "+10"), ("个人邮箱", "-5")]
    assert "首次电话沟通" in html
    assert reverse("crm:lead-detail", args=[lead.pk]) in client.get(reverse("crm:lead-list")).content.decode()


def test_the_status_changes_from_the_page_and_disqualifying_needs_a_reason(company, sales, lead, english):
    client = browser(sales)
    url = reverse("crm:lead-status", args=[lead.pk])
    response = client.post(url, {"status": "disqualified", "reason": ""}, follow=True)
    assert [str(m) for m in response.context["messages"]] == ["Say why the lead is disqualified."]
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.NEW
    client.post(url, {"status": "contacted"})
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.CONTACTED
    client.post(url, {"status": "disqualified", "reason": "预算不足"})
    assert Lead.objects.filter(pk=lead.pk, status=LeadStatus.DISQUALIFIED, disqualified_reason="预算不足").exists()
    assert client.post(url, {"status": "converted"}, follow=True).status_code == 200  # refused with a message
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.DISQUALIFIED


def test_another_salespersons_lead_is_a_404(company, member, lead):
    stranger = browser(member(company, Role.SALES, username="stranger"))
    assert stranger.get(reverse("crm:lead-detail", args=[lead.pk])).status_code == 404
    assert stranger.post(reverse("crm:lead-status", args=[lead.pk]), {"status": "contacted"}).status_code == 404
