"""The activity calendar (日程): a month of the activities the reader may see, by the day they are due, in whole
weeks that start as the reader's language starts them; each entry opens its record."""

from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from crm.models import Activity
from crm.selectors_activities import CALENDAR_PER_DAY, ActivityFilters, activity_calendar
from crm.services.activities import activity_complete, activity_create
from crm.tests.factories import AccountFactory
from suite.models import Role
from suite.policy import Actor

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("crm_enabled")]


def _at(day: date, hour: int) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour))


def test_a_month_in_whole_weeks_with_each_days_activities(company, sales, sales_user, member, team):
    account = AccountFactory(company=company, by=sales_user, name="苏州精工")
    day = date(2026, 12, 15)  # a Tuesday
    visit = activity_create(
        company=company, by=sales_user, kind="meeting", subject="上门拜访", account=account, due_at=_at(day, 14)
    )
    call = activity_create(
        company=company, by=sales_user, kind="call", subject="报价跟进", account=account, due_at=_at(day, 9)
    )
    activity_complete(activity=call, by=sales_user)
    for n in range(CALENDAR_PER_DAY + 2):
        activity_create(
            company=company,
            by=sales_user,
            kind="task",
            subject=f"任务{n}",
            account=account,
            due_at=_at(day + timedelta(days=1), 10),
        )
    stranger = member(company, Role.SALES, username="other.team").user  # not in the team: not shown to sales
    activity_create(
        company=company,
        by=stranger,
        kind="call",
        subject="别人的电话",
        account=AccountFactory(company=company, by=stranger),
        due_at=_at(day, 11),
    )

    monday = activity_calendar(Actor(sales), ActivityFilters(), month=day, first_weekday=0)
    assert (monday.first, monday.last) == (date(2026, 11, 30), date(2027, 1, 3))  # Monday to Sunday, whole weeks
    assert all(len(week) == 7 for week in monday.weeks) and monday.weeks[0][0].in_month is False
    cells = {cell.day: cell for week in monday.weeks for cell in week}
    assert [a.subject for a in cells[day].activities] == ["报价跟进", "上门拜访"]  # earliest first, done ones too
    assert (len(cells[day + timedelta(days=1)].activities), cells[day + timedelta(days=1)].more) == (
        CALENDAR_PER_DAY,
        2,
    )
    sunday = activity_calendar(Actor(sales), ActivityFilters(), month=day, first_weekday=6)
    assert sunday.first == date(2026, 11, 29) and sunday.last == date(2027, 1, 2)
    assert visit.pk in [a.pk for a in cells[day].activities]


def test_the_page_opens_records_moves_by_month_and_keeps_to_the_scope(
    client, company, sales, sales_user, member, django_assert_max_num_queries
):
    account = AccountFactory(company=company, by=sales_user, name="宁波港机")
    today = timezone.localdate()
    activity_create(
        company=company, by=sales_user, kind="meeting", subject="季度回顾", account=account, due_at=_at(today, 10)
    )
    other = member(company, Role.SALES, username="zhao.other").user
    activity_create(
        company=company,
        by=other,
        kind="call",
        subject="不该看到",
        account=AccountFactory(company=company, by=other),
        due_at=_at(today, 11),
    )
    client.force_login(sales_user)

    with translation.override("zh-hans"), django_assert_max_num_queries(12):
        page = client.get(reverse("crm:activity-calendar"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = page.content.decode()
    assert page.status_code == 200 and "季度回顾" in html and "不该看到" not in html
    assert reverse("crm:account-detail", args=[account.pk]) in html  # the entry opens its record
    assert 'aria-current="date"' in html
    assert page.context["weekdays"][0] == "星期一"  # Chinese weeks start on Monday

    manager = member(company, Role.MANAGER, username="boss.all")  # company-wide scope? a manager of no team
    client.force_login(manager.user)
    assert "季度回顾" not in client.get(reverse("crm:activity-calendar")).content.decode()  # only mine by default

    client.force_login(sales_user)
    later = client.get(reverse("crm:activity-calendar"), {"month": "2031-02", "kind": "call"})
    assert later.context["calendar"].month == date(2031, 2, 1) and "季度回顾" not in later.content.decode()
    assert "month=2031-03" in later.context["next_query"] and "kind=call" in later.context["next_query"]
    for bad in ("2026-13", "x", "0-1", "99999-01"):  # anything unreadable is this month, never an error
        assert client.get(reverse("crm:activity-calendar"), {"month": bad}).context["calendar"].month == today.replace(
            day=1
        )

    with CaptureQueriesContext(connection) as few:
        client.get(reverse("crm:activity-calendar"))
    for n in range(12):
        activity_create(
            company=company, by=sales_user, kind="task", subject=f"t{n}", account=account, due_at=_at(today, 8)
        )
    with django_assert_max_num_queries(len(few)):
        client.get(reverse("crm:activity-calendar"))
    assert Activity.objects.filter(owner=sales_user).count() == 13
