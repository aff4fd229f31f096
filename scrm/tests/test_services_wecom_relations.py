"""WeCom relationship features against a local fake of WeCom's API (its paths, bodies and errcodes): channel
QR codes and the attribution of new contacts, churn signals into the CRM, and staff handover jobs."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone
from werkzeug import Response

from crm.models import Activity
from crm.services.leads import lead_create
from crm.services.opportunities import opportunity_create
from crm.services.tickets import ticket_open
from crm.tests.factories import AccountFactory, ContactFactory
from scrm.channels import connector_for
from scrm.channels.wecom import WeComCrypto
from scrm.models import ContactWay, ContactWayAttribution, Conversation, HandoverItem, HandoverJob, SocialIdentity
from scrm.services.inbox import deliveries_process
from scrm.services.wecom_relations import contact_way_create, handover_job_advance, handover_job_create
from scrm.tests.factories import WECOM_CORP_ID, WECOM_CREDENTIALS, make_channel, make_conversation
from suite.events.relay import relay_batch
from suite.models import OutboxEvent, Role
from suite.testing import make_member

pytestmark = pytest.mark.django_db


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

    def token(self, request):
        self.issued += 1
        token = f"TOKEN_{self.issued}"
        self.valid = {token}
        return Response(json.dumps({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}))

    def api(self, request):
        path = request.path.removeprefix("/cgi-bin/")
        body = json.loads(request.get_data() or b"{}")
        if request.args.get("access_token") not in self.valid:
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
    encrypted = crypto.encrypt(xml)
    envelope = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    query = f"msg_signature={crypto.sign(timestamp, '7', encrypted)}&timestamp={timestamp}&nonce=7"
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


# ---------------------------------------------------------------- channel QR codes


def test_state_longer_than_30_characters_is_refused_before_calling_wecom(company, wecom, wecom_fake):
    with pytest.raises(ValidationError) as error:
        contact_way_create(channel=wecom, name="双11 门店码", state="s" * 31, staff_ids=["lisi"])
    assert "state" in error.value.message_dict
    with pytest.raises(ValidationError):
        contact_way_create(channel=wecom, name="x", state="has space", staff_ids=["lisi"])
    with pytest.raises(ValidationError) as error:
        contact_way_create(channel=wecom, name="x", state="ok", staff_ids=[])
    assert "staff_ids" in error.value.message_dict
    assert wecom_fake.calls == [] and not ContactWay.objects.exists()


def test_qr_code_attributes_new_contacts_to_channel_campaign_and_staff(client, company, wecom, wecom_fake):
    from crm.tests.factories_campaigns import make_campaign

    staff = make_member(company, Role.SALES).user
    campaign = make_campaign(company)
    wecom_fake.fail_next = [42001]  # the cached token expired: refreshed, call repeated
    wecom_fake.valid = {"stale"}
    way = contact_way_create(
        channel=wecom,
        name="双11 门店码",
        state="d11-store-sh-01",
        staff_ids=["lisi"],
        owner=staff,
        crm_campaign_id=campaign.pk,
    )
    assert (way.config_id, way.qr_code) == ("cfg-d11-store-sh-01", "https://wework.qpic.cn/wwpic/d11-store-sh-01.png")
    assert wecom_fake.calls[-1] == (
        "externalcontact/add_contact_way",
        {
            "type": 1,
            "scene": 2,
            "remark": "双11 门店码",
            "skip_verify": True,
            "state": "d11-store-sh-01",
            "user": ["lisi"],
        },
    )
    with pytest.raises(ValidationError):
        contact_way_create(channel=wecom, name="dup", state="d11-store-sh-01", staff_ids=["lisi"])

    contact = ContactFactory(company=company, by=staff)
    SocialIdentity.objects.create(
        company=company, channel_kind="wecom", external_id="wmNewFan", crm_contact_id=contact.pk, resolution="auto"
    )
    for _ in range(3):  # WeCom retries the callback
        wecom_callback(client, wecom, contact_xml("add_external_contact", "wmNewFan", state="d11-store-sh-01"))
    wecom_callback(client, wecom, contact_xml("add_external_contact", "wmOther", state="unknown-state", created=5))
    attribution = ContactWayAttribution.objects.get()
    assert (attribution.contact_way, attribution.identity.external_id, attribution.staff_id) == (
        way,
        "wmNewFan",
        "lisi",
    )
    way.refresh_from_db()
    assert way.added_count == 1
    conversation = Conversation.objects.get(identity=attribution.identity)
    assert conversation.assigned_to == staff
    touched = OutboxEvent.objects.filter(name="scrm.campaign.touched")
    assert [e.payload["crm_campaign_id"] for e in touched] == [campaign.pk]
    assert touched[0].payload["contact_id"] == contact.pk and touched[0].payload["kind"] == "responded"


def test_customer_deleting_the_salesperson_raises_churn_alert_task_and_flags_deals(client, company, wecom):
    owner = make_member(company, Role.SALES).user
    account = AccountFactory(company=company, by=owner)
    contact = ContactFactory(company=company, by=owner, account=account)
    identity = SocialIdentity.objects.create(
        company=company,
        channel_kind="wecom",
        external_id="wmLeaving",
        crm_contact_id=contact.pk,
        crm_account_id=account.pk,
        crm_owner_id=owner.pk,
        resolution="auto",
        display_name="韩梅梅",
    )
    make_conversation(company, channel=wecom, identity=identity, assigned_to=owner)
    open_deal = opportunity_create(company=company, by=owner, name="年卡续费", contact=contact, amount="3000.00")
    wecom_callback(client, wecom, contact_xml("del_external_contact", "wmLeaving"))
    relay_batch()
    relay_batch()
    open_deal.refresh_from_db()
    assert open_deal.at_risk and "del_external_contact" in open_deal.at_risk_reason
    task = Activity.objects.get(contact=contact)
    assert (task.owner, task.kind) == (owner, "task")
    from suite.models import Notification

    assert Notification.objects.filter(recipient=owner, level="warning").exists()


# ---------------------------------------------------------------- staff handover


@pytest.fixture
def people(company):
    leaving = make_member(company, Role.SALES, username="leaving").user
    successor = make_member(company, Role.SALES, username="successor").user
    admin = make_member(company, Role.ADMIN).user
    return leaving, successor, admin


def test_handover_in_chunks_with_partial_failures_token_refresh_and_rate_limit(company, wecom, wecom_fake, people):
    leaving, successor, admin = people
    customers = [f"wmC{n:03d}" for n in range(250)]
    wecom_fake.customer_errors = {"wmC007": 40097, "wmC120": 40100}  # per-customer refusals
    wecom_fake.valid = {"expired-by-wecom"}  # the first call gets 40014 → refresh → retry
    job = handover_job_create(
        channel=wecom,
        kind="in_service",
        handover_staff_id="leaving_uid",
        takeover_staff_id="successor_uid",
        from_user=leaving,
        to_user=successor,
        by=admin,
        customers=customers,
        groups=["wrGroup1", "wrGroup2"],
        transfer_success_msg="您好，您的服务顾问已更换为王老师",
    )
    wecom_fake.fail_next = []
    now = timezone.now()
    # a concurrency limit (45033) on the second chunk: the first chunk stays recorded, the job backs off
    original = wecom_fake.externalcontact__transfer_customer

    calls = [0]

    def limit_second_chunk(body):
        calls[0] += 1
        if calls[0] == 2:
            wecom_fake.fail_next = [45033]
        return original(body)

    wecom_fake.externalcontact__transfer_customer = limit_second_chunk
    job = handover_job_advance(job_id=job.pk, now=now)
    assert job.status == "submitting" and job.retry_after is not None and "rate" in job.last_error
    assert HandoverItem.objects.filter(job=job, status="waiting").count() == 99  # 100 minus wmC007
    assert handover_job_advance(job_id=job.pk, now=now + timedelta(seconds=10)).status == "submitting"  # backoff

    job = handover_job_advance(job_id=job.pk, now=now + timedelta(minutes=2))
    assert job.status == "waiting"
    transfer_calls = [body for path, body in wecom_fake.calls if path == "externalcontact/transfer_customer"]
    assert [len(body["external_userid"]) for body in transfer_calls] == [100, 100, 50]
    assert transfer_calls[0]["transfer_success_msg"] == "您好，您的服务顾问已更换为王老师"
    assert wecom_fake.issued == 2  # one refresh after 40014
    failed = dict(HandoverItem.objects.filter(job=job, status="failed").values_list("external_id", "errcode"))
    assert failed == {"wmC007": 40097, "wmC120": 40100}
    assert set(HandoverItem.objects.filter(job=job, kind="group").values_list("status", flat=True)) == {"transferred"}

    # results: most done, one refused by the customer, the rest still waiting
    wecom_fake.results = {uid: 1 for uid in customers if uid not in failed}
    wecom_fake.results.update({"wmC010": 3, "wmC011": 2})
    job = handover_job_advance(job_id=job.pk, now=now + timedelta(hours=1))
    assert job.status == "waiting"
    assert HandoverItem.objects.get(job=job, external_id="wmC010").detail == "customer refused"
    assert not OutboxEvent.objects.filter(name="scrm.handover.completed").exists()

    wecom_fake.results["wmC011"] = 1
    job = handover_job_advance(job_id=job.pk, now=now + timedelta(hours=25))
    assert job.status == "completed"
    event = OutboxEvent.objects.get(name="scrm.handover.completed")
    assert (event.version, event.payload["customers_transferred"], event.payload["customers_failed"]) == (1, 245, 3)
    assert (event.payload["from_user_id"], event.payload["to_user_id"], event.payload["groups_transferred"]) == (
        leaving.pk,
        successor.pk,
        2,
    )
    assert handover_job_advance(job_id=job.pk).status == "completed"  # nothing more happens
    assert OutboxEvent.objects.filter(name="scrm.handover.completed").count() == 1


def test_completed_handover_reassigns_the_crm_records(company, wecom, wecom_fake, people):
    leaving, successor, admin = people
    account = AccountFactory(company=company, by=leaving)
    contact = ContactFactory(company=company, by=leaving, account=account)
    lead = lead_create(company=company, by=leaving, owner=leaving, name="周杰", source="wecom")
    deal = opportunity_create(company=company, by=leaving, name="企业培训", account=account, amount="9000.00")
    ticket = ticket_open(company=company, by=leaving, subject="发票抬头", account=account, contact=contact)
    identity = SocialIdentity.objects.create(company=company, channel_kind="wecom", external_id="wmR1")
    conversation = make_conversation(company, channel=wecom, identity=identity, assigned_to=leaving)
    wecom_fake.customers_of_staff = ["wmR1", "wmR2"]
    wecom_fake.groups_of_staff = ["wrG"]
    job = handover_job_create(
        channel=wecom,
        kind="resigned",
        handover_staff_id="leaving_uid",
        takeover_staff_id="successor_uid",
        from_user=leaving,
        to_user=successor,
        by=admin,
        customers=["wmR1", "wmR2"],
        groups=["wrG"],
    )
    wecom_fake.results = {"wmR1": 1, "wmR2": 1}
    assert handover_job_advance(job_id=job.pk).status == "completed"
    paths = [path for path, _body in wecom_fake.calls]
    assert "externalcontact/resigned/transfer_customer" in paths and "externalcontact/groupchat/transfer" in paths
    assert "externalcontact/resigned/transfer_result" in paths
    conversation.refresh_from_db()
    assert conversation.assigned_to == successor
    relay_batch()
    relay_batch()
    for record in (account, lead, deal, ticket):
        record.refresh_from_db()
        assert record.owner == successor, record
    handover_job_advance(job_id=job.pk)
    relay_batch()  # idempotent


def test_handover_collects_customers_and_groups_from_wecom_when_not_given(company, wecom, wecom_fake, people):
    leaving, successor, _admin = people
    wecom_fake.customers_of_staff = [f"wmX{n}" for n in range(150)]
    wecom_fake.groups_of_staff = ["wrA", "wrB"]
    job = handover_job_create(
        channel=wecom,
        kind="in_service",
        handover_staff_id="leaving_uid",
        takeover_staff_id="successor_uid",
        from_user=leaving,
        to_user=successor,
    )
    handover_job_advance(job_id=job.pk)
    assert HandoverItem.objects.filter(job=job, kind="customer").count() == 150
    assert HandoverItem.objects.filter(job=job, kind="group").count() == 2
    with pytest.raises(ValidationError) as error:
        handover_job_create(
            channel=wecom,
            kind="in_service",
            handover_staff_id="leaving_uid",
            takeover_staff_id="leaving_uid",
            from_user=leaving,
            to_user=leaving,
        )
    assert {"takeover_staff_id", "to_user"} <= set(error.value.message_dict)
    assert HandoverJob.objects.count() == 1
