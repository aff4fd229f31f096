import time

import pytest

from scrm.channels.simulator import simulated_item
from scrm.services.channels import deliveries_record
from scrm.services.inbox import deliveries_process
from scrm.tests.factories import make_channel
from suite.models import Role

pytestmark = pytest.mark.django_db


def test_measure(company, member):
    agent = member(company, Role.SERVICE)
    channel = make_channel(company, "simulator", default_assignee=agent.user)
    items = [simulated_item(channel.pk, n) for n in range(1, 2001)]
    t0 = time.perf_counter()
    deliveries_record(channel=channel, events=items)
    t1 = time.perf_counter()
    while deliveries_process(channel_id=channel.pk).deliveries:
        pass
    t2 = time.perf_counter()
    print(f"\nrecord 2000: {t1-t0:.2f}s ({2000/(t1-t0):.0f}/s); process: {t2-t1:.2f}s ({2000/(t2-t1):.0f}/s)")
