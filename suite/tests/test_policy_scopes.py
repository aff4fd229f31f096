"""Role scope tests (acceptance 3): own / team / company record scope, sub-teams for managers, per-role actions,
and field-level hiding in list, detail, ordering, filtering, search and exports — through the real base viewset
(``suite.tests.probe``) and through ``suite.policy`` / ``suite.exports`` directly."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from suite import exports, policy
from suite.models import Role
from suite.testing import TeamFactory, api_client_for, make_member
from suite.tests.probe import ProbeRecord, probe_table  # noqa: F401  (fixture)

pytestmark = pytest.mark.urls("suite.tests.probe")
URL = "/api/v1/probe/records/"


@pytest.fixture
def org(company, other_company, probe_table):  # noqa: F811
    """East region (managed by ``manager``) with the Shanghai team below it; Beijing is another team.

    Records: r_s1 and r_s2 by two Shanghai sales people, r_team (no owner, Shanghai team), r_bj by Beijing
    sales, r_svc by a service agent in no team, r_other in another company."""
    east = TeamFactory(company=company, name="华东区")
    shanghai = TeamFactory(company=company, name="上海组", parent=east)
    beijing = TeamFactory(company=company, name="北京组")
    m = {
        "admin": make_member(company, Role.ADMIN),
        "manager": make_member(company, Role.MANAGER),
        "s1": make_member(company, Role.SALES, teams=[shanghai]),
        "s2": make_member(company, Role.SALES, teams=[shanghai]),
        "s3": make_member(company, Role.SALES, teams=[beijing]),
        "svc": make_member(company, Role.SERVICE),
        "finance": make_member(company, Role.FINANCE),
        "marketing": make_member(company, Role.MARKETING),
        "outsider": make_member(other_company, Role.ADMIN),
    }
    east.manager = m["manager"].user
    east.save(update_fields=["manager"])

    def record(title, owner, team, salary="1000.00"):
        return ProbeRecord.objects.create(
            company=owner.company if owner else company,
            owner=owner.user if owner else None,
            team=team,
            title=title,
            salary=Decimal(salary),
        )

    r = {
        "r_s1": record("a-s1", m["s1"], shanghai, "8000.00"),
        "r_s2": record("b-s2", m["s2"], shanghai, "9000.00"),
        "r_team": record("c-team", None, shanghai),
        "r_bj": record("d-bj", m["s3"], beijing),
        "r_svc": record("e-svc", m["svc"], None),
        "r_other": record("f-other", m["outsider"], None),
    }
    return {"m": m, "r": r, "teams": {"east": east, "shanghai": shanghai, "beijing": beijing}}


def visible_titles(membership) -> set[str]:
    response = api_client_for(membership).get(URL, {"page_size": 100})
    assert response.status_code == 200, response.content
    return {row["title"] for row in response.json()["results"]}


def test_sales_see_their_own_and_their_teams_records_only(org):
    assert visible_titles(org["m"]["s1"]) == {"a-s1", "b-s2", "c-team"}
    assert visible_titles(org["m"]["s3"]) == {"d-bj"}


def test_manager_of_a_parent_team_sees_the_sub_teams_records(org):
    assert visible_titles(org["m"]["manager"]) == {"a-s1", "b-s2", "c-team"}


def test_own_scope_sees_only_own_records(org):
    assert visible_titles(org["m"]["svc"]) == {"e-svc"}


def test_company_scope_sees_the_whole_company_and_nothing_else(org):
    assert visible_titles(org["m"]["admin"]) == {"a-s1", "b-s2", "c-team", "d-bj", "e-svc"}
    assert visible_titles(org["m"]["outsider"]) == {"f-other"}


def test_another_teams_record_is_a_404_not_a_403(org):
    sales, manager = api_client_for(org["m"]["s1"]), api_client_for(org["m"]["manager"])
    for client, verb in ((sales, "get"), (sales, "patch"), (manager, "get"), (manager, "delete")):
        response = getattr(client, verb)(f"{URL}{org['r']['r_bj'].pk}/", {"title": "x"}, format="json")
        assert response.status_code == 404
        [error] = response.json()["errors"]
        assert error["field"] is None and error["code"] == "not_found" and error["message"]
    org["r"]["r_bj"].refresh_from_db()
    assert org["r"]["r_bj"].title == "d-bj"


def test_policy_scope_and_can_agree_with_the_api(org):
    s1 = policy.Actor(org["m"]["s1"])
    assert set(policy.scope(s1, ProbeRecord.objects.all()).values_list("title", flat=True)) == {
        "a-s1",
        "b-s2",
        "c-team",
    }
    assert policy.can(s1, "change", org["r"]["r_s2"]) is True
    assert policy.can(s1, "change", org["r"]["r_bj"]) is False  # out of scope
    assert policy.can(s1, "delete", ProbeRecord) is False  # not a sales action
    assert policy.scope(None, ProbeRecord.objects.all()).count() == 0


def test_roles_without_the_action_get_403(org):
    record = org["r"]["r_s1"]
    # sales may change but not delete
    sales = api_client_for(org["m"]["s1"])
    assert sales.patch(f"{URL}{record.pk}/", {"title": "a-s1 renamed"}, format="json").status_code == 200
    response = sales.delete(f"{URL}{record.pk}/")
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "permission_denied"
    assert ProbeRecord.objects.filter(pk=record.pk).exists()
    # service may only view
    service = api_client_for(org["m"]["svc"])
    assert service.post(URL, {"title": "new"}, format="json").status_code == 403
    # marketing has no scope at all: nothing, not even the list
    assert api_client_for(org["m"]["marketing"]).get(URL).status_code == 403
    # the manager may delete within scope
    manager = api_client_for(org["m"]["manager"])
    assert manager.delete(f"{URL}{record.pk}/").status_code == 204
    assert not ProbeRecord.objects.filter(pk=record.pk).exists()


def test_sensitive_field_is_hidden_in_list_and_detail_for_roles_that_may_not_see_it(org):
    record = org["r"]["r_s1"]
    sales = api_client_for(org["m"]["s1"])
    rows = sales.get(URL).json()["results"]
    assert rows and all("salary" not in row for row in rows)
    detail = sales.get(f"{URL}{record.pk}/").json()
    assert "salary" not in detail and detail["title"] == "a-s1"
    # nor is it echoed back after a write
    updated = sales.patch(f"{URL}{record.pk}/", {"title": "renamed"}, format="json").json()
    assert "salary" not in updated

    finance = api_client_for(org["m"]["finance"])
    assert finance.get(f"{URL}{record.pk}/").json()["salary"] == "8000.00"


def test_hidden_field_cannot_be_probed_by_ordering_filtering_or_writing(org):
    sales = api_client_for(org["m"]["s1"])
    response = sales.get(URL, {"ordering": "-salary"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "ordering"
    response = sales.get(URL, {"salary__gte": "8500"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "salary__gte"
    # finance may order and filter by it
    finance = api_client_for(org["m"]["finance"])
    rows = finance.get(URL, {"ordering": "-salary", "salary__gte": "8500"}).json()["results"]
    assert [row["title"] for row in rows] == ["b-s2"]


def test_undeclared_ordering_is_a_400_in_the_error_format(org):
    response = api_client_for(org["m"]["admin"]).get(URL, {"ordering": "owner__password"})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == "ordering" and error["code"] == "invalid"
    assert "owner__password" in error["message"]


def _csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_api_export_honours_scope_and_hidden_fields(org):
    sales = api_client_for(org["m"]["s1"])
    response = sales.get(f"{URL}export/", {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="probe')
    rows = _csv_rows(response)
    assert rows[0] == ["ID", "title", "amount", "owner"]
    assert sorted(row[1] for row in rows[1:]) == ["a-s1", "b-s2", "c-team"]

    admin = api_client_for(org["m"]["admin"])
    rows = _csv_rows(admin.get(f"{URL}export/", {"format": "csv", "ordering": "-salary"}))
    assert rows[0] == ["ID", "title", "salary", "amount", "owner"]
    assert [row[1] for row in rows[1:3]] == ["b-s2", "a-s1"]
    assert len(rows) == 6

    response = admin.get(f"{URL}export/", {"format": "pdf"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "format"


def test_xlsx_export_hides_the_sensitive_column(org):
    response = api_client_for(org["m"]["s1"]).get(f"{URL}export/", {"format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"] == exports.XLSX_MEDIA_TYPE
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["ID", "title", "amount", "owner"]
    assert sorted(row[1] for row in rows[1:]) == ["a-s1", "b-s2", "c-team"]


def test_export_helper_applies_the_policy_itself(org):
    """UI views call suite.exports directly; even with an unscoped queryset it shows only what the actor may
    see, and refuses roles without the export action."""
    s1 = policy.Actor(org["m"]["s1"])
    columns = exports.columns_for(s1, ProbeRecord, ["title", "salary", "owner__username"])
    assert [c.path for c in columns] == ["title", "owner__username"]
    rows = list(exports.export_rows(s1, ProbeRecord.objects.all(), columns))
    assert sorted(r[0] for r in rows) == ["a-s1", "b-s2", "c-team"]
    with pytest.raises(Exception) as excinfo:
        exports.export_response(policy.Actor(org["m"]["svc"]), ProbeRecord.objects.all(), ["title"])
    assert type(excinfo.value).__name__ == "PermissionDenied"


def test_export_neutralises_spreadsheet_formulas(org):
    ProbeRecord.objects.filter(pk=org["r"]["r_s1"].pk).update(title='=HYPERLINK("http://evil")')
    rows = _csv_rows(api_client_for(org["m"]["s1"]).get(f"{URL}export/", {"format": "csv"}))
    assert '\'=HYPERLINK("http://evil")' in [row[1] for row in rows]
