"""Inventory valuation: the value of every stock move, computed in the move's transaction, and — when the
company values its stock perpetually — posted to the ledger in that same transaction.

The inventory services call ``moves_value`` right after they write moves. For each move of a stockable product:

* a move **into** the company's stock (from suppliers, customers, adjustment or production into a warehouse or
  transit) adds an incoming layer: quantity × unit cost (the receipt's cost; otherwise the product's current
  average), rounded to the cent;
* a move **out of** it takes value out: moving average — quantity × (value ÷ quantity still in stock), the last
  unit taking exactly what is left; FIFO — the oldest incoming layers' remaining quantity and value first;
* a move within the company (between locations, warehouses, into or out of transit) changes no value.

``ProductValuation`` (one row per product, running quantity and value) is locked ``FOR UPDATE`` while a product's
moves are valued — the last lock taken by a stock operation (after its quants), products in pk order — so
concurrent moves of one product value one after the other.

Postings (perpetual valuation, ``ValuationSettings``), one entry per operation in the inventory journal:

====================================  ==========================  ==========================
move                                  debit                       credit
====================================  ==========================  ==========================
suppliers → stock (receipt)           stock (1405)                goods received not invoiced
stock → suppliers (return)            goods received not inv.     stock
stock → customers (delivery)          cost of goods sold (6401)   stock
customers → stock (customer return)   stock                       cost of goods sold
adjustment → stock (gain, count +)    stock                       inventory gain
stock → adjustment (loss, count −)    inventory loss              stock
stock ↔ production                    production (5001) / stock   stock / production
====================================  ==========================  ==========================

A posting the ledger refuses (no open period on the move's date) is a ``ValidationError`` and the whole stock
operation rolls back: stock and ledger never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from erp.models import (
    Account,
    AccountType,
    CostMethod,
    Journal,
    JournalKind,
    LocationKind,
    ProductValuation,
    StockMove,
    StockValuationLayer,
    ValuationSettings,
)
from erp.services import finance
from suite.models import Company

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ZERO = Decimal("0")
CENT = Decimal("0.01")
UNIT = Decimal("0.0001")
OWNED = {LocationKind.INTERNAL, LocationKind.TRANSIT}


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _unit(value: Decimal) -> Decimal:
    return value.quantize(UNIT, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------- settings

# Default accounts per chart template: stock, GRNI (created under the payables when missing), COGS, gain, loss,
# production, price difference.
DEFAULT_ACCOUNTS = {
    "cas": {
        "stock_account": "1405",
        "grni_account": "1402",
        "cogs_account": "6401",
        "gain_account": "1901",
        "loss_account": "1901",
        "production_account": "5001",
        "price_difference_account": "6401",
    },
    "ifrs": {
        "stock_account": "1200",
        "grni_account": "2100",
        "cogs_account": "5000",
        "gain_account": "4100",
        "loss_account": "6400",
        "production_account": "1200",
        "price_difference_account": "5000",
    },
}
ACCOUNT_FIELDS = tuple(DEFAULT_ACCOUNTS["cas"])


def _default_account(company: Company, spec) -> Account | None:
    if isinstance(spec, str):
        return Account.objects.filter(company=company, code=spec).first()
    code, name, name_en, parent_code = spec
    existing = Account.objects.filter(company=company, code=code).first()
    if existing is not None:
        return existing
    parent = Account.objects.filter(company=company, code=parent_code).first()
    if parent is None:
        return None
    return finance.account_create(
        company=company, code=code, name=name, name_en=name_en, account_type=AccountType.LIABILITY, parent=parent
    )


@transaction.atomic
def valuation_settings_configure(
    *, company: Company, perpetual: bool = True, journal: Journal | None = None, by: User | None = None, **accounts
) -> ValuationSettings:
    """Turn perpetual valuation on (or off) for a company and choose its accounts. Accounts not given keep their
    current choice or take the chart's default — CAS: 1405 stock, 1402 在途物资 as goods received not invoiced
    (the account vendor bills of stocked products debit), 6401 cost of sales, 1901 待处理财产损溢 for count
    differences, 5001 production; IFRS: 1200, 2100, 5000, 4100 / 6400. ``journal`` defaults to the inventory
    journal (INV)."""
    unknown = set(accounts) - set(ACCOUNT_FIELDS)
    if unknown:
        raise TypeError(f"unknown accounts: {', '.join(sorted(unknown))}")
    settings, _created = ValuationSettings.objects.select_for_update().get_or_create(company=company)
    template = "cas" if Account.objects.filter(company=company, code="1405").exists() else "ifrs"
    errors: dict = {}
    for name in ACCOUNT_FIELDS:
        account = (
            accounts.get(name) or getattr(settings, name) or _default_account(company, DEFAULT_ACCOUNTS[template][name])
        )
        if account is not None and account.company_id != company.pk:
            errors[name] = [_("Unknown record.")]
        setattr(settings, name, account)
    journal = journal or settings.journal or Journal.objects.filter(company=company, code="INV").first()
    if journal is None:
        journal = Journal.objects.filter(company=company, kind=JournalKind.INVENTORY).first()
    if journal is not None and journal.company_id != company.pk:
        errors["journal"] = [_("Unknown record.")]
    settings.journal = journal
    settings.perpetual = bool(perpetual)
    if perpetual:
        for name in (*ACCOUNT_FIELDS[:-1], "journal"):
            if getattr(settings, name) is None and name not in errors:
                errors[name] = [_("Install a chart of accounts and journals first, or choose this account.")]
    if errors:
        raise ValidationError(errors)
    settings.save()
    return settings


def _settings_of(company_id: int) -> ValuationSettings | None:
    return (
        ValuationSettings.objects.filter(company_id=company_id, perpetual=True)
        .select_related(None)
        .only(*(f"{name}_id" for name in ACCOUNT_FIELDS), "journal_id", "perpetual", "company_id")
        .first()
    )


# ---------------------------------------------------------------- valuing moves


def _lock_valuations(company_id: int, product_ids: Sequence[int]) -> dict[int, ProductValuation]:
    """The products' valuation rows (created when missing), locked in product order — one upsert statement,
    whose no-op ``DO UPDATE`` takes the row lock and returns the row."""
    ids = sorted(set(product_ids))
    values = ", ".join(["(%s, %s, 0, 0, now())"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO erp_productvaluation AS v (company_id, product_id, quantity, value, updated_at)"
            f" VALUES {values} ON CONFLICT (product_id) DO UPDATE SET quantity = v.quantity"
            " RETURNING v.id, v.product_id, v.quantity, v.value",
            [v for pid in ids for v in (company_id, pid)],
        )
        rows = cursor.fetchall()
    return {
        product_id: ProductValuation(pk=pk, company_id=company_id, product_id=product_id, quantity=qty, value=value)
        for pk, product_id, qty, value in rows
    }


def _location_kinds(moves: list[StockMove]) -> dict[int, str]:
    """Kind per location of the moves: from the location objects the services already hold, else one query."""
    from erp.models import Location

    kinds: dict[int, str] = {}
    for move in moves:
        for name in ("from_location", "to_location"):
            if StockMove._meta.get_field(name).is_cached(move):
                location = getattr(move, name)
                kinds[location.pk] = location.kind
    missing = ({m.from_location_id for m in moves} | {m.to_location_id for m in moves}) - set(kinds)
    if missing:
        kinds.update(Location.objects.filter(pk__in=missing).values_list("pk", "kind"))
    return kinds


def _products_of(moves: list[StockMove]) -> dict:
    from erp.models import Product

    products = {m.product_id: m.product for m in moves if StockMove._meta.get_field("product").is_cached(m)}
    missing = {m.product_id for m in moves} - set(products)
    if missing:
        products.update({p.pk: p for p in Product.objects.filter(pk__in=missing).only("cost_method")})
    return products


def _direction(move: StockMove, kinds: dict[int, str]) -> int:
    source_owned = kinds[move.from_location_id] in OWNED
    target_owned = kinds[move.to_location_id] in OWNED
    if target_owned and not source_owned:
        return 1
    if source_owned and not target_owned:
        return -1
    return 0


def _fifo_out(valuation: ProductValuation, quantity: Decimal) -> Decimal:
    """Take ``quantity`` from the oldest open incoming layers; the value taken."""
    remaining = quantity
    taken = ZERO
    layers = list(
        StockValuationLayer.objects.filter(product_id=valuation.product_id, remaining_quantity__gt=0).order_by("id")
    )
    changed = []
    for layer in layers:
        if remaining <= 0:
            break
        take = min(layer.remaining_quantity, remaining)
        if take == layer.remaining_quantity:
            value = layer.remaining_value
        else:
            value = _money(layer.remaining_value * take / layer.remaining_quantity)
        layer.remaining_quantity -= take
        layer.remaining_value -= value
        changed.append(layer)
        taken += value
        remaining -= take
    if changed:
        StockValuationLayer.objects.bulk_update(changed, ["remaining_quantity", "remaining_value"])
    if remaining > 0:  # stock older than valuation (no layers): at the running average
        taken += _average_out(valuation, remaining, already=quantity - remaining, value_taken=taken)
    return taken


def _average_out(
    valuation: ProductValuation, quantity: Decimal, *, already: Decimal = ZERO, value_taken: Decimal = ZERO
) -> Decimal:
    on_hand = valuation.quantity - already
    value = valuation.value - value_taken
    if on_hand <= 0:
        return ZERO
    if quantity >= on_hand:
        return value
    return _money(value * quantity / on_hand)


@dataclass
class _Valued:
    move: StockMove
    layer: StockValuationLayer
    direction: int
    source_kind: str
    target_kind: str


def moves_value(*, moves: Iterable[StockMove], by: User | None = None) -> list[StockValuationLayer]:
    """Value the moves just written (see the module docstring) and, with perpetual valuation, post them: one
    entry for the batch, idempotent by ``source_key`` ``stock-moves:<first move id>``. Locks the products'
    valuation rows in product order. Returns the layers written (moves within the company have none)."""
    moves = [m for m in moves if m is not None]
    if not moves:
        return []
    company_id = moves[0].company_id
    kinds = _location_kinds(moves)
    relevant = [m for m in moves if _direction(m, kinds) != 0]
    if not relevant:
        return []
    products = _products_of(relevant)
    valuations = _lock_valuations(company_id, [m.product_id for m in relevant])
    valued: list[_Valued] = []
    for move in sorted(relevant, key=lambda m: (m.product_id, m.pk)):
        valuation = valuations[move.product_id]
        direction = _direction(move, kinds)
        source_kind, target_kind = kinds[move.from_location_id], kinds[move.to_location_id]
        if direction > 0:
            if (
                source_kind == LocationKind.SUPPLIER
                or valuation.quantity <= 0
                or (source_kind == LocationKind.PRODUCTION and move.kind == "production" and move.unit_cost is not None)
            ):  # production output (``stock_produce``) enters at the order's cost, like a purchase at its price
                unit_cost = move.unit_cost or ZERO
            else:  # customer returns, found stock, production output: at the current average
                unit_cost = _unit(valuation.value / valuation.quantity)
            value = _money(move.quantity * unit_cost)
            layer = StockValuationLayer(
                company_id=company_id,
                product_id=move.product_id,
                move=move,
                quantity=move.quantity,
                unit_cost=unit_cost,
                value=value,
                remaining_quantity=move.quantity,
                remaining_value=value,
                description=move.reference or move.kind,
            )
            valuation.quantity += move.quantity
            valuation.value += value
        else:
            if products[move.product_id].cost_method == CostMethod.FIFO:
                value = _fifo_out(valuation, move.quantity)
            else:
                value = _average_out(valuation, move.quantity)
            layer = StockValuationLayer(
                company_id=company_id,
                product_id=move.product_id,
                move=move,
                quantity=-move.quantity,
                unit_cost=_unit(value / move.quantity),
                value=-value,
                description=move.reference or move.kind,
            )
            valuation.quantity -= move.quantity
            valuation.value -= value
            if valuation.quantity < 0:
                raise ValidationError({"quantity": [_("More stock would leave than the company holds.")]})
        valued.append(_Valued(move, layer, direction, source_kind, target_kind))
    now = timezone.now()
    for valuation in valuations.values():
        valuation.updated_at = now
    ProductValuation.objects.bulk_update(valuations.values(), ["quantity", "value", "updated_at"])
    settings = _settings_of(company_id)
    if settings is not None:
        entry = _post(settings, valued, by=by)
        for item in valued:
            item.layer.journal_entry = entry
    return StockValuationLayer.objects.bulk_create([item.layer for item in valued])


def _accounts_for(settings: ValuationSettings, item: _Valued) -> tuple[int, int]:
    """(debit account, credit account) of one move's value, as positive amounts."""
    stock = settings.stock_account_id
    other_kind = item.source_kind if item.direction > 0 else item.target_kind
    other = {
        LocationKind.SUPPLIER: settings.grni_account_id,
        LocationKind.CUSTOMER: settings.cogs_account_id,
        LocationKind.PRODUCTION: settings.production_account_id,
        LocationKind.ADJUSTMENT: settings.gain_account_id if item.direction > 0 else settings.loss_account_id,
    }[other_kind]
    return (stock, other) if item.direction > 0 else (other, stock)


def _post(settings: ValuationSettings, valued: list[_Valued], *, by: User | None):
    totals: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    for item in valued:
        amount = abs(item.layer.value)
        if amount:
            totals[_accounts_for(settings, item)] += amount
    lines = []
    for (debit, credit), amount in sorted(totals.items()):
        if debit == credit or not amount:
            continue
        lines.append(finance.LineSpec(account=debit, debit=amount))
        lines.append(finance.LineSpec(account=credit, credit=amount))
    if not lines:
        return None
    first = min(valued, key=lambda item: item.move.pk).move
    references = sorted({item.move.reference for item in valued if item.move.reference})
    memo = _("Stock valuation: %(reference)s") % {"reference": ", ".join(references)[:200] or first.kind}
    try:
        return finance.journal_entry_create(
            company=Company.objects.get(pk=settings.company_id),
            journal=settings.journal_id,
            date=timezone.localdate(first.moved_at),
            lines=lines,
            memo=str(memo)[:255],
            reference=(references[0] if references else "")[:100],
            source_key=f"stock-moves:{first.pk}",
            post=True,
            by=by,
        )
    except ValidationError as exc:
        messages = [str(m) for ms in exc.message_dict.values() for m in ms] if hasattr(exc, "message_dict") else []
        raise ValidationError(
            {"moved_at": [_("The stock value cannot be posted: %(why)s") % {"why": " ".join(messages) or exc}]}
        ) from exc


# ---------------------------------------------------------------- checks


def stock_value_total(*, company: Company | int) -> Decimal:
    """The value of the company's stock: the sum of its valuation layers (equal to the sum of the products'
    running values)."""
    company_id = getattr(company, "pk", company)
    return StockValuationLayer.objects.filter(company_id=company_id).aggregate(total=Sum("value"))["total"] or ZERO
