"""The CRM demo data of the three seed stories, made once (a second run adds nothing: suite/tests/test_seed_demo.py
counts every table)."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from crm.models import (
    Account,
    Contact,
    Lead,
    Opportunity,
    OpportunityLine,
    OpportunityStatus,
    Quote,
    QuoteState,
    Ticket,
    TicketStatus,
)
from crm.selectors import my_day
from crm.selectors_campaigns import campaign_comparison
from crm.services.leads import lead_create
from suite import policy
from suite.models import Company, Membership

pytestmark = pytest.mark.django_db


def test_demo_tells_the_three_stories():
    call_command("seed_demo", stdout=StringIO())
    counts = (Opportunity.objects.count(), OpportunityLine.objects.count(), Quote.objects.count())
    call_command("seed_demo", stdout=StringIO())
    assert (Opportunity.objects.count(), OpportunityLine.objects.count(), Quote.objects.count()) == counts

    lathe = OpportunityLine.objects.get(company__code="ecm", sku="CNC-CK6140")
    assert lathe.unit_price == Decimal("118000.0000")  # the key-account price list of 苏州精工
    deal = lathe.opportunity
    assert deal.amount == sum(line.line_total for line in deal.lines.all())
    assert Quote.objects.get(opportunity=deal).state == QuoteState.SENT
    committee = {seat.contact.name: (seat.role, seat.stance) for seat in deal.contact_roles.select_related("contact")}
    assert committee == {"王建华": ("procurement", "neutral"), "陈晓燕": ("technical", "supporter")}
    assert Quote.objects.filter(company__code="ecm", state=QuoteState.ACCEPTED).count() == 1
    assert OpportunityLine.objects.filter(company__code="sbev", sku="BEV-TEA-500").exists()
    assert Lead.objects.filter(company__code="qihang", source="douyin").count() == 3
    assert Ticket.objects.filter(company__code="ecm").count() == 12  # 2 of the story, 10 of the year's history


def test_demo_campaigns_have_costs_members_and_results_to_compare():
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())  # the second run adds no campaign, cost, member or touch
    marketing = Membership.objects.get(company__code="ecm", user__username="marketing")
    actor = policy.actor_for(marketing.user, marketing.company)

    results = {row.campaign.code: row for row in campaign_comparison(actor, model="first")}

    assert set(results) == {"cimt-2026", "baidu-sem-q4"}  # the machinery company's own, no other company's
    cimt, baidu = results["cimt-2026"], results["baidu-sem-q4"]
    assert cimt.cost == Decimal("145600.00") and baidu.cost == Decimal("18250.00")
    assert (cimt.members, cimt.responses, cimt.leads) == (4, 3, 1)
    assert cimt.opportunities == 3  # 苏州精工, 南方重工 and 合肥 were first reached at the show
    # 合肥汽车零部件 was first reached at the show: first touch credits its won deal to CIMT, last touch to Baidu
    won = Opportunity.objects.get(company__code="ecm", name="合肥汽车零部件 加工中心扩产")
    assert won.status == OpportunityStatus.WON
    assert (cimt.customers, cimt.won_revenue) == (1, won.amount)
    last = {row.campaign.code: row for row in campaign_comparison(actor, model="last")}
    assert (last["baidu-sem-q4"].customers, last["baidu-sem-q4"].won_revenue) == (1, won.amount)
    assert last["cimt-2026"].customers == 0

    school = Membership.objects.get(company__code="qihang", user__username="qihang.marketing")
    [douyin] = campaign_comparison(policy.actor_for(school.user, school.company), model="first")
    assert (douyin.leads, douyin.customers, douyin.won_revenue) == (3, 1, Decimal("3980.00"))
    assert douyin.cost_per_lead == Decimal("5166.67")  # 15,500 of costs over 3 leads

    client = Client()
    client.force_login(marketing.user)
    html = client.get(reverse("crm:campaign-compare")).content.decode()
    assert "2026 中国国际机床展览会（CIMT）" in html and "百度搜索推广" in html


def test_demo_leads_are_scored_with_an_explanation_and_new_ones_assigned_by_the_rules():
    call_command("seed_demo", stdout=StringIO())
    school = Company.objects.get(code="qihang")
    adviser = Membership.objects.get(company=school, user__username="qihang.adviser1")

    lead = Lead.objects.get(company=school, name="小杨")
    assert lead.score == 50
    assert [rule["name"] for rule in lead.score_explanation["rules"]] == [
        "抖音留资 Douyin lead",
        "留了电话 Phone given",
    ]
    hot = my_day(policy.actor_for(adviser.user, school)).hot_leads
    assert {hot_lead.name for hot_lead in hot} == {"小杨", "刘同学"}  # the adviser's own hot leads

    ecm = Company.objects.get(code="ecm")
    south = lead_create(company=ecm, by=None, name="梁先生", province="广东省", source="website", phone="13800138000")
    show = lead_create(company=ecm, by=None, name="蔡女士", province="江苏省", source="exhibition")
    assert south.owner.username in {"sales3", "sales4"} and south.team.name == "华南销售组"
    assert show.owner.username in {"sales1", "sales2"} and show.team.name == "华东销售一组"
    assert Lead.objects.get(company=ecm, name="郭先生").score == 55  # trade show + company + phone


def test_demo_service_has_sla_targets_categories_agents_and_a_rated_resolution():
    call_command("seed_demo", stdout=StringIO())
    ecm = Company.objects.get(code="ecm")

    fault = Ticket.objects.get(company=ecm, subject="CK6140 安装后主轴异响")
    assert fault.category.name == "设备故障" and fault.team.name == "客服组"
    assert fault.assigned_agent.username in {"service", "service2"}  # the team's agents in turn
    due_in = fault.resolution_due_at - fault.created_at
    assert abs(due_in - timedelta(minutes=480)) < timedelta(seconds=1)  # the "high" target
    invoice = Ticket.objects.get(company=ecm, subject="减速机备件发票抬头错误")
    assert invoice.status == TicketStatus.RESOLVED and invoice.first_responded_at is not None
    assert invoice.csat.score == 5
    assert "回访" in invoice.follow_up_activity.subject  # the follow-up visit task

    lead = Membership.objects.get(company=ecm, user__username="service")
    client = Client()
    client.force_login(lead.user)
    report = client.get(reverse("crm:ticket-report")).content.decode()
    assert "发票与账务" in report and "设备故障" in report


def test_demo_customers_carry_tags():
    call_command("seed_demo", stdout=StringIO())

    suzhou = Account.objects.get(company__code="ecm", name="苏州精工机械有限公司")
    assert sorted(suzhou.tags.values_list("name", flat=True)) == ["关注交期", "战略客户"]
    assert suzhou.tags.get(name="战略客户").group.is_exclusive  # one customer tier at a time
    consumer = Contact.objects.get(company__code="sbev", name="李思雨")
    assert set(consumer.tags.values_list("name", flat=True)) == {"扫码参与", "质量投诉"}
