"""The events ERP publishes (names and payload builders: the contract in docs/events.md), and its handlers of
other apps' events. One section per domain.

Payloads hold ids and the facts a consumer needs; quantities and amounts are decimal strings. A change to a
payload that a consumer could notice is a new ``version``.
"""

from __future__ import annotations

from decimal import Decimal

# ---------------------------------------------------------------- finance

JOURNAL_ENTRY_POSTED = "erp.journal_entry.posted"
JOURNAL_ENTRIES_POSTED = "erp.journal_entries.posted"
PERIOD_CLOSED = "erp.period.closed"
PERIOD_REOPENED = "erp.period.reopened"


def journal_entry_posted_payload(entry, lines) -> dict:
    """v1 of ``erp.journal_entry.posted``: ``entry_id``, ``journal_id``, ``fiscal_year_id``, ``period_id``,
    ``number``, ``date``, ``total`` (sum of debits in company currency, decimal string), ``line_count``,
    ``reversal_of_id`` (the entry this one reverses, or null), ``source_key``, ``entry_hash``. ``lines`` are the
    posted line tuples (line_no, account_id, debit, …)."""
    return {
        "entry_id": entry.pk,
        "journal_id": entry.journal_id,
        "fiscal_year_id": entry.fiscal_year_id,
        "period_id": entry.period_id,
        "number": entry.number,
        "date": entry.date.isoformat(),
        "total": str(sum((Decimal(line[2]) for line in lines), Decimal("0.00"))),
        "line_count": len(lines),
        "reversal_of_id": entry.reversal_of_id,
        "source_key": entry.source_key,
        "entry_hash": entry.entry_hash,
    }


def journal_entries_posted_payload(entries, lines_of_entries) -> dict:
    """v1 of ``erp.journal_entries.posted`` (one per batch of ``journal_entries_post_many``): ``entry_ids`` (in
    posting order), ``count``, ``journal_ids``, ``period_ids``, ``first_date``, ``last_date``, ``total`` (sum
    of the debits, decimal string). Consumers read the entries through ``erp.selectors.finance``."""
    return {
        "entry_ids": [entry.pk for entry in entries],
        "count": len(entries),
        "journal_ids": sorted({entry.journal_id for entry in entries}),
        "period_ids": sorted({entry.period_id for entry in entries}),
        "first_date": min(entry.date for entry in entries).isoformat(),
        "last_date": max(entry.date for entry in entries).isoformat(),
        "total": str(sum((Decimal(line[2]) for lines in lines_of_entries for line in lines), Decimal("0.00"))),
    }


def period_payload(period) -> dict:
    """v1 of ``erp.period.closed`` / ``erp.period.reopened`` (which adds ``reason``): ``period_id``,
    ``fiscal_year_id``, ``name``, ``start_date``, ``end_date``, ``state``."""
    return {
        "period_id": period.pk,
        "fiscal_year_id": period.fiscal_year_id,
        "name": period.name,
        "start_date": period.start_date.isoformat(),
        "end_date": period.end_date.isoformat(),
        "state": period.state,
    }


# ---------------------------------------------------------------- inventory

STOCK_CHANGED = "erp.stock.changed"


def stock_changed_payload(
    *,
    product_id: int,
    sku: str,
    warehouse_id: int,
    on_hand,
    reserved,
    total_free,
    reason: str,
    reference: str,
) -> dict:
    """v1 of ``erp.stock.changed``: the product's stock in one warehouse after a change (``on_hand``,
    ``reserved``, ``free`` = on hand − reserved) and its free stock over all the company's warehouses
    (``total_free``); ``reason`` is the move kind or ``reservation`` / ``release``. Decimal strings."""
    return {
        "product_id": product_id,
        "sku": sku,
        "warehouse_id": warehouse_id,
        "on_hand": str(on_hand),
        "reserved": str(reserved),
        "free": str(on_hand - reserved),
        "total_free": str(total_free),
        "reason": reason,
        "reference": reference,
    }


# ---------------------------------------------------------------- invoicing and payments (erpar)

INVOICE_POSTED = "erp.invoice.posted"
INVOICE_PAID = "erp.invoice.paid"
PAYMENT_RECEIVED = "erp.payment.received"


def invoice_payload(invoice) -> dict:
    """v1 of ``erp.invoice.posted`` and ``erp.invoice.paid``: ``invoice_id``, ``number``, ``kind``
    (out_invoice / in_invoice / out_refund / in_refund), ``partner_id``, ``crm_account_id`` (of the partner, or
    of the partner it was merged into, or null), ``invoice_date``, ``due_date``, ``currency``, ``exchange_rate``,
    ``amount_untaxed``, ``amount_tax``, ``amount_total``, ``amount_residual`` (decimal strings, invoice currency),
    ``payment_state``, ``origin``."""
    return {
        "invoice_id": invoice.pk,
        "number": invoice.number,
        "kind": invoice.kind,
        "partner_id": invoice.partner_id,
        "crm_account_id": invoice.partner.crm_account_for_documents,
        "invoice_date": invoice.invoice_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "currency": invoice.currency,
        "exchange_rate": str(invoice.exchange_rate),
        "amount_untaxed": str(invoice.amount_untaxed),
        "amount_tax": str(invoice.amount_tax),
        "amount_total": str(invoice.amount_total),
        "amount_residual": str(invoice.amount_residual),
        "payment_state": invoice.payment_state,
        "origin": invoice.origin,
    }


INVOICE_OVERDUE = "erp.invoice.overdue"


def invoice_overdue_payload(invoice, *, today) -> dict:
    """v1 of ``erp.invoice.overdue`` (closed loop): ``invoice_payload`` plus ``days_overdue`` and ``as_of``
    (the date the invoice was found overdue)."""
    return {**invoice_payload(invoice), "days_overdue": (today - invoice.due_date).days, "as_of": today.isoformat()}


def payment_received_payload(payment, allocations) -> dict:
    """v1 of ``erp.payment.received`` (money in from a customer): ``payment_id``, ``number``, ``partner_id``,
    ``crm_account_id``, ``date``, ``amount``, ``currency``, ``amount_unallocated``, ``allocations`` (list of
    ``{"invoice_id", "amount"}``; decimal strings)."""
    return {
        "payment_id": payment.pk,
        "number": payment.number,
        "partner_id": payment.partner_id,
        "crm_account_id": payment.partner.crm_account_for_documents,
        "date": payment.date.isoformat(),
        "amount": str(payment.amount),
        "currency": payment.currency,
        "amount_unallocated": str(payment.amount_unallocated),
        "allocations": [{"invoice_id": a.invoice_id, "amount": str(a.amount)} for a in allocations],
    }


PARTNER_MERGED = "erp.partner.merged"


def partner_merged_payload(*, crm_account_id: int, duplicate_crm_account_id: int, moved: dict) -> dict:
    """v1 of ``erp.partner.merged`` (ERP followed ``crm.customer.merged``): ``crm_account_id`` (the survivor),
    ``duplicate_crm_account_id``, ``moved`` (``sales_orders``, ``partners_remapped``, ``partners_merged``:
    counts). CRM refreshes the survivor's finance facts, which now include the duplicate's documents."""
    return {
        "crm_account_id": crm_account_id,
        "duplicate_crm_account_id": duplicate_crm_account_id,
        "moved": moved,
    }


# ---------------------------------------------------------------- expenses and budgets

EXPENSE_CLAIM_SUBMITTED = "erp.expense_claim.submitted"
EXPENSE_CLAIM_APPROVED = "erp.expense_claim.approved"
EXPENSE_CLAIM_REJECTED = "erp.expense_claim.rejected"
EXPENSE_CLAIM_POSTED = "erp.expense_claim.posted"
EXPENSE_CLAIM_PAID = "erp.expense_claim.paid"
BUDGET_THRESHOLD_CROSSED = "erp.budget.threshold_crossed"


def expense_claim_payload(claim, **extra) -> dict:
    """v1 of ``erp.expense_claim.*``: ``claim_id``, ``number``, ``employee_id``, ``state``, ``total_amount``,
    ``total_tax`` (decimal strings), ``currency``, ``approval_level``, ``journal_entry_id``,
    ``payment_entry_id``; ``rejected`` adds ``reason``."""
    return {
        "claim_id": claim.pk,
        "number": claim.number,
        "employee_id": claim.employee_id,
        "state": claim.state,
        "total_amount": str(claim.total_amount),
        "total_tax": str(claim.total_tax),
        "currency": claim.currency,
        "approval_level": claim.approval_level,
        "journal_entry_id": claim.journal_entry_id,
        "payment_entry_id": claim.payment_entry_id,
        **extra,
    }


def budget_threshold_crossed_payload(alert, line) -> dict:
    """v1 of ``erp.budget.threshold_crossed``: ``budget_id``, ``budget_line_id``, ``account_id``, ``period_id``,
    ``threshold`` (percent), ``budgeted``, ``actual`` (decimal strings), ``entry_id`` (the posting that crossed
    it)."""
    return {
        "budget_id": line.budget_id,
        "budget_line_id": line.pk,
        "account_id": line.account_id,
        "period_id": line.period_id,
        "threshold": alert.threshold,
        "budgeted": str(alert.budgeted),
        "actual": str(alert.actual),
        "entry_id": alert.entry_id,
    }


# ---------------------------------------------------------------- sales fulfilment

SALES_ORDER_CONFIRMED = "erp.sales_order.confirmed"
SALES_ORDER_HELD = "erp.sales_order.held"
SALES_ORDER_CANCELLED = "erp.sales_order.cancelled"
SALES_ORDER_DELIVERED = "erp.sales_order.delivered"
SALES_ORDER_INVOICED = "erp.sales_order.invoiced"
SHIPMENT_SHIPPED = "erp.shipment.shipped"
SHIPMENT_DELIVERED = "erp.shipment.delivered"


def _iso(day) -> str | None:
    return day.isoformat() if day else None


def sales_order_payload(order, *, lines=None, delivery=None, invoice=None) -> dict:
    """v1 of ``erp.sales_order.confirmed`` / ``.held`` / ``.cancelled`` / ``.delivered`` / ``.invoiced``:
    ``sales_order_id``, ``number``, ``state``, ``invoice_status``, ``partner_id``, ``crm_account_id``,
    ``crm_opportunity_id`` (null when not known), ``salesperson_id``, ``currency``, ``amount_total``,
    ``promised_date``, ``hold_reason`` (``held``), ``cancel_reason`` (``cancelled``); with ``lines``: per line
    ``line_id``, ``product_id``, ``sku``, ``quantity``, ``reserved``, ``delivered``, ``invoiced``,
    ``promised_date``; ``delivered`` adds ``status`` (``partial`` / ``full``) and ``delivery_id``;
    ``invoiced`` adds ``invoice_id`` and ``invoice_total``. Quantities and amounts are decimal strings."""
    payload = {
        "sales_order_id": order.pk,
        "number": order.number,
        "state": order.state,
        "invoice_status": order.invoice_status,
        "partner_id": order.partner_id,
        "crm_account_id": order.crm_account_id,
        "crm_opportunity_id": order.crm_opportunity_id,
        "salesperson_id": order.salesperson_id,
        "currency": order.currency,
        "amount_total": str(order.amount_total),
        "promised_date": _iso(order.promised_date),
        "hold_reason": order.hold_reason,
        "cancel_reason": order.cancel_reason,
    }
    if lines is not None:
        payload["lines"] = [
            {
                "line_id": line.pk,
                "product_id": line.product_id,
                "sku": line.product.sku,
                "quantity": str(line.quantity),
                "reserved": str(
                    line.reservation.open_quantity
                    if line.reservation_id and line.reservation.state == "active"
                    else Decimal("0")
                ),
                "delivered": str(line.delivered_quantity - line.returned_quantity),
                "invoiced": str(line.invoiced_quantity - line.refunded_quantity),
                "promised_date": _iso(line.promised_date),
            }
            for line in lines
        ]
    if delivery is not None:
        payload["delivery_id"] = delivery.pk
        full = lines is not None and all(
            line.quantity - line.delivered_quantity - line.cancelled_quantity <= 0 for line in lines
        )
        payload["status"] = "full" if full else "partial"
    if invoice is not None:
        payload["invoice_id"] = invoice.pk
        payload["invoice_total"] = str(invoice.amount_total)
    return payload


def shipment_payload(delivery, order, lines, *, backorder=None) -> dict:
    """v1 of ``erp.shipment.shipped`` / ``erp.shipment.delivered``: ``delivery_id``, ``number``,
    ``sales_order_id``, ``sales_order_number``, ``crm_account_id``, ``crm_opportunity_id``, ``warehouse_id``,
    ``state``, ``carrier``, ``tracking_number``, ``shipped_at``, ``delivered_at``, ``backorder_id`` (the
    delivery made for what was not shipped, or null), ``lines``: ``product_id``, ``sku``, ``quantity``
    (shipped, decimal string)."""
    return {
        "delivery_id": delivery.pk,
        "number": delivery.number,
        "sales_order_id": order.pk,
        "sales_order_number": order.number,
        "crm_account_id": order.crm_account_id,
        "crm_opportunity_id": order.crm_opportunity_id,
        "warehouse_id": delivery.warehouse_id,
        "state": delivery.state,
        "carrier": delivery.carrier,
        "tracking_number": delivery.tracking_number,
        "shipped_at": delivery.shipped_at.isoformat() if delivery.shipped_at else None,
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
        "backorder_id": backorder.pk if backorder is not None else None,
        "lines": [
            {"product_id": line.product_id, "sku": line.product.sku, "quantity": str(line.shipped_quantity)}
            for line in lines
            if line.shipped_quantity > 0
        ],
    }


# ---------------------------------------------------------------- procurement (erpbuy)

PURCHASE_ORDER_CONFIRMED = "erp.purchase_order.confirmed"
GOODS_RECEIVED = "erp.goods.received"


def purchase_order_confirmed_payload(order, lines) -> dict:
    """v1 of ``erp.purchase_order.confirmed``: ``purchase_order_id``, ``number``, ``supplier_id``,
    ``warehouse_id``, ``currency``, ``amount_total``, ``expected_date`` and ``lines`` (``line_id``,
    ``product_id``, ``sku``, ``quantity``, ``unit_price``, ``expected_date``). Decimal strings, ISO dates."""
    return {
        "purchase_order_id": order.pk,
        "number": order.number,
        "supplier_id": order.supplier_id,
        "warehouse_id": order.warehouse_id,
        "currency": order.currency,
        "amount_total": str(order.amount_total),
        "expected_date": order.expected_date.isoformat(),
        "lines": [
            {
                "line_id": line.pk,
                "product_id": line.product_id,
                "sku": line.product.sku,
                "quantity": str(line.quantity),
                "unit_price": str(line.unit_price),
                "expected_date": line.expected_date.isoformat(),
            }
            for line in lines
        ],
    }


def goods_received_payload(receipt, receipt_lines, order) -> dict:
    """v1 of ``erp.goods.received``: ``receipt_id``, ``number``, ``purchase_order_id``, ``purchase_order_number``,
    ``supplier_id``, ``warehouse_id``, ``received_at`` (ISO), ``order_done`` (everything received) and ``lines``
    (``order_line_id``, ``product_id``, ``quantity``, ``lot_id``, ``unit_cost``)."""
    return {
        "receipt_id": receipt.pk,
        "number": receipt.number,
        "purchase_order_id": order.pk,
        "purchase_order_number": order.number,
        "supplier_id": order.supplier_id,
        "warehouse_id": receipt.warehouse_id,
        "received_at": receipt.received_at.isoformat(),
        "order_done": order.state == "done",
        "lines": [
            {
                "order_line_id": line.order_line_id,
                "product_id": line.product_id,
                "quantity": str(line.quantity),
                "lot_id": line.lot_id,
                "unit_cost": str(line.unit_cost),
            }
            for line in receipt_lines
        ],
    }


# ---------------------------------------------------------------- handlers: budget alerts

from suite import events as _events  # noqa: E402


@_events.handler(JOURNAL_ENTRY_POSTED, name="erp.budget_alerts_on_entry_posted")
def budget_alerts_on_entry_posted(event: _events.Event) -> None:
    """A posted entry may push a budget line over a threshold: alert its owner once per line and threshold
    (``budget_alerts_check``; idempotent through the unique (line, threshold) alert)."""
    from erp.services.budgets import budget_alerts_check

    if event.payload.get("entry_id"):
        budget_alerts_check(company_id=event.company_id, entry_ids=[event.payload["entry_id"]])


@_events.handler(JOURNAL_ENTRIES_POSTED, name="erp.budget_alerts_on_entries_posted")
def budget_alerts_on_entries_posted(event: _events.Event) -> None:
    """The same for a batch of entries (``journal_entries_post_many``)."""
    from erp.services.budgets import budget_alerts_check

    if event.payload.get("entry_ids"):
        budget_alerts_check(company_id=event.company_id, entry_ids=event.payload["entry_ids"])


# ---------------------------------------------------------------- HR (issue #6)

EMPLOYEE_DEACTIVATED = "erp.employee.deactivated"
PAYROLL_RUN_POSTED = "erp.payroll_run.posted"


def employee_deactivated_payload(employee) -> dict:
    """v1 of ``erp.employee.deactivated``: ``employee_id``, ``number``, ``user_id`` (the suite login of the person
    who left, or null), ``successor_user_id`` (who takes over their records, or null), ``leave_date``. CRM hands
    the user's open records over to the successor (the closed loop); no salary or personal data travels."""
    return {
        "employee_id": employee.pk,
        "number": employee.number,
        "user_id": employee.user_id,
        "successor_user_id": employee.successor_user_id,
        "leave_date": employee.leave_date.isoformat() if employee.leave_date else None,
    }


def payroll_run_posted_payload(run) -> dict:
    """v1 of ``erp.payroll_run.posted``: ``run_id``, ``year``, ``month``, ``journal_entry_id``,
    ``employee_count``. Totals stay out (they are salary data; consumers read them through the selectors)."""
    return {
        "run_id": run.pk,
        "year": run.year,
        "month": run.month,
        "journal_entry_id": run.journal_entry_id,
        "employee_count": run.employees_total,
    }


# ---------------------------------------------------------------- production

PRODUCTION_ORDER_RELEASED = "erp.production_order.released"
PRODUCTION_ORDER_COMPLETED = "erp.production_order.completed"


def production_order_payload(order) -> dict:
    """v1 of ``erp.production_order.released`` / ``.completed``: ``production_order_id``, ``number``,
    ``product_id``, ``warehouse_id``, ``quantity``, ``produced_quantity``, ``scrapped_quantity`` (decimal
    strings), ``due_date``, ``promised_at`` (ISO datetime or null), ``state``, ``cost`` (what left WIP with the
    finished goods so far, decimal string)."""
    return {
        "production_order_id": order.pk,
        "number": order.number,
        "product_id": order.product_id,
        "warehouse_id": order.warehouse_id,
        "quantity": str(order.quantity),
        "produced_quantity": str(order.produced_quantity),
        "scrapped_quantity": str(order.scrapped_quantity),
        "due_date": order.due_date.isoformat(),
        "promised_at": order.promised_at.isoformat() if order.promised_at else None,
        "state": order.state,
        "cost": str(order.finished_cost),
        # compatible addition (closed loop): the customer orders it was planned for (MRP pegging)
        "sales_orders": [
            {k: v for k, v in fed.items() if k != "correlation_id"} for fed in _sales_orders_fed_by(order)
        ],
    }


def _sales_orders_fed_by(order) -> list[dict]:
    from erp.selectors.fulfilment import sales_orders_fed_by

    return sales_orders_fed_by(order)


from erp import (  # noqa: E402  handlers, each in its own module
    events_commissions,  # noqa: F401  payments received → payroll commission lines (loop, flow 11)
    events_complaints,  # noqa: F401  CRM tickets on delivered lots → quality non-conformances (loop, flow 5)
    events_forecasting,  # noqa: F401  CRM pipeline and intent snapshots → MRP forecasts (loop, flows 7 and 10)
    events_loop,  # noqa: F401  closed loop: won deals → sales orders, production slips → promises
    events_merging,  # noqa: F401  CRM account merges → sales orders and partners follow the survivor
)
