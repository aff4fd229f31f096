"""A push left "sending" by a killed worker is completed by the beat sweep, each recipient getting exactly one
message (issue #4, pushes)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone
from werkzeug import Response

from crm.services.customers import customer_tags_set
from crm.tests.factories import ContactFactory, TagFactory
from scrm.channels import connector_for
from scrm.models import PushCampaign, PushCampaignStatus, PushMessage, PushMessageStatus, Resolution
from scrm.services import pushes
from scrm.services.consent import consent_record
from scrm.services.push_sweep import push_sends_sweep
from scrm.services.segments import segment_create
from scrm.tests.factories import make_channel, make_conversation, make_identity

pytestmark = pytest.mark.django_db


@pytest.fixture
def platform(settings, httpserver):
    settings.TROIKA_OUTBOUND_ALLOW = [f"{httpserver.host}:{httpserver.port}"]
    received, delivered = [], {}

    def handler(request):  # a platform that dedupes on the client message id (our send key)
        body = json.loads(request.data)
        received.append(body)
        delivered.setdefault(body["id"], body)
        return Response("{}", status=200, content_type="application/json")

    httpserver.expect_request("/send", method="POST").respond_with_handler(handler)
    httpserver.received, httpserver.delivered = received, delivered
    return httpserver


def sending_campaign(company, platform, n):
    channel = make_channel(company, "webhook", config={"outbound_url": platform.url_for("/send")})
    tag = TagFactory(company=company, name="扫尾")
    for i in range(n):
        person = ContactFactory(company=company, name=f"客户{i}")
        customer_tags_set(customer=person, tags=[tag], by=None)
        identity = make_identity(
            company, kind="webhook", external_id=f"r{i}", crm_contact_id=person.pk, resolution=Resolution.AUTO
        )
        make_conversation(company, channel=channel, identity=identity)
        consent_record(company_id=company.pk, crm_contact_id=person.pk, channel_kind="webhook",
                       lawful_basis="consent", source="test")  # fmt: skip
    segment = segment_create(company=company, name="扫尾段", query={"tag": tag.pk})
    campaign = pushes.push_campaign_create(
        company=company, name="扫尾推送", segment=segment, contents=[(channel, "{name}您好")]
    )
    pushes.push_campaign_start(campaign=campaign)
    return campaign


def test_push_stuck_in_sending_is_completed_by_the_sweep_with_one_send_per_recipient(company, platform):
    campaign = sending_campaign(company, platform, 6)
    assert pushes.push_send_batch(campaign_id=campaign.pk, limit=3).sent == 3  # half sent …
    rest = list(campaign.messages.filter(status=PushMessageStatus.QUEUED).order_by("pk"))
    for message in rest[:2]:  # … then the worker reserved two more and was killed before sending them
        pushes.push_message_reserve(message_id=message.pk)
    # The first of them reached the platform before the kill; its outcome was never recorded.
    connector = connector_for(rest[0].channel)
    connector.send_key = f"push-{rest[0].pk}"
    connector.send(rest[0].identity.external_id, "客户您好")
    long_ago = timezone.now() - timedelta(minutes=30)
    PushMessage.objects.filter(pk__in=[m.pk for m in rest[:2]]).update(reserved_at=long_ago)
    PushCampaign.objects.filter(pk=campaign.pk).update(started_at=long_ago)
    PushMessage.objects.filter(status=PushMessageStatus.SENT).update(reserved_at=long_ago)

    # Within the lease nothing moves (a slow worker may still be sending).
    assert push_sends_sweep(lease=3600) == []
    assert campaign.messages.filter(status=PushMessageStatus.SENDING).count() == 2

    assert push_sends_sweep(lease=300) == [campaign.pk]
    assert not campaign.messages.filter(status=PushMessageStatus.SENDING).exists()
    while pushes.push_send_batch(campaign_id=campaign.pk).sent:
        pass

    counts = Counter(body["recipient"] for body in platform.delivered.values())
    assert counts == {f"r{i}": 1 for i in range(6)}
    assert set(platform.delivered) == {f"push-{pk}" for pk in campaign.messages.values_list("pk", flat=True)}
    resent = [body["id"] for body in platform.received if body["id"] == f"push-{rest[0].pk}"]
    assert len(resent) == 2  # sent again after the sweep with the same key, and dropped by the platform
    assert campaign.messages.filter(status=PushMessageStatus.SENT).count() == 6
    campaign.refresh_from_db()
    assert campaign.status == PushCampaignStatus.DONE
    assert push_sends_sweep(lease=0) == []  # nothing left: the sweep is idle


def test_sweep_is_in_the_beat_schedule():
    from suite.celery import app

    assert "scrm.push_sends_sweep" in {entry["task"] for entry in app.conf.beat_schedule.values()}
