"""The SCRM REST API: channels (credentials write-only), the inbox, replies, roles, query counts."""

from __future__ import annotations

import pytest

from scrm.models import Channel, Message
from scrm.tests.factories import make_channel, make_conversation, make_message
from suite.models import Role

pytestmark = pytest.mark.django_db


def test_admin_creates_a_channel_and_credentials_never_come_back(company, member, api_client):
    admin = member(company, Role.ADMIN)
    client = api_client(admin)
    response = client.post(
        "/api/v1/scrm/channels/",
        {"kind": "webhook", "name": "官网留言", "credentials": {"secret": "s3cr3t"}, "config": {"batch": 5}},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert "credentials" not in body and "s3cr3t" not in response.content.decode()
    assert body["has_credentials"] is True
    assert body["webhook_url"] == f"/api/v1/scrm/channels/{body['id']}/webhook/"
    assert Channel.objects.get(pk=body["id"]).credentials == {"secret": "s3cr3t"}
    listed = client.get("/api/v1/scrm/channels/").content.decode()
    assert "s3cr3t" not in listed and "credentials_encrypted" not in listed

    patched = client.patch(f"/api/v1/scrm/channels/{body['id']}/", {"credentials": {"secret": "new"}}, format="json")
    assert patched.status_code == 200
    assert Channel.objects.get(pk=body["id"]).credentials == {"secret": "new"}


def test_channel_input_errors_are_field_errors(company, member, api_client):
    client = api_client(member(company, Role.ADMIN))
    make_channel(company, "webhook")
    response = client.post("/api/v1/scrm/channels/", {"kind": "myspace", "name": ""}, format="json")
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"kind", "name"}
    ssrf = client.post(
        "/api/v1/scrm/channels/",
        {"kind": "webhook", "name": "内网", "config": {"outbound_url": "http://169.254.169.254/latest/"}},
        format="json",
    )
    assert ssrf.status_code == 400
    assert ssrf.json()["errors"][0]["field"] == "config"
    taken = Channel.objects.first().name
    duplicate = client.post("/api/v1/scrm/channels/", {"kind": "webhook", "name": taken}, format="json")
    assert duplicate.status_code == 400
    assert duplicate.json()["errors"][0]["field"] == "name"


def test_roles_on_channels(company, member, api_client):
    make_channel(company, "webhook")
    assert api_client(member(company, Role.SERVICE)).get("/api/v1/scrm/channels/").json()["count"] == 1
    service_post = api_client(member(company, Role.SERVICE)).post(
        "/api/v1/scrm/channels/", {"kind": "webhook", "name": "x"}, format="json"
    )
    assert service_post.status_code == 403
    assert api_client(member(company, Role.SALES)).get("/api/v1/scrm/channels/").status_code == 403


def test_sales_sees_only_conversations_assigned_to_them(company, member, api_client):
    sales = member(company, Role.SALES)
    other = member(company, Role.SALES)
    mine = make_conversation(company, assigned_to=sales.user)
    make_conversation(company, assigned_to=other.user)
    make_message(company, conversation=mine, text="我的客户")
    client = api_client(sales)
    listed = client.get("/api/v1/scrm/conversations/").json()
    assert [c["id"] for c in listed["results"]] == [mine.pk]
    messages = client.get("/api/v1/scrm/messages/").json()["results"]
    assert [m["text"] for m in messages] == ["我的客户"]
    service = api_client(member(company, Role.SERVICE))
    assert service.get("/api/v1/scrm/conversations/").json()["count"] == 2


def test_reply_through_the_api_and_its_permissions(company, member, api_client):
    agent = member(company, Role.SERVICE)
    channel = make_channel(company, "simulator")  # no outbound_url: the simulator records the send locally
    conversation = make_conversation(company, channel=channel)
    response = api_client(agent).post(
        f"/api/v1/scrm/conversations/{conversation.pk}/reply/", {"text": "您好！"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["direction"] == "out"
    assert Message.objects.get(direction="out").author == agent.user
    empty = api_client(agent).post(f"/api/v1/scrm/conversations/{conversation.pk}/reply/", {"text": ""}, format="json")
    assert empty.status_code == 400 and empty.json()["errors"][0]["field"] == "text"
    finance = api_client(member(company, Role.FINANCE))
    assert finance.post(f"/api/v1/scrm/conversations/{conversation.pk}/reply/", {"text": "x"}).status_code == 403
    sales = api_client(member(company, Role.SALES))
    assert sales.post(f"/api/v1/scrm/conversations/{conversation.pk}/reply/", {"text": "x"}).status_code == 404


def test_assign(company, member, api_client):
    manager_client = api_client(member(company, Role.SERVICE))
    sales = member(company, Role.SALES)
    conversation = make_conversation(company)
    response = manager_client.post(
        f"/api/v1/scrm/conversations/{conversation.pk}/assign/", {"assigned_to": sales.user.pk}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["assigned_to"]["id"] == sales.user.pk
    sales_client = api_client(sales)
    assert sales_client.get(f"/api/v1/scrm/conversations/{conversation.pk}/").status_code == 200
    assert (
        sales_client.post(
            f"/api/v1/scrm/conversations/{conversation.pk}/assign/", {"assigned_to": None}, format="json"
        ).status_code
        == 403
    )


def test_messages_are_cursor_paginated(company, member, api_client):
    conversation = make_conversation(company)
    for n in range(7):
        make_message(company, conversation=conversation, text=f"m{n}")
    client = api_client(member(company, Role.SERVICE))
    first = client.get(f"/api/v1/scrm/messages/?conversation={conversation.pk}&page_size=5").json()
    assert [m["text"] for m in first["results"]] == ["m6", "m5", "m4", "m3", "m2"]
    assert "count" not in first
    second = client.get(first["next"]).json()
    assert [m["text"] for m in second["results"]] == ["m1", "m0"]


@pytest.mark.parametrize(
    "path",
    ["/api/v1/scrm/conversations/", "/api/v1/scrm/messages/", "/api/v1/scrm/identities/", "/api/v1/scrm/channels/"],
)
def test_list_query_counts_do_not_grow(company, member, api_client, django_assert_max_num_queries, path):
    client = api_client(member(company, Role.ADMIN))
    channel = make_channel(company, "webhook", default_assignee=None)
    for _ in range(3):
        make_message(company, conversation=make_conversation(company, channel=channel))
    client.get(path)  # warm caches (membership, session)
    with django_assert_max_num_queries(8) as few:
        assert client.get(path).status_code == 200
    for _ in range(15):
        make_message(company, conversation=make_conversation(company, channel=make_channel(company, "webhook")))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(path).status_code == 200


def test_internal_note_is_recorded_but_not_sent_and_not_a_response(company, member, api_client, settings, httpserver):
    settings.TROIKA_OUTBOUND_ALLOW = [f"{httpserver.host}:{httpserver.port}"]
    channel = make_channel(company, "webhook", config={"outbound_url": httpserver.url_for("/out")})
    conversation = make_conversation(company, channel=channel)
    client = api_client(member(company, Role.MARKETING))
    response = client.post(
        f"/api/v1/scrm/conversations/{conversation.pk}/note/", {"text": "VIP，优先处理"}, format="json"
    )
    assert response.status_code == 201
    assert (response.json()["kind"], response.json()["text"]) == ("note", "VIP，优先处理")
    assert httpserver.log == []  # nothing went to the platform
    conversation.refresh_from_db()
    assert conversation.first_response_at is None
    finance = api_client(member(company, Role.FINANCE))
    assert finance.post(f"/api/v1/scrm/conversations/{conversation.pk}/note/", {"text": "x"}).status_code == 403
