"""The dashboard framework (issue #7): registry and visibility by role and module, the menu, filters (periods,
presets, validation), widget JSON and the XLSX workbook — with a platform-only test dashboard."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest

from suite import dashboards
from suite.dashboards.forms import FilterForm, preset_range
from suite.dashboards.render import widget_data, workbook
from suite.models import Role
from suite.policy import Actor
from suite.testing import TeamFactory, api_client_for, make_member
from suite.ui import menu


def _build(filters):
    return [
        dashboards.KPI("days", "Days", (filters.date_to - filters.date_from).days + 1),
        dashboards.KPI("money", "Money", Decimal("12.50"), money=True, drill_url="/x/"),
        dashboards.Chart(
            "per_period",
            "Per period",
            "bar",
            labels=[label for label, _s, _e in filters.periods()],
            series=[dashboards.Series("n", [(e - s).days + 1 for _l, s, e in filters.periods()])],
        ),
        dashboards.Table("t", "Table", ["a", "b"], [["x", Decimal("1.10")]], row_urls=["/row/"]),
    ]


@pytest.fixture
def test_dashboard():
    board = dashboards.register(
        dashboards.Dashboard("zz-test", "Test board", _build, module="erp_hr", filters=frozenset({"period", "team"}))
    )
    yield board
    dashboards._registry.pop("zz-test", None)
    menu._items[:] = [item for item in menu._items if item.url_kwargs != {"key": "zz-test"}]


def test_periods_months_and_weeks():
    f = dashboards.Filters(None, None, date(2026, 1, 15), date(2026, 3, 3))
    assert f.periods() == [
        ("2026-01", date(2026, 1, 15), date(2026, 1, 31)),
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        ("2026-03", date(2026, 3, 1), date(2026, 3, 3)),
    ]
    weeks = f.with_(granularity="week").periods()
    assert weeks[0] == ("2026-W03", date(2026, 1, 15), date(2026, 1, 18)) and weeks[-1][0] == "2026-W10"
    assert f.querystring(stage=3, x=None) == "date_from=2026-01-15&date_to=2026-03-03&stage=3"


def test_the_range_with_the_next_quarter_ends_where_the_next_quarter_does():
    from suite.dashboards import range_with_next_quarter

    assert range_with_next_quarter(date(2026, 5, 20)) == (date(2025, 6, 1), date(2026, 9, 30))
    assert range_with_next_quarter(date(2026, 11, 29)) == (date(2025, 12, 1), date(2027, 3, 31))
    assert range_with_next_quarter(date(2026, 12, 31)) == (date(2026, 1, 1), date(2027, 3, 31))
    assert range_with_next_quarter(date(2026, 1, 1)) == (date(2025, 2, 1), date(2026, 6, 30))
    assert range_with_next_quarter(date(2026, 9, 30)) == (date(2025, 10, 1), date(2026, 12, 31))


def test_presets():
    today = date(2026, 5, 20)
    assert preset_range("this_month", today) == (date(2026, 5, 1), today)
    assert preset_range("last_month", today) == (date(2026, 4, 1), date(2026, 4, 30))
    assert preset_range("this_quarter", today) == (date(2026, 4, 1), today)
    assert preset_range("year_to_date", today) == (date(2026, 1, 1), today)
    assert preset_range("this_year", today) == (date(2026, 1, 1), date(2026, 12, 31))  # the forecast ahead too
    assert preset_range("next_quarter", today) == (date(2026, 7, 1), date(2026, 9, 30))
    assert preset_range("next_quarter", date(2026, 11, 29)) == (date(2027, 1, 1), date(2027, 3, 31))
    assert preset_range("next_quarter", date(2026, 2, 1)) == (date(2026, 4, 1), date(2026, 6, 30))
    assert preset_range("last_12_months", today) == (date(2025, 6, 1), today)


def test_visibility_by_role_and_module(company, test_dashboard):
    admin, manager, sales = (make_member(company, role) for role in (Role.ADMIN, Role.MANAGER, Role.SALES))
    assert test_dashboard in dashboards.for_actor(Actor(admin))
    assert test_dashboard in dashboards.for_actor(Actor(manager))
    assert test_dashboard not in dashboards.for_actor(Actor(sales))
    labels = [link.label for section in menu.menu_for(Actor(admin)) for link in section.links]
    assert "Test board" in labels
    company.enabled_modules = ["crm"]
    company.save(update_fields=["enabled_modules"])
    admin = type(admin).objects.select_related("company", "user").get(pk=admin.pk)
    assert dashboards.visible_or_none(Actor(admin), "zz-test") is None
    labels = [link.label for section in menu.menu_for(Actor(admin)) for link in section.links]
    assert "Test board" not in labels


def test_filter_validation(company, test_dashboard):
    admin = make_member(company, Role.ADMIN)
    team = TeamFactory(company=company)
    form = FilterForm({"preset": "", "team": str(team.pk)}, actor=Actor(admin), dashboard=test_dashboard)
    assert form.is_valid(), form.errors
    assert form.filters().team_id == team.pk and "owner" not in form.fields  # not one of its filters
    for data, field in (
        ({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "date_to"),
        ({"date_from": "nope"}, "date_from"),
        ({"team": "999999"}, "team"),
        ({"preset": "forever"}, "preset"),
        ({"granularity": "day"}, "granularity"),
    ):
        form = FilterForm(data, actor=Actor(admin), dashboard=test_dashboard)
        assert not form.is_valid() and field in form.errors, data


def test_api_page_and_xlsx(company, test_dashboard, client, english):
    from openpyxl import load_workbook

    admin = make_member(company, Role.ADMIN)
    api = api_client_for(admin)
    assert "zz-test" in [d["key"] for d in api.get("/api/v1/dashboards/").json()]
    body = api.get("/api/v1/dashboards/zz-test/", {"date_from": "2026-01-15", "date_to": "2026-03-03"}).json()
    widgets = {w["key"]: w for w in body["widgets"]}
    assert widgets["days"]["value"] == 48 and widgets["money"]["value"] == "12.50"
    assert widgets["per_period"]["series"][0]["data"] == [17, 28, 3]
    assert widgets["t"]["rows"] == [["x", "1.10"]]
    bad = api.get("/api/v1/dashboards/zz-test/", {"date_from": "2026-02-01", "date_to": "2026-01-01"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "date_to"
    assert api_client_for(make_member(company, Role.SALES)).get("/api/v1/dashboards/zz-test/").status_code == 404
    client.force_login(admin.user)
    page = client.get("/dashboards/zz-test/", {"date_from": "2026-01-15", "date_to": "2026-03-03"})
    assert page.status_code == 200 and b'data-testid="kpi-money"' in page.content
    assert b'id="chart-data-per_period"' in page.content and b"<details" in page.content
    response = client.get("/dashboards/zz-test/export.xlsx", {"date_from": "2026-01-15", "date_to": "2026-03-03"})
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["KPIs", "Per period", "Table"]
    kpis = {row[0]: row[1] for row in book["KPIs"].iter_rows(values_only=True) if row and row[0]}
    assert kpis["Days"] == 48 and Decimal(str(kpis["Money"])) == Decimal("12.50")
    assert list(book["Table"].iter_rows(values_only=True))[1][0] == "x"


def test_widget_data_and_workbook_are_exact():
    chart = dashboards.Chart("c", "C", "line", ["a"], [dashboards.Series("s", [Decimal("0.10")])])
    assert widget_data(chart)["series"][0]["data"] == ["0.10"]
    assert widget_data(chart, as_number=True)["series"][0]["data"] == [0.1]
    with pytest.raises(ValueError):
        dashboards.Chart("c", "C", "radar", [], [])
    filters = dashboards.Filters(None, None, date(2026, 1, 1), date(2026, 1, 31))
    board = dashboards.Dashboard("k", "K", _build)
    assert workbook(board, filters, _build(filters))[:2] == b"PK"
