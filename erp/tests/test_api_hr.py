"""The HR API and pages: acceptance 4 (a sales user never sees salary or ID number in any page, list, export or
API response — every HR route is walked and the responses grepped for the planted values), the same walk
proving hr does see them, field errors, the payroll run through the API and query counts of the lists."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal
from decimal import Decimal as D

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.generators import SchemaGenerator

from erp.models import Employee, PayrollRun
from erp.services import hr as hr_svc
from erp.services import payroll as pay_svc
from erp.tests import hr_factories
from erp.tests.hr_support import PLANTED_BANK_ACCOUNT, PLANTED_ID_NUMBER, PLANTED_SALARY
from suite.models import Membership
from suite.testing import api_client_for

pytestmark = pytest.mark.django_db
API = "/api/v1/erp/hr"
PK_GROUP = re.compile(r"\(\?P<pk>[^)]*\)")
PLANTED = (PLANTED_ID_NUMBER, PLANTED_BANK_ACCOUNT, str(PLANTED_SALARY), f"{PLANTED_SALARY:,}", "48765")


def membership(user, company) -> Membership:
    return Membership.objects.get(user=user, company=company)


@pytest.fixture
def planted(hr_office):
    """An employee with the planted personal data, computed into a payroll run and a payslip, plus one record
    of every HR model in the company so every route has something to show."""
    company = hr_office.company
    employee = hr_office.employee(
        PLANTED_SALARY,
        id_number=PLANTED_ID_NUMBER,
        bank_account=PLANTED_BANK_ACCOUNT,
        social_base=PLANTED_SALARY,
        name="王敏感",
    )
    hr_office.employee("9000.00", user=hr_office.sales, manager=employee)  # the sales user's own record
    for factory in (
        hr_factories._department_in,
        hr_factories._position_in,
        hr_factories._contract_in,
        hr_factories._shift_in,
        hr_factories._attendance_in,
        hr_factories._leave_request_in,
        hr_factories._employee_component_in,
        hr_factories._commission_in,
        hr_factories._goal_in,
        hr_factories._review_in,
        hr_factories._interview_in,
    ):
        factory(company)
    run = pay_svc.payroll_run_create(company=company, year=2025, month=1)
    run = pay_svc.payroll_run_compute(run_id=run.pk)
    return employee, run


def _hr_routes():
    """(route pattern, viewset action map) of every HR API route."""

    def walk(patterns, prefix=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                yield prefix + str(entry.pattern), entry

    for route, entry in walk(get_resolver().url_patterns):
        clean = re.sub(r"\^(?![/.\]])", "", route).replace("$", "").replace("\\Z", "")
        if clean.startswith("api/v1/erp/hr/") and "format" not in clean and hasattr(entry.callback, "actions"):
            yield clean, entry.callback


def _get_urls(hr_client) -> list[str]:
    """Every GET URL of the HR API: each list (and export), each detail of each record hr can see."""
    urls = []
    for route, callback in _hr_routes():
        if "get" not in callback.actions:
            continue
        if "(?P<pk>" not in route:
            base = "/" + route
            urls.append(base + ("?format=csv" if base.endswith("export/") else ""))
            continue
        list_route = "/" + route.split("(?P<pk>")[0]
        response = hr_client.get(list_route + "?page_size=200")
        if response.status_code != 200:
            continue
        body = response.json()
        rows = body["results"] if isinstance(body, dict) else body
        for row in rows:
            urls.append("/" + PK_GROUP.sub(str(row["id"]), route))
    return urls


def _page_urls(employee, run) -> list[str]:
    slip = run.payslips.get(employee=employee)
    return [
        reverse("erp:hr-employee-list"),
        reverse("erp:hr-employee-list") + "?q=王",
        reverse("erp:hr-employee-export") + "?format=csv",
        reverse("erp:hr-employee-detail", args=[employee.pk]),
        reverse("erp:hr-org-chart"),
        reverse("erp:hr-attendance"),
        reverse("erp:hr-leave"),
        reverse("erp:hr-payroll-runs"),
        reverse("erp:hr-payroll-run", args=[run.pk]),
        reverse("erp:hr-payslip", args=[slip.pk]),
        reverse("erp:hr-payslip", args=[slip.pk]) + "?format=pdf",
        reverse("erp:hr-goals"),
        reverse("erp:hr-recruiting"),
    ]


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def test_a_sales_user_never_sees_salary_or_id_number_anywhere(hr_office, planted):
    employee, run = planted
    hr_client = api_client_for(membership(hr_office.hr, hr_office.company))
    urls = _get_urls(hr_client) + _page_urls(employee, run)
    assert len(urls) > 40  # every list, export and detail of the HR API, and every HR page
    sales = api_client_for(membership(hr_office.sales, hr_office.company))
    seen_ok = 0
    for url in urls:
        response = sales.get(url)
        assert response.status_code in (200, 403, 404), url
        text = _body(response)
        for value in PLANTED:
            assert value not in text, (url, value)
        seen_ok += response.status_code == 200
    assert seen_ok >= 10  # the directory, org chart, own attendance/leave/goals … are really served to sales
    # and the same walk as hr shows the values (the grep would catch a leak)
    detail = hr_client.get(f"{API}/employees/{employee.pk}/").json()
    assert (detail["id_number"], detail["bank_account"], detail["salary"]) == (
        PLANTED_ID_NUMBER,
        PLANTED_BANK_ACCOUNT,
        str(PLANTED_SALARY),
    )
    page = hr_client.get(reverse("erp:hr-employee-detail", args=[employee.pk]))
    assert PLANTED_ID_NUMBER in page.content.decode()


def test_admin_and_manager_do_not_see_personal_data_either(hr_office, planted):
    employee, _run = planted
    for user in (hr_office.admin, hr_office.manager):
        client = api_client_for(membership(user, hr_office.company))
        body = client.get(f"{API}/employees/{employee.pk}/").json()
        assert "salary" not in body and "id_number" not in body and body["name"] == "王敏感"
    payroll = api_client_for(membership(hr_office.payroll, hr_office.company))
    assert payroll.get(f"{API}/employees/{employee.pk}/").json()["salary"] == str(PLANTED_SALARY)


def test_create_employee_validates_fields_and_hr_only(hr_office):
    hr = api_client_for(membership(hr_office.hr, hr_office.company))
    response = hr.post(f"{API}/employees/", {"number": "N1", "name": "赵", "hire_date": "2025-01-01",
                                              "salary": "-3"}, format="json")  # fmt: skip
    assert response.status_code == 400
    assert "salary" in str(response.json())
    response = hr.post(
        f"{API}/employees/",
        {
            "number": "N1",
            "name": "赵",
            "hire_date": "2025-01-01",
            "salary": "9000.00",
            "id_number": "110101199001011234",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["salary"] == "9000.00"
    sales = api_client_for(membership(hr_office.sales, hr_office.company))
    response = sales.post(f"{API}/employees/", {"number": "N2", "name": "钱", "hire_date": "2025-01-01"}, format="json")
    assert response.status_code == 403
    assert not Employee.objects.filter(number="N2").exists()


def test_deactivate_through_the_api_names_the_successor(hr_office):
    employee = hr_office.employee(user=hr_office.sales)
    hr = api_client_for(membership(hr_office.hr, hr_office.company))
    response = hr.post(
        f"{API}/employees/{employee.pk}/deactivate/",
        {"leave_date": "2025-06-30", "successor_user": hr_office.manager.pk},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["is_active"] is False
    assert response.json()["successor_user"] == hr_office.manager.pk


def test_shifts_leave_types_and_kpis_are_edited_through_their_services(hr_office):
    """Master data is edited in place (these three answered 500 to any PATCH: no update was wired)."""
    hr = api_client_for(membership(hr_office.hr, hr_office.company))
    company = hr_office.company
    day = hr_svc.shift_create(company=company, code="DAY", name="白班", start_time=dt.time(9), end_time=dt.time(18))
    hr_svc.shift_create(company=company, code="NIGHT", name="夜班", start_time=dt.time(21), end_time=dt.time(6))
    response = hr.patch(f"{API}/shifts/{day.pk}/", {"end_time": "17:30:00", "workdays": "123456"}, format="json")
    assert response.status_code == 200, response.json()
    day.refresh_from_db()
    assert (day.end_time, day.workdays) == (dt.time(17, 30), "123456")
    for bad, field in (({"code": "NIGHT"}, "code"), ({"workdays": "1238"}, "workdays")):
        response = hr.patch(f"{API}/shifts/{day.pk}/", bad, format="json")
        assert response.status_code == 400
        assert [e["field"] for e in response.json()["errors"]] == [field]
    day.refresh_from_db()
    assert (day.code, day.workdays) == ("DAY", "123456")

    annual = hr_svc.leave_type_create(company=company, code="ANNUAL", name="年假", annual_days=D("5"))
    response = hr.patch(f"{API}/leave-types/{annual.pk}/", {"annual_days": "10.00"}, format="json")
    assert response.status_code == 200 and response.json()["annual_days"] == "10.00"
    response = hr.patch(f"{API}/leave-types/{annual.pk}/", {"annual_days": "400"}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "annual_days"

    kpi = hr_svc.kpi_create(company=company, code="CALLS", name="通话数")
    response = hr.put(f"{API}/kpis/{kpi.pk}/", {"code": "CALLS", "name": "有效通话", "higher_is_better": False},
                      format="json")  # fmt: skip
    assert response.status_code == 200, response.json()
    kpi.refresh_from_db()
    assert (kpi.name, kpi.higher_is_better) == ("有效通话", False)


def test_writes_a_viewset_does_not_serve_answer_405_and_are_not_in_the_schema(hr_office):
    """A route whose write hook the viewset does not implement is refused before it reaches it (before: a 500)."""
    hr = api_client_for(membership(hr_office.hr, hr_office.company))
    shift = hr_svc.shift_create(
        company=hr_office.company, code="DAY", name="白班", start_time=dt.time(9), end_time=dt.time(18)
    )
    response = hr.delete(f"{API}/shifts/{shift.pk}/")
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "method_not_allowed"
    assert "DELETE" not in response["Allow"] and "PATCH" in response["Allow"]
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert set(paths["/api/v1/erp/hr/shifts/{id}/"]) == {"get", "put", "patch"}
    assert set(paths["/api/v1/erp/hr/attendance/{id}/"]) == {"get"}


def test_payroll_run_through_the_api(hr_office, django_capture_on_commit_callbacks):
    hr_office.employee("20000.00")
    payroll = api_client_for(membership(hr_office.payroll, hr_office.company))
    run = payroll.post(f"{API}/payroll/runs/", {"year": 2025, "month": 4}, format="json").json()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = payroll.post(f"{API}/payroll/runs/{run['id']}/compute/")
    assert response.status_code == 202 and response.json()["state"] == "computing"
    assert len(callbacks) == 1
    pay_svc.payroll_run_compute(run_id=run["id"])  # what the worker does
    assert payroll.get(f"{API}/payroll/runs/{run['id']}/").json()["progress"] == 100
    response = payroll.post(f"{API}/payroll/runs/{run['id']}/post/", {}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "posted"
    response = payroll.post(f"{API}/payroll/runs/{run['id']}/compute/")
    assert response.status_code == 409 and response.json()["errors"][0]["code"] == "run_posted"
    hr = api_client_for(membership(hr_office.hr, hr_office.company))
    assert hr.post(f"{API}/payroll/runs/{run['id']}/post/").status_code == 403  # hr reads payroll, never posts
    assert PayrollRun.objects.get(pk=run["id"]).state == "posted"


def test_attendance_import_answers_the_row_report(hr_office):
    hr_office.employee(number="A001")
    hr = api_client_for(membership(hr_office.hr, hr_office.company))
    upload = io.BytesIO(b"employee_number,clock_in,clock_out\nA001,2025-03-03 09:00,2025-03-03 18:00\nB9,x,y\n")
    upload.name = "clock.csv"
    response = hr.post(f"{API}/attendance/import/", {"file": upload}, format="multipart")
    assert response.status_code == 200
    assert response.json()["created"] == 1
    assert [e["row"] for e in response.json()["errors"]] == [3]

    # a Chinese time clock's export is GB18030 (a shift named in Chinese); a binary file is a field error, not a 500
    hr_svc.shift_create(
        company=hr_office.company, code="早班", name="早班", start_time=dt.time(8), end_time=dt.time(17)
    )
    upload = io.BytesIO("employee_number,clock_in,clock_out,shift\nA001,2025-03-04 08:00,2025-03-04 17:00,早班\n"
                        .encode("gb18030"))  # fmt: skip
    upload.name = "考勤.csv"
    response = hr.post(f"{API}/attendance/import/", {"file": upload}, format="multipart")
    assert (response.status_code, response.json()["created"], response.json()["errors"]) == (200, 1, [])
    upload = io.BytesIO(b"\xff\xfe\x00\x00not text")
    upload.name = "clock.csv"
    response = hr.post(f"{API}/attendance/import/", {"file": upload}, format="multipart")
    assert (response.status_code, response.json()["errors"][0]["field"]) == (400, "file")


def test_leave_request_and_manager_approval_through_the_api(hr_office):
    annual = hr_svc.leave_type_create(company=hr_office.company, code="annual", name="年假", annual_days=Decimal(5))
    boss = hr_office.employee(user=hr_office.manager)
    hr_office.employee(user=hr_office.sales, manager=boss)
    hr_svc.leave_accrue(company=hr_office.company, year=2025)
    sales = api_client_for(membership(hr_office.sales, hr_office.company))
    response = sales.post(
        f"{API}/leave-requests/",
        {"leave_type": annual.pk, "start_date": "2025-03-03", "end_date": "2025-03-14"},
        format="json",
    )
    assert response.status_code == 400  # 10 working days, 5 accrued
    response = sales.post(
        f"{API}/leave-requests/",
        {"leave_type": annual.pk, "start_date": "2025-03-03", "end_date": "2025-03-04"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    assert sales.post(f"{API}/leave-requests/{pk}/approve/").status_code == 403
    manager = api_client_for(membership(hr_office.manager, hr_office.company))
    response = manager.post(f"{API}/leave-requests/{pk}/approve/", {}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "approved"


def test_list_query_counts_do_not_grow_with_rows(hr_office, django_assert_max_num_queries):
    for _ in range(30):
        hr_office.employee(department=hr_factories._department_in(hr_office.company))
    hr = api_client_for(membership(hr_office.hr, hr_office.company))
    with django_assert_max_num_queries(12):
        assert hr.get(f"{API}/employees/").status_code == 200
    with django_assert_max_num_queries(14):
        assert hr.get(reverse("erp:hr-employee-list")).status_code == 200
    with django_assert_max_num_queries(12):
        assert hr.get(reverse("erp:hr-org-chart")).status_code == 200
    run = pay_svc.payroll_run_compute(
        run_id=pay_svc.payroll_run_create(company=hr_office.company, year=2025, month=2).pk
    )
    payroll = api_client_for(membership(hr_office.payroll, hr_office.company))
    with django_assert_max_num_queries(12):
        assert payroll.get(f"{API}/payroll/payslips/?run={run.pk}").status_code == 200
    with django_assert_max_num_queries(16):
        assert payroll.get(reverse("erp:hr-payroll-run", args=[run.pk])).status_code == 200


def test_unknown_or_foreign_records_are_404(hr_office, other_company):
    foreign = hr_factories.employee_in(other_company)
    hr = api_client_for(membership(hr_office.hr, hr_office.company))
    assert hr.get(f"{API}/employees/{foreign.pk}/").status_code == 404
    assert hr.get(reverse("erp:hr-employee-detail", args=[foreign.pk])).status_code == 404
