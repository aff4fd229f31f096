"""Closed loop, flows 7 and 10 (issue #7): CRM's weighted pipeline and its customers' social purchase intents
become ERP demand forecasts that MRP nets against the month's orders. Every hop through the outbox relay,
in-process; duplicates applied once; a handler that finds its source busy fails, is retried and succeeds once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import Stage, Tag
from crm.services.demand_signals import intent_snapshot_publish, pipeline_forecast_publish
from crm.services.opportunities import opportunity_create, opportunity_move, opportunity_win
from crm.services.quotes import opportunity_line_add
from crm.services.segments import contact_tags_apply
from crm.services.tags import tag_create
from crm.tests.factories import AccountFactory, ContactFactory
from erp.events_forecasting import forecast_from_pipeline, forecast_from_social_intent
from erp.models import DemandForecast, MrpRun, PlannedOrder
from erp.services.forecasting import forecast_settings_set
from erp.services.mrp import mrp_run_execute, mrp_run_start
from erp.tests.catalogue import catalogue_product
from erp.tests.sales_support import make_shop
from suite.events.selectors import trace
from suite.models import HandlerRun, OutboxEvent, Role
from suite.testing import api_client_for, make_member
from tests.loop_support import advisory_lock_held, as_event, redeliver, relay_all

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def shop(company):
    return make_shop(company)


@pytest.fixture
def owner(company):
    return make_member(company, Role.SALES, username="zhaoliu").user


def month(offset: int = 0) -> dt.date:
    day = timezone.localdate().replace(day=1)
    for _ in range(offset):
        day = (day + dt.timedelta(days=32)).replace(day=1)
    return day


def deal(company, owner, *items, probability: int, closing=None):
    account = AccountFactory(company=company, by=owner)
    opportunity = opportunity_create(
        company=company, by=owner, name="液压泵采购", account=account, expected_close_date=closing
    )
    for product, quantity in items:
        opportunity_line_add(opportunity=opportunity, by=owner, product_id=product.pk, quantity=str(quantity))
    stage = Stage.objects.get(pipeline=opportunity.stage.pipeline, probability=probability)
    if stage.pk != opportunity.stage_id:
        opportunity = opportunity_move(opportunity=opportunity, stage=stage, by=owner)
    return opportunity


def forecast(company, source):
    return {
        (line.product_id, line.date): line
        for line in DemandForecast.objects.filter(company=company, source=source).order_by("product_id", "date")
    }


def test_weighted_pipeline_becomes_the_forecast_mrp_nets_against_orders(company, shop, owner):
    pump = catalogue_product(company, list_price="500", sku="PUMP-50")
    valve = catalogue_product(company, list_price="80", sku="VALVE-8")
    next_month = month(1)
    half = deal(company, owner, (pump, 10), probability=50, closing=next_month + dt.timedelta(days=9))
    third = deal(company, owner, (pump, 10), probability=30)  # no close date: this month
    deal(company, owner, (valve, 4), probability=70, closing=next_month)
    won = deal(company, owner, (pump, 2), probability=70)
    opportunity_win(opportunity=won, by=owner)  # won: leaves the pipeline, becomes a sales order (flow 1)
    relay_all()

    published = pipeline_forecast_publish(company=company, by=owner)
    relay_all()

    lines = forecast(company, "crm_pipeline")
    assert {key: line.quantity for key, line in lines.items()} == {
        (pump.pk, month()): D("3"),
        (pump.pk, next_month): D("5"),
        (valve.pk, next_month): D("2.8"),
    }
    assert lines[(pump.pk, next_month)].reference["opportunity_ids"] == [half.pk]
    assert lines[(pump.pk, month())].reference == {
        "snapshot_at": published.payload["snapshot_at"],
        "opportunities": 1,
        "opportunity_ids": [third.pk],
    }
    replaced = OutboxEvent.objects.get(name="erp.demand_forecast.replaced")
    assert replaced.payload["source"] == "crm_pipeline" and replaced.payload["total_quantity"] == "10.8000"
    # one correlation id: the snapshot, ERP's handler run and the event it published
    assert replaced.correlation_id == published.correlation_id
    chain = trace(published.correlation_id, company=company)
    assert [event.name for event in chain] == ["crm.pipeline_forecast.published", "erp.demand_forecast.replaced"]
    assert ("erp.forecast_from_pipeline", "done") in [(run.handler, run.status) for run in chain[0].runs]

    # MRP: this month max(forecast 3, ordered 2) = 3, next month the forecast 5 (no stock, nothing expected)
    run = MrpRun.objects.filter(company=company, warehouse=shop.warehouse, status="queued").first()
    run = run or mrp_run_start(company=company, warehouse=shop.warehouse, queue=False)
    mrp_run_execute(run_id=run.pk)
    planned = PlannedOrder.objects.filter(run=run, product=pump)
    assert sum(p.quantity for p in planned) == D("8")
    assert any("forecast crm_pipeline" in p.explanation and "(3 − 2 ordered)" in p.explanation for p in planned)

    # the same snapshot delivered again, and the handler re-run by hand: the same lines, nothing published again
    ids = sorted(line.pk for line in lines.values())
    assert redeliver("crm.pipeline_forecast.published") == 1
    forecast_from_pipeline(as_event(published))
    relay_all()
    assert sorted(line.pk for line in forecast(company, "crm_pipeline").values()) == ids
    assert OutboxEvent.objects.filter(name="erp.demand_forecast.replaced").count() == 1


def test_a_newer_snapshot_replaces_the_forecast_and_an_older_one_changes_nothing(company, shop, owner):
    pump = catalogue_product(company, list_price="500")
    first_deal = deal(company, owner, (pump, 10), probability=50)
    older = pipeline_forecast_publish(company=company)
    opportunity_win(opportunity=first_deal, by=owner)
    newer = pipeline_forecast_publish(company=company)
    deal(company, owner, (pump, 20), probability=10)
    newest = pipeline_forecast_publish(company=company)
    OutboxEvent.objects.filter(pk__in=[older.pk, newer.pk]).update(state="delivered")  # arrive late, below
    relay_all()
    assert {key: line.quantity for key, line in forecast(company, "crm_pipeline").items()} == {
        (pump.pk, month()): D("2")
    }

    OutboxEvent.objects.filter(pk=older.pk).update(state="pending")  # a late redelivery of an older snapshot
    relay_all()
    assert {key: line.quantity for key, line in forecast(company, "crm_pipeline").items()} == {
        (pump.pk, month()): D("2")
    }
    assert (
        forecast(company, "crm_pipeline")[(pump.pk, month())].reference["snapshot_at"] == newest.payload["snapshot_at"]
    )


def test_a_busy_forecast_source_fails_the_handler_then_the_retry_applies_it_once(company, shop, owner):
    pump = catalogue_product(company, list_price="500")
    deal(company, owner, (pump, 10), probability=50)
    published = pipeline_forecast_publish(company=company)
    now = timezone.now()

    with advisory_lock_held(f"erp.forecast:{company.pk}:crm_pipeline"):  # another replace of the same source
        relay_all(now=now)

    run = HandlerRun.objects.get(event=published, handler="erp.forecast_from_pipeline")
    assert (run.status, run.attempts) == ("failed", 1) and "being replaced" in run.last_error
    assert not DemandForecast.objects.filter(company=company).exists()

    relay_all(now=now + dt.timedelta(minutes=5))

    run.refresh_from_db()
    assert run.status == "done"
    assert [line.quantity for line in forecast(company, "crm_pipeline").values()] == [D("5")]
    assert OutboxEvent.objects.filter(name="erp.demand_forecast.replaced").count() == 1


def test_social_intent_tags_become_traceable_forecast_lines_at_the_company_rate(company, shop, owner):
    pump = catalogue_product(company, list_price="500", sku="PUMP-50")
    forecast_settings_set(company=company, intent_conversion_rate="0.5", intent_horizon_days=14)
    intent = tag_create(company=company, name="intent:PUMP-50", by=owner)
    unknown = tag_create(company=company, name="intent:NO-SUCH-SKU", by=owner)
    contacts = [ContactFactory(company=company, by=owner) for _ in range(3)]
    ids = sorted(contact.pk for contact in contacts)
    contact_tags_apply(company_id=company.pk, contact_ids=ids, add_tag_ids=[intent.pk], rule="scrm:1 意向")
    contact_tags_apply(company_id=company.pk, contact_ids=ids[:1], add_tag_ids=[unknown.pk], rule="scrm:1 意向")

    published = intent_snapshot_publish(company=company, by=owner)
    relay_all()

    [line] = DemandForecast.objects.filter(company=company, source="social_intent")
    assert (line.product_id, line.quantity) == (pump.pk, D("1.5"))  # 3 customers × 0.5
    assert line.date == timezone.localdate() + dt.timedelta(days=14)
    assert line.reference == {
        "snapshot_at": published.payload["snapshot_at"],
        "tag": "intent:PUMP-50",
        "customers": 3,
        "contact_ids": ids,
        "conversion_rate": "0.5000",
    }
    replaced = OutboxEvent.objects.get(name="erp.demand_forecast.replaced")
    assert replaced.correlation_id == published.correlation_id and replaced.payload["source"] == "social_intent"
    # the API shows the customers behind the line
    api = api_client_for(make_member(company, Role.PRODUCTION))
    answer = api.get("/api/v1/erp/production/forecasts/", {"source": "social_intent"})
    assert answer.status_code == 200
    [row] = answer.json()["results"]
    assert row["reference"]["contact_ids"] == ids and row["reference"]["customers"] == 3

    # duplicate delivery and a by-hand re-run: applied once
    redeliver("crm.intent_snapshot.published")
    forecast_from_social_intent(as_event(published))
    relay_all()
    assert DemandForecast.objects.filter(company=company, source="social_intent").get().pk == line.pk
    assert OutboxEvent.objects.filter(name="erp.demand_forecast.replaced").count() == 1

    # a customer loses the intent: the next snapshot counts two
    contact_tags_apply(company_id=company.pk, contact_ids=ids[:1], remove_tag_ids=[intent.pk], rule="scrm:1 意向")
    intent_snapshot_publish(company=company)
    relay_all()
    [line] = DemandForecast.objects.filter(company=company, source="social_intent")
    assert line.quantity == D("1") and line.reference["contact_ids"] == ids[1:]
    assert OutboxEvent.objects.filter(name="erp.demand_forecast.replaced").count() == 2


def test_a_busy_intent_source_fails_the_handler_then_the_retry_applies_it_once(company, shop, owner):
    catalogue_product(company, list_price="500", sku="VALVE-8")
    intent = tag_create(company=company, name="intent:VALVE-8", by=owner)
    contact = ContactFactory(company=company, by=owner)
    contact_tags_apply(company_id=company.pk, contact_ids=[contact.pk], add_tag_ids=[intent.pk], rule="scrm:2 意向")
    published = intent_snapshot_publish(company=company)
    now = timezone.now()

    with advisory_lock_held(f"erp.forecast:{company.pk}:social_intent"):
        relay_all(now=now)

    run = HandlerRun.objects.get(event=published, handler="erp.forecast_from_social_intent")
    assert (run.status, run.attempts) == ("failed", 1)
    relay_all(now=now + dt.timedelta(minutes=5))
    run.refresh_from_db()
    assert run.status == "done"
    [line] = DemandForecast.objects.filter(company=company, source="social_intent")
    assert line.quantity == D("0.1") and line.reference["contact_ids"] == [contact.pk]  # the default rate
    assert Tag.objects.filter(company=company, name__startswith="intent:").count() == 1
    assert OutboxEvent.objects.filter(name="erp.demand_forecast.replaced").count() == 1


def test_an_administrator_publishes_the_snapshots_on_demand_and_sets_the_rate_over_the_api(company, shop, owner):
    pump = catalogue_product(company, list_price="500", sku="PUMP-50")
    deal(company, owner, (pump, 10), probability=50)
    admin = api_client_for(make_member(company, Role.ADMIN))
    assert (
        api_client_for(make_member(company, Role.SALES)).post("/api/v1/crm/demand-signals/publish/").status_code == 403
    )

    settings = admin.post(
        "/api/v1/erp/forecast-settings/set/", {"intent_conversion_rate": "0.2", "intent_horizon_days": 7}, format="json"
    )
    assert settings.status_code == 200 and settings.json()["intent_conversion_rate"] == "0.2000"
    bad = admin.post("/api/v1/erp/forecast-settings/set/", {"intent_horizon_days": 900}, format="json")
    assert bad.status_code == 400 and "intent_horizon_days" in str(bad.json())

    answer = admin.post("/api/v1/crm/demand-signals/publish/")

    assert answer.status_code == 200
    body = answer.json()
    assert (body["pipeline"]["count"], body["intents"]["count"]) == (1, 0)
    relay_all()
    assert [line.quantity for line in forecast(company, "crm_pipeline").values()] == [D("5")]
    assert str(OutboxEvent.objects.get(name="crm.pipeline_forecast.published").uuid) == body["pipeline"]["event_id"]


def test_forecast_lists_take_a_fixed_number_of_queries(company, shop, owner, django_assert_max_num_queries):
    products = [catalogue_product(company, list_price="10") for _ in range(12)]
    for product in products:
        deal(company, owner, (product, 10), probability=50)
    pipeline_forecast_publish(company=company)
    relay_all()
    forecast_settings_set(company=company, intent_conversion_rate="0.3")
    api = api_client_for(make_member(company, Role.ADMIN))
    api.get("/api/v1/erp/production/forecasts/")  # warm the session and membership caches

    with django_assert_max_num_queries(8):
        answer = api.get("/api/v1/erp/production/forecasts/", {"source": "crm_pipeline"})
    assert answer.status_code == 200 and answer.json()["count"] == 12
    with django_assert_max_num_queries(8):
        settings = api.get("/api/v1/erp/forecast-settings/")
    assert settings.json()["results"][0]["intent_conversion_rate"] == "0.3000"
