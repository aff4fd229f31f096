"""SCRM's high-volume events handled a relay batch at a time by the CRM (issue #4 ingestion): tickets for
negative UGC and unionid links, set-based, with the rules of the per-item services — numbering, SLA, owner,
audit, exactly once across redeliveries and failures."""

from __future__ import annotations

import pytest
from django.utils import timezone

from crm.models import Account, Contact, Ticket
from crm.services.social_batches import contacts_link_unionids, tickets_for_negative_ugc
from crm.services.tickets import sla_policy_set
from crm.tests.factories import AccountFactory, ContactFactory, ticket_for
from scrm.tests.factories import make_identity
from scrm.tests.factories_campaigns import make_ugc
from suite.events import publish
from suite.models import HandlerRun, OutboxEvent, Role
from tests.loop_support import redeliver, relay_all

pytestmark = pytest.mark.django_db

NEGATIVE = ["面霜发霉了，差评，要退款", "Terrible, the bottle leaked and nobody answers", "快递太慢，包装破损，差评"]


def _negative_posts(company, identity=None, count=3):
    return [make_ugc(company, text=f"{NEGATIVE[i % 3]} #{i}", identity=identity) for i in range(count)]


def test_a_relay_batch_of_negative_posts_opens_one_numbered_ticket_each(company, other_company, member):
    owner = member(company, Role.SALES)
    contact = ContactFactory(company=company, name="陈静", owner=owner.user)
    sla_policy_set(company=company, by=None, priority="high", first_response_minutes=30, resolution_minutes=240)
    earlier = ticket_for(company)  # numbering continues after the tickets opened by hand
    identity = make_identity(company, crm_contact_id=contact.pk, crm_account_id=contact.account_id)
    posts = _negative_posts(company, identity) + _negative_posts(other_company, count=2)

    relay_all()

    tickets = list(Ticket.objects.filter(company=company, channel="social").order_by("number"))
    assert [t.number for t in tickets] == [earlier.number + 1, earlier.number + 2, earlier.number + 3]
    assert {t.source_message_id for t in tickets} == {f"scrm-ugc:{p.pk}" for p in posts[:3]}
    for ticket in tickets:
        assert (ticket.contact, ticket.account_id, ticket.owner, ticket.priority) == (
            contact,
            contact.account_id,
            owner.user,
            "high",
        )
        assert ticket.sla_policy.priority == "high"
        assert (ticket.resolution_due_at - ticket.first_response_due_at).total_seconds() == 210 * 60
        assert ticket.assigned_agent_id is None
    other = Ticket.objects.filter(company=other_company).order_by("number")
    assert [(t.number, t.contact_id, t.sla_policy_id) for t in other] == [(1, None, None), (2, None, None)]
    # one batch call per company, recorded per event; the audit trigger saw the bulk insert
    runs = HandlerRun.objects.filter(handler="crm.ticket_for_negative_ugc")
    assert runs.count() == 5 and set(runs.values_list("status", flat=True)) == {"done"}
    from pghistory.models import Events

    assert Events.objects.tracks(tickets[0]).filter(pgh_label="insert").count() == 1

    redeliver("scrm.ugc.negative")  # a crash after commit, a duplicated task: still one ticket per post
    assert Ticket.objects.filter(channel="social").count() == 5


def test_the_same_post_twice_in_one_batch_is_one_ticket(company):
    post = make_ugc(company, text=NEGATIVE[0])
    payload = OutboxEvent.objects.get(name="scrm.ugc.negative").payload
    assert len(tickets_for_negative_ugc(company_id=company.pk, items=[payload, payload])) == 1
    assert tickets_for_negative_ugc(company_id=company.pk, items=[payload]) == []
    assert Ticket.objects.get(company=company).source_message_id == f"scrm-ugc:{post.pk}"


def test_a_bad_event_in_the_batch_is_retried_alone_and_the_others_get_their_ticket(company, member):
    owner = member(company, Role.SALES)
    account = AccountFactory(company=company, by=owner.user)
    survivor = AccountFactory(company=company, by=owner.user, name="存续公司")
    contact = ContactFactory(company=company, account=account, owner=owner.user)
    good = _negative_posts(company, count=2)
    bad = make_ugc(company, text=NEGATIVE[2], identity=make_identity(company, crm_contact_id=contact.pk))
    # the contact's account is merged away after the event was published: ticket_open refuses such a customer
    Account.objects.filter(pk=account.pk).update(merged_into=survivor, merged_at=timezone.now())

    relay_all()

    assert set(Ticket.objects.filter(company=company).values_list("source_message_id", flat=True)) == {
        f"scrm-ugc:{p.pk}" for p in good
    }
    failed = OutboxEvent.objects.get(name="scrm.ugc.negative", payload__ugc_id=bad.pk)
    assert failed.state in ("pending", "dead") and failed.attempts == 1
    assert HandlerRun.objects.get(event_id=failed.pk, handler="crm.ticket_for_negative_ugc").status != "done"


def test_unionid_links_are_set_based_with_the_rules_of_contact_update(company, other_company):
    blank = ContactFactory(company=company, name="张三")
    has_one = ContactFactory(company=company, name="李四", unionid="o6_keep")
    wanted_elsewhere = ContactFactory(company=company, name="王五")
    ContactFactory(company=company, name="赵六", unionid="o6_taken")
    twice_a = ContactFactory(company=company, name="钱七")
    twice_b = ContactFactory(company=company, name="孙八")
    foreign = ContactFactory(company=other_company, name="周九")

    linked = contacts_link_unionids(
        company_id=company.pk,
        links=[
            (blank.pk, "o6_new"),
            (has_one.pk, "o6_other"),
            (wanted_elsewhere.pk, "o6_taken"),
            (twice_a.pk, "o6_twice"),
            (twice_b.pk, "o6_twice"),
            (foreign.pk, "o6_foreign"),
        ],
    )

    assert linked == 2
    got = dict(Contact.objects.filter(company__in=[company, other_company]).values_list("pk", "unionid"))
    assert got[blank.pk] == "o6_new" and got[has_one.pk] == "o6_keep" and got[wanted_elsewhere.pk] == ""
    assert (got[twice_a.pk], got[twice_b.pk], got[foreign.pk]) == ("o6_twice", "", "")
    assert contacts_link_unionids(company_id=company.pk, links=[(blank.pk, "o6_new")]) == 0


def test_resolved_identities_link_unionids_through_the_relay_in_one_batch(company, django_assert_max_num_queries):
    contacts = [ContactFactory(company=company, name=f"客户{i}") for i in range(20)]
    for i, contact in enumerate(contacts):
        publish(
            "scrm.identity.resolved",
            {"identity_id": i, "crm_contact_id": contact.pk, "unionid": f"o6_batch_{i}"},
            company_id=company.pk,
        )
    relay_all()
    assert set(Contact.objects.filter(company=company).values_list("unionid", flat=True)) == {
        f"o6_batch_{i}" for i in range(20)
    }
    # redelivered: nothing changes, and the batch costs a fixed number of queries (not one or two per event)
    OutboxEvent.objects.filter(name="scrm.identity.resolved").update(state="pending")
    with django_assert_max_num_queries(20):
        relay_all()
    assert Contact.objects.filter(company=company, unionid__startswith="o6_batch_").count() == 20
