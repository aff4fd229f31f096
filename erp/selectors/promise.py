"""The explained promise (issue #7, flow 9): the earliest day ERP can deliver a quantity of a product, and how
that day was reached, step by step.

The supply is taken in this order: free stock now (on hand − reserved, lots not expired), then the open
purchase receipts (``IncomingSupply`` of kind ``purchase``: confirmed purchase-order lines) by their expected
date, then the open production orders (released or in progress) by the completion the finite-capacity
scheduling engine promised for them (``ProductionOrder.promised_at``, written by
``erp.services.production.production_schedule``; an order not scheduled yet counts on its due date). Purchase
and production steps are merged by date (a purchase first on the same day), so the date is the first day the
cumulated supply covers the quantity. Reservations are never promised twice: free stock is net of them, and of
the soft reservations of other deals' accepted CRM quotes until those expire (``QuoteReservation``).

The CRM reads it synchronously (quote-time promise, flow 2) and the API serves it (``/api/v1/erp/promise/``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import F, Q, Sum
from django.utils import timezone

from erp.models import (
    IncomingSupply,
    Product,
    ProductionOrder,
    QuoteReservation,
    QuoteReservationState,
    StockQuant,
    SupplyKind,
    SupplyState,
)
from erp.models.production import ProductionState
from suite.models import Company

ZERO = Decimal("0")
OPEN_PRODUCTION = (ProductionState.RELEASED, ProductionState.IN_PROGRESS)


class StepKind:
    FREE_STOCK = "free_stock"
    PURCHASE = "purchase"
    PRODUCTION = "production"
    SERVICE = "service"


@dataclass(frozen=True)
class PromiseStep:
    """One source of the promise: ``quantity`` of it is used (``available`` is what the source holds),
    ``cumulative`` is the total after it, ``date`` the day it is there."""

    kind: str
    date: dt.date
    available: Decimal
    quantity: Decimal
    cumulative: Decimal
    reference: str = ""
    scheduled: bool = False  # production: the date comes from the finite-capacity schedule (else the due date)


@dataclass(frozen=True)
class ExplainedPromise:
    product_id: int
    warehouse_id: int | None
    quantity: Decimal
    promised_date: dt.date | None  # None: the open supply does not cover the quantity
    shortfall: Decimal  # what no known supply covers (0 when promised)
    steps: tuple[PromiseStep, ...] = field(default_factory=tuple)
    is_stockable: bool = True
    free_now: Decimal = ZERO  # usable free stock today, less soft holds (what "available now" shows)
    soft_reserved: Decimal = ZERO  # held back for other customers' accepted quotes (not expired)


def _id(value) -> int | None:
    return getattr(value, "pk", value)


def explain_promises(
    *,
    company: Company | int,
    items: Iterable[tuple[int, Decimal]],
    warehouse=None,
    today: dt.date | None = None,
    for_opportunity: int | None = None,
) -> dict[tuple[int, Decimal], ExplainedPromise]:
    """Explained promises for many ``(product id, quantity)`` pairs of one company, in one warehouse or all,
    keyed by the pair. Free stock is net of the soft reservations of accepted CRM quotes that have not expired
    (``QuoteReservation``), except those of ``for_opportunity`` (a deal does not compete with its own quote).
    Five queries whatever the number of pairs (products, free stock, soft holds, purchase receipts, production
    orders). Read only."""
    today = today or timezone.localdate()
    company_id = _id(company)
    warehouse_id = _id(warehouse)
    wanted = [(int(product_id), Decimal(quantity)) for product_id, quantity in items]
    if not wanted:
        return {}
    product_ids = sorted({product_id for product_id, _quantity in wanted})
    stockable = dict(
        Product.objects.filter(company_id=company_id, pk__in=product_ids).values_list("pk", "is_stockable")
    )
    in_warehouse = Q(warehouse_id=warehouse_id) if warehouse_id is not None else Q()

    free: dict[int, Decimal] = defaultdict(lambda: ZERO)
    usable = Q(lot__isnull=True) | Q(lot__expiry_date__isnull=True) | Q(lot__expiry_date__gte=today)
    for product_id, total in (
        StockQuant.objects.filter(in_warehouse, usable, company_id=company_id, product_id__in=product_ids)
        .values("product_id")
        .annotate(total=Sum(F("quantity") - F("reserved")))
        .values_list("product_id", "total")
    ):
        free[product_id] = max(total or ZERO, ZERO)

    soft: dict[int, Decimal] = defaultdict(lambda: ZERO)
    holds = QuoteReservation.objects.filter(
        in_warehouse | (Q(warehouse__isnull=True) if warehouse_id is not None else Q()),
        company_id=company_id,
        product_id__in=product_ids,
        state=QuoteReservationState.ACTIVE,
        expires_on__gte=today,
    )
    if for_opportunity is not None:
        holds = holds.exclude(crm_opportunity_id=for_opportunity)
    for product_id, total in (
        holds.values("product_id").annotate(total=Sum("quantity")).values_list("product_id", "total")
    ):
        soft[product_id] = total or ZERO
        free[product_id] = max(free[product_id] - soft[product_id], ZERO)

    # (date, order of the kind on that day, kind, open quantity, reference, scheduled) per product
    supply: dict[int, list[tuple]] = defaultdict(list)
    for product_id, expected, quantity, received, reference in (
        IncomingSupply.objects.filter(
            in_warehouse,
            company_id=company_id,
            product_id__in=product_ids,
            kind=SupplyKind.PURCHASE,
            state=SupplyState.OPEN,
            quantity__gt=F("received_quantity"),
        )
        .order_by("expected_date", "id")
        .values_list("product_id", "expected_date", "quantity", "received_quantity", "reference")
    ):
        supply[product_id].append((max(expected, today), 0, StepKind.PURCHASE, quantity - received, reference, False))
    for product_id, promised_at, due, quantity, produced, scrapped, number in (
        ProductionOrder.objects.filter(
            in_warehouse, company_id=company_id, product_id__in=product_ids, state__in=OPEN_PRODUCTION
        )
        .order_by("promised_at", "due_date", "id")
        .values_list(
            "product_id", "promised_at", "due_date", "quantity", "produced_quantity", "scrapped_quantity", "number"
        )
    ):
        remaining = quantity - produced - scrapped
        if remaining <= 0:
            continue
        day = timezone.localtime(promised_at).date() if promised_at else due
        supply[product_id].append(
            (max(day, today), 1, StepKind.PRODUCTION, remaining, number or "", promised_at is not None)
        )

    result: dict[tuple[int, Decimal], ExplainedPromise] = {}
    for product_id, quantity in wanted:
        if product_id in stockable and not stockable[product_id]:
            step = PromiseStep(StepKind.SERVICE, today, quantity, quantity, quantity)
            result[(product_id, quantity)] = ExplainedPromise(
                product_id, warehouse_id, quantity, today, ZERO, (step,), is_stockable=False, free_now=quantity
            )
            continue
        steps: list[PromiseStep] = []
        cumulative = ZERO
        promised = None
        if free[product_id] > 0:
            used = min(free[product_id], quantity)
            cumulative += used
            steps.append(PromiseStep(StepKind.FREE_STOCK, today, free[product_id], used, cumulative))
        if cumulative >= quantity:
            promised = today
        else:
            for day, _rank, kind, available, reference, scheduled in sorted(
                supply[product_id], key=lambda row: (row[0], row[1])
            ):
                used = min(available, quantity - cumulative)
                cumulative += used
                steps.append(PromiseStep(kind, day, available, used, cumulative, reference, scheduled))
                if cumulative >= quantity:
                    promised = day
                    break
        result[(product_id, quantity)] = ExplainedPromise(
            product_id=product_id,
            warehouse_id=warehouse_id,
            quantity=quantity,
            promised_date=promised,
            shortfall=max(quantity - cumulative, ZERO),
            steps=tuple(steps),
            free_now=free[product_id],
            soft_reserved=soft[product_id],
        )
    return result


def explain_promise(
    *, company: Company | int, product: Product | int, quantity: Decimal, warehouse=None, today: dt.date | None = None
) -> ExplainedPromise:
    """The explained promise of ``quantity`` of one product (``explain_promises`` for one pair)."""
    key = (int(_id(product)), Decimal(quantity))
    return explain_promises(company=company, items=[key], warehouse=warehouse, today=today)[key]
