"""Issue 6, HR UI journey: an HR user creates an employee on the form (with salary and ID number); the
employee requests two days of leave on the leave page; their manager approves it from the inbox and the
balance drops from 10 to 8 days; a sales colleague opening the employee's page sees neither the salary nor
the ID number.

Screenshots of each page go to /tmp/troika-hr-*.png."""

import datetime as dt
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from erp.models import Employee, LeaveBalance, LeaveRequest
from erp.services import hr as hr_svc
from suite.models import Membership, Module, Role
from suite.testing import CompanyFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Troika-123"
SALARY, ID_NUMBER = "23456.78", "11010519491231002X"
YEAR = dt.date.today().year + 1  # a whole future year: the accrual is not prorated and the dates are open
MONDAY = next(dt.date(YEAR, 3, d) for d in range(1, 8) if dt.date(YEAR, 3, d).weekday() == 0)


@pytest.fixture
def office(db):
    company = CompanyFactory(name="杭州云帆科技有限公司", code="hr-journey", enabled_modules=[Module.ERP_HR])
    users = {}
    for username, role in (
        ("he.hr", Role.HR),
        ("ma.manager", Role.MANAGER),
        ("zhou.staff", Role.SALES),
        ("qian.sales", Role.SALES),
    ):
        user = UserFactory(username=username, first_name=username.split(".")[0])
        user.set_password(PASSWORD)
        user.save()
        Membership.objects.create(user=user, company=company, role=role)
        users[username] = user
    boss = hr_svc.employee_create(
        company=company, number="M001", name="马经理", hire_date=dt.date(2020, 1, 1), user=users["ma.manager"]
    )
    hr_svc.leave_type_create(company=company, code="annual", name="年假", annual_days=Decimal("10"))
    return company, users, boss


def log_in(browser, base_url, username):
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-US")
    page = context.new_page()
    page.goto(f"{base_url}/login/")
    page.get_by_role("button", name="English").click()
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main navigation")).to_be_visible()
    return context, page


def test_hr_creates_employee_manager_approves_leave_sales_sees_no_salary(live_server, browser, office):
    company, users, boss = office
    base = live_server.url

    # -- HR creates the employee; a missing name is refused on the form first
    context, page = log_in(browser, base, "he.hr")
    try:
        page.goto(f"{base}/erp/hr/employees/")
        page.get_by_role("link", name="New employee").click()
        page.get_by_label("Employee number").fill("E0101")
        page.get_by_label("Hire date").fill(f"{YEAR - 1}-06-01")
        page.get_by_label("Monthly salary").fill(SALARY)
        page.get_by_label("ID number").fill(ID_NUMBER)
        page.get_by_label("Suite login").select_option(value=str(users["zhou.staff"].pk))
        page.get_by_label("Manager").select_option(value=str(boss.pk))
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".field.has-error")).to_contain_text("required")  # the name
        assert not Employee.objects.filter(company=company, number="E0101").exists()
        page.get_by_label("Name", exact=True).fill("周小川")
        page.get_by_label("Monthly salary").fill(SALARY)
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("周小川")
        expect(page.locator("dl.facts")).to_contain_text("23,456.78")
        page.screenshot(path="/tmp/troika-hr-employee.png", full_page=True)
    finally:
        context.close()
    employee = Employee.objects.get(company=company, number="E0101")
    assert (employee.salary, employee.manager_id, employee.user_id) == (
        Decimal(SALARY),
        boss.pk,
        users["zhou.staff"].pk,
    )
    hr_svc.leave_accrue(company=company, year=YEAR)  # the yearly accrual (a task / API call)

    # -- the employee requests Monday–Tuesday
    context, page = log_in(browser, base, "zhou.staff")
    try:
        page.goto(f"{base}/erp/hr/leave/")
        expect(page.get_by_text("10.00 days left")).to_be_visible()
        page.get_by_label("From").fill(MONDAY.isoformat())
        page.get_by_label("To").fill((MONDAY + dt.timedelta(days=1)).isoformat())
        page.get_by_label("Reason").fill("家事")
        page.get_by_role("button", name="Request").click()
        expect(page.get_by_text("Leave requested.")).to_be_visible()
    finally:
        context.close()

    # -- the manager approves it from the inbox
    context, page = log_in(browser, base, "ma.manager")
    try:
        page.goto(f"{base}/erp/hr/leave/")
        row = page.locator("#leave-inbox tr", has_text="周小川")
        expect(row).to_contain_text("2")
        page.screenshot(path="/tmp/troika-hr-inbox.png", full_page=True)
        row.get_by_role("button", name="Approve").click()
        expect(page.get_by_text("Done.")).to_be_visible()
    finally:
        context.close()
    request = LeaveRequest.objects.get(employee=employee)
    assert request.state == "approved"
    balance = LeaveBalance.objects.get(employee=employee, year=YEAR)
    assert (balance.accrued, balance.taken) == (Decimal("10"), Decimal("2"))

    # -- the employee sees the balance drop
    context, page = log_in(browser, base, "zhou.staff")
    try:
        page.goto(f"{base}/erp/hr/leave/")
        expect(page.get_by_text("8.00 days left")).to_be_visible()
    finally:
        context.close()

    # -- a sales colleague on the employee's page: no salary, no ID number, no edit
    context, page = log_in(browser, base, "qian.sales")
    try:
        page.goto(f"{base}/erp/hr/employees/{employee.pk}/")
        expect(page.get_by_role("heading", level=1)).to_contain_text("周小川")
        html = page.content()
        assert "23,456" not in html and "23456" not in html and ID_NUMBER not in html
        expect(page.get_by_text("Monthly salary")).to_have_count(0)
        expect(page.get_by_role("link", name="Edit")).to_have_count(0)
        page.screenshot(path="/tmp/troika-hr-sales-view.png", full_page=True)
    finally:
        context.close()
