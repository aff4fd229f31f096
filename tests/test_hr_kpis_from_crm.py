"""HR goals computed from CRM (issue #6, performance): won revenue, activities done and SLA attainment of the
employee's suite user in the goal's period, read through ``crm.selectors_kpi`` only. Lives in the top-level
tests because it drives both apps' services (neither app may import the other's services)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.services.activities import activity_complete, activity_create
from crm.services.opportunities import opportunity_create, opportunity_win
from crm.tests.factories import AccountFactory
from erp.models import Goal, KpiSource
from erp.services import hr as hr_svc
from erp.tests.hr_factories import employee_in
from suite.models import Role
from suite.testing import CompanyFactory, make_member

pytestmark = pytest.mark.django_db


def test_goals_read_won_revenue_and_activities_of_the_employees_user():
    company = CompanyFactory()
    seller = make_member(company, Role.SALES).user
    other = make_member(company, Role.SALES).user
    employee = employee_in(company, user=seller)
    account = AccountFactory(company=company, by=seller)
    for amount, owner in (("120000.00", seller), ("30000.00", seller), ("999999.00", other)):
        opportunity = opportunity_create(company=company, by=owner, name="机床", account=account, amount=amount)
        opportunity_win(opportunity=opportunity, by=owner)
    opportunity_create(company=company, by=seller, name="未赢", account=account, amount="5000.00")  # open: not counted
    for i in range(3):
        activity = activity_create(company=company, by=seller, kind="call", subject=f"回访{i}", account=account)
        if i < 2:
            activity_complete(activity=activity, by=seller)
    today = timezone.localdate()
    start, end = today - dt.timedelta(days=30), today + dt.timedelta(days=1)
    revenue = hr_svc.kpi_create(company=company, code="rev", name="赢单额", source=KpiSource.CRM_WON_REVENUE)
    calls = hr_svc.kpi_create(company=company, code="act", name="活动", source=KpiSource.CRM_ACTIVITIES)
    sla = hr_svc.kpi_create(company=company, code="sla", name="SLA", source=KpiSource.CRM_SLA)
    goals = [
        hr_svc.goal_create(employee=employee, kpi=kpi, period_start=start, period_end=end, target=Decimal(target))
        for kpi, target in ((revenue, "100000"), (calls, "4"), (sla, "95"))
    ]
    assert hr_svc.goals_compute(company=company) == 3
    revenue_goal, calls_goal, sla_goal = (Goal.objects.get(pk=g.pk) for g in goals)
    assert revenue_goal.actual == Decimal("150000.00")
    assert revenue_goal.attainment == Decimal("150.0")
    assert calls_goal.actual == Decimal("2.00")
    assert sla_goal.actual is None  # no ticket resolved: no figure rather than 0 %
