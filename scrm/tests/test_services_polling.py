"""Polling from a stored cursor: the simulator, and a Weibo-shaped poller against a local fake Weibo API
(its comments shape, error codes, rate limits and expired tokens)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
from django.utils import timezone
from werkzeug import Response

from scrm.models import ChannelCursor, Delivery, Message
from scrm.services.inbox import deliveries_process
from scrm.services.polling import channel_poll, channels_due_for_poll, poll_fetch_and_store
from scrm.tests.factories import make_channel

pytestmark = pytest.mark.django_db


def test_simulator_crash_before_cursor_save_loses_and_doubles_nothing(company):
    channel = make_channel(company, "simulator", config={"batch": 10})
    # A poll that stored its items and then died before advancing the cursor.
    fetched, stored, next_cursor = poll_fetch_and_store(channel=channel, cursor="")
    assert (fetched, stored, next_cursor) == (10, 10, "10")
    assert not ChannelCursor.objects.filter(channel=channel).exists()

    again = channel_poll(channel_id=channel.pk)  # the restarted worker polls from the stored (old) cursor
    assert (again.fetched, again.stored, again.cursor) == (10, 0, "10")
    after = channel_poll(channel_id=channel.pk)
    assert (after.fetched, after.stored, after.cursor) == (10, 10, "20")

    ids = list(Delivery.objects.filter(channel=channel).values_list("external_id", flat=True))
    assert sorted(ids, key=lambda x: int(x.split("-")[1])) == [f"sim-{n}" for n in range(1, 21)]
    deliveries_process(channel_id=channel.pk)
    assert Message.objects.filter(channel=channel).count() == 20
    texts = list(Message.objects.values_list("text", flat=True))
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in texts)  # Chinese
    assert any(t.isascii() for t in texts)  # and English


# ---------------------------------------------------------------- Weibo


class FakeWeibo:
    """Just enough of api.weibo.com: /2/comments/to_me.json (since_id, page, count, newest first) and
    /oauth2/access_token (refresh_token grant)."""

    def __init__(self, comments: int):
        self.comments = [
            {
                "id": 4000 + n,
                "idstr": str(4000 + n),
                "created_at": "Wed Jun 01 00:50:25 +0800 2026",
                "text": f"第{n}条评论 comment {n}",
                "user": {"id": 17000 + n % 3, "idstr": str(17000 + n % 3), "screen_name": f"微博用户{n % 3}"},
            }
            for n in range(1, comments + 1)
        ]
        self.token = "tok-1"
        self.rate_limited = 0
        self.calls = []

    def comments_to_me(self, request):
        args = request.args
        self.calls.append(dict(args))
        if self.rate_limited:
            self.rate_limited -= 1
            body = {"error": "User requests out of rate limit!", "error_code": 10023, "request": request.path}
            return Response(json.dumps(body), status=403, content_type="application/json")
        if args.get("access_token") != self.token:
            body = {"error": "expired_token", "error_code": 21327, "request": request.path}
            return Response(json.dumps(body), status=400, content_type="application/json")
        since_id, page, count = int(args.get("since_id", 0)), int(args.get("page", 1)), int(args.get("count", 50))
        newer = sorted((c for c in self.comments if c["id"] > since_id), key=lambda c: -c["id"])
        chunk = newer[(page - 1) * count : page * count]
        body = {"comments": chunk, "total_number": len(newer), "previous_cursor": 0, "next_cursor": 0}
        return Response(json.dumps(body, ensure_ascii=False), content_type="application/json")

    def access_token(self, request):
        form = parse_qs(request.get_data(as_text=True))
        if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != ["ref-1"]:
            return Response(json.dumps({"error": "invalid_grant", "error_code": 21325}), status=400)
        self.token = "tok-2"
        return Response(json.dumps({"access_token": "tok-2", "expires_in": 157679999, "refresh_token": "ref-2"}))


@pytest.fixture
def weibo(settings, httpserver):
    settings.TROIKA_OUTBOUND_ALLOW = [f"{httpserver.host}:{httpserver.port}"]
    fake = FakeWeibo(comments=120)
    httpserver.expect_request("/2/comments/to_me.json").respond_with_handler(fake.comments_to_me)
    httpserver.expect_request("/oauth2/access_token", method="POST").respond_with_handler(fake.access_token)
    fake.base = httpserver.url_for("/").rstrip("/")
    return fake


def test_weibo_pages_past_one_page_and_resumes_from_the_cursor(company, weibo):
    channel = make_channel(company, "weibo", config={"api_base": weibo.base})
    first = channel_poll(channel_id=channel.pk)
    assert (first.fetched, first.stored, first.cursor) == (120, 120, "4120")  # 3 pages of 50, no gap
    weibo.comments.append({**weibo.comments[0], "id": 4121, "idstr": "4121", "text": "新评论"})
    second = channel_poll(channel_id=channel.pk)
    assert (second.fetched, second.stored, second.cursor) == (1, 1, "4121")
    assert weibo.calls[-1]["since_id"] == "4120"
    deliveries_process(channel_id=channel.pk)
    message = Message.objects.get(external_id="comment:4121")
    assert (message.kind, message.text, message.conversation.identity.display_name) == (
        "comment",
        "新评论",
        "微博用户1",
    )


def test_weibo_expired_token_is_refreshed_and_saved(company, weibo):
    channel = make_channel(
        company,
        "weibo",
        config={"api_base": weibo.base},
        credentials={"access_token": "old", "refresh_token": "ref-1", "app_key": "k", "app_secret": "s"},
    )
    result = channel_poll(channel_id=channel.pk)
    assert result.stored == 120
    channel.refresh_from_db()
    assert channel.credentials["access_token"] == "tok-2"
    assert channel.credentials["refresh_token"] == "ref-2"


def test_weibo_rate_limit_backs_off_and_keeps_the_cursor(company, weibo):
    channel = make_channel(company, "weibo", config={"api_base": weibo.base})
    weibo.rate_limited = 1
    limited = channel_poll(channel_id=channel.pk)
    assert limited.skipped == "backoff"
    cursor = ChannelCursor.objects.get(channel=channel)
    assert cursor.cursor == "" and cursor.failures == 1
    assert cursor.backoff_until >= timezone.now() + timezone.timedelta(seconds=29)
    assert "rate limited" in cursor.last_error
    assert channel.pk not in channels_due_for_poll()
    calls = len(weibo.calls)
    assert channel_poll(channel_id=channel.pk).skipped == "backoff"  # still waiting: no call to the platform
    assert len(weibo.calls) == calls
    ChannelCursor.objects.filter(channel=channel).update(backoff_until=timezone.now())
    assert channel_poll(channel_id=channel.pk).stored == 120
    cursor.refresh_from_db()
    assert (cursor.failures, cursor.backoff_until, cursor.cursor) == (0, None, "4120")
