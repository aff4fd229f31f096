from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm import selectors
from crm.errors import CrmConflict
from crm.models import LostReason, Opportunity, OpportunityStageChange, Stage
from crm.services.opportunities import (
    lost_reason_create,
    opportunity_create,
    opportunity_lose,
    opportunity_move,
    opportunity_update,
    opportunity_win,
    pipeline_create,
    pipeline_default_ensure,
    stage_update,
)
from crm.tests.factories import AccountFactory, ContactFactory
from suite.models import Role
from suite.models.outbox import OutboxEvent
from suite.policy import Actor
from suite.testing import TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pipeline(company):
    return pipeline_default_ensure(company=company)


@pytest.fixture
def stages(pipeline):
    return {s.name: s for s in pipeline.stages.all()}


@pytest.fixture
def account(company, sales_user):
    return AccountFactory(company=company, by=sales_user, name="深圳华强电子", lifecycle_stage="prospect")


@pytest.fixture
def deal(company, sales_user, account, pipeline):
    return opportunity_create(
        company=company,
        by=sales_user,
        name="华强 PLC 采购",
        account=account,
        amount="250000.00",
        expected_close_date=date(2027, 3, 15),
    )


def test_default_pipeline_and_lost_reasons_are_created_once(company):
    first = pipeline_default_ensure(company=company)
    assert pipeline_default_ensure(company=company) == first
    names = list(first.stages.order_by("sequence").values_list("name", "probability", "is_won", "is_lost"))
    assert names == [
        ("初步接洽", 10, False, False),
        ("需求确认", 30, False, False),
        ("方案报价", 50, False, False),
        ("商务谈判", 70, False, False),
        ("赢单", 100, True, False),
        ("输单", 0, False, True),
    ]
    assert LostReason.objects.filter(company=company).count() == 6


def test_create_starts_in_the_first_stage_with_history(deal, stages, sales_user, team):
    assert (deal.stage, deal.status, deal.amount, deal.currency) == (
        stages["初步接洽"],
        "open",
        Decimal("250000.00"),
        "CNY",
    )
    assert deal.owner == sales_user and deal.team == team
    change = OpportunityStageChange.objects.get(opportunity=deal)
    assert (change.from_stage, change.to_stage, change.amount, change.probability, change.seconds_in_from_stage) == (
        None,
        stages["初步接洽"],
        Decimal("250000.00"),
        10,
        None,
    )
    assert "huaqiang" in deal.search_text


@pytest.mark.parametrize(
    ("amount", "message_field"),
    [("-1", "amount"), ("12.345", "amount"), ("abc", "amount"), ("1e30", "amount")],
)
def test_bad_amounts_are_field_errors(company, sales_user, account, pipeline, amount, message_field):
    with pytest.raises(ValidationError) as caught:
        opportunity_create(company=company, by=sales_user, name="x", account=account, amount=amount)
    assert list(caught.value.message_dict) == [message_field]
    assert not Opportunity.objects.exists()


def test_amount_cannot_go_negative_in_the_database(deal):
    with pytest.raises(IntegrityError, match="amount_not_negative"), transaction.atomic():
        Opportunity.objects.filter(pk=deal.pk).update(amount=Decimal("-5"))


def test_unknown_stage_customer_and_pipeline(company, other_company, member, sales_user, account, pipeline, stages):
    other_pipeline = pipeline_default_ensure(company=other_company)
    foreign_stage = other_pipeline.stages.first()
    with pytest.raises(ValidationError) as caught:
        opportunity_create(company=company, by=sales_user, name="x", account=account, stage=foreign_stage)
    assert list(caught.value.message_dict) == ["stage"]
    with pytest.raises(ValidationError) as caught:
        opportunity_create(company=company, by=sales_user, name="x", account=account, stage=stages["赢单"])
    assert list(caught.value.message_dict) == ["stage"]
    with pytest.raises(ValidationError) as caught:
        opportunity_create(company=company, by=sales_user, name="x")
    assert list(caught.value.message_dict) == ["account"]
    foreign_account = AccountFactory(company=other_company, by=member(other_company, Role.SALES).user)
    with pytest.raises(ValidationError) as caught:
        opportunity_create(company=company, by=sales_user, name="x", account=foreign_account, pipeline=other_pipeline)
    assert set(caught.value.message_dict) == {"account", "pipeline"}


def test_contact_must_be_at_the_account(company, sales_user, account, pipeline):
    elsewhere = ContactFactory(company=company, by=sales_user, account=AccountFactory(company=company, by=sales_user))
    with pytest.raises(ValidationError) as caught:
        opportunity_create(company=company, by=sales_user, name="x", account=account, contact=elsewhere)
    assert list(caught.value.message_dict) == ["contact"]


def test_move_records_history_with_time_in_stage(deal, stages, sales_user):
    OpportunityStageChange.objects.filter(opportunity=deal).update(changed_at=timezone.now() - timedelta(days=2))
    Opportunity.objects.filter(pk=deal.pk).update(stage_entered_at=timezone.now() - timedelta(days=2))
    moved = opportunity_move(opportunity=deal, stage=stages["方案报价"], by=sales_user)
    assert moved.stage == stages["方案报价"] and moved.status == "open"
    last = OpportunityStageChange.objects.filter(opportunity=deal).order_by("-changed_at").first()
    assert (last.from_stage, last.to_stage, last.probability, last.changed_by) == (
        stages["初步接洽"],
        stages["方案报价"],
        50,
        sales_user,
    )
    assert 2 * 86400 - 5 <= last.seconds_in_from_stage <= 2 * 86400 + 5
    # moving to where it is changes nothing
    opportunity_move(opportunity=deal, stage=stages["方案报价"], by=sales_user)
    assert OpportunityStageChange.objects.filter(opportunity=deal).count() == 2


def test_move_to_a_stage_of_another_pipeline_is_refused(company, deal, admin):
    other = pipeline_create(
        company=company,
        name="项目型",
        by=admin.user,
        stages=[
            {"name": "立项", "probability": 20},
            {"name": "中标", "probability": 100, "is_won": True},
            {"name": "落标", "probability": 0, "is_lost": True},
        ],
    )
    with pytest.raises(ValidationError) as caught:
        opportunity_move(opportunity=deal, stage=other.stages.first(), by=admin.user)
    assert list(caught.value.message_dict) == ["stage"]


def test_win_publishes_the_contract_and_makes_a_customer(deal, stages, sales_user, account):
    won = opportunity_win(opportunity=deal, by=sales_user)
    assert (won.status, won.stage) == ("won", stages["赢单"])
    assert won.closed_at is not None
    account.refresh_from_db()
    assert account.lifecycle_stage == "customer"
    event = OutboxEvent.objects.get(name="crm.opportunity.won")
    assert (event.version, event.company_id, event.created_by_id) == (1, deal.company_id, sales_user.pk)
    assert event.payload == {
        "opportunity_id": deal.pk,
        "name": "华强 PLC 采购",
        "account_id": account.pk,
        "contact_id": None,
        "owner_id": sales_user.pk,
        "team_id": deal.team_id,
        "pipeline_id": stages["赢单"].pipeline_id,
        "stage_id": stages["赢单"].pk,
        "amount": "250000.00",
        "currency": "CNY",
        "expected_close_date": "2027-03-15",
        "closed_at": won.closed_at.isoformat(),
        "lost_reason_id": None,
        "lines": [],
        "account_name": account.name,  # closed loop (issue #7): ERP names its partner after it
        "credit_limit": None,  # no CRM credit limit set (0): ERP keeps its own
    }
    # a second win changes and publishes nothing
    opportunity_win(opportunity=deal, by=sales_user)
    assert OutboxEvent.objects.filter(name="crm.opportunity.won").count() == 1
    assert OpportunityStageChange.objects.filter(opportunity=deal).count() == 2


def test_dragging_to_won_wins(deal, stages, sales_user):
    opportunity_move(opportunity=deal, stage=stages["赢单"], by=sales_user)
    deal.refresh_from_db()
    assert deal.status == "won"
    assert OutboxEvent.objects.filter(name="crm.opportunity.won").count() == 1


def test_won_is_final(deal, stages, sales_user, company):
    opportunity_win(opportunity=deal, by=sales_user)
    reason = LostReason.objects.filter(company=company).first()
    with pytest.raises(CrmConflict):
        opportunity_move(opportunity=deal, stage=stages["商务谈判"], by=sales_user)
    with pytest.raises(CrmConflict):
        opportunity_lose(opportunity=deal, reason=reason, by=sales_user)
    with pytest.raises(CrmConflict):
        opportunity_update(opportunity=deal, by=sales_user, amount="1")
    renamed = opportunity_update(opportunity=deal, by=sales_user, name="华强 PLC 采购（一期）")
    assert renamed.name == "华强 PLC 采购（一期）"


def test_lose_needs_a_reason_and_can_be_reopened(deal, stages, sales_user, company, other_company):
    price = LostReason.objects.get(company=company, name="价格过高")
    with pytest.raises(ValidationError) as caught:
        opportunity_move(opportunity=deal, stage=stages["输单"], by=sales_user)
    assert list(caught.value.message_dict) == ["lost_reason"]
    foreign_reason = lost_reason_create(company=other_company, name="外部原因", by=None)
    with pytest.raises(ValidationError):
        opportunity_lose(opportunity=deal, reason=foreign_reason, by=sales_user)

    lost = opportunity_lose(opportunity=deal, reason=price, note="对方选了低价方案", by=sales_user)
    assert (lost.status, lost.stage, lost.lost_reason, lost.lost_note) == (
        "lost",
        stages["输单"],
        price,
        "对方选了低价方案",
    )
    assert OutboxEvent.objects.get(name="crm.opportunity.lost").payload["lost_reason_id"] == price.pk

    reopened = opportunity_move(opportunity=deal, stage=stages["商务谈判"], by=sales_user)
    assert (reopened.status, reopened.closed_at, reopened.lost_reason, reopened.lost_note) == ("open", None, None, "")
    assert [c.to_stage.name for c in selectors.stage_changes_visible_to(Actor(deal.owner.memberships.get()))] == [
        "初步接洽",
        "输单",
        "商务谈判",
    ]


def test_database_keeps_status_closed_at_and_reason_together(deal):
    with pytest.raises(IntegrityError), transaction.atomic():
        Opportunity.objects.filter(pk=deal.pk).update(status="lost", closed_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        Opportunity.objects.filter(pk=deal.pk).update(status="won")


def test_pipeline_rules(company, admin):
    with pytest.raises(ValidationError) as caught:
        pipeline_create(company=company, name="坏", by=admin.user, stages=[{"name": "只有一个", "probability": 10}])
    assert len(caught.value.message_dict["stages"]) == 2  # no won stage, no lost stage
    with pytest.raises(ValidationError):
        pipeline_create(
            company=company,
            name="坏2",
            by=admin.user,
            stages=[
                {"name": "a", "probability": 150},
                {"name": "赢", "probability": 90, "is_won": True},
                {"name": "输", "probability": 0, "is_lost": True},
            ],
        )
    first = pipeline_default_ensure(company=company)
    second = pipeline_create(
        company=company,
        name="渠道",
        by=admin.user,
        is_default=True,
        stages=[
            {"name": "报备", "probability": 20},
            {"name": "成交", "probability": 100, "is_won": True},
            {"name": "丢单", "probability": 0, "is_lost": True},
        ],
    )
    first.refresh_from_db()
    assert (first.is_default, second.is_default) == (False, True)
    won = second.stages.get(is_won=True)
    with pytest.raises(ValidationError):
        stage_update(stage=won, by=admin.user, probability=80)
    assert stage_update(stage=second.stages.get(name="报备"), by=admin.user, probability=25).probability == 25
    with pytest.raises(IntegrityError), transaction.atomic():
        Stage.objects.filter(pk=won.pk).update(probability=50)


# ---------------------------------------------------------------- forecast and funnel


def test_weighted_forecast_per_owner_and_team_by_month(company, member, team, sales, account, stages, pipeline):
    other_team = TeamFactory(company=company, name="华南销售组")
    rep_b = member(company, Role.SALES, teams=[other_team]).user
    rep_a = sales.user

    def deal(owner, amount, close, stage="初步接洽"):
        opportunity = opportunity_create(
            company=company, by=owner, name=f"{amount}", account=account, amount=amount, expected_close_date=close
        )
        if stage != "初步接洽":
            opportunity_move(opportunity=opportunity, stage=stages[stage], by=owner)
        return opportunity

    deal(rep_a, "100000.00", date(2027, 1, 10))  # 10 % → 10,000
    deal(rep_a, "50000.00", date(2027, 1, 31), "商务谈判")  # 70 % → 35,000
    deal(rep_a, "33333.33", date(2027, 2, 1), "需求确认")  # 30 % → 9,999.999 → 10,000.00
    deal(rep_b, "80000.00", date(2027, 1, 5), "方案报价")  # 50 % → 40,000
    won = deal(rep_b, "12000.00", date(2027, 1, 20))
    opportunity_win(opportunity=won, by=rep_b)
    deal(rep_b, "99999.00", None)  # no expected date: not in the forecast

    admin_actor = Actor(member(company, Role.ADMIN))
    rows = selectors.opportunity_forecast(admin_actor, group_by="owner", date_from=date(2027, 1, 1))
    won_month = timezone.localdate().replace(day=1)
    by_key = {(r.month, r.group_id): r for r in rows}
    jan_a = by_key[(date(2027, 1, 1), rep_a.pk)]
    assert (jan_a.open_count, jan_a.open_amount, jan_a.weighted_amount) == (
        2,
        Decimal("150000.00"),
        Decimal("45000.00"),
    )
    feb_a = by_key[(date(2027, 2, 1), rep_a.pk)]
    assert feb_a.weighted_amount == Decimal("10000.00")
    jan_b = by_key[(date(2027, 1, 1), rep_b.pk)]
    assert (jan_b.open_count, jan_b.weighted_amount, jan_b.won_amount) == (1, Decimal("40000.00"), Decimal("0.00"))
    # the won deal counts in the month it was won (today), outside the requested range's start only if earlier
    rows_all = selectors.opportunity_forecast(admin_actor, group_by="team")
    won_rows = [r for r in rows_all if r.won_count]
    assert [(r.month, r.group_id, r.won_amount) for r in won_rows] == [(won_month, other_team.pk, Decimal("12000.00"))]

    # a salesperson's forecast holds only their own deals
    own = selectors.opportunity_forecast(Actor(sales), group_by="owner")
    assert {r.group_id for r in own} == {rep_a.pk}


def test_funnel_counts_opportunities_that_reached_each_stage(company, sales_user, account, stages, pipeline, sales):
    def deal(*path):
        opportunity = opportunity_create(company=company, by=sales_user, name="f", account=account, amount="1")
        for name in path:
            if name == "输单":
                opportunity_lose(
                    opportunity=opportunity, reason=LostReason.objects.filter(company=company).first(), by=sales_user
                )
            else:
                opportunity_move(opportunity=opportunity, stage=stages[name], by=sales_user)
        return opportunity

    deal()  # stays in 初步接洽
    deal("需求确认", "输单")
    deal("方案报价")  # skipped 需求确认: counted as passed
    deal("需求确认", "方案报价", "商务谈判", "赢单")
    steps = selectors.opportunity_funnel(Actor(sales), pipeline=pipeline)
    assert [(s.stage.name, s.reached, s.conversion_from_previous) for s in steps] == [
        ("初步接洽", 4, None),
        ("需求确认", 3, Decimal("75.0")),
        ("方案报价", 2, Decimal("66.7")),
        ("商务谈判", 1, Decimal("50.0")),
        ("赢单", 1, Decimal("100.0")),
    ]
