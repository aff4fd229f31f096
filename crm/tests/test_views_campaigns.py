"""Campaign pages: list, detail with costs, the comparison (sortable table, bar charts, first/last touch), the
permission checks, fixed query counts and no inline script or style."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from crm.models import Campaign, CampaignCost
from crm.services.campaigns import campaign_cost_add, campaign_member_add
from crm.services.leads import lead_create
from crm.tests.factories_campaigns import make_campaign, make_contact
from crm.tests.test_views_customers import assert_csp_clean, browser
from suite.models import Module, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(company, member):
    company.enabled_modules = [Module.CRM]
    company.save()
    return member(company, Role.MARKETING, username="mkt_view")


def _grow(company, by, n):
    for _ in range(n):
        campaign = make_campaign(company)
        campaign_cost_add(campaign=campaign, by=None, incurred_on=date(2026, 1, 1), description="广告", amount="100")
        campaign_member_add(campaign=campaign, by=None, contact=make_contact(company))
        lead_create(company=company, by=by, name="访客", campaign=campaign)


@pytest.mark.parametrize("name", ["crm:campaign-list", "crm:campaign-compare"])
def test_campaign_pages_have_fixed_query_counts(name, company, marketer, django_assert_max_num_queries):
    client = browser(marketer)
    _grow(company, marketer.user, 2)
    small = {}
    # each attribution model on its own: first touch is one query, last touch one per figure
    for query in ("", "?sort=-cost&model=last"):
        with django_assert_max_num_queries(40) as counted:
            page = client.get(reverse(name) + query)
        assert page.status_code == 200
        assert_csp_clean(page.content.decode())
        small[query] = len(counted.captured_queries)
    _grow(company, marketer.user, 6)
    for query, count in small.items():
        with django_assert_max_num_queries(count):
            assert client.get(reverse(name) + query).status_code == 200


def test_compare_page_shows_table_and_bars(company, marketer, sales_user):
    expo = make_campaign(company, name="春季展会", code="expo")
    campaign_cost_add(campaign=expo, by=None, incurred_on=date(2026, 1, 1), description="展位", amount="1000")
    lead_create(company=company, by=sales_user, name="展会访客", campaign=expo)
    html = browser(marketer).get(reverse("crm:campaign-compare") + "?model=first&sort=-leads").content.decode()
    assert "春季展会" in html and "<svg" in html and 'class="bars"' in html
    assert 'aria-sort="descending"' in html


def test_sales_cannot_open_the_comparison(sales):
    assert browser(sales).get(reverse("crm:campaign-compare")).status_code == 403


def test_campaign_create_and_cost_with_errors_on_the_form(company, marketer):
    client = browser(marketer)
    response = client.post(
        reverse("crm:campaign-create"),
        {
            "name": "直播",
            "code": "live",
            "channel": "douyin",
            "status": "planned",
            "budget": "-5",
            "start_date": "2026-03-01",
        },
    )
    assert response.status_code == 200 and response.context["form"].errors["budget"]
    response = client.post(
        reverse("crm:campaign-create"),
        {
            "name": "直播",
            "code": "live",
            "channel": "douyin",
            "status": "planned",
            "budget": "500",
            "start_date": "2026-03-01",
        },
    )
    assert response.status_code == 302
    campaign = Campaign.objects.get(code="live")
    bad = client.post(
        reverse("crm:campaign-cost-add", args=[campaign.pk]),
        {"incurred_on": "2026-03-02", "description": "x", "amount": "-1"},
    )
    assert bad.status_code == 400 and not CampaignCost.objects.exists()
    ok = client.post(
        reverse("crm:campaign-cost-add", args=[campaign.pk]),
        {"incurred_on": "2026-03-02", "description": "投流", "amount": "99.50"},
    )
    assert ok.status_code == 302
    detail = client.get(reverse("crm:campaign-detail", args=[campaign.pk])).content.decode()
    assert "投流" in detail


def test_compare_page_charts_name_campaigns_as_the_table_does(company, marketer):
    expo = make_campaign(company, name="春季展会", name_en="Spring fair", code="fair")
    campaign_cost_add(campaign=expo, by=None, incurred_on=date(2026, 1, 1), description="展位", amount="1000")

    english = browser(marketer).get(reverse("crm:campaign-compare")).content.decode()
    chinese = browser(marketer, language="zh-hans").get(reverse("crm:campaign-compare")).content.decode()

    assert '<span class="bar-label">Spring fair</span>' in english and "春季展会" not in english
    assert '<span class="bar-label">春季展会</span>' in chinese
