"""CRM settings in the browser: lead scoring and assignment rules, SLA targets and ticket categories, custom fields —
added and removed through the services by admins, shown read-only to the others, bad input as form messages."""

import pytest
from django.urls import reverse

from crm.models import AssignmentRule, CustomFieldSet, LeadScoringRule, SlaPolicy, TicketCategory
from crm.services.leads import lead_create
from crm.tests.test_views_customers import assert_csp_clean, browser
from suite.models import Role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("crm_enabled")]


@pytest.fixture
def client(admin):
    return browser(admin)


def _errors(response) -> str:
    return response.content.decode() if response.status_code == 200 else ""


def test_scoring_rules_are_added_used_and_removed(client, company, sales):
    url = reverse("crm:settings-scoring")
    bad = client.post(url, {"name": "太多", "field": "source", "operator": "equals", "value": "x", "points": "500"})
    assert bad.status_code == 200 and "100" in _errors(bad) and not LeadScoringRule.objects.exists()
    data = {"name": "华南", "field": "province", "operator": "in", "value": "广东，福建", "points": "20"}
    assert client.post(url, data).status_code == 302
    rule = LeadScoringRule.objects.get(name="华南")
    assert rule.value == ["广东", "福建"] and rule.points == 20
    page = client.get(url).content.decode()
    assert_csp_clean(page)
    assert "华南" in page and "+20" in page
    assert lead_create(company=company, by=sales.user, name="陈晨", province="广东").score == 20

    assert client.post(reverse("crm:settings-scoring-delete", args=[rule.pk])).status_code == 302
    assert not LeadScoringRule.objects.exists()


def test_assignment_rules_route_new_leads(client, company, member, sales):
    colleague = member(company, Role.SALES, username="lisi")
    url = reverse("crm:settings-assignment")
    data = {"name": "华南大区", "kind": "by_province", "match_values": "广东", "assignees": [colleague.user.pk]}
    assert client.post(url, {**data, "priority": "10"}).status_code == 302
    rule = AssignmentRule.objects.get(name="华南大区")
    assert rule.match_values == ["广东"]
    assert lead_create(company=company, by=None, name="王五", province="广东省").owner_id == colleague.user.pk
    duplicate = client.post(url, {**data, "priority": "20"})
    assert duplicate.status_code == 200 and AssignmentRule.objects.count() == 1  # the name is taken: a message
    assert client.post(reverse("crm:settings-assignment-delete", args=[rule.pk])).status_code == 302
    assert not AssignmentRule.objects.exists()


def test_sla_targets_and_categories(client, company, english):
    url = reverse("crm:settings-service")
    data = {"priority": "urgent", "first_response_minutes": "30", "resolution_minutes": "10"}
    refused = client.post(url, data)
    assert "Resolution cannot be due before the first response." in _errors(refused)
    assert not SlaPolicy.objects.exists()
    assert client.post(url, {**data, "resolution_minutes": "240"}).status_code == 302
    assert SlaPolicy.objects.filter(priority="urgent", first_response_minutes=30, resolution_minutes=240).exists()
    assert client.post(url, {"category_name": "设备故障"}).status_code == 302
    assert TicketCategory.objects.filter(name="设备故障").exists()
    page = client.get(url).content.decode()
    assert "设备故障" in page and "240" in page
    policy = SlaPolicy.objects.get()
    assert client.post(reverse("crm:settings-sla-delete", args=[policy.pk])).status_code == 302
    assert not SlaPolicy.objects.exists()


def test_custom_fields_are_edited_as_a_json_schema(client, company, english):
    url = reverse("crm:settings-custom-fields")
    not_json = client.post(url, {"target": "lead", "schema": "{oops"})
    assert "Not valid JSON" in _errors(not_json)
    bad_type = client.post(
        url, {"target": "lead", "schema": '{"type": "object", "properties": {"x": {"type": "map"}}}'}
    )
    assert bad_type.status_code == 200 and not CustomFieldSet.objects.exists()
    schema = (
        '{"type": "object", "properties": {"course": {"type": "string", "enum": ["雅思", "托福"], "title": "课程"}}}'
    )
    response = client.post(url, {"target": "lead", "schema": schema})
    assert response.status_code == 302 and response["Location"].endswith("?target=lead")
    saved = CustomFieldSet.objects.get(target="lead")
    assert saved.schema["properties"]["course"]["enum"] == ["雅思", "托福"]
    page = client.get(url, {"target": "lead"}).content.decode()
    assert "课程" in page and "雅思, 托福" in page
    assert "课程" in client.get(reverse("crm:lead-create")).content.decode()  # the lead form shows it now


def test_others_see_the_settings_read_only(company, sales):
    client = browser(sales)
    page = client.get(reverse("crm:settings-scoring"))
    assert page.status_code == 200 and "<form" not in page.content.decode().split('id="h-rows"')[1]
    data = {"name": "x", "field": "source", "operator": "equals", "value": "x", "points": "5"}
    assert client.post(reverse("crm:settings-scoring"), data).status_code == 403
    assert reverse("crm:settings") not in client.get(reverse("crm:account-list")).content.decode()  # not in the menu


def test_pipelines_are_created_with_their_stages_and_lost_reasons_added(client, company, english):
    from crm.models import LostReason, Pipeline
    from crm.services.opportunities import pipeline_default_ensure

    pipeline_default_ensure(company=company)
    url = reverse("crm:settings-pipelines")
    data = {
        "name": "项目型销售",
        "stages": "立项, 10\n方案, 40%\n商务谈判，70",
        "won_name": "签约",
        "lost_name": "丢单",
    }
    bad = client.post(url, {**data, "stages": "立项"})
    assert "write “name, probability”" in _errors(bad) and Pipeline.objects.count() == 1
    too_likely = client.post(url, {**data, "stages": "立项, 150"})
    assert too_likely.status_code == 200 and Pipeline.objects.count() == 1
    assert client.post(url, data).status_code == 302
    pipeline = Pipeline.objects.get(name="项目型销售")
    stages = list(pipeline.stages.order_by("sequence").values_list("name", "probability", "is_won", "is_lost"))
    assert stages == [
        ("立项", 10, False, False),
        ("方案", 40, False, False),
        ("商务谈判", 70, False, False),
        ("签约", 100, True, False),
        ("丢单", 0, False, True),
    ]
    assert not pipeline.is_default  # the company has its default already
    page = client.get(url).content.decode()
    assert "项目型销售" in page and "方案 40%" in page
    assert client.post(url, {"reason_name": "价格太高"}).status_code == 302
    assert LostReason.objects.filter(company=company, name="价格太高").exists()
    assert client.post(url, {"reason_name": "价格太高"}).status_code == 200  # the name is taken: a message
