"""Platform endpoints: me, companies, teams, memberships — permissions, services and query counts."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from suite.models import Membership, Role, Team
from suite.testing import TeamFactory, api_client_for, make_member

API = "/api/v1/suite"


def test_me_tells_user_company_role_and_all_companies(company, other_company):
    sales_team = TeamFactory(company=company, name="一组")
    membership = make_member(company, Role.SALES, teams=[sales_team], first_name="三", last_name="张")
    Membership.objects.create(user=membership.user, company=other_company, role=Role.ADMIN)

    body = api_client_for(membership).get(f"{API}/me/").json()
    assert body["user"]["username"] == membership.user.username
    assert body["company"]["id"] == company.pk and body["role"] == "sales" and body["teams"] == [sales_team.pk]
    assert {c["id"]: c["role"] for c in body["companies"]} == {company.pk: "sales", other_company.pk: "admin"}
    assert body["auth"] == "session"

    # the same person acting in the other company through the header
    client = api_client_for(membership)
    client.defaults["HTTP_X_TROIKA_COMPANY"] = str(other_company.pk)
    body = client.get(f"{API}/me/").json()
    assert (body["company"]["id"], body["role"]) == (other_company.pk, "admin")


def test_me_needs_authentication(client):
    response = client.get(f"{API}/me/")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "not_authenticated"


def test_companies_show_only_the_current_company_and_only_admins_change_settings(company, other_company):
    admin = make_member(company, Role.ADMIN)
    Membership.objects.create(user=admin.user, company=other_company, role=Role.SALES)
    client = api_client_for(admin)
    rows = client.get(f"{API}/companies/").json()["results"]
    assert [row["id"] for row in rows] == [company.pk]

    response = client.patch(f"{API}/companies/{company.pk}/", {"enabled_modules": ["crm", "crm"]}, format="json")
    assert response.status_code == 200
    assert response.json()["enabled_modules"] == ["crm"]

    response = client.patch(f"{API}/companies/{company.pk}/", {"enabled_modules": ["space"]}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "enabled_modules.0"

    response = client.delete(f"{API}/companies/{company.pk}/")
    assert response.status_code == 405 and response.json()["errors"][0]["code"] == "method_not_allowed"
    response = client.patch(f"{API}/companies/{company.pk}/", {"require_2fa": True}, format="json")
    assert response.status_code == 200 and response.json()["require_2fa"] is True
    # from now on this admin needs a second factor for the API too (suite.auth's middleware)
    response = client.get(f"{API}/companies/")
    assert response.status_code == 403 and set(response.json()) == {"errors"}

    sales = api_client_for(make_member(company, Role.SALES))
    response = sales.patch(f"{API}/companies/{company.pk}/", {"require_2fa": False}, format="json")
    assert response.status_code == 403
    company.refresh_from_db()
    assert company.require_2fa is True


def test_team_crud_by_manager_and_read_only_for_sales(company):
    manager_membership = make_member(company, Role.MANAGER)
    manager = api_client_for(manager_membership)
    response = manager.post(
        f"{API}/teams/", {"name": "华南销售", "kind": "sales", "manager": manager_membership.user_id}, format="json"
    )
    assert response.status_code == 201, response.content
    team_id = response.json()["id"]
    assert response.json()["manager"]["id"] == manager_membership.user_id

    child = manager.post(f"{API}/teams/", {"name": "深圳组", "parent": team_id}, format="json").json()
    # a cycle is refused by the service
    response = manager.patch(f"{API}/teams/{team_id}/", {"parent": child["id"]}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "parent"
    # duplicate names per company: a field error, not a 500
    response = manager.post(f"{API}/teams/", {"name": "华南销售"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "field": "name",
        "code": "unique",
        "message": response.json()["errors"][0]["message"],
    }

    sales = api_client_for(make_member(company, Role.SALES))
    assert sales.get(f"{API}/teams/{team_id}/").status_code == 200
    assert sales.patch(f"{API}/teams/{team_id}/", {"name": "x"}, format="json").status_code == 403
    assert sales.delete(f"{API}/teams/{team_id}/").status_code == 403

    assert manager.delete(f"{API}/teams/{team_id}/").status_code == 204
    assert not Team.objects.filter(pk=team_id).exists()
    assert Team.objects.get(pk=child["id"]).parent_id is None


def test_team_list_search_filter_order(company):
    admin = api_client_for(make_member(company, Role.ADMIN))
    parent = TeamFactory(company=company, name="B 华东")
    TeamFactory(company=company, name="A 上海", parent=parent)
    TeamFactory(company=company, name="C 北京", name_en="Beijing")
    names = [row["name"] for row in admin.get(f"{API}/teams/").json()["results"]]
    assert names == ["A 上海", "B 华东", "C 北京"]
    assert admin.get(f"{API}/teams/", {"ordering": "-name"}).json()["results"][0]["name"] == "C 北京"
    assert [r["name"] for r in admin.get(f"{API}/teams/", {"search": "beij"}).json()["results"]] == ["C 北京"]
    assert [r["name"] for r in admin.get(f"{API}/teams/", {"parent": parent.pk}).json()["results"]] == ["A 上海"]
    response = admin.get(f"{API}/teams/", {"parent": "abc"})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "parent"


def test_memberships_admin_manages_roles_and_the_last_admin_stays(company):
    admin = make_member(company, Role.ADMIN)
    client = api_client_for(admin)
    team = TeamFactory(company=company, name="一组")

    response = client.post(
        f"{API}/memberships/",
        {"username": "lisi", "email": "lisi@example.com", "role": "sales", "teams": [team.pk]},
        format="json",
    )
    assert response.status_code == 201, response.content
    lisi = Membership.objects.get(pk=response.json()["id"])
    assert lisi.role == "sales" and list(lisi.teams.all()) == [team]
    assert not get_user_model().objects.get(username="lisi").has_usable_password()

    response = client.post(
        f"{API}/memberships/", {"username": "lisi", "email": "lisi@example.com", "role": "hr"}, format="json"
    )
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == "unique"

    assert client.patch(f"{API}/memberships/{lisi.pk}/", {"role": "manager"}, format="json").status_code == 200
    lisi.refresh_from_db()
    assert lisi.role == "manager"

    response = client.patch(f"{API}/memberships/{admin.pk}/", {"role": "sales"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "role"
    assert client.delete(f"{API}/memberships/{admin.pk}/").status_code == 400

    assert client.delete(f"{API}/memberships/{lisi.pk}/").status_code == 204
    lisi.refresh_from_db()
    assert lisi.is_active is False


def test_memberships_visible_to_all_members_but_email_only_to_some_roles(company):
    make_member(company, Role.ADMIN, email="boss@example.com")
    sales = api_client_for(make_member(company, Role.SALES))
    rows = sales.get(f"{API}/memberships/").json()["results"]
    assert len(rows) == 2 and all("email" not in row for row in rows)
    assert sales.get(f"{API}/memberships/", {"search": "boss@example"}).json()["count"] == 0
    assert sales.post(f"{API}/memberships/", {}, format="json").status_code == 403

    hr = api_client_for(make_member(company, Role.HR))
    rows = hr.get(f"{API}/memberships/", {"search": "boss@example"}).json()["results"]
    assert [row["email"] for row in rows] == ["boss@example.com"]


def test_membership_export_hides_email_from_sales_roles(company):
    make_member(company, Role.ADMIN, email="boss@example.com")
    manager = api_client_for(make_member(company, Role.MANAGER))
    text = b"".join(manager.get(f"{API}/memberships/export/", {"format": "csv"}).streaming_content).decode("utf-8-sig")
    assert "boss@example.com" in text
    sales = api_client_for(make_member(company, Role.SALES))
    response = sales.get(f"{API}/memberships/export/", {"format": "csv"})
    assert response.status_code == 403  # sales may view members but not export them


@pytest.mark.parametrize(("path", "queries"), [("teams", 5), ("memberships", 6), ("tokens", 5), ("companies", 5)])
def test_lists_are_query_bounded(company, path, queries, django_assert_max_num_queries):
    """session + user + membership, COUNT, the page (+ one prefetch of teams): the same for 20 rows as for 2."""
    admin = make_member(company, Role.ADMIN)
    teams = [TeamFactory(company=company, manager=admin.user) for _ in range(5)]
    for index in range(20):
        make_member(company, Role.SALES, teams=teams[index % 5 : index % 5 + 2])
    client = api_client_for(admin)
    client.get(f"{API}/{path}/")  # warm the session
    with django_assert_max_num_queries(queries):
        response = client.get(f"{API}/{path}/")
    assert response.status_code == 200 and response.json()["count"] >= (5 if path in ("teams", "memberships") else 0)
