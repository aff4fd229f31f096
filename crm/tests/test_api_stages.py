"""The stage API (``/api/v1/crm/stages/``) keeps the rules of ``crm.services.stages``, as the settings pages do:
add, move, retire and remove; a refusal is a 409 with the reason, bad input a 400 naming the field."""

from __future__ import annotations

import pytest

from crm.models import Stage
from crm.services.opportunities import opportunity_create, pipeline_default_ensure
from crm.tests.factories import AccountFactory
from suite.models import Role

pytestmark = pytest.mark.django_db


def _order(pipeline) -> list[str]:
    return list(pipeline.stages.order_by("sequence", "id").values_list("name", flat=True))


def test_admins_add_move_retire_and_remove_stages(company, member, api_client):
    pipeline = pipeline_default_ensure(company=company)
    client = api_client(member(company, Role.ADMIN))
    first = _order(pipeline)[0]

    added = client.post(
        "/api/v1/crm/stages/",
        {"pipeline": pipeline.pk, "name": "样机测试", "probability": 55, "position": 1},
        format="json",
    )
    assert added.status_code == 201, added.content
    assert _order(pipeline)[:2] == [first, "样机测试"]
    stage_id = added.json()["id"]

    moved = client.post(f"/api/v1/crm/stages/{stage_id}/move/", {"direction": "up"}, format="json")
    assert moved.status_code == 200 and _order(pipeline)[0] == "样机测试"
    assert (
        client.post(f"/api/v1/crm/stages/{stage_id}/move/", {"direction": "sideways"}, format="json").status_code == 400
    )

    retired = client.patch(f"/api/v1/crm/stages/{stage_id}/", {"is_active": False, "probability": 50}, format="json")
    assert retired.status_code == 200
    assert (retired.json()["is_active"], retired.json()["probability"]) == (False, 50)
    assert client.delete(f"/api/v1/crm/stages/{stage_id}/").status_code == 204
    assert not Stage.objects.filter(pk=stage_id).exists()


def test_the_rules_are_409s_and_bad_input_400s(company, member, api_client, sales_user, other_company):
    pipeline = pipeline_default_ensure(company=company)
    client = api_client(member(company, Role.ADMIN))
    won = pipeline.stages.get(is_won=True)
    assert client.patch(f"/api/v1/crm/stages/{won.pk}/", {"is_active": False}, format="json").status_code == 409
    assert client.delete(f"/api/v1/crm/stages/{won.pk}/").status_code == 409
    deal = opportunity_create(
        company=company, by=sales_user, name="液压站", account=AccountFactory(company=company, by=sales_user)
    )
    busy = client.patch(f"/api/v1/crm/stages/{deal.stage_id}/", {"is_active": False}, format="json")
    assert busy.status_code == 409 and "1 个商机处于此阶段" in busy.json()["errors"][0]["message"]  # zh-hans: default
    assert Stage.objects.get(pk=deal.stage_id).is_active

    bad = client.post("/api/v1/crm/stages/", {"pipeline": pipeline.pk, "name": "", "probability": 150}, format="json")
    assert bad.status_code == 400 and {e["field"] for e in bad.json()["errors"]} == {"name", "probability"}
    foreign = pipeline_default_ensure(company=other_company)
    elsewhere = client.post(
        "/api/v1/crm/stages/", {"pipeline": foreign.pk, "name": "越权", "probability": 10}, format="json"
    )
    assert elsewhere.status_code == 400 and elsewhere.json()["errors"][0]["field"] == "pipeline"
    sales = api_client(member(company, Role.SALES))
    assert (
        sales.post(f"/api/v1/crm/stages/{deal.stage_id}/move/", {"direction": "up"}, format="json").status_code == 403
    )
