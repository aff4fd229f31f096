"""The quote list and the campaign list: search, filters and sorting narrow and order the rows; the export (CSV,
XLSX) holds exactly the rows the list shows with its filters, within the actor's scope (never another team's or
company's); nonsense in the query string is ignored; the query count does not grow with the rows."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from crm.services.campaigns import campaign_update
from crm.services.opportunities import opportunity_create
from crm.services.quotes import quote_accept, quote_create, quote_send
from crm.tests.factories import AccountFactory, line_in
from crm.tests.factories_campaigns import make_campaign
from crm.tests.test_views_customers import assert_csp_clean, browser
from suite.models import Role
from suite.testing import TeamFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("crm_enabled")]
QUOTES = reverse("crm:quote-list")
CAMPAIGNS = reverse("crm:campaign-list")
NONSENSE = {"q": "", "sort": "-no_such_field", "state": "nope", "status": "nope", "channel": "nope"}
NONSENSE_DATES = {"date_from": "2026-02-30", "date_to": "x", "owner": "x", "page": "abc"}


def _at(monkeypatch, *args) -> None:
    moment = timezone.make_aware(datetime(*args))
    monkeypatch.setattr(timezone, "now", lambda: moment)


def _quote(company, owner, deal: tuple, monkeypatch, *steps):
    """A quote made on ``deal``'s day: ``(opportunity name, customer, quantity at 100 + 13 % tax, (y, m, d))``."""
    name, customer, quantity, made_on = deal
    _at(monkeypatch, *made_on, 10, 0)
    account = AccountFactory(company=company, by=owner, name=customer)
    opportunity = opportunity_create(company=company, by=owner, name=name, account=account)
    line_in(company, opportunity=opportunity, quantity=quantity)
    quote = quote_create(opportunity=opportunity, by=owner, valid_until=date(2099, 1, 31))
    for service in steps:
        quote = service(quote=quote, by=owner)
    return quote


@pytest.fixture
def world(company, other_company, member, sales, team, monkeypatch):
    """Quotes of zhangsan (sales, team 华东), lisi (his teammate), wangwu (team 华南) and another company."""
    w = type("World", (), {})()
    w.sales = sales
    w.colleague = member(company, Role.SALES, teams=[team], username="lisi")
    w.stranger = member(company, Role.SALES, teams=[TeamFactory(company=company, name="华南销售")], username="wangwu")
    w.manager = member(company, Role.MANAGER, teams=[team], username="manager_hd")
    w.admin = member(company, Role.ADMIN, username="admin_q")
    w.service = member(company, Role.SERVICE, username="service_q")
    elsewhere = member(other_company, Role.SALES, username="elsewhere")
    hengli, mp = "常州恒力液压件厂", monkeypatch
    w.hydraulic = _quote(company, sales.user, ("液压站改造", hengli, "2", (2026, 3, 2)), mp)
    w.lathe = _quote(company, sales.user, ("数控机床采购", "宁波精工机械", "5", (2026, 3, 10)), mp, quote_send)
    w.moulding = _quote(
        company, w.colleague.user, ("注塑机维保", "苏州华美塑胶", "1", (2026, 3, 20)), mp, quote_send, quote_accept
    )
    w.robot = _quote(company, w.stranger.user, ("机器人集成", hengli, "9", (2026, 4, 1)), mp)
    w.foreign = _quote(other_company, elsewhere.user, ("液压站改造", hengli, "3", (2026, 3, 5)), mp)
    monkeypatch.undo()
    return w


def _numbers(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(r'data-testid="quote-number"><strong>([^<]+)</strong>', response.content.decode())


def _csv(response, column: int = 0) -> list[str]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return [row[column] for row in list(csv.reader(io.StringIO(text)))[1:]]


def test_quotes_are_searched_by_number_customer_and_opportunity(world):
    client = browser(world.admin)
    page = client.get(QUOTES)
    assert_csp_clean(page.content.decode())
    assert _numbers(page) == [world.robot.number, world.moulding.number, world.lathe.number, world.hydraulic.number]
    assert _numbers(client.get(QUOTES, {"q": world.lathe.number})) == [world.lathe.number]
    assert _numbers(client.get(QUOTES, {"q": world.lathe.number.lower()})) == [world.lathe.number]
    assert _numbers(client.get(QUOTES, {"q": "恒力"})) == [world.robot.number, world.hydraulic.number]  # customer
    assert _numbers(client.get(QUOTES, {"q": "数控"})) == [world.lathe.number]  # opportunity name
    assert _numbers(client.get(QUOTES, {"q": "shukong"})) == [world.lathe.number]  # its pinyin
    assert _numbers(client.get(QUOTES, {"q": "hengli"})) == [world.robot.number, world.hydraulic.number]  # customer's
    assert _numbers(client.get(QUOTES, {"q": "恒力 机器人"})) == [world.robot.number]  # every term
    assert _numbers(client.get(QUOTES, {"q": "液压站改造"})) == [world.hydraulic.number]  # not the other company's
    empty = client.get(QUOTES, {"q": "没有这个"})
    assert _numbers(empty) == [] and "No quotes match these filters." in empty.content.decode()


def test_quotes_are_filtered_by_state_owner_and_date(world):
    client = browser(world.admin)
    assert _numbers(client.get(QUOTES, {"state": "sent"})) == [world.lathe.number]
    assert _numbers(client.get(QUOTES, {"state": "accepted"})) == [world.moulding.number]
    open_ones = [world.robot.number, world.lathe.number, world.hydraulic.number]
    assert _numbers(client.get(QUOTES, {"state": "open"})) == open_ones
    march = {"date_from": "2026-03-02", "date_to": "2026-03-10"}
    assert _numbers(client.get(QUOTES, march)) == [world.lathe.number, world.hydraulic.number]  # inclusive days
    assert _numbers(client.get(QUOTES, {"date_from": "2026-03-11"})) == [world.robot.number, world.moulding.number]
    assert _numbers(browser(world.sales).get(QUOTES, {"owner": "me"})) == [world.lathe.number, world.hydraulic.number]
    # what does not parse is ignored: every quote, newest first
    every = [world.robot.number, world.moulding.number, world.lathe.number, world.hydraulic.number]
    assert _numbers(client.get(QUOTES, {**NONSENSE, **NONSENSE_DATES})) == every


def test_quotes_are_sorted_by_number_date_total_and_state(world):
    client = browser(world.admin)
    by_total = [world.moulding.number, world.hydraulic.number, world.lathe.number, world.robot.number]  # 1, 2, 5, 9
    assert _numbers(client.get(QUOTES, {"sort": "total"})) == by_total
    assert _numbers(client.get(QUOTES, {"sort": "-total"})) == by_total[::-1]
    by_number = sorted([world.hydraulic.number, world.lathe.number, world.moulding.number, world.robot.number])
    assert _numbers(client.get(QUOTES, {"sort": "number"})) == by_number
    by_date = [world.hydraulic.number, world.lathe.number, world.moulding.number, world.robot.number]
    assert _numbers(client.get(QUOTES, {"sort": "date"})) == by_date
    # state: accepted < draft < sent (alphabetical, newest first within a state)
    by_state = [world.moulding.number, world.robot.number, world.hydraulic.number, world.lathe.number]
    assert _numbers(client.get(QUOTES, {"sort": "state"})) == by_state
    page = client.get(QUOTES, {"sort": "total", "q": "恒力"}).content.decode()
    assert 'aria-sort="ascending"' in page and "q=%E6%81%92%E5%8A%9B" in page  # the headers keep the search


def test_the_quote_export_is_the_filtered_list_in_the_actors_scope(world):
    client = browser(world.sales)
    page = client.get(QUOTES, {"q": "恒力", "sort": "-total"})
    assert _numbers(page) == [world.hydraulic.number]  # wangwu's 恒力 quote is not his
    assert 'name="export" value="csv"' in page.content.decode()
    assert _csv(client.get(QUOTES, {"q": "恒力", "sort": "-total", "export": "csv"})) == [world.hydraulic.number]
    assert _csv(client.get(QUOTES, {"export": "csv", "sort": "total"})) == [world.hydraulic.number, world.lathe.number]

    manager = browser(world.manager)  # his team's quotes, not 华南's, never the other company's
    team = _csv(manager.get(QUOTES, {"export": "csv", "sort": "number"}))
    assert team == sorted([world.hydraulic.number, world.lathe.number, world.moulding.number])
    assert _csv(manager.get(QUOTES, {"export": "csv", "state": "accepted"}), column=3) == ["苏州华美塑胶"]

    xlsx = browser(world.admin).get(QUOTES, {"export": "xlsx", "q": "恒力", "sort": "number"})
    assert xlsx.status_code == 200
    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    assert [row[0] for row in rows[1:]] == sorted([world.hydraulic.number, world.robot.number])
    assert {Decimal(str(row[9])) for row in rows[1:]} == {world.hydraulic.total, world.robot.total}

    service = browser(world.service)  # sees the quotes, may not export them
    assert 'name="export"' not in service.get(QUOTES).content.decode()
    assert service.get(QUOTES, {"export": "csv"}).status_code == 403


def test_quote_list_and_export_query_counts_do_not_grow(world, company, monkeypatch, django_assert_max_num_queries):
    client = browser(world.admin)
    counted = {}
    for params in ({}, {"q": "恒力", "state": "open", "sort": "-total"}, {"export": "csv"}):
        with django_assert_max_num_queries(40) as few:
            response = client.get(QUOTES, params)
            if params.get("export"):
                b"".join(response.streaming_content)
        counted[tuple(params)] = (params, len(few.captured_queries))
    for n in range(6):
        _quote(company, world.sales.user, (f"扩产{n}", "恒力", "1", (2026, 5, n + 1)), monkeypatch)
    monkeypatch.undo()
    for params, count in counted.values():
        with django_assert_max_num_queries(count):
            response = client.get(QUOTES, params)
            if params.get("export"):
                assert len(_csv(response)) == 10
            else:
                assert response.status_code == 200


# ---------------------------------------------------------------- campaigns


@pytest.fixture
def campaigns(company, other_company, member):
    w = type("Campaigns", (), {})()
    w.marketer = member(company, Role.MARKETING, username="mkt_list")
    w.sales = member(company, Role.SALES, username="sales_list")
    w.expo = make_campaign(
        company, name="春季工业展", name_en="Spring expo", code="spring-expo", channel="exhibition", budget="50000",
        start_date=date(2026, 3, 15),
    )  # fmt: skip
    w.webinar = make_campaign(
        company, name="液压技术网络研讨会", code="hydraulic-webinar", channel="webinar", budget="3000",
        start_date=date(2026, 2, 1),
    )  # fmt: skip
    w.wechat = make_campaign(
        company, name="春节公众号推文", code="cny-wechat", channel="wechat", budget="800", start_date=date(2026, 1, 20)
    )
    campaign_update(campaign=w.wechat, by=None, status="done")
    w.foreign = make_campaign(
        other_company, name="春季工业展", code="spring-expo", channel="exhibition", budget="99999",
        start_date=date(2026, 3, 1),
    )  # fmt: skip
    return w


def _campaign_codes(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(r'<span class="small muted">([^<]+)</span></td>', response.content.decode())


def test_campaigns_are_searched_filtered_and_sorted(campaigns):
    client = browser(campaigns.marketer)
    page = client.get(CAMPAIGNS)
    assert_csp_clean(page.content.decode())
    assert _campaign_codes(page) == ["spring-expo", "hydraulic-webinar", "cny-wechat"]  # latest start first
    assert _campaign_codes(client.get(CAMPAIGNS, {"q": "春"})) == ["spring-expo", "cny-wechat"]
    assert _campaign_codes(client.get(CAMPAIGNS, {"q": "expo"})) == ["spring-expo"]  # English name and code
    assert _campaign_codes(client.get(CAMPAIGNS, {"q": "webinar 液压"})) == ["hydraulic-webinar"]
    assert _campaign_codes(client.get(CAMPAIGNS, {"q": "yeya"})) == ["hydraulic-webinar"]  # pinyin of 液压
    assert _campaign_codes(client.get(CAMPAIGNS, {"q": "CJ"})) == ["spring-expo", "cny-wechat"]  # initials of 春季/春节
    campaign_update(
        campaign=campaigns.wechat, by=None, name="抖音信息流"
    )  # a renamed campaign is found by its new name
    assert _campaign_codes(client.get(CAMPAIGNS, {"q": "douyin"})) == ["cny-wechat"]
    campaign_update(campaign=campaigns.wechat, by=None, name="春节公众号推文")
    assert _campaign_codes(client.get(CAMPAIGNS, {"channel": "wechat"})) == ["cny-wechat"]
    assert _campaign_codes(client.get(CAMPAIGNS, {"status": "planned"})) == ["spring-expo", "hydraulic-webinar"]
    assert _campaign_codes(client.get(CAMPAIGNS, {"status": "done", "q": "春"})) == ["cny-wechat"]
    by_budget = ["cny-wechat", "hydraulic-webinar", "spring-expo"]
    assert _campaign_codes(client.get(CAMPAIGNS, {"sort": "budget"})) == by_budget
    assert _campaign_codes(client.get(CAMPAIGNS, {"sort": "-budget"})) == by_budget[::-1]
    assert _campaign_codes(client.get(CAMPAIGNS, {"sort": "start_date"})) == by_budget  # the same order here
    by_name = ["spring-expo", "cny-wechat", "hydraulic-webinar"]  # 春季, 春节, 液压 (code points and pinyin agree)
    assert _campaign_codes(client.get(CAMPAIGNS, {"sort": "name"})) == by_name
    assert _campaign_codes(client.get(CAMPAIGNS, NONSENSE)) == ["spring-expo", "hydraulic-webinar", "cny-wechat"]
    empty = client.get(CAMPAIGNS, {"q": "没有"})
    assert _campaign_codes(empty) == [] and "No campaigns match these filters." in empty.content.decode()


def test_the_campaign_export_is_the_filtered_list_of_the_company(campaigns):
    client = browser(campaigns.marketer)
    assert 'name="export" value="xlsx"' in client.get(CAMPAIGNS).content.decode()
    assert _csv(client.get(CAMPAIGNS, {"q": "春", "sort": "budget", "export": "csv"})) == ["cny-wechat", "spring-expo"]
    assert _csv(client.get(CAMPAIGNS, {"channel": "exhibition", "export": "csv"}), column=5) == ["50000.00"]
    xlsx = client.get(CAMPAIGNS, {"status": "planned", "sort": "name", "export": "xlsx"})
    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    assert [row[0] for row in rows[1:]] == ["spring-expo", "hydraulic-webinar"]  # not the other company's expo

    sales = browser(campaigns.sales)  # sees the campaigns, may not export them
    assert 'name="export"' not in sales.get(CAMPAIGNS).content.decode()
    assert sales.get(CAMPAIGNS, {"export": "csv"}).status_code == 403


def test_campaign_list_and_export_query_counts_do_not_grow(campaigns, company, django_assert_max_num_queries):
    client = browser(campaigns.marketer)
    counted = []
    for params in ({}, {"q": "春", "channel": "exhibition", "sort": "-budget"}, {"export": "csv"}):
        with django_assert_max_num_queries(30) as few:
            response = client.get(CAMPAIGNS, params)
            if params.get("export"):
                b"".join(response.streaming_content)
        counted.append((params, len(few.captured_queries)))
    for n in range(8):
        make_campaign(
            company, name=f"春季活动{n}", channel="exhibition", budget=str(100 * n), start_date=date(2026, 4, 1)
        )
    for params, count in counted:
        with django_assert_max_num_queries(count):
            response = client.get(CAMPAIGNS, params)
            if params.get("export"):
                assert len(_csv(response)) == 11
            else:
                assert response.status_code == 200
