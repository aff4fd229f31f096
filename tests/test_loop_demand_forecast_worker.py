"""Flows 7 and 10 through a real Celery worker (issue #7): committed pipeline and intent snapshots reach ERP's
forecast with no in-process relay involved."""

from __future__ import annotations

import pytest

from crm.services.demand_signals import intent_snapshot_publish, pipeline_forecast_publish
from crm.services.segments import contact_tags_apply
from crm.services.tags import tag_create
from crm.tests.factories import ContactFactory
from erp.models import DemandForecast
from erp.tests.catalogue import catalogue_product
from erp.tests.sales_support import make_shop
from suite.models import OutboxEvent, Role
from suite.testing import make_member
from tests.test_loop_demand_forecast import deal
from tests.test_loop_won_to_promise_worker import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def test_snapshots_become_forecast_lines_through_the_worker(transactional_db, company, celery_worker_process):
    make_shop(company)
    owner = make_member(company, Role.SALES, username="sunba").user
    pump = catalogue_product(company, list_price="500", sku="PUMP-W")
    deal(company, owner, (pump, 10), probability=50)
    intent = tag_create(company=company, name="intent:PUMP-W", by=owner)
    contact = ContactFactory(company=company, by=owner)
    contact_tags_apply(company_id=company.pk, contact_ids=[contact.pk], add_tag_ids=[intent.pk], rule="scrm:9 意向")

    pipeline = pipeline_forecast_publish(company=company)  # committed: the relay task is queued on commit
    intents = intent_snapshot_publish(company=company)

    sources = lambda: set(DemandForecast.objects.filter(company=company).values_list("source", flat=True))  # noqa: E731
    assert wait_for(lambda: sources() == {"crm_pipeline", "social_intent"}), celery_worker_process.log()
    lines = {line.source: line for line in DemandForecast.objects.filter(company=company)}
    assert str(lines["crm_pipeline"].quantity.normalize()) == "5"
    assert lines["social_intent"].reference["contact_ids"] == [contact.pk]
    replaced = OutboxEvent.objects.filter(name="erp.demand_forecast.replaced")
    assert {event.correlation_id for event in replaced} == {pipeline.correlation_id, intents.correlation_id}
