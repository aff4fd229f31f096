"""How fast the inbox pipeline drains stored deliveries in-process (no HTTP, no worker): 2,000 simulator
items from 12 fans. Prints the rate (docs/performance.md, "SCRM ingestion"); asserts a floor far below what
it measures so a shared, busy machine does not make it flaky, and that every item landed exactly once."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scrm.channels.simulator import simulated_item
from scrm.models import Message
from scrm.services.channels import deliveries_record
from scrm.services.inbox import deliveries_process
from scrm.tests.factories import make_channel
from suite.models import Notification, Role

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
ITEMS = 2000


def test_pipeline_drains_2000_items_with_few_queries_each(company, member):
    agent = member(company, Role.SERVICE)
    channel = make_channel(company, "simulator", default_assignee=agent.user)
    deliveries_record(channel=channel, events=[simulated_item(channel.pk, n) for n in range(1, ITEMS + 1)])
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        while deliveries_process(channel_id=channel.pk).deliveries:
            pass
    elapsed = time.perf_counter() - started
    print(f"\nSCRM pipeline: {ITEMS} items in {elapsed:.2f} s = {ITEMS / elapsed:.0f}/s, {len(queries)} queries")
    assert Message.objects.filter(channel=channel).count() == ITEMS
    assert len(queries) < ITEMS // 2  # set-based per batch: identities, conversations, alerts cached
    assert Notification.objects.filter(recipient=agent.user).count() <= 12 * 4  # one per conversation per batch
    assert ITEMS / elapsed > 100
