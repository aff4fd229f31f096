"""Mass assignment: ``company``, ``owner``, ids, status and amounts are never taken from a request body."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers

from suite.api.serializers import InputModelSerializer, InputSerializer
from suite.models import Company, Membership, Role, Team
from suite.testing import TeamFactory, api_client_for, make_member
from suite.tests.probe import ProbeRecord, probe_table  # noqa: F401  (fixture)

PROBE_URL = "/api/v1/probe/records/"
FORGED = {"id": 999999, "pk": 999999, "company": None, "company_id": None, "status": "posted", "amount": "123456.78"}


@pytest.mark.urls("suite.tests.probe")
def test_probe_create_and_update_ignore_server_owned_fields(company, other_company, probe_table):  # noqa: F811
    sales = make_member(company, Role.SALES)
    someone_else = make_member(company, Role.SALES)
    client = api_client_for(sales)
    forged = {**FORGED, "company": other_company.pk, "company_id": other_company.pk}

    response = client.post(PROBE_URL, {"title": "正常", **forged}, format="json")
    assert response.status_code == 201, response.content
    record = ProbeRecord.objects.get(pk=response.json()["id"])
    assert record.pk != 999999
    assert (record.company_id, record.owner_id, record.status, record.amount) == (
        company.pk,
        sales.user_id,
        "draft",
        Decimal("0"),
    )

    response = client.patch(f"{PROBE_URL}{record.pk}/", {"title": "改名", **forged}, format="json")
    assert response.status_code == 200
    record.refresh_from_db()
    assert (record.title, record.company_id, record.status, record.amount) == (
        "改名",
        company.pk,
        "draft",
        Decimal("0"),
    )

    # owner is declared writable on this endpoint, but sales may not assign records to someone else
    response = client.patch(f"{PROBE_URL}{record.pk}/", {"owner": someone_else.user_id}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "owner"
    record.refresh_from_db()
    assert record.owner_id == sales.user_id


@pytest.mark.urls("suite.tests.probe")
def test_owner_can_be_assigned_where_allowed_but_only_to_a_member_of_the_company(
    company,
    other_company,
    probe_table,  # noqa: F811
):
    manager = make_member(company, Role.MANAGER)
    colleague = make_member(company, Role.SALES)
    stranger = make_member(other_company, Role.SALES)
    client = api_client_for(manager)
    response = client.post(PROBE_URL, {"title": "指派", "owner": colleague.user_id}, format="json")
    assert response.status_code == 201
    assert ProbeRecord.objects.get(pk=response.json()["id"]).owner_id == colleague.user_id

    response = client.post(PROBE_URL, {"title": "越界", "owner": stranger.user_id}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "owner"
    assert response.json()["errors"][0]["code"] == "does_not_exist"


def test_team_create_ignores_company_and_refuses_other_companies_references(company, other_company):
    admin = make_member(company, Role.ADMIN)
    foreign_team = TeamFactory(company=other_company, name="外部团队")
    foreign_user = make_member(other_company, Role.MANAGER).user
    client = api_client_for(admin)

    response = client.post(
        "/api/v1/suite/teams/",
        {"name": "新团队", "company": other_company.pk, "id": 4242, "created_at": "2000-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 201
    team = Team.objects.get(pk=response.json()["id"])
    assert team.company_id == company.pk and team.pk != 4242 and team.created_at.year > 2000

    response = client.post(
        "/api/v1/suite/teams/", {"name": "越界", "parent": foreign_team.pk, "manager": foreign_user.pk}, format="json"
    )
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"parent", "manager"}
    assert not Team.objects.filter(name="越界").exists()


def test_membership_update_cannot_move_a_member_or_change_their_user(company, other_company):
    admin = make_member(company, Role.ADMIN)
    member = make_member(company, Role.SALES)
    outsider = make_member(other_company, Role.SALES)
    response = api_client_for(admin).patch(
        f"/api/v1/suite/memberships/{member.pk}/",
        {"role": "service", "company": other_company.pk, "user": outsider.user_id, "id": outsider.pk},
        format="json",
    )
    assert response.status_code == 200
    member.refresh_from_db()
    assert (member.role, member.company_id, member.user_id) == ("service", company.pk, member.user_id)
    assert Membership.objects.get(pk=outsider.pk).role == "sales"


def test_company_settings_update_ignores_code_currency_and_id(company):
    admin = make_member(company, Role.ADMIN)
    response = api_client_for(admin).patch(
        f"/api/v1/suite/companies/{company.pk}/",
        {"require_2fa": True, "code": "hijack", "currency": "USD", "id": company.pk + 1},
        format="json",
    )
    assert response.status_code == 200
    company.refresh_from_db()
    assert (company.require_2fa, company.code, company.currency) == (True, "ecm", "CNY")
    assert Company.objects.filter(code="hijack").count() == 0


@pytest.mark.parametrize("name", ["company", "owner", "id", "status", "amount", "total_amount", "balance"])
def test_declaring_a_server_owned_field_writable_is_refused_at_once(name):
    field = serializers.CharField()
    bad = type("BadInput", (InputSerializer,), {name: field})
    with pytest.raises(ImproperlyConfigured, match=name):
        bad(data={}).is_valid()


def test_input_model_serializers_must_list_their_fields():
    class AllFields(InputModelSerializer):
        class Meta:
            model = Team
            fields = "__all__"

    with pytest.raises(ImproperlyConfigured):
        AllFields(data={}).is_valid()

    class ReadOnlyCompanyIsFine(InputSerializer):
        company = serializers.IntegerField(read_only=True)
        name = serializers.CharField()

    serializer = ReadOnlyCompanyIsFine(data={"name": "x", "company": 5})
    assert serializer.is_valid() and serializer.validated_data == {"name": "x"}
