"""Every write of inventory: master data (units, products, prices, suppliers, warehouses, locations, lots),
the stock ledger (receipts, deliveries, transfers, approved adjustments), reservations, expected supply and
reorder rules.

Stock rules, kept here and backed by the database:

* every change of stock is a ``StockMove`` (append-only) and the matching change of ``StockQuant`` rows in the
  same transaction, so a quant always equals the sum of its moves;
* quant rows are locked with ``SELECT … FOR UPDATE`` in primary-key order (``lock_quants``) before anything is
  computed from them, so concurrent deliveries and reservations of the same product queue up instead of both
  taking the same units; the quant CHECKs (``quantity >= 0``, ``0 <= reserved <= quantity``) refuse whatever
  slips through;
* only free stock (on hand − reserved, lots not expired) can be delivered, transferred, adjusted away or
  reserved; reserved stock leaves through its reservation (``stock_consume_reservation``);
* every change publishes ``erp.stock.changed`` per product and warehouse (docs/events.md).

Bad input is a ``ValidationError`` with field names (API: 400); a well-formed request the stock refuses is a
``StockConflict`` (API: 409), e.g. ``InsufficientStock``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from erp.events import STOCK_CHANGED, stock_changed_payload
from erp.models import (
    AdjustmentState,
    CostMethod,
    IncomingSupply,
    Location,
    LocationKind,
    Lot,
    MoveKind,
    PriceList,
    PriceListItem,
    Product,
    ProductCategory,
    ProductSupplier,
    ProductValuation,
    ReorderRule,
    ReservationState,
    StockAdjustment,
    StockMove,
    StockQuant,
    StockReservation,
    StockReservationAllocation,
    SupplyKind,
    SupplyState,
    UnitOfMeasure,
    UomConversion,
    UomDimension,
    Warehouse,
)
from erp.selectors.inventory import quantity_in_stock_unit
from erp.services import valuation
from suite import events
from suite.models import Company

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ZERO = Decimal("0")
QUANTUM = Decimal("0.0001")
MAX_QUANTITY = Decimal("99999999999999")  # NUMERIC(18, 4)
CURRENCY_LENGTH = 3


# ---------------------------------------------------------------- errors


class StockConflict(Exception):
    """A well-formed request that the current stock or state refuses (the API answers 409)."""

    code = "conflict"
    field: str | None = None

    def __init__(self, message=None, *, field: str | None = None):
        self.message = message or _("The request conflicts with the current stock.")
        if field is not None:
            self.field = field
        super().__init__(str(self.message))


class InsufficientStock(StockConflict):
    """Less free stock than asked for; ``requested`` and ``available`` in the product's stock unit."""

    code = "insufficient_stock"
    field = "quantity"

    def __init__(self, *, product: Product, requested: Decimal, available: Decimal):
        self.requested = requested
        self.available = available
        super().__init__(
            _("Only %(available)s %(unit)s of %(sku)s are free; %(requested)s were asked for.")
            % {
                "available": _plain(available),
                "unit": product.uom.code,
                "sku": product.sku,
                "requested": _plain(requested),
            }
        )


class StateConflict(StockConflict):
    code = "invalid_state"
    field = None


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


# ---------------------------------------------------------------- input checks


def _decimal(value: Any, *, field: str, errors: dict, places: int = 4, positive: bool = True) -> Decimal | None:
    """``value`` as a Decimal with at most ``places`` decimals, > 0 (or ≥ 0), within NUMERIC(18, 4)."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        errors.setdefault(field, []).append(_("Enter a number."))
        return None
    if not number.is_finite():
        errors.setdefault(field, []).append(_("Enter a number."))
    elif positive and number <= 0:
        errors.setdefault(field, []).append(_("Enter a quantity greater than zero."))
    elif not positive and number < 0:
        errors.setdefault(field, []).append(_("This cannot be negative."))
    elif abs(number) > MAX_QUANTITY:
        errors.setdefault(field, []).append(_("The number is too large."))
    elif number != number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):
        errors.setdefault(field, []).append(
            _("At most %(places)d decimal places for this unit.") % {"places": places}
            if places
            else _("Enter a whole number for this unit.")
        )
    else:
        return number.quantize(QUANTUM)
    return None


def _raise(errors: dict) -> None:
    if errors:
        raise ValidationError(errors)


def stock_quantity(
    *, product: Product, quantity: Any, uom: UnitOfMeasure | None = None, field: str = "quantity"
) -> Decimal:
    """A requested quantity (in ``uom``, default the stock unit) in the product's stock unit, checked: > 0, and
    no finer than the stock unit allows (``decimal_places``). Raises ``ValidationError`` on ``field``."""
    errors: dict = {}
    places = uom.decimal_places if uom is not None else product.uom.decimal_places
    number = _decimal(quantity, field=field, errors=errors, places=max(places, 0))
    _raise(errors)
    converted = quantity_in_stock_unit(product=product, quantity=number, uom=uom)
    number = _decimal(converted, field=field, errors=errors, places=product.uom.decimal_places)
    _raise(errors)
    return number


def _same_company(company_id: int, **records) -> None:
    errors = {}
    for name, record in records.items():
        if record is not None and record.company_id != company_id:
            errors[name] = [_("Unknown record.")]
    _raise(errors)


def _text(value: str | None, *, field: str, errors: dict, required: bool = False, max_length: int = 200) -> str:
    text = (value or "").strip()
    if required and not text:
        errors.setdefault(field, []).append(_("This field cannot be blank."))
    elif len(text) > max_length:
        errors.setdefault(field, []).append(
            _("At most %(count)d characters.") % {"count": max_length},
        )
    elif "\x00" in text:
        errors.setdefault(field, []).append(_("Null characters are not allowed."))
    return text


def _save(instance, *, fields: Iterable[str] | None = None, unique_field: str, message) -> None:
    """``full_clean`` then save, turning a lost uniqueness race into a field error."""
    try:
        instance.full_clean()
    except ValidationError as exc:
        raise ValidationError(
            {(unique_field if name == "__all__" else name): messages for name, messages in exc.message_dict.items()}
        ) from None
    try:
        with transaction.atomic():
            if fields is None:
                instance.save()
            else:
                instance.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        raise ValidationError({unique_field: [message]}) from None


def _update(instance, data: dict, allowed: set[str]) -> list[str]:
    unknown = set(data) - allowed
    if unknown:
        raise TypeError(f"unknown fields: {', '.join(sorted(unknown))}")
    changed = []
    for name, value in data.items():
        if isinstance(value, str):
            value = value.strip()
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed.append(name)
    return changed


# ---------------------------------------------------------------- units of measure


@transaction.atomic
def uom_create(
    *,
    company: Company,
    code: str,
    name: str,
    dimension: str = UomDimension.UNIT,
    factor: Decimal = Decimal("1"),
    decimal_places: int = 0,
    name_en: str = "",
    is_active: bool = True,
    by: User | None = None,
) -> UnitOfMeasure:
    """Add a unit of measure. ``factor`` relates it to the reference unit (factor 1) of its dimension."""
    uom = UnitOfMeasure(
        company=company,
        code=code.strip(),
        name=name.strip(),
        name_en=name_en.strip(),
        dimension=dimension,
        factor=factor,
        decimal_places=decimal_places,
        is_active=is_active,
    )
    _save(uom, unique_field="code", message=_("A unit with this code exists."))
    return uom


@transaction.atomic
def uom_update(*, uom: UnitOfMeasure, by: User | None = None, **data) -> UnitOfMeasure:
    """Rename a unit or change how finely it divides (``name``, ``name_en``, ``decimal_places``,
    ``is_active``). Its dimension and factor are fixed once products use it: stock is counted in it."""
    uom = UnitOfMeasure.objects.select_for_update(of=("self",)).get(pk=uom.pk)
    allowed = {"code", "name", "name_en", "decimal_places", "is_active", "dimension", "factor"}
    changed = _update(uom, data, allowed)
    if {"dimension", "factor"} & set(changed) and Product.objects.filter(uom=uom).exists():
        raise ValidationError({"factor": [_("Products count stock in this unit; its dimension and factor are fixed.")]})
    if changed:
        _save(uom, fields=changed, unique_field="code", message=_("A unit with this code exists."))
    return uom


@transaction.atomic
def uom_defaults_ensure(*, company: Company) -> dict[str, UnitOfMeasure]:
    """The common units (个, 箱 as a unit; kg, g, t; m; L) for a company that has none yet, by code."""
    defaults = [
        ("pcs", "个", "Piece", UomDimension.UNIT, "1", 0),
        ("kg", "千克", "Kilogram", UomDimension.WEIGHT, "1", 3),
        ("g", "克", "Gram", UomDimension.WEIGHT, "0.001", 1),
        ("t", "吨", "Tonne", UomDimension.WEIGHT, "1000", 4),
        ("m", "米", "Metre", UomDimension.LENGTH, "1", 3),
        ("l", "升", "Litre", UomDimension.VOLUME, "1", 3),
        ("h", "小时", "Hour", UomDimension.TIME, "1", 2),
    ]
    existing = {u.code: u for u in UnitOfMeasure.objects.filter(company=company)}
    missing = [
        UnitOfMeasure(company=company, code=c, name=n, name_en=e, dimension=d, factor=Decimal(f), decimal_places=p)
        for c, n, e, d, f, p in defaults
        if c not in existing
    ]
    UnitOfMeasure.objects.bulk_create(missing, ignore_conflicts=True)
    return {u.code: u for u in UnitOfMeasure.objects.filter(company=company)}


# ---------------------------------------------------------------- products


@transaction.atomic
def product_category_create(
    *, company: Company, name: str, parent: ProductCategory | None = None, name_en: str = "", by: User | None = None
) -> ProductCategory:
    """Add a product category (under ``parent``)."""
    _same_company(company.pk, parent=parent)
    category = ProductCategory(company=company, name=name.strip(), name_en=name_en.strip(), parent=parent)
    _save(category, unique_field="name", message=_("A category with this name exists here."))
    return category


@transaction.atomic
def product_category_update(*, category: ProductCategory, by: User | None = None, **data) -> ProductCategory:
    """Rename or move a category (``name``, ``name_en``, ``parent``); a category cannot move below itself."""
    category = ProductCategory.objects.select_for_update(of=("self",)).get(pk=category.pk)
    parent = data.get("parent", category.parent)
    _same_company(category.company_id, parent=parent)
    ancestor = parent
    while ancestor is not None:
        if ancestor.pk == category.pk:
            raise ValidationError({"parent": [_("A category cannot be placed below itself.")]})
        ancestor = ancestor.parent
    changed = _update(category, data, {"name", "name_en", "parent"})
    if changed:
        _save(category, fields=changed, unique_field="name", message=_("A category with this name exists here."))
    return category


PRODUCT_FIELDS = {
    "sku",
    "barcode",
    "name",
    "name_en",
    "description",
    "category",
    "uom",
    "is_stockable",
    "tracks_lots",
    "cost_method",
    "list_price",
    "is_active",
}


def _product_checks(company_id: int, data: dict) -> None:
    errors: dict = {}
    _same_company(company_id, category=data.get("category"), uom=data.get("uom"))
    if "sku" in data:
        data["sku"] = _text(data["sku"], field="sku", errors=errors, required=True, max_length=64)
    if "name" in data:
        data["name"] = _text(data["name"], field="name", errors=errors, required=True)
    if "list_price" in data:
        data["list_price"] = _decimal(data["list_price"], field="list_price", errors=errors, positive=False)
    if data.get("cost_method") not in (None, *CostMethod.values):
        errors["cost_method"] = [_("Choose moving average or FIFO.")]
    _raise(errors)


@transaction.atomic
def product_create(
    *,
    company: Company,
    sku: str,
    name: str,
    uom: UnitOfMeasure,
    by: User | None = None,
    **data,
) -> Product:
    """Add a product (SKU unique in the company; barcode too when given). ``data``: ``barcode``, ``name_en``,
    ``description``, ``category``, ``is_stockable``, ``tracks_lots``, ``cost_method``, ``list_price``,
    ``is_active``. The average cost starts at 0 and follows receipts."""
    data = {"sku": sku, "name": name, "uom": uom, **data}
    unknown = set(data) - PRODUCT_FIELDS
    if unknown:
        raise TypeError(f"unknown product fields: {', '.join(sorted(unknown))}")
    _product_checks(company.pk, data)
    product = Product(company=company, **{k: v.strip() if isinstance(v, str) else v for k, v in data.items()})
    _save(product, unique_field="sku", message=_("A product with this SKU or barcode exists."))
    return product


@transaction.atomic
def product_update(*, product: Product, by: User | None = None, **data) -> Product:
    """Change a product's description fields (any of ``product_create``'s). The stock unit and lot tracking
    cannot change once the product has moves (its history is counted that way). Locks the product row."""
    product = lock_product(product.pk)
    _product_checks(product.company_id, data)
    has_moves = StockMove.objects.filter(product=product).exists()
    if has_moves and "uom" in data and data["uom"].pk != product.uom_id:
        raise ValidationError({"uom": [_("Stock of this product is counted in its unit; it cannot change.")]})
    if has_moves and "tracks_lots" in data and data["tracks_lots"] != product.tracks_lots:
        raise ValidationError({"tracks_lots": [_("The product has stock moves; lot tracking cannot change.")]})
    if has_moves and data.get("is_stockable") is False and product.is_stockable:
        raise ValidationError({"is_stockable": [_("The product has stock moves; it stays stockable.")]})
    if (
        data.get("cost_method", product.cost_method) != product.cost_method
        and product.valuation_layers.filter(remaining_quantity__gt=0).exists()
    ):
        raise ValidationError({"cost_method": [_("The product is in stock; its cost method cannot change now.")]})
    changed = _update(product, data, PRODUCT_FIELDS)
    if changed:
        _save(product, fields=changed, unique_field="sku", message=_("A product with this SKU or barcode exists."))
    return product


def lock_product(pk: int) -> Product:
    """The product row locked for the rest of the transaction (its average cost is read and written)."""
    return Product.objects.select_for_update(of=("self",)).select_related("uom").get(pk=pk)


@transaction.atomic
def uom_conversion_set(
    *, product: Product, uom: UnitOfMeasure, factor: Decimal, by: User | None = None
) -> UomConversion:
    """Declare (or change) that one ``uom`` of this product is ``factor`` stock units (1 箱 = 12 个)."""
    _same_company(product.company_id, uom=uom)
    errors: dict = {}
    number = _decimal(factor, field="factor", errors=errors)
    if uom.pk == product.uom_id:
        errors.setdefault("uom", []).append(_("This is already the product's stock unit."))
    _raise(errors)
    conversion, _created = UomConversion.objects.update_or_create(
        product=product, uom=uom, defaults={"factor": number, "company_id": product.company_id}
    )
    return conversion


@transaction.atomic
def uom_conversion_delete(*, conversion: UomConversion, by: User | None = None) -> None:
    """Remove a product's own unit conversion."""
    conversion.delete()


# ---------------------------------------------------------------- suppliers and prices


SUPPLIER_FIELDS = {
    "supplier_name",
    "partner",
    "supplier_sku",
    "lead_time_days",
    "min_order_quantity",
    "unit_price",
    "currency",
    "is_preferred",
}


def _supplier_checks(data: dict) -> None:
    errors: dict = {}
    partner = data.get("partner")
    if partner is not None and not partner.is_supplier:
        errors["partner"] = [_("This partner is not a supplier.")]
    if "supplier_name" in data:
        data["supplier_name"] = _text(data["supplier_name"], field="supplier_name", errors=errors, required=True)
    if "min_order_quantity" in data:
        data["min_order_quantity"] = _decimal(
            data["min_order_quantity"], field="min_order_quantity", errors=errors, positive=False
        )
    if data.get("unit_price") is not None:
        data["unit_price"] = _decimal(data["unit_price"], field="unit_price", errors=errors, positive=False)
    if "lead_time_days" in data and not (
        isinstance(data["lead_time_days"], int) and 0 <= data["lead_time_days"] <= 3650
    ):
        errors["lead_time_days"] = [_("Enter a number of days from 0 to 3650.")]
    if "currency" in data:
        data["currency"] = str(data["currency"]).strip().upper()
        if len(data["currency"]) != CURRENCY_LENGTH or not data["currency"].isalpha():
            errors["currency"] = [_("Enter a three-letter currency code.")]
    _raise(errors)


def _clear_preferred(product_id: int, keep: int | None) -> None:
    others = ProductSupplier.objects.select_for_update(of=("self",)).filter(product_id=product_id, is_preferred=True)
    if keep is not None:
        others = others.exclude(pk=keep)
    for row in others:
        row.is_preferred = False
        row.save(update_fields=["is_preferred", "updated_at"])


@transaction.atomic
def product_supplier_create(*, product: Product, supplier_name: str, by: User | None = None, **data) -> ProductSupplier:
    """Record that ``supplier_name`` supplies the product (``supplier_sku``, ``lead_time_days``,
    ``min_order_quantity``, ``unit_price``, ``currency``, ``is_preferred``). A new preferred supplier takes the
    mark from the previous one."""
    data = {"supplier_name": supplier_name, **data}
    if set(data) - SUPPLIER_FIELDS:
        raise TypeError(f"unknown supplier fields: {', '.join(sorted(set(data) - SUPPLIER_FIELDS))}")
    _same_company(product.company_id, partner=data.get("partner"))
    _supplier_checks(data)
    if data.get("is_preferred"):
        _clear_preferred(product.pk, None)
    supplier = ProductSupplier(company_id=product.company_id, product=product, **data)
    _save(supplier, unique_field="supplier_name", message=_("This supplier is already listed for the product."))
    return supplier


@transaction.atomic
def product_supplier_update(*, supplier: ProductSupplier, by: User | None = None, **data) -> ProductSupplier:
    """Change a product's supplier terms (the fields of ``product_supplier_create``)."""
    supplier = ProductSupplier.objects.select_for_update(of=("self",)).get(pk=supplier.pk)
    _same_company(supplier.company_id, partner=data.get("partner"))
    _supplier_checks(data)
    if data.get("is_preferred") and not supplier.is_preferred:
        _clear_preferred(supplier.product_id, supplier.pk)
    changed = _update(supplier, data, SUPPLIER_FIELDS)
    if changed:
        _save(
            supplier,
            fields=changed,
            unique_field="supplier_name",
            message=_("This supplier is already listed for the product."),
        )
    return supplier


@transaction.atomic
def product_supplier_delete(*, supplier: ProductSupplier, by: User | None = None) -> None:
    """Stop listing a supplier for a product."""
    supplier.delete()


PRICE_LIST_FIELDS = {"name", "name_en", "customer_group", "currency", "valid_from", "valid_to", "is_active"}


def _price_list_checks(data: dict, *, current: PriceList | None = None) -> None:
    errors: dict = {}
    valid_from = data.get("valid_from", current.valid_from if current else None)
    valid_to = data.get("valid_to", current.valid_to if current else None)
    if valid_from and valid_to and valid_to < valid_from:
        errors["valid_to"] = [_("The list must end on or after the day it starts.")]
    if "name" in data:
        data["name"] = _text(data["name"], field="name", errors=errors, required=True, max_length=100)
    if "currency" in data:
        data["currency"] = str(data["currency"]).strip().upper()
        if len(data["currency"]) != CURRENCY_LENGTH or not data["currency"].isalpha():
            errors["currency"] = [_("Enter a three-letter currency code.")]
    _raise(errors)


@transaction.atomic
def price_list_create(
    *, company: Company, name: str, currency: str = "CNY", by: User | None = None, **data
) -> PriceList:
    """Add a price list for a customer group (``customer_group``, empty = everyone) in ``currency``, valid from
    ``valid_from`` to ``valid_to`` (either open)."""
    data = {"name": name, "currency": currency, **data}
    if set(data) - PRICE_LIST_FIELDS:
        raise TypeError(f"unknown price list fields: {', '.join(sorted(set(data) - PRICE_LIST_FIELDS))}")
    _price_list_checks(data)
    price_list = PriceList(company=company, **data)
    _save(price_list, unique_field="name", message=_("A price list with this name exists."))
    return price_list


@transaction.atomic
def price_list_update(*, price_list: PriceList, by: User | None = None, **data) -> PriceList:
    """Change a price list's name, group, currency, validity or active flag."""
    price_list = PriceList.objects.select_for_update(of=("self",)).get(pk=price_list.pk)
    _price_list_checks(data, current=price_list)
    changed = _update(price_list, data, PRICE_LIST_FIELDS)
    if changed:
        _save(price_list, fields=changed, unique_field="name", message=_("A price list with this name exists."))
    return price_list


@transaction.atomic
def price_list_item_set(
    *,
    price_list: PriceList,
    product: Product,
    unit_price: Decimal,
    min_quantity: Decimal = ZERO,
    by: User | None = None,
) -> PriceListItem:
    """Set the unit price of ``product`` on ``price_list`` from ``min_quantity`` upwards (creates the tier or
    changes its price)."""
    _same_company(price_list.company_id, product=product)
    errors: dict = {}
    price = _decimal(unit_price, field="unit_price", errors=errors, positive=False)
    tier = _decimal(min_quantity, field="min_quantity", errors=errors, positive=False)
    _raise(errors)
    item, _created = PriceListItem.objects.update_or_create(
        price_list=price_list,
        product=product,
        min_quantity=tier,
        defaults={"unit_price": price, "company_id": price_list.company_id},
    )
    return item


@transaction.atomic
def price_list_item_update(
    *, item: PriceListItem, by: User | None = None, unit_price: Decimal | None = None, min_quantity=None
) -> PriceListItem:
    """Change a tier's price or threshold."""
    item = PriceListItem.objects.select_for_update(of=("self",)).get(pk=item.pk)
    errors: dict = {}
    changed = []
    if unit_price is not None:
        item.unit_price = _decimal(unit_price, field="unit_price", errors=errors, positive=False)
        changed.append("unit_price")
    if min_quantity is not None:
        item.min_quantity = _decimal(min_quantity, field="min_quantity", errors=errors, positive=False)
        changed.append("min_quantity")
    _raise(errors)
    if changed:
        _save(item, fields=changed, unique_field="min_quantity", message=_("This tier exists on the price list."))
    return item


@transaction.atomic
def price_list_item_delete(*, item: PriceListItem, by: User | None = None) -> None:
    """Remove a price tier."""
    item.delete()


# ---------------------------------------------------------------- warehouses, locations, lots

DEFAULT_LOCATION_CODE = "STOCK"
VIRTUAL_NAMES = {
    LocationKind.SUPPLIER: ("供应商", "Suppliers"),
    LocationKind.CUSTOMER: ("客户", "Customers"),
    LocationKind.ADJUSTMENT: ("库存调整", "Inventory adjustment"),
    LocationKind.PRODUCTION: ("生产", "Production"),
    LocationKind.TRANSIT: ("在途", "In transit"),
}


@transaction.atomic
def warehouse_create(
    *, company: Company, code: str, name: str, name_en: str = "", address: str = "", by: User | None = None
) -> Warehouse:
    """Add a warehouse with its default stock location (``STOCK``)."""
    warehouse = Warehouse(
        company=company, code=code.strip(), name=name.strip(), name_en=name_en.strip(), address=address
    )
    _save(warehouse, unique_field="code", message=_("A warehouse with this code exists."))
    Location.objects.create(
        company=company,
        warehouse=warehouse,
        code=DEFAULT_LOCATION_CODE,
        name="库存",
        name_en="Stock",
        kind=LocationKind.INTERNAL,
        is_default=True,
    )
    return warehouse


@transaction.atomic
def warehouse_update(*, warehouse: Warehouse, by: User | None = None, **data) -> Warehouse:
    """Change a warehouse's code, names, address or active flag."""
    warehouse = Warehouse.objects.select_for_update(of=("self",)).get(pk=warehouse.pk)
    changed = _update(warehouse, data, {"code", "name", "name_en", "address", "is_active"})
    if changed:
        _save(warehouse, fields=changed, unique_field="code", message=_("A warehouse with this code exists."))
    return warehouse


@transaction.atomic
def location_create(
    *, warehouse: Warehouse, code: str, name: str, name_en: str = "", by: User | None = None
) -> Location:
    """Add an internal location (a zone, a shelf) to a warehouse."""
    location = Location(
        company_id=warehouse.company_id,
        warehouse=warehouse,
        code=code.strip(),
        name=name.strip(),
        name_en=name_en.strip(),
        kind=LocationKind.INTERNAL,
    )
    _save(location, unique_field="code", message=_("A location with this code exists in the warehouse."))
    return location


@transaction.atomic
def location_update(*, location: Location, by: User | None = None, **data) -> Location:
    """Rename a location or retire it (``is_active``; only when it holds no stock)."""
    location = Location.objects.select_for_update(of=("self",)).get(pk=location.pk)
    if data.get("is_active") is False and StockQuant.objects.filter(location=location, quantity__gt=0).exists():
        raise ValidationError({"is_active": [_("The location still holds stock.")]})
    changed = _update(location, data, {"code", "name", "name_en", "is_active"})
    if changed:
        _save(location, fields=changed, unique_field="code", message=_("A location with this code exists."))
    return location


def virtual_location(*, company: Company | int, kind: str) -> Location:
    """The company's virtual location of ``kind`` (suppliers, customers, adjustment, production), created on
    first use (a concurrent first use is resolved by the unique constraint)."""
    company_id = getattr(company, "pk", company)
    name, name_en = VIRTUAL_NAMES[kind]
    location, _created = Location.objects.get_or_create(
        company_id=company_id,
        warehouse=None,
        kind=kind,
        defaults={"code": kind.upper(), "name": name, "name_en": name_en},
    )
    return location


def _lot_dates_check(production_date: dt.date | None, expiry_date: dt.date | None) -> None:
    if production_date and expiry_date and expiry_date < production_date:
        raise ValidationError({"expiry_date": [_("A lot cannot expire before it was produced.")]})


@transaction.atomic
def lot_create(
    *,
    product: Product,
    code: str,
    expiry_date: dt.date | None = None,
    production_date: dt.date | None = None,
    note: str = "",
    by: User | None = None,
) -> Lot:
    """Register a lot (batch) of a lot-tracked product; the code is unique per product."""
    if not product.tracks_lots:
        raise ValidationError({"product": [_("This product is not tracked by lot.")]})
    _lot_dates_check(production_date, expiry_date)
    lot = Lot(
        company_id=product.company_id,
        product=product,
        code=code.strip(),
        expiry_date=expiry_date,
        production_date=production_date,
        note=note.strip(),
    )
    _save(lot, unique_field="code", message=_("This lot code exists for the product."))
    return lot


@transaction.atomic
def lot_update(*, lot: Lot, by: User | None = None, **data) -> Lot:
    """Correct a lot's dates or note (the code and product are fixed)."""
    lot = Lot.objects.select_for_update(of=("self",)).get(pk=lot.pk)
    _lot_dates_check(data.get("production_date", lot.production_date), data.get("expiry_date", lot.expiry_date))
    changed = _update(lot, data, {"expiry_date", "production_date", "note"})
    if changed:
        _save(lot, fields=changed, unique_field="code", message=_("This lot code exists for the product."))
    return lot


# ---------------------------------------------------------------- the stock ledger: helpers


def _ensure_quants(product: Product, pairs: Iterable[tuple[Location, int | None]]) -> None:
    """Make sure a quant row exists for each (location, lot id) so it can be locked (a concurrent insert of
    the same row waits on the unique index, then does nothing). One statement (not ``executemany``, which
    pghistory's context injection does not support)."""
    rows = {
        (loc.pk, lot_id): (product.company_id, product.pk, loc.warehouse_id, loc.pk, lot_id) for loc, lot_id in pairs
    }
    if not rows:
        return
    values = ", ".join(["(%s, %s, %s, %s, %s::bigint, 0, 0, now())"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO erp_stockquant"
            " (company_id, product_id, warehouse_id, location_id, lot_id, quantity, reserved, updated_at)"
            f" VALUES {values} ON CONFLICT (product_id, location_id, lot_id) DO NOTHING",
            [value for row in rows.values() for value in row],
        )


_ADD_TO_QUANT_SQL = """
INSERT INTO erp_stockquant AS q
       (company_id, product_id, warehouse_id, location_id, lot_id, quantity, reserved, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, 0, now())
ON CONFLICT (product_id, location_id, lot_id)
DO UPDATE SET quantity = q.quantity + EXCLUDED.quantity, updated_at = EXCLUDED.updated_at
"""


def _add_to_quant(product: Product, location: Location, lot: Lot | None, quantity: Decimal) -> None:
    """Add stock to one quant (created if missing) in one statement, which also locks the row: an addition
    needs no check, so it is not read first."""
    with connection.cursor() as cursor:
        cursor.execute(
            _ADD_TO_QUANT_SQL,
            [product.company_id, product.pk, location.warehouse_id, location.pk, lot.pk if lot else None, quantity],
        )


def lock_quants(condition: Q) -> list[StockQuant]:
    """The quants matching ``condition``, locked in primary-key order (the one lock order of stock: two
    operations on the same quants queue up instead of deadlocking), with their lot."""
    return list(
        StockQuant.objects.select_for_update(of=("self",))
        .filter(condition)
        .select_related("lot", "location")
        .order_by("pk")
    )


def _fefo_key(quant: StockQuant):
    """First expiry, first out; stock without lot or expiry after the lots that expire; then the warehouse's
    default location; then the oldest quant."""
    expiry = quant.lot.expiry_date if quant.lot_id and quant.lot.expiry_date else dt.date.max
    return (expiry, not quant.location.is_default, quant.pk)


def _usable(quant: StockQuant, today: dt.date, explicit_lot: bool) -> bool:
    if explicit_lot or not quant.lot_id or quant.lot.expiry_date is None:
        return True
    return quant.lot.expiry_date >= today


def _allocate(
    product: Product, quants: list[StockQuant], quantity: Decimal, *, explicit_lot: bool
) -> list[tuple[StockQuant, Decimal]]:
    """Take ``quantity`` of free stock from ``quants`` first-expiry-first; ``InsufficientStock`` if short."""
    today = timezone.localdate()
    plan = []
    remaining = quantity
    available = ZERO
    for quant in sorted(quants, key=_fefo_key):
        if not _usable(quant, today, explicit_lot):
            continue
        free = quant.quantity - quant.reserved
        if free <= 0:
            continue
        available += free
        if remaining > 0:
            take = min(free, remaining)
            plan.append((quant, take))
            remaining -= take
    if remaining > 0:
        raise InsufficientStock(product=product, requested=quantity, available=available)
    return plan


def _change_quant(quant: StockQuant, *, quantity: Decimal = ZERO, reserved: Decimal = ZERO, now) -> None:
    StockQuant.objects.filter(pk=quant.pk).update(
        quantity=F("quantity") + quantity, reserved=F("reserved") + reserved, updated_at=now
    )
    quant.quantity += quantity
    quant.reserved += reserved


def _publish_stock_changed(
    product: Product, warehouse_ids: Iterable[int], *, reason: str, reference: str, by: User | None
) -> None:
    """``erp.stock.changed`` for each warehouse touched, with the new figures (one aggregate query)."""
    rows = (
        StockQuant.objects.filter(product=product)
        .values("warehouse_id")
        .annotate(on_hand=Sum("quantity"), reserved=Sum("reserved"))
    )
    levels = {row["warehouse_id"]: (row["on_hand"], row["reserved"]) for row in rows}
    total_free = sum((on_hand - reserved for on_hand, reserved in levels.values()), ZERO)
    for warehouse_id in sorted(set(warehouse_ids)):
        on_hand, reserved = levels.get(warehouse_id, (ZERO, ZERO))
        events.publish(
            STOCK_CHANGED,
            stock_changed_payload(
                product_id=product.pk,
                sku=product.sku,
                warehouse_id=warehouse_id,
                on_hand=on_hand,
                reserved=reserved,
                total_free=total_free,
                reason=reason,
                reference=reference,
            ),
            company_id=product.company_id,
            by=by,
        )


def _stockable(product: Product) -> Product:
    if not product.is_stockable:
        raise ValidationError({"product": [_("This product is not kept in stock.")]})
    if not product.is_active:
        raise ValidationError({"product": [_("This product is no longer active.")]})
    return product


def _internal_location(
    company_id: int, *, warehouse: Warehouse | None, location: Location | None, field: str = "location"
) -> Location:
    """The location given (internal, active, in ``warehouse`` when both are given) or the warehouse's default."""
    _same_company(company_id, warehouse=warehouse, location=location)
    if location is not None:
        if location.kind != LocationKind.INTERNAL or not location.is_active:
            raise ValidationError({field: [_("Choose an active location of a warehouse.")]})
        if warehouse is not None and location.warehouse_id != warehouse.pk:
            raise ValidationError({field: [_("This location is not in the warehouse.")]})
        return location
    if warehouse is None:
        raise ValidationError({field.replace("location", "warehouse"): [_("Choose a warehouse or a location.")]})
    if not warehouse.is_active:
        raise ValidationError({field.replace("location", "warehouse"): [_("This warehouse is no longer active.")]})
    default = Location.objects.filter(warehouse=warehouse, is_default=True).first()
    if default is None:  # pragma: no cover - warehouse_create always makes one
        raise ValidationError({field: [_("The warehouse has no default location.")]})
    return default


def _lot_for(product: Product, lot: Lot | None, *, required: bool) -> Lot | None:
    if lot is not None and (lot.product_id != product.pk or lot.company_id != product.company_id):
        raise ValidationError({"lot": [_("This lot belongs to another product.")]})
    if lot is not None and not product.tracks_lots:
        raise ValidationError({"lot": [_("This product is not tracked by lot.")]})
    if lot is None and required and product.tracks_lots:
        raise ValidationError({"lot": [_("This product is tracked by lot: name the lot.")]})
    return lot


def _reference(value: str, *, required: bool = False) -> str:
    errors: dict = {}
    text = _text(value, field="reference", errors=errors, required=required, max_length=100)
    _raise(errors)
    return text


def _moved_at(value: dt.datetime | None) -> dt.datetime:
    if value is None:
        return timezone.now()
    if timezone.is_naive(value):
        raise ValidationError({"moved_at": [_("Give the time with its time zone.")]})
    return value


# ---------------------------------------------------------------- receipts


@transaction.atomic
def stock_receive(
    *,
    product: Product,
    quantity: Any,
    warehouse: Warehouse | None = None,
    location: Location | None = None,
    lot: Lot | None = None,
    uom: UnitOfMeasure | None = None,
    unit_cost: Any = None,
    reference: str = "",
    incoming_supply: IncomingSupply | None = None,
    moved_at: dt.datetime | None = None,
    by: User | None = None,
) -> StockMove:
    """Receive ``quantity`` (in ``uom``, default the stock unit) into a location (or the warehouse's default),
    from suppliers: one receipt move, the quant increased.

    With a ``unit_cost`` (per ``uom``), the product's moving average cost becomes (on hand × average + received
    × cost) / (on hand + received); locks the product row for that (receipts of one product queue up). Counts
    against ``incoming_supply`` when given (closing it when fully received). Publishes ``erp.stock.changed``.
    """
    _stockable(product)
    qty = stock_quantity(product=product, quantity=quantity, uom=uom)
    target = _internal_location(product.company_id, warehouse=warehouse, location=location)
    lot = _lot_for(product, lot, required=True)
    errors: dict = {}
    cost = None
    if unit_cost is not None:
        cost = _decimal(unit_cost, field="unit_cost", errors=errors, positive=False)
        _raise(errors)
        if uom is not None and uom.pk != product.uom_id:  # a cost per box is a cost per 12 pieces
            cost = (cost * Decimal(str(quantity)) / qty).quantize(QUANTUM, rounding=ROUND_HALF_UP)
    if incoming_supply is not None:
        _same_company(product.company_id, incoming_supply=incoming_supply)
        if incoming_supply.product_id != product.pk or incoming_supply.warehouse_id != target.warehouse_id:
            raise ValidationError({"incoming_supply": [_("This expected supply is for another product or warehouse.")]})
    reference = _reference(reference)
    moved_at = _moved_at(moved_at)

    product = lock_product(product.pk)
    if cost is not None:
        on_hand = StockQuant.objects.filter(product=product).aggregate(total=Sum("quantity"))["total"] or ZERO
        if on_hand + qty > 0:
            average = (on_hand * product.average_cost + qty * cost) / (on_hand + qty)
            product.average_cost = average.quantize(QUANTUM, rounding=ROUND_HALF_UP)
            product.save(update_fields=["average_cost", "updated_at"])
    _add_to_quant(product, target, lot, qty)
    move = StockMove.objects.create(
        company_id=product.company_id,
        product=product,
        lot=lot,
        from_location=virtual_location(company=product.company_id, kind=LocationKind.SUPPLIER),
        to_location=target,
        quantity=qty,
        kind=MoveKind.RECEIPT,
        reference=reference,
        moved_at=moved_at,
        unit_cost=cost if cost is not None else product.average_cost,
        created_by=by,
    )
    valuation.moves_value(moves=[move], by=by)
    if incoming_supply is not None:
        _incoming_supply_receive(incoming_supply, qty)
    _publish_stock_changed(product, [target.warehouse_id], reason=MoveKind.RECEIPT, reference=reference, by=by)
    return move


@transaction.atomic
def stock_produce(
    *,
    product: Product,
    quantity: Any,
    unit_cost: Any,
    warehouse: Warehouse | None = None,
    location: Location | None = None,
    lot: Lot | None = None,
    reference: str = "",
    moved_at: dt.datetime | None = None,
    by: User | None = None,
) -> StockMove:
    """Receive finished goods from production (a production order's output) into a location (or the
    warehouse's default): one production move from the virtual production location, the quant increased.

    The move carries ``unit_cost`` (the order's cost per unit), which valuation takes as the value of the
    incoming layer (stock debited, production / WIP credited). Publishes ``erp.stock.changed``."""
    _stockable(product)
    qty = stock_quantity(product=product, quantity=quantity)
    target = _internal_location(product.company_id, warehouse=warehouse, location=location)
    lot = _lot_for(product, lot, required=True)
    errors: dict = {}
    cost = _decimal(unit_cost, field="unit_cost", errors=errors, positive=False)
    _raise(errors)
    reference = _reference(reference)
    moved_at = _moved_at(moved_at)
    product = lock_product(product.pk)
    _add_to_quant(product, target, lot, qty)
    move = StockMove.objects.create(
        company_id=product.company_id,
        product=product,
        lot=lot,
        from_location=virtual_location(company=product.company_id, kind=LocationKind.PRODUCTION),
        to_location=target,
        quantity=qty,
        kind=MoveKind.PRODUCTION,
        reference=reference,
        moved_at=moved_at,
        unit_cost=cost,
        created_by=by,
    )
    valuation.moves_value(moves=[move], by=by)
    # the moving average follows the valuation (production output enters at its own cost)
    valued = ProductValuation.objects.filter(product=product, quantity__gt=0).values_list("quantity", "value").first()
    if valued is not None:
        product.average_cost = (valued[1] / valued[0]).quantize(QUANTUM, rounding=ROUND_HALF_UP)
        product.save(update_fields=["average_cost", "updated_at"])
    _publish_stock_changed(product, [target.warehouse_id], reason=MoveKind.PRODUCTION, reference=reference, by=by)
    return move


def _incoming_supply_receive(supply: IncomingSupply, quantity: Decimal) -> None:
    supply = IncomingSupply.objects.select_for_update(of=("self",)).get(pk=supply.pk)
    if supply.state != SupplyState.OPEN:
        raise StateConflict(_("This expected supply is no longer open."), field="incoming_supply")
    supply.received_quantity += quantity
    if supply.received_quantity >= supply.quantity:
        supply.state = SupplyState.DONE
    supply.save(update_fields=["received_quantity", "state", "updated_at"])


# ---------------------------------------------------------------- deliveries and transfers


def _source_condition(
    product: Product, *, warehouse: Warehouse | None, location: Location | None, lot: Lot | None
) -> Q:
    condition = Q(product=product)
    if location is not None:
        condition &= Q(location=location)
    else:
        condition &= Q(warehouse=warehouse)
    if lot is not None:
        condition &= Q(lot=lot)
    return condition


def _resolve_source(
    product: Product, *, warehouse: Warehouse | None, location: Location | None, field: str = "location"
) -> tuple[Warehouse | None, Location | None]:
    _same_company(product.company_id, warehouse=warehouse, location=location)
    if location is not None:
        if location.kind != LocationKind.INTERNAL:
            raise ValidationError({field: [_("Choose a location of a warehouse.")]})
        if warehouse is not None and location.warehouse_id != warehouse.pk:
            raise ValidationError({field: [_("This location is not in the warehouse.")]})
        return None, location
    if warehouse is None:
        raise ValidationError({field.replace("location", "warehouse"): [_("Choose a warehouse or a location.")]})
    return warehouse, None


def _moves_out(
    product: Product,
    plan: list[tuple[StockQuant, Decimal]],
    *,
    to_location: Location,
    kind: str,
    reference: str,
    moved_at: dt.datetime,
    by: User | None,
    reservation: StockReservation | None = None,
    release_reserved: bool = False,
) -> list[StockMove]:
    now = timezone.now()
    moves = []
    for quant, take in plan:
        _change_quant(quant, quantity=-take, reserved=-take if release_reserved else ZERO, now=now)
        moves.append(
            StockMove(
                company_id=product.company_id,
                product=product,
                lot_id=quant.lot_id,
                from_location=quant.location,
                to_location=to_location,
                quantity=take,
                kind=kind,
                reference=reference,
                moved_at=moved_at,
                unit_cost=product.average_cost,
                reservation=reservation,
                created_by=by,
            )
        )
    moves = StockMove.objects.bulk_create(moves)
    valuation.moves_value(moves=moves, by=by)
    return moves


@transaction.atomic
def stock_deliver(
    *,
    product: Product,
    quantity: Any,
    warehouse: Warehouse | None = None,
    location: Location | None = None,
    lot: Lot | None = None,
    uom: UnitOfMeasure | None = None,
    reference: str = "",
    moved_at: dt.datetime | None = None,
    by: User | None = None,
) -> list[StockMove]:
    """Deliver ``quantity`` of free stock to customers from a warehouse (or one location / lot), first expiry
    first, expired lots skipped unless the lot is named: one delivery move per quant taken from.

    Locks the product's quants there in pk order; ``InsufficientStock`` (nothing written) when free stock is
    short. Reserved stock is delivered with ``stock_consume_reservation``. Publishes ``erp.stock.changed``."""
    _stockable(product)
    qty = stock_quantity(product=product, quantity=quantity, uom=uom)
    warehouse, location = _resolve_source(product, warehouse=warehouse, location=location)
    lot = _lot_for(product, lot, required=False)
    reference = _reference(reference)
    moved_at = _moved_at(moved_at)
    quants = lock_quants(_source_condition(product, warehouse=warehouse, location=location, lot=lot))
    plan = _allocate(product, quants, qty, explicit_lot=lot is not None)
    customers = virtual_location(company=product.company_id, kind=LocationKind.CUSTOMER)
    moves = _moves_out(
        product, plan, to_location=customers, kind=MoveKind.DELIVERY, reference=reference, moved_at=moved_at, by=by
    )
    _publish_stock_changed(
        product, {q.warehouse_id for q, _t in plan}, reason=MoveKind.DELIVERY, reference=reference, by=by
    )
    return moves


@transaction.atomic
def stock_transfer(
    *,
    product: Product,
    quantity: Any,
    from_warehouse: Warehouse | None = None,
    from_location: Location | None = None,
    to_warehouse: Warehouse | None = None,
    to_location: Location | None = None,
    lot: Lot | None = None,
    uom: UnitOfMeasure | None = None,
    reference: str = "",
    moved_at: dt.datetime | None = None,
    by: User | None = None,
) -> list[StockMove]:
    """Move free stock between locations, within a warehouse or to another one (directly: no transit
    location), keeping lots: one transfer move per source quant.

    The source and destination quants are locked together in pk order (so opposite transfers cannot
    deadlock); ``InsufficientStock`` when the free stock at the source is short. Publishes
    ``erp.stock.changed`` for both warehouses."""
    _stockable(product)
    qty = stock_quantity(product=product, quantity=quantity, uom=uom)
    source_warehouse, source_location = _resolve_source(
        product, warehouse=from_warehouse, location=from_location, field="from_location"
    )
    target = _internal_location(product.company_id, warehouse=to_warehouse, location=to_location, field="to_location")
    lot = _lot_for(product, lot, required=False)
    if source_location is not None and source_location.pk == target.pk:
        raise ValidationError({"to_location": [_("The stock is already there.")]})
    reference = _reference(reference)
    moved_at = _moved_at(moved_at)

    source = _source_condition(product, warehouse=source_warehouse, location=source_location, lot=lot) & ~Q(
        location=target
    )
    # Destination rows for every lot the source holds are created first, then source and destination are
    # locked in one pk-ordered statement. Lots that reach the source after this read are not used.
    lot_ids = set(StockQuant.objects.filter(source).values_list("lot_id", flat=True))
    _ensure_quants(product, [(target, lot_id) for lot_id in lot_ids])
    known_lots = Q(lot_id__in=[i for i in lot_ids if i is not None])
    if None in lot_ids:
        known_lots |= Q(lot__isnull=True)
    locked = lock_quants((source | Q(product=product, location=target)) & known_lots)
    sources = [q for q in locked if q.location_id != target.pk]
    targets = {q.lot_id: q for q in locked if q.location_id == target.pk}
    plan = _allocate(product, sources, qty, explicit_lot=lot is not None)
    now = timezone.now()
    moves = []
    for quant, take in plan:
        _change_quant(quant, quantity=-take, now=now)
        _change_quant(targets[quant.lot_id], quantity=take, now=now)
        moves.append(
            StockMove(
                company_id=product.company_id,
                product=product,
                lot_id=quant.lot_id,
                from_location=quant.location,
                to_location=target,
                quantity=take,
                kind=MoveKind.TRANSFER,
                reference=reference,
                moved_at=moved_at,
                unit_cost=product.average_cost,
                created_by=by,
            )
        )
    moves = StockMove.objects.bulk_create(moves)
    warehouses = {q.warehouse_id for q, _t in plan} | {target.warehouse_id}
    _publish_stock_changed(product, warehouses, reason=MoveKind.TRANSFER, reference=reference, by=by)
    return moves


# ---------------------------------------------------------------- adjustments (with approval)


@transaction.atomic
def stock_adjust(
    *,
    product: Product,
    location: Location,
    quantity_delta: Any,
    reason: str,
    lot: Lot | None = None,
    uom: UnitOfMeasure | None = None,
    by: User | None = None,
) -> StockAdjustment:
    """Request a correction of the stock of a product in a location (+ found, − damaged or lost). Nothing
    moves until someone other than the requester approves it (``stock_adjustment_approve``)."""
    _stockable(product)
    _internal_location(product.company_id, warehouse=None, location=location)
    lot = _lot_for(product, lot, required=True)
    errors: dict = {}
    try:
        delta = Decimal(str(quantity_delta))
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError({"quantity_delta": [_("Enter a number.")]}) from None
    if not delta.is_finite() or delta == 0:
        raise ValidationError({"quantity_delta": [_("Enter a change other than zero.")]})
    magnitude = stock_quantity(product=product, quantity=abs(delta), uom=uom, field="quantity_delta")
    reason = _text(reason, field="reason", errors=errors, required=True)
    _raise(errors)
    return StockAdjustment.objects.create(
        company_id=product.company_id,
        product=product,
        location=location,
        lot=lot,
        quantity_delta=magnitude if delta > 0 else -magnitude,
        reason=reason,
        requested_by=by,
    )


def lock_adjustment(pk: int) -> StockAdjustment:
    return (
        StockAdjustment.objects.select_for_update(of=("self",))
        .select_related("product", "product__uom", "location", "lot")
        .get(pk=pk)
    )


@transaction.atomic
def stock_adjustment_approve(*, adjustment: StockAdjustment, by: User | None) -> StockAdjustment:
    """Approve a pending adjustment and apply it: one adjustment move from/to the company's adjustment
    location, the quant changed. The approver must not be the requester. A reduction takes only free stock
    (``InsufficientStock`` otherwise: release reservations first). Locks the adjustment, then the quant.
    Publishes ``erp.stock.changed``."""
    adjustment = lock_adjustment(adjustment.pk)
    if adjustment.state != AdjustmentState.PENDING:
        raise StateConflict(_("This adjustment has already been decided."))
    if by is not None and adjustment.requested_by_id == by.pk:
        raise StockConflict(_("Someone other than the requester must approve an adjustment."), field=None)
    product = adjustment.product
    location = adjustment.location
    lot = adjustment.lot
    adjustment_location = virtual_location(company=product.company_id, kind=LocationKind.ADJUSTMENT)
    quant_filter = Q(product=product, location=location) & (Q(lot=lot) if lot else Q(lot__isnull=True))
    now = timezone.now()
    if adjustment.quantity_delta > 0:
        _add_to_quant(product, location, lot, adjustment.quantity_delta)
        from_location, to_location = adjustment_location, location
    else:
        quants = lock_quants(quant_filter)
        _allocate(product, quants, -adjustment.quantity_delta, explicit_lot=True)
        _change_quant(quants[0], quantity=adjustment.quantity_delta, now=now)
        from_location, to_location = location, adjustment_location
    reference = f"ADJ-{adjustment.pk}"
    adjustment.move = StockMove.objects.create(
        company_id=product.company_id,
        product=product,
        lot=lot,
        from_location=from_location,
        to_location=to_location,
        quantity=abs(adjustment.quantity_delta),
        kind=MoveKind.ADJUSTMENT,
        reference=reference,
        moved_at=now,
        unit_cost=product.average_cost,
        created_by=by,
    )
    valuation.moves_value(moves=[adjustment.move], by=by)
    adjustment.state = AdjustmentState.APPLIED
    adjustment.decided_by = by
    adjustment.decided_at = now
    adjustment.save(update_fields=["move", "state", "decided_by", "decided_at", "updated_at"])
    _publish_stock_changed(product, [location.warehouse_id], reason=MoveKind.ADJUSTMENT, reference=reference, by=by)
    return adjustment


@transaction.atomic
def stock_adjustment_reject(*, adjustment: StockAdjustment, by: User | None, note: str = "") -> StockAdjustment:
    """Reject a pending adjustment (nothing moves)."""
    adjustment = lock_adjustment(adjustment.pk)
    if adjustment.state != AdjustmentState.PENDING:
        raise StateConflict(_("This adjustment has already been decided."))
    errors: dict = {}
    adjustment.decision_note = _text(note, field="note", errors=errors)
    _raise(errors)
    adjustment.state = AdjustmentState.REJECTED
    adjustment.decided_by = by
    adjustment.decided_at = timezone.now()
    adjustment.save(update_fields=["state", "decided_by", "decided_at", "decision_note", "updated_at"])
    return adjustment


# ---------------------------------------------------------------- reservations


@transaction.atomic
def stock_reserve(
    *,
    product: Product,
    warehouse: Warehouse,
    quantity: Any,
    reference: str,
    lot: Lot | None = None,
    uom: UnitOfMeasure | None = None,
    required_date: dt.date | None = None,
    by: User | None = None,
) -> StockReservation:
    """Hold ``quantity`` of free stock of a product in a warehouse for ``reference`` (a sales order line, a
    production order), first expiry first (expired lots only when named).

    Locks the product's quants in the warehouse with ``SELECT … FOR UPDATE`` in pk order, so concurrent
    reservations queue up and never hold the same units; refuses with ``InsufficientStock`` (nothing written)
    when free stock (on hand − reserved) is short. Publishes ``erp.stock.changed``."""
    _stockable(product)
    _same_company(product.company_id, warehouse=warehouse)
    qty = stock_quantity(product=product, quantity=quantity, uom=uom)
    lot = _lot_for(product, lot, required=False)
    reference = _reference(reference, required=True)
    quants = lock_quants(_source_condition(product, warehouse=warehouse, location=None, lot=lot))
    plan = _allocate(product, quants, qty, explicit_lot=lot is not None)
    reservation = StockReservation.objects.create(
        company_id=product.company_id,
        product=product,
        warehouse=warehouse,
        lot=lot,
        quantity=qty,
        reference=reference,
        required_date=required_date,
        created_by=by,
    )
    now = timezone.now()
    for quant, take in plan:
        _change_quant(quant, reserved=take, now=now)
    StockReservationAllocation.objects.bulk_create(
        [StockReservationAllocation(reservation=reservation, quant=quant, quantity=take) for quant, take in plan]
    )
    _publish_stock_changed(product, [warehouse.pk], reason="reservation", reference=reference, by=by)
    return reservation


def lock_reservation(pk: int) -> StockReservation:
    return StockReservation.objects.select_for_update(of=("self",)).select_related("product", "product__uom").get(pk=pk)


def _open_part(reservation: StockReservation, quantity: Any) -> Decimal:
    if reservation.state != ReservationState.ACTIVE:
        raise StateConflict(_("This reservation is no longer active."))
    open_quantity = reservation.open_quantity
    if quantity is None:
        return open_quantity
    qty = stock_quantity(product=reservation.product, quantity=quantity)
    if qty > open_quantity:
        raise StockConflict(_("Only %(open)s are still reserved.") % {"open": _plain(open_quantity)}, field="quantity")
    return qty


def _locked_allocations(reservation: StockReservation) -> list[tuple[StockReservationAllocation, StockQuant]]:
    allocations = list(reservation.allocations.filter(quantity__gt=0))
    quants = {q.pk: q for q in lock_quants(Q(pk__in=[a.quant_id for a in allocations]))}
    return [(allocation, quants[allocation.quant_id]) for allocation in allocations]


def _close_if_done(reservation: StockReservation) -> None:
    if reservation.consumed_quantity + reservation.released_quantity >= reservation.quantity:
        reservation.state = (
            ReservationState.CONSUMED if reservation.consumed_quantity > 0 else ReservationState.RELEASED
        )


@transaction.atomic
def stock_release(*, reservation: StockReservation, quantity: Any = None, by: User | None = None) -> StockReservation:
    """Give back all (or ``quantity``) of what a reservation still holds; the latest-expiring stock is freed
    first. Locks the reservation, then its quants in pk order. Publishes ``erp.stock.changed``."""
    reservation = lock_reservation(reservation.pk)
    qty = _open_part(reservation, quantity)
    pairs = _locked_allocations(reservation)
    remaining = qty
    now = timezone.now()
    for allocation, quant in sorted(pairs, key=lambda pair: _fefo_key(pair[1]), reverse=True):
        if remaining <= 0:
            break
        take = min(allocation.quantity, remaining)
        _change_quant(quant, reserved=-take, now=now)
        StockReservationAllocation.objects.filter(pk=allocation.pk).update(quantity=F("quantity") - take)
        remaining -= take
    reservation.released_quantity += qty
    _close_if_done(reservation)
    reservation.save(update_fields=["released_quantity", "state", "updated_at"])
    _publish_stock_changed(
        reservation.product, [reservation.warehouse_id], reason="release", reference=reservation.reference, by=by
    )
    return reservation


@transaction.atomic
def stock_consume_reservation(
    *,
    reservation: StockReservation,
    quantity: Any = None,
    to: str = LocationKind.CUSTOMER,
    reference: str | None = None,
    moved_at: dt.datetime | None = None,
    by: User | None = None,
) -> list[StockMove]:
    """Deliver all (or ``quantity``) of what a reservation holds — to customers (a delivery) or to production
    (consumed by a production order) — first expiry first: the quants lose both on hand and reserved, one move
    per quant, linked to the reservation. Locks the reservation, then its quants in pk order. Publishes
    ``erp.stock.changed``."""
    if to not in (LocationKind.CUSTOMER, LocationKind.PRODUCTION):
        raise ValidationError({"to": [_("Deliver to customers or to production.")]})
    reservation = lock_reservation(reservation.pk)
    qty = _open_part(reservation, quantity)
    reference = _reference(reference if reference is not None else reservation.reference)
    moved_at = _moved_at(moved_at)
    pairs = _locked_allocations(reservation)
    plan = []
    remaining = qty
    for allocation, quant in sorted(pairs, key=lambda pair: _fefo_key(pair[1])):
        if remaining <= 0:
            break
        take = min(allocation.quantity, remaining)
        plan.append((quant, take))
        StockReservationAllocation.objects.filter(pk=allocation.pk).update(quantity=F("quantity") - take)
        remaining -= take
    product = reservation.product
    moves = _moves_out(
        product,
        plan,
        to_location=virtual_location(company=product.company_id, kind=to),
        kind=MoveKind.DELIVERY if to == LocationKind.CUSTOMER else MoveKind.PRODUCTION,
        reference=reference,
        moved_at=moved_at,
        by=by,
        reservation=reservation,
        release_reserved=True,
    )
    reservation.consumed_quantity += qty
    _close_if_done(reservation)
    reservation.save(update_fields=["consumed_quantity", "state", "updated_at"])
    _publish_stock_changed(product, [reservation.warehouse_id], reason=MoveKind.DELIVERY, reference=reference, by=by)
    return moves


# ---------------------------------------------------------------- expected supply and reorder rules


@transaction.atomic
def incoming_supply_plan(
    *,
    product: Product,
    warehouse: Warehouse,
    quantity: Any,
    expected_date: dt.date,
    reference: str,
    kind: str = SupplyKind.PURCHASE,
    by: User | None = None,
) -> IncomingSupply:
    """Record stock expected in a warehouse on a date (an open purchase order line, planned production);
    available-to-promise counts it from that date."""
    _stockable(product)
    _same_company(product.company_id, warehouse=warehouse)
    qty = stock_quantity(product=product, quantity=quantity)
    if kind not in SupplyKind.values:
        raise ValidationError({"kind": [_("Choose purchase or production.")]})
    if not isinstance(expected_date, dt.date):
        raise ValidationError({"expected_date": [_("Enter a date.")]})
    return IncomingSupply.objects.create(
        company_id=product.company_id,
        product=product,
        warehouse=warehouse,
        kind=kind,
        expected_date=expected_date,
        quantity=qty,
        reference=_reference(reference, required=True),
    )


@transaction.atomic
def incoming_supply_update(
    *, supply: IncomingSupply, by: User | None = None, expected_date: dt.date | None = None, quantity: Any = None
) -> IncomingSupply:
    """Move an open expected supply to another date or change its quantity (not below what was received)."""
    supply = IncomingSupply.objects.select_for_update(of=("self",)).select_related("product__uom").get(pk=supply.pk)
    if supply.state != SupplyState.OPEN:
        raise StateConflict(_("This expected supply is no longer open."))
    fields = []
    if expected_date is not None:
        supply.expected_date = expected_date
        fields.append("expected_date")
    if quantity is not None:
        qty = stock_quantity(product=supply.product, quantity=quantity)
        if qty < supply.received_quantity:
            raise ValidationError({"quantity": [_("More than this has already been received.")]})
        supply.quantity = qty
        fields.append("quantity")
        if supply.received_quantity >= qty:
            supply.state = SupplyState.DONE
            fields.append("state")
    if fields:
        supply.save(update_fields=[*fields, "updated_at"])
    return supply


@transaction.atomic
def incoming_supply_cancel(*, supply: IncomingSupply, by: User | None = None) -> IncomingSupply:
    """Stop expecting an open supply (what was received stays received)."""
    supply = IncomingSupply.objects.select_for_update(of=("self",)).get(pk=supply.pk)
    if supply.state != SupplyState.OPEN:
        raise StateConflict(_("This expected supply is no longer open."))
    supply.state = SupplyState.CANCELLED
    supply.save(update_fields=["state", "updated_at"])
    return supply


def _reorder_checks(data: dict, *, current: ReorderRule | None = None) -> None:
    errors: dict = {}
    for name in ("min_quantity", "max_quantity"):
        if name in data:
            data[name] = _decimal(data[name], field=name, errors=errors, positive=False)
    if "multiple" in data:
        data["multiple"] = _decimal(data["multiple"], field="multiple", errors=errors)
    _raise(errors)
    low = data.get("min_quantity", current.min_quantity if current else None)
    high = data.get("max_quantity", current.max_quantity if current else None)
    if low is not None and high is not None and high < low:
        raise ValidationError({"max_quantity": [_("Order up to at least the reorder point.")]})


@transaction.atomic
def reorder_rule_create(
    *,
    product: Product,
    warehouse: Warehouse,
    min_quantity: Any,
    max_quantity: Any,
    multiple: Any = Decimal("1"),
    by: User | None = None,
) -> ReorderRule:
    """Set a reorder point for a product in a warehouse (one rule per pair)."""
    _stockable(product)
    _same_company(product.company_id, warehouse=warehouse)
    data = {"min_quantity": min_quantity, "max_quantity": max_quantity, "multiple": multiple}
    _reorder_checks(data)
    rule = ReorderRule(company_id=product.company_id, product=product, warehouse=warehouse, **data)
    _save(rule, unique_field="product", message=_("This product already has a reorder rule in the warehouse."))
    return rule


@transaction.atomic
def reorder_rule_update(*, rule: ReorderRule, by: User | None = None, **data) -> ReorderRule:
    """Change a reorder rule's quantities or active flag."""
    rule = ReorderRule.objects.select_for_update(of=("self",)).get(pk=rule.pk)
    _reorder_checks(data, current=rule)
    changed = _update(rule, data, {"min_quantity", "max_quantity", "multiple", "is_active"})
    if changed:
        _save(rule, fields=changed, unique_field="product", message=_("This reorder rule exists."))
    return rule


@transaction.atomic
def reorder_rule_delete(*, rule: ReorderRule, by: User | None = None) -> None:
    """Remove a reorder rule."""
    rule.delete()
