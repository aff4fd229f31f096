"""HR pages as their users see them: payroll runs (create, compute, post) with payslips in HTML and PDF, the
attendance import report on the page, a leave request approved from the manager's inbox, the menu entries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from erp.models import LeaveRequest, PayrollRun
from erp.services import hr as hr_svc
from erp.services import payroll as pay_svc
from suite.models import Role
from suite.testing import make_member

pytestmark = pytest.mark.django_db


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_payroll_pages_create_compute_post_and_print(hr_office, django_capture_on_commit_callbacks):
    hr_office.company.enabled_modules = [*(hr_office.company.enabled_modules or []), "erp_hr"]
    hr_office.company.save()
    employee = hr_office.employee("25000.00")
    client = client_of(hr_office.payroll)
    home = client.get(reverse("erp:hr-payroll-runs"))
    assert home.status_code == 200
    assert reverse("erp:hr-payroll-runs") in home.content.decode()  # menu entry
    response = client.post(reverse("erp:hr-payroll-runs"), {"year": "2025", "month": "6"})
    run = PayrollRun.objects.get(company=hr_office.company, year=2025, month=6)
    assert response.status_code == 302
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("erp:hr-payroll-run-action", args=[run.pk, "compute"]))
    partial = client.get(reverse("erp:hr-payroll-run", args=[run.pk]), HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 2s"' in partial.content.decode()  # the progress bar polls while computing
    pay_svc.payroll_run_compute(run_id=run.pk)
    client.post(reverse("erp:hr-payroll-run-action", args=[run.pk, "post"]))
    run.refresh_from_db()
    assert run.state == "posted"
    slip = run.payslips.get(employee=employee)
    page = client.get(reverse("erp:hr-payslip", args=[slip.pk]))
    html = page.content.decode()
    assert "个人所得税" in html
    # contributions by their name and the kinds by their label, not the codes the run stores; amounts as money
    assert "养老保险" in html and "住房公积金" in html and "五险一金" in html
    assert ">pension<" not in html and ">contribution<" not in html and ">earning<" not in html
    assert "¥25,000.00" in html  # the base salary line
    pdf = client.get(reverse("erp:hr-payslip", args=[slip.pk]), {"format": "pdf"})
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert client_of(hr_office.sales).get(reverse("erp:hr-payslip", args=[slip.pk])).status_code in (403, 404)


def test_attendance_import_shows_the_row_report(hr_office):
    hr_office.employee(number="A001")
    upload = SimpleUploadedFile("clock.csv", b"employee_number,clock_in,clock_out\nA001,2025-03-03 09:00,\nX,1,2\n")
    page = client_of(hr_office.hr).post(reverse("erp:hr-attendance"), {"file": upload})
    assert page.status_code == 200
    assert 'id="import-errors"' in page.content.decode()
    sales_page = client_of(hr_office.sales).post(reverse("erp:hr-attendance"), {"file": upload})
    assert sales_page.status_code == 403


def test_leave_is_requested_and_approved_on_the_pages(hr_office):
    annual = hr_svc.leave_type_create(company=hr_office.company, code="annual", name="年假", annual_days=Decimal(5))
    boss = hr_office.employee(user=hr_office.manager)
    worker = make_member(hr_office.company, Role.SALES).user
    hr_office.employee(user=worker, manager=boss)
    hr_svc.leave_accrue(company=hr_office.company, year=2025)
    response = client_of(worker).post(
        reverse("erp:hr-leave"), {"leave_type": annual.pk, "start_date": "2025-03-03", "end_date": "2025-03-20"}
    )
    assert "Only" in response.content.decode() or response.status_code == 200  # too many days: the form says so
    assert not LeaveRequest.objects.exists()
    client_of(worker).post(
        reverse("erp:hr-leave"), {"leave_type": annual.pk, "start_date": "2025-03-03", "end_date": "2025-03-04"}
    )
    request = LeaveRequest.objects.get()
    inbox = client_of(hr_office.manager).get(reverse("erp:hr-leave"))
    assert 'id="leave-inbox"' in inbox.content.decode()
    client_of(hr_office.manager).post(reverse("erp:hr-leave-action", args=[request.pk, "approve"]))
    request.refresh_from_db()
    assert request.state == "approved" and request.days == Decimal("2")
    assert request.start_date == dt.date(2025, 3, 3)
