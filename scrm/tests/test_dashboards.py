"""The social dashboard: exact response-time percentiles, SLA attainment, sentiment trend and UGC volume on a
small known data set; team scope; company isolation; constant query counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from scrm import selectors_dashboards as selectors
from scrm.dashboards import build
from scrm.models import UgcPost
from scrm.tests.factories import make_channel, make_conversation, make_message
from suite import dashboards
from suite.models import Role
from suite.policy import Actor
from suite.testing import TeamFactory

pytestmark = pytest.mark.django_db

MARCH = {"date_from": dt.date(2026, 3, 1), "date_to": dt.date(2026, 3, 31)}


def at(day: int, hour: int = 10, minute: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=timezone.get_current_timezone())


def conversation(company, channel, agent, started: dt.datetime, answered_after: int | None):
    conv = make_conversation(company, channel=channel, assigned_to=agent)
    # the later message first: the conversation keeps the earliest inbound time (as the inbox batch does)
    make_message(company, conversation=conv, text="还在吗", sent_at=started + dt.timedelta(minutes=5))
    make_message(company, conversation=conv, text="在吗", sent_at=started)
    make_message(company, conversation=conv, text="您好", direction="out", sent_at=started - dt.timedelta(days=1))
    if answered_after is not None:
        conv.first_response_at = started + dt.timedelta(minutes=answered_after)
        conv.save(update_fields=["first_response_at"])
    return conv


def ugc(company, channel, sentiment: str, posted_at: dt.datetime):
    return UgcPost.objects.create(
        company=company,
        kind="review",
        channel=channel,
        text="帖子",
        sentiment=sentiment,
        sentiment_score=Decimal("0"),
        posted_at=posted_at,
    )


@pytest.fixture
def world(company, other_company, member):
    admin = member(company, Role.ADMIN, username="soc_admin")
    team = TeamFactory(company=company, name="社媒一组")
    agent1 = member(company, Role.SERVICE, teams=[team], username="agent_li")
    agent2 = member(company, Role.SERVICE, username="agent_wu")
    manager = member(company, Role.MANAGER, teams=[team], username="soc_mgr")
    wechat, douyin = make_channel(company, "webhook"), make_channel(company, "simulator")
    conversation(company, wechat, agent1.user, at(2), 10)
    conversation(company, wechat, agent1.user, at(3), 30)
    conversation(company, wechat, agent2.user, at(4), 90)
    conversation(company, douyin, agent2.user, at(5), None)  # unanswered, long past the target
    conversation(company, wechat, agent1.user, at(2, month=4), 1)  # outside the period
    foreign = make_channel(other_company, "webhook")
    conversation(other_company, foreign, member(other_company, Role.SERVICE).user, at(2), 5)
    ugc(company, wechat, "positive", at(3))
    ugc(company, wechat, "negative", at(4))
    ugc(company, None, "neutral", at(10))
    ugc(company, douyin, "positive", at(11))
    ugc(company, wechat, "negative", at(2, month=4))  # outside
    ugc(other_company, foreign, "negative", at(3))
    return {
        "admin": Actor(admin),
        "manager": Actor(manager),
        "team": team,
        "agents": (agent1.user, agent2.user),
        "channels": (wechat, douyin),
        "other_admin": Actor(member(other_company, Role.ADMIN)),
    }


def test_response_times_per_channel_have_exact_percentiles_and_attainment(world):
    rows = selectors.response_times(world["admin"], group_by="channel", **MARCH)
    wechat, douyin = world["channels"]
    figures = [(r.key, r.conversations, r.answered, r.p50_minutes, r.p90_minutes, r.met, r.decided) for r in rows]
    assert figures == [
        (wechat.pk, 3, 3, Decimal("30.0"), Decimal("78.0"), 2, 3),
        (douyin.pk, 1, 0, None, None, 0, 1),
        (None, 4, 3, Decimal("30.0"), Decimal("78.0"), 2, 4),
    ]
    assert [r.attainment for r in rows] == [Decimal("66.7"), Decimal("0.0"), Decimal("50.0")]


def test_response_times_per_agent(world):
    rows = selectors.response_times(world["admin"], group_by="agent", **MARCH)
    li, wu = world["agents"]
    figures = {r.key: (r.conversations, r.p50_minutes, r.p90_minutes, r.attainment) for r in rows[:-1]}
    assert figures == {
        li.pk: (2, Decimal("20.0"), Decimal("28.0"), Decimal("100.0")),
        wu.pk: (2, Decimal("90.0"), Decimal("90.0"), Decimal("0.0")),
    }


def test_a_manager_sees_the_conversations_of_their_team_only(world):
    total = selectors.response_times(world["manager"], group_by="channel", **MARCH)[-1]
    assert (total.conversations, total.p50_minutes, total.attainment) == (2, Decimal("20.0"), Decimal("100.0"))
    team_total = selectors.response_times(world["admin"], group_by="agent", team_id=world["team"].pk, **MARCH)[-1]
    assert team_total.conversations == 2


def test_sentiment_trend_per_week_and_ugc_volume_per_channel(world):
    weeks = selectors.sentiment_trend(world["admin"], **MARCH)
    assert [(w.period, w.positive, w.neutral, w.negative) for w in weeks] == [
        (dt.date(2026, 3, 2), 1, 0, 1),
        (dt.date(2026, 3, 9), 1, 1, 0),
    ]
    wechat, douyin = world["channels"]
    volumes = {v.channel_id: (v.posts, v.negative) for v in selectors.ugc_volume_by_channel(world["admin"], **MARCH)}
    assert volumes == {wechat.pk: (2, 1), douyin.pk: (1, 0), None: (1, 0)}


def test_nothing_crosses_companies(world):
    total = selectors.response_times(world["other_admin"], group_by="channel", **MARCH)[-1]
    assert (total.conversations, total.p50_minutes) == (1, Decimal("5.0"))
    assert [v.posts for v in selectors.ugc_volume_by_channel(world["other_admin"], **MARCH)] == [1]


def _filters(actor, **extra):
    return dashboards.Filters(company=actor.company, actor=actor, **MARCH, **extra)


def test_dashboard_widgets_carry_the_figures_and_drill_links(world):
    widgets = {w.key: w for w in build(_filters(world["admin"]))}
    assert widgets["conversations"].value == 4
    assert widgets["sla_attainment"].value == Decimal("50.0")
    assert widgets["ugc_negative"].value == 1  # one negative post in March
    sentiment = widgets["sentiment_trend"]
    assert sentiment.labels[:3] == ["2026-W09", "2026-W10", "2026-W11"]
    assert [s.data[:3] for s in sentiment.series] == [[0, 1, 1], [0, 0, 1], [0, 1, 0]]
    wechat, _douyin = world["channels"]
    assert f"channel={wechat.pk}" in widgets["response_by_channel"].series[0].drill_urls[0]
    assert widgets["conversations"].drill_url.startswith("/scrm/inbox/?")


def test_dashboard_runs_a_constant_number_of_queries(world, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        build(_filters(world["admin"]))
    company = world["admin"].company
    channel = world["channels"][0]
    for day in range(1, 20):
        conversation(company, channel, world["agents"][0], at(day, 12), day)
        ugc(company, channel, "neutral", at(day, 12))
    with django_assert_max_num_queries(8):
        build(_filters(world["admin"]))


def test_the_social_dashboard_is_for_managers_not_for_sales(world, member):
    sales = Actor(member(world["admin"].company, Role.SALES))
    assert dashboards.visible_or_none(world["manager"], "social") is not None
    assert dashboards.visible_or_none(sales, "social") is None


def _browser(membership):
    from django.test import Client

    client = Client()
    client.force_login(membership.user)
    client.cookies["django_language"] = "en"
    return client


def test_the_social_page_and_api_answer_managers_and_404_for_sales(world, member):
    params = {key: value.isoformat() for key, value in MARCH.items()}
    manager = _browser(world["manager"].membership)
    page = manager.get("/dashboards/social/", params)
    assert page.status_code == 200
    assert manager.get("/api/v1/dashboards/social/", params).status_code == 200
    export = manager.get("/dashboards/social/export.xlsx", params)
    assert export.status_code == 200 and export.content[:2] == b"PK"  # an XLSX (zip) file
    sales = _browser(member(world["admin"].company, Role.SALES))
    assert sales.get("/dashboards/social/", params).status_code == 404
    assert sales.get("/api/v1/dashboards/social/", params).status_code == 404


def test_the_inbox_and_ugc_wall_accept_the_drill_filters(world):
    _wechat, douyin = world["channels"]
    admin = _browser(world["admin"].membership)
    widgets = {w.key: w for w in build(_filters(world["admin"]))}
    html = admin.get(widgets["response_by_channel"].series[0].drill_urls[0]).content.decode()
    assert html.count("data-conversation=") == 3  # WeChat conversations that started in March
    assert "Narrowed by a dashboard figure" in html
    li, _wu = world["agents"]
    agent_url = widgets["response_by_agent"].row_urls[
        [r[0] for r in widgets["response_by_agent"].rows].index("agent_li")
    ]
    assert f"agent={li.pk}" in agent_url
    ugc_html = admin.get("/scrm/ugc/", {"sentiment": "negative", **{k: v.isoformat() for k, v in MARCH.items()}})
    assert ugc_html.status_code == 200
    assert ugc_html.content.decode().count("data-ugc=") == 1
    urls = widgets["ugc_by_channel"].series[0].drill_urls
    by_hand = next(url for url in urls if "channel=none" in url)
    assert admin.get(by_hand).content.decode().count("data-ugc=") == 1
    on_douyin = next(url for url in urls if f"channel={douyin.pk}" in url)
    assert admin.get(on_douyin).content.decode().count("data-ugc=") == 1
