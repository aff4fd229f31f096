"""Closed loop: a production order knows the sales orders it is made for by id (MRP stores ``sales_order_id`` with
each covered requirement; confirming the planned order sets ``ProductionOrder.sales_order``), not by parsing the
"SO… line …" labels of MRP's explanation. The production events carry the order's correlation id and pegging."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from crm.services.opportunities import opportunity_create, opportunity_win
from crm.services.quotes import opportunity_line_add
from crm.tests.factories import AccountFactory
from erp.models import MrpRun, MrpRunStatus, PlannedOrder, SalesOrder
from erp.selectors.fulfilment import sales_orders_fed_by
from erp.services import mrp
from erp.services import production as prod
from erp.tests.production_support import make_plant
from erp.tests.test_services_mrp import confirmed_order
from suite.models import OutboxEvent, Role
from suite.testing import make_member
from tests.loop_support import relay_all

pytestmark = pytest.mark.django_db
D = Decimal


def test_the_production_order_is_pegged_to_its_sales_order_by_id_not_by_label():
    plant = make_plant()
    company = plant.company
    owner = make_member(company, Role.SALES).user
    account = AccountFactory(company=company, owner=owner, name="无锡恒泰泵阀有限公司")
    deal = opportunity_create(company=company, by=owner, name="齿轮泵 3 台", account=account, amount="0")
    opportunity_line_add(opportunity=deal, by=owner, product_id=plant.pump.pk, quantity="3", unit_price="500")
    opportunity_win(opportunity=deal, by=owner)
    relay_all()
    order = SalesOrder.objects.get(company=company, crm_opportunity_id=deal.pk)
    queued = MrpRun.objects.filter(company=company, status=MrpRunStatus.QUEUED).order_by("pk").last()
    queued = queued or mrp.mrp_run_start(company=company, warehouse=plant.warehouse, queue=False)
    run = mrp.mrp_run_execute(run_id=queued.pk, today=timezone.localdate())
    planned = run.planned_orders.get(product=plant.pump)
    assert [c["sales_order_id"] for c in planned.covers if "sales_order_id" in c] == [order.pk]

    # the explanation's labels are for people: rewriting them changes no link
    relabelled = [{**c, "source": "需求（已改名）"} for c in planned.covers]
    PlannedOrder.objects.filter(pk=planned.pk).update(covers=relabelled)
    planned.refresh_from_db()
    production_order = mrp.planned_order_confirm(planned=planned).production_order

    assert production_order.sales_order_id == order.pk
    assert [o["sales_order_id"] for o in sales_orders_fed_by(production_order)] == [order.pk]
    plant.stock(plant.housing, "3", "60")
    plant.stock(plant.bolt, "6", "5")
    prod.production_order_release(order=production_order, schedule=False)
    relay_all()
    released = OutboxEvent.objects.get(name="erp.production_order.released")
    assert released.correlation_id == order.correlation_id
    assert [o["number"] for o in released.payload["sales_orders"]] == [order.number]


def test_covers_stored_before_the_ids_still_resolve_by_their_label():
    plant = make_plant()
    production_order = prod.production_order_create(
        company=plant.company,
        product=plant.pump,
        quantity=D("2"),
        warehouse=plant.warehouse,
        due_date=timezone.localdate(),
    )
    assert production_order.sales_order_id is None and sales_orders_fed_by(production_order) == []
    run = mrp.mrp_run_start(company=plant.company, warehouse=plant.warehouse, queue=False)
    order = confirmed_order(plant, plant.pump, "2", timezone.localdate())
    PlannedOrder.objects.create(
        company=plant.company, run=run, product=plant.pump, kind="produce", quantity=D("2"),
        due_date=timezone.localdate(), release_date=timezone.localdate(), level=0,
        covers=[{"source": f"{order.number} line 1", "due": timezone.localdate().isoformat(), "quantity": "2"}],
        production_order=production_order, state="confirmed",
    )  # fmt: skip
    assert [o["sales_order_id"] for o in sales_orders_fed_by(production_order)] == [order.pk]
