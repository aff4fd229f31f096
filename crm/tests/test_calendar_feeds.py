"""Calendar subscription (日程订阅): a person's secret iCalendar address, made, replaced and stopped from the activity
calendar page, read with no login by calendar apps — exactly their own dated activities, in their language."""

import hashlib
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from crm.models import Activity, CalendarFeed
from crm.selectors_activities import calendar_feed_activities
from crm.services.activities import activity_complete, activity_create
from crm.services.calendar_feeds import calendar_feed_find, calendar_feed_issue, calendar_feed_revoke
from crm.services.leads import lead_create
from crm.services.opportunities import opportunity_create
from crm.tests.factories import AccountFactory, ContactFactory, ticket_for
from suite.models import Module, Role
from suite.policy import Actor
from suite.testing import web_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("crm_enabled")]

SITE = "https://crm.example.cn"


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.TROIKA_PUBLIC_URL = SITE


def _speaking(membership, language: str):
    membership.language = language
    membership.save(update_fields=["language"])
    return membership


def _issue(membership) -> str:
    """Make the person's address through the page's button; the path of the address shown."""
    page = web_client(membership).post(reverse("crm:calendar-feed-issue"))
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    address = page.context["new_feed_url"]
    assert address.startswith(f"{SITE}/crm/calendar/feed/") and address.endswith(".ics")
    return urlsplit(address).path


def _read(path: str):
    return Client().get(path)  # a calendar app: no login, no cookie


def _events(response) -> dict[str, object]:
    calendar = Calendar.from_ical(response.content)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def _uid(activity: Activity) -> str:
    return f"activity-{activity.pk}@troika"


def _task(company, user, *, days: float, account, **fields) -> Activity:
    fields.setdefault("kind", "task")
    fields.setdefault("subject", f"任务 {days}")
    return activity_create(
        company=company, by=user, account=account, due_at=timezone.now() + timedelta(days=days), **fields
    )


def test_the_feed_holds_exactly_the_persons_dated_activities_in_their_language(
    company, other_company, sales, sales_user, member, admin
):
    _speaking(sales, "en")
    account = AccountFactory(company=company, by=sales_user, name="苏州精工")
    deal = opportunity_create(company=company, by=sales_user, name="二期扩产", account=account, amount="50000.00")
    call = _task(
        company,
        sales_user,
        days=1,
        account=account,
        kind="call",
        subject="报价跟进",
        body="带上新报价单",
        duration_minutes=45,
        location="客户会议室 A",
    )
    visit = _task(company, sales_user, days=-3, account=None, opportunity=deal, kind="meeting", subject="上门拜访")
    activity_complete(activity=visit, by=sales_user)
    long_ago = _task(company, sales_user, days=-(60 - 1), account=account)
    far_ahead = _task(company, sales_user, days=365 - 1, account=account)
    _task(company, sales_user, days=-(60 + 2), account=account)  # before the window
    _task(company, sales_user, days=365 + 2, account=account)  # beyond it
    activity_create(company=company, by=sales_user, kind="note", subject="随手记", account=account)  # no due date
    colleague = member(company, Role.SALES, username="lisi").user
    _task(company, colleague, days=1, account=AccountFactory(company=company, by=colleague), subject="同事的")
    _task(company, admin.user, days=2, account=account, subject="管理员的")  # on her account, someone else's
    stranger = member(other_company, Role.SALES, username="south.sales").user
    _task(other_company, stranger, days=1, account=AccountFactory(company=other_company, by=stranger))

    response = _read(_issue(sales))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == 'inline; filename="troika.ics"'
    assert response["Cache-Control"] == "private, max-age=300"
    calendar = Calendar.from_ical(response.content)
    assert str(calendar["PRODID"]) == "-//Troika//CRM//" and str(calendar["VERSION"]) == "2.0"
    assert str(calendar["X-WR-CALNAME"]) == f"Troika — zhangsan ({company.name})"
    assert str(calendar["X-PUBLISHED-TTL"]) == "PT15M"
    events = _events(response)
    assert set(events) == {_uid(call), _uid(visit), _uid(long_ago), _uid(far_ahead)}

    event = events[_uid(call)]
    assert str(event["SUMMARY"]) == "Call: 报价跟进"
    assert event.decoded("DTSTART") == call.due_at.replace(microsecond=0)
    assert event.decoded("DTSTART").utcoffset() == timedelta(0)  # in UTC
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(minutes=45)
    assert str(event["LOCATION"]) == "客户会议室 A" and str(event["STATUS"]) == "CONFIRMED"
    account_url = f"{SITE}{reverse('crm:account-detail', args=[account.pk])}"
    assert str(event["URL"]) == account_url
    assert str(event["DESCRIPTION"]) == f"带上新报价单\n\nAccount: {account}\n{account_url}"
    call.refresh_from_db()
    assert event.decoded("DTSTAMP") == call.updated_at.replace(microsecond=0)

    done = events[_uid(visit)]
    assert str(done["SUMMARY"]) == "✓ Meeting: 上门拜访"  # done: ticked
    assert done.decoded("DTEND") - done.decoded("DTSTART") == timedelta(minutes=30)  # no duration: half an hour
    assert str(done["URL"]) == f"{SITE}{reverse('crm:opportunity-detail', args=[deal.pk])}"  # its most specific record
    assert "二期扩产" in str(done["DESCRIPTION"])
    unfolded = response.content.decode().replace("\r\n ", "")  # RFC 5545 folds lines at 75 octets
    assert unfolded.count(SITE) == 8 and "http" not in unfolded.replace(SITE, "")  # no address but the site's own


def test_the_kind_is_written_in_each_persons_own_language(company, sales, sales_user, member):
    _speaking(sales, "en")
    wang = _speaking(member(company, Role.SALES, username="wangfang"), "zh-hans")
    account = AccountFactory(company=company, by=sales_user)
    mine = _task(company, sales_user, days=1, account=account, kind="call", subject="回访")
    hers = _task(company, wang.user, days=1, account=AccountFactory(company=company, by=wang.user), kind="call")
    hers_subject = hers.subject

    assert str(_events(_read(_issue(sales)))[_uid(mine)]["SUMMARY"]) == "Call: 回访"
    zh = _read(_issue(wang))
    assert str(_events(zh)[_uid(hers)]["SUMMARY"]) == f"电话: {hers_subject}"
    assert str(Calendar.from_ical(zh.content)["X-WR-CALNAME"]) == f"Troika — wangfang（{company.name}）"


def test_a_new_address_replaces_the_old_and_stopping_ends_it(company, sales, sales_user):
    account = AccountFactory(company=company, by=sales_user)
    _task(company, sales_user, days=1, account=account)
    first = _issue(sales)
    assert _read(first).status_code == 200

    second = _issue(sales)  # *New address*

    assert second != first
    assert _read(first).status_code == 404
    assert _read(second).status_code == 200
    assert CalendarFeed.objects.filter(company=company, user=sales_user).count() == 1

    page = web_client(sales).post(reverse("crm:calendar-feed-revoke"))  # *Stop the subscription*

    assert page.status_code == 302 and page["Location"] == reverse("crm:activity-calendar")
    assert _read(second).status_code == 404
    assert not CalendarFeed.objects.filter(user=sales_user).exists()
    assert calendar_feed_revoke(actor=Actor(sales)) is False  # stopping twice changes nothing


@pytest.mark.django_db(transaction=True)
def test_two_addresses_made_at_once_leave_one_the_last(company, sales):
    """Two connections make the person's first address at the same moment: the second waits for the first, then
    replaces it — one subscription, and only the address made last works."""
    made, release = threading.Event(), threading.Event()
    secrets_made = {}

    def first():
        try:
            with transaction.atomic():
                secrets_made["first"] = calendar_feed_issue(actor=Actor(sales)).secret
                made.set()
                release.wait(10)
        finally:
            connection.close()

    def second():
        made.wait(10)
        try:
            secrets_made["second"] = calendar_feed_issue(actor=Actor(sales)).secret
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    made.wait(10)
    time.sleep(0.5)
    assert threads[1].is_alive(), "the second should wait for the first transaction"
    release.set()
    for thread in threads:
        thread.join(10)

    assert CalendarFeed.objects.count() == 1
    assert calendar_feed_find(secrets_made["first"]) is None
    assert calendar_feed_find(secrets_made["second"]).user_id == sales.user_id


@pytest.mark.parametrize("secret", ["x", "abc.def", ".", "x.", ".x", "a" * 200 + ".b", "自.己"])
def test_a_malformed_or_unknown_address_is_a_404(company, sales, secret):
    calendar_feed_issue(actor=Actor(sales))
    assert _read(reverse("crm:calendar-feed", args=[secret])).status_code == 404
    assert calendar_feed_find(secret) is None


def test_the_right_prefix_with_a_wrong_key_is_a_404(company, sales):
    issued = calendar_feed_issue(actor=Actor(sales))
    prefix, _dot, key = issued.secret.partition(".")
    for wrong in (f"{prefix}.{key[:-1]}", f"{prefix}.{key}x", f"{prefix}.{'A' * len(key)}", prefix):
        assert _read(reverse("crm:calendar-feed", args=[wrong])).status_code == 404
    assert _read(reverse("crm:calendar-feed", args=[issued.secret])).status_code == 200
    assert CalendarFeed.objects.get().key_hash == hashlib.sha256(key.encode()).hexdigest()  # the key is not kept


def test_the_access_log_masks_the_secret(company, sales, caplog):
    issued = calendar_feed_issue(actor=Actor(sales))
    prefix, _dot, key = issued.secret.partition(".")

    with caplog.at_level("INFO", logger="troika.access"):
        assert _read(reverse("crm:calendar-feed", args=[issued.secret])).status_code == 200

    [line] = [record for record in caplog.records if record.name == "troika.access"]
    assert line.path == f"/crm/calendar/feed/{prefix}.….ics"
    assert key not in line.getMessage() and key not in line.path


def test_who_left_or_lost_the_crm_has_no_feed(company, sales, sales_user):
    path = _issue(sales)
    assert _read(path).status_code == 200

    sales.is_active = False
    sales.save(update_fields=["is_active"])
    assert _read(path).status_code == 404

    sales.is_active = True
    sales.save(update_fields=["is_active"])
    sales_user.is_active = False
    sales_user.save(update_fields=["is_active"])
    assert _read(path).status_code == 404

    sales_user.is_active = True
    sales_user.save(update_fields=["is_active"])
    assert _read(path).status_code == 200
    company.enabled_modules = [Module.SCRM]  # the company switched the CRM off
    company.save(update_fields=["enabled_modules"])
    assert _read(path).status_code == 404


def test_a_role_that_sees_no_activities_has_no_feed(company, member):
    finance = member(company, Role.FINANCE, username="caiwu")
    assert web_client(finance).post(reverse("crm:calendar-feed-issue")).status_code == 403
    issued = calendar_feed_issue(actor=Actor(finance))  # made before the role changed, say
    assert _read(reverse("crm:calendar-feed", args=[issued.secret])).status_code == 404


def test_the_page_offers_the_subscription_and_shows_the_address_once(company, sales, english):
    client = web_client(sales)
    page = client.get(reverse("crm:activity-calendar")).content.decode()
    assert "Subscribe in your calendar app" in page and "Make a subscription address" in page
    assert "Stop the subscription" not in page

    made = client.post(reverse("crm:calendar-feed-issue"))

    html = made.content.decode()
    address = made.context["new_feed_url"]
    assert f'value="{address}"' in html and "readonly" in html
    assert "Outlook: Add calendar → From internet" in html and "Google: Other calendars → From URL" in html
    assert "Apple Calendar: File → New calendar subscription" in html
    assert "New address" in html and "Stop the subscription" in html
    assert 'href="/crm/calendar/?' in html  # the month arrows still lead to the calendar from this answer

    again = client.get(reverse("crm:activity-calendar")).content.decode()
    secret = address.rsplit("/", 1)[1].removesuffix(".ics")
    assert secret not in again and secret.split(".")[1] not in again  # shown once only
    assert "You have a subscription address since" in again and "No calendar app has read it yet." in again
    _read(urlsplit(address).path)
    assert "A calendar app last read it on" in client.get(reverse("crm:activity-calendar")).content.decode()

    client.post(reverse("crm:calendar-feed-revoke"), follow=True)
    assert "Make a subscription address" in client.get(reverse("crm:activity-calendar")).content.decode()


def test_last_used_is_written_at_most_once_a_minute(company, sales):
    issued = calendar_feed_issue(actor=Actor(sales))
    path = reverse("crm:calendar-feed", args=[issued.secret])
    _read(path)
    first = CalendarFeed.objects.get().last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as second_read:
        _read(path)
    assert CalendarFeed.objects.get().last_used_at == first
    assert not any(query["sql"].startswith("UPDATE") for query in second_read.captured_queries)

    CalendarFeed.objects.update(last_used_at=first - timedelta(minutes=2))
    _read(path)
    assert CalendarFeed.objects.get().last_used_at > first


def test_the_feed_costs_the_same_queries_for_3_or_30_activities(
    company, sales, sales_user, django_assert_max_num_queries
):
    account = AccountFactory(company=company, by=sales_user)
    for n in range(3):
        _task(company, sales_user, days=n, account=account)
    issued = calendar_feed_issue(actor=Actor(sales))
    path = reverse("crm:calendar-feed", args=[issued.secret])
    _read(path)  # last_used_at written: later reads within the minute do not write
    with CaptureQueriesContext(connection) as three:
        assert len(_events(_read(path))) == 3
    deal = opportunity_create(company=company, by=sales_user, name="大单", account=account, amount="9.00")
    lead = lead_create(company=company, by=sales_user, name="新线索", company_name="新公司")
    contact = ContactFactory(company=company, by=sales_user, account=account)
    ticket = ticket_for(company, by=sales_user, account=account)
    records = [
        {"account": AccountFactory(company=company, by=sales_user)},
        {"account": None, "opportunity": deal},
        {"account": None, "lead": lead},
        {"account": None, "contact": contact},
        {"account": None, "ticket": ticket},
    ]
    for n in range(27):
        _task(company, sales_user, days=n % 10, **records[n % len(records)])

    with django_assert_max_num_queries(len(three)):
        events = _events(_read(path))

    assert len(events) == 30
    assert len(three) == 3, [query["sql"] for query in three.captured_queries]  # feed, membership, activities


def test_the_selector_keeps_to_the_owner_and_the_limit(company, sales, sales_user, admin, monkeypatch):
    account = AccountFactory(company=company, by=sales_user)
    first, second, third = (_task(company, sales_user, days=n, account=account) for n in (3, 1, 2))
    assert [a.pk for a in calendar_feed_activities(Actor(sales))] == [second.pk, third.pk, first.pk]
    assert calendar_feed_activities(Actor(admin)) == []  # sees them all, owns none
    assert calendar_feed_activities(None) == []
    monkeypatch.setattr("crm.selectors_activities.FEED_MAX", 2)
    assert [a.pk for a in calendar_feed_activities(Actor(sales))] == [second.pk, third.pk]
