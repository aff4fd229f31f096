"""CRM pages for service: the ticket list and page (reply, note, resolve with the follow-up visit, escalate,
assign, close), a new ticket, the service report, and the public satisfaction survey."""

import pytest
from django.test import Client
from django.urls import reverse

from crm.models import Ticket, TicketMessage, TicketStatus
from crm.services import tickets as services
from crm.tests.factories import AccountFactory, ticket_for
from crm.tests.test_views_customers import assert_csp_clean, browser
from suite.models import Module, Role, Team
from suite.testing import TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def crm_enabled(company):
    company.enabled_modules = [Module.CRM]
    company.save()


@pytest.fixture
def agent(company, member):
    team = TeamFactory(company=company, name="客服中心", kind=Team.Kind.SERVICE)
    return member(company, Role.SERVICE, teams=[team], username="kefu01")


@pytest.fixture
def ticket(company, sales_user, agent):
    account = AccountFactory(company=company, by=sales_user, name="明远科技")
    return services.ticket_open(
        company=company,
        by=None,
        subject="冷库温度报警",
        description="温度升到 -5℃",
        account=account,
        assigned_agent=agent.user,
    )


def test_ticket_list_filters_and_escapes(company, agent, ticket):
    services.ticket_close(ticket=ticket_for(company, subject="已关闭的"), by=None)
    client = browser(agent)

    active = client.get(reverse("crm:ticket-list")).content.decode()
    closed = client.get(reverse("crm:ticket-list"), {"status": "closed"}).content.decode()
    by_number = client.get(reverse("crm:ticket-list"), {"q": f"#{ticket.number}", "status": "all"}).content.decode()

    assert "冷库温度报警" in active and "已关闭的" not in active
    assert "已关闭的" in closed and "冷库温度报警" not in closed
    assert "冷库温度报警" in by_number and "已关闭的" not in by_number
    assert_csp_clean(active)


def test_agent_replies_notes_and_resolves_then_the_follow_up_shows(company, agent, ticket, sales_user):
    client = browser(agent)
    url = reverse("crm:ticket-detail", args=[ticket.pk])

    client.post(reverse("crm:ticket-reply", args=[ticket.pk]), {"body": "已派工程师上门"})
    client.post(reverse("crm:ticket-note", args=[ticket.pk]), {"body": "压缩机可能坏了"})
    empty = client.post(reverse("crm:ticket-reply", args=[ticket.pk]), {"body": ""}, follow=True)
    resolved = client.post(reverse("crm:ticket-resolve", args=[ticket.pk]), {"resolution": "更换压缩机"}, follow=True)

    html = resolved.content.decode()
    ticket.refresh_from_db()
    assert "Write a message first." in empty.content.decode()
    assert ticket.status == TicketStatus.RESOLVED and ticket.first_responded_at is not None
    assert list(TicketMessage.objects.filter(ticket=ticket).values_list("kind", flat=True)) == ["reply", "note", "note"]
    assert resolved.redirect_chain[-1][0] == url
    assert "A follow-up visit is planned" in html
    assert 'id="follow-up"' in html and "回访" in html
    assert f"/crm/csat/{ticket.csat.token}/" in html
    assert ticket.follow_up_activity.owner == sales_user
    assert_csp_clean(html)


def test_sales_sees_the_ticket_but_cannot_reply_or_resolve(company, sales, ticket):
    client = browser(sales)

    page = client.get(reverse("crm:ticket-detail", args=[ticket.pk])).content.decode()
    reply = client.post(reverse("crm:ticket-reply", args=[ticket.pk]), {"body": "x"})
    note = client.post(reverse("crm:ticket-note", args=[ticket.pk]), {"body": "客户很重要"})

    assert "冷库温度报警" in page and "Send reply" not in page and "Resolve ticket" not in page
    assert reply.status_code == 403
    assert note.status_code == 302


def test_escalate_assign_and_close(company, agent, ticket, member):
    other = member(company, Role.SERVICE, username="kefu02").user
    client = browser(agent)

    client.post(reverse("crm:ticket-escalate", args=[ticket.pk]), {"reason": "客户投诉", "priority": "urgent"})
    client.post(reverse("crm:ticket-assign", args=[ticket.pk]), {"agent": other.pk})
    client.post(reverse("crm:ticket-close", args=[ticket.pk]))

    ticket.refresh_from_db()
    assert ticket.escalated and ticket.priority == "urgent"
    assert ticket.assigned_agent == other
    assert ticket.status == TicketStatus.CLOSED


def test_open_a_ticket_from_the_customer_page(company, agent, sales_user):
    account = AccountFactory(company=company, by=sales_user, name="新客户")
    client = browser(agent)

    form = client.get(reverse("crm:ticket-create"), {"account": account.pk}).content.decode()
    invalid = client.post(reverse("crm:ticket-create"), {"subject": "", "channel": "phone", "priority": "normal"})
    created = client.post(
        reverse("crm:ticket-create"),
        {"subject": "电话报修", "account": account.pk, "channel": "phone", "priority": "high"},
    )

    assert f'<option value="{account.pk}" selected>' in form
    assert invalid.status_code == 200 and "has-error" in invalid.content.decode()
    ticket = Ticket.objects.get(subject="电话报修")
    assert created["Location"] == reverse("crm:ticket-detail", args=[ticket.pk])
    assert ticket.owner == sales_user and ticket.channel == "phone"


def test_service_report_page(company, agent, ticket, admin):
    services.ticket_resolve(ticket=ticket, by=agent.user)

    html = browser(admin).get(reverse("crm:ticket-report"), {"from": "2020-01-01", "to": "bad"}).content.decode()

    assert "By category" in html and "By agent" in html and "kefu01" in html
    assert browser(agent).get(reverse("crm:ticket-report")).status_code == 200


def test_public_csat_page_takes_one_answer(company, agent, ticket):
    token = services.ticket_resolve(ticket=ticket, by=agent.user).survey.token
    anonymous = Client()
    anonymous.cookies["django_language"] = "en"
    url = reverse("crm:csat", args=[token])

    form = anonymous.get(url).content.decode()
    invalid = anonymous.post(url, {"score": "9"}).content.decode()
    thanks = anonymous.post(url, {"score": "5", "comment": "师傅很专业"}).content.decode()
    again = anonymous.post(url, {"score": "1"}).content.decode()

    assert "How did we do?" in form and 'name="score"' in form and "冷库温度报警" in form
    assert "errorlist" in invalid
    assert "Thank you! Your answer was recorded." in thanks
    assert "answered already" in again
    ticket.csat.refresh_from_db()
    assert (ticket.csat.score, ticket.csat.comment) == (5, "师傅很专业")
    assert anonymous.get(reverse("crm:csat", args=["not-a-token"])).status_code == 404
    assert_csp_clean(form)


def test_activities_are_logged_on_a_ticket_and_the_follow_up_visit_belongs_to_it(company, agent, ticket):
    from crm.models import Activity

    client = browser(agent)
    page = client.get(reverse("crm:ticket-detail", args=[ticket.pk])).content.decode()
    log_url = reverse("crm:activity-create") + f"?ticket={ticket.pk}"
    assert log_url.replace("&", "&amp;") in page
    data = {"kind": "call", "subject": "回电确认温度", "body": "", "outcome": ""}
    response = client.post(log_url, data)
    assert response.status_code == 302 and response["Location"] == reverse("crm:ticket-detail", args=[ticket.pk])
    call = Activity.objects.get(subject="回电确认温度")
    assert (call.ticket_id, call.account_id) == (ticket.pk, ticket.account_id)  # on the customer's timeline too
    assert "回电确认温度" in client.get(reverse("crm:ticket-detail", args=[ticket.pk])).content.decode()

    resolved = services.ticket_resolve(ticket=ticket, by=agent.user, resolution="已更换温控器")
    assert resolved.follow_up is not None and resolved.follow_up.ticket_id == ticket.pk
