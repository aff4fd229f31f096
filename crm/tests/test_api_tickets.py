"""The ticket API: who sees and works which tickets, the actions, inbound e-mail, the report, query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from crm.models import Ticket, TicketStatus
from crm.services import tickets as services
from crm.tests.factories import AccountFactory, ContactFactory, ticket_for
from suite.api.throttling import clear_throttles
from suite.models import Module, Role, Team
from suite.testing import TeamFactory

pytestmark = pytest.mark.django_db

MAX_QUERIES = 12


@pytest.fixture(autouse=True)
def english():
    clear_throttles()
    with translation.override("en"):
        yield


@pytest.fixture
def agent(company, member):
    team = TeamFactory(company=company, name="客服", kind=Team.Kind.SERVICE)
    return member(company, Role.SERVICE, teams=[team], username="kefu")


def test_sales_sees_only_their_customers_tickets_and_may_only_note(api_client, company, sales, sales_user, member):
    other_sales = member(company, Role.SALES).user
    mine = ticket_for(company, customer_owner=sales_user, subject="我的客户")
    theirs = ticket_for(company, customer_owner=other_sales, subject="别人的客户")
    client = api_client(sales)

    listed = client.get("/api/v1/crm/tickets/").json()
    reply = client.post(f"/api/v1/crm/tickets/{mine.pk}/reply/", {"body": "hi"}, format="json")
    note = client.post(f"/api/v1/crm/tickets/{mine.pk}/note/", {"body": "客户说周五来"}, format="json")

    assert [row["id"] for row in listed["results"]] == [mine.pk]
    assert client.get(f"/api/v1/crm/tickets/{theirs.pk}/").status_code == 404
    assert reply.status_code == 403
    assert note.status_code == 201 and note.json()["kind"] == "note"


def test_service_opens_replies_and_resolves_through_the_api(api_client, company, agent, sales_user):
    account = AccountFactory(company=company, by=sales_user)
    client = api_client(agent)

    created = client.post(
        "/api/v1/crm/tickets/",
        {"subject": "无法登录", "account": account.pk, "priority": "high", "status": "closed", "number": 99},
        format="json",
    )
    ticket_id = created.json()["id"]
    client.post(f"/api/v1/crm/tickets/{ticket_id}/reply/", {"body": "已重置密码"}, format="json")
    resolved = client.post(f"/api/v1/crm/tickets/{ticket_id}/resolve/", {"follow_up_days": 2}, format="json")
    thread = client.get(f"/api/v1/crm/tickets/{ticket_id}/messages/")

    assert created.status_code == 201
    assert created.json()["status"] == "new" and created.json()["number"] == 1  # status / number not mass-assigned
    body = resolved.json()
    assert resolved.status_code == 200 and body["status"] == "resolved"
    assert body["follow_up"]["owner"] == sales_user.pk
    assert body["csat"]["score"] is None and "token" not in body["csat"]
    assert [m["kind"] for m in thread.json()] == ["reply"]


def test_bad_input_is_a_400_with_field_errors(api_client, company, agent, other_company):
    foreign = AccountFactory(company=other_company)
    client = api_client(agent)

    response = client.post(
        "/api/v1/crm/tickets/", {"subject": "", "account": foreign.pk, "priority": "asap"}, format="json"
    )
    ticket = ticket_for(company)
    empty = client.post(f"/api/v1/crm/tickets/{ticket.pk}/reply/", {"body": ""}, format="json")
    escalate = client.post(f"/api/v1/crm/tickets/{ticket.pk}/escalate/", {"reason": ""}, format="json")

    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"subject", "account", "priority"}
    assert empty.status_code == 400 and empty.json()["errors"][0]["field"] == "body"
    assert escalate.status_code == 400


def test_conflicts_are_409(api_client, company, agent):
    ticket = services.ticket_close(ticket=ticket_for(company), by=None)
    response = api_client(agent).post(f"/api/v1/crm/tickets/{ticket.pk}/reply/", {"body": "x"}, format="json")

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "ticket_closed"


def test_tickets_are_never_deleted(api_client, company, admin):
    ticket = ticket_for(company)

    response = api_client(admin).delete(f"/api/v1/crm/tickets/{ticket.pk}/")

    assert response.status_code in (403, 405)  # no role may delete, and the route has no DELETE
    assert Ticket.objects.filter(pk=ticket.pk).exists()


def test_inbound_email_endpoint_needs_the_company_token(client, company, sales_user):
    contact = ContactFactory(company=company, by=sales_user, name="王强", email="wq@example.cn")
    secret = services.inbound_token_issue(company=company, by=None, name="gateway").secret
    raw = b"From: wq@example.cn\r\nSubject: need help\r\nMessage-ID: <m1@example.cn>\r\n\r\nThe machine stopped."

    anonymous = client.post("/api/v1/crm/tickets/inbound-email/", raw, content_type="message/rfc822")
    wrong = client.post(
        "/api/v1/crm/tickets/inbound-email/", raw, content_type="message/rfc822", HTTP_X_TROIKA_INBOUND_TOKEN="tin_x"
    )
    created = client.post(
        "/api/v1/crm/tickets/inbound-email/", raw, content_type="message/rfc822", HTTP_X_TROIKA_INBOUND_TOKEN=secret
    )
    repeated = client.post(
        "/api/v1/crm/tickets/inbound-email/", raw, content_type="message/rfc822", HTTP_X_TROIKA_INBOUND_TOKEN=secret
    )
    empty = client.post(
        "/api/v1/crm/tickets/inbound-email/", b"", content_type="message/rfc822", HTTP_X_TROIKA_INBOUND_TOKEN=secret
    )
    garbage = client.post(
        "/api/v1/crm/tickets/inbound-email/",
        b"not an email at all",
        content_type="text/plain",
        HTTP_X_TROIKA_INBOUND_TOKEN=secret,
    )

    assert anonymous.status_code == 401 and wrong.status_code == 401
    assert created.status_code == 201 and created.json()["created"] is True
    assert repeated.status_code == 200 and repeated.json()["duplicate"] is True
    assert empty.status_code == 400 and garbage.status_code == 400
    assert garbage.json()["errors"][0]["field"] == "from"
    ticket = Ticket.objects.get(pk=created.json()["ticket"])
    assert ticket.contact == contact and ticket.channel == "email"


def test_inbound_tokens_are_admin_only_and_shown_once(api_client, company, admin, agent):
    client = api_client(admin)

    created = client.post("/api/v1/crm/ticket-inbound-tokens/", {"name": "mailgw"}, format="json")
    listed = client.get("/api/v1/crm/ticket-inbound-tokens/").json()["results"]
    revoked = client.delete(f"/api/v1/crm/ticket-inbound-tokens/{created.json()['id']}/")

    assert created.status_code == 201 and created.json()["token"].startswith("tin_")
    assert "token" not in listed[0] and "token_hash" not in listed[0]
    assert revoked.status_code == 204
    assert services.inbound_token_company(created.json()["token"]) is None
    assert api_client(agent).get("/api/v1/crm/ticket-inbound-tokens/").status_code == 403


def test_sla_policies_and_categories_are_configured_by_admins(api_client, company, admin, agent):
    admin_client = api_client(admin)

    sla = admin_client.post(
        "/api/v1/crm/sla-policies/",
        {"priority": "urgent", "first_response_minutes": 15, "resolution_minutes": 120},
        format="json",
    )
    bad = admin_client.post(
        "/api/v1/crm/sla-policies/",
        {"priority": "low", "first_response_minutes": 600, "resolution_minutes": 60},
        format="json",
    )
    category = admin_client.post("/api/v1/crm/ticket-categories/", {"name": "质量投诉"}, format="json")
    denied = api_client(agent).post("/api/v1/crm/ticket-categories/", {"name": "x"}, format="json")

    assert sla.status_code == 201 and sla.json()["first_response_minutes"] == 15
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "resolution_minutes"
    assert category.status_code == 201
    assert denied.status_code == 403


def test_report_by_category_and_agent(api_client, company, admin, agent):
    category = services.ticket_category_create(company=company, by=None, name="安装")
    services.sla_policy_set(
        company=company, by=None, priority="normal", first_response_minutes=60, resolution_minutes=600
    )
    answered = ticket_for(company, category=category, assigned_agent=agent.user)
    services.ticket_reply(ticket=answered, by=agent.user, body="ok")
    survey = services.ticket_resolve(ticket=answered, by=agent.user).survey
    services.csat_submit(token=survey.token, score=4)
    ticket_for(company, category=category)
    ticket_for(company)

    by_category = api_client(admin).get("/api/v1/crm/tickets/report/", {"group_by": "category"}).json()
    by_agent = api_client(admin).get("/api/v1/crm/tickets/report/", {"group_by": "agent"}).json()

    install, uncategorised, total = by_category
    assert (install["label"], install["volume"], install["resolved"]) == ("安装", 2, 1)
    assert (install["first_response_met"], install["first_response_due"]) == (1, 1)
    assert install["first_response_attainment"] == "100.0"
    assert (install["csat_count"], install["csat_average"]) == (1, "4.00")
    assert uncategorised["key"] is None and uncategorised["volume"] == 1
    assert total["volume"] == 3 and total["csat_average"] == "4.00"
    assert {row["label"] for row in by_agent[:-1]} == {"kefu", ""}


def _count(client, url, params=None):
    clear_throttles()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, {"page_size": 100, **(params or {})})
    assert response.status_code == 200, response.content
    return len(queries), response.json()


@pytest.mark.parametrize(
    "path", ["tickets/", "tickets/report/", "ticket-categories/", "sla-policies/", "ticket-inbound-tokens/", "thread"]
)
def test_ticket_lists_have_fixed_query_counts(path, api_client, company, admin, agent, django_assert_max_num_queries):
    client = api_client(admin)
    category = services.ticket_category_create(company=company, by=None, name="类别0")
    first = None

    def grow(n, start):
        nonlocal first
        for i in range(start, start + n):
            ticket = ticket_for(company, category=category, assigned_agent=agent.user)
            first = first or ticket
            services.ticket_reply(ticket=ticket, by=agent.user, body=f"回复{i}")
            services.ticket_note(ticket=first, by=agent.user, body=f"备注{i}")
            services.ticket_resolve(ticket=ticket, by=agent.user)
            services.ticket_category_create(company=company, by=None, name=f"类别{i + 1}")
            services.inbound_token_issue(company=company, by=None, name=f"t{i}")
            if i < 4:
                services.sla_policy_set(
                    company=company,
                    by=None,
                    priority=["low", "normal", "high", "urgent"][i],
                    first_response_minutes=10,
                    resolution_minutes=20,
                )

    url = f"/api/v1/crm/{path}" if path != "thread" else None
    grow(2, 0)
    few, _ = _count(client, url or f"/api/v1/crm/tickets/{first.pk}/messages/")
    grow(6, 2)
    with django_assert_max_num_queries(MAX_QUERIES):
        many, _body = _count(client, url or f"/api/v1/crm/tickets/{first.pk}/messages/")
    assert many == few
    assert Ticket.objects.filter(company=company, status=TicketStatus.RESOLVED).count() == 8


def test_ticket_menu_and_search_for_crm_companies(company, agent):
    from suite.policy import Actor
    from suite.ui import search

    company.enabled_modules = [Module.CRM]
    company.save()
    ticket = ticket_for(company, subject="冷库温度异常")

    groups = search.search(Actor(agent), f"#{ticket.number}")

    assert any(r.title == f"#{ticket.number} 冷库温度异常" for g in groups for r in g.results)
