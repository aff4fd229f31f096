"""The company's custom fields in the CRM forms and on the record pages; owner and tags on the customer form;
owner and pipeline on the opportunity form."""

import re

import pytest
from django.urls import reverse

from crm.models import Account, Lead, Opportunity, Pipeline
from crm.services.custom_fields import custom_field_set_define
from crm.services.opportunities import pipeline_create, pipeline_default_ensure
from crm.tests.factories import AccountFactory, TagFactory
from crm.tests.test_views_customers import assert_csp_clean, browser
from suite.models import Role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("crm_enabled")]

ACCOUNT_SCHEMA = {
    "type": "object",
    "properties": {
        "level": {"type": "string", "enum": ["A", "B", "C"], "title": "客户等级"},
        "visits": {"type": "integer", "minimum": 0, "title": "Visits per year"},
        "since": {"type": "string", "format": "date", "title": "Customer since"},
        "vip": {"type": "boolean", "title": "VIP"},
        "regions": {"type": "array", "items": {"type": "string", "enum": ["华东", "华南", "华北"]}, "title": "Regions"},
        "codes": {"type": "array", "items": {"type": "integer"}, "title": "ERP codes"},
        "note": {"type": "string", "maxLength": 20, "description": "Short, please"},
    },
    "required": ["level"],
}


@pytest.fixture
def schema(company, admin):
    return custom_field_set_define(company=company, target="account", schema=ACCOUNT_SCHEMA, by=admin.user)


def _errors(html: str) -> str:
    return " ".join(re.findall(r'class="(?:error|errorlist)[^"]*"[^>]*>(.*?)</', html, re.S))


def test_the_account_form_shows_the_custom_fields_and_saves_them_typed(company, sales, schema):
    client = browser(sales)
    form = client.get(reverse("crm:account-create")).content.decode()
    for label in ("客户等级", "Visits per year", "Customer since", "VIP", "Regions", "ERP codes", "Short, please"):
        assert label in form
    assert 'name="custom__level"' in form and 'type="date"' in form and 'name="custom__regions"' in form
    assert_csp_clean(form)

    response = client.post(
        reverse("crm:account-create"),
        {
            "name": "明远科技有限公司",
            "lifecycle_stage": "prospect",
            "custom__level": "A",
            "custom__visits": "3",
            "custom__since": "2025-01-02",
            "custom__vip": "true",
            "custom__regions": ["华东", "华北"],
            "custom__codes": "101\n102\n",
            "custom__note": "",
        },
    )
    assert response.status_code == 302, _errors(response.content.decode())
    account = Account.objects.get(name="明远科技有限公司")
    assert account.custom == {
        "level": "A",
        "visits": 3,
        "since": "2025-01-02",
        "vip": True,
        "regions": ["华东", "华北"],
        "codes": [101, 102],
    }
    page = client.get(reverse("crm:account-detail", args=[account.pk])).content.decode()
    # in the order the admin defined them
    assert re.findall(r'data-testid="custom-value">([^<]*)<', page) == [
        "A",
        "3",
        "2025-01-02",
        "Yes",
        "华东, 华北",
        "101, 102",
    ]

    # Editing: a cleared field is removed, the others are kept.
    edit = client.get(reverse("crm:account-edit", args=[account.pk])).content.decode()
    assert re.search(r'<option value="A" selected>', edit) and "101\n102" in edit
    data = {"name": account.name, "lifecycle_stage": "prospect", "custom__level": "B", "custom__regions": ["华南"]}
    assert client.post(reverse("crm:account-edit", args=[account.pk]), data).status_code == 302
    assert Account.objects.get(pk=account.pk).custom == {"level": "B", "regions": ["华南"]}


def test_bad_custom_values_are_messages_next_to_their_fields_and_nothing_is_saved(company, sales, schema):
    client = browser(sales)
    cases = [
        ({"custom__visits": "-1"}, "custom__visits"),  # the form's minimum
        ({"custom__level": ""}, "custom__level"),  # required
        ({"custom__codes": "abc"}, "custom__codes"),  # the schema's item type, from the service
        ({"custom__note": "长" * 21}, "custom__note"),  # maxLength
        ({"custom__since": "2025-02-30"}, "custom__since"),
    ]
    for values, field in cases:
        data = {"name": "恒达物流", "lifecycle_stage": "lead", "custom__level": "C", **values}
        response = client.post(reverse("crm:account-create"), data)
        html = response.content.decode()
        assert response.status_code == 200, values
        error_block = re.search(rf'id="id_{field}".*?(?=<div class="field|</form>)', html, re.S)
        assert error_block and "error" in error_block.group(0), (values, field)
    assert not Account.objects.filter(name="恒达物流").exists()


def test_owner_and_tags_are_set_on_the_customer_form(company, sales, member, team):
    colleague = member(company, Role.SALES, teams=[team], username="lisi")
    vip, fair = TagFactory(company=company, name="VIP"), TagFactory(company=company, name="展会")
    client = browser(sales)
    data = {"name": "华信电子", "lifecycle_stage": "lead", "owner": colleague.user.pk, "tags": [vip.pk, fair.pk]}
    assert client.post(reverse("crm:account-create"), data).status_code == 302
    account = Account.objects.get(name="华信电子")
    assert account.owner_id == colleague.user.pk and {t.name for t in account.tags.all()} == {"VIP", "展会"}

    edit = {"name": "华信电子", "lifecycle_stage": "lead", "owner": colleague.user.pk, "tags": [fair.pk]}
    assert browser(colleague).post(reverse("crm:account-edit", args=[account.pk]), edit).status_code == 302
    assert [t.name for t in Account.objects.get(pk=account.pk).tags.all()] == ["展会"]


def test_the_opportunity_form_takes_owner_pipeline_and_custom_fields(company, sales, member, team, admin):
    colleague = member(company, Role.SALES, teams=[team], username="lisi")
    pipeline_default_ensure(company=company)
    projects = pipeline_create(
        company=company,
        by=admin.user,
        name="项目型销售",
        stages=[
            {"name": "立项", "probability": 10},
            {"name": "赢单", "probability": 100, "is_won": True},
            {"name": "输单", "probability": 0, "is_lost": True},
        ],
    )
    custom_field_set_define(
        company=company,
        target="opportunity",
        schema={"type": "object", "properties": {"channel": {"type": "string", "title": "渠道"}}},
        by=admin.user,
    )
    account = AccountFactory(company=company, by=sales.user, name="明远科技")
    client = browser(sales)
    form = client.get(reverse("crm:opportunity-create")).content.decode()
    assert "项目型销售" in form and "渠道" in form
    data = {
        "name": "冷库二期",
        "account": account.pk,
        "amount": "120000",
        "owner": colleague.user.pk,
        "pipeline": projects.pk,
        "custom__channel": "代理商",
    }
    response = client.post(reverse("crm:opportunity-create"), data)
    assert response.status_code == 302
    deal = Opportunity.objects.get(name="冷库二期")
    assert (deal.owner_id, deal.stage.pipeline_id, deal.custom) == (
        colleague.user.pk,
        projects.pk,
        {"channel": "代理商"},
    )
    page = browser(colleague).get(reverse("crm:opportunity-detail", args=[deal.pk])).content.decode()
    assert "代理商" in page
    assert Pipeline.objects.filter(company=company).count() == 2


def test_the_lead_form_saves_custom_fields(company, sales, admin):
    custom_field_set_define(
        company=company,
        target="lead",
        schema={"type": "object", "properties": {"course": {"type": "string", "enum": ["雅思", "托福"]}}},
        by=admin.user,
    )
    client = browser(sales)
    data = {"name": "陈晨", "phone": "13800138000", "custom__course": "雅思"}
    assert client.post(reverse("crm:lead-create"), data).status_code == 302
    assert Lead.objects.get(name="陈晨").custom == {"course": "雅思"}
