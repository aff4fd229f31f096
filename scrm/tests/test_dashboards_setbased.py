"""``Conversation.first_inbound_at`` (issue #7 speed: the social dashboard reads conversations, not messages): the
inbox batch keeps it at the earliest inbound message — also when messages of one conversation arrive out of
order, in one batch or in several — and the dashboard's conversations are the ones the former subquery over the
messages found."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from scrm import selectors_dashboards as selectors
from scrm.models import Conversation, Message
from scrm.services.inbox import InboxBatch, inbound_event_apply
from scrm.tests.factories import make_channel
from suite.models import Role
from suite.policy import Actor

pytestmark = pytest.mark.django_db


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=timezone.get_current_timezone())


def _event(n: int, sender: str, sent_at: dt.datetime) -> dict:
    return {
        "external_id": f"fi-{n}",
        "sender_id": sender,
        "kind": "message",
        "text": "在吗",
        "sent_at": sent_at.isoformat(),
    }


def _first_inbound_by_subquery():
    """The former computation: the earliest inbound message of each conversation."""
    first = (
        Message.objects.filter(conversation=OuterRef("pk"), direction=Message.Direction.IN)
        .order_by("sent_at")
        .values("sent_at")[:1]
    )
    return dict(Conversation.objects.annotate(first=Subquery(first)).values_list("pk", "first"))


def test_the_inbox_batch_keeps_the_earliest_inbound_message(company, member):
    channel = make_channel(company, "simulator")
    with transaction.atomic():  # one batch, out of order
        batch = InboxBatch(channel=channel)
        inbound_event_apply(channel=channel, event=_event(1, "fan-a", at(5)), batch=batch)
        inbound_event_apply(channel=channel, event=_event(2, "fan-a", at(3)), batch=batch)
        inbound_event_apply(channel=channel, event=_event(3, "fan-b", at(4)), batch=batch)
        batch.finish()
    # later batches: one later message (no change), one earlier (moves it back)
    inbound_event_apply(channel=channel, event=_event(4, "fan-a", at(9)))
    inbound_event_apply(channel=channel, event=_event(5, "fan-b", at(2)))
    stored = dict(Conversation.objects.values_list("identity__external_id", "first_inbound_at"))
    assert stored == {"fan-a": at(3), "fan-b": at(2)}
    assert dict(Conversation.objects.values_list("pk", "first_inbound_at")) == _first_inbound_by_subquery()

    admin = Actor(member(company, Role.ADMIN, username="fi-admin"))
    march = selectors.conversations_started(admin, date_from=dt.date(2026, 3, 3), date_to=dt.date(2026, 3, 31))
    assert sorted(c.started_at for c in march) == [at(3)]  # fan-b started on the 2nd, before the period
    rows = selectors.response_times(
        admin, group_by="channel", date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31)
    )
    assert rows[-1].conversations == 2


def _trend_by_date_trunc(actor, *, date_from, date_to, granularity):
    """The former query: grouped by ``date_trunc`` of ``posted_at`` in the site's time zone."""
    from django.db.models import Count, Q
    from django.db.models.functions import TruncMonth, TruncWeek

    from scrm.models import UgcPost
    from suite import policy

    start, end = selectors.day_bounds(date_from, date_to)
    trunc = TruncMonth if granularity == "month" else TruncWeek
    rows = (
        policy.scope(actor, UgcPost.objects.all())
        .filter(posted_at__gte=start, posted_at__lt=end)
        .annotate(period=trunc("posted_at"))
        .order_by()
        .values("period")
        .annotate(
            positive=Count("id", filter=Q(sentiment="positive")),
            neutral=Count("id", filter=Q(sentiment="neutral")),
            negative=Count("id", filter=Q(sentiment="negative")),
        )
        .order_by("period")
    )
    return [(timezone.localtime(r["period"]).date(), r["positive"], r["neutral"], r["negative"]) for r in rows]


def test_sentiment_trend_equals_the_date_trunc_grouping(company, other_company, member):
    import random
    from decimal import Decimal

    from scrm.models import UgcPost

    rng = random.Random(5)
    channel = make_channel(company, "webhook")
    base = dt.datetime(2025, 12, 28, 0, 0, tzinfo=timezone.get_current_timezone())
    for n in range(300):
        # around midnight and week / month edges on purpose
        posted = base + dt.timedelta(
            days=rng.randint(0, 70), hours=rng.choice([0, 0, 23, 12]), minutes=rng.choice([0, 59])
        )
        UgcPost.objects.create(
            company=company if n % 7 else other_company,
            kind="review",
            channel=channel if n % 3 else None,
            text="帖子",
            sentiment=rng.choice(["positive", "neutral", "negative"]),
            sentiment_score=Decimal("0"),
            posted_at=posted,
        )
    admin = Actor(member(company, Role.ADMIN, username="trend-admin"))
    for date_from, date_to in (
        (dt.date(2025, 12, 31), dt.date(2026, 3, 1)),
        (dt.date(2026, 1, 5), dt.date(2026, 1, 31)),
    ):
        for granularity in ("week", "month"):
            period = {"date_from": date_from, "date_to": date_to, "granularity": granularity}
            new = [(b.period, b.positive, b.neutral, b.negative) for b in selectors.sentiment_trend(admin, **period)]
            assert new == _trend_by_date_trunc(admin, **period)
            assert sum(b[1] + b[2] + b[3] for b in new) > 0


# the small known data set of the social dashboard's tests (scrm/tests/test_dashboards.py)
from scrm.tests import test_dashboards as social_tests  # noqa: E402

world = social_tests.world


@pytest.mark.parametrize("who", ["admin", "manager"])
def test_response_times_in_one_query_equal_the_grouped_queries(world, who, django_assert_num_queries):
    actor = world[who]
    now = timezone.now()
    seen = 0
    for period in (social_tests.MARCH, {"date_from": dt.date(2026, 1, 1), "date_to": dt.date(2026, 12, 31)}):
        for scope in ({}, {"team_id": world["team"].pk}, {"owner_id": world["agents"][1].pk}):
            expected = (
                selectors.response_times(actor, group_by="channel", now=now, **period, **scope),
                selectors.response_times(actor, group_by="agent", now=now, **period, **scope),
            )
            with django_assert_num_queries(1):
                both = selectors.response_times_both(actor, now=now, **period, **scope)
            assert both == expected
            seen += expected[0][-1].conversations
    assert seen >= 4
