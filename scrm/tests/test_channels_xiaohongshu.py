"""The Xiaohongshu connector with its real HTTP client against a local fake of the open platform: signed
requests, token expiry → refresh (before the call, and after the platform says expired), rate limit →
backoff, cursor resume without gaps or duplicates, and comments landing in the inbox."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from werkzeug import Response

from scrm.channels import connector_for
from scrm.channels.xiaohongshu import API_PATH, XiaohongshuApiError, sign
from scrm.models import ChannelCursor, Delivery, Message
from scrm.services.inbox import deliveries_process
from scrm.services.polling import channel_poll
from scrm.tests.factories import make_channel

pytestmark = pytest.mark.django_db

APP_ID, APP_SECRET = "xhs-app-1", "xhs-secret"


class FakeXiaohongshu:
    """``common_controller`` for ``oauth.refreshToken`` and ``note.comment.list``, checking every signature."""

    def __init__(self, comments: int = 7):
        self.comments = [self.comment(n) for n in range(1, comments + 1)]
        self.valid_tokens = {"tok-1"}
        self.refresh_tokens = {"ref-1"}
        self.issued = 1
        self.calls: list[dict] = []
        self.rate_limited = 0
        self.expire_next = False

    @staticmethod
    def comment(n: int) -> dict:
        return {
            "commentId": f"c{n:04d}",
            "noteId": "note-88",
            "noteTitle": "秋冬护肤心得",
            "content": f"第{n}条评论：这个面霜适合干皮吗？",
            "createTime": 1732700000000 + n * 1000,
            "user": {"userId": f"xhs-user-{n % 3}", "nickname": f"小红薯{n % 3}"},
        }

    def answer(self, body: dict, code: int = 0, data: dict | None = None, status: int = 200, **headers) -> Response:
        payload = {"success": code == 0, "code": code, "msg": "" if code == 0 else "error", "data": data}
        return Response(json.dumps(payload, ensure_ascii=False), status=status, headers=headers)

    def __call__(self, request):
        body = json.loads(request.get_data())
        self.calls.append(body)
        expected = hashlib.md5(  # noqa: S324  the platform's signature
            f"{body['method']}?appId={body['appId']}&timestamp={body['timestamp']}&version={body['version']}{APP_SECRET}".encode()
        ).hexdigest()
        if body.get("appId") != APP_ID or body.get("sign") != expected:
            return self.answer(body, code=1001)
        if abs(int(body["timestamp"]) - time.time()) > 300:
            return self.answer(body, code=1004)
        if body["method"] == "oauth.refreshToken":
            if body.get("refreshToken") not in self.refresh_tokens:
                return self.answer(body, code=1005)
            self.issued += 1
            token, refresh = f"tok-{self.issued}", f"ref-{self.issued}"
            self.valid_tokens = {token}
            self.refresh_tokens = {refresh}
            expires = int((time.time() + 7200) * 1000)
            data = {"accessToken": token, "accessTokenExpiresAt": expires, "refreshToken": refresh}
            return self.answer(body, data=data)
        if self.rate_limited:
            self.rate_limited -= 1
            return self.answer(body, code=3001, status=200, **{"Retry-After": "120"})
        if self.expire_next:
            self.expire_next = False
            self.valid_tokens = set()
        if body.get("accessToken") not in self.valid_tokens:
            return self.answer(body, code=1003)
        after = int(body.get("cursor") or 0)
        size = int(body["pageSize"])
        page = [c for i, c in enumerate(self.comments, start=1) if i > after][:size]
        next_cursor = str(after + len(page))
        has_more = after + len(page) < len(self.comments)
        return self.answer(body, data={"comments": page, "nextCursor": next_cursor, "hasMore": has_more})


@pytest.fixture
def fake(settings, httpserver):
    settings.TROIKA_OUTBOUND_ALLOW = [f"{httpserver.host}:{httpserver.port}"]
    fake = FakeXiaohongshu()
    httpserver.expect_request(API_PATH, method="POST").respond_with_handler(fake)
    fake.base = httpserver.url_for("/").rstrip("/")
    return fake


def xhs_channel(company, fake, *, expires_at=None, **config):
    return make_channel(
        company,
        "xiaohongshu",
        credentials={
            "app_id": APP_ID,
            "app_secret": APP_SECRET,
            "access_token": "tok-1",
            "access_token_expires_at": str(expires_at or int((time.time() + 3600) * 1000)),
            "refresh_token": "ref-1",
        },
        config={"api_base": fake.base, "page_size": 3, **config},
    )


def test_signature_is_the_documented_md5():
    assert (
        sign("note.comment.list", "app", "1732700000", "secret")
        == hashlib.md5(b"note.comment.list?appId=app&timestamp=1732700000&version=2.0secret").hexdigest()  # noqa: S324
    )


def test_cursor_resume_has_no_gaps_or_duplicates_and_comments_reach_the_inbox(company, fake):
    channel = xhs_channel(company, fake, max_pages=2)
    first = channel_poll(channel_id=channel.pk)
    assert (first.fetched, first.stored, first.cursor) == (6, 6, "6")
    fake.comments += [fake.comment(n) for n in (8, 9)]
    second = channel_poll(channel_id=channel.pk)
    assert (second.fetched, second.stored, second.cursor) == (3, 3, "9")
    # a worker that died after storing but before moving the cursor re-reads the page: dropped by the dedupe
    ChannelCursor.objects.filter(channel=channel).update(cursor="6")
    again = channel_poll(channel_id=channel.pk)
    assert (again.fetched, again.stored, again.cursor) == (3, 0, "9")
    ids = sorted(Delivery.objects.filter(channel=channel).values_list("external_id", flat=True))
    assert ids == [f"comment:c{n:04d}" for n in range(1, 10)]
    assert all(call["appId"] == APP_ID and call["version"] == "2.0" for call in fake.calls)

    while deliveries_process(channel_id=channel.pk).deliveries:
        pass
    messages = Message.objects.filter(channel=channel)
    assert messages.count() == 9
    assert set(messages.values_list("kind", flat=True)) == {"comment"}
    assert messages.filter(conversation__identity__display_name="小红薯1").count() == 3


def test_expired_token_is_refreshed_and_the_call_retried(company, fake):
    channel = xhs_channel(company, fake)
    fake.expire_next = True  # the platform revoked the token before its expiry
    result = channel_poll(channel_id=channel.pk)
    assert (result.fetched, result.skipped) == (7, "")
    channel.refresh_from_db()
    assert channel.credentials["access_token"] == "tok-2"
    assert channel.credentials["refresh_token"] == "ref-2"  # the rotated refresh token is kept


def test_token_about_to_expire_is_refreshed_before_the_call(company, fake):
    channel = xhs_channel(company, fake, expires_at=int((time.time() + 30) * 1000))
    connector = connector_for(channel)
    events, cursor = connector.poll("")
    assert (len(events), cursor) == (7, "7")
    assert [c["method"] for c in fake.calls[:2]] == ["oauth.refreshToken", "note.comment.list"]
    assert connector.credentials_changed and connector.credentials["access_token"] == "tok-2"


def test_rate_limit_backs_off_and_resumes(company, fake):
    channel = xhs_channel(company, fake)
    fake.rate_limited = 1
    limited = channel_poll(channel_id=channel.pk)
    assert limited.skipped == "backoff"
    cursor = ChannelCursor.objects.get(channel=channel)
    assert cursor.failures == 1 and cursor.backoff_until is not None
    assert cursor.backoff_until > timezone.now() + timedelta(seconds=100)  # the platform's Retry-After: 120
    assert channel_poll(channel_id=channel.pk).skipped == "backoff"  # still waiting: nothing asked
    calls = len(fake.calls)
    assert calls == 1
    ChannelCursor.objects.filter(channel=channel).update(backoff_until=None)
    resumed = channel_poll(channel_id=channel.pk)
    assert (resumed.fetched, resumed.stored) == (7, 7)
    assert Delivery.objects.filter(channel=channel).count() == 7


def test_bad_secret_is_an_error_not_a_crash(company, fake):
    channel = xhs_channel(company, fake)
    channel_bad = make_channel(
        company,
        "xiaohongshu",
        credentials={**channel.credentials, "app_secret": "wrong"},
        config={"api_base": fake.base},
    )
    with pytest.raises(XiaohongshuApiError):
        connector_for(channel_bad).poll("")
    result = channel_poll(channel_id=channel_bad.pk)
    assert result.skipped == "error"
    assert not Delivery.objects.filter(channel=channel_bad).exists()
