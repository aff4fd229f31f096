"""Every write of sales fulfilment: sales orders (create, update, confirm with credit check and reservation,
credit hold and release, cancel, close), delivery orders (pick with first-expiry-first lot suggestions, pack,
ship with backorders, delivered confirmation, cancel), customer returns with credit notes, and customer
invoices from delivered quantities.

Locking: every service that changes an order's quantities locks the order row first (``lock_order``), then
its lines, then stock through the inventory services (quants in primary-key order, one product at a time in
product-id order). Two requests on the same order therefore queue up; requests on different orders that
compete for the same stock queue on the quants, and the reservation service never holds the same units twice.

Errors: bad input is a ``ValidationError`` with field names (``lines.0.quantity``; API 400); a well-formed
request the order's state or the stock refuses is a ``StockConflict`` subclass (API 409, nothing written).
Events are published in the service's transaction (docs/events.md, "Sales fulfilment").
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from erp import events as erp_events
from erp.models import (
    DeliveryLine,
    DeliveryOrder,
    DeliveryPick,
    DeliveryState,
    InvoiceStatus,
    Location,
    LocationKind,
    Lot,
    MoveKind,
    Partner,
    Product,
    ReservationState,
    ReturnDestination,
    ReturnState,
    SalesOrder,
    SalesOrderLine,
    SalesOrderState,
    SalesReturn,
    SalesReturnLine,
    StockMove,
    StockReservation,
    Tax,
    Warehouse,
)
from erp.selectors import inventory as inventory_selectors
from erp.services import inventory as inv
from erp.services import valuation
from suite import events
from suite.models import Company

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ZERO = Decimal("0")
CENT = Decimal("0.01")
QUANTUM = Decimal("0.0001")
HUNDRED = Decimal("100")
StockConflict = inv.StockConflict
StateConflict = inv.StateConflict
InsufficientStock = inv.InsufficientStock


class CreditHold(StockConflict):
    """The order went on credit hold (the API answers 409 with the reason; the hold itself is saved)."""

    code = "credit_hold"
    field = None


# ---------------------------------------------------------------- small helpers


def _raise(errors: dict) -> None:
    if errors:
        raise ValidationError(errors)


def _text(value, *, field: str, errors: dict, max_length: int, required: bool = False) -> str:
    text = (value or "").strip() if isinstance(value, str) or value is None else str(value).strip()
    if required and not text:
        errors.setdefault(field, []).append(_("This field cannot be blank."))
    elif len(text) > max_length:
        errors.setdefault(field, []).append(_("At most %(count)d characters.") % {"count": max_length})
    elif "\x00" in text:
        errors.setdefault(field, []).append(_("Null characters are not allowed."))
    return text


def _number(value, *, field: str, errors: dict, places: int = 4, minimum=ZERO, maximum=None, strict=False):
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        errors.setdefault(field, []).append(_("Enter a number."))
        return None
    if not number.is_finite():
        errors.setdefault(field, []).append(_("Enter a number."))
    elif (strict and number <= minimum) or number < minimum:
        errors.setdefault(field, []).append(
            _("Enter a number greater than %(min)s.") % {"min": minimum}
            if strict
            else _("Enter a number of at least %(min)s.") % {"min": minimum}
        )
    elif maximum is not None and number > maximum:
        errors.setdefault(field, []).append(_("Enter a number of at most %(max)s.") % {"max": maximum})
    elif abs(number) >= Decimal("1e14"):
        errors.setdefault(field, []).append(_("The number is too large."))
    elif number != number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):
        errors.setdefault(field, []).append(_("At most %(places)d decimal places.") % {"places": places})
    else:
        return number.quantize(Decimal(1).scaleb(-places))
    return None


def _record(model, value, *, company_id: int, field: str, errors: dict, required: bool = True):
    """``value`` (a record or an id) as a record of the company, or a field error."""
    if value in (None, ""):
        if required:
            errors.setdefault(field, []).append(_("This field is required."))
        return None
    if isinstance(value, model):
        if value.company_id != company_id:
            errors.setdefault(field, []).append(_("Unknown record."))
            return None
        return value
    try:
        return model.objects.get(pk=int(value), company_id=company_id)
    except (model.DoesNotExist, ValueError, TypeError):
        errors.setdefault(field, []).append(_("Unknown record."))
        return None


def _today() -> dt.date:
    return timezone.localdate()


def _advisory_lock(key: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])


def _next_sequence(model, company_id: int) -> int:
    """The next number of ``model`` in the company, under a transaction-scoped advisory lock (unique, in
    creation order)."""
    _advisory_lock(f"erp.{model._meta.model_name}.number:{company_id}")
    top = model.objects.filter(company_id=company_id).aggregate(top=Max("sequence"))["top"]
    return (top or 0) + 1


def line_amounts(*, quantity: Decimal, unit_price: Decimal, discount: Decimal, tax: Tax | None):
    """(untaxed, tax, total) of a line by the rounding rules of invoices (``erp.services.invoicing``), so the
    order's amounts are what its invoice will say."""
    from erp.services.invoicing import line_amounts as invoice_line_amounts

    return invoice_line_amounts(quantity=quantity, unit_price=unit_price, discount=discount, tax=tax)


# ---------------------------------------------------------------- locks


def lock_order(pk: int) -> SalesOrder:
    """The order row locked for the rest of the transaction (the one lock every order change takes first)."""
    return (
        SalesOrder.objects.select_for_update(of=("self",)).select_related("partner", "warehouse", "company").get(pk=pk)
    )


def _locked_lines(order: SalesOrder) -> list[SalesOrderLine]:
    return list(
        SalesOrderLine.objects.select_for_update(of=("self",))
        .filter(order=order)
        .select_related("product", "product__uom", "tax", "warehouse", "reservation")
        .order_by("sequence", "pk")
    )


# ---------------------------------------------------------------- create and edit


HEADER_FIELDS = {
    "warehouse",
    "currency",
    "order_date",
    "requested_date",
    "promised_date",
    "salesperson",
    "client_reference",
    "note",
    "crm_account_id",
}
LINE_FIELDS = {
    "product",
    "quantity",
    "unit_price",
    "discount",
    "tax",
    "description",
    "warehouse",
    "requested_date",
    "promised_date",
}


def _check_date(value, *, field: str, errors: dict):
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            errors.setdefault(field, []).append(_("Enter a date."))
            return None
    return value


def _header(company: Company, partner: Partner | None, header: dict, *, current: SalesOrder | None = None) -> dict:
    unknown = set(header) - HEADER_FIELDS
    if unknown:
        raise TypeError(f"unknown sales order fields: {', '.join(sorted(unknown))}")
    errors: dict = {}
    data: dict = {}
    if "warehouse" in header or current is None:
        warehouse = header.get("warehouse")
        if warehouse is None and current is None:
            warehouse = Warehouse.objects.filter(company=company, is_active=True).order_by("code").first()
        data["warehouse"] = _record(Warehouse, warehouse, company_id=company.pk, field="warehouse", errors=errors)
        if data["warehouse"] is not None and not data["warehouse"].is_active:
            errors.setdefault("warehouse", []).append(_("This warehouse is no longer active."))
    if "currency" in header or current is None:
        currency = str(header.get("currency") or (partner.currency if partner else "") or company.currency)
        currency = currency.strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            errors.setdefault("currency", []).append(_("Enter a three-letter currency code."))
        data["currency"] = currency
    for name in ("order_date", "requested_date", "promised_date"):
        if name in header:
            data[name] = _check_date(header[name], field=name, errors=errors)
    if current is None and not data.get("order_date"):
        data["order_date"] = _today()
    if "salesperson" in header:
        salesperson = header["salesperson"]
        if salesperson is not None and not company.memberships.filter(user=salesperson, is_active=True).exists():
            errors.setdefault("salesperson", []).append(_("Choose a member of the company."))
        data["salesperson"] = salesperson
    if "client_reference" in header:
        data["client_reference"] = _text(
            header["client_reference"], field="client_reference", errors=errors, max_length=100
        )
    if "note" in header:
        data["note"] = _text(header["note"], field="note", errors=errors, max_length=5000)
    if "crm_account_id" in header:
        data["crm_account_id"] = header["crm_account_id"]
    _raise(errors)
    return data


def _lines(
    company: Company, partner: Partner, lines: list, *, currency: str, order_date: dt.date, default_warehouse
) -> list[SalesOrderLine]:
    """The lines as unsaved ``SalesOrderLine`` rows, checked and priced (price lists for the partner's customer
    group in the order's currency, else the product's list price), or a ``ValidationError`` naming each bad
    field as ``lines.<index>.<field>``."""
    if not isinstance(lines, list | tuple) or not lines:
        raise ValidationError({"lines": [_("Add at least one line.")]})
    errors: dict = {}
    rows = []
    for index, raw in enumerate(lines):
        prefix = f"lines.{index}."
        if not isinstance(raw, dict):
            errors[f"lines.{index}"] = [_("Each line is an object.")]
            continue
        unknown = set(raw) - LINE_FIELDS
        if unknown:
            errors[f"lines.{index}"] = [_("Unknown fields: %(names)s") % {"names": ", ".join(sorted(unknown))}]
            continue
        product = _record(Product, raw.get("product"), company_id=company.pk, field=prefix + "product", errors=errors)
        if product is not None and not product.is_active:
            errors.setdefault(prefix + "product", []).append(_("This product is no longer active."))
        warehouse = default_warehouse
        if raw.get("warehouse") is not None:
            warehouse = _record(
                Warehouse, raw["warehouse"], company_id=company.pk, field=prefix + "warehouse", errors=errors
            )
        quantity = _number(raw.get("quantity"), field=prefix + "quantity", errors=errors, strict=True)
        if quantity is not None and product is not None:
            places = product.uom.decimal_places
            if quantity != quantity.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):
                errors.setdefault(prefix + "quantity", []).append(
                    _("At most %(places)d decimal places for this unit.") % {"places": places}
                    if places
                    else _("Enter a whole number for this unit.")
                )
        discount = _number(
            raw.get("discount", ZERO), field=prefix + "discount", errors=errors, places=2, maximum=HUNDRED
        )
        tax = _record(Tax, raw.get("tax"), company_id=company.pk, field=prefix + "tax", errors=errors, required=False)
        if tax is not None and (tax.use != "sale" or not tax.is_active):
            errors.setdefault(prefix + "tax", []).append(_("Choose an active sales tax."))
        unit_price = None
        source = "manual"
        if raw.get("unit_price") not in (None, ""):
            unit_price = _number(raw["unit_price"], field=prefix + "unit_price", errors=errors)
        elif product is not None and quantity is not None:
            price = inventory_selectors.price_for(
                company=company,
                product=product,
                quantity=quantity,
                customer_group=partner.customer_group or None,
                currency=currency,
                on=order_date,
            )
            if price is None:
                errors.setdefault(prefix + "unit_price", []).append(
                    _("No price for this product in %(currency)s: enter a unit price.") % {"currency": currency}
                )
            else:
                unit_price, source = price.unit_price, price.source
        description = _text(
            raw.get("description") or (product.name if product else ""),
            field=prefix + "description",
            errors=errors,
            max_length=255,
        )
        requested = _check_date(raw.get("requested_date"), field=prefix + "requested_date", errors=errors)
        promised = _check_date(raw.get("promised_date"), field=prefix + "promised_date", errors=errors)
        if errors:
            continue
        untaxed, tax_amount, total = line_amounts(quantity=quantity, unit_price=unit_price, discount=discount, tax=tax)
        rows.append(
            SalesOrderLine(
                company=company,
                sequence=index + 1,
                product=product,
                description=description,
                warehouse=warehouse,
                quantity=quantity,
                unit_price=unit_price,
                price_source=source,
                discount=discount,
                tax=tax,
                requested_date=requested,
                promised_date=promised,
                subtotal=untaxed,
                tax_amount=tax_amount,
                total=total,
            )
        )
    _raise(errors)
    return rows


def _set_amounts(order: SalesOrder, rows: list[SalesOrderLine]) -> None:
    order.amount_untaxed = sum((row.subtotal for row in rows), ZERO)
    order.amount_tax = sum((row.tax_amount for row in rows), ZERO)
    order.amount_total = order.amount_untaxed + order.amount_tax


def _check_partner(company: Company, partner) -> Partner:
    errors: dict = {}
    partner = _record(Partner, partner, company_id=company.pk, field="partner", errors=errors)
    if partner is not None and (not partner.is_customer or not partner.is_active):
        errors.setdefault("partner", []).append(_("Choose an active customer."))
    _raise(errors)
    return partner


@transaction.atomic
def sales_order_create(
    *,
    company: Company,
    partner: Partner | int,
    lines: list[dict],
    by: User | None = None,
    origin: str = "",
    crm_opportunity_id: int | None = None,
    **header,
) -> SalesOrder:
    """Create a draft sales order for a customer with its lines.

    ``lines``: dicts with ``product`` (record or id), ``quantity`` (stock unit), optional ``unit_price`` (else
    the price list of the customer's group in the order currency, else the list price), ``discount`` (%),
    ``tax``, ``description``, ``warehouse``, ``requested_date``, ``promised_date``. ``header``: ``warehouse``
    (default: the company's first active one), ``currency`` (default: the customer's, else the company's),
    ``order_date``, ``requested_date``, ``promised_date``, ``salesperson``, ``client_reference``, ``note``,
    ``crm_account_id`` (default: the customer's).

    With ``crm_opportunity_id`` the call is idempotent: the order already made for that opportunity is
    returned unchanged (the closed loop may deliver a win twice). Numbers (SO00001) come from a per-company
    advisory lock, so they are unique and in creation order."""
    partner = _check_partner(company, partner)
    if crm_opportunity_id is not None:
        existing = SalesOrder.objects.filter(company=company, crm_opportunity_id=crm_opportunity_id).first()
        if existing is not None:
            return existing
    data = _header(company, partner, header)
    errors: dict = {}
    origin = _text(origin, field="origin", errors=errors, max_length=100)
    _raise(errors)
    rows = _lines(
        company,
        partner,
        lines,
        currency=data["currency"],
        order_date=data["order_date"],
        default_warehouse=data["warehouse"],
    )
    data.setdefault("crm_account_id", partner.crm_account_id)
    if crm_opportunity_id is not None:
        _advisory_lock(f"erp.salesorder.opportunity:{company.pk}:{crm_opportunity_id}")
        existing = SalesOrder.objects.filter(company=company, crm_opportunity_id=crm_opportunity_id).first()
        if existing is not None:
            return existing
    sequence = _next_sequence(SalesOrder, company.pk)
    order = SalesOrder(
        company=company,
        partner=partner,
        number=f"SO{sequence:05d}",
        sequence=sequence,
        crm_opportunity_id=crm_opportunity_id,
        origin=origin,
        created_by=by,
        correlation_id=events.current_correlation_id() or uuid.uuid4(),
        **data,
    )
    _set_amounts(order, rows)
    try:
        with transaction.atomic():
            order.save()
    except IntegrityError:
        raise ValidationError({"crm_opportunity_id": [_("An order for this opportunity exists.")]}) from None
    for row in rows:
        row.order = order
    SalesOrderLine.objects.bulk_create(rows)
    return order


@transaction.atomic
def sales_order_update(*, order: SalesOrder, by: User | None = None, lines: list | None = None, **header) -> SalesOrder:
    """Change a draft (or held) order's header fields (those of ``sales_order_create``) and, with ``lines``,
    replace its lines (re-priced like on creation). Locks the order."""
    order = lock_order(order.pk)
    if order.state not in (SalesOrderState.DRAFT, SalesOrderState.HELD):
        raise StateConflict(_("Only a draft order can be changed."))
    data = _header(order.company, order.partner, header, current=order)
    for name, value in data.items():
        setattr(order, name, value)
    if lines is not None:
        rows = _lines(
            order.company,
            order.partner,
            lines,
            currency=order.currency,
            order_date=order.order_date,
            default_warehouse=order.warehouse,
        )
        SalesOrderLine.objects.filter(order=order).delete()
        for row in rows:
            row.order = order
        SalesOrderLine.objects.bulk_create(rows)
    else:
        rows = list(order.lines.all())  # prices stay as entered; send the lines again to re-price them
    _set_amounts(order, rows)
    order.save()
    return order


# ---------------------------------------------------------------- confirm, credit hold, release


def _credit_check(order: SalesOrder) -> tuple[bool, str]:
    """(ok, reason) of erpar's ``erp.selectors.receivables.credit_check`` for this order's total: open and draft
    receivables plus the order against the customer's credit limit."""
    from erp.selectors.receivables import credit_check

    result = credit_check(company=order.company, partner=order.partner, amount=order.amount_total)
    return bool(result.ok), str(result.reason or "")


@transaction.atomic
def sales_order_confirm(*, order: SalesOrder, by: User | None = None) -> SalesOrder:
    """Confirm a draft order: check the customer's credit (``erp.selectors.receivables.credit_check`` with the
    order total against open receivables and the credit limit); over the limit the order goes on hold with
    the reason (``erp.sales_order.held``) and nothing is reserved. Otherwise reserve stock per line (what is
    free; a shortage waits for ``sales_order_reserve``), promise dates from available-to-promise, create one
    delivery order per warehouse and publish ``erp.sales_order.confirmed``. Locks the order, then stock."""
    order = lock_order(order.pk)
    if order.state == SalesOrderState.HELD:
        raise StateConflict(_("The order is on credit hold: a manager must release it."))
    if order.state != SalesOrderState.DRAFT:
        raise StateConflict(_("Only a draft order can be confirmed."))
    ok, reason = _credit_check(order)
    if not ok:
        order.state = SalesOrderState.HELD
        order.hold_reason = (reason or str(_("The customer's credit limit would be exceeded.")))[:300]
        order.held_at = timezone.now()
        order.save(update_fields=["state", "hold_reason", "held_at", "updated_at"])
        events.publish(
            erp_events.SALES_ORDER_HELD,
            erp_events.sales_order_payload(order),
            company_id=order.company_id,
            by=by,
            correlation_id=order.correlation_id,
        )
        return order
    return _confirm(order, by=by)


@transaction.atomic
def sales_order_release_hold(*, order: SalesOrder, by: User | None = None, note: str = "") -> SalesOrder:
    """Release a credit hold (a manager's decision, recorded with ``note``) and confirm the order as
    ``sales_order_confirm`` would, without checking credit again. Locks the order."""
    order = lock_order(order.pk)
    if order.state != SalesOrderState.HELD:
        raise StateConflict(_("The order is not on credit hold."))
    errors: dict = {}
    order.release_note = _text(note, field="note", errors=errors, max_length=300)
    _raise(errors)
    order.released_by = by
    order.released_at = timezone.now()
    order.state = SalesOrderState.DRAFT
    return _confirm(order, by=by)


def _confirm(order: SalesOrder, *, by) -> SalesOrder:
    now = timezone.now()
    order.state = SalesOrderState.CONFIRMED
    order.confirmed_at = now
    order.confirmed_by = by
    lines = _locked_lines(order)
    for line in sorted(lines, key=lambda row: (row.product_id, row.pk)):
        _reserve_line(order, line, by=by)
    _promise(order, lines)
    order.save()
    _create_deliveries(order, lines)
    events.publish(
        erp_events.SALES_ORDER_CONFIRMED,
        erp_events.sales_order_payload(order, lines=lines),
        company_id=order.company_id,
        by=by,
        correlation_id=order.correlation_id,
    )
    return order


def _usable_free(quants, today: dt.date) -> Decimal:
    free = ZERO
    for quant in quants:
        if quant.lot_id and quant.lot.expiry_date and quant.lot.expiry_date < today:
            continue
        free += quant.quantity - quant.reserved
    return max(free, ZERO)


def _reserved_open(line: SalesOrderLine) -> Decimal:
    reservation = line.reservation
    if reservation is None or reservation.state != ReservationState.ACTIVE:
        return ZERO
    return reservation.open_quantity


def _reserve_line(order: SalesOrder, line: SalesOrderLine, *, by) -> Decimal:
    """Top up the line's reservation to its open quantity with what is free (first expiry first). The
    product's quants in the line's warehouse are locked first, so the free figure cannot change before the
    reservation is written; a line with an active reservation gets a new one for the total (the old one is
    released in the same transaction). Returns what the line now holds."""
    product = line.product
    if not product.is_stockable:
        return ZERO
    held = _reserved_open(line)
    needed = line.open_quantity - held
    if needed <= 0:
        return held
    quants = inv.lock_quants(Q(product=product, warehouse=line.warehouse))
    take = min(_usable_free(quants, _today()), needed)
    if take <= 0:
        return held
    if held > 0:
        inv.stock_release(reservation=line.reservation, by=by)
    line.reservation = inv.stock_reserve(
        product=product,
        warehouse=line.warehouse,
        quantity=held + take,
        reference=f"{order.number}/{line.sequence}",
        required_date=line.requested_date or order.requested_date,
        by=by,
    )
    line.save(update_fields=["reservation", "updated_at"])
    return held + take


def _promise(order: SalesOrder, lines: list[SalesOrderLine]) -> None:
    """Promise dates where none was set: today for a line fully held, else the first day available-to-promise
    covers the shortage (``None`` if not within 90 days); the order's is its latest line's."""
    today = _today()
    for line in lines:
        if line.promised_date is not None:
            continue
        shortage = line.open_quantity - _reserved_open(line) if line.product.is_stockable else ZERO
        if shortage <= 0:
            line.promised_date = today
        else:
            atp = inventory_selectors.available_to_promise(
                company=order.company_id, product=line.product, warehouse=line.warehouse, start=today
            )
            line.promised_date = atp.earliest_date_for(shortage)
        line.save(update_fields=["promised_date", "updated_at"])
    dates = [line.promised_date for line in lines]
    if order.promised_date is None and dates and all(dates):
        order.promised_date = max(dates)


@transaction.atomic
def sales_order_reserve(*, order: SalesOrder, by: User | None = None) -> SalesOrder:
    """Check availability again: reserve what has become free for lines still short (after a receipt).
    Locks the order, its lines, then stock per product."""
    order = lock_order(order.pk)
    if order.state not in (SalesOrderState.CONFIRMED, SalesOrderState.PARTIALLY_DELIVERED):
        raise StateConflict(_("Only a confirmed order waiting for delivery can reserve stock."))
    lines = _locked_lines(order)
    for line in sorted(lines, key=lambda row: (row.product_id, row.pk)):
        _reserve_line(order, line, by=by)
    return order


@transaction.atomic
def sales_order_cancel(*, order: SalesOrder, by: User | None = None, reason: str = "") -> SalesOrder:
    """Cancel an order nothing of which has been shipped: its reservations are released and its open
    deliveries cancelled. Publishes ``erp.sales_order.cancelled``. Locks the order."""
    order = lock_order(order.pk)
    if order.state not in (SalesOrderState.DRAFT, SalesOrderState.HELD, SalesOrderState.CONFIRMED):
        raise StateConflict(_("An order that has been shipped or invoiced cannot be cancelled."))
    lines = _locked_lines(order)
    if any(line.delivered_quantity > 0 for line in lines):
        raise StateConflict(_("An order that has been shipped cannot be cancelled."))
    errors: dict = {}
    order.cancel_reason = _text(reason, field="reason", errors=errors, max_length=300)
    _raise(errors)
    for line in lines:
        if _reserved_open(line) > 0:
            inv.stock_release(reservation=line.reservation, by=by)
    DeliveryOrder.objects.filter(sales_order=order).exclude(state=DeliveryState.CANCELLED).update(
        state=DeliveryState.CANCELLED, updated_at=timezone.now()
    )
    order.state = SalesOrderState.CANCELLED
    order.cancelled_at = timezone.now()
    order.save(update_fields=["state", "cancel_reason", "cancelled_at", "updated_at"])
    events.publish(
        erp_events.SALES_ORDER_CANCELLED,
        erp_events.sales_order_payload(order, lines=lines),
        company_id=order.company_id,
        by=by,
        correlation_id=order.correlation_id,
    )
    return order


@transaction.atomic
def sales_order_close(*, order: SalesOrder, by: User | None = None) -> SalesOrder:
    """Mark an order done: everything shipped (or cancelled) and nothing left to invoice. Locks the order."""
    order = lock_order(order.pk)
    lines = _locked_lines(order)
    if order.state not in (SalesOrderState.DELIVERED, SalesOrderState.INVOICED):
        raise StateConflict(_("Only a delivered order can be closed."))
    if any(line.open_quantity > 0 or line.to_invoice_quantity != 0 for line in lines):
        raise StateConflict(_("Something is still to deliver, invoice or credit."))
    order.state = SalesOrderState.DONE
    order.save(update_fields=["state", "updated_at"])
    return order


def _refresh_state(order: SalesOrder, lines: list[SalesOrderLine]) -> None:
    """The order's state and invoice status from its lines' counters (after a shipment, invoice or return)."""
    if order.state in (SalesOrderState.DRAFT, SalesOrderState.HELD, SalesOrderState.CANCELLED):
        return
    all_shipped = all(line.open_quantity <= 0 for line in lines)
    any_shipped = any(line.delivered_quantity > 0 for line in lines)
    to_invoice = any(line.to_invoice_quantity != 0 for line in lines)
    any_invoiced = any(line.invoiced_quantity > 0 for line in lines)
    if to_invoice:
        order.invoice_status = InvoiceStatus.TO_INVOICE
    elif all_shipped and any_invoiced:
        order.invoice_status = InvoiceStatus.INVOICED
    else:
        order.invoice_status = InvoiceStatus.NOTHING
    if order.state == SalesOrderState.DONE:
        return
    if all_shipped and any_invoiced and not to_invoice:
        order.state = SalesOrderState.INVOICED
    elif all_shipped and any_shipped:
        order.state = SalesOrderState.DELIVERED
    elif any_shipped:
        order.state = SalesOrderState.PARTIALLY_DELIVERED
    else:
        order.state = SalesOrderState.CONFIRMED


# ---------------------------------------------------------------- deliveries


def _create_deliveries(order: SalesOrder, lines: list[SalesOrderLine], *, backorder_of=None) -> list[DeliveryOrder]:
    by_warehouse: dict[int, list[SalesOrderLine]] = defaultdict(list)
    for line in lines:
        if line.open_quantity > 0:
            by_warehouse[line.warehouse_id].append(line)
    created = []
    for warehouse_id, group in sorted(by_warehouse.items()):
        created.append(
            _new_delivery(
                order, warehouse_id, [(line, line.open_quantity) for line in group], backorder_of=backorder_of
            )
        )
    return created


def _new_delivery(order: SalesOrder, warehouse_id: int, items, *, backorder_of=None) -> DeliveryOrder:
    sequence = _next_sequence(DeliveryOrder, order.company_id)
    dates = [line.promised_date for line, _qty in items if line.promised_date]
    delivery = DeliveryOrder.objects.create(
        company_id=order.company_id,
        number=f"OUT{sequence:05d}",
        sequence=sequence,
        sales_order=order,
        warehouse_id=warehouse_id,
        backorder_of=backorder_of,
        scheduled_date=max(dates) if dates else order.promised_date,
    )
    DeliveryLine.objects.bulk_create(
        [
            DeliveryLine(
                company_id=order.company_id,
                delivery=delivery,
                sales_line=line,
                product_id=line.product_id,
                quantity=qty,
            )
            for line, qty in items
        ]
    )
    return delivery


def lock_delivery(pk: int) -> tuple[SalesOrder, DeliveryOrder]:
    """The delivery's order locked first (the one lock order), then the delivery."""
    order_id = DeliveryOrder.objects.filter(pk=pk).values_list("sales_order_id", flat=True).get()
    order = lock_order(order_id)
    delivery = (
        DeliveryOrder.objects.select_for_update(of=("self",)).select_related("warehouse", "sales_order").get(pk=pk)
    )
    return order, delivery


def _fefo_key(quant):
    expiry = quant.lot.expiry_date if quant.lot_id and quant.lot.expiry_date else dt.date.max
    return (expiry, not quant.location.is_default, quant.pk)


def pick_suggestion(delivery: DeliveryOrder) -> dict[int, list[tuple[Lot | None, Decimal]]]:
    """For each delivery line id, the lots to pick first-expiry-first: first what the line's reservation
    holds, then free stock of lots not expired; the quantities add up to what can be picked (at most the
    line's quantity). Reads only."""
    today = _today()
    result: dict[int, list[tuple[Lot | None, Decimal]]] = {}
    lines = delivery.lines.select_related("product", "sales_line__reservation")
    for line in lines:
        remaining = line.quantity
        plan: dict[int | None, Decimal] = {}
        lots: dict[int | None, Lot | None] = {None: None}
        product = line.product
        if not product.is_stockable:
            result[line.pk] = [(None, remaining)]
            continue
        reservation = line.sales_line.reservation
        if reservation is not None and reservation.state == ReservationState.ACTIVE:
            allocations = reservation.allocations.filter(quantity__gt=0).select_related("quant__lot", "quant__location")
            for allocation in sorted(allocations, key=lambda a: _fefo_key(a.quant)):
                take = min(allocation.quantity, remaining)
                if take <= 0:
                    break
                plan[allocation.quant.lot_id] = plan.get(allocation.quant.lot_id, ZERO) + take
                lots[allocation.quant.lot_id] = allocation.quant.lot
                remaining -= take
        if remaining > 0:
            quants = (
                product.quants.filter(warehouse=delivery.warehouse)
                .filter(Q(lot__isnull=True) | Q(lot__expiry_date__isnull=True) | Q(lot__expiry_date__gte=today))
                .select_related("lot", "location")
            )
            for quant in sorted(quants, key=_fefo_key):
                take = min(quant.quantity - quant.reserved, remaining)
                if take <= 0:
                    continue
                plan[quant.lot_id] = plan.get(quant.lot_id, ZERO) + take
                lots[quant.lot_id] = quant.lot
                remaining -= take
                if remaining <= 0:
                    break
        result[line.pk] = [(lots[lot_id], qty) for lot_id, qty in plan.items()]
    return result


def _check_picks(delivery: DeliveryOrder, picks: list) -> dict[int, list[tuple[Lot | None, Decimal]]]:
    lines = {line.pk: line for line in delivery.lines.select_related("product", "product__uom")}
    errors: dict = {}
    result: dict[int, list[tuple[Lot | None, Decimal]]] = {pk: [] for pk in lines}
    today = _today()
    if not isinstance(picks, list | tuple):
        raise ValidationError({"picks": [_("Send a list of picks.")]})
    for index, raw in enumerate(picks):
        prefix = f"picks.{index}."
        if not isinstance(raw, dict):
            errors[f"picks.{index}"] = [_("Each pick is an object.")]
            continue
        line_value = raw.get("line")
        line_id = getattr(line_value, "pk", line_value)
        try:
            line = lines[int(line_id)]
        except (KeyError, TypeError, ValueError):
            errors.setdefault(prefix + "line", []).append(_("This line is not on the delivery."))
            continue
        quantity = _number(raw.get("quantity"), field=prefix + "quantity", errors=errors)
        lot = _record(
            Lot, raw.get("lot"), company_id=delivery.company_id, field=prefix + "lot", errors=errors, required=False
        )
        product = line.product
        if lot is not None and lot.product_id != product.pk:
            errors.setdefault(prefix + "lot", []).append(_("This lot belongs to another product."))
        elif lot is not None and lot.expiry_date and lot.expiry_date < today:
            errors.setdefault(prefix + "lot", []).append(_("This lot has expired."))
        elif lot is None and product.tracks_lots and product.is_stockable and quantity:
            errors.setdefault(prefix + "lot", []).append(_("This product is tracked by lot: name the lot."))
        elif lot is not None and not product.tracks_lots:
            errors.setdefault(prefix + "lot", []).append(_("This product is not tracked by lot."))
        if quantity is not None and quantity > 0:
            result[line.pk].append((lot, quantity))
    for pk, items in result.items():
        total = sum((qty for _lot, qty in items), ZERO)
        if total > lines[pk].quantity:
            errors.setdefault("picks", []).append(
                _("More than %(quantity)s of %(sku)s picked.")
                % {"quantity": lines[pk].quantity.normalize(), "sku": lines[pk].product.sku}
            )
    _raise(errors)
    return result


def _save_picks(delivery: DeliveryOrder, plan: dict[int, list[tuple[Lot | None, Decimal]]]) -> None:
    DeliveryPick.objects.filter(line__delivery=delivery).delete()
    rows = []
    for line in delivery.lines.all():
        items = plan.get(line.pk, [])
        line.picked_quantity = sum((qty for _lot, qty in items), ZERO)
        line.save(update_fields=["picked_quantity", "updated_at"])
        rows += [DeliveryPick(company_id=delivery.company_id, line=line, lot=lot, quantity=qty) for lot, qty in items]
    DeliveryPick.objects.bulk_create(rows)


@transaction.atomic
def delivery_pick(*, delivery: DeliveryOrder, picks: list | None = None, by: User | None = None) -> DeliveryOrder:
    """Record what was picked for a ready (or picked) delivery: ``picks`` = ``[{line, quantity, lot}]``; without
    ``picks``, the first-expiry-first suggestion (``pick_suggestion``). Expired lots are refused. Nothing moves
    yet (stock leaves when the delivery ships). Locks the order, then the delivery."""
    _order, delivery = lock_delivery(delivery.pk)
    if delivery.state not in (DeliveryState.READY, DeliveryState.PICKED):
        raise StateConflict(_("Only a delivery waiting to be picked can be picked."))
    plan = pick_suggestion(delivery) if picks is None else _check_picks(delivery, picks)
    _save_picks(delivery, plan)
    delivery.state = DeliveryState.PICKED
    delivery.picked_at = timezone.now()
    delivery.save(update_fields=["state", "picked_at", "updated_at"])
    return delivery


@transaction.atomic
def delivery_pack(
    *, delivery: DeliveryOrder, package_count: int = 1, weight=None, by: User | None = None
) -> DeliveryOrder:
    """Record the packing of a picked delivery (number of packages, weight in kg)."""
    _order, delivery = lock_delivery(delivery.pk)
    if delivery.state != DeliveryState.PICKED:
        raise StateConflict(_("Pick the delivery before packing it."))
    errors: dict = {}
    if not isinstance(package_count, int) or not 1 <= package_count <= 10000:
        errors["package_count"] = [_("Enter a number of packages from 1 to 10000.")]
    if weight is not None:
        weight = _number(weight, field="weight", errors=errors)
    _raise(errors)
    delivery.package_count = package_count
    delivery.weight = weight
    delivery.state = DeliveryState.PACKED
    delivery.packed_at = timezone.now()
    delivery.save(update_fields=["package_count", "weight", "state", "packed_at", "updated_at"])
    return delivery


def _consume_plan(reservation: StockReservation, quantity: Decimal) -> dict[int | None, Decimal]:
    """By lot, what ``stock_consume_reservation`` would take for ``quantity`` (first expiry first)."""
    plan: dict[int | None, Decimal] = {}
    remaining = quantity
    allocations = reservation.allocations.filter(quantity__gt=0).select_related("quant__lot", "quant__location")
    for allocation in sorted(allocations, key=lambda a: _fefo_key(a.quant)):
        if remaining <= 0:
            break
        take = min(allocation.quantity, remaining)
        plan[allocation.quant.lot_id] = plan.get(allocation.quant.lot_id, ZERO) + take
        remaining -= take
    return plan


def _ship_line(order, delivery, line: DeliveryLine, sales_line: SalesOrderLine, *, by) -> list[StockMove]:
    """Move ``line.picked_quantity`` out of the warehouse: from the line's reservation when it holds it (and
    the picked lots are the ones it holds), else the reserved part is released and the picked lots are
    delivered from free stock. ``InsufficientStock`` when the stock is not there."""
    quantity = line.picked_quantity
    product = line.product
    if quantity <= 0 or not product.is_stockable:
        return []
    reference = delivery.number
    inv.lock_quants(Q(product=product, warehouse=delivery.warehouse))  # every quant this line may touch, pk order
    reservation = sales_line.reservation
    held = _reserved_open(sales_line) if reservation and reservation.warehouse_id == delivery.warehouse_id else ZERO
    picks: dict[int | None, Decimal] = {}
    for pick in line.picks.all():
        picks[pick.lot_id] = picks.get(pick.lot_id, ZERO) + pick.quantity
    if not picks:
        picks = {None: quantity}
    from_reservation = min(held, quantity)
    moves: list[StockMove] = []
    if from_reservation > 0 and (not product.tracks_lots or picks == _consume_plan(reservation, quantity)):
        moves += inv.stock_consume_reservation(
            reservation=reservation, quantity=from_reservation, reference=reference, by=by
        )
        rest = {None: quantity - from_reservation} if quantity > from_reservation else {}
    else:
        if from_reservation > 0:
            inv.stock_release(reservation=reservation, quantity=from_reservation, by=by)
        rest = picks
    for lot_id, qty in rest.items():
        if qty > 0:
            moves += inv.stock_deliver(
                product=product,
                warehouse=delivery.warehouse,
                lot=Lot.objects.get(pk=lot_id) if lot_id else None,
                quantity=qty,
                reference=reference,
                by=by,
            )
    return moves


@transaction.atomic
def delivery_ship(
    *,
    delivery: DeliveryOrder,
    carrier: str = "",
    tracking_number: str = "",
    backorder: bool = True,
    by: User | None = None,
) -> DeliveryOrder:
    """Ship a picked or packed delivery (a ready one is picked by the suggestion first): the picked quantities
    leave the warehouse through the inventory services (consuming the order's reservations; COGS follows from
    the valuation of those moves), the order lines count them as delivered, and what was not picked goes to a
    backorder delivery (``backorder=False``: it is cancelled and its reservation released). Publishes
    ``erp.shipment.shipped`` and ``erp.sales_order.delivered`` (``status`` partial or full). Locks the order,
    the delivery, the order lines, then stock one product at a time."""
    order, delivery = lock_delivery(delivery.pk)
    if delivery.state == DeliveryState.READY:
        _save_picks(delivery, pick_suggestion(delivery))
    elif delivery.state not in (DeliveryState.PICKED, DeliveryState.PACKED):
        raise StateConflict(_("Only a picked or packed delivery can be shipped."))
    errors: dict = {}
    carrier = _text(carrier, field="carrier", errors=errors, max_length=100)
    tracking_number = _text(tracking_number, field="tracking_number", errors=errors, max_length=100)
    _raise(errors)
    order_lines = {line.pk: line for line in _locked_lines(order)}
    lines = list(delivery.lines.select_related("product", "product__uom").order_by("product_id", "pk"))
    if not any(line.picked_quantity > 0 for line in lines):
        raise StateConflict(_("Nothing has been picked."))
    moves = []
    remainder = []
    for line in lines:
        sales_line = order_lines[line.sales_line_id]
        moves += _ship_line(order, delivery, line, sales_line, by=by)
        if sales_line.reservation_id:
            sales_line.reservation.refresh_from_db()  # the inventory services changed it under their own lock
        line.shipped_quantity = line.picked_quantity
        line.save(update_fields=["shipped_quantity", "updated_at"])
        sales_line.delivered_quantity += line.picked_quantity
        left = line.quantity - line.picked_quantity
        if left > 0:
            if backorder:
                remainder.append((sales_line, left))
            else:
                sales_line.cancelled_quantity += left
                held = _reserved_open(sales_line)
                if held > 0:
                    inv.stock_release(reservation=sales_line.reservation, quantity=min(held, left), by=by)
                    sales_line.reservation.refresh_from_db()
        sales_line.save(update_fields=["delivered_quantity", "cancelled_quantity", "updated_at"])
    backorder_delivery = None
    if remainder:
        backorder_delivery = _new_delivery(order, delivery.warehouse_id, remainder, backorder_of=delivery)
    delivery.state = DeliveryState.SHIPPED
    delivery.carrier = carrier
    delivery.tracking_number = tracking_number
    delivery.shipped_at = timezone.now()
    delivery.shipped_by = by
    delivery.save()
    all_lines = list(order_lines.values())
    _refresh_state(order, all_lines)
    order.save(update_fields=["state", "invoice_status", "updated_at"])
    events.publish(
        erp_events.SHIPMENT_SHIPPED,
        erp_events.shipment_payload(delivery, order, lines, backorder=backorder_delivery),
        company_id=order.company_id,
        by=by,
        correlation_id=order.correlation_id,
    )
    events.publish(
        erp_events.SALES_ORDER_DELIVERED,
        erp_events.sales_order_payload(order, lines=all_lines, delivery=delivery),
        company_id=order.company_id,
        by=by,
        correlation_id=order.correlation_id,
    )
    return delivery


@transaction.atomic
def delivery_confirm_delivered(
    *, delivery: DeliveryOrder, received_by: str = "", delivered_at: dt.datetime | None = None, by: User | None = None
) -> DeliveryOrder:
    """The customer received a shipped delivery (proof of delivery). Publishes ``erp.shipment.delivered``."""
    order, delivery = lock_delivery(delivery.pk)
    if delivery.state != DeliveryState.SHIPPED:
        raise StateConflict(_("Only a shipped delivery can be confirmed as delivered."))
    errors: dict = {}
    delivery.received_by = _text(received_by, field="received_by", errors=errors, max_length=100)
    if delivered_at is not None and timezone.is_naive(delivered_at):
        errors["delivered_at"] = [_("Give the time with its time zone.")]
    _raise(errors)
    delivery.delivered_at = delivered_at or timezone.now()
    delivery.state = DeliveryState.DELIVERED
    delivery.save(update_fields=["received_by", "delivered_at", "state", "updated_at"])
    lines = list(delivery.lines.select_related("product"))
    events.publish(
        erp_events.SHIPMENT_DELIVERED,
        erp_events.shipment_payload(delivery, order, lines),
        company_id=order.company_id,
        by=by,
        correlation_id=order.correlation_id,
    )
    return delivery


@transaction.atomic
def delivery_cancel(*, delivery: DeliveryOrder, by: User | None = None) -> DeliveryOrder:
    """Cancel a delivery not yet shipped (e.g. a backorder the customer no longer wants): its quantities are
    cancelled on the order lines and their reservations released."""
    order, delivery = lock_delivery(delivery.pk)
    if delivery.state not in (DeliveryState.READY, DeliveryState.PICKED, DeliveryState.PACKED):
        raise StateConflict(_("Only a delivery not yet shipped can be cancelled."))
    order_lines = {line.pk: line for line in _locked_lines(order)}
    for line in delivery.lines.all():
        sales_line = order_lines[line.sales_line_id]
        sales_line.cancelled_quantity += line.quantity
        held = _reserved_open(sales_line)
        if held > 0:
            inv.stock_release(reservation=sales_line.reservation, quantity=min(held, line.quantity), by=by)
        sales_line.save(update_fields=["cancelled_quantity", "updated_at"])
    delivery.state = DeliveryState.CANCELLED
    delivery.save(update_fields=["state", "updated_at"])
    _refresh_state(order, list(order_lines.values()))
    order.save(update_fields=["state", "invoice_status", "updated_at"])
    return delivery


# ---------------------------------------------------------------- invoicing


def _invoice_lines(items: list[tuple[SalesOrderLine, Decimal]]) -> list[dict]:
    return [
        {
            "product": line.product,
            "description": line.description,
            "quantity": quantity,
            "unit_price": line.unit_price,
            "discount": line.discount,
            "tax": line.tax,
            "sales_line": line,
        }
        for line, quantity in items
    ]


def _create_invoice(order: SalesOrder, *, kind: str, items: list[tuple[SalesOrderLine, Decimal]], by, **header):
    """A draft customer invoice (or credit note) through erpar's ``invoice_create``, each line linked to its
    sales line."""
    from erp.services import invoicing

    invoice = invoicing.invoice_create(
        company=order.company,
        kind=kind,
        partner=order.partner,
        lines=_invoice_lines(items),
        by=by,
        origin=order.number,
        currency=order.currency,
        **header,
    )
    if order.correlation_id is not None:
        invoicing.invoice_correlate(invoice=invoice, correlation_id=order.correlation_id)
    return invoice


def _sync_invoiced(lines: list[SalesOrderLine]) -> None:
    """Set the lines' invoiced and credited quantities from the invoice lines linked to them (cancelled drafts
    do not count), so an invoice finance cancelled makes its quantities invoiceable again."""
    from erp.models import InvoiceLine

    totals = (
        InvoiceLine.objects.filter(sales_line__in=[line.pk for line in lines])
        .exclude(invoice__state="cancelled")
        .values_list("sales_line_id", "invoice__kind")
        .annotate(total=Sum("quantity"))
    )
    invoiced: dict[int, Decimal] = defaultdict(lambda: ZERO)
    refunded: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for line_id, kind, total in totals:
        (invoiced if kind == "out_invoice" else refunded)[line_id] += total
    for line in lines:
        if (line.invoiced_quantity, line.refunded_quantity) != (invoiced[line.pk], refunded[line.pk]):
            line.invoiced_quantity, line.refunded_quantity = invoiced[line.pk], refunded[line.pk]
            line.save(update_fields=["invoiced_quantity", "refunded_quantity", "updated_at"])


def _credit(order: SalesOrder, items: list[tuple[SalesOrderLine, Decimal]], *, reason: str, by):
    """Credit notes for ``items``: against the latest customer invoice of each line — erpar's
    ``credit_note_create`` when it is posted, a stand-alone draft credit note while it is a draft."""
    from erp.models import InvoiceLine
    from erp.services import invoicing

    by_invoice: dict[int, list] = defaultdict(list)
    invoices = {}
    for line, quantity in items:
        source = (
            InvoiceLine.objects.filter(sales_line=line, invoice__kind="out_invoice")
            .exclude(invoice__state="cancelled")
            .select_related("invoice")
            .order_by("-invoice_id")
            .first()
        )
        invoices[source.invoice_id] = source.invoice
        by_invoice[source.invoice_id].append((line, quantity))
    notes = []
    for invoice_id, group in sorted(by_invoice.items()):
        invoice = invoices[invoice_id]
        if invoice.state == "posted":
            notes.append(
                invoicing.credit_note_create(invoice=invoice, lines=_invoice_lines(group), reason=reason, by=by)
            )
        else:
            notes.append(_create_invoice(order, kind="out_refund", items=group, by=by, narration=reason))
    return notes


@transaction.atomic
def sales_order_invoice(*, order: SalesOrder, by: User | None = None, invoice_date: dt.date | None = None) -> Any:
    """Invoice what was delivered and not yet invoiced (net of returns and credit notes): one draft customer
    invoice through ``erp.services.invoicing.invoice_create``, its lines linked to the order lines. The order
    lines are locked while counted, and PostgreSQL refuses an invoiced quantity above the delivered one, so
    the same delivered quantity is never invoiced twice. Publishes ``erp.sales_order.invoiced``. ``StateConflict``
    when nothing is to invoice."""
    order = lock_order(order.pk)
    if order.state in (SalesOrderState.DRAFT, SalesOrderState.HELD, SalesOrderState.CANCELLED):
        raise StateConflict(_("Only a confirmed order can be invoiced."))
    lines = _locked_lines(order)
    _sync_invoiced(lines)
    items = [(line, line.to_invoice_quantity) for line in lines if line.to_invoice_quantity > 0]
    if not items:
        raise StateConflict(_("Nothing delivered is waiting to be invoiced."))
    header = {"invoice_date": invoice_date} if invoice_date else {}
    invoice = _create_invoice(order, kind="out_invoice", items=items, by=by, **header)
    _sync_invoiced(lines)
    _refresh_state(order, lines)
    order.save(update_fields=["state", "invoice_status", "updated_at"])
    events.publish(
        erp_events.SALES_ORDER_INVOICED,
        erp_events.sales_order_payload(order, lines=lines, invoice=invoice),
        company_id=order.company_id,
        by=by,
        correlation_id=order.correlation_id,
    )
    return invoice


# ---------------------------------------------------------------- returns (RMA)


@transaction.atomic
def sales_return_create(
    *,
    delivery: DeliveryOrder,
    lines: list[dict],
    reason: str,
    destination: str = ReturnDestination.STOCK,
    by: User | None = None,
) -> SalesReturn:
    """Authorise a return of goods from a shipped delivery: ``lines`` = ``[{delivery_line, quantity, lot}]``
    (a lot that went out on that line; for a lot-tracked product the lot is required when more than one
    left), ``destination`` stock / quarantine / scrap. At most what was shipped and not already returned or
    authorised. Nothing moves until ``sales_return_receive``. Locks the order."""
    order, delivery = lock_delivery(delivery.pk)
    if delivery.state not in (DeliveryState.SHIPPED, DeliveryState.DELIVERED):
        raise StateConflict(_("Only goods that were shipped can be returned."))
    errors: dict = {}
    reason = _text(reason, field="reason", errors=errors, max_length=300, required=True)
    if destination not in ReturnDestination.values:
        errors["destination"] = [_("Choose stock, quarantine or scrap.")]
    if not isinstance(lines, list | tuple) or not lines:
        errors["lines"] = [_("Add at least one line.")]
    _raise(errors)
    delivery_lines = {line.pk: line for line in delivery.lines.select_related("product")}
    pending = dict(
        SalesReturnLine.objects.filter(delivery_line__delivery=delivery, sales_return__state=ReturnState.REQUESTED)
        .values("delivery_line")
        .annotate(total=Sum("quantity"))
        .values_list("delivery_line", "total")
    )
    shipped_lots = _shipped_lots(delivery)
    rows = []
    asked: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for index, raw in enumerate(lines):
        prefix = f"lines.{index}."
        if not isinstance(raw, dict):
            errors[f"lines.{index}"] = [_("Each line is an object.")]
            continue
        value = raw.get("delivery_line")
        try:
            line = delivery_lines[int(getattr(value, "pk", value))]
        except (KeyError, TypeError, ValueError):
            errors.setdefault(prefix + "delivery_line", []).append(_("This line is not on the delivery."))
            continue
        quantity = _number(raw.get("quantity"), field=prefix + "quantity", errors=errors, strict=True)
        lot = _record(
            Lot, raw.get("lot"), company_id=delivery.company_id, field=prefix + "lot", errors=errors, required=False
        )
        lots_out = shipped_lots.get(line.product_id, set())
        if lot is None and line.product.tracks_lots:
            if len(lots_out) == 1:
                lot = Lot.objects.get(pk=next(iter(lots_out)))
            else:
                errors.setdefault(prefix + "lot", []).append(_("Name the lot that comes back."))
        elif lot is not None and lot.pk not in lots_out:
            errors.setdefault(prefix + "lot", []).append(_("This lot did not leave on this delivery."))
        if quantity is None:
            continue
        asked[line.pk] += quantity
        returnable = line.shipped_quantity - line.returned_quantity - pending.get(line.pk, ZERO)
        if asked[line.pk] > returnable:
            errors.setdefault(prefix + "quantity", []).append(
                _("At most %(quantity)s can come back.") % {"quantity": max(returnable, ZERO).normalize()}
            )
        rows.append((line, lot, quantity))
    _raise(errors)
    sequence = _next_sequence(SalesReturn, delivery.company_id)
    sales_return = SalesReturn.objects.create(
        company_id=delivery.company_id,
        number=f"RMA{sequence:05d}",
        sequence=sequence,
        delivery=delivery,
        sales_order=order,
        destination=destination,
        reason=reason,
        created_by=by,
    )
    SalesReturnLine.objects.bulk_create(
        [
            SalesReturnLine(
                company_id=delivery.company_id,
                sales_return=sales_return,
                delivery_line=line,
                sales_line_id=line.sales_line_id,
                product_id=line.product_id,
                lot=lot,
                quantity=quantity,
            )
            for line, lot, quantity in rows
        ]
    )
    return sales_return


def _shipped_lots(delivery: DeliveryOrder) -> dict[int, set[int]]:
    lots: dict[int, set[int]] = defaultdict(set)
    moves = StockMove.objects.filter(
        company_id=delivery.company_id, reference=delivery.number, kind=MoveKind.DELIVERY, lot__isnull=False
    ).values_list("product_id", "lot_id")
    for product_id, lot_id in moves:
        lots[product_id].add(lot_id)
    return lots


def _return_location(delivery: DeliveryOrder, destination: str) -> Location:
    if destination == ReturnDestination.SCRAP:
        return inv.virtual_location(company=delivery.company_id, kind=LocationKind.ADJUSTMENT)
    if destination == ReturnDestination.QUARANTINE:
        location = Location.objects.filter(warehouse=delivery.warehouse, code="QUARANTINE").first()
        if location is None:
            location = inv.location_create(
                warehouse=delivery.warehouse, code="QUARANTINE", name="隔离区", name_en="Quarantine"
            )
        return location
    return Location.objects.get(warehouse=delivery.warehouse, is_default=True)


def _receive_returned(*, product: Product, lot, location: Location, quantity: Decimal, unit_cost, reference, by):
    """One move from the customers' location back into ``location`` (or to scrap), the quant increased when it
    is a warehouse location; valued like every stock move (``erp.services.valuation.moves_value``: back into
    stock at the current average cost, credited to COGS)."""
    customers = inv.virtual_location(company=product.company_id, kind=LocationKind.CUSTOMER)
    if location.kind == LocationKind.INTERNAL:
        inv._add_to_quant(product, location, lot, quantity)
        kind = MoveKind.RECEIPT
    else:
        kind = MoveKind.ADJUSTMENT
    move = StockMove.objects.create(
        company_id=product.company_id,
        product=product,
        lot=lot,
        from_location=customers,
        to_location=location,
        quantity=quantity,
        kind=kind,
        reference=reference,
        moved_at=timezone.now(),
        unit_cost=unit_cost,
        created_by=by,
    )
    valuation.moves_value(moves=[move], by=by)
    if location.kind == LocationKind.INTERNAL:
        inv._publish_stock_changed(product, [location.warehouse_id], reason="return", reference=reference, by=by)
    return move


@transaction.atomic
def sales_return_receive(*, sales_return: SalesReturn, by: User | None = None) -> SalesReturn:
    """Receive an authorised return: the goods come back from the customers' location into the warehouse's
    stock, its quarantine location or to scrap (stock moves at the cost they left with); the order lines count
    them as returned; what of them had been invoiced is credited with one draft credit note (erpar's
    ``invoice_create`` with kind ``out_refund``, lines linked to the order lines). Locks the order."""
    order_id = SalesReturn.objects.filter(pk=sales_return.pk).values_list("sales_order_id", flat=True).get()
    order = lock_order(order_id)
    sales_return = (
        SalesReturn.objects.select_for_update(of=("self",))
        .select_related("delivery__warehouse")
        .get(pk=sales_return.pk)
    )
    if sales_return.state != ReturnState.REQUESTED:
        raise StateConflict(_("This return has already been received or cancelled."))
    delivery = sales_return.delivery
    location = _return_location(delivery, sales_return.destination)
    order_lines = {line.pk: line for line in _locked_lines(order)}
    return_lines = list(
        sales_return.lines.select_related("product", "lot", "delivery_line").order_by("product_id", "pk")
    )
    costs = dict(
        StockMove.objects.filter(company_id=order.company_id, reference=delivery.number, kind=MoveKind.DELIVERY)
        .values_list("product_id", "unit_cost")
        .order_by("product_id", "-id")
    )
    for row in return_lines:
        if row.product.is_stockable:
            _receive_returned(
                product=row.product,
                lot=row.lot,
                location=location,
                quantity=row.quantity,
                unit_cost=costs.get(row.product_id, row.product.average_cost),
                reference=sales_return.number,
                by=by,
            )
        DeliveryLine.objects.filter(pk=row.delivery_line_id).update(
            returned_quantity=F("returned_quantity") + row.quantity, updated_at=timezone.now()
        )
        order_lines[row.sales_line_id].returned_quantity += row.quantity
    for line in order_lines.values():
        line.save(update_fields=["returned_quantity", "updated_at"])
    _sync_invoiced(list(order_lines.values()))
    to_credit = [(line, -line.to_invoice_quantity) for line in order_lines.values() if line.to_invoice_quantity < 0]
    if to_credit:
        notes = _credit(order, to_credit, reason=f"{sales_return.number}: {sales_return.reason}", by=by)
        sales_return.credit_note = notes[-1]
        _sync_invoiced(list(order_lines.values()))
    sales_return.state = ReturnState.RECEIVED
    sales_return.location = location
    sales_return.received_at = timezone.now()
    sales_return.received_by = by
    sales_return.save(update_fields=["state", "location", "received_at", "received_by", "credit_note", "updated_at"])
    _refresh_state(order, list(order_lines.values()))
    order.save(update_fields=["state", "invoice_status", "updated_at"])
    return sales_return


@transaction.atomic
def sales_return_cancel(*, sales_return: SalesReturn, by: User | None = None) -> SalesReturn:
    """Cancel an authorised return whose goods did not come back."""
    sales_return = SalesReturn.objects.select_for_update(of=("self",)).get(pk=sales_return.pk)
    if sales_return.state != ReturnState.REQUESTED:
        raise StateConflict(_("Only a return waiting for the goods can be cancelled."))
    sales_return.state = ReturnState.CANCELLED
    sales_return.save(update_fields=["state", "updated_at"])
    return sales_return
