"""Closed loop, flow 11 — people → customers: HR deactivates an employee (``erp.employee.deactivated``); the CRM
hands their open leads, opportunities, activities, tickets and customers to the successor in one tracked
``OwnerHandover`` job and asks SCRM (``crm.owner_handover.started``) to hand their WeCom customers over; and
commissions on invoices paid in a month reach that month's payroll run as a commission line.

Everything goes through the real outbox relay on PostgreSQL (in-process ``relay_batch``)."""

from __future__ import annotations

import datetime as dt
import threading
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.utils import timezone

from crm.models import Account, Activity, Contact, Lead, Opportunity, OwnerHandover, Ticket
from crm.services.activities import activity_create
from crm.services.leads import lead_create
from crm.services.opportunities import opportunity_create, opportunity_win
from crm.services.tickets import ticket_open
from crm.tests.factories import AccountFactory, ContactFactory
from erp.models import CommissionLine, Journal, Payslip
from erp.services import hr as hr_svc
from erp.services import invoicing, payroll, sales
from erp.tests.sales_support import make_shop
from scrm.models import HandoverJob
from scrm.tests.factories import make_channel
from suite.models import HandlerRun, Membership, Notification, OutboxEvent, Role
from suite.templatetags.troika import person_name
from suite.testing import CompanyFactory, make_member
from tests.loop_support import redeliver, relay_all

D = Decimal
HANDLER = "crm.owner_handover_on_employee_deactivated"


def _book(company, leaver):
    """What the leaver owns: 2 accounts (one with a contact), 2 open leads, 2 open opportunities and a won one,
    1 active ticket, 2 open tasks and a note (done) — and a colleague's lead that must not move."""
    colleague = make_member(company, Role.SALES).user
    first = AccountFactory(company=company, by=leaver, owner=leaver, name="苏州精工机械有限公司")
    AccountFactory(company=company, by=leaver, owner=leaver, name="无锡华信电子有限公司")
    contact = ContactFactory(company=company, by=leaver, owner=leaver, account=first)
    for name in ("周杰", "李娜"):
        lead_create(company=company, by=leaver, owner=leaver, name=name, source="wecom")
    lead_create(company=company, by=colleague, owner=colleague, name="别人的线索", source="wecom")
    deals = [
        opportunity_create(company=company, by=leaver, name=name, account=first, amount="9000.00")
        for name in ("企业培训", "年度维保", "已赢单")
    ]
    opportunity_win(opportunity=deals[2], by=leaver)
    ticket_open(company=company, by=leaver, subject="发票抬头", account=first, contact=contact)
    for subject in ("回访", "报价"):
        activity_create(company=company, by=leaver, kind="task", subject=subject, account=first, due_at=timezone.now())
    activity_create(company=company, by=leaver, kind="note", subject="已完成的记录", account=first)
    return colleague, deals


def _leaver_and_successor(company):
    leaver = make_member(company, Role.SALES, username=f"leaver{company.pk}").user
    successor = make_member(company, Role.SALES, username=f"successor{company.pk}").user
    employee = hr_svc.employee_create(
        company=company, number="E0041", name="王离职", hire_date=dt.date(2024, 1, 1), user=leaver
    )
    return leaver, successor, employee


def _owned(company, user) -> dict[str, int]:
    return {
        "leads": Lead.objects.filter(company=company, owner=user).count(),
        "opportunities": Opportunity.objects.filter(company=company, owner=user).count(),
        "tickets": Ticket.objects.filter(company=company, owner=user).count(),
        "accounts": Account.objects.filter(company=company, owner=user).count(),
        "contacts": Contact.objects.filter(company=company, owner=user).count(),
        "activities": Activity.objects.filter(company=company, owner=user, done_at__isnull=True).count(),
    }


@pytest.mark.django_db
def test_deactivation_hands_records_and_wecom_contacts_to_the_successor_once():
    company = CompanyFactory()
    leaver, successor, employee = _leaver_and_successor(company)
    Membership.objects.filter(user=successor).update(language="en")  # reads English; the relay runs in Chinese
    _colleague, deals = _book(company, leaver)
    before = _owned(company, leaver)
    wecom = make_channel(
        company,
        "wecom",
        config={"corp_id": "wwcorp", "staff_userids": {str(leaver.pk): "wang_li", str(successor.pk): "zhao_yu"}},
    )
    make_channel(company, "wecom", config={"corp_id": "ww2"})  # maps nobody: skipped

    hr_svc.employee_deactivate(employee=employee, successor_user=successor)
    relay_all()

    handover = OwnerHandover.objects.get(company=company)
    assert (handover.state, handover.from_user_id, handover.to_user_id) == ("done", leaver.pk, successor.pk)
    assert handover.source_key == f"erp.employee:{employee.pk}" and handover.social_requested
    moved = {
        "leads": handover.leads_moved,
        "opportunities": handover.opportunities_moved,
        "tickets": handover.tickets_moved,
        "accounts": handover.accounts_moved,
        "contacts": handover.contacts_moved,
        "activities": handover.activities_moved,
    }
    assert moved == {"leads": 2, "opportunities": 2, "tickets": 1, "accounts": 2, "contacts": 1, "activities": 2}
    assert before == {**moved, "opportunities": 3}  # the won deal stays with who won it
    assert _owned(company, leaver) == {
        "leads": 0,
        "opportunities": 1,
        "tickets": 0,
        "accounts": 0,
        "contacts": 0,
        "activities": 0,
    }
    assert Opportunity.objects.get(pk=deals[2].pk).owner_id == leaver.pk
    job = HandoverJob.objects.get(company=company)
    assert (job.channel_id, job.kind, job.handover_staff_id, job.takeover_staff_id) == (
        wecom.pk,
        "resigned",
        "wang_li",
        "zhao_yu",
    )
    assert (job.from_user_id, job.to_user_id) == (leaver.pk, successor.pk)

    # duplicate delivery of both hops: nothing runs again, one job each
    assert redeliver("erp.employee.deactivated", "crm.owner_handover.started") == 2
    assert OwnerHandover.objects.filter(company=company).count() == 1
    assert HandoverJob.objects.filter(company=company).count() == 1
    assert OutboxEvent.objects.filter(name="crm.owner_handover.started").count() == 1
    assert HandlerRun.objects.get(handler=HANDLER).attempts == 1
    # the handler called again by hand (a replay): the job exists, nothing moves twice
    from crm.events_handovers import owner_handover_on_employee_deactivated
    from tests.loop_support import as_event

    owner_handover_on_employee_deactivated(as_event(OutboxEvent.objects.get(name="erp.employee.deactivated")))
    handover.refresh_from_db()
    assert handover.total_moved == 10 and OwnerHandover.objects.count() == 1
    # the successor is told once what they took over, in their language
    [told] = Notification.objects.filter(recipient=successor, link="/crm/accounts/?owner=me")
    assert told.title == f"You took over {person_name(leaver)}'s customers"
    assert told.body == "2 accounts, 1 contact, 2 open deals, 2 leads, 1 open ticket, 2 open activities"
    # one correlation id from HR to SCRM
    ids = set(
        OutboxEvent.objects.filter(name__in=["erp.employee.deactivated", "crm.owner_handover.started"]).values_list(
            "correlation_id", flat=True
        )
    )
    assert len(ids) == 1


@pytest.mark.django_db
def test_without_a_successor_the_job_is_recorded_as_failed_and_nothing_moves():
    company = CompanyFactory()
    leaver, _successor, employee = _leaver_and_successor(company)
    _book(company, leaver)
    before = _owned(company, leaver)
    hr_svc.employee_deactivate(employee=employee)
    relay_all()
    handover = OwnerHandover.objects.get(company=company)
    assert (handover.state, handover.to_user_id, handover.total_moved) == ("failed", None, 0)
    assert handover.last_error  # the reason, in the language of the relay
    assert _owned(company, leaver) == before
    assert not OutboxEvent.objects.filter(name="crm.owner_handover.started").exists()


@contextmanager
def row_locked(table: str, pk: int):
    """Hold ``SELECT … FOR UPDATE`` on one row from another database connection (a user saving it)."""
    locked, release, done = threading.Event(), threading.Event(), threading.Event()

    def hold():
        try:
            connection = connections["default"]
            with connection.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", [pk])
                locked.set()
                release.wait(30)
                cursor.execute("ROLLBACK")
        finally:
            connections["default"].close()
            done.set()

    thread = threading.Thread(target=hold)
    thread.start()
    assert locked.wait(10), "could not lock the row"
    try:
        yield
    finally:
        release.set()
        done.wait(10)
        thread.join(10)


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_record_being_saved_fails_the_handover_which_is_retried_then_applied_once(settings):
    settings.TROIKA_OUTBOX_BACKOFF_SECONDS = 1.0
    company = CompanyFactory()
    leaver, successor, employee = _leaver_and_successor(company)
    _book(company, leaver)
    ticket = Ticket.objects.get(company=company, owner=leaver)
    hr_svc.employee_deactivate(employee=employee, successor_user=successor)
    with row_locked("crm_ticket", ticket.pk):
        relay_all()
        run = HandlerRun.objects.get(handler=HANDLER)
        assert (run.status, run.attempts) == ("failed", 1)
        assert "lock" in run.last_error.lower()
        # rolled back whole: no job, nothing moved, SCRM not asked
        assert not OwnerHandover.objects.exists()
        assert Lead.objects.filter(company=company, owner=successor).count() == 0
        assert not OutboxEvent.objects.filter(name="crm.owner_handover.started").exists()
    relay_all(now=timezone.now() + timedelta(seconds=5))
    run.refresh_from_db()
    assert (run.status, run.attempts) == ("done", 2)
    handover = OwnerHandover.objects.get(company=company)
    assert (handover.state, handover.total_moved, handover.tickets_moved) == ("done", 10, 1)
    assert OutboxEvent.objects.filter(name="crm.owner_handover.started").count() == 1
    ticket.refresh_from_db()
    assert ticket.owner_id == successor.pk


# ---------------------------------------------------------------- commissions → payroll


@pytest.mark.django_db
def test_commissions_on_invoices_paid_in_the_month_reach_that_months_payroll_once(settings):
    """10 × 100.00 + 13 % VAT = 1,130.00 invoiced on the salesperson's order. 565.00 paid: untaxed share
    500.00 × 3 % = 15.00; the other 565.00 paid: 1,000.00 × 3 % = 30.00 (the line replaced, not added).
    A colleague's order without salesperson earns nobody anything."""
    settings.TROIKA_COMMISSION_RATE = "0.03"
    shop = make_shop()
    seller = make_member(shop.company, Role.SALES).user
    employee = hr_svc.employee_create(
        company=shop.company,
        number="S001",
        name="李销售",
        hire_date=dt.date(2024, 1, 1),
        user=seller,
        salary=D("8000.00"),
        payroll_mode="generic",
    )
    product = shop.product(stock=D("50"))

    def invoiced(**header):
        order = shop.confirmed((product, 10), **header)
        delivery = order.deliveries.get()
        sales.delivery_pick(delivery=delivery, picks=[{"line": delivery.lines.get().pk, "quantity": 10}])
        sales.delivery_ship(delivery=delivery)
        return invoicing.invoice_post(invoice=sales.sales_order_invoice(order=order))

    def pay(invoice, amount):
        return invoicing.payment_create(
            company=shop.company,
            payment_type="inbound",
            partner=shop.customer,
            amount=D(amount),
            journal=Journal.objects.get(company=shop.company, code="BNK"),
            date=timezone.localdate(),
            allocations=[{"invoice": invoice, "amount": D(amount)}],
        )

    invoice = invoiced(salesperson=seller)
    unowned = invoiced()
    assert invoice.amount_total == D("1130.00")
    today = timezone.localdate()
    pay(invoice, "565.00")
    pay(unowned, "1130.00")
    relay_all()
    [line] = CommissionLine.objects.filter(company=shop.company)
    assert (line.employee_id, line.year, line.month, line.amount) == (employee.pk, today.year, today.month, D("15.00"))
    pay(invoice, "565.00")
    relay_all()
    [line] = CommissionLine.objects.filter(company=shop.company)
    assert line.amount == D("30.00") and line.reference == f"payments:{today.year:04d}-{today.month:02d}"
    assert redeliver("erp.payment.received") == 3
    assert CommissionLine.objects.get(company=shop.company).amount == D("30.00")

    run = payroll.payroll_run_create(company=shop.company, year=today.year, month=today.month)
    payroll.payroll_run_compute(run_id=run.pk)
    slip = Payslip.objects.get(run=run, employee=employee)
    commission = [row for row in slip.lines if row["code"] == "commission"]
    assert [D(row["amount"]) for row in commission] == [D("30.00")]
    assert slip.gross == D("8030.00")
