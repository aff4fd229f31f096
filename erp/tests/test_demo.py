"""ERP demo data (``erp/demo.py``) as the machinery company's demo logins see it: the CK6140 lathe's BOM and
production orders, a purchase order partly received, a posted customer invoice partly paid, the employees of
the demo people — made once and unchanged by a second ``seed_demo``."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client
from django.urls import reverse

from erp.models import (
    AttendanceRecord,
    Bom,
    Budget,
    Department,
    Employee,
    ExpenseClaim,
    Inspection,
    Invoice,
    InvoiceKind,
    JournalLine,
    Payment,
    PayrollRun,
    ProductionOrder,
    PurchaseOrder,
    Routing,
    WorkCenter,
)
from suite.demo import PEOPLE

pytestmark = pytest.mark.django_db

MODELS = (
    AttendanceRecord,
    Bom,
    Budget,
    Department,
    Employee,
    ExpenseClaim,
    Inspection,
    Invoice,
    JournalLine,
    Payment,
    PayrollRun,
    ProductionOrder,
    PurchaseOrder,
    Routing,
    WorkCenter,
)


def seed() -> None:
    call_command("seed_demo", stdout=StringIO())


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """Seed twice (the counts after each run) once for the module, in a transaction rolled back at its end."""
    from django.db import transaction

    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            seed()
            first = counts()
            seed()
            yield first, counts()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def test_a_second_run_changes_no_count(seeded):
    first, second = seeded

    assert first == second
    assert all(first.values()), first


def test_the_lathe_has_a_bom_a_routing_and_two_orders(seeded):
    bom = Bom.objects.get(company__code="ecm", product__sku="CNC-CK6140")
    lines = {line.component.sku: line.quantity for line in bom.lines.select_related("component")}
    orders = {o.origin: o for o in ProductionOrder.objects.filter(company__code="ecm").prefetch_related("operations")}

    assert lines == {"CST-BED-6140": 1, "SPN-6140": 1, "CHK-K11250": 1, "MTR-Y132-7K5": 1}
    assert [op.work_center.code for op in bom.routing.operations.order_by("sequence")] == [
        "WC-MACH",
        "WC-ASSY",
        "WC-TEST",
    ]
    running = orders["DEMO-MO-CK6140-A"]
    assert (running.state, running.quantity) == ("in_progress", 2)
    assert [op.state for op in running.operations.order_by("sequence")] == ["done", "running", "pending"]
    assert all(m.reservation_id for m in running.materials.all())  # components reserved at release
    assert running.inspections.get().result == "pass"
    planned = orders["DEMO-MO-CK6140-B"]
    assert (planned.state, planned.quantity, planned.operations.count()) == ("draft", 4, 3)


def test_the_purchase_order_is_partly_received_and_billed(seeded):
    order = PurchaseOrder.objects.get(company__code="ecm", supplier_reference="DEMO-PO-HL-1")
    received = {line.product.sku: (line.quantity, line.received_quantity) for line in order.lines.all()}
    bill = Invoice.objects.get(company__code="ecm", kind=InvoiceKind.IN_INVOICE, origin=order.number)

    assert order.state == "confirmed"
    assert received == {"CHK-K11250": (8, 8), "MTR-Y132-7K5": (6, 2)}
    assert bill.state == "posted"
    assert bill.amount_untaxed == Decimal("8") * Decimal("1850.00") + Decimal("2") * Decimal("4200.00")


@pytest.mark.parametrize(("code", "total"), [("ecm", "289506.00"), ("sbev", "50624.00")])
def test_the_customer_invoice_is_posted_balanced_and_partly_paid(seeded, code, total):
    invoice = Invoice.objects.get(company__code=code, kind=InvoiceKind.OUT_INVOICE, reference__startswith="DEMO-INV")
    entry_lines = JournalLine.objects.filter(entry=invoice.journal_entry)
    totals = entry_lines.aggregate(debit=Sum("debit"), credit=Sum("credit"))
    paid = Payment.objects.get(company__code=code, reference__startswith="DEMO-RCPT").amount

    assert (invoice.state, invoice.journal_entry.state) == ("posted", "posted")
    assert invoice.amount_total == Decimal(total)  # 13 % VAT on the lines
    assert totals["debit"] == totals["credit"] == invoice.amount_total
    assert invoice.payment_state == "partial"
    assert invoice.amount_residual == invoice.amount_total - paid > 0


def test_finance_has_a_budget_and_a_claim_to_look_at(seeded):
    budget = Budget.objects.get(company__code="ecm")

    assert budget.lines.count() == 12 and budget.owner.username == "finance"
    assert ExpenseClaim.objects.get(company__code="ecm").lines.count() == 2


def test_every_demo_person_of_the_machinery_company_is_an_employee(seeded):
    employees = {e.user.username: e for e in Employee.objects.filter(company__code="ecm").select_related("user")}

    assert set(employees) == {person.username for person in PEOPLE["ecm"]}
    assert employees["hr"].name == "秦洋" and employees["hr"].department.code == "HR"
    assert employees["production2"].manager == employees["production"]
    assert Department.objects.get(company__code="ecm", code="PROD").head == employees["production"]
    assert AttendanceRecord.objects.filter(employee=employees["warehouse"]).count() >= 1
    run = PayrollRun.objects.get(company__code="ecm")
    assert run.state == "computed" and run.payslips.count() == len(employees)


PAGES = [
    ("finance", "erp:invoice-list", "苏州精工机械有限公司"),
    ("finance", "erp:budget-list", "管理费用预算"),
    ("production", "erp:production-order-list", "数控车床 CK6140"),
    ("production", "erp:production-shop-floor", "主轴箱与床身总装"),
    ("production", "erp:production-gantt", "WC-ASSY #1"),  # the running assembly, scheduled
    ("production", "erp:production-quality", "<td>CNC-CK6140</td>"),  # the defect rate of its inspection
    ("hr", "erp:hr-employee-list", "秦洋"),
    ("hr", "erp:hr-attendance", "沈涛"),
    ("payroll", "erp:hr-payroll-runs", lambda: reverse("erp:hr-payroll-run", args=[PayrollRun.objects.get().pk])),
    ("warehouse", "erp:purchase-order-list", "江苏恒立机电配套有限公司"),
    ("warehouse", "erp:stock-levels", "CK6140 床身铸件"),
]


@pytest.mark.parametrize(("username", "url_name", "shown"), PAGES)
def test_demo_logins_see_the_demo_records(seeded, username, url_name, shown):
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))

    response = client.get(reverse(url_name))

    assert response.status_code == 200
    assert (shown() if callable(shown) else shown) in response.content.decode()
