"""Writes of the inventory operations: cycle counts with approval and transfers between warehouses.

Both build on the stock ledger's rules (``erp.services.inventory``): quants locked in primary-key order before
anything is computed from them, only free stock leaves, every move valued (``erp.services.valuation``) and
``erp.stock.changed`` published, all in the caller's one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from erp.models import (
    AdjustmentState,
    CountState,
    Location,
    LocationKind,
    Lot,
    MoveKind,
    Product,
    StockAdjustment,
    StockCount,
    StockCountLine,
    StockMove,
    StockQuant,
    StockTransfer,
    StockTransferLine,
    TransferState,
    Warehouse,
)
from erp.services import inventory as inv
from erp.services import valuation
from suite.models import Company

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ZERO = Decimal("0")


def _number(instance, prefix: str) -> None:
    instance.number = f"{prefix}{instance.pk:06d}"
    type(instance).objects.filter(pk=instance.pk).update(number=instance.number)


# ---------------------------------------------------------------- counts


@transaction.atomic
def stock_count_create(
    *,
    company: Company,
    warehouse: Warehouse,
    location: Location | None = None,
    products: list[Product] | None = None,
    note: str = "",
    by: User | None = None,
) -> StockCount:
    """Open a count sheet for a warehouse (or one of its locations): one line per product, location and lot the
    books hold there (``products`` narrows it; a named product with nothing on the books gets a line at the
    location or the warehouse's default with 0 expected). The expected quantities are what the books say now."""
    inv._same_company(company.pk, warehouse=warehouse, location=location)
    if location is not None and (location.warehouse_id != warehouse.pk or location.kind != LocationKind.INTERNAL):
        raise ValidationError({"location": [_("This location is not in the warehouse.")]})
    for product in products or []:
        inv._same_company(company.pk, product=product)
        inv._stockable(product)
    errors: dict = {}
    note = inv._text(note, field="note", errors=errors)
    inv._raise(errors)
    count = StockCount.objects.create(
        company=company, number="", warehouse=warehouse, location=location, note=note, created_by=by
    )
    _number(count, "CNT")
    quants = StockQuant.objects.filter(company=company, warehouse=warehouse).exclude(quantity=0)
    if location is not None:
        quants = quants.filter(location=location)
    if products:
        quants = quants.filter(product__in=products)
    lines = {
        (q.product_id, q.location_id, q.lot_id): StockCountLine(
            company=company,
            count=count,
            product_id=q.product_id,
            location_id=q.location_id,
            lot_id=q.lot_id,
            expected_quantity=q.quantity,
        )
        for q in quants.order_by("location_id", "product_id", "lot_id")
    }
    fallback = location or Location.objects.get(warehouse=warehouse, is_default=True)
    for product in products or []:
        if not any(key[0] == product.pk for key in lines):
            lines[(product.pk, fallback.pk, None)] = StockCountLine(
                company=company, count=count, product=product, location=fallback, expected_quantity=ZERO
            )
    StockCountLine.objects.bulk_create(lines.values())
    return count


def lock_count(pk: int) -> StockCount:
    return StockCount.objects.select_for_update(of=("self",)).get(pk=pk)


@transaction.atomic
def stock_count_record(*, count: StockCount, lines: list[dict], by: User | None = None) -> StockCount:
    """Enter counted quantities: each item is ``{"line": <line or id>, "counted_quantity": n}``, or — for
    something found that the sheet does not list — ``{"product", "location", "lot", "counted_quantity"}``.
    Only while counting; a quantity is ≥ 0 and no finer than the product's unit."""
    count = lock_count(count.pk)
    if count.state != CountState.COUNTING:
        raise inv.StateConflict(_("This count is no longer being counted."))
    existing = {line.pk: line for line in count.lines.select_related("product__uom")}
    errors: dict = {}
    changed, new = [], []
    for index, item in enumerate(lines):
        prefix = f"lines.{index}"
        raw = item.get("counted_quantity")
        line_ref = item.get("line")
        if line_ref is not None:
            line = existing.get(getattr(line_ref, "pk", line_ref))
            if line is None:
                errors[f"{prefix}.line"] = [_("This line is not on the count sheet.")]
                continue
            product = line.product
        else:
            product, location, lot = item.get("product"), item.get("location"), item.get("lot")
            if product is None or location is None or product.company_id != count.company_id:
                errors[f"{prefix}.product"] = [_("Name the product and the location.")]
                continue
            if location.warehouse_id != count.warehouse_id or location.kind != LocationKind.INTERNAL:
                errors[f"{prefix}.location"] = [_("This location is not in the warehouse.")]
                continue
            if count.location_id and location.pk != count.location_id:
                errors[f"{prefix}.location"] = [_("This count is for another location.")]
                continue
            try:
                lot = inv._lot_for(product, lot, required=True)
            except ValidationError as exc:
                errors[f"{prefix}.lot"] = exc.message_dict.get("lot", [_("Unknown lot.")])
                continue
            line = next(
                (
                    candidate
                    for candidate in existing.values()
                    if (candidate.product_id, candidate.location_id, candidate.lot_id)
                    == (product.pk, location.pk, lot.pk if lot else None)
                ),
                None,
            )
            if line is None:
                line = StockCountLine(
                    company_id=count.company_id,
                    count=count,
                    product=product,
                    location=location,
                    lot=lot,
                    expected_quantity=_on_hand(product, location, lot),
                )
                new.append(line)
        quantity_errors: dict = {}
        places = product.uom.decimal_places
        number = inv._decimal(raw, field="counted_quantity", errors=quantity_errors, places=places, positive=False)
        if quantity_errors:
            errors[f"{prefix}.counted_quantity"] = quantity_errors["counted_quantity"]
            continue
        line.counted_quantity = number
        if line.pk:
            changed.append(line)
    inv._raise(errors)
    if changed:
        StockCountLine.objects.bulk_update(changed, ["counted_quantity"])
    if new:
        StockCountLine.objects.bulk_create(new)
    return count


def _on_hand(product: Product, location: Location, lot: Lot | None) -> Decimal:
    qs = StockQuant.objects.filter(product=product, location=location)
    qs = qs.filter(lot=lot) if lot else qs.filter(lot__isnull=True)
    return qs.aggregate(total=Sum("quantity"))["total"] or ZERO


@transaction.atomic
def stock_count_submit(*, count: StockCount, by: User | None = None) -> StockCount:
    """Hand a count in for approval; every line must have been counted."""
    count = lock_count(count.pk)
    if count.state != CountState.COUNTING:
        raise inv.StateConflict(_("This count is no longer being counted."))
    missing = count.lines.filter(counted_quantity__isnull=True).count()
    if missing:
        raise ValidationError(
            {"lines": [_("%(count)d lines have not been counted yet.") % {"count": missing}]},
        )
    count.state = CountState.SUBMITTED
    count.submitted_by = by
    count.submitted_at = timezone.now()
    count.save(update_fields=["state", "submitted_by", "submitted_at"])
    return count


@transaction.atomic
def stock_count_approve(*, count: StockCount, by: User | None) -> StockCount:
    """Approve a submitted count and apply it: for each line, the counted quantity becomes what is on hand —
    the difference to the stock now (which may have moved since the sheet was made) is written as one
    adjustment move, recorded as an applied adjustment, valued (gain or loss) and posted. Someone other than
    the person who submitted it approves. A reduction takes only free stock (``InsufficientStock``, nothing
    written, when reserved stock would be counted away). Locks the count, then every quant of the sheet in pk
    order, then the products' valuations. Publishes ``erp.stock.changed``."""
    count = lock_count(count.pk)
    if count.state != CountState.SUBMITTED:
        raise inv.StateConflict(_("Only a submitted count can be approved."))
    if by is not None and count.submitted_by_id == by.pk:
        raise inv.StockConflict(_("Someone other than the person who counted must approve the count."))
    lines = list(count.lines.select_related("product", "product__uom", "location", "lot").order_by("product_id", "pk"))
    for line in lines:
        inv._ensure_quants(line.product, [(line.location, line.lot_id)])
    condition = Q(pk__in=[])
    for line in lines:
        condition |= Q(product_id=line.product_id, location_id=line.location_id, lot_id=line.lot_id)
    quants = {(q.product_id, q.location_id, q.lot_id): q for q in inv.lock_quants(condition)}
    adjustment_location = inv.virtual_location(company=count.company_id, kind=LocationKind.ADJUSTMENT)
    now = timezone.now()
    moves: list[StockMove] = []
    touched: dict[int, Product] = {}
    for line in lines:
        quant = quants[(line.product_id, line.location_id, line.lot_id)]
        delta = line.counted_quantity - quant.quantity
        line.applied_difference = delta
        if delta == 0:
            continue
        if delta < 0 and quant.quantity - quant.reserved < -delta:
            raise inv.InsufficientStock(
                product=line.product, requested=-delta, available=quant.quantity - quant.reserved
            )
        inv._change_quant(quant, quantity=delta, now=now)
        source, target = (adjustment_location, line.location) if delta > 0 else (line.location, adjustment_location)
        move = StockMove.objects.create(
            company_id=count.company_id,
            product=line.product,
            lot=line.lot,
            from_location=source,
            to_location=target,
            quantity=abs(delta),
            kind=MoveKind.ADJUSTMENT,
            reference=count.number,
            moved_at=now,
            unit_cost=line.product.average_cost,
            created_by=by,
        )
        line.move = move
        moves.append(move)
        touched[line.product_id] = line.product
        StockAdjustment.objects.create(
            company_id=count.company_id,
            product=line.product,
            location=line.location,
            lot=line.lot,
            quantity_delta=delta,
            reason=str(_("Count %(number)s") % {"number": count.number}),
            state=AdjustmentState.APPLIED,
            requested_by=count.submitted_by,
            decided_by=by,
            decided_at=now,
            move=move,
        )
    StockCountLine.objects.bulk_update(lines, ["applied_difference", "move"])
    valuation.moves_value(moves=moves, by=by)
    count.state = CountState.APPLIED
    count.approved_by = by
    count.approved_at = now
    count.save(update_fields=["state", "approved_by", "approved_at"])
    for product in touched.values():
        inv._publish_stock_changed(
            product, [count.warehouse_id], reason=MoveKind.ADJUSTMENT, reference=count.number, by=by
        )
    return count


@transaction.atomic
def stock_count_cancel(*, count: StockCount, by: User | None = None) -> StockCount:
    """Drop a count that was not applied (nothing moves)."""
    count = lock_count(count.pk)
    if count.state in (CountState.APPLIED, CountState.CANCELLED):
        raise inv.StateConflict(_("This count is already closed."))
    count.state = CountState.CANCELLED
    count.save(update_fields=["state"])
    return count


# ---------------------------------------------------------------- transfers between warehouses


@transaction.atomic
def stock_transfer_create(
    *,
    company: Company,
    from_warehouse: Warehouse,
    to_warehouse: Warehouse,
    lines: list[dict],
    via_transit: bool = True,
    scheduled_date: dt.date | None = None,
    note: str = "",
    by: User | None = None,
) -> StockTransfer:
    """Draft a transfer order: ``lines`` are ``{"product", "quantity", "lot"?, "uom"?}``. Nothing moves until it
    is shipped."""
    inv._same_company(company.pk, from_warehouse=from_warehouse, to_warehouse=to_warehouse)
    if from_warehouse.pk == to_warehouse.pk:
        raise ValidationError({"to_warehouse": [_("Choose another warehouse to transfer to.")]})
    if not lines:
        raise ValidationError({"lines": [_("Add at least one line.")]})
    errors: dict = {}
    note = inv._text(note, field="note", errors=errors)
    rows = []
    for index, item in enumerate(lines):
        product = item.get("product")
        try:
            if product is None or product.company_id != company.pk:
                raise ValidationError({"product": [_("Unknown record.")]})
            inv._stockable(product)
            lot = inv._lot_for(product, item.get("lot"), required=False)
            quantity = inv.stock_quantity(product=product, quantity=item.get("quantity"), uom=item.get("uom"))
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors[f"lines.{index}.{field}"] = messages
            continue
        rows.append(StockTransferLine(company=company, product=product, lot=lot, quantity=quantity))
    inv._raise(errors)
    transfer = StockTransfer.objects.create(
        company=company,
        number="",
        from_warehouse=from_warehouse,
        to_warehouse=to_warehouse,
        via_transit=via_transit,
        scheduled_date=scheduled_date,
        note=note,
        created_by=by,
    )
    _number(transfer, "TRF")
    for row in rows:
        row.transfer = transfer
    StockTransferLine.objects.bulk_create(rows)
    return transfer


def lock_transfer(pk: int) -> StockTransfer:
    return (
        StockTransfer.objects.select_for_update(of=("self",))
        .select_related("from_warehouse", "to_warehouse")
        .get(pk=pk)
    )


@transaction.atomic
def stock_transfer_ship(*, transfer: StockTransfer, by: User | None = None) -> StockTransfer:
    """Ship a draft transfer. Direct: each line moves from the source warehouse to the destination's default
    location at once and the transfer is done. Through transit: each line leaves the source (first expiry
    first, free stock only) for the company's transit location and waits to be received. ``InsufficientStock``
    (nothing written) when a line's free stock is short."""
    transfer = lock_transfer(transfer.pk)
    if transfer.state != TransferState.DRAFT:
        raise inv.StateConflict(_("Only a draft transfer can be shipped."))
    lines = list(transfer.lines.select_related("product", "product__uom", "lot").order_by("product_id", "pk"))
    now = timezone.now()
    if not transfer.via_transit:
        for line in lines:
            inv.stock_transfer(
                product=line.product,
                quantity=line.quantity,
                from_warehouse=transfer.from_warehouse,
                to_warehouse=transfer.to_warehouse,
                lot=line.lot,
                reference=transfer.number,
                by=by,
            )
            line.shipped_quantity = line.received_quantity = line.quantity
        transfer.state = TransferState.DONE
        transfer.done_at = now
    else:
        transit = inv.virtual_location(company=transfer.company_id, kind=LocationKind.TRANSIT)
        for line in lines:
            quants = inv.lock_quants(
                inv._source_condition(line.product, warehouse=transfer.from_warehouse, location=None, lot=line.lot)
            )
            plan = inv._allocate(line.product, quants, line.quantity, explicit_lot=line.lot is not None)
            for quant, take in plan:
                inv._change_quant(quant, quantity=-take, now=now)
            StockMove.objects.bulk_create(
                [
                    StockMove(
                        company_id=transfer.company_id,
                        product=line.product,
                        lot_id=quant.lot_id,
                        from_location=quant.location,
                        to_location=transit,
                        quantity=take,
                        kind=MoveKind.TRANSFER,
                        reference=transfer.number,
                        moved_at=now,
                        unit_cost=line.product.average_cost,
                        created_by=by,
                    )
                    for quant, take in plan
                ]
            )
            line.shipped_quantity = line.quantity
            inv._publish_stock_changed(
                line.product, [transfer.from_warehouse_id], reason=MoveKind.TRANSFER, reference=transfer.number, by=by
            )
        transfer.state = TransferState.IN_TRANSIT
    StockTransferLine.objects.bulk_update(lines, ["shipped_quantity", "received_quantity"])
    transfer.shipped_at = now
    transfer.save(update_fields=["state", "shipped_at", "done_at"])
    return transfer


def _in_transit_by_lot(transfer: StockTransfer, product_id: int, transit: Location) -> dict[int | None, Decimal]:
    moves = StockMove.objects.filter(company_id=transfer.company_id, reference=transfer.number, product_id=product_id)
    sent = moves.filter(to_location=transit).values("lot_id").annotate(total=Sum("quantity"))
    back = moves.filter(from_location=transit).values("lot_id").annotate(total=Sum("quantity"))
    result: dict[int | None, Decimal] = defaultdict(lambda: ZERO)
    for row in sent:
        result[row["lot_id"]] += row["total"]
    for row in back:
        result[row["lot_id"]] -= row["total"]
    return {lot: qty for lot, qty in result.items() if qty > 0}


@transaction.atomic
def stock_transfer_receive(
    *,
    transfer: StockTransfer,
    lines: list[dict] | None = None,
    location: Location | None = None,
    by: User | None = None,
) -> StockTransfer:
    """Receive what is in transit into the destination warehouse (its default location, or ``location``):
    everything, or ``lines`` = ``[{"line": <line or id>, "quantity": n}]`` (partial: the rest stays in transit).
    Lots arrive as they were shipped. Done when every line is fully received."""
    transfer = lock_transfer(transfer.pk)
    if transfer.state != TransferState.IN_TRANSIT:
        raise inv.StateConflict(_("Only a transfer in transit can be received."))
    target = inv._internal_location(transfer.company_id, warehouse=transfer.to_warehouse, location=location)
    if target.warehouse_id != transfer.to_warehouse_id:
        raise ValidationError({"location": [_("This location is not in the warehouse.")]})
    all_lines = {
        line.pk: line for line in transfer.lines.select_related("product", "product__uom").order_by("product_id", "pk")
    }
    wanted: dict[int, Decimal] = {}
    errors: dict = {}
    if lines is None:
        wanted = {pk: line.in_transit for pk, line in all_lines.items() if line.in_transit > 0}
    else:
        for index, item in enumerate(lines):
            line = all_lines.get(getattr(item.get("line"), "pk", item.get("line")))
            if line is None:
                errors[f"lines.{index}.line"] = [_("This line is not on the transfer.")]
                continue
            try:
                quantity = inv.stock_quantity(product=line.product, quantity=item.get("quantity"))
            except ValidationError as exc:
                errors[f"lines.{index}.quantity"] = exc.message_dict.get("quantity", [])
                continue
            if quantity + wanted.get(line.pk, ZERO) > line.in_transit:
                errors[f"lines.{index}.quantity"] = [
                    _("Only %(open)s are in transit.") % {"open": inv._plain(line.in_transit)}
                ]
                continue
            wanted[line.pk] = wanted.get(line.pk, ZERO) + quantity
    inv._raise(errors)
    if not wanted:
        raise ValidationError({"lines": [_("Nothing to receive.")]})
    transit = inv.virtual_location(company=transfer.company_id, kind=LocationKind.TRANSIT)
    now = timezone.now()
    moves = []
    for pk, quantity in sorted(wanted.items(), key=lambda pair: (all_lines[pair[0]].product_id, pair[0])):
        line = all_lines[pk]
        remaining = quantity
        for lot_id, available in sorted(
            _in_transit_by_lot(transfer, line.product_id, transit).items(), key=lambda p: (p[0] is None, p[0] or 0)
        ):
            if line.lot_id is not None and lot_id != line.lot_id:
                continue
            if remaining <= 0:
                break
            take = min(available, remaining)
            lot = Lot(pk=lot_id) if lot_id else None
            inv._add_to_quant(line.product, target, lot, take)
            moves.append(
                StockMove(
                    company_id=transfer.company_id,
                    product=line.product,
                    lot_id=lot_id,
                    from_location=transit,
                    to_location=target,
                    quantity=take,
                    kind=MoveKind.TRANSFER,
                    reference=transfer.number,
                    moved_at=now,
                    unit_cost=line.product.average_cost,
                    created_by=by,
                )
            )
            remaining -= take
        line.received_quantity += quantity - remaining
    StockMove.objects.bulk_create(moves)
    StockTransferLine.objects.bulk_update(all_lines.values(), ["received_quantity"])
    if all(line.received_quantity >= line.quantity for line in all_lines.values()):
        transfer.state = TransferState.DONE
        transfer.done_at = now
        transfer.save(update_fields=["state", "done_at"])
    for product in {line.product_id: line.product for line in all_lines.values() if line.pk in wanted}.values():
        inv._publish_stock_changed(
            product, [transfer.to_warehouse_id], reason=MoveKind.TRANSFER, reference=transfer.number, by=by
        )
    return transfer


@transaction.atomic
def stock_transfer_cancel(*, transfer: StockTransfer, by: User | None = None) -> StockTransfer:
    """Cancel a transfer that has not been shipped."""
    transfer = lock_transfer(transfer.pk)
    if transfer.state != TransferState.DRAFT:
        raise inv.StateConflict(_("Only a draft transfer can be cancelled."))
    transfer.state = TransferState.CANCELLED
    transfer.save(update_fields=["state"])
    return transfer
