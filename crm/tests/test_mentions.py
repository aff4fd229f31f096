"""@mentions in CRM notes: an internal ticket note or an activity's details tell the colleagues named in it, each
only if the policy lets them see the record; the page says who was told, who was not and why."""

import pytest
from django.urls import reverse

from crm.services.activities import activity_create, activity_update
from crm.services.tickets import ticket_note, ticket_reply
from crm.tests.factories import AccountFactory, opportunity_in, ticket_for
from suite.models import Notification, Role
from suite.testing import web_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("crm_enabled")]


@pytest.fixture
def crew(company, member):
    return {
        "agent": member(company, Role.SERVICE, username="agent", first_name="丽", last_name="赵"),
        "owner": member(company, Role.SALES, username="owner", first_name="伟", last_name="张"),
        "other": member(company, Role.SALES, username="other", first_name="芳", last_name="王"),
    }


def test_a_ticket_note_tells_who_may_see_the_ticket_and_no_one_else(company, crew, english):
    account = AccountFactory(company=company, by=crew["owner"].user, name="宁波港机")
    ticket = ticket_for(company, account=account, by=crew["agent"].user)

    note = ticket_note(ticket=ticket, by=crew["agent"].user, body="@张伟 客户说下周停机，@王芳 也看看。@赵丽")

    assert note.mentions.told == [crew["owner"].user]
    assert note.mentions.cannot_see == [crew["other"].user]  # another salesperson's customer: not shown to her
    told = Notification.objects.get()
    assert (told.recipient, told.company, told.link) == (crew["owner"].user, company, f"/crm/tickets/{ticket.pk}/")
    assert told.title == f"赵丽 mentioned you on {ticket}"
    assert told.body == "@张伟 客户说下周停机，@王芳 也看看。@赵丽"  # the writer is not told about herself


def test_a_reply_to_the_customer_tells_no_colleague(company, crew):
    account = AccountFactory(company=company, by=crew["owner"].user)
    ticket = ticket_for(company, account=account, by=crew["agent"].user)

    ticket_reply(ticket=ticket, by=crew["agent"].user, body="@张伟 will call you tomorrow")

    assert not Notification.objects.filter(title__contains="mentioned").exists()


def test_an_activity_on_a_deal_tells_the_named_colleagues_through_the_api_too(company, crew, member, api_client):
    manager = member(company, Role.ADMIN, username="boss", first_name="总", last_name="李")
    opportunity = opportunity_in(company)
    activity = activity_create(
        company=company,
        by=manager.user,
        kind="note",
        subject="报价策略",
        body="@owner 先别降价",
        opportunity=opportunity,
    )
    assert activity.mentions.cannot_see == [crew["owner"].user]  # not his deal (the factory's salesperson owns it)

    response = api_client(manager).post(
        "/api/v1/crm/activities/",
        {
            "kind": "note",
            "subject": "拜访",
            "body": f"@{opportunity.owner.username} 周五一起去",
            "opportunity": opportunity.pk,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    told = Notification.objects.get(recipient=opportunity.owner)
    assert told.link == f"/crm/opportunities/{opportunity.pk}/"
    assert "周五一起去" in told.body


def test_an_edited_activity_tells_only_the_newly_named(company, crew, member, api_client):
    manager = member(company, Role.ADMIN, username="boss", first_name="总", last_name="李")
    account = AccountFactory(company=company, by=crew["owner"].user, name="宁波港机")
    activity = activity_create(
        company=company, by=manager.user, kind="note", subject="报价", body="@张伟 先别降价", account=account
    )
    colleague = member(company, Role.ADMIN, username="colleague", first_name="强", last_name="刘")

    edited = activity_update(activity=activity, by=manager.user, body="@张伟 先别降价。@刘强 帮忙看合同")
    assert edited.mentions.told == [colleague.user]
    assert activity_update(activity=edited, by=manager.user, subject="报价策略").mentions.told == []

    response = api_client(manager).patch(
        f"/api/v1/crm/activities/{activity.pk}/", {"body": "@刘强 @张伟 合同已改"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert Notification.objects.filter(recipient=crew["owner"].user).count() == 1  # named once, told once
    assert Notification.objects.filter(recipient=colleague.user).count() == 1


def test_the_ticket_page_says_who_was_told(company, crew, member):
    member(company, Role.SALES, username="zhangwei2", first_name="伟", last_name="张")  # a second 张伟
    account = AccountFactory(company=company, by=crew["owner"].user)
    ticket = ticket_for(company, account=account, by=crew["agent"].user)
    client = web_client(crew["agent"])

    page = client.get(reverse("crm:ticket-detail", args=[ticket.pk])).content.decode()
    assert "Type @ and a colleague's name or username to tell them." in page
    response = client.post(
        reverse("crm:ticket-note", args=[ticket.pk]), {"body": "@owner @王芳 @张伟 请看"}, follow=True
    )
    page = response.content.decode()

    assert "Told 张伟." in page
    assert "王芳 may not see this record and were not told." in page
    assert "张伟 fits several people: write the username after the @." in page
    assert list(Notification.objects.values_list("recipient__username", flat=True)) == ["owner"]
