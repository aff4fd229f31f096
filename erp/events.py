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
