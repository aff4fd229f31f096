"""Campaign members and web forms in the browser: adding the customers of a list filter / search (ticked or
all that match) or of a saved segment, removing a member, the web form list and its create / edit page (public
URL, embed snippet, assignment, spam protection) — each checked against the policy layer."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import CampaignMember, ContactTag, WebForm
from crm.services.campaigns import campaign_member_add
from crm.tests.factories import AccountFactory, ContactFactory
from crm.tests.factories_campaigns import make_campaign
from crm.tests.test_views_customers import assert_csp_clean, browser
from suite.models import Module, Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def crm_enabled(company):
    company.enabled_modules = [Module.CRM]
    company.save()


@pytest.fixture
def marketer(company, member):
    return member(company, Role.MARKETING, username="mkt_members")


def test_marketing_adds_the_ticked_customers_of_a_search(company, marketer, sales_user):
    campaign = make_campaign(company)
    hangzhou = [AccountFactory(company=company, by=sales_user, name=f"杭州客户{i}", city="杭州") for i in range(3)]
    AccountFactory(company=company, by=sales_user, name="苏州客户", city="苏州")
    client = browser(marketer)
    url = reverse("crm:campaign-members-add", args=[campaign.pk])

    page = client.get(url, {"source": "account", "city": "杭州"}).content.decode()
    response = client.post(url, {"source": "account", "city": "杭州", "pick": [hangzhou[0].pk, hangzhou[1].pk]})

    assert "3 match" in page and "杭州客户2" in page and "苏州客户" not in page
    assert_csp_clean(page)
    assert response.status_code == 302
    members = CampaignMember.objects.filter(campaign=campaign)
    assert sorted(members.values_list("account_id", flat=True)) == sorted([hangzhou[0].pk, hangzhou[1].pk])
    assert all(m.status == "sent" for m in members)


def test_add_all_matches_skips_existing_members_and_a_tampered_pick_adds_nothing_outside_the_filter(
    company, marketer, sales_user
):
    campaign = make_campaign(company)
    contacts = [ContactFactory(company=company, by=sales_user, name=f"王{i}", city="上海") for i in range(4)]
    outsider = ContactFactory(company=company, by=sales_user, name="外人", city="北京")
    campaign_member_add(campaign=campaign, by=None, contact=contacts[0])
    client = browser(marketer)
    url = reverse("crm:campaign-members-add", args=[campaign.pk])

    client.post(url, {"source": "contact", "city": "上海", "pick": [outsider.pk]})
    response = client.post(url, {"source": "contact", "city": "上海", "all": "1"}, follow=True)

    assert "3 added to the campaign (1 were members already)." in response.content.decode()
    assert set(CampaignMember.objects.filter(campaign=campaign).values_list("contact_id", flat=True)) == {
        c.pk for c in contacts
    }


def test_members_come_from_a_saved_segment(company, marketer, sales_user):
    from scrm.tests.factories_segments import segment_in

    campaign = make_campaign(company)
    segment = segment_in(company)  # "contacts tagged T"
    tagged = [ContactFactory(company=company, by=sales_user, name=f"标签客户{i}") for i in range(2)]
    ContactFactory(company=company, by=sales_user, name="无标签")
    for contact in tagged:
        ContactTag.objects.create(contact=contact, tag_id=segment.query["tag"])
    client = browser(marketer)
    url = reverse("crm:campaign-members-add", args=[campaign.pk])

    page = client.get(url, {"source": "segment", "segment": segment.pk}).content.decode()
    client.post(url, {"source": "segment", "segment": segment.pk, "all": "1"})

    assert "2 match" in page and "标签客户1" in page and "无标签" not in page
    assert set(CampaignMember.objects.filter(campaign=campaign).values_list("contact_id", flat=True)) == {
        c.pk for c in tagged
    }


def test_a_member_is_removed_from_the_campaign_page(company, marketer, sales_user):
    campaign = make_campaign(company)
    member = campaign_member_add(campaign=campaign, by=None, account=AccountFactory(company=company, by=sales_user))
    client = browser(marketer)

    page = client.get(reverse("crm:campaign-detail", args=[campaign.pk])).content.decode()
    response = client.post(reverse("crm:campaign-member-remove", args=[campaign.pk, member.pk]))

    assert "Add members" in page and reverse("crm:campaign-member-remove", args=[campaign.pk, member.pk]) in page
    assert response.status_code == 302 and not CampaignMember.objects.filter(pk=member.pk).exists()


def test_sales_and_managers_may_not_add_or_remove_members(company, member, sales, sales_user):
    campaign = make_campaign(company)
    added = campaign_member_add(campaign=campaign, by=None, account=AccountFactory(company=company, by=sales_user))
    manager = member(company, Role.MANAGER)

    for who in (sales, manager):
        client = browser(who)
        add = client.post(reverse("crm:campaign-members-add", args=[campaign.pk]), {"source": "account", "all": "1"})
        remove = client.post(reverse("crm:campaign-member-remove", args=[campaign.pk, added.pk]))
        assert add.status_code in (403, 404) and remove.status_code in (403, 404)
    assert CampaignMember.objects.filter(campaign=campaign).count() == 1


# ---------------------------------------------------------------- web forms


def test_marketing_creates_a_web_form_and_sees_its_address_and_snippet(company, marketer):
    campaign = make_campaign(company, code="spring-fair")
    client = browser(marketer)

    response = client.post(
        reverse("crm:web-form-create"),
        {
            "name": "官网留资",
            "title": "预约演示 <Demo>",
            "fields": ["name", "phone", "city"],
            "required_fields": ["phone"],
            "source": "website",
            "campaign": campaign.pk,
            "success_message": "谢谢",
            "is_active": "on",
        },
        follow=True,
    )

    form = WebForm.objects.get(company=company, name="官网留资")
    html = response.content.decode()
    assert (form.fields, form.required_fields, form.campaign_id) == (["name", "phone", "city"], ["phone"], campaign.pk)
    assert f"/crm/forms/{form.key}/" in html and "?utm_campaign=spring-fair" in html
    assert "预约演示 &amp;lt;Demo&amp;gt;" in html  # the snippet's title is escaped HTML, shown as text
    assert "Spam protection" in html and "5 submissions per 10 minutes" in html
    assert_csp_clean(html)
    listing = client.get(reverse("crm:web-form-list")).content.decode()
    assert "官网留资" in listing and f"/crm/forms/{form.key}/" in listing


def test_bad_web_form_configuration_shows_field_errors_and_saves_nothing(company, marketer):
    client = browser(marketer)

    response = client.post(
        reverse("crm:web-form-create"),
        {"name": "坏表单", "title": "T", "fields": ["phone"], "required_fields": ["email"], "source": "website"},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "Ask for the name or the company name" in html and "A required field must be one of the fields asked" in html
    assert not WebForm.objects.filter(company=company, name="坏表单").exists()


def test_editing_a_web_form_keeps_its_key(company, marketer):
    from crm.tests.factories_campaigns import web_form_in

    form = web_form_in(company)
    key = form.key
    client = browser(marketer)

    client.post(
        reverse("crm:web-form-edit", args=[form.pk]),
        {"name": "改名", "title": "新标题", "fields": ["name", "email"], "source": "partner"},
    )

    form.refresh_from_db()
    assert (form.name, form.title, form.source, form.key, form.is_active) == ("改名", "新标题", "partner", key, False)


def test_sales_may_not_see_or_configure_web_forms(company, sales):
    from crm.tests.factories_campaigns import web_form_in

    form = web_form_in(company)
    client = browser(sales)

    assert client.get(reverse("crm:web-form-list")).status_code == 403
    assert client.get(reverse("crm:web-form-create")).status_code == 403
    assert client.post(reverse("crm:web-form-edit", args=[form.pk]), {"name": "x"}).status_code == 404
