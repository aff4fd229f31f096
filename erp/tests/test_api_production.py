"""The production API and pages: the whole flow over HTTP, field errors (400) and conflicts (409) with nothing
written, roles, and bounded queries on every list and page."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from erp.models import MrpRun, PlannedOrder, ProductionOrder
from erp.services import mrp
from erp.services import production as prod
from suite.models import Role
from suite.testing import api_client_for, make_member

D = Decimal
BASE = "/api/v1/erp/production"
pytestmark = pytest.mark.django_db


def test_order_flow_over_the_api(plant):
    plant.stock(plant.housing, "10", "20")
    plant.stock(plant.bolt, "20", "5")
    api = api_client_for(make_member(plant.company, Role.PRODUCTION))
    due = (timezone.localdate() + dt.timedelta(days=5)).isoformat()
    created = api.post(
        f"{BASE}/orders/",
        {"product": plant.pump.pk, "quantity": "10", "warehouse": plant.warehouse.pk, "due_date": due},
        format="json",
    )
    assert created.status_code == 201, created.json()
    order = created.json()
    assert order["state"] == "draft" and len(order["materials"]) == 2 and len(order["operations"]) == 2
    released = api.post(f"{BASE}/orders/{order['id']}/release/")
    assert released.status_code == 200 and released.json()["promised_at"]
    first, last = released.json()["operations"]
    assert api.post(f"{BASE}/operations/{first['id']}/start/").json()["state"] == "running"
    assert (
        api.post(f"{BASE}/operations/{first['id']}/report/", {"good_quantity": "10", "finish": True}).status_code == 200
    )
    too_many = api.post(f"{BASE}/operations/{last['id']}/report/", {"good_quantity": "11"}, format="json")
    assert too_many.status_code == 400 and "good_quantity" in str(too_many.json())
    done = api.post(f"{BASE}/orders/{order['id']}/receive/", {"quantity": "10", "lot_code": "GP-A"}, format="json")
    assert done.status_code == 201 and done.json()["lot_code"] == "GP-A"
    final = api.get(f"{BASE}/orders/{order['id']}/").json()
    costs = D(final["material_cost"]) + D(final["labour_cost"]) + D(final["overhead_cost"])
    assert final["state"] == "done" and D(final["finished_cost"]) == costs and D(final["material_cost"]) == D("300")
    again = api.post(f"{BASE}/orders/{order['id']}/release/")
    assert again.status_code == 409


def test_release_short_is_409_and_bad_input_400(plant):
    api = api_client_for(make_member(plant.company, Role.PRODUCTION))
    order = prod.production_order_create(
        company=plant.company,
        product=plant.pump,
        quantity=D("10"),
        warehouse=plant.warehouse,
        due_date=timezone.localdate() + dt.timedelta(days=5),
    )
    short = api.post(f"{BASE}/orders/{order.pk}/release/")
    assert short.status_code == 409 and short.json()["errors"][0]["code"] == "insufficient_stock"
    assert ProductionOrder.objects.get(pk=order.pk).state == "draft"
    bad = api.post(
        f"{BASE}/boms/",
        {"product": plant.bolt.pk, "lines": [{"component": plant.casting.pk, "quantity": "1", "scrap_factor": "1.5"}]},
        format="json",
    )
    assert bad.status_code == 400
    past = api.post(
        f"{BASE}/orders/",
        {"product": plant.pump.pk, "quantity": "1", "warehouse": plant.warehouse.pk, "due_date": "2000-01-01"},
        format="json",
    )
    assert past.status_code == 400 and "due_date" in str(past.json())


def test_mrp_run_planned_order_confirm_and_forecasts_over_the_api(plant):
    api = api_client_for(make_member(plant.company, Role.PRODUCTION))
    day = (timezone.localdate() + dt.timedelta(days=8)).isoformat()
    replaced = api.post(
        f"{BASE}/forecasts/replace/",
        {"source": "crm_pipeline", "lines": [{"product": plant.pump.pk, "date": day, "quantity": "4"}]},
        format="json",
    )
    assert replaced.status_code == 200 and replaced.json()["count"] == 1
    queued = api.post(f"{BASE}/mrp-runs/", {"warehouse": plant.warehouse.pk, "bucket_days": 7}, format="json")
    assert queued.status_code == 201 and queued.json()["status"] == "queued"
    mrp.mrp_run_execute(run_id=queued.json()["id"])
    run = api.get(f"{BASE}/mrp-runs/{queued.json()['id']}/").json()
    assert (run["status"], run["progress"]) == ("done", 100)
    planned = api.get(f"{BASE}/planned-orders/", {"run": run["id"], "product": plant.pump.pk}).json()["results"]
    assert planned[0]["quantity"] == "4.0000" and "forecast crm_pipeline" in planned[0]["explanation"]
    confirmed = api.post(f"{BASE}/planned-orders/{planned[0]['id']}/confirm/", {}, format="json")
    assert confirmed.status_code == 200 and confirmed.json()["production_order"]
    assert api.post(f"{BASE}/planned-orders/{planned[0]['id']}/confirm/", {}, format="json").status_code == 409


def test_sales_may_not_run_mrp_or_see_orders(plant):
    api = api_client_for(make_member(plant.company, Role.SALES))
    assert api.post(f"{BASE}/mrp-runs/", {"warehouse": plant.warehouse.pk}, format="json").status_code == 403
    assert api.get(f"{BASE}/orders/").status_code == 403
    assert not MrpRun.objects.filter(company=plant.company).exists()


def test_lists_and_pages_have_bounded_queries(plant, client, django_assert_max_num_queries):
    plant.stock(plant.housing, "30", "20")
    plant.stock(plant.bolt, "60", "5")
    member = make_member(plant.company, Role.PRODUCTION)
    api = api_client_for(member)
    for _ in range(3):
        order = prod.production_order_create(
            company=plant.company,
            product=plant.pump,
            quantity=D("10"),
            warehouse=plant.warehouse,
            due_date=timezone.localdate() + dt.timedelta(days=5),
        )
        prod.production_order_release(order=order)
    mrp.forecast_lines_replace(
        company=plant.company,
        source="manual",
        lines=[{"product": plant.pump, "date": timezone.localdate() + dt.timedelta(days=9), "quantity": "40"}],
    )
    run = mrp.mrp_run_start(company=plant.company, warehouse=plant.warehouse, queue=False)
    mrp.mrp_run_execute(run_id=run.pk)
    assert PlannedOrder.objects.filter(run=run).count() >= 3
    for url in (
        "orders/",
        "operations/",
        "boms/",
        "routings/",
        "work-centers/",
        "work-calendars/",
        "planning/",
        "forecasts/",
        "mrp-runs/",
        "planned-orders/",
        "inspection-plans/",
        "inspections/",
        "non-conformances/",
        "defect-rates/",
    ):
        with django_assert_max_num_queries(12):
            assert api.get(f"{BASE}/{url}").status_code == 200, url
    client.force_login(member.user)
    order = ProductionOrder.objects.filter(company=plant.company).first()
    for url in (
        "/erp/production/",
        "/erp/production/mrp/",
        f"/erp/production/mrp/{run.pk}/",
        "/erp/production/shop-floor/",
        "/erp/production/gantt/",
        "/erp/production/quality/",
        f"/erp/production/orders/{order.pk}/",
    ):
        with django_assert_max_num_queries(30):
            response = client.get(url)
            assert response.status_code == 200, url
    assert b"<svg" in client.get("/erp/production/gantt/").content
