"""The supply & production dashboard: exact stock value per warehouse / category, stock-outs, ATP risk on open
sales orders, on-time completion and defect rates with field complaints on small known data sets; scope and
company isolation; constant query counts; the drill-down pages accept the dashboard's filters."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from erp.dashboards_supply import build
from erp.models import Inspection, ProductionOrder, ProductPlanning, SalesOrder, SalesOrderLine
from erp.selectors import dashboards_supply as selectors
from erp.services import partners as partner_services
from erp.services import production as prod
from erp.services.inventory import product_category_create
from erp.tests.factories import _production_basics, make_product, make_warehouse, stocked
from suite import dashboards
from suite.models import Role
from suite.policy import Actor
from suite.testing import TeamFactory

pytestmark = pytest.mark.django_db


def browser(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    client.cookies["django_language"] = "en"
    return client


@pytest.fixture
def stock(company, other_company, member):
    category = product_category_create(company=company, name="原料")
    p1, wh_a = stocked(company, quantity=Decimal("10"))
    p2, wh_b = stocked(company, quantity=Decimal("3"), category=category)
    p4, wh_c = stocked(company, quantity=Decimal("2"))
    ProductPlanning.objects.create(company=company, product=p4, safety_stock=Decimal("5"))
    p3 = make_product(company)  # never received: out of stock
    stocked(other_company, quantity=Decimal("99"))
    return {
        "admin": Actor(member(company, Role.ADMIN)),
        "warehouse": Actor(member(company, Role.WAREHOUSE)),
        "sales": Actor(member(company, Role.SALES)),
        "other": Actor(member(other_company, Role.ADMIN)),
        "products": (p1, p2, p3, p4),
        "warehouses": (wh_a, wh_b, wh_c),
        "category": category,
    }


def test_stock_value_per_warehouse_and_category(stock):
    wh_a, wh_b, wh_c = stock["warehouses"]
    by_warehouse = [(r.key, r.quantity, r.value) for r in selectors.stock_value(stock["admin"], group_by="warehouse")]
    assert by_warehouse == [
        (wh_a.pk, Decimal("10"), Decimal("50.00")),
        (wh_b.pk, Decimal("3"), Decimal("15.00")),
        (wh_c.pk, Decimal("2"), Decimal("10.00")),
    ]
    by_category = [(r.key, r.value) for r in selectors.stock_value(stock["admin"], group_by="category")]
    assert by_category == [(None, Decimal("60.00")), (stock["category"].pk, Decimal("15.00"))]
    only_p2 = selectors.stock_value(stock["admin"], group_by="warehouse", product_id=stock["products"][1].pk)
    assert [(r.key, r.value) for r in only_p2] == [(wh_b.pk, Decimal("15.00"))]


def test_stock_outs_are_items_at_zero_or_at_or_below_safety_stock(stock):
    _p1, _p2, p3, p4 = stock["products"]
    outs = selectors.stock_outs(stock["admin"])
    assert (outs.out_of_stock, outs.below_safety) == (1, 2)
    assert [(o.product_id, o.on_hand, o.safety_stock, o.is_out) for o in outs.items] == [
        (p3.pk, Decimal("0"), Decimal("0"), True),
        (p4.pk, Decimal("2"), Decimal("5"), False),
    ]


def test_stock_figures_are_scoped(stock):
    assert selectors.stock_value(stock["sales"], group_by="warehouse") == []  # sales do not see stock
    other = selectors.stock_value(stock["other"], group_by="warehouse")
    assert [r.value for r in other] == [Decimal("495.00")]


@pytest.fixture
def orders(company, member):
    team = TeamFactory(company=company, name="华南销售")
    rep = member(company, Role.SALES, teams=[team], username="rep_south")
    other_rep = member(company, Role.SALES, username="rep_north")
    product, warehouse = stocked(company, quantity=Decimal("1"))
    customer = partner_services.partner_create(company=company, name="远东贸易", is_customer=True)
    numbers = iter(range(1, 100))

    def order(salesperson, state, *lines, requested=None, promised=None):
        n = next(numbers)
        so = SalesOrder.objects.create(
            company=company, number=f"SO{n:04d}", sequence=n, partner=customer, salesperson=salesperson.user,
            warehouse=warehouse, currency="CNY", order_date=dt.date(2026, 3, 1), state=state,
            requested_date=requested, promised_date=promised,
        )  # fmt: skip
        for quantity, delivered, requested_line, promised_line in lines:
            SalesOrderLine.objects.create(
                company=company, order=so, product=product, description="件", warehouse=warehouse,
                quantity=Decimal(quantity), delivered_quantity=Decimal(delivered), unit_price=Decimal("10"),
                subtotal=Decimal(quantity) * 10, total=Decimal(quantity) * 10, requested_date=requested_line,
                promised_date=promised_line,
            )  # fmt: skip
        return so

    d = dt.date
    late = order(rep, "confirmed", ("4", "0", d(2026, 4, 1), d(2026, 4, 6)), ("2", "0", d(2026, 4, 1), d(2026, 4, 1)))
    uncovered = order(other_rep, "partially_delivered", ("10", "4", None, None), requested=d(2026, 4, 2))
    order(rep, "confirmed", ("5", "5", d(2026, 4, 1), d(2026, 4, 9)))  # fully delivered: not open
    order(rep, "draft", ("5", "0", d(2026, 4, 1), d(2026, 4, 9)))  # not confirmed
    order(rep, "confirmed", ("1", "0", None, d(2026, 4, 9)))  # no requested date, promised: fine
    return {"team": team, "rep": rep, "late": late, "uncovered": uncovered, "product": product}


def test_atp_risk_counts_lines_promised_late_or_not_covered(orders, stock):
    risk = selectors.atp_risk(stock["admin"])
    assert (risk.open_lines, risk.risk_lines, risk.uncovered_lines, risk.risk_value) == (4, 2, 1, Decimal("100.00"))
    assert [(line.order_id, line.open_quantity, line.days_late) for line in risk.lines] == [
        (orders["late"].pk, Decimal("4"), 5),
        (orders["uncovered"].pk, Decimal("6"), None),
    ]
    team = selectors.atp_risk(stock["admin"], team_id=orders["team"].pk)
    assert (team.open_lines, team.risk_lines, team.risk_value) == (3, 1, Decimal("40.00"))


def test_a_salesperson_sees_the_risk_on_their_own_orders_only(orders):
    mine = selectors.atp_risk(Actor(orders["rep"]))
    assert (mine.open_lines, mine.risk_lines) == (3, 1)


@pytest.fixture
def plant(company, member):
    product, _part, _center, _routing, bom = _production_basics(company)
    warehouse = make_warehouse(company)
    today = timezone.localdate()
    tz = timezone.get_current_timezone()

    def finished(due: dt.date, done: dt.date):
        order = prod.production_order_create(
            company=company,
            product=product,
            quantity=Decimal("1"),
            warehouse=warehouse,
            due_date=due,
            bom=bom,
            planned_start=due - dt.timedelta(days=10),
        )
        done_at = dt.datetime.combine(done, dt.time(15, 0), tzinfo=tz)
        ProductionOrder.objects.filter(pk=order.pk).update(state="done", done_at=done_at)
        return order

    base = today.replace(day=1) - dt.timedelta(days=1)  # the last day of last month
    finished(base - dt.timedelta(days=3), base - dt.timedelta(days=5))  # early
    finished(base - dt.timedelta(days=3), base - dt.timedelta(days=3))  # on the day
    finished(base - dt.timedelta(days=3), base - dt.timedelta(days=1))  # late
    overdue = prod.production_order_create(
        company=company, product=product, quantity=Decimal("1"), warehouse=warehouse,
        due_date=today - dt.timedelta(days=1), bom=bom, planned_start=today - dt.timedelta(days=9),
    )  # fmt: skip
    ProductionOrder.objects.filter(pk=overdue.pk).update(state="released")
    plan = prod.inspection_plan_create(
        company=company, product=product, name="外观", characteristics=[{"name": "长度", "min": "9", "max": "11"}]
    )
    Inspection.objects.create(
        company=company, plan=plan, product=product, result="fail", inspected_quantity=Decimal("40"),
        defect_quantity=Decimal("2"), inspected_at=timezone.now() - dt.timedelta(days=2),
    )  # fmt: skip
    Inspection.objects.create(
        company=company, plan=plan, product=product, result="pass", inspected_quantity=Decimal("60"),
        defect_quantity=Decimal("0"), inspected_at=timezone.now() - dt.timedelta(days=1),
    )  # fmt: skip
    prod.non_conformance_create(company=company, product=product, description="客户投诉：划伤", crm_ticket_id=7)
    prod.non_conformance_create(company=company, product=product, description="内部发现")  # not from the field
    other_product = make_product(company, sku="FIELD-ONLY")
    prod.non_conformance_create(company=company, product=other_product, description="投诉", crm_ticket_id=8)
    return {
        "product": product,
        "other_product": other_product,
        "overdue": overdue,
        "period": {"date_from": base.replace(day=1), "date_to": today},
        "last_month": base,
        "admin": Actor(member(company, Role.ADMIN, username="plant_admin")),
        "membership": member(company, Role.PRODUCTION, username="planner"),
    }


def test_on_time_completion_and_overdue_orders(plant):
    buckets = selectors.on_time_completion(plant["admin"], **plant["period"])
    assert [(b.period, b.done, b.on_time, b.rate) for b in buckets] == [
        (plant["last_month"].replace(day=1), 3, 2, Decimal("66.7"))
    ]
    assert selectors.overdue_production_orders(plant["admin"]) == 1


def test_defect_rate_per_product_counts_the_field_complaints(plant):
    rows = selectors.defect_rates_by_product(plant["admin"], **plant["period"])
    figures = [(r.product_id, r.inspected, r.defective, r.rate, r.field_complaints) for r in rows]
    assert figures == [
        (plant["product"].pk, Decimal("100"), Decimal("2"), Decimal("2.00"), 1),
        (plant["other_product"].pk, Decimal("0"), Decimal("0"), None, 1),
    ]


def _filters(actor, **extra):
    today = timezone.localdate()
    return dashboards.Filters(
        company=actor.company, actor=actor, date_from=today - dt.timedelta(days=90), date_to=today, **extra
    )


def test_dashboard_widgets_and_constant_queries(stock, orders, plant, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        widgets = {w.key: w for w in build(_filters(stock["admin"]))}
    assert widgets["atp_risk_lines"].value == 2
    assert widgets["atp_risk_value"].value == Decimal("100.00")
    assert widgets["on_time_completion"].value == Decimal("66.7")
    assert widgets["overdue_production"].value == 1
    assert widgets["stock_value"].money
    # never stocked: p3, the plant's product and part, FIELD-ONLY; p4 is below its safety stock
    assert (widgets["stock_outs"].value, widgets["below_safety"].value) == (4, 5)
    for _ in range(5):
        stocked(stock["admin"].company, quantity=Decimal("1"))
    with django_assert_max_num_queries(12):
        build(_filters(stock["admin"]))


def test_drill_pages_accept_the_dashboard_filters(stock, orders, plant, company, member):
    admin = member(company, Role.ADMIN, username="drill_admin")
    client = browser(admin)
    _p1, _p2, p3, p4 = stock["products"]
    html = client.get(reverse("erp:stock-levels"), {"below": "safety"}).content.decode()
    assert f'data-product="{p3.pk}"' in html and f'data-product="{p4.pk}"' in html
    assert f'data-product="{_p1.pk}"' not in html
    html = client.get(reverse("erp:stock-levels"), {"category": stock["category"].pk}).content.decode()
    assert html.count("data-product=") == 1
    html = client.get(reverse("erp:sales-order-list"), {"at_risk": "1"}).content.decode()
    assert orders["late"].number in html and orders["uncovered"].number in html and "SO0003" not in html
    html = client.get(reverse("erp:production-order-list"), {"overdue": "1"}).content.decode()
    assert html.count('href="/erp/production/orders/') == 1 and "Narrowed by a dashboard figure" in html
    late = plant["last_month"]
    html = client.get(
        reverse("erp:production-order-list"),
        {"state": "done", "done_from": late.replace(day=1).isoformat(), "done_to": late.isoformat(), "late": "1"},
    ).content.decode()
    assert html.count('href="/erp/production/orders/') == 1
    html = client.get(reverse("erp:production-quality"), {"product": plant["product"].pk, "field": "1"}).content
    assert "客户投诉".encode() in html and "内部发现".encode() not in html


def test_the_supply_dashboard_is_not_for_sales(stock):
    assert dashboards.visible_or_none(stock["warehouse"], "supply") is not None
    assert dashboards.visible_or_none(stock["sales"], "supply") is None


def test_stock_levels_page_refuses_sales(stock, company, member):
    client = browser(member(company, Role.SALES, username="nosy_sales"))
    assert client.get(reverse("erp:stock-levels")).status_code == 403


def test_the_supply_page_and_api_answer_the_warehouse_and_404_for_sales(stock, orders, plant, company, member):
    warehouse = browser(member(company, Role.WAREHOUSE, username="wh_lead"))
    assert warehouse.get("/dashboards/supply/").status_code == 200
    assert warehouse.get("/api/v1/dashboards/supply/").status_code == 200
    assert warehouse.get("/dashboards/supply/export.xlsx").content[:2] == b"PK"
    sales = browser(member(company, Role.SALES, username="so_nosy"))
    assert sales.get("/dashboards/supply/").status_code == 404
    assert sales.get("/api/v1/dashboards/supply/").status_code == 404
