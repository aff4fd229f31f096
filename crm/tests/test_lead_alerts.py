"""Salespeople hear of the leads they get (新线索提醒): a new lead the rules or a colleague gave them — one growing
line in the bell, through the lead's event —, a lead handed over, the leads an import routed to them; never the
leads they made or took themselves, in each reader's language."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.services.leads import assignment_rule_create, lead_assign, lead_create, lead_status_set
from crm.tests.test_services_imports import csv_upload, run_import
from suite.events.relay import relay_batch
from suite.models import Membership, Notification, Role
from suite.policy import Actor
from suite.services.follows import record_follow

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("crm_enabled")]


@pytest.fixture
def crew(company, member, team):
    return {
        "rep": member(company, Role.SALES, teams=[team], username="rep", first_name="伟", last_name="张"),
        "other": member(company, Role.SALES, teams=[team], username="other", first_name="芳", last_name="王"),
        "boss": member(company, Role.MANAGER, username="boss", first_name="总", last_name="李"),
    }


@pytest.fixture
def douyin_rule(company, admin, crew):
    return assignment_rule_create(
        company=company,
        by=admin.user,
        name="抖音",
        kind="by_source",
        match_values=["douyin"],
        assignees=[crew["rep"].user],
        priority=10,
    )


def bell(user) -> list[tuple[str, str, int]]:
    return list(Notification.objects.filter(recipient=user).order_by("id").values_list("title", "link", "count"))


def test_new_leads_from_the_rules_are_one_growing_line_for_their_owner(company, crew, douyin_rule, english):
    first = lead_create(company=company, by=None, name="王工", company_name="宁波港机", source="douyin")
    assert bell(crew["rep"].user) == []  # not in the request that made it: through crm.lead.created
    relay_batch()
    assert bell(crew["rep"].user) == [(f"New lead for you: {first}", f"/crm/leads/{first.pk}/", 1)]
    assert Notification.objects.get(recipient=crew["rep"].user).body.startswith("Douyin · score")

    lead_create(company=company, by=None, name="赵工", source="douyin")
    lead_create(company=company, by=None, name="钱工", source="douyin")
    relay_batch()
    assert bell(crew["rep"].user) == [("3 new leads for you", "/crm/leads/?owner=me&status=new", 3)]

    Notification.objects.update(read_at="2026-11-30T08:00:00Z")  # once read, the next one starts a new line
    lead_create(company=company, by=None, name="孙工", source="douyin")
    relay_batch()
    assert Notification.objects.filter(recipient=crew["rep"].user, read_at__isnull=True).count() == 1


def test_ones_own_leads_and_closed_or_orphan_leads_tell_nobody(company, crew, douyin_rule, english):
    lead_create(company=company, by=crew["rep"].user, name="自己录的", source="douyin")  # the rules gave it to them
    lead_create(company=company, by=crew["other"].user, name="自己的", source="exhibition")  # no rule: the maker's
    quick = lead_create(company=company, by=None, name="很快关闭", source="douyin")
    lead_status_set(lead=quick, by=crew["rep"].user, status="disqualified", reason="空号")
    lead_create(company=company, by=None, name="没人管", source="website")  # no rule, no maker: unassigned

    relay_batch()

    assert Notification.objects.filter(title__contains="lead").count() == 0


def test_a_colleagues_lead_is_told_in_the_owners_language(company, crew):
    Membership.objects.filter(user=crew["rep"].user).update(language="zh-hans")
    Membership.objects.filter(user=crew["other"].user).update(language="en")
    lead_create(company=company, by=crew["boss"].user, name="王工", owner=crew["rep"].user, source="referral")
    lead_create(company=company, by=crew["boss"].user, name="赵工", owner=crew["other"].user, source="referral")

    relay_batch()

    assert bell(crew["rep"].user)[0][0] == "你有新线索：王工"
    assert bell(crew["other"].user)[0][0] == "New lead for you: 赵工"


def test_a_lead_handed_over_tells_its_new_owner_once(company, crew, english):
    lead = lead_create(company=company, by=crew["rep"].user, name="王工", source="referral")
    relay_batch()
    record_follow(actor=Actor(crew["rep"]), record=lead)  # its owner follows it too

    lead_assign(lead=lead, by=crew["boss"].user, owner=crew["other"].user)
    lead_assign(lead=lead, by=crew["boss"].user, owner=crew["rep"].user)  # back: told once, as its owner
    lead_assign(lead=lead, by=crew["other"].user, owner=crew["other"].user)  # taken by oneself: not told

    url = reverse("crm:lead-detail", args=[lead.pk])
    assert bell(crew["other"].user) == [(f"李总 assigned you the lead {lead}", url, 1)]
    # told once, as its owner — not also as a follower (who no longer saw it while it was 王芳's: not told then)
    assert bell(crew["rep"].user) == [(f"李总 assigned you the lead {lead}", url, 1)]


def test_an_import_tells_each_routed_owner_once_per_file(company, admin, crew, member, english):
    south = member(company, Role.SALES, username="south").user
    assignment_rule_create(
        company=company,
        by=admin.user,
        name="轮询",
        kind="round_robin",
        assignees=[crew["rep"].user, crew["other"].user],
        priority=90,
    )
    assignment_rule_create(
        company=company, by=admin.user, name="华南", kind="by_province", match_values=["广东"], assignees=[south],
        priority=10,
    )  # fmt: skip
    rows = "".join(f"线索{i},公司{i},1380000{i:04d},{'广东' if i == 4 else '北京'}\n" for i in range(5))

    job = run_import(company, admin.user, csv_upload("姓名,公司名称,手机号码,省份\n" + rows, name="抖音线索.csv"),
                     target="lead", chunk=2)  # fmt: skip

    assert job.created_count == 5
    assert bell(crew["rep"].user) == [
        ("2 leads from 抖音线索.csv were assigned to you", "/crm/leads/?owner=me&status=new", 2)
    ]
    assert bell(crew["other"].user) == [
        ("2 leads from 抖音线索.csv were assigned to you", "/crm/leads/?owner=me&status=new", 2)
    ]
    assert bell(south) == [("A lead from 抖音线索.csv was assigned to you", "/crm/leads/?owner=me&status=new", 1)]
    assert bell(admin.user) == []  # the importer knows what they imported
