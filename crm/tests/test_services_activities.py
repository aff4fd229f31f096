from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm import selectors
from crm.models import Activity
from crm.services.activities import (
    activity_complete,
    activity_create,
    activity_delete,
    activity_reopen,
    activity_update,
)
from crm.services.leads import lead_create
from crm.services.opportunities import opportunity_create
from crm.tests.factories import AccountFactory, ContactFactory
from suite.models import Role
from suite.policy import Actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(company, sales_user):
    return AccountFactory(company=company, by=sales_user, name="成都天府软件")


def test_task_is_planned_then_done(company, sales_user, account, team):
    due = timezone.now() + timedelta(days=1)
    task = activity_create(
        company=company, by=sales_user, kind="task", subject="发送报价单", account=account, due_at=due
    )
    assert (task.owner, task.team, task.done_at, task.due_at) == (sales_user, team, None, due)
    done = activity_complete(activity=task, by=sales_user, outcome="已发送")
    assert done.done_at is not None and done.outcome == "已发送"
    again = activity_complete(activity=task, by=sales_user, outcome="重复")
    assert again.done_at == done.done_at and again.outcome == "已发送"
    assert activity_reopen(activity=task, by=sales_user).done_at is None


def test_note_is_done_when_written_and_cannot_reopen(company, sales_user, account):
    note = activity_create(company=company, by=sales_user, kind="note", subject="客户偏好周三上午沟通", account=account)
    assert note.done_at is not None
    with pytest.raises(ValidationError):
        activity_reopen(activity=note, by=sales_user)


def test_activity_must_link_to_a_record_of_the_company(company, other_company, member, sales_user):
    with pytest.raises(ValidationError) as caught:
        activity_create(company=company, by=sales_user, kind="call", subject="无主电话")
    assert list(caught.value.message_dict) == ["account"]
    foreign = AccountFactory(company=other_company, by=member(other_company, Role.SALES).user)
    with pytest.raises(ValidationError) as caught:
        activity_create(company=company, by=sales_user, kind="call", subject="x", account=foreign)
    assert list(caught.value.message_dict) == ["account"]
    with pytest.raises(IntegrityError), transaction.atomic():
        Activity.objects.create(company=company, kind="call", subject="bypass")


def test_bad_kind_and_naive_datetime_are_field_errors(company, sales_user, account):
    with pytest.raises(ValidationError) as caught:
        activity_create(
            company=company,
            by=sales_user,
            kind="telegram",
            subject="",
            account=account,
            due_at=timezone.now().replace(tzinfo=None),
        )
    assert set(caught.value.message_dict) == {"kind", "subject", "due_at"}


def test_account_is_filled_from_the_opportunity_or_contact(company, sales_user, account):
    contact = ContactFactory(company=company, by=sales_user, account=account)
    deal = opportunity_create(company=company, by=sales_user, name="ERP 项目", account=account)
    meeting = activity_create(company=company, by=sales_user, kind="meeting", subject="方案演示", opportunity=deal)
    call = activity_create(company=company, by=sales_user, kind="call", subject="回访", contact=contact)
    assert meeting.account == account and call.account == account
    assert set(selectors.activities_visible_to(Actor(sales_user.memberships.get()), account=account)) == {
        meeting,
        call,
    }


def test_update_reschedules_and_relinks(company, sales_user, account, member):
    colleague = member(company, Role.SALES).user
    lead = lead_create(company=company, by=sales_user, name="新线索")
    task = activity_create(company=company, by=sales_user, kind="task", subject="跟进", account=account)
    new_due = timezone.now() + timedelta(hours=3)
    task = activity_update(activity=task, by=sales_user, due_at=new_due, owner=colleague, lead=lead, subject="跟进线索")
    task.refresh_from_db()
    assert (task.due_at, task.owner, task.lead, task.subject) == (new_due, colleague, lead, "跟进线索")
    activity_delete(activity=task, by=sales_user)
    assert not Activity.objects.filter(pk=task.pk).exists()


def test_my_day_lists_own_open_activities_due_today_most_overdue_first(company, sales, sales_user, account, member):
    now = timezone.now()
    overdue = activity_create(
        company=company, by=sales_user, kind="call", subject="逾期", account=account, due_at=now - timedelta(days=2)
    )
    today = activity_create(
        company=company, by=sales_user, kind="task", subject="今天", account=account, due_at=now - timedelta(minutes=1)
    )
    activity_create(
        company=company, by=sales_user, kind="task", subject="下周", account=account, due_at=now + timedelta(days=7)
    )
    done = activity_create(
        company=company, by=sales_user, kind="task", subject="已完成", account=account, due_at=now - timedelta(hours=1)
    )
    activity_complete(activity=done, by=sales_user)
    other = member(company, Role.SALES).user
    activity_create(company=company, by=other, kind="task", subject="别人的", account=account, due_at=now)
    assert list(selectors.activities_due(Actor(sales))) == [overdue, today]
