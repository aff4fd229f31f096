"""The CRM's notifications are written in each reader's language (``Membership.language``), whatever language the
sender or the Celery worker runs in: activity reminders and their e-mails, stale-deal nudges, ERP order news."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import dateformat, timezone, translation

from crm.models import Opportunity
from crm.services.activities import activity_create
from crm.services.fulfilment_batch import ErpStatus, opportunity_erp_statuses_record
from crm.services.opportunities import opportunity_create, pipeline_default_ensure, pipeline_update
from crm.services.reminders import activity_reminders_send, opportunity_nudges_send, reminder_preference_set
from crm.tests.factories_campaigns import make_contact
from suite.models import Membership, Notification, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def readers(company, member):
    """Two salespeople: one reads English, one Chinese."""
    english = member(company, Role.SALES, email="ann@example.com")
    chinese = member(company, Role.SALES, email="li@example.com")
    Membership.objects.filter(pk=english.pk).update(language="en")
    Membership.objects.filter(pk=chinese.pk).update(language="zh-hans")
    return english.user, chinese.user


def _read(*fields) -> set:
    return set(Notification.objects.values_list("recipient_id", *fields))


def test_reminders_and_their_emails_are_written_in_each_owners_language(
    company, member, readers, django_capture_on_commit_callbacks
):
    english, chinese = readers
    admin = member(company, Role.ADMIN)
    reminder_preference_set(company=company, by=admin.user, email_reminders=True, company_default=True)
    due = timezone.now() + timedelta(minutes=15)
    for owner in readers:
        contact = make_contact(company, by=owner)
        activity_create(
            company=company,
            by=owner,
            kind="call",
            subject="回访王总",
            contact=contact,
            due_at=due,
            remind_at=timezone.now() - timedelta(minutes=1),
        )

    with translation.override("zh-hans"), django_capture_on_commit_callbacks(execute=True):  # the worker's default
        assert activity_reminders_send() == 2

    local = timezone.localtime(due)
    english_body = f"Call due {dateformat.format(local, 'm/d/Y P')}"  # the formats of each language
    chinese_body = f"电话，截止时间 {dateformat.format(local, 'Y年n月j日 H:i')}"
    assert _read("title", "body") == {
        (english.pk, "Reminder: 回访王总", english_body),
        (chinese.pk, "提醒：回访王总", chinese_body),
    }
    mails = {message.to[0]: (message.subject, message.body.split("\n")[0]) for message in mail.outbox}
    assert mails == {
        "ann@example.com": ("Reminder: 回访王总", english_body),
        "li@example.com": ("提醒：回访王总", chinese_body),
    }


def test_stale_deal_nudges_are_written_in_each_owners_language(company, readers):
    english, chinese = readers
    pipeline_update(pipeline=pipeline_default_ensure(company=company), by=None, stale_after_days=7)
    for owner in readers:
        opportunity_create(
            company=company, by=owner, name="冷掉的商机", contact=make_contact(company, by=owner), amount="100"
        )
    idle_since = timezone.now() - timedelta(days=10)
    Opportunity.objects.update(created_at=idle_since)

    with translation.override("en"):  # whatever the worker runs in
        assert opportunity_nudges_send() == 2

    local = timezone.localtime(idle_since)
    assert _read("title", "body") == {
        (
            english.pk,
            "No activity for 7 days: 冷掉的商机",
            f"Last activity {dateformat.format(local, 'm/d/Y')}. Log a call or plan the next step.",
        ),
        (
            chinese.pk,
            "已 7 天无活动：冷掉的商机",
            f"最近活动：{dateformat.format(local, 'Y年n月j日')}。请记录一次通话或安排下一步跟进。",
        ),
    }


def test_erp_order_news_of_a_relay_batch_is_written_in_each_owners_language(company, readers):
    english, chinese = readers
    deals = {
        owner: opportunity_create(
            company=company, by=owner, name="华东大单", contact=make_contact(company, by=owner), amount="100"
        )
        for owner in readers
    }
    statuses = [
        ErpStatus(
            kind="confirmed",
            payload={
                "crm_opportunity_id": deal.pk,
                "sales_order_id": n,
                "number": f"SO{n}",
                "state": "confirmed",
                "promised_date": "2025-06-01",
            },
            happened_at=timezone.now(),
        )
        for n, deal in enumerate(deals.values(), start=1)
    ]

    with translation.override("zh-hans"):
        assert len(opportunity_erp_statuses_record(company_id=company.pk, statuses=statuses)) == 2

    assert _read("title", "body") == {
        (english.pk, "Order SO1 confirmed for 华东大单", "Promised delivery: 2025-06-01"),
        (chinese.pk, "华东大单 的订单 SO2 已确认", "承诺交货日期：2025-06-01"),
    }
    assert dt.date(2025, 6, 1) == Opportunity.objects.get(pk=deals[english].pk).promised_date
