"""The webhook endpoint through Django's test client: each connector's pass and fail cases."""

from __future__ import annotations

import hashlib
import json
import secrets
import time

import pytest

from scrm.channels.webhook import sign
from scrm.channels.wecom import WeComCrypto
from scrm.models import Delivery
from scrm.tests.factories import WECOM_CORP_ID, WECOM_CREDENTIALS, make_channel

pytestmark = pytest.mark.django_db


def url(channel) -> str:
    return f"/api/v1/scrm/channels/{channel.pk}/webhook/"


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response.json()["errors"][0]["code"] == code


# ---------------------------------------------------------------- generic signed webhook


def signed_post(client, channel, payload: dict, *, secret="whsec-test", timestamp=None, header=None):
    body = json.dumps(payload, ensure_ascii=False).encode()
    return client.post(
        url(channel),
        data=body,
        content_type="application/json",
        headers={"X-Troika-Signature": header or sign(secret, body, timestamp)},
    )


MESSAGE = {"id": "evt-1", "sender": {"id": "u-1", "name": "Emily Chen"}, "kind": "message", "text": "Hi, 有货吗?"}


def test_signed_webhook_is_stored_once_however_often_delivered(client, company):
    channel = make_channel(company, "webhook")
    for _ in range(3):
        response = signed_post(client, channel, MESSAGE)
        assert response.status_code == 200
    deliveries = list(Delivery.objects.filter(channel=channel))
    assert len(deliveries) == 1
    assert deliveries[0].external_id == "evt-1"
    assert deliveries[0].payload["text"] == "Hi, 有货吗?"
    assert deliveries[0].payload["sender_name"] == "Emily Chen"
    assert deliveries[0].company_id == company.pk


def test_signed_webhook_bad_signature_stale_timestamp_and_bad_body(client, company):
    channel = make_channel(company, "webhook")
    assert_error(signed_post(client, channel, MESSAGE, secret="wrong"), 401, "bad_signature")
    assert_error(signed_post(client, channel, MESSAGE, timestamp=int(time.time()) - 301), 401, "stale_timestamp")
    assert_error(signed_post(client, channel, MESSAGE, header="garbage"), 401, "bad_signature")
    assert_error(signed_post(client, channel, {"sender": {"id": "x"}}), 400, "required")
    body = b"{not json"
    response = client.post(
        url(channel),
        data=body,
        content_type="application/json",
        headers={"X-Troika-Signature": sign("whsec-test", body)},
    )
    assert_error(response, 400, "parse_error")
    assert not Delivery.objects.exists()


def test_unknown_or_inactive_channel_is_404(client, company):
    channel = make_channel(company, "webhook", is_active=False)
    assert_error(signed_post(client, channel, MESSAGE), 404, "not_found")
    response = client.post("/api/v1/scrm/channels/999999/webhook/", data=b"{}", content_type="application/json")
    assert_error(response, 404, "not_found")


def test_batch_of_events_in_one_delivery(client, company):
    channel = make_channel(company, "webhook")
    payload = {"events": [{**MESSAGE, "id": f"evt-{n}"} for n in range(5)]}
    assert signed_post(client, channel, payload).status_code == 200
    assert signed_post(client, channel, payload).status_code == 200
    assert Delivery.objects.filter(channel=channel).count() == 5


# ---------------------------------------------------------------- WeCom


@pytest.fixture
def wecom(company):
    return make_channel(company, "wecom")


@pytest.fixture
def crypto():
    return WeComCrypto(
        token=WECOM_CREDENTIALS["token"],
        encoding_aes_key=WECOM_CREDENTIALS["encoding_aes_key"],
        receive_id=WECOM_CORP_ID,
    )


def wecom_post(client, channel, crypto, message_xml: str, *, timestamp=None, signature=None, nonce=None):
    """A push as WeCom sends it: a fresh nonce per request unless ``nonce`` is given (a replay)."""
    timestamp = str(timestamp or int(time.time()))
    nonce = nonce or str(secrets.randbelow(10**10))
    encrypted = crypto.encrypt(message_xml)
    envelope = (
        f"<xml><ToUserName><![CDATA[{WECOM_CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    )
    signature = signature or crypto.sign(timestamp, nonce, encrypted)
    query = f"msg_signature={signature}&timestamp={timestamp}&nonce={nonce}"
    return client.post(f"{url(channel)}?{query}", data=envelope.encode(), content_type="text/xml")


TEXT_XML = (
    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[wmCustomer1]]></FromUserName>"
    "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[请问发货了吗]]></Content>"
    "<MsgId>{msgid}</MsgId><AgentID>1000002</AgentID></xml>"
)
EVENT_XML = (
    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
    "<CreateTime>1700000100</CreateTime><MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[{change}]]></ChangeType>"
    "<UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[wmCustomer1]]></ExternalUserID></xml>"
)


def test_wecom_url_verification_echoes_the_decrypted_echostr(client, wecom, crypto):
    timestamp = str(int(time.time()))
    echostr = crypto.encrypt("1616140317555161061")
    signature = crypto.sign(timestamp, "99", echostr)
    response = client.get(
        url(wecom), {"msg_signature": signature, "timestamp": timestamp, "nonce": "99", "echostr": echostr}
    )
    assert response.status_code == 200
    assert response.content == b"1616140317555161061"
    bad = client.get(url(wecom), {"msg_signature": "0" * 40, "timestamp": timestamp, "nonce": "99", "echostr": echostr})
    assert_error(bad, 401, "bad_signature")


def test_wecom_text_message_deduped_on_msgid(client, wecom, crypto):
    xml = TEXT_XML.format(corp=WECOM_CORP_ID, msgid="4561255354251345929")
    for _ in range(3):  # WeCom retries after 5 s without an answer: the same MsgId three times
        response = wecom_post(client, wecom, crypto, xml)
        assert response.status_code == 200
        assert response.content == b"success"
    delivery = Delivery.objects.get(channel=wecom)
    assert delivery.external_id == "msg:4561255354251345929"
    assert delivery.payload["sender_id"] == "wmCustomer1"
    assert delivery.payload["text"] == "请问发货了吗"


def test_wecom_replayed_nonce_is_refused_and_stores_nothing(client, wecom, crypto):
    timestamp = int(time.time())
    first = TEXT_XML.format(corp=WECOM_CORP_ID, msgid="111")
    assert wecom_post(client, wecom, crypto, first, timestamp=timestamp, nonce="5150").status_code == 200
    # The same (timestamp, nonce) again, with the same message or another one: a replay.
    for xml in (first, TEXT_XML.format(corp=WECOM_CORP_ID, msgid="222")):
        assert_error(wecom_post(client, wecom, crypto, xml, timestamp=timestamp, nonce="5150"), 401, "replayed")
    assert list(Delivery.objects.filter(channel=wecom).values_list("external_id", flat=True)) == ["msg:111"]
    # The same nonce on another channel is another request.
    other = make_channel(wecom.company, "wecom")
    assert wecom_post(client, other, crypto, first, timestamp=timestamp, nonce="5150").status_code == 200


def test_webhook_nonces_are_pruned_after_twice_the_replay_window(wecom):
    from datetime import timedelta

    from django.utils import timezone

    from scrm.channels.base import REPLAY_WINDOW_SECONDS
    from scrm.models import WebhookNonce
    from scrm.services.channels import webhook_nonces_prune

    old = WebhookNonce.objects.create(channel=wecom, value="1:old")
    recent = WebhookNonce.objects.create(channel=wecom, value="2:recent")
    WebhookNonce.objects.filter(pk=old.pk).update(
        seen_at=timezone.now() - timedelta(seconds=2 * REPLAY_WINDOW_SECONDS + 1)
    )
    assert webhook_nonces_prune() == 1
    assert list(WebhookNonce.objects.values_list("pk", flat=True)) == [recent.pk]


def test_wecom_external_contact_events(client, wecom, crypto):
    for change in ("add_external_contact", "del_follow_user", "del_external_contact"):
        assert wecom_post(client, wecom, crypto, EVENT_XML.format(corp=WECOM_CORP_ID, change=change)).status_code == 200
    events = sorted(Delivery.objects.filter(channel=wecom).values_list("payload__event", flat=True))
    assert events == ["add_external_contact", "del_external_contact", "del_follow_user"]


def test_wecom_refusals_store_nothing(client, wecom, crypto):
    xml = TEXT_XML.format(corp=WECOM_CORP_ID, msgid="1")
    assert_error(wecom_post(client, wecom, crypto, xml, signature="0" * 40), 401, "bad_signature")
    assert_error(wecom_post(client, wecom, crypto, xml, timestamp=int(time.time()) - 600), 401, "stale_timestamp")
    other_corp = WeComCrypto(
        token=WECOM_CREDENTIALS["token"], encoding_aes_key=WECOM_CREDENTIALS["encoding_aes_key"], receive_id="wwother"
    )
    assert_error(wecom_post(client, wecom, other_corp, xml), 401, "wrong_receiver")
    response = client.post(f"{url(wecom)}?msg_signature=x&timestamp=1&nonce=1", data=b"<xml", content_type="text/xml")
    assert_error(response, 400, "parse_error")
    assert not Delivery.objects.exists()


# ---------------------------------------------------------------- Douyin


def douyin_post(client, channel, payload: dict, *, msg_id="dy-msg-1", secret="dy-client-secret"):
    body = json.dumps(payload, ensure_ascii=False).encode()
    signature = hashlib.sha1(secret.encode() + body).hexdigest()  # noqa: S324  Douyin's scheme
    return client.post(
        url(channel),
        data=body,
        content_type="application/json",
        headers={"X-Douyin-Signature": signature, "Msg-Id": msg_id},
    )


def test_douyin_challenge_message_dedupe_and_bad_signature(client, company):
    channel = make_channel(company, "douyin")
    challenge = douyin_post(client, channel, {"event": "verify_webhook", "content": {"challenge": 12345}})
    assert challenge.status_code == 200
    assert challenge.json() == {"challenge": 12345}
    message = {
        "event": "im_receive_msg",
        "from_user_id": "open-id-abc",
        "content": json.dumps({"text": "想报名暑期班", "create_time": 1700000000}, ensure_ascii=False),
    }
    for _ in range(3):
        assert douyin_post(client, channel, message, msg_id="dy-1").status_code == 200
    assert douyin_post(client, channel, message, msg_id="dy-2").status_code == 200
    assert sorted(Delivery.objects.filter(channel=channel).values_list("external_id", flat=True)) == ["dy-1", "dy-2"]
    assert Delivery.objects.get(external_id="dy-1").payload["text"] == "想报名暑期班"
    assert_error(douyin_post(client, channel, message, msg_id="dy-3", secret="wrong"), 401, "bad_signature")
    assert not Delivery.objects.filter(external_id="dy-3").exists()


def test_douyin_lead_capture_events_carry_the_phone_and_what_was_written(client, company):
    channel = make_channel(company, "douyin")
    home_page = {
        "event": "personal_tab_contact",
        "from_user_id": "open-id-yang",
        "content": {
            "telephone": "17712345616",
            "name": "小杨",
            "remark": "想学电工证",
            "clue_id": "7301",
            "create_time": 1700000000,
        },
    }
    assert douyin_post(client, channel, home_page, msg_id="dy-lead-1").status_code == 200
    card = {
        "event": "im_receive_msg",
        "from_user_id": "open-id-chen",
        "content": {
            "message_type": "retain_consult_card",
            "create_time": 1700000000123,  # IM events count milliseconds
            "user_infos": [{"open_id": "open-id-chen", "nick_name": "陈女士"}],
            "retain_consult_card": {"phone": "138 0013 8001", "remark": "周末班还有名额吗"},
        },
    }
    assert douyin_post(client, channel, card, msg_id="dy-lead-2").status_code == 200
    site = {"event": "website_contact", "content": {"mobile": "13700001234", "user_name": "刘同学"}}
    assert douyin_post(client, channel, site, msg_id="dy-lead-3").status_code == 200

    stored = {d.external_id: d.payload for d in Delivery.objects.filter(channel=channel)}
    assert {
        k: (v["kind"], v["event"], v["sender_id"], v["sender_name"], v["phone"], v["text"]) for k, v in stored.items()
    } == {
        "dy-lead-1": ("event", "personal_tab_contact", "open-id-yang", "小杨", "17712345616", "想学电工证"),
        "dy-lead-2": ("event", "retain_consult_card", "open-id-chen", "陈女士", "138 0013 8001", "周末班还有名额吗"),
        # a visitor of the official-site component is not a Douyin user we know: the phone is who they are
        "dy-lead-3": ("event", "website_contact", "tel:13700001234", "刘同学", "13700001234", ""),
    }
    assert stored["dy-lead-1"]["extra"] == {"clue_id": "7301"}
    assert stored["dy-lead-1"]["sent_at"].startswith("2023-11-14T22:13:20")
    assert stored["dy-lead-2"]["sent_at"].startswith("2023-11-14T22:13:20.123")

    # A lead without a telephone is refused by name and nothing is stored; so is a forged one.
    no_phone = {"event": "personal_tab_contact", "from_user_id": "open-id-x", "content": {"name": "无名"}}
    assert_error(douyin_post(client, channel, no_phone, msg_id="dy-lead-4"), 400, "required")
    assert_error(douyin_post(client, channel, home_page, msg_id="dy-lead-5", secret="wrong"), 401, "bad_signature")
    assert sorted(stored) == sorted(Delivery.objects.filter(channel=channel).values_list("external_id", flat=True))


def test_douyin_message_times_in_milliseconds_and_the_nickname_are_read(client, company):
    channel = make_channel(company, "douyin")
    message = {
        "event": "im_receive_msg",
        "from_user_id": "open-id-ms",
        "content": {
            "text": "在吗",
            "create_time": 1700000000456,
            "user_infos": [
                {"open_id": "our-account", "nick_name": "启航职业培训"},
                {"open_id": "open-id-ms", "nick_name": "周同学"},
            ],
        },
    }
    assert douyin_post(client, channel, message, msg_id="dy-ms").status_code == 200
    payload = Delivery.objects.get(external_id="dy-ms").payload
    assert payload["sent_at"].startswith("2023-11-14T22:13:20.456")
    assert payload["sender_name"] == "周同学"


# ---------------------------------------------------------------- the lean middleware chain (suite.api.lean)


def test_webhooks_take_the_lean_chain_and_still_refuse_bad_signatures(client, company, chains):
    channel = make_channel(company, "webhook")
    client.cookies["sessionid"] = "a-browser-session"  # a cookie changes nothing: the session is not read
    stored = signed_post(client, channel, MESSAGE)
    assert stored.status_code == 200
    assert not stored.cookies  # no session, no CSRF cookie
    for header in ("X-Frame-Options", "Content-Security-Policy", "X-Content-Type-Options", "X-Request-ID"):
        assert stored.has_header(header), header
    assert_error(signed_post(client, channel, MESSAGE, secret="wrong"), 401, "bad_signature")
    assert_error(signed_post(client, channel, MESSAGE, timestamp=int(time.time()) - 301), 401, "stale_timestamp")
    assert client.post(f"/api/v1/scrm/channels/{channel.pk}/webhook/extra/").status_code == 404
    assert chains == [True, True, True, False]  # only the webhook's own path
    assert Delivery.objects.filter(channel=channel).count() == 1
