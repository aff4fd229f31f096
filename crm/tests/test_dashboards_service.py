"""The service dashboard: exact SLA attainment per priority / agent, CSAT distribution, top categories and volume
trend on a small known data set; team scope; company isolation; constant query counts; the drill-down ticket
list accepts the dashboard's filters."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import selectors_dashboards_service as selectors
from crm.dashboards_service import build
from crm.models import CsatSurvey, Ticket, TicketCategory
from crm.tests.test_views_customers import browser
from suite import dashboards
from suite.models import Role
from suite.policy import Actor
from suite.testing import TeamFactory

pytestmark = pytest.mark.django_db

MARCH = {"date_from": dt.date(2026, 3, 1), "date_to": dt.date(2026, 3, 31)}
_numbers = iter(range(1, 10_000))


def at(day: int, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, 9, 0, tzinfo=timezone.get_current_timezone())


def ticket(company, opened: dt.datetime, *, response=None, resolution=None, csat=None, **fields) -> Ticket:
    """A ticket opened at ``opened``; ``response`` / ``resolution`` are (target, actual) minutes after opening
    (actual None: not yet)."""
    values = {"subject": "售后", "number": next(_numbers), **fields}
    if response:
        values["first_response_due_at"] = opened + dt.timedelta(minutes=response[0])
        if response[1] is not None:
            values["first_responded_at"] = opened + dt.timedelta(minutes=response[1])
    if resolution:
        values["resolution_due_at"] = opened + dt.timedelta(minutes=resolution[0])
        if resolution[1] is not None:
            values["resolved_at"] = opened + dt.timedelta(minutes=resolution[1])
            values["status"] = "resolved"
    created = Ticket.objects.create(company=company, **values)
    Ticket.objects.filter(pk=created.pk).update(created_at=opened)
    if csat:
        CsatSurvey.objects.create(
            company=company,
            ticket=created,
            token=f"tok-{created.pk}",
            expires_at=opened + dt.timedelta(days=30),
            score=csat,
            submitted_at=opened + dt.timedelta(days=1),
        )
    return created


@pytest.fixture
def world(company, other_company, member):
    team = TeamFactory(company=company, name="客服一组")
    agent_a = member(company, Role.SERVICE, teams=[team], username="kf_a")
    agent_b = member(company, Role.SERVICE, username="kf_b")
    manager = member(company, Role.MANAGER, teams=[team], username="kf_mgr")
    install = TicketCategory.objects.create(company=company, name="安装")
    billing = TicketCategory.objects.create(company=company, name="账单")
    a, b = agent_a.user, agent_b.user
    t1 = ticket(
        company, at(2), response=(60, 30), resolution=(480, 240), csat=5, priority="high", assigned_agent=a,
        team=team, category=install, erp_product_id=77,
    )  # fmt: skip
    ticket(
        company, at(3), response=(60, 90), resolution=(480, 600), csat=3, priority="high", assigned_agent=a,
        team=team, category=install, first_response_breached_at=at(3) + dt.timedelta(hours=1),
    )  # fmt: skip
    ticket(
        company, at(4), response=(240, 60), resolution=(1440, None), priority="normal", assigned_agent=b,
        category=billing, resolution_breached_at=at(5),
    )  # fmt: skip
    ticket(company, at(5), priority="low", assigned_agent=b)  # no SLA policy: nothing decided
    ticket(company, at(2, month=4), response=(60, 1), priority="high", assigned_agent=a)  # outside the period
    ticket(other_company, at(2), response=(60, 1), priority="high", csat=1)
    return {
        "admin": Actor(member(company, Role.ADMIN, username="kf_admin")),
        "admin_membership": None,
        "manager": Actor(manager),
        "agents": (a, b),
        "team": team,
        "categories": (install, billing),
        "t1": t1,
        "other_admin": Actor(member(other_company, Role.ADMIN)),
    }


def test_sla_attainment_per_priority_is_exact(world):
    rows = selectors.service_figures(world["admin"], group_by="priority", **MARCH)
    figures = [
        (r.key, r.volume, r.first_response_attainment, r.resolution_attainment, r.csat_count, r.csat_average)
        for r in rows
    ]
    assert figures == [
        ("low", 1, None, None, 0, None),
        ("normal", 1, Decimal("100.0"), Decimal("0.0"), 0, None),
        ("high", 2, Decimal("50.0"), Decimal("50.0"), 2, Decimal("4.00")),
        (None, 4, Decimal("66.7"), Decimal("33.3"), 2, Decimal("4.00")),
    ]


def test_per_agent_and_top_categories(world):
    a, b = world["agents"]
    agents = {r.key: (r.volume, r.first_response_attainment) for r in selectors.service_figures(
        world["admin"], group_by="agent", **MARCH
    )[:-1]}  # fmt: skip
    assert agents == {a.pk: (2, Decimal("50.0")), b.pk: (2, Decimal("100.0"))}
    install, billing = world["categories"]
    categories = [(r.key, r.label, r.volume) for r in selectors.service_figures(
        world["admin"], group_by="category", **MARCH
    )[:-1]]  # fmt: skip
    assert categories == [(install.pk, "安装", 2), (None, "", 1), (billing.pk, "账单", 1)]


def test_csat_distribution_and_volume_trend(world):
    csat = selectors.csat_distribution(world["admin"], **MARCH)
    assert (csat.counts, csat.answers, csat.average) == ({1: 0, 2: 0, 3: 1, 4: 0, 5: 1}, 2, Decimal("4.00"))
    trend = selectors.ticket_volume_trend(world["admin"], **MARCH)
    assert [(b.period, b.opened, b.resolved, b.breached) for b in trend] == [(dt.date(2026, 3, 1), 4, 2, 2)]


def test_filters_narrow_by_team_agent_and_product(world):
    a, _b = world["agents"]
    by_team = selectors.service_figures(world["admin"], group_by="priority", team_id=world["team"].pk, **MARCH)
    by_product = selectors.service_figures(world["admin"], group_by="priority", product_id=77, **MARCH)
    by_agent = selectors.service_figures(world["admin"], group_by="priority", agent_id=a.pk, **MARCH)
    assert (by_team[-1].volume, by_product[-1].volume, by_agent[-1].volume) == (2, 1, 2)


def test_a_manager_sees_their_teams_tickets_and_nothing_crosses_companies(world):
    assert selectors.service_figures(world["manager"], group_by="priority", **MARCH)[-1].volume == 2
    other = selectors.service_figures(world["other_admin"], group_by="priority", **MARCH)[-1]
    assert (other.volume, other.csat_average) == (1, Decimal("1.00"))


def _filters(actor, **extra):
    return dashboards.Filters(company=actor.company, actor=actor, **MARCH, **extra)


def test_dashboard_widgets_and_constant_queries(world, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        widgets = {w.key: w for w in build(_filters(world["admin"]))}
    assert widgets["tickets"].value == 4
    assert widgets["first_response_attainment"].value == Decimal("66.7")
    assert widgets["breached"].value == 2
    assert widgets["csat_distribution"].series[0].data == [0, 0, 1, 0, 1]
    assert widgets["volume_trend"].labels[0] == "2026-03"
    assert widgets["volume_trend"].series[0].data == [4]
    company = world["admin"].company
    for day in range(1, 25):
        ticket(company, at(day), response=(60, day), priority="urgent", assigned_agent=world["agents"][1], csat=4)
    with django_assert_max_num_queries(8):
        build(_filters(world["admin"]))


def test_the_drill_link_opens_the_ticket_list_filtered_the_same_way(world, company):
    widgets = {w.key: w for w in build(_filters(world["admin"]))}
    high_url = widgets["sla_by_priority"].series[0].drill_urls[2]
    assert "priority=high" in high_url and "date_from=2026-03-01" in high_url
    admin = world["admin"].membership
    html = browser(admin).get(high_url).content.decode()
    assert html.count('href="/crm/tickets/') - html.count('href="/crm/tickets/new') >= 2
    listed = set(
        selectors.ticket_drill_filter(Ticket.objects.filter(company=company), {
            "priority": "high", "date_from": "2026-03-01", "date_to": "2026-03-31"
        })[0].values_list("number", flat=True)
    )  # fmt: skip
    assert len(listed) == 2
    product_url = reverse("crm:ticket-list") + "?status=all&product=77&date_from=2026-03-01&date_to=2026-03-31"
    html = browser(admin).get(product_url).content.decode()
    assert f'href="/crm/tickets/{world["t1"].pk}/"' in html
    assert "Narrowed by a dashboard figure" in html


def test_the_service_dashboard_is_for_managers_and_service_not_for_sales(world, member):
    sales = Actor(member(world["admin"].company, Role.SALES))
    assert dashboards.visible_or_none(world["manager"], "service") is not None
    assert dashboards.visible_or_none(sales, "service") is None


def test_the_service_page_and_api_answer_service_and_404_for_sales(world, member):
    params = {key: value.isoformat() for key, value in MARCH.items()}
    service = browser(member(world["admin"].company, Role.SERVICE, username="kf_lead"))
    assert service.get("/dashboards/service/", params).status_code == 200
    assert service.get("/api/v1/dashboards/service/", params).status_code == 200
    assert service.get("/dashboards/service/export.xlsx", params).content[:2] == b"PK"
    sales = browser(member(world["admin"].company, Role.SALES, username="nosy"))
    assert sales.get("/dashboards/service/", params).status_code == 404
    assert sales.get("/api/v1/dashboards/service/", params).status_code == 404
