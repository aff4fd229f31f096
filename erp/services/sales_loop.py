"""Closed loop (issue #7): the sales order of a won CRM opportunity, and promised dates that follow the
production schedule.

``sales_order_from_opportunity`` (the handler of ``crm.opportunity.won``): find or create the partner mirroring
the CRM account (``partner_ensure_for_crm_account``, keyed on the CRM account id), create the sales order from
the deal's lines (keyed on the opportunity id: ``sales_order_create`` returns the existing order on a second
delivery), confirm it — over the credit limit it is held (``erp.sales_order.held``), otherwise stock is reserved
and dates promised (``erp.sales_order.confirmed``) — and, when a line is short, queue an MRP run for the
warehouse (the existing planner: its planned orders are the procurement / production suggestions).

``sales_promises_refresh`` (the handler of ``erp.production_order.rescheduled``): the open shortages of a
product are promised again from the explained promise (``erp.selectors.promise``); an order whose date moves
later publishes ``erp.sales_order.promise_changed``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from erp import events_loop
from erp.models import MrpRun, MrpRunStatus, Partner, SalesOrder, SalesOrderLine, SalesOrderState, Tax
from erp.selectors.promise import explain_promise
from erp.services import mrp
from erp.services import sales as sales_services
from erp.services.partners import partner_ensure_for_crm_account
from erp.services.quote_reservations import quote_reservations_settle
from suite import events
from suite.models import Company, Membership

ZERO = Decimal("0")
SHORT_STATES = (SalesOrderState.CONFIRMED, SalesOrderState.PARTIALLY_DELIVERED)


def _decimal(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _sale_tax(company: Company, rate_percent, known: dict | None = None) -> Tax | None:
    """The company's active sale tax of ``rate_percent`` (one query per rate; ``known`` caches by rate)."""
    rate = _decimal(rate_percent)
    if not rate:
        return None
    if known is not None and rate in known:
        return known[rate]
    tax = (
        Tax.objects.filter(company=company, use="sale", is_active=True, rate=rate / 100, price_include=False)
        .order_by("pk")
        .first()
    )
    if known is not None:
        known[rate] = tax
    return tax


def _member(company: Company, user_id) -> object | None:
    if not user_id:
        return None
    membership = Membership.objects.filter(company=company, user_id=user_id, is_active=True).select_related("user")
    found = membership.first()
    return found.user if found else None


# No savepoint of its own: only the relay's handler calls it, inside the batch's savepoint (saves two round trips).
@transaction.atomic(savepoint=False)
def sales_order_from_opportunity(*, company_id: int, payload: dict, by_id: int | None = None) -> SalesOrder | None:
    """The confirmed (or credit-held) sales order of a won opportunity (``crm.opportunity.won`` payload).

    Idempotent: the partner is keyed on the CRM account id, the order on the opportunity id; an order that
    exists is returned as it is (a held order stays held for a manager). A deal without an account or without
    product lines makes no order (``None``): ERP has no customer or nothing to deliver. Bad lines raise
    ``ValidationError`` (the relay retries, then dead-letters: visible in the loop monitor); no active
    warehouse yet raises the same way, and the retry succeeds once one exists. Publishes through
    ``sales_order_confirm``; queues an MRP run for a shortage (one queued run per warehouse at a time)."""
    account_id = payload.get("account_id")
    lines = payload.get("lines") or []
    if not account_id or not lines:
        return None
    company = Company.objects.get(pk=company_id)
    opportunity_id = int(payload["opportunity_id"])
    existing = SalesOrder.objects.filter(company=company, crm_opportunity_id=opportunity_id).first()
    if existing is not None:
        return existing
    salesperson = _member(company, payload.get("owner_id"))
    if by_id and salesperson is not None and salesperson.pk == by_id:
        by = salesperson  # the owner won their own deal: one read, not two
    else:
        by = get_user_model().objects.filter(pk=by_id).first() if by_id else None

    name = payload.get("account_name")
    if not name:
        known = Partner.objects.filter(company=company, crm_account_id=account_id).first()
        name = (known.name if known else "") or f"CRM {account_id}"
    fields = {}
    credit_limit = _decimal(payload.get("credit_limit"))
    if credit_limit is not None:
        fields["credit_limit"] = credit_limit  # the CRM's limit wins over ERP's when the deal carries one
    partner = partner_ensure_for_crm_account(company=company, crm_account_id=int(account_id), name=name, **fields)

    order_lines = []
    taxes: dict = {}
    for line in lines:
        row = {"product": line.get("product_id"), "quantity": line.get("quantity")}
        if line.get("unit_price") not in (None, ""):
            row["unit_price"] = line["unit_price"]
        if _decimal(line.get("discount")):
            row["discount"] = line["discount"]
        tax = _sale_tax(company, line.get("tax_rate"), taxes)
        if tax is not None:
            row["tax"] = tax
        order_lines.append(row)
    header = {"client_reference": str(payload.get("name") or "")[:100]}
    if salesperson is not None:
        header["salesperson"] = salesperson
    if payload.get("currency"):
        header["currency"] = payload["currency"]
    order = sales_services.sales_order_create(
        company=company,
        partner=partner,
        lines=order_lines,
        by=by,
        origin=f"CRM opportunity {opportunity_id}",
        crm_opportunity_id=opportunity_id,
        crm_account_id=int(account_id),
        **header,
    )
    if order.state != SalesOrderState.DRAFT:
        return order
    # the deal's accepted quotes stop holding stock softly: the order reserves it for real now
    quote_reservations_settle(company=company, crm_opportunity_id=opportunity_id, consumed=True)
    order = sales_services.sales_order_confirm(order=order, by=by)
    if order.state == SalesOrderState.CONFIRMED:
        _plan_shortages(order, by=by)
    return order


def _plan_shortages(order: SalesOrder, *, by) -> MrpRun | None:
    """Queue an MRP run for the order's warehouse when a stocked line is not fully reserved (the run's planned
    orders are the purchase / production suggestions); none when one is already queued for the warehouse."""
    short = [
        line
        for line in order.lines.select_related("product", "reservation")
        if line.product.is_stockable and line.open_quantity - sales_services._reserved_open(line) > 0
    ]
    if not short:
        return None
    if MrpRun.objects.filter(
        company_id=order.company_id, warehouse_id=order.warehouse_id, status=MrpRunStatus.QUEUED
    ).exists():
        return None
    return mrp.mrp_run_start(company=order.company, warehouse=order.warehouse, by=by)


@transaction.atomic
def sales_promises_refresh(
    *, company_id: int, product_id: int, warehouse_id: int | None, reason: str, today: dt.date | None = None
) -> list[SalesOrder]:
    """Promise the open shortages of a product again after its supply moved (a production order slipped).

    The lines still short (open − reserved) of confirmed orders, in the order they were promised (then
    confirmed), share the explained promise's supply in turn: a line's new date is the day the cumulated
    supply covers the cumulated shortage up to it. A line whose date moves later gets it, its order's date
    becomes its latest line's, and the order publishes ``erp.sales_order.promise_changed``. Earlier dates
    are left alone (a promise is not advanced behind the salesperson's back). Locks each changed order (in
    primary-key order) before writing. Returns the changed orders."""
    lines = list(
        SalesOrderLine.objects.filter(
            company_id=company_id,
            product_id=product_id,
            order__state__in=SHORT_STATES,
            **({"warehouse_id": warehouse_id} if warehouse_id else {}),
        ).select_related("order", "reservation", "product")
    )
    short = [(line, line.open_quantity - sales_services._reserved_open(line)) for line in lines]
    short = [(line, qty) for line, qty in short if qty > 0]
    if not short:
        return []
    far = dt.date.max
    short.sort(
        key=lambda item: (item[0].promised_date or far, item[0].order.confirmed_at or timezone.now(), item[0].pk)
    )
    total = sum((qty for _line, qty in short), ZERO)
    promise = explain_promise(
        company=company_id, product=product_id, quantity=total, warehouse=warehouse_id, today=today
    )
    new_dates: dict[int, dt.date | None] = {}
    needed = ZERO
    for line, qty in short:
        needed += qty
        day = next((step.date for step in promise.steps if step.cumulative >= needed), None)
        if line.promised_date is not None and (day is None or day > line.promised_date):
            new_dates[line.pk] = day
    by_order: dict[int, list[int]] = {}
    for line, _qty in short:
        if line.pk in new_dates:
            by_order.setdefault(line.order_id, []).append(line.pk)
    changed = []
    for order_id in sorted(by_order):
        order = sales_services.lock_order(order_id)
        previous = order.promised_date
        for line_pk in by_order[order_id]:
            SalesOrderLine.objects.filter(pk=line_pk).update(
                promised_date=new_dates[line_pk], updated_at=timezone.now()
            )
        order_lines = list(order.lines.select_related("product", "reservation").order_by("sequence", "pk"))
        dates = [line.promised_date for line in order_lines if line.open_quantity > 0]
        order.promised_date = max(dates) if dates and all(dates) else None
        order.save(update_fields=["promised_date", "updated_at"])
        events.publish(
            events_loop.SALES_ORDER_PROMISE_CHANGED,
            events_loop.sales_order_promise_changed_payload(
                order, previous_promised_date=previous, reason=reason, lines=order_lines
            ),
            company_id=order.company_id,
        )
        changed.append(order)
    return changed
