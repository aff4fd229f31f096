"""A negative post captured by SCRM opens a CRM service ticket through ``scrm.ugc.negative`` (cross-app)."""

from __future__ import annotations

import pytest

from crm.events import ticket_for_negative_ugc
from crm.models import Ticket
from crm.tests.factories import ContactFactory
from scrm.tests.factories import make_channel, make_identity
from scrm.tests.factories_campaigns import make_ugc
from suite.events.registry import Event, subscribers
from suite.models import OutboxEvent, Role

pytestmark = pytest.mark.django_db


def _event(outbox: OutboxEvent) -> Event:
    return Event(
        id=outbox.pk,
        uuid=outbox.uuid,
        name=outbox.name,
        version=outbox.version,
        payload=outbox.payload,
        company_id=outbox.company_id,
        correlation_id=outbox.correlation_id,
        created_at=outbox.created_at,
    )


def test_negative_ugc_opens_one_ticket_for_the_matched_contact(company, member):
    owner = member(company, Role.SALES)
    contact = ContactFactory(company=company, name="陈静", owner=owner.user)
    identity = make_identity(company, crm_contact_id=contact.pk, crm_account_id=contact.account_id)
    post = make_ugc(company, text="面霜发霉了，差评，要退款", identity=identity, url="https://weibo.com/1/2")
    event = _event(OutboxEvent.objects.get(name="scrm.ugc.negative"))
    assert "crm.ticket_for_negative_ugc" in {h.name for h in subscribers("scrm.ugc.negative")}

    ticket_for_negative_ugc(event)
    ticket_for_negative_ugc(event)  # redelivered: still one ticket

    ticket = Ticket.objects.get(company=company)
    assert (ticket.contact, ticket.channel, ticket.priority) == (contact, "social", "high")
    assert ticket.source_message_id == f"scrm-ugc:{post.pk}"
    assert "发霉" in ticket.subject and "https://weibo.com/1/2" in ticket.description
    assert ticket.owner == owner.user


def test_anonymous_negative_ugc_still_opens_a_ticket(company):
    make_ugc(company, text="Terrible, the bottle leaked and customer service was rude", author_name="Jane")
    ticket_for_negative_ugc(_event(OutboxEvent.objects.get(name="scrm.ugc.negative")))
    ticket = Ticket.objects.get(company=company)
    assert (ticket.contact, ticket.requester_name) == (None, "Jane")
    assert "Terrible" in ticket.subject and "review" not in ticket.subject  # no channel: not the kind's code


def test_the_ticket_names_the_channel_as_the_company_named_it(company):
    channel = make_channel(company, "weibo", name="品牌官方微博")
    make_ugc(company, text="瓶盖漏液，差评，要退货", channel=channel, external_id="wb-1", author_name="小李")
    ticket_for_negative_ugc(_event(OutboxEvent.objects.get(name="scrm.ugc.negative")))

    subject = Ticket.objects.get(company=company).subject
    assert "品牌官方微博" in subject and "瓶盖漏液" in subject and "weibo" not in subject


def test_customer_360_shows_the_customers_ugc_in_one_query(company, member, django_assert_num_queries):
    from scrm.selectors import customer_ugc
    from suite.policy import Actor

    owner = member(company, Role.SALES)
    contact = ContactFactory(company=company, name="王芳", owner=owner.user)
    mine = make_identity(company, crm_contact_id=contact.pk, resolution="auto")
    suggested = make_identity(company, crm_contact_id=contact.pk, resolution="suggested")
    post = make_ugc(company, text="买家秀：很好看", identity=mine, kind="buyer_show")
    make_ugc(company, text="不是她的", identity=suggested)
    with django_assert_num_queries(1):
        items = customer_ugc(Actor(owner), crm_contact_id=contact.pk)
    assert [(i.kind, i.id, i.text) for i in items] == [("ugc", post.pk, "买家秀：很好看")]
