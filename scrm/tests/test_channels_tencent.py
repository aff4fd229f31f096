"""WeChat Official Account webhooks, and sending through WeChat OA / WeCom against a local fake of their APIs
(access tokens, expired tokens, frequency limits, errcodes)."""

from __future__ import annotations

import json
import secrets
import time

import pytest
from django.core.cache import cache
from werkzeug import Response

from scrm.channels import SendError, connector_for
from scrm.channels.base import RateLimited
from scrm.channels.wechat_oa import signature
from scrm.channels.wecom import WeComCrypto
from scrm.models import Delivery
from scrm.tests.factories import WECOM_CREDENTIALS, make_channel

pytestmark = pytest.mark.django_db

OA_APP_ID = "wx0123456789abcdef"


def oa_channel(company, **config):
    return make_channel(
        company,
        "wechat_oa",
        credentials={
            "token": "oa-token",
            "app_secret": "oa-secret",
            "encoding_aes_key": WECOM_CREDENTIALS["encoding_aes_key"],
        },
        config={"app_id": OA_APP_ID, **config},
    )


def oa_query(timestamp=None, token="oa-token", nonce=None, **extra) -> str:
    """The signed query of a push: a fresh nonce per request, as WeChat sends them, unless ``nonce`` is given."""
    timestamp = str(timestamp or int(time.time()))
    nonce = nonce or str(secrets.randbelow(10**10))
    params = {"signature": signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce, **extra}
    return "&".join(f"{k}={v}" for k, v in params.items())


TEXT = (
    "<xml><ToUserName><![CDATA[gh_123]]></ToUserName><FromUserName><![CDATA[oOpenId1]]></FromUserName>"
    "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[怎么退货]]></Content>"
    "<MsgId>23456789</MsgId></xml>"
)


def test_wechat_oa_plain_and_safe_mode_and_refusals(client, company):
    channel = oa_channel(company)
    url = f"/api/v1/scrm/channels/{channel.pk}/webhook/"
    check = client.get(f"{url}?{oa_query(echostr='hello123')}")
    assert (check.status_code, check.content) == (200, b"hello123")

    for _ in range(2):
        assert client.post(f"{url}?{oa_query()}", data=TEXT.encode(), content_type="text/xml").status_code == 200
    crypto = WeComCrypto(token="oa-token", encoding_aes_key=WECOM_CREDENTIALS["encoding_aes_key"], receive_id=OA_APP_ID)
    encrypted = crypto.encrypt(TEXT.replace("23456789", "23456790"))
    timestamp = str(int(time.time()))
    msg_signature = crypto.sign(timestamp, "77", encrypted)
    safe = client.post(
        f"{url}?{oa_query(timestamp, nonce='77')}&encrypt_type=aes&msg_signature={msg_signature}",
        data=f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode(),
        content_type="text/xml",
    )
    assert safe.status_code == 200
    assert sorted(Delivery.objects.filter(channel=channel).values_list("external_id", flat=True)) == [
        "msg:23456789",
        "msg:23456790",
    ]
    bad = client.post(f"{url}?{oa_query(token='wrong')}", data=TEXT.encode(), content_type="text/xml")
    assert (bad.status_code, bad.json()["errors"][0]["code"]) == (401, "bad_signature")
    stale = client.post(f"{url}?{oa_query(int(time.time()) - 400)}", data=TEXT.encode(), content_type="text/xml")
    assert (stale.status_code, stale.json()["errors"][0]["code"]) == (401, "stale_timestamp")
    assert Delivery.objects.filter(channel=channel).count() == 2


def test_wechat_oa_replayed_nonce_is_refused_and_stores_nothing(client, company):
    """The plain mode signs (token, timestamp, nonce) only, not the body: a captured query replayed with another
    body would pass the signature. The nonce was used: refused, nothing stored."""
    channel = oa_channel(company)
    url = f"/api/v1/scrm/channels/{channel.pk}/webhook/"
    query = oa_query(nonce="4242")
    assert client.post(f"{url}?{query}", data=TEXT.encode(), content_type="text/xml").status_code == 200
    forged = TEXT.replace("23456789", "99999999").replace("怎么退货", "点击领取红包 http://evil.example")
    for body in (TEXT, forged):
        replay = client.post(f"{url}?{query}", data=body.encode(), content_type="text/xml")
        assert (replay.status_code, replay.json()["errors"][0]["code"]) == (401, "replayed")
    assert list(Delivery.objects.filter(channel=channel).values_list("external_id", flat=True)) == ["msg:23456789"]
    # A fresh push (a new nonce) with the same message is accepted and deduped on its MsgId.
    assert client.post(f"{url}?{oa_query()}", data=TEXT.encode(), content_type="text/xml").status_code == 200
    assert Delivery.objects.filter(channel=channel).count() == 1


class FakeTencent:
    """Token endpoints and the two send APIs, with errcodes as the platforms document them."""

    def __init__(self):
        self.issued = 0
        self.valid = set()
        self.sent = []
        self.next_error = None

    def token(self, request):
        self.issued += 1
        token = f"ACCESS_{self.issued}"
        self.valid.add(token)
        return Response(json.dumps({"errcode": 0, "access_token": token, "expires_in": 7200}))

    def send(self, request):
        token = request.args.get("access_token")
        if token not in self.valid:
            return Response(json.dumps({"errcode": 42001, "errmsg": "access_token expired"}))
        if self.next_error:
            code, self.next_error = self.next_error, None
            return Response(json.dumps({"errcode": code, "errmsg": "api freq out of limit"}))
        self.sent.append(json.loads(request.get_data()))
        return Response(json.dumps({"errcode": 0, "errmsg": "ok", "fail_list": [], "msgid": f"msg{len(self.sent)}"}))


@pytest.fixture
def tencent(settings, httpserver):
    settings.TROIKA_OUTBOUND_ALLOW = [f"{httpserver.host}:{httpserver.port}"]
    fake = FakeTencent()
    for path in ("/cgi-bin/token", "/cgi-bin/gettoken"):
        httpserver.expect_request(path).respond_with_handler(fake.token)
    for path in ("/cgi-bin/message/custom/send", "/cgi-bin/externalcontact/add_msg_template"):
        httpserver.expect_request(path, method="POST").respond_with_handler(fake.send)
    fake.base = httpserver.url_for("/").rstrip("/")
    return fake


def test_wecom_send_caches_the_token_and_refreshes_it_when_expired(company, tencent):
    channel = make_channel(
        company, "wecom", config={"corp_id": "wwcorp", "sender": "zhangsan", "api_base": tencent.base}
    )
    connector = connector_for(channel)
    cache.delete(connector.api().cache_key)
    assert connector.send("wmExternal1", "您好，我是您的专属顾问") == "msg1"
    assert connector.send("wmExternal1", "second") == "msg2"
    assert tencent.issued == 1  # cached
    assert tencent.sent[0] == {
        "chat_type": "single",
        "external_userid": ["wmExternal1"],
        "sender": "zhangsan",
        "text": {"content": "您好，我是您的专属顾问"},
    }
    tencent.valid.clear()  # the platform expired the token early
    assert connector.send("wmExternal1", "third") == "msg3"
    assert tencent.issued == 2
    tencent.next_error = 45009
    with pytest.raises(RateLimited):
        connector.send("wmExternal1", "fourth")


def test_wechat_oa_send_and_errors(company, tencent):
    channel = oa_channel(company, api_base=tencent.base)
    connector = connector_for(channel)
    cache.delete(connector.api().cache_key)
    connector.send("oOpenId1", "已为您办理退货")
    assert tencent.sent == [{"touser": "oOpenId1", "msgtype": "text", "text": {"content": "已为您办理退货"}}]
    tencent.next_error = 48001
    with pytest.raises(SendError):
        connector.send("oOpenId1", "x")
    no_sender = make_channel(company, "wecom", config={"corp_id": "c", "api_base": tencent.base})
    with pytest.raises(SendError):
        connector_for(no_sender).send("wm", "x")
