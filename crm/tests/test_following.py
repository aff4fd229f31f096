"""Following a deal, a ticket or an account (关注): the Follow button, the list of what one follows, and who is
told what — never the one who did it, never someone the policy no longer lets see the record."""

import pytest
from django.urls import reverse
from django.utils import translation

from crm.services.customers import account_update
from crm.services.opportunities import opportunity_create, opportunity_lose, opportunity_move, opportunity_win
from crm.services.tickets import ticket_customer_message, ticket_resolve
from crm.tests.factories import AccountFactory, lost_reason_in, ticket_for
from suite.events.relay import relay_batch
from suite.models import Follow, Membership, Notification, Role
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
    return opportunity_create(
        company=company, by=crew["seller"].user, name="岸桥改造", account=account, amount="880000.00"
    )


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
