"""CRM pages for selling: leads (list, form, convert), the kanban board (drop and keyboard moves), the
opportunity list / page / form, activities and "my day"."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.models import Activity, Lead, LeadStatus, LostReason, Opportunity, OpportunityStatus
from crm.services.activities import activity_create
from crm.services.leads import lead_create
from crm.services.opportunities import opportunity_create, pipeline_default_ensure
from crm.tests.factories import AccountFactory
from crm.tests.test_views_customers import assert_csp_clean, browser
from suite.models import Module, Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def crm_enabled(company):
    company.enabled_modules = [Module.CRM]
    company.save()


@pytest.fixture
def pipeline(company):
    return pipeline_default_ensure(company=company)


@pytest.fixture
def deal(company, sales_user, pipeline):
    account = AccountFactory(company=company, by=sales_user, name="明远科技")
    return opportunity_create(company=company, by=sales_user, name="数控机床采购", account=account, amount="50000")


def _stage(pipeline, **flags):
    return pipeline.stages.get(**flags) if flags else pipeline.stages.order_by("sequence")[1]


# ---------------------------------------------------------------- leads


def test_create_a_lead_then_convert_it_from_the_list(company, sales):
    client = browser(sales)

    missing = client.post(reverse("crm:lead-create"), {"title": "经理"})
    bad_phone = client.post(reverse("crm:lead-create"), {"name": "陈晨", "phone": "abc"})
    created = client.post(
        reverse("crm:lead-create"), {"name": "陈晨", "company_name": "晨光文具", "phone": "13700001111", "city": "上海"}
    )
    lead = Lead.objects.get(name="陈晨")
    listed = client.get(reverse("crm:lead-list")).content.decode()
    converted = client.post(reverse("crm:lead-convert", args=[lead.pk]))
    again = client.post(reverse("crm:lead-convert", args=[lead.pk]), follow=True)

    assert missing.status_code == 200 and "Give the contact" in missing.content.decode()
    assert bad_phone.status_code == 200 and 'class="field has-error"' in bad_phone.content.decode()
    assert created.status_code == 302
    assert "晨光文具" in listed and reverse("crm:lead-convert", args=[lead.pk]) in listed
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED
    assert converted["Location"] == reverse("crm:account-detail", args=[lead.converted_account_id])
    assert Opportunity.objects.filter(lead=lead).count() == 1
    assert "already converted" in again.content.decode()
    assert_csp_clean(listed)


def test_lead_list_filters_by_status_and_sorts_by_score(company, sales, sales_user):
    lead_create(company=company, by=sales_user, name="甲", company_name="甲公司")
    cold = lead_create(company=company, by=sales_user, name="乙")
    Lead.objects.filter(pk=cold.pk).update(status=LeadStatus.DISQUALIFIED, disqualified_reason="无预算")
    client = browser(sales)

    open_leads = client.get(reverse("crm:lead-list")).content.decode()
    disqualified = client.get(reverse("crm:lead-list"), {"status": "disqualified", "sort": "-score"}).content.decode()

    assert "甲公司" in open_leads and ">乙<" not in open_leads
    assert ">乙<" in disqualified


# ---------------------------------------------------------------- kanban


def test_board_shows_one_column_per_stage_with_counts(company, sales, deal, pipeline):
    response = browser(sales).get(reverse("crm:board"))

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('class="kanban-column') == pipeline.stages.count()
    assert 'draggable="true"' in html and 'data-move-url="/crm/opportunities/' in html
    assert "数控机床采购" in html and "CN¥50,000.00" in html
    assert "crm/kanban.js" in html
    assert_csp_clean(html)


def test_a_drop_moves_the_card_and_answers_with_it(company, sales, deal, pipeline):
    client = browser(sales)
    next_stage = _stage(pipeline)

    response = client.post(
        reverse("crm:opportunity-move", args=[deal.pk]), {"stage": next_stage.pk}, HTTP_X_KANBAN_DROP="1"
    )

    deal.refresh_from_db()
    assert response.status_code == 200
    assert response.content.decode().startswith('<article class="kanban-card status-open" id="opportunity-')
    assert deal.stage == next_stage


def test_dropping_on_won_wins_and_on_lost_without_reason_is_refused(company, sales, deal, pipeline):
    client = browser(sales)
    url = reverse("crm:opportunity-move", args=[deal.pk])

    lost = client.post(url, {"stage": _stage(pipeline, is_lost=True).pk}, HTTP_X_KANBAN_DROP="1")
    won = client.post(url, {"stage": _stage(pipeline, is_won=True).pk}, HTTP_X_KANBAN_DROP="1")
    back = client.post(url, {"stage": _stage(pipeline).pk}, HTTP_X_KANBAN_DROP="1")

    assert lost.status_code == 422 and "Say why the opportunity was lost." in lost.content.decode()
    assert won.status_code == 200 and "status-won" in won.content.decode()
    assert back.status_code == 422  # a won deal is final
    deal.refresh_from_db()
    assert deal.status == OpportunityStatus.WON


def test_keyboard_move_form_works_without_javascript(company, sales, deal, pipeline):
    client = browser(sales)
    lost_reason = LostReason.objects.filter(company=company).first()

    response = client.post(
        reverse("crm:opportunity-move", args=[deal.pk]),
        {"stage": _stage(pipeline, is_lost=True).pk, "lost_reason": lost_reason.pk},
        HTTP_REFERER="http://testserver/crm/board/",
    )

    deal.refresh_from_db()
    assert response.status_code == 302 and response["Location"] == "http://testserver/crm/board/"
    assert deal.status == OpportunityStatus.LOST and deal.lost_reason == lost_reason


def test_moves_respect_scope_and_unknown_stages(company, sales, member, deal, other_company):
    colleague = browser(member(company, Role.SALES))
    foreign_stage = pipeline_default_ensure(company=other_company).stages.first()

    hidden = colleague.post(reverse("crm:opportunity-move", args=[deal.pk]), {"stage": 1}, HTTP_X_KANBAN_DROP="1")
    unknown = browser(sales).post(
        reverse("crm:opportunity-move", args=[deal.pk]), {"stage": foreign_stage.pk}, HTTP_X_KANBAN_DROP="1"
    )
    not_post = browser(sales).get(reverse("crm:opportunity-move", args=[deal.pk]))

    assert hidden.status_code == 404
    assert unknown.status_code == 422 and unknown.content.decode() == "Unknown stage."
    assert not_post.status_code == 405


def forget_counts() -> None:
    from django.core.cache import cache

    from suite.api import counting

    counting._LOCAL_COUNTS.clear()
    cache.clear()


def test_board_remembers_its_totals_until_a_deal_changes(company, sales, sales_user, pipeline):
    account = AccountFactory(company=company, by=sales_user)
    deal = opportunity_create(company=company, by=sales_user, name="齿轮箱", account=account, amount="100.00")
    client = browser(sales)
    forget_counts()
    with CaptureQueriesContext(connection) as cold:
        client.get(reverse("crm:board"))
    with CaptureQueriesContext(connection) as warm:
        page = client.get(reverse("crm:board")).content.decode()
    assert len(warm) == len(cold) - 1  # the totals' query saved
    assert '<span class="column-count">1</span> · CN¥100.00' in page

    deal.amount = "250.00"
    deal.save()  # a change: new audit version, the totals read again
    with CaptureQueriesContext(connection) as changed:
        page = client.get(reverse("crm:board")).content.decode()
    assert len(changed) == len(cold) and '<span class="column-count">1</span> · CN¥250.00' in page


def test_board_query_count_does_not_grow(company, sales, sales_user, pipeline, django_assert_max_num_queries):
    account = AccountFactory(company=company, by=sales_user)
    client = browser(sales)

    def grow(n):
        for i in range(n):
            opportunity_create(company=company, by=sales_user, name=f"d{i}", account=account, amount=i)

    grow(2)
    client.get(reverse("crm:board"))
    forget_counts()  # the columns' totals are remembered until a deal changes: both measured without them
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("crm:board"))
    grow(10)
    forget_counts()
    with django_assert_max_num_queries(len(few)):
        assert client.get(reverse("crm:board")).status_code == 200


def test_board_columns_count_open_and_recently_closed_deals_and_show_the_latest(
    company, sales, sales_user, member, team, pipeline
):
    from decimal import Decimal

    from crm import selectors
    from crm.services.opportunities import opportunity_lose, opportunity_win
    from suite.policy import Actor

    account = AccountFactory(company=company, by=sales_user)
    first = pipeline.stages.order_by("sequence").first()  # where new deals start
    deals = [
        opportunity_create(company=company, by=sales_user, name=f"开放{i}", account=account, amount=100 + i)
        for i in range(4)
    ]
    won = opportunity_create(company=company, by=sales_user, name="刚赢单", account=account, amount=1000)
    opportunity_win(opportunity=won, by=sales_user)
    old = opportunity_create(company=company, by=sales_user, name="早已输单", account=account, amount=7)
    opportunity_lose(opportunity=old, reason=LostReason.objects.filter(company=company).first(), by=sales_user)
    Opportunity.objects.filter(pk=old.pk).update(closed_at=timezone.now() - timedelta(days=200))
    colleague = member(company, Role.SALES, teams=[team], username="lisi").user
    manager = Actor(member(company, Role.MANAGER, teams=[team], username="wang.manager"))  # sees the team's deals
    opportunity_create(company=company, by=colleague, owner=colleague, name="同事的", account=account, amount=1)

    columns = {c.stage.pk: c for c in selectors.opportunity_board(manager, pipeline=pipeline, per_column=3)}
    assert (columns[first.pk].count, columns[first.pk].amount) == (5, Decimal("407.00"))  # 4 + the colleague's
    # the latest changed first, at most per_column
    assert [o.name for o in columns[first.pk].cards] == ["同事的", "开放3", "开放2"]
    won_column = columns[_stage(pipeline, is_won=True).pk]
    assert (won_column.count, won_column.amount, [o.name for o in won_column.cards]) == (
        1,
        Decimal("1000.00"),
        ["刚赢单"],
    )
    lost_column = columns[_stage(pipeline, is_lost=True).pk]
    assert (lost_column.count, lost_column.cards) == (0, [])  # closed 200 days ago: off the board
    theirs = {c.stage.pk: c for c in selectors.opportunity_board(manager, pipeline=pipeline, owner=sales_user)}
    assert theirs[first.pk].count == 4 and "同事的" not in [o.name for o in theirs[first.pk].cards]
    own = {c.stage.pk: c for c in selectors.opportunity_board(Actor(sales), pipeline=pipeline)}
    assert own[first.pk].count == 4  # a salesperson's board: their own deals
    found = {c.stage.pk: c for c in selectors.opportunity_board(Actor(sales), pipeline=pipeline, search="开放2")}
    assert [o.name for o in found[first.pk].cards] == ["开放2"] and found[first.pk].count == 1
    assert deals  # created above


def test_a_column_shows_its_first_cards_and_the_rest_on_demand(
    company, sales, sales_user, member, team, pipeline, django_assert_max_num_queries
):
    """A column of the board shows its latest ``BOARD_CARDS``; "Show more" (htmx) brings the next ones under the
    same filters, with another button while more remain, in a fixed number of queries."""
    from crm.selectors import BOARD_CARDS

    account = AccountFactory(company=company, by=sales_user, name="苏州精工")
    first = pipeline.stages.order_by("sequence").first()
    for i in range(BOARD_CARDS * 2 + 5):
        opportunity_create(company=company, by=sales_user, name=f"车床{i:02d}", account=account, amount=i)
    colleague = member(company, Role.SALES, username="lisi.other").user  # another team: not on sales' board
    opportunity_create(company=company, by=colleague, owner=colleague, name="别组的", account=account, amount=1)
    client = browser(sales)

    board = client.get(reverse("crm:board")).content.decode()
    assert board.count("车床") == BOARD_CARDS and "车床44" in board and "车床24" not in board  # the latest first
    assert f"Show more ({BOARD_CARDS + 5} left)" in board and 'data-testid="board-more"' in board
    more = reverse("crm:board-column", args=[first.pk])
    with django_assert_max_num_queries(12):
        page_two = client.get(more, {"pipeline": pipeline.pk, "offset": BOARD_CARDS}, HTTP_HX_REQUEST="true")
    html = page_two.content.decode()
    names = [f"车床{i:02d}" for i in range(24, 4, -1)]
    assert page_two.status_code == 200 and all(name in html for name in names) and "车床04" not in html
    assert f"offset={BOARD_CARDS * 2}" in html and 'draggable="true"' in html  # the cards move like the others
    last = client.get(more, {"pipeline": pipeline.pk, "offset": BOARD_CARDS * 2}).content.decode()
    assert last.count('class="kanban-card') == 5 and "board-more" not in last and "别组的" not in last
    searched = client.get(more, {"pipeline": pipeline.pk, "q": "车床03", "offset": 0}).content.decode()
    assert searched.count('class="kanban-card') == 1 and "车床03" in searched
    assert client.get(reverse("crm:board-column", args=[999_999]), {"pipeline": pipeline.pk}).status_code == 404


# ---------------------------------------------------------------- opportunities


def test_opportunity_form_errors_and_create(company, sales, sales_user):
    account = AccountFactory(company=company, by=sales_user, name="东方电气")
    client = browser(sales)

    negative = client.post(reverse("crm:opportunity-create"), {"name": "x", "account": account.pk, "amount": "-5"})
    no_customer = client.post(reverse("crm:opportunity-create"), {"name": "x", "amount": "5"})
    form = client.get(reverse("crm:opportunity-create"), {"account": account.pk}).content.decode()
    created = client.post(
        reverse("crm:opportunity-create"), {"name": "变压器", "account": account.pk, "amount": "1200.50"}
    )

    assert negative.status_code == 200 and "has-error" in negative.content.decode()
    assert "An opportunity needs an account or a contact." in no_customer.content.decode()
    assert f'<option value="{account.pk}" selected>' in form
    opportunity = Opportunity.objects.get(name="变压器")
    assert created["Location"] == reverse("crm:opportunity-detail", args=[opportunity.pk])
    assert str(opportunity.amount) == "1200.50" and opportunity.owner == sales_user


def test_opportunity_list_and_page(company, sales, deal):
    client = browser(sales)

    listed = client.get(reverse("crm:opportunity-list"), {"sort": "-amount"}).content.decode()
    page = client.get(reverse("crm:opportunity-detail", args=[deal.pk])).content.decode()

    assert "数控机床采购" in listed
    assert "Stage history" in page and "明远科技" in page
    assert_csp_clean(page)


# ---------------------------------------------------------------- activities and my day


def test_log_an_activity_and_complete_it_with_htmx(company, sales, sales_user, deal):
    client = browser(sales)
    url = f"{reverse('crm:activity-create')}?opportunity={deal.pk}"

    invalid = client.post(url, {"kind": "task", "subject": ""})
    saved = client.post(url, {"kind": "task", "subject": "发送报价", "due_at": "2030-01-02T10:30"})
    activity = Activity.objects.get(subject="发送报价")
    done = client.post(reverse("crm:activity-complete", args=[activity.pk]), HTTP_HX_REQUEST="true")

    assert invalid.status_code == 200 and "has-error" in invalid.content.decode()
    assert saved["Location"] == reverse("crm:opportunity-detail", args=[deal.pk])
    assert activity.account == deal.account and activity.due_at.year == 2030
    assert done.status_code == 200 and 'class="activity-row done"' in done.content.decode()
    activity.refresh_from_db()
    assert activity.done_at is not None
    assert client.get(f"{reverse('crm:activity-create')}?lead=999999").status_code == 404


def test_my_day_splits_overdue_today_upcoming_and_lists_hot_leads(company, sales, sales_user, deal):
    now = timezone.now()
    for subject, due in (("昨天的", now - timedelta(days=1)), ("今天的", now), ("下周的", now + timedelta(days=3))):
        activity_create(company=company, by=sales_user, kind="call", subject=subject, opportunity=deal, due_at=due)
    hot = lead_create(company=company, by=sales_user, name="热线索")
    Lead.objects.filter(pk=hot.pk).update(score=80)

    html = browser(sales).get(reverse("crm:my-day")).content.decode()

    overdue, today, week = html.index("Overdue"), html.index(">Today"), html.index("Next 7 days")
    assert overdue < html.index("昨天的") < today < html.index("今天的") < week < html.index("下周的")
    assert "热线索" in html
    assert_csp_clean(html)
