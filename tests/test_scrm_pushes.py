"""Consent and pushes (issue #4 acceptance 3): no push without a lawful basis or after unsubscribing (also
when consent is withdrawn between scheduling and sending), the frequency cap under parallel transactions,
personalisation with escaping, per-channel throttling, sending through the connector against a local fake
platform, signed tracking links (tampering refused) and attribution to the CRM campaign."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from werkzeug import Response

from crm.services.customers import customer_tags_set
from crm.tests.factories import ContactFactory, TagFactory
from scrm.channels.base import InboundEvent
from scrm.models import (
    Consent,
    PushCampaign,
    PushCampaignStatus,
    PushMessage,
    PushMessageStatus,
    PushPolicy,
    Resolution,
    SkipReason,
)
from scrm.services import pushes
from scrm.services.channels import deliveries_record
from scrm.services.consent import consent_record, consent_withdraw, is_unsubscribe
from scrm.services.inbox import deliveries_process
from scrm.services.segments import segment_create
from scrm.tests.factories import make_channel, make_conversation, make_identity
from suite.events.relay import relay_batch
from suite.models import OutboxEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def platform(settings, httpserver):
    """A fake platform receiving the webhook channel's outbound messages."""
    settings.TROIKA_OUTBOUND_ALLOW = [f"{httpserver.host}:{httpserver.port}"]
    received = []

    def handler(request):
        received.append(json.loads(request.data))
        return Response("{}", status=200, content_type="application/json")

    httpserver.expect_request("/send", method="POST").respond_with_handler(handler)
    httpserver.received = received
    return httpserver


def audience(company, channel, n=3, *, city="深圳市", consent=True):
    """``n`` tagged contacts matched to identities with a conversation on ``channel``."""
    tag = TagFactory(company=company, name=f"推送{channel.pk}")
    people = []
    for i in range(n):
        person = ContactFactory(company=company, name=f"客户{i}", city=city)
        customer_tags_set(customer=person, tags=[tag], by=None)
        identity = make_identity(
            company, kind=channel.kind, external_id=f"u{channel.pk}-{i}", crm_contact_id=person.pk,
            resolution=Resolution.AUTO,
        )  # fmt: skip
        make_conversation(company, channel=channel, identity=identity)
        if consent:
            consent_record(company_id=company.pk, crm_contact_id=person.pk, channel_kind=channel.kind,
                           lawful_basis="consent", source="二维码落地页")  # fmt: skip
        people.append(person)
    segment = segment_create(company=company, name=f"段{channel.pk}-{tag.pk}", query={"tag": tag.pk})
    return people, segment


def start(company, segment, channel, text="{name}您好，{city}门店上新：{link} 退订回TD", **extra):
    campaign = pushes.push_campaign_create(
        company=company, name=f"活动{segment.pk}-{channel.pk}", segment=segment, contents=[(channel, text)],
        link_url="https://shop.example.com/new?x=1", **extra,
    )  # fmt: skip
    pushes.push_campaign_start(campaign=campaign)
    return campaign


def test_push_goes_only_to_consented_customers_with_personalised_text(company, platform):
    channel = make_channel(company, "webhook", config={"outbound_url": platform.url_for("/send")})
    people, segment = audience(company, channel, 3)
    consent_withdraw(company_id=company.pk, crm_contact_id=people[1].pk, channel_kind="webhook", via="staff")
    stranger = ContactFactory(company=company, name="无同意")  # in the segment, matched, but no consent
    customer_tags_set(customer=stranger, tags=[TagFactory(company=company, name="x")], by=None)
    campaign = start(company, segment, channel)

    result = pushes.push_send_batch(campaign_id=campaign.pk)

    assert (result.sent, result.skipped, result.failed) == (2, 1, 0)
    statuses = dict(PushMessage.objects.filter(campaign=campaign).values_list("crm_contact_id", "skip_reason"))
    assert statuses == {people[0].pk: "", people[1].pk: SkipReason.NO_CONSENT, people[2].pk: ""}
    sent = sorted(platform.received, key=lambda body: body["recipient"])
    assert [body["recipient"] for body in sent] == [f"u{channel.pk}-0", f"u{channel.pk}-2"]
    assert sent[0]["text"].startswith("客户0您好，深圳市门店上新：http")
    assert "/scrm/p/" in sent[0]["text"]
    campaign.refresh_from_db()
    assert campaign.status == PushCampaignStatus.DONE


def test_consent_withdrawn_between_scheduling_and_sending_stops_the_push(company, platform):
    channel = make_channel(company, "webhook", config={"outbound_url": platform.url_for("/send")})
    people, segment = audience(company, channel, 2)
    campaign = pushes.push_campaign_create(
        company=company, name="定时", segment=segment, contents=[(channel, "{name}，双十一见")],
        scheduled_at=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip
    assert pushes.push_campaigns_due() == [campaign.pk]  # recipients fixed now …
    # … and one of them unsubscribes by replying 退订 before the batch runs
    deliveries_record(
        channel=channel, events=[InboundEvent(external_id="td-1", sender_id=f"u{channel.pk}-0", text="退订")]
    )
    deliveries_process(channel_id=channel.pk)

    result = pushes.push_send_batch(campaign_id=campaign.pk)

    assert (result.sent, result.skipped) == (1, 1)
    assert [body["recipient"] for body in platform.received] == [f"u{channel.pk}-1"]
    consent = Consent.objects.get(crm_contact_id=people[0].pk)
    assert consent.withdrawn_at is not None and consent.withdrawn_via == "keyword"


@pytest.mark.parametrize("text", ["退订", "TD", " td ", "T", "Unsubscribe!", "退订。"])
def test_unsubscribe_keywords(text):
    assert is_unsubscribe(text)


@pytest.mark.parametrize("text", ["", "不要退订", "TD是什么", "Stop by our shop"])
def test_not_unsubscribe(text):
    assert not is_unsubscribe(text)


def test_frequency_cap_across_campaigns(company, platform):
    PushPolicy.objects.create(company=company, max_pushes=2, window_days=7)
    channel = make_channel(company, "webhook", config={"outbound_url": platform.url_for("/send")})
    _people, segment = audience(company, channel, 1)
    sent = []
    for _ in range(3):
        campaign = start(company, segment, channel, text="{name} 新品")
        sent.append(pushes.push_send_batch(campaign_id=campaign.pk).sent)
    assert sent == [1, 1, 0]
    assert PushMessage.objects.filter(skip_reason=SkipReason.FREQUENCY_CAP).count() == 1
    # a push older than the window no longer counts
    PushMessage.objects.filter(status="sent").update(reserved_at=timezone.now() - timedelta(days=8))
    assert pushes.push_send_batch(campaign_id=start(company, segment, channel, text="再来").pk).sent == 1


@pytest.mark.django_db(transaction=True)
def test_frequency_cap_holds_under_parallel_transactions(company):
    """Four campaigns reserve a push to the same contact at the same moment on four connections with a cap of
    two: exactly two get through."""
    PushPolicy.objects.create(company=company, max_pushes=2, window_days=7)
    channel = make_channel(company, "simulator")
    _people, segment = audience(company, channel, 1)
    message_ids = []
    for i in range(4):
        campaign = pushes.push_campaign_create(
            company=company, name=f"并发{i}", segment=segment, contents=[(channel, "hi")]
        )
        pushes.push_campaign_start(campaign=campaign)
        message_ids.append(PushMessage.objects.get(campaign=campaign).pk)
    barrier, outcomes, errors = threading.Barrier(4), [], []

    def reserve(message_id):
        try:
            barrier.wait(timeout=10)
            outcomes.append(pushes.push_message_reserve(message_id=message_id).status)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=reserve, args=(pk,)) for pk in message_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(outcomes) == ["sending", "sending", "skipped", "skipped"]
    assert PushMessage.objects.filter(skip_reason=SkipReason.FREQUENCY_CAP).count() == 2


def test_render_escapes_and_never_reinterprets_values():
    values = {"name": "{city}<a href='x'>\n老王", "city": "深圳", "link": "https://t/p/1:abc", "unsubscribe": ""}
    plain = pushes.render("{name}在{city}: {link} {unknown}", values, channel_kind="wecom")
    assert plain == "{city}<a href='x'> 老王在深圳: https://t/p/1:abc {unknown}"
    html = pushes.render("{name}", values, channel_kind="wechat_oa")
    assert html == "{city}&lt;a href=&#x27;x&#x27;&gt; 老王"


def test_unknown_variable_and_foreign_channel_are_refused(company, other_company):
    from django.core.exceptions import ValidationError

    channel = make_channel(company, "simulator")
    foreign = make_channel(other_company, "simulator")
    _people, segment = audience(company, channel, 1)
    with pytest.raises(ValidationError) as error:
        pushes.push_campaign_create(company=company, name="x", segment=segment,
                                    contents=[(channel, "{salary}"), (foreign, "hi")])  # fmt: skip
    assert len(error.value.message_dict["contents"]) == 2
    assert not PushCampaign.objects.exists()


def test_tracking_link_click_attributes_to_crm_campaign_and_tamper_is_rejected(company, client):
    from crm.models import CampaignMember
    from crm.services.campaigns import campaign_create

    crm_campaign = campaign_create(
        company=company, by=None, name="双十一", code="d11", channel="wecom", start_date=timezone.localdate()
    )
    channel = make_channel(company, "simulator")
    people, segment = audience(company, channel, 1)
    campaign = start(company, segment, channel, crm_campaign_id=crm_campaign.pk)
    assert pushes.push_send_batch(campaign_id=campaign.pk).sent == 1
    message = PushMessage.objects.get(campaign=campaign)
    token = pushes.tracking_token(message.pk)

    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get(f"/scrm/p/{tampered}/").status_code == 404
    forged = token.replace(f"{message.pk}:", f"{message.pk + 1}:")
    assert client.get(f"/scrm/p/{forged}/").status_code == 404
    message.refresh_from_db()
    assert message.clicks == 0

    for _ in range(2):
        response = client.get(f"/scrm/p/{token}/")
        assert response.status_code == 302 and response["Location"] == "https://shop.example.com/new?x=1"
    message.refresh_from_db()
    assert (message.clicks, message.opened_at is not None, message.clicked_at is not None) == (2, True, True)
    touches = OutboxEvent.objects.filter(name="scrm.campaign.touched").order_by("id")
    assert [t.payload["kind"] for t in touches] == ["sent", "responded"]  # the second click is no new response
    relay_batch()
    member = CampaignMember.objects.get(campaign=crm_campaign)
    assert (member.contact_id, member.status) == (people[0].pk, "responded")
    report = pushes.push_campaign_report(campaign)
    assert (report["sent"], report["clicked"], report["click_rate"]) == (1, 1, 100.0)


def test_unsubscribe_link_withdraws_consent_at_once(company, client):
    channel = make_channel(company, "simulator")
    _people, segment = audience(company, channel, 1)
    campaign = start(company, segment, channel)
    pushes.push_send_batch(campaign_id=campaign.pk)
    token = pushes.tracking_token(PushMessage.objects.get(campaign=campaign).pk, salt=pushes.UNSUBSCRIBE_SALT)
    click_token = pushes.tracking_token(PushMessage.objects.get(campaign=campaign).pk)

    assert client.get(f"/scrm/p/{token}/unsubscribe/").status_code == 200  # a confirmation, nothing withdrawn yet
    assert Consent.objects.get().withdrawn_at is None
    assert client.post(f"/scrm/p/{click_token}/unsubscribe/").status_code == 404  # the click token is not one
    assert client.post(f"/scrm/p/{token}/unsubscribe/").status_code == 200
    assert Consent.objects.get().withdrawn_via == "link"
    second = start(company, segment, channel, text="再见")
    assert pushes.push_send_batch(campaign_id=second.pk).skipped == 1


def test_throttle_stops_the_batch_and_asks_to_retry(company, platform):
    channel = make_channel(
        company, "webhook", config={"outbound_url": platform.url_for("/send"), "send_rate": 0.5, "send_burst": 2}
    )
    _people, segment = audience(company, channel, 4)
    campaign = start(company, segment, channel, text="hi")

    result = pushes.push_send_batch(campaign_id=campaign.pk)

    assert result.sent == 2 and result.retry_in > 0  # the bucket held two tokens
    assert PushMessage.objects.filter(campaign=campaign, status=PushMessageStatus.QUEUED).count() == 2
    campaign.refresh_from_db()
    assert campaign.status == PushCampaignStatus.SENDING


def test_platform_refusal_is_recorded_and_frees_the_cap_slot(company, settings, httpserver):
    settings.TROIKA_OUTBOUND_ALLOW = [f"{httpserver.host}:{httpserver.port}"]
    httpserver.expect_request("/send", method="POST").respond_with_data("no", status=500)
    PushPolicy.objects.create(company=company, max_pushes=1, window_days=7)
    channel = make_channel(company, "webhook", config={"outbound_url": httpserver.url_for("/send")})
    _people, segment = audience(company, channel, 1)
    campaign = start(company, segment, channel, text="hi")
    assert pushes.push_send_batch(campaign_id=campaign.pk).failed == 1
    assert PushMessage.objects.get(campaign=campaign).error.startswith("HTTP 500")
    second = start(company, segment, channel, text="hi again")
    pushes.push_send_batch(campaign_id=second.pk)
    assert PushMessage.objects.get(campaign=second).skip_reason != SkipReason.FREQUENCY_CAP
