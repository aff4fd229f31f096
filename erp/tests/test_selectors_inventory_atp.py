"""Available-to-promise by date, the earliest date for a quantity, and reorder suggestions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from erp.selectors.inventory import available_to_promise, reorder_suggestions
from erp.services import inventory as inv
from erp.tests.factories import make_lot, make_product, make_warehouse

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """Messages are compared in English (the default language of the project is Chinese)."""
    with translation.override("en"):
        yield


D = Decimal
TODAY = dt.date(2026, 3, 2)


@pytest.fixture
def warehouse(company):
    return make_warehouse(company, code="SH", name="上海仓")


@pytest.fixture
def product(company):
    return make_product(company, sku="PUMP-1")


def test_atp_is_free_stock_plus_cumulative_incoming_by_date(company, product, warehouse):
    inv.stock_receive(product=product, warehouse=warehouse, quantity=20)
    inv.stock_reserve(product=product, warehouse=warehouse, quantity=15, reference="SO-1")
    for offset, quantity in ((3, 10), (3, 5), (10, 30), (120, 99)):
        inv.incoming_supply_plan(
            product=product,
            warehouse=warehouse,
            quantity=quantity,
            expected_date=TODAY + dt.timedelta(days=offset),
            reference=f"PO-{offset}",
        )

    atp = available_to_promise(company=company, product=product, start=TODAY)

    assert len(atp.days) == 90
    assert (atp.on_hand, atp.reserved, atp.free) == (D(20), D(15), D(5))
    by_day = {d.date: d.available for d in atp.days}
    assert by_day[TODAY] == D(5)
    assert by_day[TODAY + dt.timedelta(days=2)] == D(5)
    assert by_day[TODAY + dt.timedelta(days=3)] == D(20)
    assert by_day[TODAY + dt.timedelta(days=10)] == D(50)
    assert atp.days[-1].available == D(50)  # the supply 120 days out is beyond the horizon
    assert atp.earliest_date_for(D(5)) == TODAY
    assert atp.earliest_date_for(D(6)) == TODAY + dt.timedelta(days=3)
    assert atp.earliest_date_for(D(50)) == TODAY + dt.timedelta(days=10)
    assert atp.earliest_date_for(D(51)) is None


def test_overdue_supply_counts_from_today_and_closed_supply_not_at_all(company, product, warehouse):
    late = inv.incoming_supply_plan(
        product=product, warehouse=warehouse, quantity=7, expected_date=TODAY - dt.timedelta(days=5), reference="PO-L"
    )
    cancelled = inv.incoming_supply_plan(
        product=product, warehouse=warehouse, quantity=100, expected_date=TODAY, reference="PO-C"
    )
    inv.incoming_supply_cancel(supply=cancelled)
    inv.stock_receive(product=product, warehouse=warehouse, quantity=3, incoming_supply=late)

    atp = available_to_promise(company=company, product=product, start=TODAY, horizon_days=5)

    # 3 received and on hand + 4 still expected (overdue, so from the first day)
    assert [d.available for d in atp.days] == [D(7)] * 5


def test_atp_per_warehouse(company, product, warehouse):
    beijing = make_warehouse(company, code="BJ", name="北京仓")
    inv.stock_receive(product=product, warehouse=warehouse, quantity=4)
    inv.stock_receive(product=product, warehouse=beijing, quantity=6)
    inv.incoming_supply_plan(product=product, warehouse=beijing, quantity=1, expected_date=TODAY, reference="PO")

    assert available_to_promise(company=company, product=product, start=TODAY).days[0].available == D(11)
    shanghai = available_to_promise(company=company, product=product, warehouse=warehouse, start=TODAY)
    assert shanghai.days[0].available == D(4)
    assert available_to_promise(company=company, product=product, warehouse=beijing, start=TODAY).free == D(6)


def test_lots_stop_counting_after_they_expire(company, warehouse):
    milk = make_product(company, tracks_lots=True)
    soon = make_lot(milk, code="S", expiry_date=TODAY + dt.timedelta(days=2))
    gone = make_lot(milk, code="G", expiry_date=TODAY - dt.timedelta(days=1))
    lasting = make_lot(milk, code="K", expiry_date=TODAY + dt.timedelta(days=365))
    for lot, quantity in ((soon, 5), (gone, 50), (lasting, 1)):
        inv.stock_receive(product=milk, warehouse=warehouse, quantity=quantity, lot=lot)

    atp = available_to_promise(company=company, product=milk, start=TODAY, horizon_days=5)

    assert [d.available for d in atp.days] == [D(6), D(6), D(6), D(1), D(1)]
    assert atp.days[3].expiring == D(5)
    assert atp.on_hand == D(56)


def test_atp_of_another_company_is_empty(company, other_company, product, warehouse):
    inv.stock_receive(product=product, warehouse=warehouse, quantity=4)
    atp = available_to_promise(company=other_company, product=product, start=TODAY)
    assert (atp.on_hand, atp.days[0].available) == (D(0), D(0))


def test_atp_is_one_query(company, product, warehouse, django_assert_num_queries):
    inv.stock_receive(product=product, warehouse=warehouse, quantity=4)
    with django_assert_num_queries(1):
        available_to_promise(company=company, product=product, warehouse=warehouse, start=TODAY)


# ---------------------------------------------------------------- reorder suggestions


def test_reorder_suggestions(company, warehouse):
    short = make_product(company, sku="A-SHORT")
    covered = make_product(company, sku="B-COVERED")
    inv.product_supplier_create(product=short, supplier_name="宁波五金", lead_time_days=9, is_preferred=True)
    inv.product_supplier_create(product=short, supplier_name="备选", lead_time_days=2)
    inv.stock_receive(product=short, warehouse=warehouse, quantity=8)
    inv.stock_reserve(product=short, warehouse=warehouse, quantity=5, reference="SO")
    inv.incoming_supply_plan(product=short, warehouse=warehouse, quantity=2, expected_date=TODAY, reference="PO")
    inv.stock_receive(product=covered, warehouse=warehouse, quantity=50)
    inv.reorder_rule_create(product=short, warehouse=warehouse, min_quantity=10, max_quantity=40, multiple=12)
    inv.reorder_rule_create(product=covered, warehouse=warehouse, min_quantity=10, max_quantity=40)

    [suggestion] = reorder_suggestions(company=company, on=TODAY)

    assert suggestion.sku == "A-SHORT"
    assert (suggestion.free, suggestion.incoming, suggestion.projected) == (D(3), D(2), D(5))
    assert suggestion.suggested_quantity == D(36)  # 40 - 5 = 35, in multiples of 12
    assert (suggestion.supplier_name, suggestion.lead_time_days) == ("宁波五金", 9)
    assert suggestion.expected_date == TODAY + dt.timedelta(days=9)


def test_reorder_suggestions_query_count(company, warehouse, django_assert_max_num_queries):
    for _ in range(5):
        product = make_product(company)
        inv.reorder_rule_create(product=product, warehouse=warehouse, min_quantity=1, max_quantity=2)
    with django_assert_max_num_queries(2):
        assert len(reorder_suggestions(company=company)) == 5


def test_reorder_rule_input(company, product, warehouse):
    with pytest.raises(ValidationError) as error:
        inv.reorder_rule_create(product=product, warehouse=warehouse, min_quantity=10, max_quantity=5)
    assert error.value.message_dict == {"max_quantity": ["Order up to at least the reorder point."]}
    rule = inv.reorder_rule_create(product=product, warehouse=warehouse, min_quantity=1, max_quantity=5)
    with pytest.raises(ValidationError) as error:
        inv.reorder_rule_update(rule=rule, min_quantity=6)
    assert "max_quantity" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        inv.reorder_rule_create(product=product, warehouse=warehouse, min_quantity=1, max_quantity=5)
    assert "product" in error.value.message_dict
