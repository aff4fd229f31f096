"""The inbox and the UGC wall read a page's ids first, then its rows (``scrm.views.paging``): the same rows in the
same order as slicing the list itself, on every page, with a count that follows writes and queries that do not
grow with the rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from scrm import selectors
from scrm.models import Conversation
from scrm.tests.factories import make_channel, make_conversation, make_identity
from scrm.tests.factories_campaigns import make_ugc
from suite.models import Role
from suite.policy import Actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def scrm_company(company):
    company.enabled_modules = ["scrm"]
    company.save(update_fields=["enabled_modules"])
    return company


def _client(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def test_ugc_wall_pages_list_the_posts_in_the_lists_order_with_a_count_that_follows_writes(
    scrm_company, member, django_assert_max_num_queries
):
    marketing = member(scrm_company, Role.MARKETING)
    client = _client(marketing)
    now = timezone.now()
    for n in range(30):  # pairs posted at the same second: the id breaks the tie, newest first
        make_ugc(
            scrm_company,
            text=f"好评 {n}",
            identity=make_identity(scrm_company),
            posted_at=now - timedelta(minutes=n // 2),
        )
    expected = list(selectors.ugc_visible_to(Actor(marketing)).values_list("pk", flat=True))
    assert len(expected) == 30

    client.get("/scrm/ugc/", {"sentiment": "negative"})  # warms the session, not the count of the whole wall
    with django_assert_max_num_queries(12), CaptureQueriesContext(connection) as first:
        one = client.get("/scrm/ugc/")
    queries = len(first)  # now: the next request empties the connection's query log
    two = client.get("/scrm/ugc/", {"page": "2"})
    beyond = client.get("/scrm/ugc/", {"page": "9999"})  # out of range: the last page, as before

    assert [post.pk for post in one.context["page"].object_list] == expected[:25]
    assert [post.pk for post in two.context["page"].object_list] == expected[25:]
    assert [post.pk for post in beyond.context["page"].object_list] == expected[25:]
    assert one.context["page"].paginator.count == 30
    assert one.content.decode().count('class="card ugc-card') == 25

    for n in range(10):
        make_ugc(scrm_company, text=f"更多 {n}", identity=make_identity(scrm_company))
    with django_assert_max_num_queries(queries):
        again = client.get("/scrm/ugc/")
    assert again.context["page"].paginator.count == 40  # the remembered count follows the new posts

    assert client.get("/scrm/ugc/", {"featured": "1"}).context["page"].paginator.count == 0
    client.post(f"/scrm/ugc/{expected[3]}/action/", {"action": "feature"})
    featured = client.get("/scrm/ugc/", {"featured": "1"})
    assert featured.context["page"].paginator.count == 1
    assert [post.pk for post in featured.context["page"].object_list] == [expected[3]]


def test_inbox_pages_list_the_conversations_in_the_lists_order(scrm_company, member, django_assert_max_num_queries):
    agent = member(scrm_company, Role.SERVICE)
    client = _client(agent)
    channel = make_channel(scrm_company)
    now = timezone.now()
    for n in range(30):
        conversation = make_conversation(scrm_company, channel=channel, assigned_to=agent.user)
        Conversation.objects.filter(pk=conversation.pk).update(last_message_at=now - timedelta(minutes=n // 2))
    expected = list(selectors.conversations_visible_to(Actor(agent), status="open").values_list("pk", flat=True))
    assert len(expected) == 30

    client.get("/scrm/inbox/")
    with django_assert_max_num_queries(12), CaptureQueriesContext(connection) as first:
        one = client.get("/scrm/inbox/")
    queries = len(first)  # now: the next request empties the connection's query log
    two = client.get("/scrm/inbox/rows/", {"page": "2"}, headers={"HX-Request": "true"})

    assert [c.pk for c in one.context["page"].object_list] == expected[:25]
    assert [c.pk for c in two.context["page"].object_list] == expected[25:]
    assert one.context["page"].paginator.count == 30
    html = one.content.decode()
    assert all(f'data-conversation="{pk}"' in html for pk in expected[:25])
    for _ in range(10):
        make_conversation(scrm_company, channel=channel, assigned_to=agent.user)
    with django_assert_max_num_queries(queries):
        again = client.get("/scrm/inbox/")
    assert again.context["page"].paginator.count == 40
