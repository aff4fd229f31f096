"""Factories for ERP records, one section per domain. They go through the services, so records built in tests
are exactly like real ones; ``@tenant_factory`` registers the models the API serves for the tenant-isolation
test (tests/test_tenant_isolation.py)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

# ---------------------------------------------------------------- inventory
from erp import models as erp_models
from erp.models import (
    IncomingSupply,
    Location,
    Lot,
    PriceList,
    PriceListItem,
    Product,
    ProductCategory,
    ProductSupplier,
    QuoteReservation,
    ReorderRule,
    StockAdjustment,
    StockMove,
    StockQuant,
    StockReservation,
    UnitOfMeasure,
    UomConversion,
    Warehouse,
)
from erp.services import inventory as inv
from suite.models import Company
from suite.testing import tenant_factory

_inventory_seq = itertools.count(1)


def make_uom(company: Company, code: str = "pcs", **fields) -> UnitOfMeasure:
    """The company's unit ``code`` (the standard set is created on first use)."""
    units = inv.uom_defaults_ensure(company=company)
    if code in units and not fields:
        return units[code]
    return inv.uom_create(company=company, code=code, name=fields.pop("name", code), **fields)


def make_product(company: Company, **fields) -> Product:
    n = next(_inventory_seq)
    fields.setdefault("sku", f"SKU-{n:05d}")
    fields.setdefault("name", f"测试产品{n}")
    fields.setdefault("uom", make_uom(company))
    return inv.product_create(company=company, **fields)


def make_warehouse(company: Company, **fields) -> Warehouse:
    n = next(_inventory_seq)
    fields.setdefault("code", f"WH{n}")
    fields.setdefault("name", f"仓库{n}")
    return inv.warehouse_create(company=company, **fields)


def make_lot(product: Product, **fields) -> Lot:
    fields.setdefault("code", f"L{next(_inventory_seq):05d}")
    return inv.lot_create(product=product, **fields)


def stocked(company: Company, quantity=Decimal("10"), **product_fields) -> tuple[Product, Warehouse]:
    """A product with ``quantity`` received into a new warehouse."""
    product = make_product(company, **product_fields)
    warehouse = make_warehouse(company)
    inv.stock_receive(product=product, warehouse=warehouse, quantity=quantity, unit_cost=Decimal("5"), reference="INIT")
    return product, warehouse


@tenant_factory(UnitOfMeasure)
def _uom_in(company: Company) -> UnitOfMeasure:
    return make_uom(company, f"u{next(_inventory_seq)}", name="单位")


@tenant_factory(ProductCategory)
def _category_in(company: Company) -> ProductCategory:
    return inv.product_category_create(company=company, name=f"类别{next(_inventory_seq)}")


@tenant_factory(Product)
def _product_in(company: Company) -> Product:
    return make_product(company)


@tenant_factory(UomConversion)
def _conversion_in(company: Company) -> UomConversion:
    return inv.uom_conversion_set(
        product=make_product(company), uom=make_uom(company, f"box{next(_inventory_seq)}", name="箱"), factor=12
    )


@tenant_factory(ProductSupplier)
def _supplier_in(company: Company) -> ProductSupplier:
    return inv.product_supplier_create(product=make_product(company), supplier_name="苏州精密零件厂", lead_time_days=7)


@tenant_factory(PriceList)
def _price_list_in(company: Company) -> PriceList:
    return inv.price_list_create(company=company, name=f"价目表{next(_inventory_seq)}")


@tenant_factory(PriceListItem)
def _price_item_in(company: Company) -> PriceListItem:
    return inv.price_list_item_set(
        price_list=_price_list_in(company), product=make_product(company), unit_price=Decimal("9.90")
    )


@tenant_factory(Warehouse)
def _warehouse_in(company: Company) -> Warehouse:
    return make_warehouse(company)


@tenant_factory(Location)
def _location_in(company: Company) -> Location:
    return inv.location_create(warehouse=make_warehouse(company), code="A-01", name="A区1号架")


@tenant_factory(Lot)
def _lot_in(company: Company) -> Lot:
    return make_lot(make_product(company, tracks_lots=True), expiry_date=dt.date(2030, 1, 1))


@tenant_factory(StockMove)
def _move_in(company: Company) -> StockMove:
    product = make_product(company)
    return inv.stock_receive(product=product, warehouse=make_warehouse(company), quantity=3, reference="PO-1")


@tenant_factory(StockQuant)
def _quant_in(company: Company) -> StockQuant:
    move = _move_in(company)
    return StockQuant.objects.get(product=move.product, location=move.to_location)


@tenant_factory(StockReservation)
def _reservation_in(company: Company) -> StockReservation:
    product, warehouse = stocked(company)
    return inv.stock_reserve(product=product, warehouse=warehouse, quantity=2, reference="SO-1")


@tenant_factory(StockAdjustment)
def _adjustment_in(company: Company) -> StockAdjustment:
    product, warehouse = stocked(company)
    location = Location.objects.get(warehouse=warehouse, is_default=True)
    return inv.stock_adjust(product=product, location=location, quantity_delta=-1, reason="破损")


@tenant_factory(IncomingSupply)
def _incoming_in(company: Company) -> IncomingSupply:
    return inv.incoming_supply_plan(
        product=make_product(company),
        warehouse=make_warehouse(company),
        quantity=5,
        expected_date=dt.date(2030, 1, 10),
        reference="PO-9",
    )


@tenant_factory(QuoteReservation)
def _quote_reservation_in(company: Company) -> QuoteReservation:
    from erp.services.quote_reservations import quote_reservations_place

    product = make_product(company)
    make_warehouse(company)
    [held] = quote_reservations_place(
        company=company,
        payload={"quote_id": 9001, "number": "Q-9001", "opportunity_id": 1, "valid_until": "2030-01-31",
                 "lines": [{"product_id": product.pk, "quantity": "3"}]},
    )  # fmt: skip
    return held


@tenant_factory(ReorderRule)
def _reorder_rule_in(company: Company) -> ReorderRule:
    return inv.reorder_rule_create(
        product=make_product(company), warehouse=make_warehouse(company), min_quantity=5, max_quantity=20
    )


# ---------------------------------------------------------------- finance
# ---------------------------------------------------------------- partners, invoicing, bank
from erp.tests import (  # noqa: E402 (registered after the inventory factories on purpose)
    finance_factories,  # noqa: F401 (registers the finance tenant factories)
    invoicing_factories,  # noqa: F401 (registers their tenant factories)
)

# ---------------------------------------------------------------- sales fulfilment


def make_sales_order(company: Company, *, quantity=Decimal("2"), stock=Decimal("5")) -> erp_models.SalesOrder:
    """A draft order of a stocked product for a new customer (no ledger needed)."""
    from erp.services import partners as partner_services
    from erp.services import sales as sales_services

    product, warehouse = stocked(company, quantity=stock)
    customer = partner_services.partner_create(company=company, name=f"客户{next(_inventory_seq)}", is_customer=True)
    return sales_services.sales_order_create(
        company=company,
        partner=customer,
        lines=[{"product": product, "quantity": quantity, "unit_price": Decimal("10")}],
        warehouse=warehouse,
    )


@tenant_factory(erp_models.SalesOrder)
def _sales_order_in(company: Company) -> erp_models.SalesOrder:
    return make_sales_order(company)


@tenant_factory(erp_models.DeliveryOrder)
def _delivery_in(company: Company) -> erp_models.DeliveryOrder:
    from erp.services import sales as sales_services

    order = sales_services.sales_order_confirm(order=make_sales_order(company))
    return order.deliveries.get()


@tenant_factory(erp_models.SalesReturn)
def _sales_return_in(company: Company) -> erp_models.SalesReturn:
    from erp.services import sales as sales_services

    delivery = sales_services.delivery_ship(delivery=_delivery_in(company))
    return sales_services.sales_return_create(
        delivery=delivery, lines=[{"delivery_line": delivery.lines.get().pk, "quantity": 1}], reason="测试"
    )


# ---------------------------------------------------------------- expenses, budgets, cash-flow mapping
from erp.tests import expense_factories  # noqa: E402, F401 (registers their tenant factories)


# ---------------------------------------------------------------- procurement, inventory operations, valuation
def _supplier_of(company: Company):
    from erp.services import partners as partner_services

    return partner_services.partner_create(
        company=company, name=f"供应商{next(_inventory_seq)}", is_customer=False, is_supplier=True
    )


def make_purchase_order(company: Company, *, quantity=Decimal("5"), confirm: bool = True, **product_fields):
    """A purchase order of one product from a new supplier into a new warehouse (confirmed by default)."""
    from erp.services import procurement as procurement_services

    order = procurement_services.purchase_order_create(
        company=company,
        supplier=_supplier_of(company),
        warehouse=make_warehouse(company),
        lines=[{"product": make_product(company, **product_fields), "quantity": quantity, "unit_price": Decimal("4")}],
    )
    if confirm:
        procurement_services.purchase_order_submit(order=order)
        order = procurement_services.purchase_order_confirm(order=order)
    return order


@tenant_factory(erp_models.PurchaseOrder)
def _purchase_order_in(company: Company) -> erp_models.PurchaseOrder:
    return make_purchase_order(company)


@tenant_factory(erp_models.GoodsReceipt)
def _receipt_in(company: Company) -> erp_models.GoodsReceipt:
    from erp.services import procurement as procurement_services

    order = make_purchase_order(company)
    return procurement_services.goods_receive(order=order, lines=[{"order_line": order.lines.get(), "quantity": 2}])


@tenant_factory(erp_models.PurchaseRequisition)
def _requisition_in(company: Company) -> erp_models.PurchaseRequisition:
    from erp.services import procurement as procurement_services

    return procurement_services.requisition_create(
        company=company,
        warehouse=make_warehouse(company),
        lines=[{"product": make_product(company), "quantity": Decimal("3")}],
    )


@tenant_factory(erp_models.RequestForQuotation)
def _rfq_in(company: Company) -> erp_models.RequestForQuotation:
    from erp.services import procurement as procurement_services

    requisition = procurement_services.requisition_approve(requisition=_requisition_in(company))
    return procurement_services.rfqs_create(requisition=requisition, suppliers=[_supplier_of(company)])[0]


@tenant_factory(erp_models.VendorBillMatch)
def _bill_match_in(company: Company) -> erp_models.VendorBillMatch:
    from erp.models import Account
    from erp.services import finance as finance_services
    from erp.services import procurement as procurement_services

    if not Account.objects.filter(company=company).exists():
        finance_services.chart_of_accounts_install(company=company)
        finance_services.journals_install_defaults(company=company)
    receipt = _receipt_in(company)
    bill = procurement_services.vendor_bill_create(order=receipt.purchase_order)
    return bill.purchase_match


@tenant_factory(erp_models.StockCount)
def _count_in(company: Company) -> erp_models.StockCount:
    from erp.services import stock_operations

    product, warehouse = stocked(company)
    return stock_operations.stock_count_create(company=company, warehouse=warehouse, products=[product])


@tenant_factory(erp_models.StockTransfer)
def _transfer_in(company: Company) -> erp_models.StockTransfer:
    from erp.services import stock_operations

    product, warehouse = stocked(company)
    return stock_operations.stock_transfer_create(
        company=company,
        from_warehouse=warehouse,
        to_warehouse=make_warehouse(company),
        lines=[{"product": product, "quantity": Decimal("1")}],
    )


@tenant_factory(erp_models.StockValuationLayer)
def _layer_in(company: Company) -> erp_models.StockValuationLayer:
    product, _warehouse = stocked(company)
    return erp_models.StockValuationLayer.objects.filter(product=product).first()


# ---------------------------------------------------------------- production


def _production_basics(company: Company):
    from erp.services import production as prod

    product = make_product(company, tracks_lots=False)
    part = make_product(company)
    center = prod.work_center_create(company=company, code=f"WC{next(_inventory_seq)}", name="装配线")
    routing = prod.routing_create(
        company=company,
        name=f"工艺{next(_inventory_seq)}",
        operations=[{"name": "装配", "work_center": center, "setup_minutes": 10, "run_minutes": Decimal("2")}],
    )
    bom = prod.bom_create(company=company, product=product, routing=routing, lines=[{"component": part, "quantity": 2}])
    return product, part, center, routing, bom


def _production_order_in(company: Company) -> erp_models.ProductionOrder:
    from erp.services import production as prod

    product, _part, _center, _routing, bom = _production_basics(company)
    return prod.production_order_create(
        company=company,
        product=product,
        quantity=Decimal("3"),
        warehouse=make_warehouse(company),
        due_date=dt.date.today() + dt.timedelta(days=7),
        bom=bom,
    )


@tenant_factory(erp_models.OperationReport)
def _operation_report_in(company: Company) -> erp_models.OperationReport:
    from erp.services import inventory as inv
    from erp.services import production as prod

    order = _production_order_in(company)
    for material in order.materials.all():
        inv.stock_receive(
            product=material.product, warehouse=order.warehouse, quantity=material.required_quantity, unit_cost=1
        )
    order = prod.production_order_release(order=order)
    prod.operation_report(operation=order.operations.first(), good_quantity=Decimal("1"))
    return erp_models.OperationReport.objects.get(order=order)


@tenant_factory(erp_models.WorkCalendar)
def _work_calendar_in(company: Company) -> erp_models.WorkCalendar:
    from erp.services import production as prod

    return prod.work_calendar_create(company=company, name=f"日历{next(_inventory_seq)}")


@tenant_factory(erp_models.WorkCenter)
def _work_center_in(company: Company) -> erp_models.WorkCenter:
    return _production_basics(company)[2]


@tenant_factory(erp_models.Routing)
def _routing_in(company: Company) -> erp_models.Routing:
    return _production_basics(company)[3]


@tenant_factory(erp_models.Bom)
def _bom_in(company: Company) -> erp_models.Bom:
    return _production_basics(company)[4]


@tenant_factory(erp_models.ProductPlanning)
def _planning_in(company: Company) -> erp_models.ProductPlanning:
    from erp.services import production as prod

    return prod.product_planning_set(product=make_product(company), procurement="buy", lead_time_days=3)


@tenant_factory(erp_models.DemandForecast)
def _forecast_in(company: Company) -> erp_models.DemandForecast:
    from erp.services import mrp

    product = make_product(company)
    mrp.forecast_lines_replace(
        company=company, source="manual", lines=[{"product": product, "date": dt.date.today(), "quantity": "5"}]
    )
    return erp_models.DemandForecast.objects.get(product=product)


@tenant_factory(erp_models.ForecastSettings)
def _forecast_settings_in(company: Company) -> erp_models.ForecastSettings:
    from erp.services import forecasting

    return forecasting.forecast_settings_set(company=company, intent_conversion_rate="0.25", intent_horizon_days=21)


@tenant_factory(erp_models.MrpRun)
def _mrp_run_in(company: Company) -> erp_models.MrpRun:
    from erp.services import mrp

    return mrp.mrp_run_start(company=company, warehouse=make_warehouse(company), queue=False)


@tenant_factory(erp_models.PlannedOrder)
def _planned_in(company: Company) -> erp_models.PlannedOrder:
    from erp.services import mrp

    product, *_rest = _production_basics(company)
    warehouse = make_warehouse(company)
    mrp.forecast_lines_replace(
        company=company,
        source="manual",
        lines=[{"product": product, "date": dt.date.today() + dt.timedelta(days=3), "quantity": "4"}],
    )
    run = mrp.mrp_run_start(company=company, warehouse=warehouse, queue=False)
    mrp.mrp_run_execute(run_id=run.pk)
    return erp_models.PlannedOrder.objects.filter(run=run, product=product).first()


@tenant_factory(erp_models.ProductionOrder)
def _production_order_factory(company: Company) -> erp_models.ProductionOrder:
    return _production_order_in(company)


@tenant_factory(erp_models.ProductionOperation)
def _operation_in(company: Company) -> erp_models.ProductionOperation:
    return _production_order_in(company).operations.first()


@tenant_factory(erp_models.InspectionPlan)
def _inspection_plan_in(company: Company) -> erp_models.InspectionPlan:
    from erp.services import production as prod

    return prod.inspection_plan_create(
        company=company,
        product=make_product(company),
        name="外观检验",
        characteristics=[{"name": "长度", "min": "9.9", "max": "10.1", "unit": "mm"}],
    )


@tenant_factory(erp_models.Inspection)
def _inspection_in(company: Company) -> erp_models.Inspection:
    from erp.services import production as prod

    return prod.inspection_record(plan=_inspection_plan_in(company), measurements={"长度": "10"})


@tenant_factory(erp_models.NonConformance)
def _non_conformance_in(company: Company) -> erp_models.NonConformance:
    from erp.services import production as prod

    return prod.non_conformance_create(
        company=company, product=make_product(company), description="表面划伤", crm_ticket_id=42
    )


# ---------------------------------------------------------------- HR (erp/tests/hr_factories.py registers them)
import erp.tests.hr_factories  # noqa: F401, E402
