"""Activity reminders (in-app + e-mail where chosen, exactly once, also with two sweeps at once) and the daily
stale-opportunity nudges (at most once per opportunity in the pipeline's N days), shown on "my day"."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from crm.models import Activity, Opportunity, OpportunityNudge
from crm.selectors_campaigns import open_nudges_for
from crm.services.activities import activity_complete, activity_create, activity_update
from crm.services.opportunities import opportunity_create, pipeline_default_ensure, pipeline_update
from crm.services.reminders import activity_reminders_send, opportunity_nudges_send, reminder_preference_set
from crm.tests.factories_campaigns import make_contact
from suite.models import Notification, Role
from suite.policy import Actor
from suite.testing import CompanyFactory, make_member


def _task(company, owner, *, remind_in: timedelta, **fields):
    contact = make_contact(company, by=owner)
    return activity_create(
        company=company,
        by=owner,
        kind="call",
        subject=fields.pop("subject", "回访王总"),
        contact=contact,
        due_at=timezone.now() + remind_in + timedelta(minutes=15),
        remind_at=timezone.now() + remind_in,
        **fields,
    )


# ---------------------------------------------------------------- reminders


@pytest.mark.django_db
def test_a_due_reminder_is_sent_once_in_app(company, sales_user):
    due = _task(company, sales_user, remind_in=timedelta(minutes=-1))
    _task(company, sales_user, remind_in=timedelta(hours=1), subject="later")
    assert activity_reminders_send() == 1
    assert activity_reminders_send() == 0
    notification = Notification.objects.get(recipient=sales_user)
    assert notification.title == "Reminder: 回访王总" or "回访王总" in notification.title
    assert notification.link == reverse("crm:contact-detail", args=[due.contact_id])
    due.refresh_from_db()
    assert due.reminded_at is not None


@pytest.mark.django_db
def test_done_activities_are_not_reminded_and_a_new_time_reminds_again(company, sales_user):
    done = _task(company, sales_user, remind_in=timedelta(minutes=-5), subject="done")
    activity_complete(activity=done, by=sales_user)
    again = _task(company, sales_user, remind_in=timedelta(minutes=-5), subject="again")
    assert activity_reminders_send() == 1
    activity_update(activity=again, by=sales_user, remind_at=timezone.now() - timedelta(seconds=1))
    assert Activity.objects.get(pk=again.pk).reminded_at is None
    assert activity_reminders_send() == 1
    assert Notification.objects.filter(recipient=sales_user).count() == 2


@pytest.mark.django_db
def test_remind_at_needs_a_time_zone(company, sales_user):
    contact = make_contact(company, by=sales_user)
    with pytest.raises(ValidationError) as error:
        activity_create(
            company=company,
            by=sales_user,
            kind="task",
            subject="x",
            contact=contact,
            remind_at=timezone.now().replace(tzinfo=None),
        )
    assert "remind_at" in error.value.message_dict


@pytest.mark.django_db
def test_email_reminders_follow_the_users_choice_over_the_company_default(
    company, member, django_capture_on_commit_callbacks
):
    admin = member(company, Role.ADMIN, username="boss")
    keen = member(company, Role.SALES, username="keen", email="keen@example.com").user
    quiet = member(company, Role.SALES, username="quiet", email="quiet@example.com").user
    reminder_preference_set(company=company, by=admin.user, email_reminders=True, company_default=True)
    reminder_preference_set(company=company, by=quiet, email_reminders=False)
    _task(company, keen, remind_in=timedelta(minutes=-1), subject="给李总打电话")
    _task(company, quiet, remind_in=timedelta(minutes=-1))
    with django_capture_on_commit_callbacks(execute=True):
        assert activity_reminders_send() == 2
    assert [m.to for m in mail.outbox] == [["keen@example.com"]]
    assert "给李总打电话" in mail.outbox[0].subject
    assert Notification.objects.filter(recipient__in=[keen, quiet]).count() == 2


@pytest.mark.django_db
def test_only_admins_set_the_company_default_and_others_preferences(company, sales_user, member):
    other = member(company, Role.SALES, username="other").user
    with pytest.raises(ValidationError):
        reminder_preference_set(company=company, by=sales_user, email_reminders=True, company_default=True)
    with pytest.raises(ValidationError):
        reminder_preference_set(company=company, by=sales_user, email_reminders=True, user=other)
    first = reminder_preference_set(company=company, by=sales_user, email_reminders=True)
    second = reminder_preference_set(company=company, by=sales_user, email_reminders=False)
    assert first.pk == second.pk and second.email_reminders is False


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_remind_each_activity_exactly_once():
    company = CompanyFactory()
    owner = make_member(company, Role.SALES).user
    for i in range(30):
        _task(company, owner, remind_in=timedelta(minutes=-1), subject=f"任务{i}")
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def sweep():
        try:
            barrier.wait()
            counts.append(activity_reminders_send(batch_size=30))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 30
    assert Notification.objects.filter(recipient=owner).count() == 30
    assert Activity.objects.filter(reminded_at__isnull=True).count() == 0


# ---------------------------------------------------------------- nudges


@pytest.fixture
def stale_setup(company, sales_user):
    pipeline = pipeline_default_ensure(company=company)
    pipeline_update(pipeline=pipeline, by=None, stale_after_days=7)
    contact = make_contact(company, by=sales_user)
    stale = opportunity_create(company=company, by=sales_user, name="冷掉的商机", contact=contact, amount="100")
    fresh = opportunity_create(company=company, by=sales_user, name="活跃商机", contact=contact, amount="100")
    ten_days_ago = timezone.now() - timedelta(days=10)
    Opportunity.objects.filter(pk__in=[stale.pk, fresh.pk]).update(created_at=ten_days_ago)
    activity_create(company=company, by=sales_user, kind="note", subject="聊过", opportunity=fresh)
    return stale, fresh


@pytest.mark.django_db
def test_stale_opportunities_are_nudged_once_per_window(stale_setup, sales_user):
    stale, _fresh = stale_setup
    now = timezone.now()
    assert opportunity_nudges_send(now=now) == 1
    assert opportunity_nudges_send(now=now + timedelta(days=1)) == 0  # within the 7-day window
    nudge = OpportunityNudge.objects.get()
    assert (nudge.opportunity_id, nudge.owner_id, nudge.stale_days) == (stale.pk, sales_user.pk, 7)
    assert Notification.objects.filter(recipient=sales_user, level="warning").count() == 1
    # a window later: still stale, nudged again (and the other one, idle for 8 days by then, too)
    assert opportunity_nudges_send(now=now + timedelta(days=8)) == 2
    assert OpportunityNudge.objects.filter(opportunity=stale).count() == 2


@pytest.mark.django_db
def test_pipelines_without_the_setting_are_not_nudged(company, sales_user):
    pipeline_default_ensure(company=company)
    contact = make_contact(company, by=sales_user)
    opportunity = opportunity_create(company=company, by=sales_user, name="x", contact=contact, amount="1")
    Opportunity.objects.filter(pk=opportunity.pk).update(created_at=timezone.now() - timedelta(days=400))
    assert opportunity_nudges_send() == 0


@pytest.mark.django_db
def test_my_day_shows_open_nudges_until_an_activity_is_logged(stale_setup, sales, sales_user, client):
    stale, _fresh = stale_setup
    opportunity_nudges_send()
    assert [n.opportunity_id for n in open_nudges_for(Actor(sales))] == [stale.pk]
    client.force_login(sales_user)
    page = client.get(reverse("crm:my-day"))
    assert page.status_code == 200
    assert "冷掉的商机" in page.content.decode()
    activity_create(company=stale.company, by=sales_user, kind="call", subject="跟进", opportunity=stale)
    assert open_nudges_for(Actor(sales)) == []
