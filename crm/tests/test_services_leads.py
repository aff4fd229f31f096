import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import translation

from crm.errors import CrmConflict, LeadAlreadyConvertedError
from crm.models import Account, Contact, Lead, LeadStatus, Opportunity
from crm.services.activities import activity_create
from crm.services.customers import customer_merge
from crm.services.leads import (
    assignment_rule_create,
    lead_assign,
    lead_convert,
    lead_create,
    lead_rescore,
    lead_scoring_rule_create,
    lead_status_set,
    lead_update,
)
from crm.tests.factories import AccountFactory, ContactFactory
from suite.models import Role
from suite.models.outbox import OutboxEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def reps(company, member):
    return [member(company, Role.SALES, username=f"rep{i}").user for i in range(3)]


# ---------------------------------------------------------------- create


def test_lead_create_normalises_and_falls_back_to_the_creator(company, sales_user):
    lead = lead_create(
        company=company,
        by=sales_user,
        name="陈静",
        company_name="苏州精密模具有限公司",
        phone="0512-6666 8888",
        email="Chen.Jing@SZMould.com",
        province="江苏省",
        city="苏州",
        source="website",
    )
    lead.refresh_from_db()
    assert (lead.phone, lead.email, lead.status) == ("+8651266668888", "chen.jing@szmould.com", "new")
    assert lead.owner == sales_user and lead.assigned_at is not None
    assert "chenjing" in lead.search_text and "szjmmjyxgs" in lead.search_text


def test_lead_needs_a_name_and_valid_input(company, sales_user):
    with pytest.raises(ValidationError) as caught:
        lead_create(company=company, by=sales_user, phone="12", source="carrier-pigeon")
    assert set(caught.value.message_dict) == {"name", "phone", "source"}


def test_anonymous_web_form_lead_without_rules_waits_unassigned(company):
    lead = lead_create(company=company, by=None, name="访客", source="website")
    assert lead.owner is None and lead.assigned_at is None


# ---------------------------------------------------------------- scoring


def test_score_is_the_sum_of_matching_rules_with_an_explanation(company, admin, sales_user):
    by = admin.user
    exhibition = lead_scoring_rule_create(
        company=company, by=by, name="展会来源", field="source", operator="equals", value="exhibition", points=30
    )
    south = lead_scoring_rule_create(
        company=company, by=by, name="华南", field="province", operator="in", value=["广东", "福建"], points=20
    )
    phone = lead_scoring_rule_create(company=company, by=by, name="有电话", field="phone", operator="is_set", points=10)
    boss = lead_scoring_rule_create(
        company=company, by=by, name="总监以上", field="title", operator="contains", value="总", points=15
    )
    lead_scoring_rule_create(
        company=company, by=by, name="个人邮箱", field="email", operator="contains", value="qq.com", points=-5
    )

    lead = lead_create(
        company=company,
        by=sales_user,
        name="刘洋",
        title="采购总监",
        phone="13800138000",
        province="广东省",
        source="exhibition",
    )

    assert lead.score == 75
    assert lead.score_explanation["total"] == 75
    assert [(r["rule_id"], r["points"]) for r in lead.score_explanation["rules"]] == [
        (exhibition.pk, 30),
        (south.pk, 20),
        (phone.pk, 10),
        (boss.pk, 15),
    ]

    # when the email becomes a personal mailbox, the score drops and says why
    lead = lead_update(lead=lead, by=sales_user, email="liuyang@QQ.com")
    assert lead.score == 70
    assert lead.score_explanation["rules"][-1]["name"] == "个人邮箱"


def test_score_stays_within_0_and_100(company, admin, sales_user):
    for i in range(4):
        lead_scoring_rule_create(
            company=company,
            by=admin.user,
            name=f"加分{i}",
            field="source",
            operator="equals",
            value="referral",
            points=40,
        )
    lead_scoring_rule_create(
        company=company, by=admin.user, name="扣分", field="city", operator="equals", value="远方", points=-100
    )
    high = lead_create(company=company, by=sales_user, name="甲", source="referral")
    low = lead_create(company=company, by=sales_user, name="乙", city="远方")
    assert (high.score, high.score_explanation["raw"]) == (100, 160)
    assert (low.score, low.score_explanation["raw"]) == (0, -100)


def test_custom_field_scoring_and_rescore(company, admin, sales_user):
    from crm.services.custom_fields import custom_field_set_define

    custom_field_set_define(
        company=company,
        target="lead",
        schema={"type": "object", "properties": {"budget": {"type": "integer"}}},
        by=admin.user,
    )
    lead = lead_create(company=company, by=sales_user, name="丙", custom={"budget": 500000})
    assert lead.score == 0
    lead_scoring_rule_create(
        company=company, by=admin.user, name="有预算", field="custom", custom_key="budget", operator="is_set", points=25
    )
    lead = lead_rescore(lead=lead)
    assert lead.score == 25 and lead.score_explanation["rules"][0]["field"] == "budget"


def test_scoring_rule_validation(company, admin):
    with pytest.raises(ValidationError) as caught:
        lead_scoring_rule_create(
            company=company, by=admin.user, name="", field="shoe_size", operator="near", points=500
        )
    assert set(caught.value.message_dict) == {"name", "field", "operator", "points"}


# ---------------------------------------------------------------- assignment


def test_round_robin_cycles_through_assignees(company, admin, reps):
    assignment_rule_create(company=company, by=admin.user, name="轮询", kind="round_robin", assignees=reps)
    owners = [lead_create(company=company, by=None, name=f"线索{i}").owner for i in range(7)]
    assert owners == [*reps, *reps, reps[0]]


def test_province_and_source_rules_come_before_round_robin(company, admin, reps, member):
    south_rep = member(company, Role.SALES, username="south").user
    partner_rep = member(company, Role.SALES, username="partner").user
    assignment_rule_create(company=company, by=admin.user, name="轮询", kind="round_robin", assignees=reps, priority=90)
    assignment_rule_create(
        company=company,
        by=admin.user,
        name="华南大区",
        kind="by_province",
        match_values=["广东", "广西壮族自治区"],
        assignees=[south_rep],
        priority=10,
    )
    assignment_rule_create(
        company=company,
        by=admin.user,
        name="渠道",
        kind="by_source",
        match_values=["partner"],
        assignees=[partner_rep],
        priority=20,
    )
    assert lead_create(company=company, by=None, name="a", province="广东省").owner == south_rep
    assert lead_create(company=company, by=None, name="b", province="广西").owner == south_rep
    assert lead_create(company=company, by=None, name="c", source="partner", province="北京").owner == partner_rep
    assigned = lead_create(company=company, by=None, name="d", province="北京")
    assert assigned.owner == reps[0]
    assert assigned.assignment_rule.name == "轮询"


def test_inactive_members_are_skipped(company, admin, reps):
    rule = assignment_rule_create(company=company, by=admin.user, name="轮询", kind="round_robin", assignees=reps)
    reps[1].memberships.update(is_active=False)
    owners = [lead_create(company=company, by=None, name=f"x{i}").owner for i in range(3)]
    assert owners == [reps[0], reps[2], reps[0]]
    rule.refresh_from_db()
    assert rule.last_assignee == reps[0]


def test_explicit_owner_wins_over_rules(company, admin, reps, sales_user):
    assignment_rule_create(company=company, by=admin.user, name="轮询", kind="round_robin", assignees=reps)
    lead = lead_create(company=company, by=admin.user, name="指定", owner=sales_user)
    assert lead.owner == sales_user and lead.assignment_rule is None


def test_rule_validation(company, admin, other_company, member):
    outsider = member(other_company, Role.SALES).user
    with pytest.raises(ValidationError) as caught:
        assignment_rule_create(company=company, by=admin.user, name="坏", kind="by_source", assignees=[outsider])
    assert set(caught.value.message_dict) == {"match_values", "assignees"}
    with pytest.raises(ValidationError) as caught:
        assignment_rule_create(
            company=company, by=admin.user, name="坏2", kind="by_source", match_values=["fax"], assignees=[admin.user]
        )
    assert list(caught.value.message_dict) == ["match_values"]


def test_lead_assign_manual_and_by_rules(company, admin, reps, sales_user):
    lead = lead_create(company=company, by=admin.user, name="待分配", owner=sales_user)
    with pytest.raises(ValidationError):
        lead_assign(lead=lead, by=admin.user)  # no rules yet
    assignment_rule_create(company=company, by=admin.user, name="轮询", kind="round_robin", assignees=reps)
    assert lead_assign(lead=lead, by=admin.user).owner == reps[0]
    assert lead_assign(lead=lead, by=admin.user, owner=reps[2]).owner == reps[2]


def test_disqualify_needs_a_reason(company, sales_user):
    lead = lead_create(company=company, by=sales_user, name="无效")
    with pytest.raises(ValidationError):
        lead_status_set(lead=lead, status="disqualified", by=sales_user)
    lead = lead_status_set(lead=lead, status="disqualified", by=sales_user, reason="空号")
    assert (lead.status, lead.disqualified_reason) == ("disqualified", "空号")
    with pytest.raises(CrmConflict):
        lead_convert(lead=lead, by=sales_user)
    with pytest.raises(ValidationError):
        lead_status_set(lead=lead, status="converted", by=sales_user)


# ---------------------------------------------------------------- conversion


def test_convert_creates_account_contact_and_opportunity(company, sales_user):
    lead = lead_create(
        company=company,
        by=sales_user,
        name="陈静",
        title="采购经理",
        company_name="苏州精密模具有限公司",
        phone="13912345678",
        province="江苏",
        city="苏州",
        industry="manufacturing",
        source="exhibition",
    )
    note = activity_create(company=company, by=sales_user, kind="call", subject="首次电话", lead=lead)

    result = lead_convert(lead=lead, by=sales_user, amount="120000.00", opportunity_name="模具钢采购")

    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED and lead.converted_by == sales_user
    assert (lead.converted_account, lead.converted_contact, lead.converted_opportunity) == (
        result.account,
        result.contact,
        result.opportunity,
    )
    assert result.reused == ()
    assert (result.account.name, result.account.city, result.account.industry) == (
        "苏州精密模具有限公司",
        "苏州",
        "manufacturing",
    )
    assert result.account.lifecycle_stage == "prospect"
    assert (result.contact.account, result.contact.phone, result.contact.title) == (
        result.account,
        "+8613912345678",
        "采购经理",
    )
    opportunity = result.opportunity
    assert (opportunity.name, opportunity.amount, opportunity.lead, opportunity.owner) == (
        "模具钢采购",
        120000,
        lead,
        sales_user,
    )
    assert opportunity.stage.name == "初步接洽" and opportunity.stage.pipeline.is_default
    note.refresh_from_db()
    assert (note.account, note.contact) == (result.account, result.contact)
    event = OutboxEvent.objects.get(name="crm.lead.converted")
    assert event.payload == {
        "lead_id": lead.pk,
        "account_id": result.account.pk,
        "contact_id": result.contact.pk,
        "opportunity_id": opportunity.pk,
        "owner_id": sales_user.pk,
        "source": "exhibition",
        "merged_into_existing": [],
    }


def test_convert_twice_is_refused(company, sales_user):
    lead = lead_create(company=company, by=sales_user, name="王强", phone="13700001111")
    lead_convert(lead=lead, by=sales_user)
    with pytest.raises(LeadAlreadyConvertedError) as caught, translation.override("en"):
        lead_convert(lead=lead, by=sales_user)
    with translation.override("en"):
        assert "already converted" in str(caught.value.message)
    assert caught.value.code == "already_converted"
    assert (Contact.objects.count(), Opportunity.objects.count()) == (1, 1)
    with pytest.raises(LeadAlreadyConvertedError):
        lead_update(lead=lead, by=sales_user, name="王强强")


@pytest.mark.django_db(transaction=True)
def test_convert_twice_at_the_same_moment_converts_once(company, sales_user):
    lead = lead_create(company=company, by=sales_user, name="并发", company_name="并发科技")
    barrier = threading.Barrier(2)
    outcomes = []

    def convert():
        barrier.wait(5)
        try:
            lead_convert(lead=lead, by=sales_user)
            outcomes.append("converted")
        except LeadAlreadyConvertedError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=convert) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(outcomes) == ["converted", "refused"]
    assert (Account.objects.count(), Contact.objects.count(), Opportunity.objects.count()) == (1, 1, 1)


def test_convert_reuses_existing_customers(company, sales_user, member):
    colleague = member(company, Role.SALES).user
    account = AccountFactory(company=company, by=colleague, name="杭州云栖科技", city="杭州")
    contact = ContactFactory(company=company, by=colleague, name="周杰", phone="13655556666")
    lead = lead_create(
        company=company,
        by=sales_user,
        name="周杰伦",
        company_name="杭州云栖科技",
        city="杭州市",
        phone="+86 136 5555 6666",
        email="zhou@yunqi.cn",
        wechat_id="zj_wx",
    )

    result = lead_convert(lead=lead, by=sales_user)

    assert (result.account, result.contact) == (account, contact)
    assert result.reused == ("account", "contact")
    contact.refresh_from_db()
    assert (contact.email, contact.wechat_id, contact.account, contact.name) == (
        "zhou@yunqi.cn",
        "zj_wx",
        account,
        "周杰",  # the existing record's own values are kept
    )
    assert (Account.objects.count(), Contact.objects.count()) == (1, 1)
    assert result.opportunity.account == account and result.opportunity.contact == contact
    assert OutboxEvent.objects.get(name="crm.lead.converted").payload["merged_into_existing"] == ["account", "contact"]


def test_b2c_lead_becomes_a_contact_without_account(company, sales_user):
    lead = lead_create(company=company, by=sales_user, name="林小姐", unionid="oU-lin", source="wechat")
    result = lead_convert(lead=lead, by=sales_user, create_opportunity=False)
    assert result.account is None and result.opportunity is None
    assert (result.contact.unionid, result.contact.account) == ("oU-lin", None)
    assert Lead.objects.get(pk=lead.pk).status == "converted"


def test_convert_into_a_chosen_account_follows_merges(company, sales_user, other_company, member):
    survivor = AccountFactory(company=company, by=sales_user, name="总部")
    duplicate = AccountFactory(company=company, by=sales_user, name="总部2")
    customer_merge(survivor=survivor, duplicate=duplicate, by=sales_user)
    lead = lead_create(company=company, by=sales_user, name="钱经理", company_name="总部分公司")
    result = lead_convert(lead=lead, by=sales_user, account=duplicate)
    assert result.account == survivor

    foreign = AccountFactory(company=other_company, by=member(other_company, Role.SALES).user)
    other = lead_create(company=company, by=sales_user, name="孙经理")
    with pytest.raises(ValidationError) as caught:
        lead_convert(lead=other, by=sales_user, account=foreign)
    assert list(caught.value.message_dict) == ["account"]
    assert Lead.objects.get(pk=other.pk).status == "new"
