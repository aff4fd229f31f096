"""The sales and marketing dashboards (issue #7) on a small known data set: exact figures, team scope, company
isolation, drill-down to the opportunity list, API / page / XLSX, constant query counts."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Opportunity, OpportunityStageChange
from crm.services.campaigns import campaign_cost_add
from crm.services.funnel import funnel_reach_rebuild
from crm.services.opportunities import (
    lost_reason_create,
    opportunity_create,
    opportunity_lose,
    opportunity_move,
    opportunity_win,
    pipeline_default_ensure,
)
from crm.services.targets import sales_target_set
from crm.tests.factories import AccountFactory
from crm.tests.factories_campaigns import make_campaign
from suite import dashboards
from suite.models import Role
from suite.testing import TeamFactory, api_client_for, make_member

D = Decimal
PERIOD = {"date_from": "2026-01-01", "date_to": "2026-03-31"}


def _at(day: date, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour))


class World:
    pass


def _deal(company, owner, team, name, amount, *, stages, created, closed=None, outcome=None, expected=None):
    pipeline = pipeline_default_ensure(company=company)
    by_name = {s.name_en: s for s in pipeline.stages.all()}
    account = AccountFactory(company=company, by=owner)
    opp = opportunity_create(
        company=company,
        by=owner,
        name=name,
        account=account,
        amount=amount,
        owner=owner,
        team=team,
        expected_close_date=expected,
    )
    for stage in stages:
        opp = opportunity_move(opportunity=opp, stage=by_name[stage], by=owner)
    if outcome == "won":
        opp = opportunity_win(opportunity=opp, by=owner)
    elif outcome == "lost":
        reason = lost_reason_create(company=company, by=None, name=f"r-{name}")
        opp = opportunity_lose(opportunity=opp, reason=reason, by=owner)
    Opportunity.objects.filter(pk=opp.pk).update(created_at=_at(created), closed_at=_at(closed) if closed else None)
    OpportunityStageChange.objects.filter(opportunity=opp).update(changed_at=_at(created))
    funnel_reach_rebuild(company_id=company.pk)  # the history was rewritten past the services: keep the funnel's
    return Opportunity.objects.get(pk=opp.pk)


def build_world(company) -> World:
    w = World()
    w.team_a, w.team_b = TeamFactory(company=company, name="A组"), TeamFactory(company=company, name="B组")
    w.admin = make_member(company, Role.ADMIN)
    w.manager_a = make_member(company, Role.MANAGER, teams=[w.team_a])
    w.manager_b = make_member(company, Role.MANAGER, teams=[w.team_b])
    w.sales_a = make_member(company, Role.SALES, teams=[w.team_a])
    w.sales_b = make_member(company, Role.SALES, teams=[w.team_b])
    sa, sb = w.sales_a.user, w.sales_b.user
    w.a1 = _deal(
        company,
        sa,
        w.team_a,
        "A1 won",
        "1000.00",
        stages=["Needs analysis", "Proposal / quote"],
        created=date(2026, 1, 1),
        closed=date(2026, 1, 11),
        outcome="won",
    )
    w.a2 = _deal(
        company,
        sa,
        w.team_a,
        "A2 lost",
        "500.00",
        stages=["Needs analysis"],
        created=date(2026, 2, 1),
        closed=date(2026, 2, 10),
        outcome="lost",
    )
    w.a3 = _deal(
        company,
        sa,
        w.team_a,
        "A3 open",
        "2000.00",
        stages=["Needs analysis", "Proposal / quote"],
        created=date(2026, 2, 5),
        expected=date(2026, 3, 15),
    )
    w.b1 = _deal(
        company,
        sb,
        w.team_b,
        "B1 won",
        "3000.00",
        stages=["Needs analysis", "Proposal / quote", "Negotiation"],
        created=date(2026, 2, 1),
        closed=date(2026, 2, 21),
        outcome="won",
    )
    w.b2 = _deal(
        company, sb, w.team_b, "B2 open", "100.00", stages=[], created=date(2026, 3, 1), expected=date(2026, 3, 20)
    )
    sales_target_set(company_id=company.pk, team=w.team_a, month=date(2026, 1, 1), amount="1500")
    sales_target_set(company_id=company.pk, team=w.team_b, month=date(2026, 2, 1), amount="2500")
    return w


@pytest.fixture
def world(company):
    return build_world(company)


def _get(membership, key="sales", **params):
    client = api_client_for(membership)
    return client.get(f"/api/v1/dashboards/{key}/", {**PERIOD, **params})


def _widgets(response) -> dict:
    assert response.status_code == 200, response.content
    return {w["key"]: w for w in response.json()["widgets"]}


def test_sales_figures_for_the_admin_are_exact(world, english):
    widgets = _widgets(_get(world.admin))
    assert widgets["won_amount"]["value"] == "4000.00"
    assert widgets["won_count"]["value"] == 2
    assert widgets["win_rate"]["value"] == "66.7"  # 2 won of 3 closed
    assert widgets["cycle_days"]["value"] == "15.0"  # (10 + 20) / 2
    assert widgets["weighted_pipeline"]["value"] == "1010.00"  # 2000 × 50 % + 100 × 10 %
    funnel = widgets["funnel"]
    assert funnel["labels"] == ["初步接洽", "需求确认", "方案报价", "商务谈判", "赢单"]
    assert funnel["series"][0]["data"] == [5, 4, 3, 2, 2]
    assert funnel["series"][1]["data"] == [None, "80.0", "75.0", "66.7", "100.0"]
    forecast = widgets["forecast"]
    assert forecast["labels"] == ["2026-01", "2026-02", "2026-03"]
    weighted, won, target = (s["data"] for s in forecast["series"])
    assert weighted == ["0.00", "0.00", "1010.00"]
    assert won == ["1000.00", "3000.00", "0.00"]
    assert target == ["1500.00", "2500.00", "0.00"]
    by_owner = {row[0]: row for row in widgets["by_owner"]["rows"]}
    assert by_owner[world.sales_a.user.username][1:] == [1, 1, "1000.00", "50.0", "10.0"]
    assert by_owner[world.sales_b.user.username][1:] == [1, 0, "3000.00", "100.0", "20.0"]


def test_without_a_period_the_sales_dashboard_shows_the_year_behind_and_the_forecast_ahead(company, english):
    today = timezone.localdate()
    admin = make_member(company, Role.ADMIN)
    account = AccountFactory(company=company, by=admin.user)
    soon = today + timedelta(days=40)
    opportunity_create(
        company=company, by=admin.user, name="下月成交", account=account, amount="2000.00", expected_close_date=soon
    )

    response = api_client_for(admin).get("/api/v1/dashboards/sales/")

    body = response.json()
    assert (date.fromisoformat(body["date_from"]), date.fromisoformat(body["date_to"])) == (
        dashboards.range_with_next_quarter(today)
    )
    widgets = _widgets(response)
    assert widgets["weighted_pipeline"]["value"] == "200.00"  # 2000 × the first stage's 10 %
    assert soon.strftime("%Y-%m") in widgets["forecast"]["labels"]
    marketing = api_client_for(admin).get("/api/v1/dashboards/marketing/").json()
    assert date.fromisoformat(marketing["date_to"]) == today  # the others look back only


def test_a_manager_sees_only_their_team(world, english):
    widgets = _widgets(_get(world.manager_a))
    assert widgets["won_amount"]["value"] == "1000.00"
    assert widgets["win_rate"]["value"] == "50.0"
    assert widgets["weighted_pipeline"]["value"] == "1000.00"
    assert widgets["funnel"]["series"][0]["data"] == [3, 3, 2, 1, 1]
    assert [s["data"] for s in widgets["forecast"]["series"]][2] == ["1500.00", "0.00", "0.00"]
    assert [row[0] for row in widgets["by_team"]["rows"]] == ["A组"]
    # team B's id is not one of manager A's choices: a field error, not B's numbers
    response = _get(world.manager_a, team=world.team_b.pk)
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["team"]
    assert _widgets(_get(world.manager_b))["won_amount"]["value"] == "3000.00"


def test_filters_by_team_owner_and_granularity(world, english):
    widgets = _widgets(_get(world.admin, team=world.team_b.pk))
    assert widgets["won_amount"]["value"] == "3000.00"
    assert widgets["forecast"]["series"][2]["data"] == ["0.00", "2500.00", "0.00"]
    widgets = _widgets(_get(world.admin, owner=world.sales_a.user.pk))
    assert widgets["won_amount"]["value"] == "1000.00"
    weekly = _widgets(_get(world.admin, granularity="week", date_from="2026-01-05", date_to="2026-01-18"))
    assert weekly["forecast"]["labels"] == ["2026-W02", "2026-W03"]
    assert weekly["forecast"]["series"][1]["data"] == ["1000.00", "0.00"]


def test_other_company_sees_nothing_of_ours(world, other_company, english):
    outsider = make_member(other_company, Role.ADMIN)
    widgets = _widgets(_get(outsider))
    assert widgets["won_amount"]["value"] == "0.00"
    assert widgets["won_count"]["value"] == 0
    assert widgets["by_owner"]["rows"] == []
    # our team's id is not a choice in their company
    assert _get(outsider, team=world.team_a.pk).status_code == 400


def test_drill_down_from_funnel_stage_to_the_list_and_a_deal(world, english, client):
    widgets = _widgets(_get(world.admin))
    negotiation_url = widgets["funnel"]["series"][0]["drill_urls"][3]
    client.force_login(world.admin.user)
    page = client.get(negotiation_url)
    assert page.status_code == 200
    names = {o.name for o in page.context["page"].object_list}
    assert names == {"A1 won", "B1 won"}  # reached negotiation or later (A1 skipped it)
    page = client.get(widgets["won_amount"]["drill_url"])
    assert {o.name for o in page.context["page"].object_list} == {"A1 won", "B1 won"}
    page = client.get(widgets["weighted_pipeline"]["drill_url"])
    assert {o.name for o in page.context["page"].object_list} == {"A3 open", "B2 open"}
    team_row_url = widgets["by_team"]["row_urls"][0]
    page = client.get(team_row_url)
    assert {o.name for o in page.context["page"].object_list} == {"B1 won"}
    assert client.get(f"/crm/opportunities/{world.a1.pk}/").status_code == 200


def test_roles_and_modules(world, company, english):
    assert _get(world.sales_a).status_code == 404  # sales people have no sales dashboard
    keys = [d["key"] for d in api_client_for(world.admin).get("/api/v1/dashboards/").json()]
    assert {"sales", "marketing"} <= set(keys)
    assert "sales" not in [d["key"] for d in api_client_for(world.sales_a).get("/api/v1/dashboards/").json()]
    company.enabled_modules = ["scrm"]
    company.save(update_fields=["enabled_modules"])
    assert _get(world.admin).status_code == 404
    keys = [d["key"] for d in api_client_for(world.admin).get("/api/v1/dashboards/").json()]
    assert "sales" not in keys and "marketing" not in keys
    assert api_client_for(world.admin).get("/api/v1/dashboards/nope/").status_code == 404


def test_bad_filters_are_field_errors(world, english, client):
    response = _get(world.admin, date_from="2026-03-01", date_to="2026-01-01")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["date_to"]
    response = _get(world.admin, date_from="yesterday")
    assert response.status_code == 400 and [e["field"] for e in response.json()["errors"]] == ["date_from"]
    assert [e["field"] for e in _get(world.admin, granularity="year").json()["errors"]] == ["granularity"]
    response = _get(world.admin, date_from="2020-01-01", date_to="2026-01-01")
    assert response.status_code == 400
    client.force_login(world.admin.user)
    page = client.get("/dashboards/sales/", {"date_from": "2026-03-01", "date_to": "2026-01-01"})
    assert page.status_code == 400
    assert b'data-testid="error-date_to"' in page.content


def test_page_and_xlsx_export(world, english, client):
    from openpyxl import load_workbook

    client.force_login(world.admin.user)
    page = client.get("/dashboards/sales/", PERIOD)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="kpi-won_amount"' in html and "chart-data-funnel" in html
    assert "<script>" not in html.replace('<script type="application/json"', "")  # no inline script (CSP)
    index = client.get("/dashboards/")
    assert b'data-dashboard="sales"' in index.content
    response = client.get("/dashboards/sales/export.xlsx", PERIOD)
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content) if response.streaming else response.content))
    kpis = {row[0]: row[1] for row in book.worksheets[0].iter_rows(values_only=True) if row and row[0]}
    assert D(str(kpis["Won"])) == D("4000.00")
    funnel = next(sheet for sheet in book.worksheets if sheet.title == "Funnel")
    rows = list(funnel.iter_rows(values_only=True))
    assert rows[1][:2] == ("初步接洽", 5)
    assert client.get("/dashboards/sales/export.xlsx", {"date_from": "x"}).status_code == 400


def test_marketing_dashboard_costs_and_channel_mix(world, company, english):
    marketing = make_member(company, Role.MARKETING)
    one = make_campaign(company, channel="wechat", team=world.team_a)
    two = make_campaign(company, channel="email", team=world.team_b)
    campaign_cost_add(campaign=one, by=None, incurred_on=date(2026, 1, 10), description="ads", amount="300.00")
    campaign_cost_add(campaign=two, by=None, incurred_on=date(2026, 2, 10), description="mail", amount="200.00")
    campaign_cost_add(campaign=two, by=None, incurred_on=date(2025, 2, 10), description="old", amount="999.00")
    widgets = _widgets(_get(marketing, key="marketing"))
    assert widgets["cost"]["value"] == "500.00"
    mix = widgets["channel_mix"]
    assert dict(zip(mix["labels"], mix["series"][0]["data"], strict=True)) == {
        "E-mail": "200.00",
        "WeChat Official Account": "300.00",
    }
    team_a = _widgets(_get(world.admin, key="marketing", team=world.team_a.pk))
    assert team_a["cost"]["value"] == "300.00"
    assert [row[0] for row in team_a["campaigns"]["rows"]] == [one.name]


def _count(fn) -> int:
    with CaptureQueriesContext(connection) as captured:
        fn()
    return len(captured)


def test_query_counts_do_not_grow_with_the_data(world, company, english):
    sales = dashboards.get("sales")

    def run():
        from suite.dashboards.forms import FilterForm
        from suite.policy import Actor

        actor = Actor(world.admin)
        form = FilterForm(PERIOD, actor=actor, dashboard=sales)
        assert form.is_valid()
        sales.build(form.filters())

    run()
    before = _count(run)
    for n in range(6):
        _deal(
            company,
            world.sales_b.user,
            world.team_b,
            f"more {n}",
            "10.00",
            stages=["Needs analysis"],
            created=date(2026, 1, 3),
            closed=date(2026, 1, 4),
            outcome="won",
        )
    assert _count(run) == before


URL = "/api/v1/crm/sales-targets/"


def test_sales_targets_api(world, english):
    manager = api_client_for(world.manager_a)
    response = manager.post(
        "/api/v1/crm/sales-targets/",
        {"team": world.team_a.pk, "month": "2026-04-17", "amount": "800.00"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["month"] == "2026-04-01"
    again = manager.post(
        "/api/v1/crm/sales-targets/",
        {"team": world.team_a.pk, "month": "2026-04-01", "amount": "900.00"},
        format="json",
    )
    assert again.status_code == 201 and again.json()["id"] == response.json()["id"]  # replaced, not doubled
    assert again.json()["amount"] == "900.00"
    other_team = manager.post(
        "/api/v1/crm/sales-targets/", {"team": world.team_b.pk, "month": "2026-04-01", "amount": "1"}, format="json"
    )
    assert other_team.status_code == 400 and other_team.json()["errors"][0]["field"] == "team"
    negative = manager.post(
        "/api/v1/crm/sales-targets/", {"team": world.team_a.pk, "month": "2026-04-01", "amount": "-1"}, format="json"
    )
    assert negative.status_code == 400 and negative.json()["errors"][0]["field"] == "amount"
    listed = manager.get("/api/v1/crm/sales-targets/").json()
    teams = {row["team"]["id"] for row in listed["results"]} if "results" in listed else set()
    assert world.team_b.pk not in teams
    assert api_client_for(world.sales_a).post(
        "/api/v1/crm/sales-targets/", {"team": world.team_a.pk, "month": "2026-04-01", "amount": "1"}, format="json"
    ).status_code in (403, 404)
