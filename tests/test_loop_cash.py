"""Closed loop, flow 4 — cash → CRM: ERP invoices, payments and overdue notices keep the CRM customer's finance
facts (outstanding, overdue, lifetime revenue, last payment) and give the account owner a follow-up task.

Everything goes through the real outbox relay on PostgreSQL (in-process ``relay_batch``)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.events_finance import customer_finance_on_invoice_posted
from crm.models import Activity, CustomerFinance
from crm.services.finance import FINANCE_LOCK_KEY
from crm.tests.factories import AccountFactory
from erp.services import invoicing, partners, sales
from erp.services.collections import invoices_overdue_publish
from erp.tests.sales_support import make_shop
from suite.models import HandlerRun, Notification, OutboxEvent, Role
from suite.testing import make_member
from tests.loop_support import advisory_lock_held, as_event, redeliver, relay_all

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def books():
    """An ERP shop whose customer mirrors a CRM account owned by a salesperson."""
    shop = make_shop()
    owner = make_member(shop.company, Role.SALES).user
    account = AccountFactory(company=shop.company, owner=owner, name="华东精密机械有限公司")
    customer = partners.partner_create(
        company=shop.company, name=account.name, is_customer=True, crm_account_id=account.pk, credit_limit=D("5000")
    )
    product = shop.product(stock=D("50"))
    return shop, account, customer, product, owner


def _invoiced(shop, customer, product, quantity=10, invoice_date=None):
    order = shop.confirmed((product, quantity), partner=customer)
    delivery = order.deliveries.get()
    sales.delivery_pick(delivery=delivery, picks=[{"line": delivery.lines.get().pk, "quantity": quantity}])
    sales.delivery_ship(delivery=delivery)
    return invoicing.invoice_post(invoice=sales.sales_order_invoice(order=order, invoice_date=invoice_date))


def _facts(account) -> tuple:
    f = CustomerFinance.objects.get(account=account)
    return f.outstanding, f.overdue, f.lifetime_revenue, f.credit_limit, f.last_payment_amount


def test_invoice_overdue_and_payment_reach_the_crm_customer_applied_once(books):
    shop, account, customer, product, owner = books

    invoice = _invoiced(shop, customer, product)  # 10 × 100.00 + 13 % VAT
    relay_all()
    assert _facts(account) == (D("1130.00"), D("0.00"), D("1000.00"), D("5000.00"), None)
    assert redeliver("erp.invoice.posted") == 1  # duplicate delivery: nothing runs again
    assert HandlerRun.objects.filter(handler="crm.customer_finance_on_invoice_posted").count() == 1

    # Past its due date the beat task announces it once; the owner gets one follow-up task.
    later = invoice.due_date + timedelta(days=5)
    assert invoices_overdue_publish(today=later, company_id=shop.company.pk) == 1
    assert invoices_overdue_publish(today=later, company_id=shop.company.pk) == 0
    overdue = OutboxEvent.objects.get(name="erp.invoice.overdue")
    assert (overdue.payload["invoice_id"], overdue.payload["days_overdue"]) == (invoice.pk, 5)
    relay_all()
    redeliver("erp.invoice.overdue")
    task = Activity.objects.get(account=account, kind="task")
    assert task.owner == owner and invoice.number in task.subject and "5" in task.subject
    assert task.body.endswith(f"[erp-invoice-overdue:{invoice.pk}]")
    assert Notification.objects.filter(recipient=owner, level="warning").count() == 1
    # overdue in the CRM is what ERP says is overdue today (the invoice is not yet due by the real clock)
    assert CustomerFinance.objects.get(account=account).source_event_id == overdue.pk

    shop.paid(invoice, D("400.00"))
    relay_all()
    assert _facts(account)[0] == D("730.00")
    shop.paid(invoice, D("730.00"))
    relay_all()
    redeliver("erp.payment.received", "erp.invoice.paid")
    outstanding, overdue_amount, revenue, _limit, last_amount = _facts(account)
    assert (outstanding, overdue_amount, revenue, last_amount) == (D("0.00"), D("0.00"), D("1000.00"), D("730.00"))
    assert CustomerFinance.objects.get(account=account).last_payment_date == timezone.localdate()
    assert Activity.objects.filter(account=account, kind="task").count() == 1


def test_a_late_or_out_of_order_event_leaves_the_current_figures(books):
    shop, account, customer, product, _owner = books
    invoice = _invoiced(shop, customer, product, quantity=2)
    shop.paid(invoice, invoice.amount_total)
    relay_all()
    assert _facts(account)[0] == D("0.00")

    # The "posted" event (which saw 226.00 open) arrives again, late, handled by a fresh handler call.
    customer_finance_on_invoice_posted(as_event(OutboxEvent.objects.get(name="erp.invoice.posted")))
    assert _facts(account)[:3] == (D("0.00"), D("0.00"), D("200.00"))


def test_a_busy_account_fails_the_handler_which_is_retried_then_applied_once(books, settings):
    settings.TROIKA_OUTBOX_BACKOFF_SECONDS = 1.0
    shop, account, customer, product, _owner = books
    with advisory_lock_held(FINANCE_LOCK_KEY, account.pk):
        _invoiced(shop, customer, product, quantity=3)
        relay_all()
        run = HandlerRun.objects.get(handler="crm.customer_finance_on_invoice_posted")
        assert (run.status, run.attempts) == ("failed", 1)
        assert "being refreshed" in run.last_error
        assert not CustomerFinance.objects.filter(account=account).exists()
    relay_all(now=timezone.now() + timedelta(seconds=5))
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("done", 2)
    assert _facts(account)[0] == D("339.00")
    # the event's other handlers succeeded the first time and did not run again
    others = HandlerRun.objects.filter(event=run.event).exclude(pk=run.pk)
    assert others and {(r.status, r.attempts) for r in others} == {("done", 1)}


def test_vendor_bills_and_unknown_accounts_are_ignored(books):
    shop, _account, _customer, product, _owner = books
    other = partners.partner_create(company=shop.company, name="散客", is_customer=True, crm_account_id=999_999_999)
    _invoiced(shop, other, product, quantity=1)
    relay_all()
    assert not CustomerFinance.objects.exists()


def test_the_account_list_shows_receivables_filters_overdue_in_fixed_queries(books, django_assert_max_num_queries):
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    shop, account, customer, product, owner = books
    invoice = _invoiced(shop, customer, product, quantity=1, invoice_date=timezone.localdate() - timedelta(days=60))
    assert invoice.due_date < timezone.localdate()
    assert invoices_overdue_publish(company_id=shop.company.pk) == 1
    relay_all()
    quiet = AccountFactory(company=shop.company, owner=owner, name="无欠款客户")
    client = Client()
    client.force_login(owner)
    url = reverse("crm:account-list")

    connection.queries_log.clear()  # the log is a bounded deque: a long test would capture nothing
    with django_assert_max_num_queries(100) as few:
        html = client.get(url).content.decode()
    baseline = len(few)
    assert ("113.00" in html and "overdue" in html.lower()) or "逾期" in html
    assert 'data-testid="receivables"' in html and quiet.name in html

    overdue_only = client.get(url, {"overdue": "1"}).content.decode()
    assert account.name in overdue_only and quiet.name not in overdue_only

    for i in range(3):  # more accounts with facts: the same number of queries
        other = AccountFactory(company=shop.company, owner=owner, name=f"客户{i}")
        partner = partners.partner_create(
            company=shop.company, name=other.name, is_customer=True, crm_account_id=other.pk
        )
        _invoiced(shop, partner, product, quantity=1)
    relay_all()
    connection.queries_log.clear()
    with django_assert_max_num_queries(baseline) as many:
        html = client.get(url).content.decode()
    assert html.count('data-testid="receivables"') == 5 and len(many) == baseline


def test_the_inbox_sidebar_shows_receivables_overdue_and_credit_limit(books):
    """Flow 12 (sidebar): an agent answering the customer on a social channel sees what the customer owes."""
    from django.test import Client
    from django.urls import reverse

    from crm.tests.factories import ContactFactory
    from scrm.models import Resolution
    from scrm.tests.factories import make_conversation, make_identity

    shop, account, customer, product, _owner = books
    _invoiced(shop, customer, product, quantity=2, invoice_date=timezone.localdate() - timedelta(days=60))
    invoices_overdue_publish(company_id=shop.company.pk)
    relay_all()
    contact = ContactFactory(company=shop.company, name="财务 王会计", account=account)
    identity = make_identity(shop.company, crm_contact_id=contact.pk, crm_account_id=account.pk,
                             resolution=Resolution.AUTO)  # fmt: skip
    conversation = make_conversation(shop.company, identity=identity)
    agent = make_member(shop.company, Role.SERVICE)
    client = Client()
    client.force_login(agent.user)
    page = client.get(reverse("scrm:conversation", args=[conversation.pk])).content.decode()
    assert 'data-testid="customer-credit"' in page
    for testid, figure in (
        ("credit-outstanding", "226.00"),
        ("credit-overdue", "226.00"),
        ("credit-limit", "5,000.00"),
    ):
        start = page.index(f'data-testid="{testid}"')
        assert figure in page[start : start + 300], (testid, page[start : start + 300])

    # a conversation of somebody ERP knows nothing about shows no figures it does not have
    stranger = make_conversation(shop.company)
    assert (
        'data-testid="customer-credit"'
        not in client.get(reverse("scrm:conversation", args=[stranger.pk])).content.decode()
    )
