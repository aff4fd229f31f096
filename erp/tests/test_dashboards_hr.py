"""The HR dashboard: exact headcount per department and trend, absence rate and late arrivals, payroll cost per
month on a small known data set; a manager sees their departments and reports only; payroll cost only for the hr
and payroll roles; company isolation; constant query counts; the drill-down pages accept the filters."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from erp.dashboards_hr import build
from erp.models import AttendanceRecord, Department, Employee, LeaveRequest, LeaveType, PayrollRun, Shift
from erp.selectors import dashboards_hr as selectors
from suite import dashboards
from suite.models import Role
from suite.policy import Actor

pytestmark = pytest.mark.django_db

D = dt.date
PERIOD = {"date_from": D(2026, 3, 2), "date_to": D(2026, 3, 13)}  # two working weeks
WEEKS = [("W10", D(2026, 3, 2), D(2026, 3, 8)), ("W11", D(2026, 3, 9), D(2026, 3, 15))]


def browser(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    client.cookies["django_language"] = "en"
    return client


@pytest.fixture
def org(company, other_company, member):
    tz = timezone.get_current_timezone()
    manager = member(company, Role.MANAGER, username="dept_head")
    numbers = iter(range(1, 1000))

    def employee(name, department, hired, **fields):
        return Employee.objects.create(
            company=fields.pop("company", company), number=f"E{next(numbers):03d}", name=name,
            department=department, hire_date=hired, **fields,
        )  # fmt: skip

    sales = Department.objects.create(company=company, code="S", name="销售部")
    south = Department.objects.create(company=company, code="S1", name="华南组", parent=sales)
    ops = Department.objects.create(company=company, code="O", name="运营部")
    head = employee("部门经理", sales, D(2020, 1, 1), user=manager.user)
    Department.objects.filter(pk=sales.pk).update(head=head)
    rep = employee("销售甲", south, D(2025, 1, 1))
    newcomer = employee("新人", ops, D(2026, 3, 9))
    leaver = employee("离职者", ops, D(2024, 1, 1), leave_date=D(2026, 3, 7), is_active=False)
    report = employee("直属下属", ops, D(2024, 1, 1), manager=head)
    employee("外司员工", None, D(2024, 1, 1), company=other_company)

    shift = Shift.objects.create(company=company, code="D", name="白班", start_time=dt.time(9), end_time=dt.time(18))

    def present(person, day: dt.date, at=dt.time(8, 55)):
        AttendanceRecord.objects.create(
            company=company, employee=person, work_date=day, shift=shift, source="manual",
            clock_in=dt.datetime.combine(day, at, tzinfo=tz),
        )  # fmt: skip

    weekdays = [D(2026, 3, d) for d in (2, 3, 4, 5, 6, 9, 10, 11, 12, 13)]
    for day in weekdays:
        present(head, day)
        present(rep, day)
    present(newcomer, D(2026, 3, 9))
    present(newcomer, D(2026, 3, 10), at=dt.time(9, 10))  # late
    present(newcomer, D(2026, 3, 11))
    for day in weekdays[3:]:
        present(report, day)
    annual = LeaveType.objects.create(company=company, code="annual", name="年假")
    LeaveRequest.objects.create(
        company=company, employee=report, leave_type=annual, start_date=D(2026, 3, 2), end_date=D(2026, 3, 4),
        days=Decimal("3"), state="approved",
    )  # fmt: skip
    for month, state, cost in ((2, "computed", "120000.00"), (3, "computed", "130000.50"), (4, "draft", "1.00")):
        PayrollRun.objects.create(
            company=company, year=2026, month=month, state=state, employees_total=4,
            total_gross=Decimal("100000.00"), total_employer_cost=Decimal(cost),
        )  # fmt: skip
    return {
        "admin": Actor(member(company, Role.ADMIN, username="hr_admin")),
        "hr": Actor(member(company, Role.HR, username="hr_lead")),
        "payroll_membership": member(company, Role.PAYROLL, username="pay_clerk"),
        "manager": Actor(manager),
        "manager_membership": manager,
        "sales": Actor(member(company, Role.SALES, username="rep_user")),
        "other_hr": Actor(member(other_company, Role.HR)),
        "departments": (sales, south, ops),
        "people": (head, rep, newcomer, leaver, report),
    }


def test_headcount_per_department_and_trend(org):
    sales, south, ops = org["departments"]
    people = selectors.people_in_view(org["hr"])
    rows = selectors.headcount_by_department(people, on=PERIOD["date_to"])
    assert [(r.department_id, r.headcount) for r in rows] == [(ops.pk, 2), (south.pk, 1), (sales.pk, 1)]
    trend = selectors.headcount_trend(people, WEEKS)
    assert [(b.label, b.headcount, b.hires, b.leavers) for b in trend] == [("W10", 3, 0, 1), ("W11", 4, 1, 0)]


def test_absence_rate_and_late_arrivals(org):
    sales, south, ops = org["departments"]
    rows = selectors.attendance_figures(org["hr"], selectors.people_in_view(org["hr"]), **PERIOD)
    figures = {
        r.department_id: (r.expected_days, r.present_days, r.leave_days, r.absent_days, r.absence_rate, r.late_count)
        for r in rows
    }
    assert figures == {
        sales.pk: (10, 10, 0, 0, Decimal("0.0"), 0),
        south.pk: (10, 10, 0, 0, Decimal("0.0"), 0),
        ops.pk: (20, 10, 3, 7, Decimal("35.0"), 1),
        None: (40, 30, 3, 7, Decimal("17.5"), 1),
    }


def test_a_manager_sees_their_departments_and_reports_only(org):
    head, rep, _newcomer, _leaver, report = org["people"]
    people = selectors.people_in_view(org["manager"])
    assert set(people.values_list("pk", flat=True)) == {head.pk, rep.pk, report.pk}
    total = selectors.attendance_figures(org["manager"], people, **PERIOD)[-1]
    assert (total.expected_days, total.absent_days, total.late_count) == (30, 0, 0)
    assert selectors.people_in_view(org["sales"]).count() == 0


def test_payroll_cost_is_for_hr_and_payroll_only(org):
    months = selectors.payroll_cost(org["hr"], date_from=D(2026, 1, 1), date_to=D(2026, 4, 30))
    assert [(m.month, m.employer_cost) for m in months] == [(2, Decimal("120000.00")), (3, Decimal("130000.50"))]
    assert selectors.payroll_total(months) == Decimal("250000.50")
    payroll = Actor(org["payroll_membership"])
    assert len(selectors.payroll_cost(payroll, date_from=D(2026, 3, 1), date_to=D(2026, 3, 31))) == 1
    for role in ("manager", "admin", "sales"):
        assert selectors.payroll_cost(org[role], date_from=D(2026, 1, 1), date_to=D(2026, 4, 30)) is None


def test_nothing_crosses_companies(org):
    people = selectors.people_in_view(org["other_hr"])
    assert [r.headcount for r in selectors.headcount_by_department(people, on=PERIOD["date_to"])] == [1]
    assert selectors.payroll_cost(org["other_hr"], **PERIOD) == []


def _filters(actor, **extra):
    return dashboards.Filters(company=actor.company, actor=actor, **PERIOD, **extra)


def test_dashboard_widgets_per_role_and_constant_queries(org, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        widgets = {w.key: w for w in build(_filters(org["hr"]))}
    assert (widgets["headcount"].value, widgets["hires"].value, widgets["leavers"].value) == (4, 1, 1)
    assert (widgets["absence_rate"].value, widgets["late_arrivals"].value) == (Decimal("17.5"), 1)
    assert widgets["payroll_cost"].value == Decimal("130000.50")
    assert widgets["payroll_cost_by_month"].series[1].data == [Decimal("130000.50")]
    manager_widgets = {w.key: w for w in build(_filters(org["manager"]))}
    assert manager_widgets["headcount"].value == 3
    assert "payroll_cost" not in manager_widgets and "payroll_cost_by_month" not in manager_widgets
    ops = org["departments"][2]
    for n in range(10):
        Employee.objects.create(
            company=ops.company, number=f"X{n}", name="临时工", department=ops, hire_date=D(2026, 3, 3)
        )
    with django_assert_max_num_queries(8):
        build(_filters(org["hr"]))


def test_the_hr_dashboard_page_and_api_for_hr_and_404_for_sales(org, company, member):
    hr_membership = org["hr"].membership
    page = browser(hr_membership).get("/dashboards/hr/", PERIOD)
    assert page.status_code == 200
    assert "130" in page.content.decode()
    sales_membership = org["sales"].membership
    assert browser(sales_membership).get("/dashboards/hr/").status_code == 404
    api = browser(hr_membership).get("/api/v1/dashboards/hr/", {k: v.isoformat() for k, v in PERIOD.items()})
    assert api.status_code == 200, api.content[:300]
    assert browser(sales_membership).get("/api/v1/dashboards/hr/").status_code == 404
    export = browser(hr_membership).get("/dashboards/hr/export.xlsx", PERIOD)
    assert export.status_code == 200 and export.content[:2] == b"PK"
    manager_page = browser(org["manager_membership"]).get("/dashboards/hr/", PERIOD).content.decode()
    assert "Payroll cost" not in manager_page


def test_drill_pages_accept_the_hr_filters(org):
    _sales, _south, ops = org["departments"]
    client = browser(org["hr"].membership)
    html = client.get(reverse("erp:hr-employee-list"), {"department": ops.pk, "employed_on": "2026-03-13"}).content
    assert "新人".encode() in html and "直属下属".encode() in html and "离职者".encode() not in html
    html = client.get(reverse("erp:hr-employee-list"), {"left_from": "2026-03-02", "left_to": "2026-03-13"}).content
    assert "离职者".encode() in html and "新人".encode() not in html
    html = client.get(reverse("erp:hr-attendance"), {"late": "1", **{k: v.isoformat() for k, v in PERIOD.items()}})
    assert html.content.decode().count("<tr><td>") == 1
