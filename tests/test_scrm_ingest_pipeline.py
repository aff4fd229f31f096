"""The set-based inbox pipeline (scrmingest): a batch of many new senders costs a constant number of statements,
intake dedupes in one statement, and a worker killed with ``kill -9`` in the middle of the drain loses nothing
and duplicates nothing."""

from __future__ import annotations

import json
import threading
import time
import zlib

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from crm.tests.factories import ContactFactory
from scrm import tasks
from scrm.channels.base import InboundEvent
from scrm.models import Conversation, Delivery, Message, Resolution, SocialIdentity
from scrm.models.channels import DELIVERY_LANES, delivery_lane
from scrm.services.channels import DRAIN_LANES, deliveries_process_flag_clear, deliveries_record
from scrm.services.inbox import InboxBatch, deliveries_process
from scrm.tests.factories import make_channel
from suite.models import Notification, OutboxEvent, Role
from suite.services.notifications import COUNT, notifications_coalesce, notifications_send_each
from suite.testing import make_member


def _events(count: int, senders: int, *, prefix: str = "e") -> list[InboundEvent]:
    return [
        InboundEvent(
            external_id=f"{prefix}-{n}",
            sender_id=f"fan-{n % senders}",
            sender_name=f"粉丝{n % senders}",
            unionid="u-match" if n % senders == 0 else "",
            text="直播间的优惠券怎么领不到？" if n % 2 else "Do you ship to Hong Kong?",
        )
        for n in range(count)
    ]


@pytest.mark.django_db
def test_a_batch_of_many_new_senders_costs_a_constant_number_of_statements(company):
    agent = make_member(company, Role.SERVICE)
    contact = ContactFactory(company=company, name="王小明", unionid="u-match", owner=agent.user)
    channel = make_channel(company, "webhook", default_assignee=agent.user)
    events = _events(400, 200)
    assert deliveries_record(channel=channel, events=events) == 400
    assert deliveries_record(channel=channel, events=events[:50]) == 0  # a platform's retry: stored once
    with CaptureQueriesContext(connection) as queries:
        result = deliveries_process(channel_id=channel.pk)
    assert (result.deliveries, result.messages) == (400, 400)
    assert len(queries) < 40, [q["sql"][:80] for q in queries.captured_queries]  # not per sender, not per item
    assert SocialIdentity.objects.filter(company=company).count() == 200
    assert Conversation.objects.filter(channel=channel, assigned_to=agent.user).count() == 200
    assert Message.objects.filter(channel=channel).count() == 400
    assert Notification.objects.filter(recipient=agent.user).count() == 200  # one per conversation per batch
    matched = SocialIdentity.objects.get(external_id="fan-0")
    assert (matched.crm_contact_id, matched.resolution) == (contact.pk, Resolution.AUTO)
    assert OutboxEvent.objects.filter(name="scrm.identity.resolved").count() == 1
    assert not Delivery.objects.filter(channel=channel, processed_at__isnull=True).exists()

    # The same senders again: nothing new is created, the conversations' times move forward.
    deliveries_record(channel=channel, events=_events(100, 200, prefix="f"))
    before = Conversation.objects.get(identity=matched).last_inbound_at
    with translation.override("en"), CaptureQueriesContext(connection) as again:
        deliveries_process(channel_id=channel.pk)
    statements = [" ".join(q["sql"].split()) for q in again.captured_queries]
    # 14 statements for a batch of known senders (+ the test's savepoint and its release): the conversations are
    # locked by their UPDATE alone (no SELECT … FOR UPDATE: lanes keep other batches off them), read without
    # their timestamps, and the deliveries marked in one statement with one array parameter.
    assert len(statements) == 16, statements
    assert not [sql for sql in statements if "FOR UPDATE" in sql and "scrm_conversation" in sql]
    (read,) = [sql for sql in statements if sql.startswith('SELECT "scrm_conversation"')]
    assert "last_message_at" not in read.split(" FROM ")[0]
    (marked,) = [sql for sql in statements if sql.startswith("UPDATE scrm_delivery")]
    assert "= ANY(" in marked
    assert SocialIdentity.objects.filter(company=company).count() == 200
    assert Conversation.objects.filter(channel=channel).count() == 200
    assert Conversation.objects.get(identity=matched).last_inbound_at >= before
    # The agent's unread alerts are updated in place: still one per conversation, counting every message.
    alerts = Notification.objects.filter(recipient=agent.user)
    assert alerts.count() == 200
    assert sum(alerts.values_list("count", flat=True)) == 500
    busy = alerts.get(link=f"/scrm/inbox/{Conversation.objects.get(identity=matched).pk}/")
    assert (busy.count, busy.title) == (3, "3 new messages from 粉丝0")


@pytest.mark.django_db
def test_an_unread_alert_is_updated_in_place_and_a_read_one_is_not(company):
    agent = make_member(company, Role.SERVICE)
    channel = make_channel(company, "webhook", default_assignee=agent.user)
    deliveries_record(channel=channel, events=_events(1, 1, prefix="a"))
    with translation.override("en"):
        deliveries_process(channel_id=channel.pk)
    first = Notification.objects.get(recipient=agent.user)
    assert (first.count, first.title, first.key) == (1, "New message from 粉丝0", first.key)
    assert first.key.startswith("scrm.conversation:")

    deliveries_record(channel=channel, events=_events(2, 1, prefix="b"))
    with CaptureQueriesContext(connection) as queries, translation.override("en"):
        deliveries_process(channel_id=channel.pk)
    again = Notification.objects.get(recipient=agent.user)  # the same row, not a second one
    assert (again.pk, again.count, again.title) == (first.pk, 3, "3 new messages from 粉丝0")
    assert again.body == "直播间的优惠券怎么领不到？"  # the latest message
    assert again.created_at > first.created_at  # the bell lists it first again
    assert sum("suite_notification" in q["sql"] for q in queries.captured_queries) == 1  # the UPDATE only

    Notification.objects.filter(pk=first.pk).update(read_at=timezone.now())  # the agent read it
    deliveries_record(channel=channel, events=_events(1, 1, prefix="c"))
    with translation.override("en"):
        deliveries_process(channel_id=channel.pk)
    fresh = Notification.objects.get(recipient=agent.user, read_at__isnull=True)
    assert fresh.pk != first.pk and (fresh.count, fresh.title) == (1, "New message from 粉丝0")


@pytest.mark.django_db
def test_notifications_coalesce_merges_items_and_refuses_strangers(company, other_company):
    member = make_member(company, Role.SERVICE)
    stranger = make_member(other_company, Role.SERVICE)
    item = {
        "recipient_id": member.user_id,
        "key": "k:1",
        "title": "One",
        "title_many": f"{COUNT} new",
        "link": "/scrm/inbox/1/",
    }
    assert notifications_coalesce(company=company, items=[item, {**item, "count": 2}]) == 1
    assert Notification.objects.get().title == "3 new"
    with pytest.raises(ValidationError):
        notifications_coalesce(
            company=company, items=[{**item, "key": "k:2"}, {**item, "recipient_id": stranger.user_id}]
        )
    assert notifications_coalesce(company=company, items=[item]) == 1
    assert [(n.count, n.title) for n in Notification.objects.all()] == [(4, "4 new")]
    assert notifications_coalesce(company=company, items=[{**item, "key": ""}, {**item, "key": ""}]) == 2
    assert Notification.objects.count() == 3


def _notification_lookups_inside_a_scan(plan: dict) -> bool:
    """Whether the plan has a nested loop that scans suite_notification on its outer side and reads it again on
    its inner side: the inner lookups then run once per notification row (rows × items)."""

    def relations(node: dict) -> set[str]:
        found = {node.get("Relation Name")}
        for child in node.get("Plans", []):
            found |= relations(child)
        return found

    if plan.get("Node Type") == "Nested Loop":
        outer, inner = plan["Plans"][0], plan["Plans"][1]
        if outer.get("Relation Name") == "suite_notification" and "suite_notification" in relations(inner):
            return True
    return any(_notification_lookups_inside_a_scan(child) for child in plan.get("Plans", []))


@pytest.mark.django_db
def test_the_coalescing_update_stays_linear_when_the_statistics_say_the_table_is_empty(company):
    """A fresh install's first burst: ``suite_notification`` has rows but was never analyzed. The planner must
    not put a scan of the notifications outside the per-item lookups (an UPDATE seen running 18 minutes)."""
    member = make_member(company, Role.SERVICE)
    items = [
        {"recipient_id": member.user_id, "key": f"k:{n}", "title": "One", "title_many": f"{COUNT} new", "link": "/"}
        for n in range(300)
    ]
    notifications_coalesce(company=company, items=items)
    with connection.cursor() as cursor:  # statistics of a table never analyzed (rolled back with the test)
        cursor.execute("DELETE FROM pg_statistic WHERE starelid = 'suite_notification'::regclass")
        cursor.execute("UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = 'suite_notification'::regclass")
    with CaptureQueriesContext(connection) as queries:
        assert notifications_coalesce(company=company, items=items) == 300
    (update,) = [q["sql"] for q in queries.captured_queries if "UPDATE suite_notification" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + update)
        plan = cursor.fetchone()[0]
    plan = plan if isinstance(plan, list) else json.loads(plan)
    assert not _notification_lookups_inside_a_scan(plan[0]["Plan"])
    assert set(Notification.objects.values_list("count", flat=True)) == {2}


@pytest.mark.django_db
def test_notifications_send_each_refuses_strangers_and_writes_nothing(company, other_company):
    member = make_member(company, Role.SERVICE)
    stranger = make_member(other_company, Role.SERVICE)
    items = [
        {"recipient_id": member.user_id, "title": "New message from 李娜", "link": "/scrm/inbox/1/"},
        {"recipient_id": stranger.user_id, "title": "New message from 张伟", "link": "/scrm/inbox/2/"},
    ]
    with pytest.raises(ValidationError):
        notifications_send_each(company=company, items=items)
    with pytest.raises(ValidationError):
        notifications_send_each(company=company, items=[{**items[0], "link": "https://evil.example/"}])
    assert not Notification.objects.exists()
    assert notifications_send_each(company=company, items=items[:1]) == 1
    assert Notification.objects.get().link == "/scrm/inbox/1/"


@pytest.mark.worker
@pytest.mark.slow
def test_a_worker_killed_mid_drain_loses_nothing_and_duplicates_nothing(company, celery_worker_factory):
    agent = make_member(company, Role.SERVICE)
    channel = make_channel(company, "webhook", default_assignee=agent.user)
    total = 5000
    for start in range(0, total, 1000):  # as webhooks would: each commit asks for the drain task
        deliveries_record(channel=channel, events=_events(1000, 300, prefix=f"k{start}"))
    worker = celery_worker_factory(concurrency=2).start()  # the factory purged the queue: ask again
    deliveries_process_flag_clear(channel.pk)
    tasks.deliveries_process.delay(channel.pk)
    deadline = time.monotonic() + 180
    while Delivery.objects.filter(channel=channel, processed_at__isnull=False).count() < 500:
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.02)
    worker.kill9()  # in the middle of the drain: a batch of 500 is open in each pool process
    pending = Delivery.objects.filter(channel=channel, processed_at__isnull=True).count()

    deliveries_process_flag_clear(channel.pk)
    worker = celery_worker_factory(concurrency=2).start()
    deadline = time.monotonic() + 240
    while Delivery.objects.filter(channel=channel, processed_at__isnull=True).exists():
        # What beat's sweep (scrm.channels_poll_due) queues every few seconds: a first task may find rows still
        # locked by the killed worker's sessions (SKIP LOCKED) until PostgreSQL has ended them.
        tasks.deliveries_process.delay(channel.pk)
        assert time.monotonic() < deadline, worker.log()
        time.sleep(3)
    assert Message.objects.filter(channel=channel).count() == total
    assert Message.objects.filter(channel=channel).values("external_id").distinct().count() == total
    assert Conversation.objects.filter(channel=channel).count() == 300
    assert SocialIdentity.objects.filter(company=company).count() == 300
    print(f"\n{pending} of {total} deliveries were pending when the worker was killed")


@pytest.mark.django_db
def test_intake_puts_each_sender_in_a_stable_lane(company):
    channel = make_channel(company, "webhook")
    with CaptureQueriesContext(connection) as queries:
        assert deliveries_record(channel=channel, events=_events(200, 40)) == 200
    assert len(queries) == 1  # one INSERT … ON CONFLICT DO NOTHING RETURNING, rows built without model instances
    lanes = {}
    for payload, lane in Delivery.objects.filter(channel=channel).values_list("payload", "lane"):
        assert lane == delivery_lane(payload["sender_id"])
        assert lanes.setdefault(payload["sender_id"], lane) == lane
    assert set(lanes.values()) == set(range(DELIVERY_LANES))  # 40 senders spread over every lane
    assert delivery_lane("fan-1") == delivery_lane("fan-1") == zlib.crc32(b"fan-1") % DELIVERY_LANES


@pytest.mark.django_db(transaction=True)
def test_two_batches_in_parallel_take_disjoint_lanes_and_end_as_a_serial_drain(company, monkeypatch):
    """A batch that holds its lanes (paused after its work, before its commit) does not stop a second batch:
    that one takes the other lanes, touches none of the first's senders or conversations and commits; a third
    finds every free lane empty. The end state is that of a serial drain: every message once, in each
    sender's order, one alert per conversation counting its messages."""
    agent = make_member(company, Role.SERVICE)
    channel = make_channel(company, "webhook", default_assignee=agent.user)
    total, senders = 600, 300  # ~75 per lane: a batch of 4 lanes stays under PROCESS_BATCH
    deliveries_record(channel=channel, events=_events(total, senders, prefix="p"))
    touched: dict[str, tuple[set, set]] = {}
    paused, release = threading.Event(), threading.Event()
    real_finish = InboxBatch.finish

    def finish(self):
        name = threading.current_thread().name
        conversations, identities = touched.setdefault(name, (set(), set()))
        conversations.update(self.last_message)
        identities.update(identity.pk for identity in self.identities.values())
        real_finish(self)
        if name == "first":
            paused.set()
            release.wait(60)

    monkeypatch.setattr(InboxBatch, "finish", finish)
    results, errors = {}, []

    def run(lanes):
        try:
            results[threading.current_thread().name] = deliveries_process(channel_id=channel.pk, lanes=lanes)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=run, args=(DRAIN_LANES,), name="first")
    first.start()
    assert paused.wait(60)
    for name, lanes in (("second", None), ("third", None)):
        thread = threading.Thread(target=run, args=(lanes,), name=name)
        thread.start()
        thread.join(60)
        assert not thread.is_alive(), f"the {name} batch waited for the first one's locks"
    release.set()
    first.join(60)
    assert errors == []
    first_result, second, third = results["first"], results["second"], results["third"]
    assert first_result.lanes_left == DELIVERY_LANES - DRAIN_LANES  # the second one's, pending when it claimed
    assert second.lanes_left == DRAIN_LANES  # the first one's, still uncommitted
    assert (third.deliveries, third.lanes_left) == (0, DRAIN_LANES)
    assert first_result.deliveries and second.deliveries
    assert touched["first"][0].isdisjoint(touched["second"][0])
    assert touched["first"][1].isdisjoint(touched["second"][1])

    while deliveries_process(channel_id=channel.pk).deliveries:  # what is left, serially
        pass
    assert not Delivery.objects.filter(channel=channel, processed_at__isnull=True).exists()
    messages = list(Message.objects.filter(channel=channel).order_by("id").values("conversation_id", "external_id"))
    assert len(messages) == total and len({m["external_id"] for m in messages}) == total
    order = {f"p-{n}": n for n in range(total)}
    by_conversation: dict[int, list[int]] = {}
    for message in messages:
        by_conversation.setdefault(message["conversation_id"], []).append(order[message["external_id"]])
    assert len(by_conversation) == senders
    assert all(numbers == sorted(numbers) for numbers in by_conversation.values())  # each sender's order kept
    alerts = Notification.objects.filter(recipient=agent.user)
    assert alerts.count() == senders
    assert {int(a.link.split("/")[-2]): a.count for a in alerts} == {
        pk: len(numbers) for pk, numbers in by_conversation.items()
    }
    assert SocialIdentity.objects.filter(company=company).count() == senders


@pytest.mark.django_db
def test_the_drain_task_asks_for_another_task_when_it_left_lanes(company, monkeypatch):
    from scrm.services import channels as channel_services

    agent = make_member(company, Role.SERVICE)
    channel = make_channel(company, "webhook", default_assignee=agent.user)
    deliveries_record(channel=channel, events=_events(80, 40, prefix="t"))
    asked = []
    monkeypatch.setattr(channel_services, "deliveries_process_request", lambda pk, **kw: asked.append((pk, kw)))
    first = tasks.deliveries_process(channel.pk)
    assert 0 < first < 80  # half the lanes: the other half is another worker process's
    assert asked == [(channel.pk, {})]  # after the drain delay, for the lanes left
    assert tasks.deliveries_process(channel.pk) == 80 - first
    assert asked == [(channel.pk, {})]  # nothing left: no further task
    assert Message.objects.filter(channel=channel).count() == 80
