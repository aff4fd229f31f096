"""Following a deal, a ticket, an account or a lead (关注): the Follow button, the list of what one follows, and
who is told what — never the one who did it, nobody twice, never someone the policy no longer lets see the
record; an account's new owner is told too."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from crm.models import Account
from crm.services.customers import account_update
from crm.services.leads import lead_assign, lead_convert, lead_create, lead_status_set
from crm.services.opportunities import opportunity_create, opportunity_lose, opportunity_move, opportunity_win
from crm.services.pool import account_claim, account_pool_assign, account_release, pool_rule_set, pool_sweep
from crm.services.tickets import ticket_customer_message, ticket_resolve
from crm.tests.factories import AccountFactory, lost_reason_in, ticket_for
from suite.events.relay import relay_batch
from suite.models import Follow, Membership, Notification, OutboxEvent, Role
from suite.policy import Actor
from suite.services.follows import followers_notify, record_follow
from suite.testing import web_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("crm_enabled")]


@pytest.fixture
def crew(company, member, team):
    return {
        "seller": member(company, Role.SALES, teams=[team], username="seller", first_name="伟", last_name="张"),
        "boss": member(company, Role.MANAGER, username="boss", first_name="总", last_name="李"),
        "admin": member(company, Role.ADMIN, username="chief", first_name="芳", last_name="王"),
        "agent": member(company, Role.SERVICE, username="agent", first_name="丽", last_name="赵"),
    }


@pytest.fixture
def deal(company, crew):
    account = AccountFactory(company=company, by=crew["seller"].user, name="宁波港机")
    deal = opportunity_create(
        company=company, by=crew["seller"].user, name="岸桥改造", account=account, amount="880000.00"
    )
    relay_batch()  # its crm.opportunity.created, while nobody follows the account yet
    return deal


def told(user) -> list[str]:
    return list(Notification.objects.filter(recipient=user).order_by("id").values_list("title", flat=True))


def test_the_follow_button_follows_and_unfollows(company, crew, deal):
    client = web_client(crew["admin"])
    url = reverse("follow-toggle", args=["crm.opportunity", deal.pk])

    page = client.get(reverse("crm:opportunity-detail", args=[deal.pk])).content.decode()
    assert "☆ Follow" in page
    button = client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert "★ Following · 1" in button and 'aria-pressed="true"' in button
    client.post(url, HTTP_HX_REQUEST="true")  # twice: still one
    assert Follow.objects.count() == 1

    button = client.post(url, {"unfollow": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert "☆ Follow" in button
    assert not Follow.objects.exists()


def test_one_follows_only_what_one_may_see_and_only_followable_records(
    company, other_company, crew, deal, member, team
):
    other_seller = web_client(member(company, Role.SALES))
    assert other_seller.post(reverse("follow-toggle", args=["crm.opportunity", deal.pk])).status_code == 404
    stranger = web_client(member(other_company, Role.ADMIN))
    assert stranger.post(reverse("follow-toggle", args=["crm.account", deal.account_id])).status_code == 404
    admin = web_client(crew["admin"])
    assert admin.post(reverse("follow-toggle", args=["suite.team", team.pk])).status_code == 404
    assert not Follow.objects.exists()


def test_deal_followers_hear_of_its_moves_win_and_loss_but_not_of_their_own(company, crew, deal, team, english):
    team.manager = crew["boss"].user
    team.save()
    record_follow(actor=Actor(crew["boss"]), record=deal)  # the manager of the deal's team
    record_follow(actor=Actor(crew["admin"]), record=deal.account)  # the admin follows the key account
    record_follow(actor=Actor(crew["seller"]), record=deal)

    stage = deal.pipeline.stages.filter(is_won=False, is_lost=False).order_by("sequence")[1]
    opportunity_move(opportunity=deal, stage=stage, by=crew["seller"].user)
    opportunity_lose(opportunity=deal, reason=lost_reason_in(company), by=crew["seller"].user, note="预算推迟")
    relay_batch()  # the loss and the win reach followers through their events (crm.events)
    opportunity_win(opportunity=deal, by=crew["admin"].user)
    relay_batch()

    moved = f"岸桥改造 moved to {stage.name_en or stage.name}"
    lost = Notification.objects.filter(recipient=crew["boss"].user, title__startswith="岸桥改造 was lost: ").get()
    assert lost.body == "预算推迟 By 张伟."
    assert told(crew["boss"].user) == [moved, lost.title, "岸桥改造 was won: CN¥880,000.00"]
    assert told(crew["admin"].user) == [moved, lost.title]  # the win was hers
    assert told(crew["seller"].user) == ["岸桥改造 was won: CN¥880,000.00"]  # the moves were his
    assert Notification.objects.filter(title__contains="won").first().link == f"/crm/opportunities/{deal.pk}/"


def test_a_follower_who_may_no_longer_see_the_deal_is_not_told(company, crew, deal, team, english):
    team.manager = crew["boss"].user
    team.save()
    record_follow(actor=Actor(crew["boss"]), record=deal)
    team.manager = None  # he hands the team over
    team.save()

    opportunity_win(opportunity=deal, by=crew["seller"].user)
    relay_batch()

    assert told(crew["boss"].user) == []


def test_ticket_and_account_followers_hear_of_new_tickets_customer_replies_and_resolution(company, crew, english):
    account = AccountFactory(company=company, by=crew["seller"].user, name="宁波港机")
    record_follow(actor=Actor(crew["seller"]), record=account)
    ticket = ticket_for(company, account=account, by=crew["agent"].user, subject="岸桥异响")
    record_follow(actor=Actor(crew["admin"]), record=ticket)

    ticket_customer_message(ticket=ticket, body="还是有异响，请尽快派人")
    ticket_resolve(ticket=ticket, by=crew["agent"].user, resolution="更换轴承")

    name = str(ticket)
    assert told(crew["seller"].user)[:1] == [f"New ticket for 宁波港机: {name}"]
    assert f"The customer wrote on {name}" in told(crew["seller"].user)
    assert told(crew["admin"].user) == [f"The customer wrote on {name}", f"{name} was resolved"]
    reply = Notification.objects.get(recipient=crew["admin"].user, title__startswith="The customer")
    assert (reply.body, reply.link) == ("还是有异响，请尽快派人", f"/crm/tickets/{ticket.pk}/")


def test_the_following_page_lists_what_one_follows_and_still_sees(company, crew, deal, team):
    team.manager = crew["boss"].user
    team.save()
    boss = Actor(crew["boss"])
    record_follow(actor=boss, record=deal)
    record_follow(actor=boss, record=deal.account)
    account_update(account=deal.account, by=crew["admin"].user, name="宁波港机集团")

    page = web_client(crew["boss"]).get(reverse("following")).content.decode()
    assert "岸桥改造" in page and "宁波港机集团" in page
    assert f'href="/crm/opportunities/{deal.pk}/"' in page

    team.manager = None
    team.save()
    page = web_client(crew["boss"]).get(reverse("following")).content.decode()
    assert "岸桥改造" not in page and "You follow nothing yet." in page


def test_the_following_page_says_each_records_state_and_stops_following_in_constant_queries(
    company, crew, deal, django_assert_max_num_queries
):
    admin = Actor(crew["admin"])
    record_follow(actor=admin, record=deal)
    record_follow(actor=admin, record=deal.account)
    client = web_client(crew["admin"])
    with CaptureQueriesContext(connection) as few:
        page = client.get(reverse("following")).content.decode()
    assert "¥880,000.00" in page and "张伟" in page  # the deal's stage and amount, the account's owner

    for n in range(3):  # more deals and accounts: no query more
        account = AccountFactory(company=company, by=crew["seller"].user, name=f"客户{n}")
        more = opportunity_create(company=company, by=crew["seller"].user, name=f"商机{n}", account=account)
        record_follow(actor=admin, record=more)
        record_follow(actor=admin, record=account)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(reverse("following")).status_code == 200

    stopped = client.post(
        reverse("follow-toggle", args=["crm.opportunity", deal.pk]), {"unfollow": "1", "next": "/following/"}
    )
    assert stopped["Location"] == "/following/"
    assert not Follow.objects.filter(user=crew["admin"].user, object_id=str(deal.pk)).exists()


def test_nobody_following_costs_one_query(company, crew, deal, django_assert_num_queries):
    followers_notify(records=[deal], about=deal, by=None, title="warm up")  # content types cached
    with django_assert_num_queries(1):
        assert followers_notify(records=[deal, deal.account], about=deal, by=None, title="x") == []


def test_followers_and_approvers_read_their_notifications_in_their_own_language(company, crew, deal, team):
    team.manager = crew["boss"].user
    team.save()
    Membership.objects.filter(pk=crew["boss"].pk).update(language="zh-hans")
    Membership.objects.filter(pk=crew["admin"].pk).update(language="en")
    record_follow(actor=Actor(crew["boss"]), record=deal)
    record_follow(actor=Actor(crew["admin"]), record=deal)
    stage = deal.pipeline.stages.filter(is_won=False, is_lost=False).order_by("sequence")[1]

    with translation.override("en"):  # the salesperson works in English
        opportunity_move(opportunity=deal, stage=stage, by=crew["seller"].user)

    assert told(crew["admin"].user) == [f"岸桥改造 moved to {stage.name_en or stage.name}"]
    assert told(crew["boss"].user) == [f"岸桥改造 进入阶段：{stage.name}"]
    assert Notification.objects.get(recipient=crew["boss"].user).body == "操作人：张伟。"


# ---------------------------------------------------------------- new deals, account owners, leads


@pytest.fixture
def colleague(company, member, team):
    return member(company, Role.SALES, teams=[team], username="lisi", first_name="四", last_name="李")


def test_a_new_deal_reaches_the_accounts_followers_through_its_event(company, crew, team, english):
    team.manager = crew["boss"].user
    team.save()
    account = AccountFactory(company=company, by=crew["seller"].user, name="宁波港机")
    for who in ("admin", "boss", "seller"):
        record_follow(actor=Actor(crew[who]), record=account)

    deal = opportunity_create(
        company=company, by=crew["seller"].user, name="岸桥改造", account=account, amount="880000.00"
    )
    event = OutboxEvent.objects.get(name="crm.opportunity.created")
    assert (event.version, event.company_id, event.created_by_id) == (1, company.pk, crew["seller"].user.pk)
    assert event.payload == {
        "opportunity_id": deal.pk,
        "name": "岸桥改造",
        "account_id": account.pk,
        "contact_id": None,
        "lead_id": None,
        "owner_id": crew["seller"].user.pk,
        "team_id": team.pk,
        "pipeline_id": deal.stage.pipeline_id,
        "stage_id": deal.stage_id,
        "amount": "880000.00",
        "currency": "CNY",
        "expected_close_date": None,
        "created_at": deal.created_at.isoformat(),
    }
    assert not Notification.objects.exists()  # nobody is told in the create's own request
    team.manager = None  # the manager hands the team over before the relay runs
    team.save()
    relay_batch()

    note = Notification.objects.get(recipient=crew["admin"].user)
    assert (note.title, note.body, note.link) == (
        "New deal for 宁波港机: 岸桥改造",
        "Amount: CN¥880,000.00. By 张伟.",
        f"/crm/opportunities/{deal.pk}/",
    )
    assert told(crew["boss"].user) == []  # may no longer see it
    assert told(crew["seller"].user) == []  # made it
    relay_batch()  # nothing left: told once
    assert Notification.objects.count() == 1


def test_creating_a_deal_adds_only_the_insert_of_its_event(company, crew):
    account = AccountFactory(company=company, by=crew["seller"].user, name="宁波港机")
    record_follow(actor=Actor(crew["admin"]), record=account)  # followed: still nothing more in the request
    opportunity_create(company=company, by=crew["seller"].user, name="预热", account=account, amount="1.00")

    with CaptureQueriesContext(connection) as queries:
        opportunity_create(company=company, by=crew["seller"].user, name="岸桥改造", account=account, amount="9.00")

    statements = [query["sql"] for query in queries.captured_queries]
    # savepoint, the reads (one statement), the deal, its first stage change, the event (new: was 5), release
    assert len(statements) == 6
    assert [sql for sql in statements if "suite_outboxevent" in sql] == [statements[4]]
    assert statements[4].startswith("INSERT INTO suite_outboxevent")
    assert not [sql for sql in statements if "suite_follow" in sql or "suite_notification" in sql]


def test_a_converted_lead_tells_its_followers_what_it_became_and_the_accounts_followers_once(
    company, crew, team, english
):
    account = AccountFactory(company=company, by=crew["seller"].user, name="宁波港机")
    lead = lead_create(company=company, by=crew["seller"].user, name="王工", company_name="宁波港机")
    record_follow(actor=Actor(crew["admin"]), record=lead)
    record_follow(actor=Actor(crew["admin"]), record=account)
    record_follow(actor=Actor(crew["agent"]), record=account)

    deal = lead_convert(lead=lead, by=crew["seller"].user, account=account, opportunity_name="岸桥改造").opportunity
    note = Notification.objects.get(recipient=crew["admin"].user)
    assert (note.title, note.body, note.link) == (
        "Lead 王工 (宁波港机) became the deal 岸桥改造",
        "By 张伟.",
        f"/crm/opportunities/{deal.pk}/",
    )
    relay_batch()  # crm.opportunity.created
    assert told(crew["agent"].user) == ["New deal for 宁波港机: 岸桥改造"]
    assert told(crew["admin"].user) == ["Lead 王工 (宁波港机) became the deal 岸桥改造"]  # not twice
    # and follows the deal from now on (as the lead's follower who may see it); nobody else was made to
    deal_follows = Follow.objects.filter(object_id=str(deal.pk), content_type__model="opportunity")
    assert list(deal_follows.values_list("user", flat=True)) == [crew["admin"].user.pk]


def test_lead_followers_hear_it_changed_hands_or_was_disqualified_in_their_language(
    company, crew, team, colleague, english
):
    team.manager = crew["boss"].user
    team.save()
    Membership.objects.filter(pk=crew["boss"].pk).update(language="zh-hans")
    Membership.objects.filter(pk=crew["admin"].pk).update(language="en")
    lead = lead_create(company=company, by=crew["seller"].user, name="王工", company_name="宁波港机")
    for who in ("admin", "boss", "seller"):
        record_follow(actor=Actor(crew[who]), record=lead)

    lead_assign(lead=lead, by=crew["boss"].user, owner=colleague.user)
    lead_assign(lead=lead, by=crew["boss"].user, owner=colleague.user)  # to whom it belongs already: no news
    lead_status_set(lead=lead, status="disqualified", by=crew["admin"].user, reason="没有预算")
    lead_status_set(lead=lead, status="disqualified", by=crew["boss"].user, reason="没有预算，明年再说")  # still

    assigned = "Lead 王工 (宁波港机) was assigned to 李四"
    assert told(crew["admin"].user) == [assigned]
    assert Notification.objects.get(recipient=crew["admin"].user).body == "By 李总."
    assert told(crew["seller"].user) == []  # no longer his: may not see it
    [disqualified] = Notification.objects.filter(recipient=crew["boss"].user)
    assert "没有预算" in disqualified.title and disqualified.body == "操作人：王芳。"  # in his language
    assert disqualified.link == f"/crm/leads/{lead.pk}/"


def test_a_lead_is_followed_from_its_page_and_listed_under_following(company, crew):
    lead = lead_create(company=company, by=crew["seller"].user, name="王工", company_name="宁波港机")
    client = web_client(crew["admin"])

    assert "☆ Follow" in client.get(reverse("crm:lead-detail", args=[lead.pk])).content.decode()
    client.post(reverse("follow-toggle", args=["crm.lead", lead.pk]))

    page = client.get(reverse("following")).content.decode()
    assert f'href="/crm/leads/{lead.pk}/"' in page and "王工 (宁波港机)" in page


def test_an_accounts_new_owner_and_its_followers_are_told_once_and_never_the_doer(company, crew, team, english):
    team.manager = crew["boss"].user
    team.save()
    account = AccountFactory(company=company, by=crew["seller"].user, name="宁波港机")
    for who in ("seller", "boss", "admin", "agent"):
        record_follow(actor=Actor(crew[who]), record=account)

    account_update(account=account, by=crew["admin"].user, owner=crew["boss"].user)
    assert told(crew["boss"].user) == ["王芳 assigned you the account 宁波港机"]  # as owner, not as follower too
    assert told(crew["agent"].user) == ["宁波港机 now belongs to 李总"]
    assert Notification.objects.get(recipient=crew["agent"].user).body == "By 王芳."
    assert told(crew["admin"].user) == []  # did it
    assert told(crew["seller"].user) == []  # no longer his: may not see it

    account_update(account=account, by=crew["boss"].user, owner=crew["seller"].user)
    account_update(account=account, by=crew["admin"].user, owner=crew["seller"].user, name="宁波港机集团")  # same
    assert told(crew["seller"].user) == ["李总 assigned you the account 宁波港机"]
    assert told(crew["agent"].user) == ["宁波港机 now belongs to 李总", "宁波港机 now belongs to 张伟"]
    assert told(crew["admin"].user) == ["宁波港机 now belongs to 张伟"]
    assert Notification.objects.filter(recipient=crew["seller"].user).get().link == f"/crm/accounts/{account.pk}/"


def test_pool_moves_tell_the_followers_and_an_assigned_owner(company, crew, colleague, english):
    account = AccountFactory(company=company, by=crew["seller"].user, name="宁波港机")
    record_follow(actor=Actor(crew["agent"]), record=account)  # service sees every account

    account_release(account=account, by=crew["seller"].user)
    account_claim(account=account, by=colleague.user)
    account_release(account=account, by=colleague.user)
    account_pool_assign(account=account, to_user=crew["seller"].user, by=crew["admin"].user)

    back = "宁波港机 went back to the customer pool"
    assert told(crew["agent"].user) == [back, "宁波港机 now belongs to 李四", back, "宁波港机 now belongs to 张伟"]
    assert told(colleague.user) == []  # claimed it himself
    assert told(crew["seller"].user) == ["王芳 assigned you the account 宁波港机"]


def test_the_pools_sweep_tells_the_followers_and_not_the_owner_twice(company, crew, english):
    pool_rule_set(company=company, by=None, is_active=True, idle_days=30)
    account = AccountFactory(company=company, by=crew["seller"].user, name="宁波港机", lifecycle_stage="prospect")
    Account.objects.filter(pk=account.pk).update(created_at=timezone.now() - timedelta(days=40))
    record_follow(actor=Actor(crew["agent"]), record=account)
    record_follow(actor=Actor(crew["seller"]), record=account)  # its owner follows it too

    assert pool_sweep() == 1

    assert told(crew["agent"].user) == ["宁波港机 went back to the customer pool"]
    assert told(crew["seller"].user) == ["1 of your accounts went back to the customer pool"]  # as owner, once


def test_a_bulk_reassignment_tells_the_new_owner_once_and_coalesces_a_followers_news(
    company, crew, team, colleague, english
):
    team.manager = crew["boss"].user
    team.save()
    accounts = [AccountFactory(company=company, by=crew["seller"].user, name=f"明远科技{i}") for i in range(5)]
    for account in accounts:
        record_follow(actor=Actor(crew["agent"]), record=account)
    record_follow(actor=Actor(crew["boss"]), record=accounts[0])

    response = web_client(crew["admin"]).post(
        reverse("crm:account-bulk"),
        {"action": "owner", "owner": colleague.user.pk, "ids": [account.pk for account in accounts]},
        follow=True,
    )

    assert [str(message) for message in response.context["messages"]] == ["Assign owner: 5 records changed."]
    assert set(Account.objects.filter(company=company).values_list("owner", flat=True)) == {colleague.user.pk}
    [assigned] = Notification.objects.filter(recipient=colleague.user)
    assert (assigned.title, assigned.link) == ("王芳 assigned you 5 accounts", "/crm/accounts/?owner=me")
    [coalesced] = Notification.objects.filter(recipient=crew["agent"].user)  # follows all five: one line
    assert (coalesced.title, coalesced.body, coalesced.link) == (
        "5 accounts you follow have a new owner",
        "By 王芳.",
        "/following/",
    )
    assert told(crew["boss"].user) == ["明远科技0 now belongs to 李四"]
    assert told(crew["admin"].user) == [] and told(crew["seller"].user) == []
