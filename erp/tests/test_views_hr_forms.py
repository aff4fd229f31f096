"""HR create/edit pages (issue #6, HR UI): employees (sensitive fields on the form for hr and payroll only),
deactivation with a successor, departments and positions, contracts, manual attendance, recruiting moves and
the offer → employee hire — field errors shown on the form and nothing written; and query counts of the HR
list pages that do not grow with the rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from erp.models import (
    AttendanceRecord,
    Candidate,
    Department,
    Employee,
    EmploymentContract,
    LeaveRequest,
    Position,
)
from erp.services import hr as hr_svc
from suite.models import OutboxEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]  # the tests read English messages
D = Decimal


def client_of(user) -> Client:
    client = Client(headers={"accept-language": "en"})  # the messages below are asserted in English
    client.force_login(user)
    return client


def employee_post(**changes) -> dict:
    data = {
        "number": "E9001",
        "name": "陈晓",
        "name_en": "Chen Xiao",
        "hire_date": "2025-03-01",
        "payroll_mode": "cn",
        "special_deduction": "",
        "salary": "18000.00",
        "id_number": "11010519491231002X",
        "bank_account": "6222020200112233445",
    }
    data.update(changes)
    return data


def test_hr_creates_an_employee_errors_stay_on_the_form_and_nothing_is_half_written(hr_office):
    client = client_of(hr_office.hr)
    form = client.get(reverse("erp:hr-employee-create")).content.decode()
    assert 'name="salary"' in form and 'name="id_number"' in form
    bad = client.post(reverse("erp:hr-employee-create"), employee_post(name="", salary="-5"))
    assert bad.status_code == 200
    page = bad.content.decode()
    assert 'class="field has-error"' in page and "陈晓" not in page.split("<form")[0]
    assert not Employee.objects.filter(company=hr_office.company, number="E9001").exists()
    hr_office.employee(number="E0007")
    taken = client.post(reverse("erp:hr-employee-create"), employee_post(number="E0007"))
    assert taken.status_code == 200 and "This employee number is taken." in taken.content.decode()
    done = client.post(reverse("erp:hr-employee-create"), employee_post())
    employee = Employee.objects.get(company=hr_office.company, number="E9001")
    assert done.status_code == 302 and done["Location"] == reverse("erp:hr-employee-detail", args=[employee.pk])
    assert (employee.salary, employee.id_number) == (D("18000.00"), "11010519491231002X")
    # payroll edits the salary; the number stays
    edit = client_of(hr_office.payroll).post(
        reverse("erp:hr-employee-edit", args=[employee.pk]), employee_post(number="X", salary="19000.00")
    )
    assert edit.status_code == 302
    employee = Employee.objects.get(pk=employee.pk)  # a fresh instance: the decrypted values are cached
    assert (employee.number, employee.salary) == ("E9001", D("19000.00"))


def test_roles_without_the_private_fields_never_get_them_on_a_page_or_form(hr_office):
    employee = hr_office.employee("23456.78", id_number="310101199001011234")
    for user in (hr_office.sales, hr_office.manager, hr_office.admin):
        client = client_of(user)
        detail = client.get(reverse("erp:hr-employee-detail", args=[employee.pk])).content.decode()
        assert "23456" not in detail and "310101199001011234" not in detail
        assert reverse("erp:hr-employee-edit", args=[employee.pk]) not in detail
        assert client.get(reverse("erp:hr-employee-edit", args=[employee.pk])).status_code == 403
        assert client.get(reverse("erp:hr-employee-create")).status_code == 403


def test_leaving_from_the_ui_names_the_successor_for_the_crm_handover(hr_office):
    employee = hr_office.employee(user=hr_office.sales)
    client = client_of(hr_office.hr)
    same = client.post(
        reverse("erp:hr-employee-deactivate", args=[employee.pk]),
        {"leave_date": "2023-01-01", "successor_user": hr_office.manager.pk},
    )
    assert same.status_code == 200 and "The leave date is before the hire date." in same.content.decode()
    employee.refresh_from_db()
    assert employee.is_active and not OutboxEvent.objects.filter(name="erp.employee.deactivated").exists()
    done = client.post(
        reverse("erp:hr-employee-deactivate", args=[employee.pk]),
        {"leave_date": "2025-06-30", "successor_user": hr_office.manager.pk},
    )
    assert done.status_code == 302
    event = OutboxEvent.objects.get(name="erp.employee.deactivated")
    assert (event.payload["user_id"], event.payload["successor_user_id"]) == (hr_office.sales.pk, hr_office.manager.pk)


def test_departments_positions_and_contracts_from_their_forms(hr_office):
    client = client_of(hr_office.hr)
    url = reverse("erp:hr-organisation")
    assert client.post(url, {"kind": "department", "d-code": "RD", "d-name": "研发部"}).status_code == 302
    dup = client.post(url, {"kind": "department", "d-code": "RD", "d-name": "又一个"})
    assert dup.status_code == 200 and "This code is taken." in dup.content.decode()
    assert Department.objects.filter(company=hr_office.company).count() == 1
    rd = Department.objects.get(company=hr_office.company, code="RD")
    assert (
        client.post(url, {"kind": "position", "p-code": "ENG", "p-name": "工程师", "p-department": rd.pk}).status_code
        == 302
    )
    position = Position.objects.get(company=hr_office.company, code="ENG")
    client.post(reverse("erp:hr-position-edit", args=[position.pk]), {"name": "高级工程师", "department": rd.pk})
    position.refresh_from_db()
    assert (position.name, position.code, position.department_id) == ("高级工程师", "ENG", rd.pk)
    loop = client.post(reverse("erp:hr-department-edit", args=[rd.pk]), {"name": "研发部", "parent": rd.pk})
    assert loop.status_code == 200  # not a choice: a department is never its own parent

    employee = hr_office.employee()
    contract_url = reverse("erp:hr-contract-create", args=[employee.pk])
    wrong = client.post(
        contract_url,
        {"number": "HT-1", "kind": "fixed", "start_date": "2025-01-01", "end_date": "2024-12-31", "weekly_hours": "40"},
    )
    assert wrong.status_code == 200 and "The end is before the start." in wrong.content.decode()
    assert not EmploymentContract.objects.filter(employee=employee).exists()
    ok = client.post(
        contract_url,
        {"number": "HT-1", "kind": "fixed", "start_date": "2025-01-01", "end_date": "2027-12-31", "weekly_hours": "40"},
    )
    assert ok.status_code == 302
    detail = client.get(reverse("erp:hr-employee-detail", args=[employee.pk])).content.decode()
    assert "HT-1" in detail
    assert client_of(hr_office.sales).post(url, {"kind": "department", "d-code": "X", "d-name": "X"}).status_code == 403


def test_manual_attendance_refuses_an_overlap_on_the_form(hr_office):
    employee = hr_office.employee()
    client = client_of(hr_office.hr)
    url = reverse("erp:hr-attendance-create")
    first = {"employee": employee.pk, "clock_in": "2025-03-03T09:00", "clock_out": "2025-03-03T18:00"}
    assert client.post(url, first).status_code == 302
    again = client.post(url, {**first, "clock_in": "2025-03-03T17:00", "clock_out": "2025-03-03T20:00"})
    assert again.status_code == 200 and 'role="alert"' in again.content.decode()
    assert AttendanceRecord.objects.filter(employee=employee).count() == 1
    assert client_of(hr_office.sales).post(url, first).status_code == 403


def test_candidates_move_through_the_stages_and_an_offer_becomes_an_employee(hr_office):
    opening = hr_svc.opening_create(company=hr_office.company, title="Java 工程师", headcount=1)
    client = client_of(hr_office.hr)
    assert (
        client.post(
            reverse("erp:hr-candidate-create"), {"opening": opening.pk, "name": "赵敏", "email": "zm@example.com"}
        ).status_code
        == 302
    )
    candidate = Candidate.objects.get(opening=opening)
    board = client.get(reverse("erp:hr-recruiting")).content.decode()
    assert reverse("erp:hr-candidate-move", args=[candidate.pk]) in board
    move = reverse("erp:hr-candidate-move", args=[candidate.pk])
    client.post(move, {"stage": "offer"})  # skipping stages is refused
    candidate.refresh_from_db()
    assert candidate.stage == "applied"
    for stage in ("screening", "interview", "offer"):
        client.post(move, {"stage": stage})
    candidate.refresh_from_db()
    assert candidate.stage == "offer"
    hire = reverse("erp:hr-candidate-hire", args=[candidate.pk])
    assert 'name="salary"' in client.get(hire).content.decode()
    response = client.post(hire, {"number": "E7001", "hire_date": "2025-07-01", "salary": "21000.00"})
    employee = Employee.objects.get(company=hr_office.company, number="E7001")
    assert response.status_code == 302
    candidate.refresh_from_db()
    opening.refresh_from_db()
    assert (candidate.stage, candidate.employee_id, opening.hired, opening.state) == ("hired", employee.pk, 1, "closed")
    assert (employee.name, employee.email, employee.salary) == ("赵敏", "zm@example.com", D("21000.00"))
    assert client_of(hr_office.sales).post(move, {"stage": "rejected"}).status_code in (403, 404)


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "name", ["hr-employee-list", "hr-organisation", "hr-attendance", "hr-leave", "hr-recruiting", "hr-payroll-runs"]
)
def test_hr_list_pages_cost_the_same_queries_for_3_or_30_rows(hr_office, name):
    client = client_of(hr_office.hr if name != "hr-payroll-runs" else hr_office.payroll)
    url = reverse(f"erp:{name}")

    def add(count, start):
        annual = hr_svc.leave_type_create(company=hr_office.company, code=f"L{start}", name="年假", annual_days=D("30"))
        opening = hr_svc.opening_create(company=hr_office.company, title=f"岗位{start}", headcount=count)
        for i in range(start, start + count):
            department = hr_svc.department_create(company=hr_office.company, code=f"D{i}", name=f"部门{i}")
            hr_svc.position_create(company=hr_office.company, code=f"P{i}", name=f"岗位{i}", department=department)
            employee = hr_office.employee(department=department, user=hr_office.hr if i == 0 else None)
            clock_in = dt.datetime(2025, 3, 3, 9, tzinfo=dt.UTC) + dt.timedelta(days=i)
            hr_svc.attendance_record(employee=employee, clock_in=clock_in, clock_out=clock_in + dt.timedelta(hours=8))
            hr_svc.candidate_create(opening=opening, name=f"候选人{i}")
            LeaveRequest.objects.create(
                company=hr_office.company,
                employee=employee,
                leave_type=annual,
                start_date=dt.date(2025, 5, 5),
                end_date=dt.date(2025, 5, 5),
                days=D("1"),
            )
        from erp.services import payroll as pay_svc

        for month in range(1, 1 + min(count, 12)):
            pay_svc.payroll_run_create(company=hr_office.company, year=2000 + start, month=month)

    add(3, 0)
    small = _queries(client, url)
    add(27, 3)
    large = _queries(client, url)
    assert large <= small, (name, small, large)
    assert large <= 25, (name, large)
