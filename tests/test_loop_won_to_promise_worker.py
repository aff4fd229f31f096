"""Flow 1 through a real Celery worker (issue #7): a deal won in a committed transaction reaches ERP, the
sales order is confirmed and the promised date is back on the deal — no in-process relay involved."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from crm.models import Opportunity
from erp.models import SalesOrder
from erp.tests.catalogue import catalogue_product, expect_supply
from erp.tests.sales_support import make_shop
from suite.models import OutboxEvent, Role
from suite.testing import make_member
from tests.test_loop_won_to_promise import won_deal

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_won_deal_gets_its_promised_date_through_the_worker(transactional_db, company, celery_worker_process):
    shop = make_shop(company)
    owner = make_member(company, Role.SALES, username="zhaoliu").user
    today = timezone.localdate()
    product = catalogue_product(company, list_price="50", on_hand="5", warehouse=shop.warehouse)
    expect_supply(product, quantity="10", on=today + dt.timedelta(days=7), warehouse=shop.warehouse)

    deal = won_deal(company, owner, (product, 12))  # committed: the relay task is queued on commit

    promised = lambda: Opportunity.objects.filter(pk=deal.pk, promised_date__isnull=False).exists()  # noqa: E731
    # No timing assert (the house rule): the promise comes through the real worker; how fast is bench
    # loop_latency's figure.
    assert wait_for(promised), celery_worker_process.log()
    deal.refresh_from_db()
    assert deal.promised_date == today + dt.timedelta(days=7)
    assert SalesOrder.objects.filter(crm_opportunity_id=deal.pk).count() == 1
    won = OutboxEvent.objects.get(name="crm.opportunity.won")
    assert OutboxEvent.objects.get(name="erp.sales_order.confirmed").correlation_id == won.correlation_id
