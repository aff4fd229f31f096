"""Writes of procurement: settings, requisitions, requests for quotation, purchase orders (submit / approve /
confirm / cancel), goods receipts, vendor bills and their three-way match.

Rules kept here and backed by PostgreSQL:

* an order whose total is above the company's ``approval_threshold`` waits for a manager (or admin) other than
  the person who submitted it; below it, submitting approves it;
* confirming an order fixes each line's ``receipt_limit`` (ordered × (1 + over-receipt tolerance)) and plans
  its expected supply (``IncomingSupply``: available-to-promise counts it from the expected date);
* a receipt locks the order's lines ``FOR UPDATE`` in pk order before it reads what was received, so two
  concurrent receipts of one line queue up; more than the limit is a field error and nothing is written — and
  the CHECK ``received_quantity <= receipt_limit`` refuses it even if this code were wrong;
* a vendor bill made from an order is matched against the order and the receipts: a price or quantity outside
  the company's tolerances blocks the bill (a trigger refuses to post it) until finance approves the variance.

Events (outbox, same transaction): ``erp.purchase_order.confirmed``, ``erp.goods.received`` (docs/events.md).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from erp import events as erp_events
from erp.models import (
    GoodsReceipt,
    GoodsReceiptLine,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceState,
    Lot,
    MatchState,
    Partner,
    ProcurementSettings,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    PurchaseRequisition,
    PurchaseRequisitionLine,
    ReorderRule,
    RequestForQuotation,
    RequisitionSource,
    RequisitionState,
    RfqLine,
    RfqState,
    SupplyKind,
    SupplyState,
    Tax,
    TaxUse,
    ValuationSettings,
    VendorBillMatch,
    Warehouse,
)
from erp.selectors.inventory import reorder_suggestions
from erp.services import inventory as inv
from erp.services import invoicing
from suite import events
from suite.models import Company, Membership, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ZERO = Decimal("0")
CENT = Decimal("0.01")
HUNDRED = Decimal("100")
APPROVER_ROLES = (Role.ADMIN, Role.MANAGER)
VARIANCE_APPROVER_ROLES = (Role.ADMIN, Role.FINANCE)


class ProcurementConflict(inv.StockConflict):
    """A well-formed request the document's state refuses (API: 409)."""

    code = "invalid_state"


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _number(instance, prefix: str) -> None:
    instance.number = f"{prefix}{instance.pk:06d}"
    type(instance).objects.filter(pk=instance.pk).update(number=instance.number)


def _has_role(user: User | None, company_id: int, roles) -> bool:
    if user is None:
        return False
    return Membership.objects.filter(user=user, company_id=company_id, role__in=roles, is_active=True).exists()


def _check_supplier(company: Company, supplier: Partner | None) -> Partner:
    if supplier is None or supplier.company_id != company.pk:
        raise ValidationError({"supplier": [_("Unknown record.")]})
    if not supplier.is_supplier or not supplier.is_active:
        raise ValidationError({"supplier": [_("This partner is not an active supplier.")]})
    return supplier


# ---------------------------------------------------------------- settings


def procurement_settings_of(company: Company | int) -> ProcurementSettings:
    """The company's purchasing rules (defaults: no approval threshold, no tolerance) — not saved when unset."""
    company_id = getattr(company, "pk", company)
    return ProcurementSettings.objects.filter(company_id=company_id).first() or ProcurementSettings(
        company_id=company_id
    )


@transaction.atomic
def procurement_settings_set(*, company: Company, by: User | None = None, **fields) -> ProcurementSettings:
    """Set the approval threshold (``approval_threshold``, empty for none) and the tolerances in percent
    (``over_receipt_tolerance``, ``bill_price_tolerance``, ``bill_quantity_tolerance``)."""
    allowed = {"approval_threshold", "over_receipt_tolerance", "bill_price_tolerance", "bill_quantity_tolerance"}
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    settings, _created = ProcurementSettings.objects.select_for_update().get_or_create(company=company)
    errors: dict = {}
    for name, value in fields.items():
        if value is None and name == "approval_threshold":
            settings.approval_threshold = None
            continue
        number = inv._decimal(value, field=name, errors=errors, places=2, positive=False)
        if number is not None and name != "approval_threshold" and number > 1000:
            errors[name] = [_("At most 1000 %.")]
        setattr(settings, name, number)
    inv._raise(errors)
    settings.save()
    return settings


# ---------------------------------------------------------------- requisitions


def _clean_lines(company: Company, lines: list[dict], *, price: bool = False) -> tuple[list[dict], dict]:
    """Each ``{"product", "quantity", "unit_price"?, "tax"?, "expected_date"?, "description"?}`` checked."""
    errors: dict = {}
    clean = []
    if not lines:
        errors["lines"] = [_("Add at least one line.")]
    for index, item in enumerate(lines or []):
        prefix = f"lines.{index}"
        product = item.get("product")
        if not isinstance(product, Product) or product.company_id != company.pk:
            errors[f"{prefix}.product"] = [_("Unknown record.")]
            continue
        if not product.is_active:
            errors[f"{prefix}.product"] = [_("This product is no longer active.")]
            continue
        row = dict(item)
        try:
            row["quantity"] = inv.stock_quantity(product=product, quantity=item.get("quantity"))
        except ValidationError as exc:
            errors[f"{prefix}.quantity"] = exc.message_dict.get("quantity", [_("Enter a quantity.")])
        if price:
            line_errors: dict = {}
            row["unit_price"] = inv._decimal(
                item.get("unit_price", ZERO), field="unit_price", errors=line_errors, positive=False
            )
            if line_errors:
                errors[f"{prefix}.unit_price"] = line_errors["unit_price"]
            tax = item.get("tax")
            if tax is not None and (not isinstance(tax, Tax) or tax.company_id != company.pk):
                errors[f"{prefix}.tax"] = [_("Unknown record.")]
            elif tax is not None and tax.use != TaxUse.PURCHASE:
                errors[f"{prefix}.tax"] = [_("Use a purchase tax.")]
            description = (item.get("description") or "").strip()
            if len(description) > 255:
                errors[f"{prefix}.description"] = [_("At most 255 characters.")]
            row["description"] = description
        clean.append(row)
    return clean, errors


@transaction.atomic
def requisition_create(
    *,
    company: Company,
    warehouse: Warehouse,
    lines: list[dict],
    needed_by: dt.date | None = None,
    note: str = "",
    source: str = RequisitionSource.MANUAL,
    by: User | None = None,
) -> PurchaseRequisition:
    """Ask to buy: ``lines`` are ``{"product", "quantity", "reorder_rule"?}``."""
    inv._same_company(company.pk, warehouse=warehouse)
    clean, errors = _clean_lines(company, lines)
    note = inv._text(note, field="note", errors=errors)
    inv._raise(errors)
    requisition = PurchaseRequisition.objects.create(
        company=company,
        number="",
        warehouse=warehouse,
        needed_by=needed_by,
        note=note,
        source=source,
        requested_by=by,
    )
    _number(requisition, "PR")
    PurchaseRequisitionLine.objects.bulk_create(
        [
            PurchaseRequisitionLine(
                company=company,
                requisition=requisition,
                product=row["product"],
                quantity=row["quantity"],
                reorder_rule=row.get("reorder_rule"),
            )
            for row in clean
        ]
    )
    return requisition


@transaction.atomic
def requisitions_from_reorder_suggestions(
    *, company: Company, warehouse: Warehouse | None = None, by: User | None = None
) -> list[PurchaseRequisition]:
    """One requisition per warehouse holding every current reorder suggestion (``reorder_suggestions``) that no
    open requisition already covers; empty when nothing needs ordering."""
    suggestions = reorder_suggestions(company=company, warehouse=warehouse)
    covered = set(
        PurchaseRequisitionLine.objects.filter(
            company=company,
            requisition__state__in=[RequisitionState.DRAFT, RequisitionState.APPROVED],
            reorder_rule__isnull=False,
        ).values_list("reorder_rule_id", flat=True)
    )
    by_warehouse: dict[int, list] = defaultdict(list)
    for suggestion in suggestions:
        if suggestion.rule_id not in covered:
            by_warehouse[suggestion.warehouse_id].append(suggestion)
    products = Product.objects.in_bulk([s.product_id for rows in by_warehouse.values() for s in rows])
    rules = ReorderRule.objects.in_bulk([s.rule_id for rows in by_warehouse.values() for s in rows])
    warehouses = Warehouse.objects.in_bulk(list(by_warehouse))
    result = []
    for warehouse_id, rows in sorted(by_warehouse.items()):
        result.append(
            requisition_create(
                company=company,
                warehouse=warehouses[warehouse_id],
                lines=[
                    {
                        "product": products[s.product_id],
                        "quantity": s.suggested_quantity,
                        "reorder_rule": rules[s.rule_id],
                    }
                    for s in rows
                ],
                needed_by=min(s.expected_date for s in rows),
                source=RequisitionSource.REORDER,
                by=by,
            )
        )
    return result


def lock_requisition(pk: int) -> PurchaseRequisition:
    return PurchaseRequisition.objects.select_for_update(of=("self",)).get(pk=pk)


@transaction.atomic
def requisition_approve(*, requisition: PurchaseRequisition, by: User | None = None) -> PurchaseRequisition:
    """Approve a draft requisition (it may then go out for quotation or straight to an order)."""
    requisition = lock_requisition(requisition.pk)
    if requisition.state != RequisitionState.DRAFT:
        raise ProcurementConflict(_("Only a draft requisition can be approved."))
    requisition.state = RequisitionState.APPROVED
    requisition.approved_by = by
    requisition.save(update_fields=["state", "approved_by", "updated_at"])
    return requisition


@transaction.atomic
def requisition_cancel(*, requisition: PurchaseRequisition, by: User | None = None) -> PurchaseRequisition:
    requisition = lock_requisition(requisition.pk)
    if requisition.state in (RequisitionState.DONE, RequisitionState.CANCELLED):
        raise ProcurementConflict(_("This requisition is already closed."))
    requisition.state = RequisitionState.CANCELLED
    requisition.save(update_fields=["state", "updated_at"])
    return requisition


# ---------------------------------------------------------------- requests for quotation


@transaction.atomic
def rfqs_create(
    *,
    requisition: PurchaseRequisition,
    suppliers: list[Partner],
    valid_until: dt.date | None = None,
    by: User | None = None,
) -> list[RequestForQuotation]:
    """Send an approved requisition out for quotation: one RFQ per supplier with the requisition's lines."""
    requisition = lock_requisition(requisition.pk)
    if requisition.state != RequisitionState.APPROVED:
        raise ProcurementConflict(_("Approve the requisition before asking for quotations."))
    if not suppliers:
        raise ValidationError({"suppliers": [_("Choose at least one supplier.")]})
    company = requisition.company
    for supplier in suppliers:
        _check_supplier(company, supplier)
    if len({s.pk for s in suppliers}) != len(suppliers):
        raise ValidationError({"suppliers": [_("Each supplier once.")]})
    lines = list(requisition.lines.all())
    result = []
    for supplier in suppliers:
        rfq = RequestForQuotation.objects.create(
            company=company,
            number="",
            requisition=requisition,
            supplier=supplier,
            warehouse_id=requisition.warehouse_id,
            currency=supplier.currency or company.currency,
            state=RfqState.SENT,
            valid_until=valid_until,
            created_by=by,
        )
        _number(rfq, "RFQ")
        RfqLine.objects.bulk_create(
            [
                RfqLine(
                    company=company, rfq=rfq, requisition_line=line, product_id=line.product_id, quantity=line.quantity
                )
                for line in lines
            ]
        )
        result.append(rfq)
    return result


def lock_rfq(pk: int) -> RequestForQuotation:
    return RequestForQuotation.objects.select_for_update(of=("self",)).get(pk=pk)


@transaction.atomic
def rfq_quote(
    *, rfq: RequestForQuotation, lines: list[dict], valid_until: dt.date | None = None, by: User | None = None
) -> RequestForQuotation:
    """Record the supplier's answer: ``lines`` = ``{"line": <line or id>, "unit_price", "lead_time_days"?}``.
    Every line must be priced."""
    rfq = lock_rfq(rfq.pk)
    if rfq.state not in (RfqState.SENT, RfqState.QUOTED, RfqState.DRAFT):
        raise ProcurementConflict(_("This request for quotation is closed."))
    existing = {line.pk: line for line in rfq.lines.all()}
    errors: dict = {}
    for index, item in enumerate(lines):
        line = existing.get(getattr(item.get("line"), "pk", item.get("line")))
        if line is None:
            errors[f"lines.{index}.line"] = [_("This line is not on the request.")]
            continue
        line_errors: dict = {}
        line.unit_price = inv._decimal(item.get("unit_price"), field="unit_price", errors=line_errors, positive=False)
        if line_errors:
            errors[f"lines.{index}.unit_price"] = line_errors["unit_price"]
        lead = item.get("lead_time_days")
        if lead is not None and (not isinstance(lead, int) or not 0 <= lead <= 3650):
            errors[f"lines.{index}.lead_time_days"] = [_("Enter a number of days.")]
        line.lead_time_days = lead
    if any(line.unit_price is None for line in existing.values()) and not errors:
        errors["lines"] = [_("Price every line of the request.")]
    inv._raise(errors)
    RfqLine.objects.bulk_update(existing.values(), ["unit_price", "lead_time_days"])
    rfq.state = RfqState.QUOTED
    if valid_until is not None:
        rfq.valid_until = valid_until
    rfq.save(update_fields=["state", "valid_until", "updated_at"])
    return rfq


@transaction.atomic
def rfq_accept(*, rfq: RequestForQuotation, by: User | None = None) -> PurchaseOrder:
    """Choose a quoted RFQ: a draft purchase order at the quoted prices (expected after the longest quoted lead
    time); the requisition's other RFQs are closed as not chosen and the requisition is done."""
    rfq = lock_rfq(rfq.pk)
    if rfq.state != RfqState.QUOTED:
        raise ProcurementConflict(_("Only a quoted request can be accepted."))
    lines = list(rfq.lines.select_related("product"))
    today = timezone.localdate()
    lead = max((line.lead_time_days or 0 for line in lines), default=0)
    order = purchase_order_create(
        company=rfq.company,
        supplier=rfq.supplier,
        warehouse=rfq.warehouse,
        currency=rfq.currency,
        expected_date=today + dt.timedelta(days=lead),
        lines=[
            {
                "product": line.product,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "expected_date": today + dt.timedelta(days=line.lead_time_days or lead),
            }
            for line in lines
        ],
        by=by,
    )
    rfq.state = RfqState.ACCEPTED
    rfq.purchase_order = order
    rfq.save(update_fields=["state", "purchase_order", "updated_at"])
    if rfq.requisition_id:
        RequestForQuotation.objects.filter(requisition_id=rfq.requisition_id).exclude(pk=rfq.pk).exclude(
            state__in=[RfqState.CANCELLED, RfqState.ACCEPTED]
        ).update(state=RfqState.REJECTED, updated_at=timezone.now())
        PurchaseRequisition.objects.filter(pk=rfq.requisition_id).update(
            state=RequisitionState.DONE, updated_at=timezone.now()
        )
    return order


# ---------------------------------------------------------------- purchase orders


def _order_lines(company: Company, order: PurchaseOrder, clean: list[dict]) -> list[PurchaseOrderLine]:
    rows = []
    for row in clean:
        subtotal, tax_amount, _total = invoicing.line_amounts(
            quantity=row["quantity"], unit_price=row["unit_price"], tax=row.get("tax")
        )
        rows.append(
            PurchaseOrderLine(
                company=company,
                order=order,
                product=row["product"],
                description=row.get("description") or row["product"].name[:255],
                quantity=row["quantity"],
                unit_price=row["unit_price"],
                tax=row.get("tax"),
                expected_date=row.get("expected_date") or order.expected_date,
                subtotal=subtotal,
                tax_amount=tax_amount,
            )
        )
    return rows


def _set_totals(order: PurchaseOrder, lines: list[PurchaseOrderLine]) -> None:
    order.amount_untaxed = sum((line.subtotal for line in lines), ZERO)
    order.amount_tax = sum((line.tax_amount for line in lines), ZERO)
    order.amount_total = order.amount_untaxed + order.amount_tax


@transaction.atomic
def purchase_order_create(
    *,
    company: Company,
    supplier: Partner,
    warehouse: Warehouse,
    lines: list[dict],
    expected_date: dt.date | None = None,
    currency: str = "",
    order_date: dt.date | None = None,
    supplier_reference: str = "",
    note: str = "",
    by: User | None = None,
) -> PurchaseOrder:
    """Draft a purchase order: ``lines`` are ``{"product", "quantity", "unit_price", "tax"?, "expected_date"?,
    "description"?}`` (prices per stock unit, in the order's currency). Every problem is a field error and
    nothing is written."""
    errors: dict = {}
    try:
        _check_supplier(company, supplier)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        inv._same_company(company.pk, warehouse=warehouse)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    clean, line_errors = _clean_lines(company, lines, price=True)
    errors.update(line_errors)
    supplier_reference = inv._text(supplier_reference, field="supplier_reference", errors=errors, max_length=100)
    currency = (currency or getattr(supplier, "currency", "") or company.currency).upper()
    if len(currency) != 3 or not currency.isalpha():
        errors["currency"] = [_("Enter a three-letter currency code.")]
    inv._raise(errors)
    order_date = order_date or timezone.localdate()
    expected_date = expected_date or order_date
    if expected_date < order_date:
        raise ValidationError({"expected_date": [_("The goods cannot be expected before the order date.")]})
    order = PurchaseOrder.objects.create(
        company=company,
        number="",
        supplier=supplier,
        warehouse=warehouse,
        currency=currency,
        order_date=order_date,
        expected_date=expected_date,
        supplier_reference=supplier_reference,
        note=(note or "").strip(),
        created_by=by,
    )
    _number(order, "PO")
    rows = _order_lines(company, order, clean)
    PurchaseOrderLine.objects.bulk_create(rows)
    _set_totals(order, rows)
    order.save(update_fields=["amount_untaxed", "amount_tax", "amount_total", "updated_at"])
    return order


def lock_order(pk: int) -> PurchaseOrder:
    return PurchaseOrder.objects.select_for_update(of=("self",)).select_related("company").get(pk=pk)


@transaction.atomic
def purchase_order_update(
    *, order: PurchaseOrder, lines: list[dict] | None = None, by: User | None = None, **header
) -> PurchaseOrder:
    """Change a draft order: its header (``expected_date``, ``supplier_reference``, ``note``) and/or all its
    ``lines`` (replaced)."""
    order = lock_order(order.pk)
    if order.state != PurchaseOrderState.DRAFT:
        raise ProcurementConflict(_("Only a draft order can be changed."))
    unknown = set(header) - {"expected_date", "supplier_reference", "note"}
    if unknown:
        raise TypeError(f"unknown fields: {', '.join(sorted(unknown))}")
    for name, value in header.items():
        setattr(order, name, value.strip() if isinstance(value, str) else value)
    if order.expected_date < order.order_date:
        raise ValidationError({"expected_date": [_("The goods cannot be expected before the order date.")]})
    if lines is not None:
        clean, errors = _clean_lines(order.company, lines, price=True)
        inv._raise(errors)
        order.lines.all().delete()
        rows = _order_lines(order.company, order, clean)
        PurchaseOrderLine.objects.bulk_create(rows)
        _set_totals(order, rows)
    order.save()
    return order


@transaction.atomic
def purchase_order_submit(*, order: PurchaseOrder, by: User | None = None) -> PurchaseOrder:
    """Submit a draft: above the company's approval threshold it waits for approval, otherwise it is approved
    at once."""
    order = lock_order(order.pk)
    if order.state != PurchaseOrderState.DRAFT:
        raise ProcurementConflict(_("Only a draft order can be submitted."))
    if not order.lines.exists():
        raise ValidationError({"lines": [_("Add at least one line.")]})
    threshold = procurement_settings_of(order.company_id).approval_threshold
    order.submitted_by = by
    if threshold is not None and order.amount_total > threshold:
        order.state = PurchaseOrderState.TO_APPROVE
    else:
        order.state = PurchaseOrderState.APPROVED
        order.approved_at = timezone.now()
    order.save(update_fields=["state", "submitted_by", "approved_at", "updated_at"])
    return order


@transaction.atomic
def purchase_order_approve(*, order: PurchaseOrder, by: User | None) -> PurchaseOrder:
    """Approve an order waiting for approval: a manager or administrator of the company, not the person who
    submitted it."""
    order = lock_order(order.pk)
    if order.state != PurchaseOrderState.TO_APPROVE:
        raise ProcurementConflict(_("This order is not waiting for approval."))
    if not _has_role(by, order.company_id, APPROVER_ROLES):
        raise ProcurementConflict(_("A manager must approve this order."))
    if order.submitted_by_id is not None and by.pk == order.submitted_by_id:
        raise ProcurementConflict(_("Someone other than the person who submitted the order must approve it."))
    order.state = PurchaseOrderState.APPROVED
    order.approved_by = by
    order.approved_at = timezone.now()
    order.save(update_fields=["state", "approved_by", "approved_at", "updated_at"])
    return order


@transaction.atomic
def purchase_order_confirm(*, order: PurchaseOrder, by: User | None = None) -> PurchaseOrder:
    """Confirm an approved order with the supplier: each line's receipt limit is fixed (ordered quantity plus
    the over-receipt tolerance, rounded down to the unit) and its expected supply planned for its date.
    Publishes ``erp.purchase_order.confirmed``."""
    order = lock_order(order.pk)
    if order.state != PurchaseOrderState.APPROVED:
        raise ProcurementConflict(_("Only an approved order can be confirmed."))
    tolerance = procurement_settings_of(order.company_id).over_receipt_tolerance
    lines = list(order.lines.select_related("product", "product__uom").order_by("pk"))
    for line in lines:
        step = Decimal(1).scaleb(-line.product.uom.decimal_places)
        line.receipt_limit = max(
            (line.quantity * (HUNDRED + tolerance) / HUNDRED).quantize(step, rounding=ROUND_DOWN), line.quantity
        )
        if line.product.is_stockable:
            line.incoming_supply = inv.incoming_supply_plan(
                product=line.product,
                warehouse=order.warehouse,
                quantity=line.quantity,
                expected_date=line.expected_date,
                reference=f"{order.number}/{line.pk}",
                kind=SupplyKind.PURCHASE,
                by=by,
            )
    PurchaseOrderLine.objects.bulk_update(lines, ["receipt_limit", "incoming_supply"])
    order.state = PurchaseOrderState.CONFIRMED
    order.confirmed_at = timezone.now()
    order.save(update_fields=["state", "confirmed_at", "updated_at"])
    events.publish(
        erp_events.PURCHASE_ORDER_CONFIRMED,
        erp_events.purchase_order_confirmed_payload(order, lines),
        company_id=order.company_id,
        by=by,
    )
    return order


@transaction.atomic
def purchase_order_cancel(*, order: PurchaseOrder, by: User | None = None) -> PurchaseOrder:
    """Cancel an order nothing has been received on; its expected supply is dropped."""
    order = lock_order(order.pk)
    if order.state in (PurchaseOrderState.CANCELLED, PurchaseOrderState.DONE):
        raise ProcurementConflict(_("This order is already closed."))
    lines = list(order.lines.select_for_update().order_by("pk"))
    if any(line.received_quantity > 0 for line in lines):
        raise ProcurementConflict(_("Goods were received on this order; it can no longer be cancelled."))
    for line in lines:
        if line.incoming_supply_id:
            supply = line.incoming_supply
            if supply.state == SupplyState.OPEN:
                inv.incoming_supply_cancel(supply=supply, by=by)
    order.state = PurchaseOrderState.CANCELLED
    order.save(update_fields=["state", "updated_at"])
    return order


# ---------------------------------------------------------------- receipts


def _receipt_lot(product: Product, item: dict, errors: dict, prefix: str) -> Lot | None:
    lot = item.get("lot")
    code = (item.get("lot_code") or "").strip()
    if lot is not None:
        if lot.product_id != product.pk:
            errors[f"{prefix}.lot"] = [_("This lot belongs to another product.")]
        return lot
    if not code:
        if product.tracks_lots:
            errors[f"{prefix}.lot"] = [_("This product is tracked by lot: name the lot.")]
        return None
    if not product.tracks_lots:
        errors[f"{prefix}.lot_code"] = [_("This product is not tracked by lot.")]
        return None
    existing = Lot.objects.filter(product=product, code=code).first()
    if existing is not None:
        return existing
    try:
        return inv.lot_create(product=product, code=code, expiry_date=item.get("expiry_date"))
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors[f"{prefix}.{field}"] = messages
        return None


@transaction.atomic
def goods_receive(
    *,
    order: PurchaseOrder,
    lines: list[dict],
    received_at: dt.datetime | None = None,
    delivery_note: str = "",
    by: User | None = None,
) -> GoodsReceipt:
    """Receive goods on a confirmed order: ``lines`` are ``{"order_line": <line or id>, "quantity", "location"?,
    "lot"? | "lot_code"? + "expiry_date"?}``. Each becomes a receipt move into the order's warehouse at the
    line's net unit price (valued and posted), counts against its expected supply, and adds to the line's
    received quantity.

    Locks the order, then its lines in pk order, before reading what was received: concurrent receipts of one
    line queue up and the second sees the first. More than the line's limit (ordered + tolerance) is a field
    error and nothing is written. The order is done when every line is fully received. Publishes
    ``erp.goods.received``."""
    order = lock_order(order.pk)
    if order.state not in (PurchaseOrderState.CONFIRMED,):
        raise ProcurementConflict(_("Only a confirmed order can be received."))
    if not lines:
        raise ValidationError({"lines": [_("Add at least one line.")]})
    order_lines = {
        line.pk: line
        for line in PurchaseOrderLine.objects.select_for_update(of=("self",))
        .filter(order=order)
        .select_related("product", "product__uom", "incoming_supply")
        .order_by("pk")
    }
    errors: dict = {}
    planned = []
    adding: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for index, item in enumerate(lines):
        prefix = f"lines.{index}"
        line = order_lines.get(getattr(item.get("order_line"), "pk", item.get("order_line")))
        if line is None:
            errors[f"{prefix}.order_line"] = [_("This line is not on the order.")]
            continue
        try:
            quantity = inv.stock_quantity(product=line.product, quantity=item.get("quantity"))
        except ValidationError as exc:
            errors[f"{prefix}.quantity"] = exc.message_dict.get("quantity", [])
            continue
        adding[line.pk] += quantity
        if line.received_quantity + adding[line.pk] > line.receipt_limit:
            room = max(line.receipt_limit - line.received_quantity - adding[line.pk] + quantity, ZERO)
            errors[f"{prefix}.quantity"] = [
                _(
                    "%(ordered)s were ordered and %(received)s received: at most %(room)s more can be received "
                    "on this line."
                )
                % {
                    "ordered": inv._plain(line.quantity),
                    "received": inv._plain(line.received_quantity),
                    "room": inv._plain(room),
                }
            ]
            continue
        location = item.get("location")
        if location is not None and (
            location.company_id != order.company_id or location.warehouse_id != order.warehouse_id
        ):
            errors[f"{prefix}.location"] = [_("This location is not in the order's warehouse.")]
            continue
        lot = _receipt_lot(line.product, item, errors, prefix)
        planned.append((line, quantity, location, lot))
    note_errors: dict = {}
    delivery_note = inv._text(delivery_note, field="delivery_note", errors=note_errors, max_length=100)
    errors.update(note_errors)
    inv._raise(errors)
    received_at = received_at or timezone.now()
    receipt = GoodsReceipt.objects.create(
        company_id=order.company_id,
        number="",
        purchase_order=order,
        warehouse_id=order.warehouse_id,
        received_at=received_at,
        delivery_note=delivery_note,
        created_by=by,
    )
    _number(receipt, "GR")
    receipt_lines = []
    for line, quantity, location, lot in planned:
        unit_cost = (line.subtotal / line.quantity).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
        supply = line.incoming_supply
        move = inv.stock_receive(
            product=line.product,
            quantity=quantity,
            warehouse=order.warehouse if location is None else None,
            location=location,
            lot=lot,
            unit_cost=unit_cost,
            reference=receipt.number,
            incoming_supply=supply if supply is not None and supply.state == SupplyState.OPEN else None,
            moved_at=received_at,
            by=by,
        )
        if supply is not None:
            supply.refresh_from_db(fields=["state", "received_quantity"])
        line.received_quantity += quantity
        receipt_lines.append(
            GoodsReceiptLine(
                company_id=order.company_id,
                receipt=receipt,
                order_line=line,
                product=line.product,
                lot=lot,
                location_id=move.to_location_id,
                quantity=quantity,
                unit_cost=unit_cost,
                move=move,
            )
        )
    GoodsReceiptLine.objects.bulk_create(receipt_lines)
    try:
        with transaction.atomic():
            PurchaseOrderLine.objects.bulk_update(list(order_lines.values()), ["received_quantity"])
    except IntegrityError:  # pragma: no cover - the lock above makes this unreachable; the CHECK is the backstop
        raise ValidationError({"lines": [_("More than the order allows would be received.")]}) from None
    if all(line.received_quantity >= line.quantity for line in order_lines.values()):
        order.state = PurchaseOrderState.DONE
        order.save(update_fields=["state", "updated_at"])
        for line in order_lines.values():  # what the tolerance let in early closes the expected supply too
            if line.incoming_supply_id and line.incoming_supply.state == SupplyState.OPEN:
                inv.incoming_supply_update(
                    supply=line.incoming_supply, quantity=line.incoming_supply.received_quantity or line.quantity
                )
    events.publish(
        erp_events.GOODS_RECEIVED,
        erp_events.goods_received_payload(receipt, receipt_lines, order),
        company_id=order.company_id,
        by=by,
    )
    return receipt


# ---------------------------------------------------------------- vendor bills and the three-way match


@transaction.atomic
def vendor_bill_create(
    *,
    order: PurchaseOrder,
    lines: list[dict] | None = None,
    by: User | None = None,
    **header,
) -> Invoice:
    """A draft vendor bill for an order, through the invoicing services: by default one line per order line for
    what was received and not yet billed, at the order's price; ``lines`` = ``{"order_line", "quantity",
    "unit_price"}`` bill what the supplier's invoice says instead. With perpetual valuation the lines go to the
    goods-received-not-invoiced account, which the receipts credited. ``header``: any of ``invoice_create``'s
    (``invoice_date``, ``fapiao_number`` …). The bill is matched at once (``bill_match_check``)."""
    order = lock_order(order.pk)
    if order.state not in (PurchaseOrderState.CONFIRMED, PurchaseOrderState.DONE):
        raise ProcurementConflict(_("Only a confirmed order can be billed."))
    order_lines = {line.pk: line for line in order.lines.select_related("product", "tax").order_by("pk")}
    billed = _billed_quantities(order)
    settings = ValuationSettings.objects.filter(company_id=order.company_id, perpetual=True).first()
    account = settings.grni_account if settings is not None else None
    rows = []
    errors: dict = {}
    if lines is None:
        for line in order_lines.values():
            open_quantity = line.received_quantity - billed.get(line.pk, ZERO)
            if open_quantity > 0:
                rows.append((line, open_quantity, line.unit_price))
        if not rows:
            raise ValidationError({"lines": [_("Nothing received on this order is waiting for a bill.")]})
    else:
        for index, item in enumerate(lines):
            line = order_lines.get(getattr(item.get("order_line"), "pk", item.get("order_line")))
            if line is None:
                errors[f"lines.{index}.order_line"] = [_("This line is not on the order.")]
                continue
            rows.append((line, item.get("quantity"), item.get("unit_price", line.unit_price)))
    inv._raise(errors)
    invoice_lines = []
    for line, quantity, unit_price in rows:
        spec = {
            "product": line.product,
            "description": line.description or line.product.name,
            "quantity": quantity,
            "unit_price": unit_price,
            "tax": line.tax,
            "purchase_line": line,
        }
        if account is not None and line.product.is_stockable:
            spec["account"] = account
        invoice_lines.append(spec)
    header.setdefault("origin", order.number)
    header.setdefault("currency", order.currency)
    invoice = invoicing.invoice_create(
        company=order.company,
        kind=InvoiceKind.IN_INVOICE,
        partner=order.supplier,
        lines=invoice_lines,
        by=by,
        **header,
    )
    bill_match_check(invoice=invoice, by=by)
    return invoice


def _billed_quantities(order: PurchaseOrder, *, exclude_invoice_id: int | None = None) -> dict[int, Decimal]:
    """Quantity billed per order line on vendor bills that are not cancelled (less supplier credit notes)."""
    qs = InvoiceLine.objects.filter(purchase_line__order=order).exclude(invoice__state=InvoiceState.CANCELLED)
    if exclude_invoice_id is not None:
        qs = qs.exclude(invoice_id=exclude_invoice_id)
    result: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for row in qs.values("purchase_line_id", "invoice__kind").annotate(total=Sum("quantity")):
        sign = -1 if row["invoice__kind"] == InvoiceKind.IN_REFUND else 1
        result[row["purchase_line_id"]] += sign * row["total"]
    return result


@transaction.atomic
def bill_match_check(*, invoice: Invoice, by: User | None = None) -> VendorBillMatch | None:
    """Match a draft vendor bill with its order and receipts (three-way): for each bill line linked to an order
    line, the quantity billed in all (this bill and earlier ones) against the quantity received — beyond the
    quantity tolerance is a variance — and the unit price against the order's — beyond the price tolerance
    is a variance. Any variance blocks the bill (it cannot be posted) until ``bill_variance_approve``; none
    marks it matched. A bill without order lines is not matched (``None``). Re-checking an approved match keeps
    the approval only if the variances did not change."""
    invoice = invoicing.lock_invoice(invoice.pk)
    lines = list(
        invoice.lines.filter(purchase_line__isnull=False).select_related("purchase_line", "purchase_line__order")
    )
    if not lines:
        return None
    order = lines[0].purchase_line.order
    settings = procurement_settings_of(invoice.company_id)
    billed_before = _billed_quantities(order, exclude_invoice_id=invoice.pk)
    on_this_bill: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        on_this_bill[line.purchase_line_id] += line.quantity
    issues = []
    for line in lines:
        order_line = line.purchase_line
        if order_line.order_id != order.pk:
            issues.append({"line": line.sequence, "kind": "order", "message": str(_("Lines of several orders."))})
            continue
        billed = billed_before.get(order_line.pk, ZERO) + on_this_bill[order_line.pk]
        allowed = order_line.received_quantity * (HUNDRED + settings.bill_quantity_tolerance) / HUNDRED
        if billed > allowed:
            issues.append(
                {
                    "line": line.sequence,
                    "kind": "quantity",
                    "order_line": order_line.pk,
                    "billed": str(billed),
                    "received": str(order_line.received_quantity),
                }
            )
        price_gap = abs(line.unit_price - order_line.unit_price)
        limit = order_line.unit_price * settings.bill_price_tolerance / HUNDRED
        if price_gap > limit:
            issues.append(
                {
                    "line": line.sequence,
                    "kind": "price",
                    "order_line": order_line.pk,
                    "billed_price": str(line.unit_price),
                    "order_price": str(order_line.unit_price),
                }
            )
    match = VendorBillMatch.objects.select_for_update().filter(invoice=invoice).first()
    state = MatchState.BLOCKED if issues else MatchState.MATCHED
    if match is None:
        match = VendorBillMatch(company_id=invoice.company_id, invoice=invoice, purchase_order=order)
    elif match.state == MatchState.APPROVED and match.issues == issues:
        state = MatchState.APPROVED
    match.state = state
    match.issues = issues
    match.checked_at = timezone.now()
    if state != MatchState.APPROVED:
        match.approved_by = None
        match.approved_at = None
    match.save()
    return match


@transaction.atomic
def bill_variance_approve(*, match: VendorBillMatch, by: User | None, note: str = "") -> VendorBillMatch:
    """Accept a blocked bill's variances (finance or an administrator): the bill may then be posted."""
    match = VendorBillMatch.objects.select_for_update().get(pk=match.pk)
    if match.state != MatchState.BLOCKED:
        raise ProcurementConflict(_("This bill is not blocked."))
    if not _has_role(by, match.company_id, VARIANCE_APPROVER_ROLES):
        raise ProcurementConflict(_("Finance must approve the variance."))
    errors: dict = {}
    match.approval_note = inv._text(note, field="note", errors=errors)
    inv._raise(errors)
    match.state = MatchState.APPROVED
    match.approved_by = by
    match.approved_at = timezone.now()
    match.save(update_fields=["state", "approved_by", "approved_at", "approval_note", "updated_at"])
    return match


@transaction.atomic
def vendor_bill_post(*, invoice: Invoice, by: User | None = None) -> Invoice:
    """Post a vendor bill made from an order, after re-checking its match; a blocked bill is refused
    (``ProcurementConflict``, code ``bill_blocked``) and stays a draft. Then the billed quantities of the
    order lines are brought up to date."""
    match = bill_match_check(invoice=invoice, by=by)
    if match is not None and match.state == MatchState.BLOCKED:
        conflict = ProcurementConflict(_("The bill does not match its order and receipts; finance must approve."))
        conflict.code = "bill_blocked"
        raise conflict
    invoice = invoicing.invoice_post(invoice=invoice, by=by)
    if match is not None:
        billed = _billed_quantities(match.purchase_order)
        order_lines = list(match.purchase_order.lines.all())
        for line in order_lines:
            line.billed_quantity = max(billed.get(line.pk, ZERO), ZERO)
        PurchaseOrderLine.objects.bulk_update(order_lines, ["billed_quantity"])
    return invoice
