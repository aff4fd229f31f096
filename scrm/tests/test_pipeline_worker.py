"""The real pipeline with a real Celery worker: webhook → stored delivery → task on commit → inbox message
and the assignee's notification; a delivery sent three times lands once."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from scrm.channels.webhook import sign
from scrm.models import Delivery, Message
from scrm.tests.factories import make_channel
from suite.models import Notification, Role
from suite.testing import make_member

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def wait_for(condition, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_webhook_to_inbox_through_the_worker(company, celery_worker_process):
    agent = make_member(company, Role.SERVICE)
    channel = make_channel(company, "webhook", default_assignee=agent.user)
    body = json.dumps(
        {"id": "w-1", "sender": {"id": "fan-77", "name": "Sophie Wang"}, "text": "Do you ship to Hong Kong?"}
    ).encode()
    client = Client()
    for _ in range(3):
        response = client.post(
            f"/api/v1/scrm/channels/{channel.pk}/webhook/",
            data=body,
            content_type="application/json",
            headers={"X-Troika-Signature": sign("whsec-test", body)},
        )
        assert response.status_code == 200
    # No timing assert (the house rule): the alert comes from the real worker; how fast is
    # bench scrm_ingest's figure.
    assert wait_for(lambda: Notification.objects.filter(recipient=agent.user).exists()), celery_worker_process.log()
    assert Delivery.objects.filter(channel=channel).count() == 1
    assert list(Message.objects.values_list("text", flat=True)) == ["Do you ship to Hong Kong?"]
    assert Notification.objects.filter(recipient=agent.user).count() == 1
