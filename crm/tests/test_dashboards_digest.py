"""The weekly dashboard digest (issue #7): Monday from 08:00 company time, managers and admins only, the KPIs
of the dashboards each may open, HTML + text in the member's language, once per week however often it runs."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.core import mail
from django.utils import timezone

from crm.tests.test_dashboards_sales import build_world
from suite.dashboards.digest import digest_language_remember, weekly_digest_send
from suite.dashboards.tasks import weekly_digest
from suite.models import DashboardDigestSent, DashboardDigestSetting


def _local(*args) -> datetime:
    return timezone.make_aware(datetime(*args))


@pytest.fixture
def world(company, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    w = build_world(company)
    for membership in (w.admin, w.manager_a, w.manager_b, w.sales_a):
        membership.user.email = f"{membership.user.username}@example.com"
        membership.user.save(update_fields=["email"])
    return w


def test_digest_goes_to_managers_once_a_week(world):
    monday_early = _local(2026, 2, 2, 7, 30)  # Monday 2 Feb 2026, 07:30 company time
    assert weekly_digest_send(now=monday_early) == 0
    assert mail.outbox == []
    monday = _local(2026, 2, 2, 8, 5)
    assert weekly_digest_send(now=monday, base_url="https://troika.example") == 3  # admin + two managers
    assert weekly_digest_send(now=monday) == 0  # twice: nothing more
    assert weekly_digest_send(now=_local(2026, 2, 4, 9, 0)) == 0  # later the same week: nothing more
    recipients = sorted(m.to[0] for m in mail.outbox)
    assert recipients == sorted(
        f"{m.user.username}@example.com" for m in (world.admin, world.manager_a, world.manager_b)
    )
    assert DashboardDigestSent.objects.count() == 3
    # the previous week (26 Jan – 1 Feb) of manager A's dashboards: sales (their team) and marketing
    message = next(m for m in mail.outbox if m.to[0].startswith(world.manager_a.user.username))
    html = message.alternatives[0][0]
    assert "2026-01-26" in message.subject and "2026-02-01" in message.subject
    assert "https://troika.example/dashboards/sales/?date_from=2026-01-26&amp;date_to=2026-02-01" in html
    assert "https://troika.example/dashboards/sales/?date_from=2026-01-26&date_to=2026-02-01" in message.body
    assert set(DashboardDigestSent.objects.get(membership=world.manager_a).dashboards) >= {"sales", "marketing"}
    # next Monday: a new digest
    assert weekly_digest_send(now=_local(2026, 2, 9, 8, 0)) == 3


def test_digest_in_the_members_language_and_opt_out(world):
    digest_language_remember(world.manager_a, "en")
    digest_language_remember(world.manager_b, "zh-hans")
    DashboardDigestSetting.objects.update_or_create(membership=world.admin, defaults={"enabled": False})
    assert weekly_digest_send(now=_local(2026, 3, 2, 8, 0)) == 2
    by_user = {m.to[0].split("@")[0]: m for m in mail.outbox}
    english = by_user[world.manager_a.user.username]
    assert "Won" in english.body and "your dashboards" in english.subject
    assert world.manager_b.user.username in by_user
    languages = dict(DashboardDigestSent.objects.values_list("membership_id", "language"))
    assert languages == {world.manager_a.pk: "en", world.manager_b.pk: "zh-hans"}


def test_the_beat_task_runs_the_digest(world):
    assert isinstance(weekly_digest(), int)
