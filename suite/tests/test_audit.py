"""Audit trail (acceptance 3): every write of an audited model is recorded by trigger — through services, the
API, the admin, ``queryset.update()``, ``bulk_create`` and raw SQL — with old → new values and the context
(user, source); and the history endpoint shows it only to those who may see the record."""

from __future__ import annotations

import pghistory
from django.db import connection

from suite import audit
from suite.models import ApiToken, Company, Membership, Role, Team
from suite.services import tenancy as services
from suite.testing import TeamFactory, api_client_for, make_member

API = "/api/v1/suite"


def latest(obj) -> audit.HistoryEntry:
    return audit.history_of(obj)[0]


def test_service_create_update_delete_are_recorded_with_old_and_new_values(company):
    admin = make_member(company, Role.ADMIN)
    team = services.team_create(company=company, name="华东一组", by=admin.user)
    services.team_update(team=team, name="华东二组", manager=admin.user, by=admin.user)
    services.team_delete(team=team, by=admin.user)

    insert, update, delete = reversed(audit.history_of(team))
    assert insert.label == "insert" and insert.changes["name"] == (None, "华东一组")
    assert update.label == "update"
    assert update.changes["name"] == ("华东一组", "华东二组")
    assert update.changes["manager_id"] == (None, admin.user_id)
    assert delete.label == "delete" and delete.changes["name"] == ("华东二组", None)
    assert {e.source for e in (insert, update, delete)} == {"database"}  # no request, no worker: said so


def test_api_changes_carry_the_user_and_source_api(company):
    admin = make_member(company, Role.ADMIN)
    for client, label in ((api_client_for(admin), "session"), (api_client_for(admin, token=True), "token")):
        team_id = client.post(f"{API}/teams/", {"name": f"API {label}"}, format="json").json()["id"]
        client.patch(f"{API}/teams/{team_id}/", {"name_en": "Renamed"}, format="json")
        entry = latest(Team.objects.get(pk=team_id))
        assert (entry.label, entry.user_id, entry.username, entry.source) == (
            "update",
            admin.user_id,
            admin.user.username,
            "api",
        ), label
        assert entry.changes == {"name_en": ("", "Renamed")}


def test_admin_changes_carry_source_admin(client, company):
    superuser = make_member(company, Role.ADMIN, is_staff=True, is_superuser=True).user
    team = TeamFactory(company=company, name="旧名")
    client.force_login(superuser)
    response = client.post(
        f"/admin/suite/team/{team.pk}/change/",
        {"company": company.pk, "name": "新名", "name_en": "", "kind": "sales", "parent": "", "manager": ""},
    )
    assert response.status_code == 302, response.content[:2000]
    team.refresh_from_db()
    assert team.name == "新名"
    entry = latest(team)
    assert (entry.source, entry.user_id, entry.changes["name"]) == ("admin", superuser.pk, ("旧名", "新名"))


def test_worker_context_is_recorded(company):
    team = TeamFactory(company=company, name="任务前")
    with audit.worker_context("suite.tests.fake_task"):
        Team.objects.filter(pk=team.pk).update(name="任务后")
    entry = latest(team)
    assert (entry.source, entry.changes["name"]) == ("worker", ("任务前", "任务后"))


def test_queryset_update_bulk_create_and_raw_sql_cannot_bypass_the_trail(company):
    team = TeamFactory(company=company, name="原名")
    Team.objects.filter(pk=team.pk).update(name="批量改名")
    assert latest(team).changes["name"] == ("原名", "批量改名")

    created = Team.objects.bulk_create([Team(company=company, name=f"批量{i}") for i in range(3)])
    for new_team in created:
        assert latest(new_team).label == "insert"

    with connection.cursor() as cursor:
        cursor.execute("UPDATE suite_team SET name = %s WHERE id = %s", ["SQL 改名", team.pk])
    entry = latest(team)
    assert (entry.label, entry.changes["name"]) == ("update", ("批量改名", "SQL 改名"))

    with pghistory.context(user=None, source="ui"), connection.cursor() as cursor:
        cursor.execute("UPDATE suite_company SET require_2fa = true WHERE id = %s", [company.pk])
    entry = latest(company)
    assert (entry.source, entry.changes) == ("ui", {"require_2fa": (False, True)})

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM suite_team WHERE id = %s", [created[0].pk])
    assert latest(created[0]).label == "delete"


def test_membership_role_changes_are_recorded(company):
    admin = make_member(company, Role.ADMIN)
    member = make_member(company, Role.SALES)
    api_client_for(admin).patch(f"{API}/memberships/{member.pk}/", {"role": "manager"}, format="json")
    entry = latest(member)
    assert (entry.changes["role"], entry.user_id, entry.source) == (("sales", "manager"), admin.user_id, "api")


def test_token_history_leaves_the_hash_out(company):
    member = make_member(company, Role.SALES)
    token_id = api_client_for(member).post(f"{API}/tokens/", {"name": "ci"}, format="json").json()["id"]
    token = ApiToken.objects.get(pk=token_id)
    entry = latest(token)
    assert entry.label == "insert" and "key_hash" not in entry.changes and entry.changes["name"] == (None, "ci")


def test_history_endpoint_is_guarded_by_the_policy(company, other_company):
    admin = make_member(company, Role.ADMIN)
    sales = make_member(company, Role.SALES)
    client = api_client_for(admin)
    team_id = client.post(f"{API}/teams/", {"name": "可查"}, format="json").json()["id"]
    client.patch(f"{API}/teams/{team_id}/", {"name": "可查2"}, format="json")

    body = api_client_for(sales).get(f"{API}/history/suite.team/{team_id}/").json()
    assert body["count"] == 2
    newest = body["results"][0]
    assert newest["label"] == "update" and newest["source"] == "api" and newest["username"] == admin.user.username
    assert newest["changes"] == [{"field": "name", "old": "可查", "new": "可查2"}]
    assert body["results"][1]["label"] == "insert"
    assert api_client_for(sales).get(f"{API}/history/suite.team/{team_id}/", {"limit": 1}).json()["count"] == 1

    foreign = TeamFactory(company=other_company)
    for url in (
        f"{API}/history/suite.team/{foreign.pk}/",
        f"{API}/history/suite.team/999999/",
        f"{API}/history/suite.team/abc/",
        f"{API}/history/auth.user/{admin.user_id}/",  # no policy: not exposed
        f"{API}/history/nope.model/1/",
        f"{API}/history/suite/1/",
        f"{API}/history/suite.company/{other_company.pk}/",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json()["errors"][0]["code"] == "not_found"
    assert client.get(f"{API}/history/suite.company/{company.pk}/").status_code == 200
    assert client.get(f"{API}/history/suite.membership/{sales.pk}/").status_code == 200
    assert client.get(f"{API}/history/suite.team/{team_id}/", {"limit": "x"}).status_code == 400


def test_history_of_another_users_token_is_404(company):
    owner, admin = make_member(company, Role.SALES), make_member(company, Role.ADMIN)
    token_id = api_client_for(owner).post(f"{API}/tokens/", {"name": "mine"}, format="json").json()["id"]
    assert api_client_for(owner).get(f"{API}/history/suite.apitoken/{token_id}/").status_code == 200
    assert api_client_for(admin).get(f"{API}/history/suite.apitoken/{token_id}/").status_code == 404


def test_company_and_membership_models_are_audited():
    assert {model._meta.label for model in (Company, Team, Membership)} <= {
        event_model.pgh_tracked_model._meta.label
        for event_model in pghistory.models.Event.__subclasses__()
        if hasattr(event_model, "pgh_tracked_model")
    }


# Tenant tables whose rows are not business records people change, and why each is left out of the trail. A new
# tenant model must be audited (``@pghistory.track`` through ``suite.audit``) or be added here with its reason.
NOT_AUDITED = {
    "crm.PoolAccount": "a proxy of crm.Account (audited) with the customer pool's policy: the same rows",
    "crm.QuoteApprovalDecision": "the trail of yes and no on a quote's approval, written once; the quote is audited",
    "crm.PoolMove": "the log of moves into and out of the customer pool, written once; the owner change is audited",
    "erp.BudgetAlert": "the mark that a line crossed a threshold, written once by the alert handler",
    "scrm.CommunityMember": "the platform's roster mirrored; joins and leaves are logged in CommunityMemberChange",
    "scrm.HandoverItem": "a handover's customers and their transfer state as WeCom reports it; the job is audited",
    "scrm.QrCode": "codes generated by the thousand for a campaign (the campaign is audited, scans are logged)",
}


def test_every_tenant_model_is_audited_or_named_as_derived():
    from django.apps import apps

    from suite.models import TenantModel

    tracked = set()
    pending = [pghistory.models.Event]
    while pending:
        for event_model in pending.pop().__subclasses__():
            pending.append(event_model)
            if hasattr(event_model, "pgh_tracked_model"):
                tracked.add(event_model.pgh_tracked_model._meta.label)
    tenant_models = {m._meta.label for m in apps.get_models() if issubclass(m, TenantModel)}
    assert tenant_models - tracked == set(NOT_AUDITED), "audit these, or name them in NOT_AUDITED with why"
    assert len(tenant_models & tracked) > 150
