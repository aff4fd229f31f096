"""A local fake of WeCom's server API (paths, bodies and errcodes as WeCom documents them) and helpers that post
encrypted callbacks to our webhook: shared by the WeCom relationship tests."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.core.cache import cache
from werkzeug import Response

from scrm.channels import connector_for
from scrm.channels.wecom import WeComCrypto
from scrm.services.inbox import deliveries_process
from scrm.tests.factories import WECOM_CORP_ID, WECOM_CREDENTIALS, make_channel


class FakeWeCom:
    """The WeCom endpoints these features call, with WeCom's errcodes: 40014 (invalid access_token), 42001
    (expired), 45033 (concurrency limit), per-customer errcodes of transfers."""

    def __init__(self):
        self.issued = 0
        self.valid: set[str] = set()
        self.calls: list[tuple[str, dict]] = []
        self.fail_next: list[int] = []
        self.customer_errors: dict[str, int] = {}
        self.results: dict[str, int] = {}
        self.failed_chats: set[str] = set()
        self.customers_of_staff: list[str] = []
        self.groups_of_staff: list[str] = []
        self.refused_tokens = 0

    def token(self, request):
        self.issued += 1
        token = f"TOKEN_{self.issued}"
        self.valid = {token}
        return Response(json.dumps({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}))

    def api(self, request):
        path = request.path.removeprefix("/cgi-bin/")
        body = json.loads(request.get_data() or b"{}")
        if request.args.get("access_token") not in self.valid:
            self.refused_tokens += 1
            return self.json(errcode=40014, errmsg="invalid access_token")
        if self.fail_next:
            return self.json(errcode=self.fail_next.pop(0), errmsg="api concurrent out of limit")
        self.calls.append((path, body))
        handler = getattr(self, path.replace("/", "__"))
        return self.json(**handler(body))

    @staticmethod
    def json(**data):
        data.setdefault("errcode", 0)
        data.setdefault("errmsg", "ok")
        return Response(json.dumps(data, ensure_ascii=False))

    def externalcontact__add_contact_way(self, body):
        return {"config_id": f"cfg-{body['state']}", "qr_code": f"https://wework.qpic.cn/wwpic/{body['state']}.png"}

    def _transfer(self, body):
        assert len(body["external_userid"]) <= 100
        return {
            "customer": [
                {"external_userid": uid, "errcode": self.customer_errors.get(uid, 0)} for uid in body["external_userid"]
            ]
        }

    externalcontact__transfer_customer = _transfer
    externalcontact__resigned__transfer_customer = _transfer

    def _result(self, body):
        waiting = list(self.results.items())
        start = int(body.get("cursor") or 0)
        page = waiting[start : start + 100]
        nxt = str(start + 100) if start + 100 < len(waiting) else ""
        return {"customer": [{"external_userid": u, "status": s} for u, s in page], "next_cursor": nxt}

    externalcontact__transfer_result = _result
    externalcontact__resigned__transfer_result = _result

    def _groups(self, body):
        assert len(body["chat_id_list"]) <= 100
        failed = [c for c in body["chat_id_list"] if c in self.failed_chats]
        return {"failed_chat_list": [{"chat_id": c, "errcode": 90500, "errmsg": "not owner"} for c in failed]}

    externalcontact__groupchat__transfer = _groups
    externalcontact__groupchat__onjob_transfer = _groups

    def externalcontact__batch__get_by_user(self, body):
        start = int(body.get("cursor") or 0)
        page = self.customers_of_staff[start : start + body["limit"]]
        nxt = str(start + body["limit"]) if start + body["limit"] < len(self.customers_of_staff) else ""
        return {
            "external_contact_list": [{"external_contact": {"external_userid": u}} for u in page],
            "next_cursor": nxt,
        }

    def externalcontact__groupchat__list(self, body):
        return {"group_chat_list": [{"chat_id": c, "status": 0} for c in self.groups_of_staff], "next_cursor": ""}


@pytest.fixture
def wecom_fake(settings, httpserver):
    settings.TROIKA_OUTBOUND_ALLOW = [f"{httpserver.host}:{httpserver.port}"]
    fake = FakeWeCom()
    httpserver.expect_request("/cgi-bin/gettoken").respond_with_handler(fake.token)
    for path in (
        "externalcontact/add_contact_way",
        "externalcontact/transfer_customer",
        "externalcontact/resigned/transfer_customer",
        "externalcontact/transfer_result",
        "externalcontact/resigned/transfer_result",
        "externalcontact/groupchat/transfer",
        "externalcontact/groupchat/onjob_transfer",
        "externalcontact/batch/get_by_user",
        "externalcontact/groupchat/list",
    ):
        httpserver.expect_request(f"/cgi-bin/{path}", method="POST").respond_with_handler(fake.api)
    fake.base = httpserver.url_for("/").rstrip("/")
    return fake


@pytest.fixture
def wecom(company, wecom_fake):
    channel = make_channel(company, "wecom", config={"corp_id": WECOM_CORP_ID, "api_base": wecom_fake.base})
    cache.delete(connector_for(channel).api().cache_key)
    return channel


def wecom_callback(client, channel, xml: str):
    crypto = WeComCrypto(
        token=WECOM_CREDENTIALS["token"],
        encoding_aes_key=WECOM_CREDENTIALS["encoding_aes_key"],
        receive_id=WECOM_CORP_ID,
    )
    timestamp = str(int(time.time()))
    nonce = uuid.uuid4().hex[:10]  # a nonce is accepted once
    encrypted = crypto.encrypt(xml)
    envelope = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    query = f"msg_signature={crypto.sign(timestamp, nonce, encrypted)}&timestamp={timestamp}&nonce={nonce}"
    response = client.post(
        f"/api/v1/scrm/channels/{channel.pk}/webhook/?{query}", data=envelope.encode(), content_type="text/xml"
    )
    assert response.status_code == 200, response.content
    while deliveries_process(channel_id=channel.pk).deliveries:
        pass


def contact_xml(change: str, external: str, *, state: str = "", created: int = 1732700000) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{WECOM_CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_contact]]></Event>"
        f"<ChangeType><![CDATA[{change}]]></ChangeType><UserID><![CDATA[lisi]]></UserID>"
        f"<ExternalUserID><![CDATA[{external}]]></ExternalUserID><State><![CDATA[{state}]]></State>"
        "<WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode></xml>"
    )
