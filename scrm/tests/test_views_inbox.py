"""The inbox pages: list and conversation with their polled partials, replies, scope, the menu entry."""

from __future__ import annotations

import pytest
from django.test import Client

from scrm.models import Message
from scrm.tests.factories import make_channel, make_conversation, make_message
from suite.models import Role
from suite.policy import Actor
from suite.ui import menu

pytestmark = pytest.mark.django_db


@pytest.fixture
def login():
    def make(membership) -> Client:
        client = Client()
        client.force_login(membership.user)
        return client

    return make


def test_inbox_lists_visible_conversations_and_the_partial_shows_new_ones(company, member, login):
    agent = member(company, Role.SERVICE)
    company.enabled_modules = ["scrm"]
    company.save(update_fields=["enabled_modules"])
    conversation = make_conversation(company, assigned_to=agent.user)
    client = login(agent)
    page = client.get("/scrm/inbox/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-conversation="{conversation.pk}"' in html
    assert 'hx-trigger="every 2s"' in html
    assert "<script>" not in html.replace('<script src="', "")  # no inline script (CSP)
    newer = make_conversation(company, assigned_to=agent.user)
    rows = client.get("/scrm/inbox/rows/", headers={"HX-Request": "true"}).content.decode()
    assert f'data-conversation="{newer.pk}"' in rows and "<html" not in rows
    scrm_links = next(section.links for section in menu.menu_for(Actor(agent)) if section.key == "scrm")
    assert [link.url for link in scrm_links if link.url == "/scrm/inbox/"] == ["/scrm/inbox/"]
    finance = next(s.links for s in menu.menu_for(Actor(member(company, Role.FINANCE))) if s.key == "scrm")
    assert "/scrm/inbox/" not in [link.url for link in finance]


def test_conversation_page_polls_messages_and_reply_is_recorded(company, member, login):
    agent = member(company, Role.SERVICE)
    channel = make_channel(company, "simulator")
    conversation = make_conversation(company, channel=channel, assigned_to=agent.user)
    make_message(company, conversation=conversation, text="请问还有货吗")
    client = login(agent)
    assert "请问还有货吗" in client.get(f"/scrm/inbox/{conversation.pk}/").content.decode()
    make_message(company, conversation=conversation, text="在吗？")
    partial = client.get(f"/scrm/inbox/{conversation.pk}/messages/", headers={"HX-Request": "true"})
    assert "在吗？" in partial.content.decode()

    reply = client.post(
        f"/scrm/inbox/{conversation.pk}/reply/", {"text": "有的，今天下单明天发货"}, headers={"HX-Request": "true"}
    )
    assert reply.status_code == 200
    assert "有的，今天下单明天发货" in reply.content.decode()
    assert Message.objects.filter(direction="out", author=agent.user, text="有的，今天下单明天发货").exists()

    note = client.post(
        f"/scrm/inbox/{conversation.pk}/reply/", {"text": "客户很着急", "as": "note"}, headers={"HX-Request": "true"}
    )
    assert 'class="message kind-note"' in note.content.decode()
    assert Message.objects.get(kind="note").text == "客户很着急"

    empty = client.post(f"/scrm/inbox/{conversation.pk}/reply/", {"text": "  "}, headers={"HX-Request": "true"})
    assert 'aria-invalid="true"' in empty.content.decode()
    assert Message.objects.filter(direction="out", kind="message").count() == 1


def test_sales_cannot_open_someone_elses_conversation_and_anonymous_is_sent_to_login(company, member, login):
    conversation = make_conversation(company)
    sales = login(member(company, Role.SALES))
    assert sales.get(f"/scrm/inbox/{conversation.pk}/").status_code == 404
    assert sales.post(f"/scrm/inbox/{conversation.pk}/reply/", {"text": "x"}).status_code == 404
    assert login(member(company, Role.FINANCE)).get("/scrm/inbox/").status_code == 403
    assert Client().get("/scrm/inbox/").status_code == 302
