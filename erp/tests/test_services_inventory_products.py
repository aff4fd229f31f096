"""Products, units and conversions, price lists with tiers and validity, suppliers, warehouses, locations, lots."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import translation

from erp.models import CostMethod, Location, LocationKind, Product, UomDimension
from erp.selectors.inventory import price_for, products_for_sale, quantity_in_stock_unit
from erp.services import inventory as inv
from erp.tests.factories import make_lot, make_product, make_uom, make_warehouse

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """Messages are compared in English (the default language of the project is Chinese)."""
    with translation.override("en"):
        yield


# ---------------------------------------------------------------- products and units


def test_product_sku_is_unique_per_company_not_globally(company, other_company):
    make_product(company, sku="M8-BOLT")
    make_product(other_company, sku="M8-BOLT")

    with pytest.raises(ValidationError) as error:
        make_product(company, sku="M8-BOLT")

    assert "sku" in error.value.message_dict
    assert Product.objects.filter(sku="M8-BOLT").count() == 2


def test_barcode_unique_per_company_when_given(company):
    make_product(company, barcode="6901234567892")
    make_product(company, barcode="")
    make_product(company, barcode="")

    with pytest.raises(ValidationError):
        make_product(company, barcode="6901234567892")


def test_product_fields_and_defaults(company):
    kg = make_uom(company, "kg")
    category = inv.product_category_create(company=company, name="原材料", name_en="Raw materials")

    product = make_product(
        company,
        sku="STEEL-01",
        name="冷轧钢板",
        name_en="Cold-rolled steel sheet",
        uom=kg,
        category=category,
        cost_method=CostMethod.FIFO,
        list_price="12.50",
    )

    product.refresh_from_db()
    assert (product.name, product.name_en, product.uom.code, product.category.name) == (
        "冷轧钢板",
        "Cold-rolled steel sheet",
        "kg",
        "原材料",
    )
    assert product.cost_method == "fifo"
    assert product.list_price == Decimal("12.5000")
    assert product.average_cost == Decimal("0")
    assert product.is_stockable


def test_bad_product_input_is_a_field_error(company, other_company):
    with pytest.raises(ValidationError) as error:
        make_product(company, sku="  ", list_price="-1")
    assert set(error.value.message_dict) == {"sku", "list_price"}

    with pytest.raises(ValidationError) as error:
        make_product(company, uom=make_uom(other_company))
    assert set(error.value.message_dict) == {"uom"}


def test_stock_unit_cannot_change_once_stock_moved(company):
    product = make_product(company)
    warehouse = make_warehouse(company)
    inv.stock_receive(product=product, warehouse=warehouse, quantity=1)

    with pytest.raises(ValidationError) as error:
        inv.product_update(product=product, uom=make_uom(company, "kg"))
    assert "uom" in error.value.message_dict

    inv.product_update(product=product, name="新名字")
    product.refresh_from_db()
    assert product.name == "新名字"


def test_conversions_within_a_dimension_and_by_product_packaging(company):
    pcs = make_uom(company, "pcs")
    kg = make_uom(company, "kg")
    g = make_uom(company, "g")
    box = make_uom(company, "box", name="箱", dimension=UomDimension.UNIT, factor=Decimal("1"))
    screws = make_product(company, uom=pcs)
    flour = make_product(company, uom=kg)
    inv.uom_conversion_set(product=screws, uom=box, factor=Decimal("12"))

    assert quantity_in_stock_unit(product=screws, quantity=Decimal("3"), uom=box) == Decimal("36")
    assert quantity_in_stock_unit(product=flour, quantity=Decimal("1500"), uom=g) == Decimal("1.5")
    with pytest.raises(ValidationError) as error:
        quantity_in_stock_unit(product=screws, quantity=Decimal("1"), uom=kg)
    assert "uom" in error.value.message_dict


def test_whole_units_refuse_fractions(company):
    product = make_product(company, uom=make_uom(company, "pcs"))
    warehouse = make_warehouse(company)

    with pytest.raises(ValidationError) as error:
        inv.stock_receive(product=product, warehouse=warehouse, quantity="1.5")

    assert error.value.message_dict == {"quantity": ["Enter a whole number for this unit."]}


def test_products_for_sale_finds_by_sku_name_and_barcode(company, other_company):
    make_product(company, sku="PUMP-100", name="离心泵", name_en="Centrifugal pump", barcode="690000000001")
    make_product(company, sku="VALVE-1", name="球阀")
    make_product(other_company, sku="PUMP-200", name="离心泵")

    assert [p.sku for p in products_for_sale(company=company, search="泵")] == ["PUMP-100"]
    assert [p.sku for p in products_for_sale(company=company, search="pump")] == ["PUMP-100"]
    assert [p.sku for p in products_for_sale(company=company, search="690000000001")] == ["PUMP-100"]


# ---------------------------------------------------------------- price lists


@pytest.fixture
def pump(company):
    return make_product(company, sku="PUMP-100", list_price="1000")


def test_price_for_uses_tiers_group_currency_and_validity(company, pump):
    general = inv.price_list_create(company=company, name="标准价")
    inv.price_list_item_set(price_list=general, product=pump, unit_price=Decimal("950"))
    inv.price_list_item_set(price_list=general, product=pump, unit_price=Decimal("900"), min_quantity=Decimal("10"))
    vip = inv.price_list_create(
        company=company,
        name="VIP 2026",
        customer_group="vip",
        valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 12, 31),
    )
    inv.price_list_item_set(price_list=vip, product=pump, unit_price=Decimal("850"))
    usd = inv.price_list_create(company=company, name="Export", currency="USD")
    inv.price_list_item_set(price_list=usd, product=pump, unit_price=Decimal("130"))
    on = dt.date(2026, 6, 1)

    assert price_for(company=company, product=pump, quantity=Decimal("1"), on=on).unit_price == Decimal("950")
    assert price_for(company=company, product=pump, quantity=Decimal("10"), on=on).unit_price == Decimal("900")
    vip_price = price_for(company=company, product=pump, quantity=Decimal("10"), customer_group="vip", on=on)
    assert (vip_price.unit_price, vip_price.price_list_id) == (Decimal("850"), vip.pk)
    # outside its validity the VIP list does not apply: the general tiers do
    later = price_for(
        company=company, product=pump, quantity=Decimal("10"), customer_group="vip", on=dt.date(2027, 1, 2)
    )
    assert later.unit_price == Decimal("900")
    # an unknown group gets the general list
    assert price_for(company=company, product=pump, customer_group="dealer", on=on).unit_price == Decimal("950")
    assert price_for(company=company, product=pump, currency="USD", on=on).unit_price == Decimal("130")


def test_price_for_falls_back_to_list_price_in_company_currency(company, pump):
    price = price_for(company=company, product=pump, quantity=Decimal("3"))
    assert (price.unit_price, price.source, price.currency) == (Decimal("1000"), "list_price", "CNY")
    assert price_for(company=company, product=pump, currency="EUR") is None


def test_inactive_lists_and_other_companies_lists_do_not_price(company, other_company, pump):
    closed = inv.price_list_create(company=company, name="旧价", is_active=False)
    inv.price_list_item_set(price_list=closed, product=pump, unit_price=Decimal("1"))

    assert price_for(company=company, product=pump).unit_price == Decimal("1000")
    assert price_for(company=other_company, product=pump) is None


def test_price_list_item_refuses_a_product_of_another_company(company, other_company, pump):
    foreign = inv.price_list_create(company=other_company, name="外部")
    with pytest.raises(ValidationError) as error:
        inv.price_list_item_set(price_list=foreign, product=pump, unit_price=Decimal("1"))
    assert "product" in error.value.message_dict


def test_price_list_dates_must_be_ordered(company):
    with pytest.raises(ValidationError) as error:
        inv.price_list_create(company=company, name="错", valid_from=dt.date(2026, 2, 1), valid_to=dt.date(2026, 1, 1))
    assert set(error.value.message_dict) == {"valid_to"}


def test_price_for_query_count(company, pump, django_assert_max_num_queries):
    inv.price_list_item_set(price_list=inv.price_list_create(company=company, name="标准"), product=pump, unit_price=1)
    with django_assert_max_num_queries(1):
        price_for(company=company, product=pump)


# ---------------------------------------------------------------- suppliers


def test_one_preferred_supplier_per_product(company, pump):
    first = inv.product_supplier_create(product=pump, supplier_name="上海泵业", lead_time_days=14, is_preferred=True)
    second = inv.product_supplier_create(product=pump, supplier_name="温州阀门", lead_time_days=5, is_preferred=True)

    first.refresh_from_db()
    assert (first.is_preferred, second.is_preferred) == (False, True)
    with pytest.raises(ValidationError) as error:
        inv.product_supplier_create(product=pump, supplier_name="上海泵业")
    assert "supplier_name" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        inv.product_supplier_create(product=pump, supplier_name="X", lead_time_days=-1)
    assert "lead_time_days" in error.value.message_dict


# ---------------------------------------------------------------- warehouses, locations, lots


def test_warehouse_comes_with_a_default_stock_location(company):
    warehouse = make_warehouse(company, code="SH", name="上海仓")

    [location] = Location.objects.filter(warehouse=warehouse)
    assert (location.code, location.kind, location.is_default) == ("STOCK", LocationKind.INTERNAL, True)
    with pytest.raises(ValidationError):
        make_warehouse(company, code="SH", name="重复")


def test_locations_in_a_warehouse_and_virtual_ones(company):
    warehouse = make_warehouse(company)
    shelf = inv.location_create(warehouse=warehouse, code="A-01", name="A区1号架")
    customers = inv.virtual_location(company=company, kind=LocationKind.CUSTOMER)

    assert shelf.warehouse_id == warehouse.pk and not shelf.is_default
    assert inv.virtual_location(company=company, kind=LocationKind.CUSTOMER).pk == customers.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        Location.objects.create(company=company, code="X", name="X", kind=LocationKind.INTERNAL)  # no warehouse


def test_lot_code_unique_per_product_and_dates_ordered(company):
    milk = make_product(company, tracks_lots=True)
    juice = make_product(company, tracks_lots=True)
    make_lot(milk, code="20260101A", production_date=dt.date(2026, 1, 1), expiry_date=dt.date(2026, 1, 15))
    make_lot(juice, code="20260101A")

    with pytest.raises(ValidationError):
        make_lot(milk, code="20260101A")
    with pytest.raises(ValidationError) as error:
        make_lot(milk, code="BAD", production_date=dt.date(2026, 2, 1), expiry_date=dt.date(2026, 1, 1))
    assert error.value.message_dict == {"expiry_date": ["A lot cannot expire before it was produced."]}
    with pytest.raises(ValidationError) as error:
        make_lot(make_product(company), code="X")
    assert "product" in error.value.message_dict


# ---------------------------------------------------------------- updates and retirements


def test_category_cannot_move_below_itself(company):
    top = inv.product_category_create(company=company, name="机械")
    child = inv.product_category_create(company=company, name="泵", parent=top)

    with pytest.raises(ValidationError) as error:
        inv.product_category_update(category=top, parent=child)

    assert "parent" in error.value.message_dict


def test_unit_factor_is_fixed_once_products_count_in_it(company):
    crate = make_uom(company, "crate", name="筐", factor=Decimal("1"))
    inv.uom_update(uom=crate, factor=Decimal("2"))  # unused: may change
    make_product(company, uom=crate)

    with pytest.raises(ValidationError) as error:
        inv.uom_update(uom=crate, factor=Decimal("3"))
    assert "factor" in error.value.message_dict
    inv.uom_update(uom=crate, name="周转筐")
    crate.refresh_from_db()
    assert (crate.name, crate.factor) == ("周转筐", Decimal("2"))


def test_a_location_holding_stock_cannot_be_retired(company):
    warehouse = make_warehouse(company)
    shelf = inv.location_create(warehouse=warehouse, code="C-3", name="C区")
    inv.stock_receive(product=make_product(company), location=shelf, quantity=2)

    with pytest.raises(ValidationError) as error:
        inv.location_update(location=shelf, is_active=False)

    assert "is_active" in error.value.message_dict
    with pytest.raises(ValidationError):
        inv.stock_receive(
            product=make_product(company), location=inv.virtual_location(company=company, kind="customer"), quantity=1
        )


def test_incoming_supply_update_and_cancel(company):
    product = make_product(company)
    warehouse = make_warehouse(company)
    supply = inv.incoming_supply_plan(
        product=product, warehouse=warehouse, quantity=10, expected_date=dt.date(2026, 5, 1), reference="PO-3"
    )
    inv.stock_receive(product=product, warehouse=warehouse, quantity=4, incoming_supply=supply)

    with pytest.raises(ValidationError):
        inv.incoming_supply_update(supply=supply, quantity=3)  # less than received
    supply = inv.incoming_supply_update(supply=supply, expected_date=dt.date(2026, 5, 9), quantity=6)
    assert (supply.expected_date, supply.open_quantity) == (dt.date(2026, 5, 9), Decimal("2"))
    inv.incoming_supply_cancel(supply=supply)
    with pytest.raises(inv.StateConflict):
        inv.incoming_supply_cancel(supply=supply)
    other_warehouse = make_warehouse(company)
    fresh = inv.incoming_supply_plan(
        product=product, warehouse=warehouse, quantity=1, expected_date=dt.date(2026, 5, 1), reference="PO-4"
    )
    with pytest.raises(ValidationError) as error:
        inv.stock_receive(product=product, warehouse=other_warehouse, quantity=1, incoming_supply=fresh)
    assert "incoming_supply" in error.value.message_dict


def test_price_tiers_can_be_changed_and_removed(company):
    product = make_product(company, list_price="50")
    price_list = inv.price_list_create(company=company, name="标准")
    item = inv.price_list_item_set(price_list=price_list, product=product, unit_price="40", min_quantity="10")

    inv.price_list_item_update(item=item, unit_price="38")
    assert price_for(company=company, product=product, quantity=Decimal("10")).unit_price == Decimal("38")
    inv.price_list_item_delete(item=item)
    assert price_for(company=company, product=product, quantity=Decimal("10")).unit_price == Decimal("50")


# ---------------------------------------------------------------- lots for SCRM QR codes


def test_lot_find_and_trace(company, other_company):
    from erp.selectors.inventory import lot_find, lot_trace

    milk = make_product(company, sku="MILK-1L", tracks_lots=True)
    lot = make_lot(milk, code="20260301A", expiry_date=dt.date(2099, 3, 20))
    east, west = make_warehouse(company), make_warehouse(company)
    inv.stock_receive(product=milk, warehouse=east, quantity=10, lot=lot, reference="PO-1")
    inv.stock_transfer(product=milk, from_warehouse=east, to_warehouse=west, quantity=4, reference="TR-1")
    inv.stock_deliver(product=milk, warehouse=west, quantity=3, reference="DN-1")

    assert lot_find(company=company, sku="MILK-1L", code="20260301A") == lot
    assert lot_find(company=other_company, sku="MILK-1L", code="20260301A") is None
    assert [(m.kind, m.reference, m.quantity) for m in lot_trace(lot=lot)] == [
        ("receipt", "PO-1", Decimal("10")),
        ("transfer", "TR-1", Decimal("4")),
        ("delivery", "DN-1", Decimal("3")),
    ]
