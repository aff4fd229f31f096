"""HR performance KPIs from production (issue #6, performance): output and defect rate per operator (the
employee's suite user, from the shop-floor reports) and per work centre, plugged into HR's KPI registry
(``erp.services.hr.kpi_sources``) and filled by ``goals_compute``. Numbers checked by hand in each docstring."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from erp.models import Goal, KpiSource, OperationReport
from erp.selectors import production as selectors
from erp.services import hr as hr_svc
from erp.services import production as prod
from erp.tests.hr_factories import employee_in

D = Decimal
pytestmark = pytest.mark.django_db


def released_order(plant, quantity="10"):
    plant.stock(plant.housing, quantity, "20")
    plant.stock(plant.bolt, str(int(quantity) * 2), "5")
    order = prod.production_order_create(
        company=plant.company,
        product=plant.pump,
        quantity=D(quantity),
        warehouse=plant.warehouse,
        due_date=timezone.localdate() + dt.timedelta(days=5),
    )
    return prod.production_order_release(order=order)


@pytest.fixture
def shift(plant):
    """10 pumps. Operator Li: assembly 7 good + 1 scrapped, testing 4 good + 1 scrapped. Operator Wang:
    assembly 2 good (finishes it). Li: 11 good, 2 scrapped → 2 / 13 = 15.38 %; Wang: 2 good, 0 % scrap.
    Assembly centre: 9 good, 1 scrapped → 10.00 %; testing centre: 4 good, 1 scrapped → 20.00 %."""
    li, wang = plant.member(), plant.member()
    order = released_order(plant)
    assembly, testing = order.operations.order_by("sequence")
    prod.operation_report(operation=assembly, good_quantity=D("7"), scrap_quantity=D("1"), by=li)
    prod.operation_report(operation=assembly, good_quantity=D("2"), finish=True, by=wang)
    prod.operation_report(operation=testing, good_quantity=D("4"), scrap_quantity=D("1"), by=li)
    return li, wang


def test_every_report_is_recorded_with_its_operator_and_work_centre(plant, shift):
    li, wang = shift
    rows = OperationReport.objects.filter(company=plant.company).order_by("id")
    assert [(r.operator_id, r.work_center_id, r.good_quantity, r.scrap_quantity) for r in rows] == [
        (li.pk, plant.assembly.pk, D("7"), D("1")),
        (wang.pk, plant.assembly.pk, D("2"), D("0")),
        (li.pk, plant.testing.pk, D("4"), D("1")),
    ]


def test_output_and_defect_rate_per_operator_and_work_centre(plant, shift):
    li, wang = shift
    today = timezone.localdate()
    period = {"company_id": plant.company.pk, "start": today, "end": today}
    assert selectors.employee_output(user_id=li.pk, **period) == D("11")
    assert selectors.employee_defect_rate(user_id=li.pk, **period) == D("15.38")
    assert selectors.employee_output(user_id=wang.pk, **period) == D("2")
    assert selectors.employee_defect_rate(user_id=wang.pk, **period) == D("0.00")
    assert selectors.work_center_output(work_center_id=plant.assembly.pk, **period) == D("9")
    assert selectors.work_center_defect_rate(work_center_id=plant.assembly.pk, **period) == D("10.00")
    assert selectors.work_center_defect_rate(work_center_id=plant.testing.pk, **period) == D("20.00")
    rows = selectors.operator_output(plant.company, start=today, end=today)
    assert [(r["work_center"], r["operator_id"], r["good"], r["scrap"], r["defect_rate"]) for r in rows] == [
        ("WC-ASM", li.pk, D("7"), D("1"), D("12.50")),
        ("WC-ASM", wang.pk, D("2"), D("0"), D("0.00")),
        ("WC-TST", li.pk, D("4"), D("1"), D("20.00")),
    ]
    # yesterday: nothing reported — no output, and no defect rate rather than 0 %
    yesterday = today - dt.timedelta(days=1)
    assert selectors.employee_output(company_id=plant.company.pk, user_id=li.pk, start=yesterday, end=yesterday) == 0
    assert (
        selectors.employee_defect_rate(company_id=plant.company.pk, user_id=li.pk, start=yesterday, end=yesterday)
        is None
    )


def test_goals_compute_fills_production_kpis_of_the_employees_user(plant, shift):
    li, _wang = shift
    assert {KpiSource.PRODUCTION_OUTPUT, KpiSource.PRODUCTION_DEFECT_RATE} <= set(hr_svc.kpi_sources())
    operator = employee_in(plant.company, user=li)
    no_login = employee_in(plant.company)
    today = timezone.localdate()
    output = hr_svc.kpi_create(company=plant.company, code="out", name="产量", source=KpiSource.PRODUCTION_OUTPUT)
    defects = hr_svc.kpi_create(
        company=plant.company,
        code="dr",
        name="不良率",
        source=KpiSource.PRODUCTION_DEFECT_RATE,
        higher_is_better=False,
    )
    month_start = today.replace(day=1)
    later = today + dt.timedelta(days=1)
    goals = [
        hr_svc.goal_create(employee=who, kpi=kpi, period_start=start, period_end=end, target=D(target))
        for who, kpi, start, end, target in (
            (operator, output, month_start, today, "10"),
            (operator, defects, month_start, today, "5"),
            (no_login, output, month_start, today, "10"),
            (operator, output, later, later + dt.timedelta(days=6), "10"),  # a later period: nothing reported
        )
    ]
    assert hr_svc.goals_compute(company=plant.company) == 4
    out_goal, defect_goal, no_login_goal, later_goal = (Goal.objects.get(pk=g.pk) for g in goals)
    assert out_goal.actual == D("11.00") and out_goal.attainment == D("110.0")
    assert defect_goal.actual == D("15.38")
    assert no_login_goal.actual is None
    assert later_goal.actual == D("0.00")
