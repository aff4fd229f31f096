"""WeCom relationship features against a local fake of WeCom's API (its paths, bodies and errcodes): channel
QR codes and the attribution of new contacts, churn signals into the CRM, and staff handover jobs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.models import Activity
from crm.services.leads import lead_create
from crm.services.opportunities import opportunity_create
from crm.services.tickets import ticket_open
from crm.tests.factories import AccountFactory, ContactFactory
from scrm.channels import connector_for
from scrm.models import ContactWay, ContactWayAttribution, Conversation, HandoverItem, HandoverJob, SocialIdentity
from scrm.services.wecom_relations import contact_way_create, handover_job_advance, handover_job_create
from scrm.tests import fake_wecom
from scrm.tests.factories import make_conversation
from scrm.tests.fake_wecom import contact_xml, wecom_callback
from suite.events.relay import relay_batch
from suite.models import OutboxEvent, Role
from suite.testing import make_member

pytestmark = pytest.mark.django_db

wecom_fake = fake_wecom.wecom_fake  # the fake WeCom server (fixture)
wecom = fake_wecom.wecom  # a WeCom channel pointed at it (fixture)


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
    cache.set(connector_for(wecom).api().cache_key, "TOKEN_WECOM_FORGOT", 3600)  # 40014 → refresh → retry
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
        if calls[0] == 1:  # the call after this one (the second chunk) is refused
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
    assert (wecom_fake.refused_tokens, wecom_fake.issued) == (1, 1)  # one refresh after 40014, then cached
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
    assert (event.version, event.payload["customers_transferred"], event.payload["customers_failed"]) == (1, 247, 3)
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
