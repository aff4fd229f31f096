"""Closed loop, flow 4 through a real Celery worker (suite/testing_worker.py) on real Redis and PostgreSQL: an
invoice posted and paid in committed transactions reaches the CRM customer's finance facts, and the overdue task
run by the worker gives the owner one follow-up task."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import Activity, CustomerFinance
from crm.tests.factories import AccountFactory
from erp.models import Journal
from erp.services import invoicing, partners, sales
from erp.tests.sales_support import make_shop
from suite.models import OutboxEvent, Role
from suite.testing import make_member

pytestmark = [pytest.mark.worker, pytest.mark.slow]
D = Decimal


def wait_until(condition, timeout: float = 60.0, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def test_invoice_overdue_and_payment_reach_the_crm_through_the_worker(transactional_db, celery_worker_process):
    from erp.tasks import invoices_overdue_publish

    shop = make_shop()
    owner = make_member(shop.company, Role.SALES).user
    account = AccountFactory(company=shop.company, owner=owner)
    customer = partners.partner_create(company=shop.company, name=account.name, is_customer=True,
                                       crm_account_id=account.pk)  # fmt: skip
    product = shop.product(stock=D("10"))
    order = shop.confirmed((product, 3), partner=customer)
    delivery = order.deliveries.get()
    sales.delivery_pick(delivery=delivery)
    sales.delivery_ship(delivery=delivery)
    invoice = invoicing.invoice_post(
        invoice=sales.sales_order_invoice(order=order, invoice_date=timezone.localdate() - timedelta(days=60))
    )

    facts = wait_until(
        lambda: CustomerFinance.objects.filter(account=account, outstanding=D("339.00")).first(),
        message="the posted invoice in the CRM",
    )
    assert facts.lifetime_revenue == D("300.00")

    invoices_overdue_publish.delay()  # what beat does every hour
    wait_until(lambda: Activity.objects.filter(account=account, kind="task").exists(), message="the follow-up task")
    assert CustomerFinance.objects.get(account=account).overdue == D("339.00")

    invoicing.payment_create(
        company=shop.company, payment_type="inbound", partner=customer, amount=invoice.amount_total,
        journal=Journal.objects.get(company=shop.company, code="BNK"), date=timezone.localdate(),
    )  # fmt: skip
    wait_until(
        lambda: CustomerFinance.objects.filter(account=account, outstanding=D("0.00"), overdue=D("0.00")).exists(),
        message="the payment in the CRM",
    )
    wait_until(lambda: not OutboxEvent.objects.exclude(state="done").exists(), message="every event delivered")
    assert Activity.objects.filter(account=account, kind="task").count() == 1
    correlations = set(
        OutboxEvent.objects.filter(
            name__in=["erp.invoice.posted", "erp.invoice.overdue", "erp.payment.received"]
        ).values_list("correlation_id", flat=True)
    )
    assert correlations == {order.correlation_id}
