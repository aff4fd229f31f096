"""The activity list (/crm/activities/): what each role sees, the filters, search and sorts, overdue rows, "Mark
done", the bulk actions (mark done, reassign owner — all or nothing, within the actor's scope), the export of
exactly the filtered rows, and a query count that does not grow with the rows."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.models import Activity
from crm.selectors_activities import day_start
from crm.services.activities import activity_complete, activity_create
from crm.services.leads import lead_create
from crm.services.opportunities import opportunity_create
from crm.tests.factories import AccountFactory, ContactFactory, ticket_for
from crm.tests.test_views_customers import assert_csp_clean, browser
from suite.audit import history_of
from suite.models import Role
from suite.testing import CompanyFactory, TeamFactory, make_member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("crm_enabled")]

URL = "/crm/activities/"


@pytest.fixture
def colleague(company, member, team):
    return member(company, Role.SALES, teams=[team], username="lisi")


@pytest.fixture
def manager(company, member, team):
    return member(company, Role.MANAGER, teams=[team], username="wangjingli")


@pytest.fixture
def other_team(company):
    return TeamFactory(company=company, name="华南销售组")


@pytest.fixture
def stranger(company, member, other_team):
    return member(company, Role.SALES, teams=[other_team], username="zhaoliu")


def _today_at(hours: int, days: int = 0):
    return day_start(timezone.localdate() + timedelta(days=days)) + timedelta(hours=hours)


def _activity(owner, subject, *, kind="task", due=None, done=False, record=None, **fields):
    """An activity of ``owner`` on ``record`` (default: a new account of theirs)."""
    record = record or AccountFactory(company=owner.company, by=owner.user)
    link = type(record).__name__.lower()
    activity = activity_create(
        company=owner.company, by=owner.user, kind=kind, subject=subject, due_at=due, **{link: record}, **fields
    )
    if done and kind != "note":
        activity = activity_complete(activity=activity, by=owner.user)
    return activity


def _rows(client, **query) -> list[str]:
    """The subjects of the list's rows, in order."""
    response = client.get(URL, query)
    assert response.status_code == 200
    return re.findall(r'<strong class="subject">([^<]+)</strong>', response.content.decode())


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _bulk(client, **data):
    return client.post(reverse("crm:activity-bulk"), data, follow=True)


def _csv_ids(response) -> list[int]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return [int(row[0]) for row in list(csv.reader(io.StringIO(text)))[1:]]


def test_the_page_is_in_the_crm_navigation_and_linked_from_my_day(sales):
    client = browser(sales)
    assert reverse("crm:activity-list") == URL
    page = client.get(URL).content.decode()
    assert f'href="{URL}"' in page  # the CRM menu
    assert_csp_clean(page)
    my_day = client.get(reverse("crm:my-day")).content.decode()
    assert f'href="{URL}?owner=me"' in my_day
    # the older export URL answers as before
    assert client.get(reverse("crm:activity-export")).status_code == 200


def test_a_salesperson_sees_their_own_a_manager_their_teams_neither_another_teams_or_companys(
    company, sales, colleague, manager, stranger
):
    _activity(sales, "我的回访")
    _activity(colleague, "同组的拜访")
    _activity(manager, "经理的会议", kind="meeting")
    _activity(stranger, "别组的电话", kind="call")
    elsewhere = make_member(CompanyFactory(), Role.SALES)
    _activity(elsewhere, "别家公司的任务")

    # sales people work their own activities (crm/policies.py: Activity, SALES → Scope.OWN)
    assert set(_rows(browser(sales), state="all")) == {"我的回访"}
    # a manager sees the team's: their own, and their salespeople's
    assert set(_rows(browser(manager), state="all")) == {"我的回访", "同组的拜访", "经理的会议"}
    admin = make_member(company, Role.ADMIN, username="admin_act")
    assert set(_rows(browser(admin), state="all")) == {"我的回访", "同组的拜访", "经理的会议", "别组的电话"}


def test_each_filter_and_the_search_narrow_the_rows(company, sales, colleague, manager, stranger, other_team):
    account = AccountFactory(company=company, by=sales.user, name="明远科技")
    contact = ContactFactory(company=company, by=sales.user, name="王小明", account=account)
    deal = opportunity_create(company=company, by=sales.user, name="冷库一期", account=account)
    lead = lead_create(company=company, by=colleague.user, name="抖音线索")
    ticket = ticket_for(company, subject="设备报修", account=account)
    _activity(sales, "逾期回访", kind="call", due=_today_at(10, days=-2), record=account)
    _activity(sales, "今天的会议", kind="meeting", due=_today_at(15), record=contact)
    _activity(sales, "下周的报价", due=_today_at(9, days=6), record=deal, body="带上冷库的图纸")
    _activity(colleague, "线索初访", kind="call", due=_today_at(11, days=1), record=lead)
    _activity(colleague, "已完成的上门", kind="meeting", due=_today_at(9, days=-1), done=True, record=ticket)
    _activity(sales, "客户备注", kind="note", record=account)
    _activity(stranger, "华南的任务", due=_today_at(9, days=-3))
    admin = browser(make_member(company, Role.ADMIN, username="admin_act"))

    def rows(**query):
        return set(_rows(admin, **query))

    everything = {"逾期回访", "今天的会议", "下周的报价", "线索初访", "已完成的上门", "客户备注", "华南的任务"}
    assert rows(state="all") == everything
    assert rows() == everything - {"已完成的上门", "客户备注"}  # default: the open ones
    # state
    assert rows(state="overdue") == {"逾期回访", "华南的任务"}
    assert rows(state="today") == {"今天的会议"}
    assert rows(state="upcoming") == {"下周的报价", "线索初访"}
    assert rows(state="done") == {"已完成的上门", "客户备注"}
    # kind
    assert rows(state="all", kind="call") == {"逾期回访", "线索初访"}
    assert rows(state="all", kind="note") == {"客户备注"}
    # owner: a person, or "me"
    assert rows(state="all", owner=colleague.user.pk) == {"线索初访", "已完成的上门"}
    assert set(_rows(browser(manager), state="all", owner="me")) == set()
    # team
    assert rows(state="all", team=other_team.pk) == {"华南的任务"}
    # the record the activity is on (the most specific one: a deal's activity is the deal's, not its account's)
    assert rows(state="all", record="opportunity") == {"下周的报价"}
    assert rows(state="all", record="contact") == {"今天的会议"}
    assert rows(state="all", record="lead") == {"线索初访"}
    assert rows(state="all", record="ticket") == {"已完成的上门"}
    assert rows(state="all", record="account") == {"逾期回访", "客户备注", "华南的任务"}
    # due dates, inclusive
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert rows(state="all", due_from=yesterday, due_to=tomorrow) == {"今天的会议", "线索初访", "已完成的上门"}
    assert rows(state="all", due_to=yesterday) == {"逾期回访", "已完成的上门", "华南的任务"}
    # search: subject and details, every word
    assert rows(state="all", q="回访") == {"逾期回访"}
    assert rows(state="all", q="图纸") == {"下周的报价"}
    assert rows(state="all", q="冷库 报价") == {"下周的报价"}
    assert rows(state="all", q="没有这个") == set()
    # together, and shown selected
    page = admin.get(URL, {"state": "open", "kind": "call", "owner": sales.user.pk, "record": "account"})
    html = page.content.decode()
    assert set(re.findall(r'<strong class="subject">([^<]+)</strong>', html)) == {"逾期回访"}
    assert '<option value="call" selected>' in html and '<option value="account" selected>' in html
    assert f'<option value="{sales.user.pk}" selected>' in html


def test_state_chips_count_the_filtered_activities_and_keep_the_filters(company, sales):
    _activity(sales, "逾期一", due=_today_at(9, days=-1))
    _activity(sales, "逾期二", kind="call", due=_today_at(9, days=-5))
    _activity(sales, "今天", due=_today_at(18))
    _activity(sales, "做完了", due=_today_at(9, days=-2), done=True)
    html = browser(sales).get(URL, {"kind": "task"}).content.decode()
    counts = dict(re.findall(r'data-state="(\w+)">[^<]+<span class="chip-count">(\d+)</span>', html))
    assert counts == {"open": "2", "overdue": "1", "today": "1", "upcoming": "0", "done": "1", "all": "3"}
    assert 'href="?kind=task&amp;state=overdue"' in html


def test_default_order_of_each_state_and_columns_sort(company, sales, colleague, manager):
    _activity(colleague, "B 明天", due=_today_at(9, days=1))
    _activity(sales, "A 上周", kind="call", due=_today_at(9, days=-7))
    _activity(sales, "C 没有期限", kind="meeting")
    _activity(colleague, "D 已完成", due=_today_at(9, days=-30), done=True)
    client = browser(manager)

    # open ones by due date (undated last), done ones latest first, "all" the latest made first
    assert _rows(client) == ["A 上周", "B 明天", "C 没有期限"]
    assert _rows(client, state="done") == ["D 已完成"]
    assert _rows(client, state="all") == ["D 已完成", "C 没有期限", "A 上周", "B 明天"]
    assert _rows(client, state="all", sort="due") == ["D 已完成", "A 上周", "B 明天", "C 没有期限"]
    assert _rows(client, state="all", sort="-created") == ["D 已完成", "C 没有期限", "A 上周", "B 明天"]
    assert _rows(client, state="all", sort="kind")[:1] == ["A 上周"]  # call < meeting < task
    assert _rows(client, state="all", sort="kind")[1] == "C 没有期限"
    by_owner = _rows(client, state="all", sort="owner")  # lisi before zhangsan
    assert set(by_owner[:2]) == {"B 明天", "D 已完成"} and set(by_owner[2:]) == {"A 上周", "C 没有期限"}
    assert _rows(client, state="all", sort="-no_such_field") == _rows(client, state="all")


def test_overdue_rows_are_highlighted_and_open_ones_can_be_marked_done(company, sales):
    late = _activity(sales, "逾期的电话", kind="call", due=_today_at(9, days=-1))
    today = _activity(sales, "今天的任务", due=_today_at(20))
    client = browser(sales)
    html = client.get(URL).content.decode()
    late_row = re.search(rf'<tr id="activity-{late.pk}" class="([^"]*)">(.*?)</tr>', html, re.S)
    today_row = re.search(rf'<tr id="activity-{today.pk}" class="([^"]*)">(.*?)</tr>', html, re.S)
    assert late_row.group(1) == "is-overdue" and "data-overdue" in late_row.group(2)
    assert today_row.group(1) == "" and "data-overdue" not in today_row.group(2) and "Today" in today_row.group(2)
    assert reverse("crm:activity-complete", args=[late.pk]) in late_row.group(2)

    back = f"{URL}?state=overdue"
    response = client.post(reverse("crm:activity-complete", args=[late.pk]), {"next": back}, follow=True)
    assert response.redirect_chain[-1][0] == back
    assert _messages(response) == ["Marked done: 逾期的电话"]
    assert Activity.objects.get(pk=late.pk).done_at is not None
    assert "逾期的电话" not in _rows(client, state="overdue")


def test_bulk_mark_done_is_all_or_nothing_within_the_actors_scope(company, sales, manager, stranger):
    mine = [_activity(sales, f"回访{i}", due=_today_at(9, days=-i)) for i in range(3)]
    theirs = _activity(stranger, "别组的任务")
    elsewhere = _activity(make_member(CompanyFactory(), Role.SALES), "别家公司的任务")
    client = browser(manager)
    page = client.get(URL).content.decode()
    assert 'id="bulk-form"' in page and page.count('name="ids"') == 3
    assert '<option value="done" data-fields="">Mark done</option>' in page

    for foreign in (theirs, elsewhere):
        response = _bulk(client, action="done", ids=[mine[0].pk, foreign.pk])
        assert _messages(response) == ["Some of the selected records are not available to you. Nothing was changed."]
    assert not Activity.objects.filter(done_at__isnull=False).exclude(kind="note").exists()

    response = _bulk(client, action="done", ids=[a.pk for a in mine[:2]], next=f"{URL}?q=%E5%9B%9E%E8%AE%BF")
    assert response.redirect_chain[-1][0] == f"{URL}?q=%E5%9B%9E%E8%AE%BF"
    assert _messages(response) == ["Mark done: 2 records changed."]
    assert [bool(Activity.objects.get(pk=a.pk).done_at) for a in mine] == [True, True, False]
    # a salesperson marks their own done too
    assert _messages(_bulk(browser(sales), action="done", ids=[mine[2].pk])) == ["Mark done: 1 record changed."]


def test_bulk_reassign_moves_owner_and_team_audited_and_refuses_done_ones_for_all(
    company, sales, colleague, manager, stranger
):
    tasks = [_activity(sales, f"跟进{i}", due=_today_at(9, days=i)) for i in range(2)]
    done = _activity(sales, "做完的拜访", kind="meeting", done=True)
    client = browser(manager)
    assert '<option value="owner" data-fields="owner">Reassign owner</option>' in client.get(URL).content.decode()

    response = _bulk(client, action="owner", owner=colleague.user.pk, ids=[t.pk for t in tasks] + [done.pk])
    (message,) = _messages(response)
    assert message == "Nothing was changed: 做完的拜访 — A done activity keeps its owner."
    assert set(Activity.objects.filter(pk__in=[t.pk for t in tasks]).values_list("owner", flat=True)) == {sales.user.pk}

    response = _bulk(client, action="owner", owner=colleague.user.pk, ids=[t.pk for t in tasks])
    assert _messages(response) == ["Reassign owner: 2 records changed."]
    assert set(Activity.objects.filter(pk__in=[t.pk for t in tasks]).values_list("owner", flat=True)) == {
        colleague.user.pk
    }
    change = history_of(tasks[0])[0]
    assert change.username == "wangjingli" and change.changes["owner_id"] == (sales.user.pk, colleague.user.pk)
    assert "跟进0" in _rows(browser(colleague))  # on the new owner's list now

    # given to someone of another team, the activity goes with them to their team
    _bulk(client, action="owner", owner=stranger.user.pk, ids=[tasks[1].pk])
    moved = Activity.objects.get(pk=tasks[1].pk)
    assert (moved.owner_id, moved.team_id) == (stranger.user.pk, stranger.teams.get().pk)

    outsider = make_member(CompanyFactory(), Role.SALES)
    response = _bulk(client, action="owner", owner=outsider.user.pk, ids=[tasks[0].pk])
    assert _messages(response) == ["Choose a member of the company."]


def test_a_salesperson_may_mark_done_but_not_reassign(company, sales, colleague):
    task = _activity(sales, "我的任务")
    client = browser(sales)
    page = client.get(URL).content.decode()
    assert 'value="done"' in page and 'value="owner" data-fields' not in page
    assert _bulk(client, action="owner", owner=colleague.user.pk, ids=[task.pk]).status_code == 403
    assert Activity.objects.get(pk=task.pk).owner_id == sales.user.pk


def test_the_export_holds_exactly_the_filtered_rows_in_the_lists_order(company, sales, colleague, manager, stranger):
    _activity(sales, "逾期电话", kind="call", due=_today_at(9, days=-3))
    _activity(sales, "今天电话", kind="call", due=_today_at(16))
    _activity(colleague, "同事电话", kind="call", due=_today_at(9, days=-1))
    _activity(sales, "逾期任务", due=_today_at(9, days=-2))
    _activity(sales, "完成的电话", kind="call", due=_today_at(9, days=-4), done=True)
    _activity(stranger, "别组电话", kind="call", due=_today_at(9, days=-3))
    client = browser(manager)
    query = {"kind": "call", "state": "open", "sort": "-due"}

    page = client.get(URL, query).content.decode()
    shown = [int(pk) for pk in re.findall(r'<tr id="activity-(\d+)"', page)]
    assert len(shown) == 3
    link = re.search(r'href="(/crm/activities/export/\?[^"]*export=csv)"', page).group(1).replace("&amp;", "&")
    exported = client.get(link)
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    assert _csv_ids(exported) == shown

    overdue = {"state": "overdue", "owner": sales.user.pk}
    shown = [int(pk) for pk in re.findall(r'<tr id="activity-(\d+)"', client.get(URL, overdue).content.decode())]
    assert _csv_ids(client.get(reverse("crm:activity-export"), {**overdue, "export": "csv"})) == shown
    assert len(shown) == 2
    # My day's link: its own open activities (``status`` is the older name of ``state``)
    mine = _csv_ids(browser(sales).get(reverse("crm:activity-export"), {"status": "open", "owner": "me"}))
    assert sorted(mine) == sorted(Activity.objects.filter(owner=sales.user, done_at=None).values_list("pk", flat=True))


def test_filter_values_that_cannot_be_read_are_ignored_and_said(company, sales):
    _activity(sales, "照常显示")
    client = browser(sales)
    nonsense = (
        "page=abc&q=%25_%5C&sort=-no_such_field&state=nope&kind=%3Cb%3E&owner=x&team=%C2%B2&record=planet"
        "&due_from=2026-02-30&due_to=0001-01-01&account=-1"
    )
    response = client.get(f"{URL}?{nonsense}")
    assert response.status_code == 200
    html = response.content.decode()
    ignored = re.search(r"<p class=\"form-errors\" role=\"alert\" data-ignored>([^<]*)</p>", html).group(1)
    assert ignored.split(":", 1)[1].strip() == "State, Kind, Owner, Team, Related to, Due from, Due until"
    assert client.get(URL, {"owner": str(2**62), "team": str(2**62)}).status_code == 200
    assert client.get(f"{reverse('crm:activity-export')}?{nonsense}").status_code == 200
    assert _rows(client) == ["照常显示"]


def _record(kind: int, owner, account, *, name: str):
    company, user = owner.company, owner.user
    if kind == 1:
        return ContactFactory(company=company, by=user, account=account)
    if kind == 2:
        return opportunity_create(company=company, by=user, name=name, account=account)
    if kind == 3:
        return lead_create(company=company, by=user, name=name)
    if kind == 4:
        return ticket_for(company, account=account)
    return account


def test_the_page_runs_the_same_queries_for_5_rows_as_for_30(
    company, sales, colleague, manager, django_assert_max_num_queries
):
    seq = iter(range(1000))

    def grow(n):
        for _ in range(n):
            i = next(seq)
            owner = (sales, colleague)[i % 2]
            account = AccountFactory(company=company, by=owner.user)
            record = _record(i % 5, owner, account, name=f"记录{i}")  # every kind of record a row links to
            _activity(
                owner,
                f"活动{i}",
                kind=("call", "task", "meeting")[i % 3],
                due=_today_at(9, days=i % 7 - 3),
                record=record,
            )

    client = browser(manager)
    grow(5)  # one activity on each kind of record (the page reads each kind's records in one query)
    client.get(URL, {"state": "all"})
    with CaptureQueriesContext(connection) as few:
        response = client.get(URL, {"state": "all"})
    baseline = len(few)  # now: the captured queries are read from the connection's log, which the next request clears
    assert response.content.decode().count('<tr id="activity-') == 5
    grow(25)
    client.get(URL, {"state": "all"})  # warm as above: the state counts are remembered until activities change
    with django_assert_max_num_queries(baseline) as many:
        response = client.get(URL, {"state": "all"})
    assert response.status_code == 200
    assert response.content.decode().count('<tr id="activity-') == 25  # a page
    assert len(many) == baseline


def test_the_state_counts_are_remembered_until_an_activity_changes(company, sales):
    _activity(sales, "甲", due=_today_at(9, days=1))
    client = browser(sales)
    first = client.get(URL).context["counts"]
    assert (first["open"], first["done"]) == (1, 0)
    with CaptureQueriesContext(connection) as again:
        assert client.get(URL).context["counts"] == first
    assert not [q for q in again.captured_queries if "crm_activity" in q["sql"] and "COUNT(" in q["sql"]]  # memory
    _activity(sales, "乙", due=_today_at(9, days=-1), done=True)  # a write: the next page counts again
    assert (lambda c: (c["open"], c["done"], c["all"]))(client.get(URL).context["counts"]) == (1, 1, 2)
    assert client.get(URL, {"state": "done"}).context["page"].paginator.count == 1
