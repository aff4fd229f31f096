"""The filter bars of the opportunity and ticket lists: owner, team, stage and closing dates; priority, category,
agent, channel and opening dates — each narrows the list and is shown selected."""

import re
from datetime import date

import pytest
from django.urls import reverse

from crm.services import tickets as ticket_services
from crm.services.opportunities import opportunity_create, opportunity_update, pipeline_default_ensure
from crm.tests.factories import AccountFactory
from crm.tests.test_views_customers import browser
from suite.models import Role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("crm_enabled")]


def _names(html: str) -> set[str]:
    return set(re.findall(r"<strong>([^<]+)</strong>", html))


def test_opportunities_filter_by_owner_team_stage_and_closing_date(company, member, team, sales, admin):
    colleague = member(company, Role.SALES, teams=[team], username="lisi")
    pipeline = pipeline_default_ensure(company=company)
    first, second = list(pipeline.stages.filter(is_won=False, is_lost=False).order_by("sequence"))[:2]
    account = AccountFactory(company=company, by=sales.user, name="明远科技")
    mine = opportunity_create(company=company, by=sales.user, name="冷库一期", account=account, stage=first)
    theirs = opportunity_create(company=company, by=colleague.user, name="冷库二期", account=account, stage=second)
    opportunity_update(opportunity=mine, by=sales.user, expected_close_date=date(2026, 12, 15))
    opportunity_update(opportunity=theirs, by=colleague.user, expected_close_date=date(2027, 3, 1))
    client = browser(admin)
    url = reverse("crm:opportunity-list")

    assert {"冷库一期", "冷库二期"} <= _names(client.get(url).content.decode())
    by_owner = client.get(url, {"owner": colleague.user.pk}).content.decode()
    assert "冷库二期" in _names(by_owner) and "冷库一期" not in _names(by_owner)
    assert f'<option value="{colleague.user.pk}" selected>' in by_owner
    by_stage = _names(client.get(url, {"stage": first.pk}).content.decode())
    assert "冷库一期" in by_stage and "冷库二期" not in by_stage
    by_date = _names(client.get(url, {"date_from": "2026-12-01", "date_to": "2026-12-31"}).content.decode())
    assert "冷库一期" in by_date and "冷库二期" not in by_date
    assert "drill-note" not in client.get(url, {"team": team.pk}).content.decode()  # a plain filter, not a drill
    assert client.get(url, {"owner": "x", "stage": "²", "date_from": "2026-02-30"}).status_code == 200


def test_tickets_filter_by_priority_category_agent_and_channel(company, member, admin):
    agent = member(company, Role.SERVICE, username="kefu01")
    category = ticket_services.ticket_category_create(company=company, by=None, name="设备故障")
    ticket_services.ticket_open(company=company, by=None, subject="紧急报修", priority="urgent", category=category)
    ticket_services.ticket_open(
        company=company, by=None, subject="电话咨询", channel="phone", assigned_agent=agent.user
    )
    client = browser(admin)
    url = reverse("crm:ticket-list")

    def subjects(**query):
        return set(re.findall(r"紧急报修|电话咨询", client.get(url, query).content.decode()))

    assert subjects() == {"紧急报修", "电话咨询"}
    assert subjects(priority="urgent") == {"紧急报修"}
    assert subjects(category=category.pk) == {"紧急报修"}
    assert subjects(category="none") == {"电话咨询"}
    assert subjects(agent=agent.user.pk) == {"电话咨询"}
    assert subjects(channel="phone") == {"电话咨询"}
    page = client.get(url, {"priority": "urgent", "channel": "phone"}).content.decode()
    assert '<option value="urgent" selected>' in page and '<option value="phone" selected>' in page
    assert "data-drill" not in page
    assert client.get(url, {"priority": "<b>", "channel": "\u00b2", "agent": "x"}).status_code == 200


def test_leads_filter_by_source_owner_hot_and_creation_day_and_the_export_follows(company, member, team, sales, admin):
    import csv
    import io
    from datetime import timedelta

    from django.utils import timezone

    from crm.models import Lead
    from crm.services.leads import lead_create, lead_scoring_rule_create

    lead_scoring_rule_create(
        company=company, by=None, name="抖音留资", field="source", operator="equals", value="douyin", points=60
    )
    colleague = member(company, Role.SALES, teams=[team], username="lisi")
    yang = lead_create(company=company, by=sales.user, owner=sales.user, name="小杨", source="douyin")
    lead_create(company=company, by=colleague.user, owner=colleague.user, name="陈女士", source="douyin")
    old = lead_create(company=company, by=sales.user, owner=sales.user, name="老客户介绍", source="referral")
    Lead.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    client = browser(admin)
    url = reverse("crm:lead-list")

    def names(**query) -> set[str]:
        return {n for n in _names(client.get(url, query).content.decode()) if n in {"小杨", "陈女士", "老客户介绍"}}

    assert names() == {"小杨", "陈女士", "老客户介绍"}
    assert names(source="douyin") == {"小杨", "陈女士"}
    assert names(source="douyin", owner=colleague.user.pk) == {"陈女士"}
    assert names(hot="1") == {"小杨", "陈女士"} and yang.score == 60
    today = timezone.localdate()
    assert names(created_from=(today - timedelta(days=1)).isoformat()) == {"小杨", "陈女士"}
    assert names(created_to=(today - timedelta(days=30)).isoformat()) == {"老客户介绍"}
    # values that cannot be read are left out, never an error
    assert names(source="myspace", owner="x", created_from="2026-13-45", hot="yes") == {"小杨", "陈女士", "老客户介绍"}
    assert names(owner="me") == set()  # the admin owns none
    page = client.get(url, {"source": "douyin"}).content.decode()
    assert '<option value="douyin" selected>' in page
    exported = client.get(url, {"source": "douyin", "owner": colleague.user.pk, "export": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode("utf-8-sig"))))
    assert len(rows) == 2 and "陈女士" in rows[1]
