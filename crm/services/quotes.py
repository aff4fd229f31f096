"""Writes of opportunity lines (products from the ERP catalogue) and of quotes generated from them.

Prices come from ERP's price lists through ``erp.selectors.inventory`` (customer group, currency, quantity
tiers, validity dates; else the product's list price), read when a line is added, when its quantity changes and
on ``opportunity_lines_reprice``; a price set by hand (``PriceSource.MANUAL``) stays until it is reset. Who may
set prices by hand is the policy action ``override_price`` on ``OpportunityLine`` — checked by the views and
the API before they pass ``unit_price`` here.

Every line write recomputes the opportunity's ``amount`` (Σ line totals, tax included) in the same transaction
under the opportunity's row lock. Accepting a quote publishes ``crm.quote.accepted`` (docs/events.md).
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.errors import CrmConflict, QuoteApprovalError, QuoteExpiredError, QuoteStateError
from crm.events import QUOTE_ACCEPTED, quote_accepted_payload
from crm.models import (
    Opportunity,
    OpportunityLine,
    OpportunityStatus,
    PriceSource,
    Quote,
    QuoteApproval,
    QuoteLine,
    QuoteState,
)
from crm.services.opportunities import lock_opportunity
from crm.services.quote_approvals import approval_facts_for
from erp.selectors import inventory as erp_inventory
from suite import events

if TYPE_CHECKING:
    from django.contrib.auth.models import User

CENT = Decimal("0.01")
QUANTUM = Decimal("0.0001")
HUNDRED = Decimal("100")
DEFAULT_TAX_RATE = Decimal("13.00")  # China's VAT rate on goods; per line, editable
DEFAULT_VALIDITY_DAYS = 30
ZERO = Decimal("0")
MAX_QUANTITY = Decimal("99999999999999")
MAX_UNIT_PRICE = Decimal("99999999999999")
PRICE_GROUP_FIELD = "price_group"  # the account custom field naming its ERP customer group

# ---------------------------------------------------------------- amounts


def line_amounts(
    *, quantity: Decimal, unit_price: Decimal, discount_percent: Decimal, tax_rate: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """``(net, tax, total)`` of a line, each rounded half-up to the cent: net = quantity × unit price ×
    (1 − discount / 100); tax = net × rate / 100; total = net + tax."""
    gross = quantity * unit_price
    net = (gross * (HUNDRED - discount_percent) / HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)
    tax = (net * tax_rate / HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)
    return net, tax, net + tax


def price_group_of(opportunity: Opportunity) -> str:
    """The ERP customer group whose price list applies: the account's custom field ``price_group`` (empty:
    the general lists)."""
    account = opportunity.account if opportunity.account_id else None
    value = (account.custom or {}).get(PRICE_GROUP_FIELD, "") if account is not None else ""
    return value if isinstance(value, str) else ""


def _decimal(value: Any, *, field: str, errors: dict, places: int, low: Decimal, high: Decimal, low_open=False):
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        errors.setdefault(field, []).append(_("Enter a number."))
        return None
    if not number.is_finite():
        errors.setdefault(field, []).append(_("Enter a number."))
        return None
    if (number <= low) if low_open else (number < low):
        if field == "quantity":
            errors.setdefault(field, []).append(_("The quantity must be greater than zero."))
        else:
            errors.setdefault(field, []).append(
                _("Must be at least %(low)s.") % {"low": low} if not low_open else _("Must be greater than zero.")
            )
        return None
    if number > high:
        if field == "discount_percent":
            errors.setdefault(field, []).append(_("A discount is at most 100 %."))
        else:
            errors.setdefault(field, []).append(_("Must be at most %(high)s.") % {"high": high})
        return None
    if number.as_tuple().exponent < -places:
        errors.setdefault(field, []).append(_("At most %(places)s decimal places.") % {"places": places})
        return None
    return number


def _parse_terms(data: dict, errors: dict) -> dict:
    parsed = {}
    if "quantity" in data:
        parsed["quantity"] = _decimal(
            data["quantity"], field="quantity", errors=errors, places=4, low=ZERO, high=MAX_QUANTITY, low_open=True
        )
    if "discount_percent" in data:
        parsed["discount_percent"] = _decimal(
            data["discount_percent"], field="discount_percent", errors=errors, places=2, low=Decimal(0), high=HUNDRED
        )
    if "tax_rate" in data:
        parsed["tax_rate"] = _decimal(
            data["tax_rate"], field="tax_rate", errors=errors, places=2, low=Decimal(0), high=HUNDRED
        )
    if data.get("unit_price") is not None:
        parsed["unit_price"] = _decimal(
            data["unit_price"], field="unit_price", errors=errors, places=4, low=Decimal(0), high=MAX_UNIT_PRICE
        )
    if "note" in data:
        parsed["note"] = " ".join(str(data["note"] or "").split())[:200]
    return parsed


def _product(company_id: int, product_id: Any):
    """The company's active ERP product ``product_id`` (an int, or digits), else ``None``."""
    if isinstance(product_id, bool) or not str(product_id).strip().isdigit():
        return None
    product_id = int(str(product_id).strip())
    return erp_inventory.products_for_sale_by_ids(company=company_id, ids=[product_id]).get(product_id)


def _erp_price(opportunity: Opportunity, product_id: int, quantity: Decimal, errors: dict):
    price = erp_inventory.price_for(
        company=opportunity.company_id,
        product=product_id,
        quantity=quantity,
        customer_group=price_group_of(opportunity) or None,
        currency=opportunity.currency,
    )
    if price is None:
        errors.setdefault("unit_price", []).append(
            _("This product has no price in %(currency)s; set the price by hand.") % {"currency": opportunity.currency}
        )
    return price


def _apply_price(line: OpportunityLine, price) -> None:
    line.unit_price = price.unit_price
    line.price_source = PriceSource.PRICE_LIST if price.source == "price_list" else PriceSource.LIST_PRICE
    line.price_list_id = price.price_list_id


def _compute(line: OpportunityLine) -> None:
    line.net_amount, line.tax_amount, line.line_total = line_amounts(
        quantity=line.quantity,
        unit_price=line.unit_price,
        discount_percent=line.discount_percent,
        tax_rate=line.tax_rate,
    )


def _editable(opportunity: Opportunity) -> None:
    if opportunity.status == OpportunityStatus.WON:
        raise CrmConflict(_("A won opportunity's lines are final; change the order in ERP."))


def opportunity_amount_follow_lines(opportunity: Opportunity) -> None:
    """Set the (locked) opportunity's amount to the sum of its line totals when it has lines."""
    total = OpportunityLine.objects.filter(opportunity_id=opportunity.pk).aggregate(total=Sum("line_total"))["total"]
    if total is not None and total != opportunity.amount:
        opportunity.amount = total
        opportunity.save(update_fields=["amount", "updated_at"])


# ---------------------------------------------------------------- opportunity lines


def lock_line(pk: int) -> OpportunityLine:
    return OpportunityLine.objects.select_for_update(of=("self",)).get(pk=pk)


@transaction.atomic
def opportunity_line_add(
    *,
    opportunity: Opportunity,
    by: User | None,
    product_id: Any,
    quantity: Any,
    discount_percent: Any = Decimal("0"),
    tax_rate: Any = DEFAULT_TAX_RATE,
    unit_price: Any = None,
    note: str = "",
) -> OpportunityLine:
    """Add a product of the company's ERP catalogue (an active product, by id) to an open or lost opportunity.

    The unit price is ERP's price for the opportunity's customer group, currency and this quantity unless
    ``unit_price`` is given (a manual price: the caller has checked ``override_price``). Snapshots SKU, name
    and unit; computes the amounts; the opportunity's amount becomes the sum of its lines. Locks the
    opportunity row. Field errors: unknown product, quantity not above zero, discount outside 0–100.
    """
    opportunity = lock_opportunity(opportunity.pk)
    _editable(opportunity)
    errors: dict[str, list] = {}
    terms = _parse_terms(
        {
            "quantity": quantity,
            "discount_percent": discount_percent,
            "tax_rate": tax_rate,
            "unit_price": unit_price,
            "note": note,
        },
        errors,
    )
    product = _product(opportunity.company_id, product_id)
    if product is None:
        errors.setdefault("product_id", []).append(_("Unknown product."))
    price = None
    if product is not None and terms.get("unit_price") is None and terms.get("quantity") is not None:
        price = _erp_price(opportunity, product.pk, terms["quantity"], errors)
    if errors:
        raise ValidationError(errors)
    top = OpportunityLine.objects.filter(opportunity=opportunity).aggregate(top=Max("sequence"))["top"] or 0
    line = OpportunityLine(
        company_id=opportunity.company_id,
        opportunity=opportunity,
        sequence=top + 10,
        product_id=product.pk,
        sku=product.sku,
        product_name=product.name,
        uom=product.uom.code,
        quantity=terms["quantity"],
        discount_percent=terms["discount_percent"],
        tax_rate=terms["tax_rate"],
        note=terms.get("note", ""),
    )
    if price is not None:
        _apply_price(line, price)
    else:
        line.unit_price = terms["unit_price"]
        line.price_source = PriceSource.MANUAL
    _compute(line)
    line.save()
    opportunity_amount_follow_lines(opportunity)
    return line


LINE_FIELDS = frozenset({"quantity", "discount_percent", "tax_rate", "unit_price", "note"})


@transaction.atomic
def opportunity_line_update(
    *, line: OpportunityLine, by: User | None, reset_price: bool = False, **fields: Any
) -> OpportunityLine:
    """Change a line's quantity, discount, tax rate, note or (``unit_price``: a manual price, the caller has
    checked ``override_price``) its price. A new quantity re-reads ERP's price unless the price is manual;
    ``reset_price`` goes back to ERP's price. Recomputes the line and the opportunity's amount. Locks the
    opportunity row, then the line."""
    unknown = set(fields) - LINE_FIELDS
    if unknown:
        raise TypeError(f"unknown line fields: {', '.join(sorted(unknown))}")
    opportunity = lock_opportunity(line.opportunity_id)
    _editable(opportunity)
    line = lock_line(line.pk)
    errors: dict[str, list] = {}
    terms = _parse_terms(fields, errors)
    if errors:
        raise ValidationError(errors)
    for name in ("quantity", "discount_percent", "tax_rate", "note"):
        if name in terms:
            setattr(line, name, terms[name])
    if terms.get("unit_price") is not None:
        line.unit_price = terms["unit_price"]
        line.price_source = PriceSource.MANUAL
        line.price_list_id = None
    elif reset_price or ("quantity" in terms and line.price_source != PriceSource.MANUAL):
        price = _erp_price(opportunity, line.product_id, line.quantity, errors)
        if errors:
            raise ValidationError(errors)
        _apply_price(line, price)
    _compute(line)
    line.save()
    opportunity_amount_follow_lines(opportunity)
    return line


@transaction.atomic
def opportunity_line_delete(*, line: OpportunityLine, by: User | None) -> None:
    """Remove a line; the opportunity's amount becomes the sum of the remaining lines (unchanged when it was
    the last one). Locks the opportunity row."""
    opportunity = lock_opportunity(line.opportunity_id)
    _editable(opportunity)
    OpportunityLine.objects.filter(pk=line.pk).delete()
    opportunity_amount_follow_lines(opportunity)


@transaction.atomic
def opportunity_lines_reprice(*, opportunity: Opportunity, by: User | None) -> int:
    """Read ERP's current price of every line not priced by hand (prices change, lists expire) and recompute;
    returns how many lines changed. Lines whose product lost its price keep theirs. Locks the opportunity row."""
    opportunity = lock_opportunity(opportunity.pk)
    _editable(opportunity)
    lines = list(OpportunityLine.objects.select_for_update(of=("self",)).filter(opportunity=opportunity))
    priced = [line for line in lines if line.price_source != PriceSource.MANUAL]
    prices = erp_inventory.prices_for_many(
        company=opportunity.company_id,
        items=[(line.product_id, line.quantity) for line in priced],
        customer_group=price_group_of(opportunity) or None,
        currency=opportunity.currency,
    )
    changed = 0
    for line in priced:
        price = prices.get((line.product_id, line.quantity))
        if price is None:
            continue
        before = (line.unit_price, line.price_source, line.price_list_id)
        _apply_price(line, price)
        if (line.unit_price, line.price_source, line.price_list_id) != before:
            _compute(line)
            line.save(
                update_fields=[
                    "unit_price",
                    "price_source",
                    "price_list_id",
                    "net_amount",
                    "tax_amount",
                    "line_total",
                    "updated_at",
                ]
            )
            changed += 1
    opportunity_amount_follow_lines(opportunity)
    return changed


# ---------------------------------------------------------------- quotes


def lock_quote(pk: int) -> Quote:
    return Quote.objects.select_for_update(of=("self",)).select_related("opportunity").get(pk=pk)


def _next_number(company_id: int, year: int) -> str:
    """The next quote number of the company in ``year`` (``Q2026-0001`` …), gap-free: serialised per company
    by a transaction-level advisory lock; quotes are never deleted."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"crm.quote.number:{company_id}"])
    prefix = f"Q{year}-"
    count = Quote.objects.filter(company_id=company_id, number__startswith=prefix, version=1).count()
    return f"{prefix}{count + 1:04d}"


@transaction.atomic
def quote_create(
    *, opportunity: Opportunity, by: User | None, valid_until: dt.date | None = None, terms: str = ""
) -> Quote:
    """Generate a draft quote from the opportunity's lines as they are now (a frozen copy with totals).

    The first quote of an opportunity takes the company's next number; later ones are new versions of it.
    ``valid_until`` defaults to 30 days from today and may not be in the past. Refuses an opportunity without
    lines (field error) or one that is won or lost (``CrmConflict``). Locks the opportunity row.
    """
    opportunity = lock_opportunity(opportunity.pk)
    if opportunity.status != OpportunityStatus.OPEN:
        raise CrmConflict(_("Quotes are made for open opportunities."))
    today = timezone.localdate()
    valid_until = valid_until or today + dt.timedelta(days=DEFAULT_VALIDITY_DAYS)
    errors: dict[str, list] = {}
    if valid_until < today:
        errors["valid_until"] = [_("The validity date cannot be in the past.")]
    lines = list(OpportunityLine.objects.filter(opportunity=opportunity).order_by("sequence", "id"))
    if not lines:
        errors["lines"] = [_("Add products to the opportunity before generating a quote.")]
    if errors:
        raise ValidationError(errors)
    previous = Quote.objects.filter(opportunity=opportunity).order_by("-version").values_list("number", "version")
    latest = previous.first()
    if latest is not None:
        number, version = latest[0], latest[1] + 1
    else:
        number, version = _next_number(opportunity.company_id, today.year), 1
    account = opportunity.account if opportunity.account_id else None
    contact = opportunity.contact if opportunity.contact_id else None
    total = sum((line.line_total for line in lines), Decimal("0.00"))
    needs, by_admin = approval_facts_for(
        company_id=opportunity.company_id, lines=lines, total=total, currency=opportunity.currency
    )
    quote = Quote.objects.create(
        company_id=opportunity.company_id,
        opportunity=opportunity,
        number=number,
        version=version,
        state=QuoteState.DRAFT,
        customer_name=(account or contact).name,
        contact_name=contact.name if contact is not None and account is not None else "",
        currency=opportunity.currency,
        valid_until=valid_until,
        terms=(terms or "").strip(),
        subtotal=sum((line.net_amount for line in lines), Decimal("0.00")),
        tax_total=sum((line.tax_amount for line in lines), Decimal("0.00")),
        total=total,
        created_by=by,
        approval=QuoteApproval.REQUIRED if needs else QuoteApproval.NOT_NEEDED,
        approval_facts=needs,
        approval_by_admin=by_admin,
    )
    QuoteLine.objects.bulk_create(
        [
            QuoteLine(
                company_id=quote.company_id,
                quote=quote,
                sequence=index + 1,
                product_id=line.product_id,
                sku=line.sku,
                product_name=line.product_name,
                uom=line.uom,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount_percent=line.discount_percent,
                tax_rate=line.tax_rate,
                net_amount=line.net_amount,
                tax_amount=line.tax_amount,
                line_total=line.line_total,
            )
            for index, line in enumerate(lines)
        ]
    )
    return quote


def _refuse_expired(quote: Quote) -> None:
    if quote.state == QuoteState.EXPIRED or quote.valid_until < timezone.localdate():
        raise QuoteExpiredError(
            _("Quote %(number)s expired on %(date)s; generate a new version.")
            % {"number": quote.display_number, "date": quote.valid_until.isoformat()}
        )


@transaction.atomic
def quote_send(*, quote: Quote, by: User | None) -> Quote:
    """Mark a draft quote sent to the customer (it was downloaded and handed over, e-mailed …). Sending a sent
    quote changes nothing; an expired, accepted or rejected one is refused, and so is one that needs approval
    and is not approved (``QuoteApprovalError``, ``crm.services.quote_approvals``). Locks the quote row."""
    quote = lock_quote(quote.pk)
    if quote.state == QuoteState.SENT:
        return quote
    _refuse_expired(quote)
    if quote.state != QuoteState.DRAFT:
        raise QuoteStateError(_("Only a draft quote can be sent."))
    if quote.approval not in (QuoteApproval.NOT_NEEDED, QuoteApproval.APPROVED):
        raise QuoteApprovalError(
            _("Quote %(number)s needs a manager's approval before it goes to the customer: %(reason)s")
            % {"number": quote.display_number, "reason": quote.approval_reason}
        )
    quote.state = QuoteState.SENT
    quote.sent_at = timezone.now()
    quote.save(update_fields=["state", "sent_at", "updated_at"])
    return quote


@transaction.atomic
def quote_accept(*, quote: Quote, by: User | None) -> Quote:
    """Record that the customer accepted a sent quote. Publishes ``crm.quote.accepted`` (ERP soft-reserves
    the quantities until ``valid_until``; payload in docs/events.md).

    Accepting an accepted quote changes and publishes nothing. Refused: an expired quote (past
    ``valid_until``: ``QuoteExpiredError``), a draft, a rejected quote, or a second accepted version of the
    same opportunity (``QuoteStateError``). Locks the opportunity row, then the quote.
    """
    lock_opportunity(quote.opportunity_id)  # one accepted version per opportunity: serialise its quotes
    quote = lock_quote(quote.pk)
    if quote.state == QuoteState.ACCEPTED:
        return quote
    _refuse_expired(quote)
    if quote.state != QuoteState.SENT:
        raise QuoteStateError(_("Only a sent quote can be accepted; send it first."))
    if Quote.objects.filter(opportunity_id=quote.opportunity_id, state=QuoteState.ACCEPTED).exists():
        raise QuoteStateError(_("Another version of this quote was already accepted."))
    quote.state = QuoteState.ACCEPTED
    quote.decided_at = timezone.now()
    quote.decided_by = by
    quote.save(update_fields=["state", "decided_at", "decided_by", "updated_at"])
    events.publish(QUOTE_ACCEPTED, quote_accepted_payload(quote=quote), company_id=quote.company_id, by=by)
    return quote


@transaction.atomic
def quote_reject(*, quote: Quote, by: User | None) -> Quote:
    """Record that the customer declined a sent quote. Rejecting a rejected quote changes nothing; a draft,
    accepted or expired one is refused. Locks the quote row."""
    quote = lock_quote(quote.pk)
    if quote.state == QuoteState.REJECTED:
        return quote
    if quote.state == QuoteState.EXPIRED:
        raise QuoteExpiredError(_("This quote has expired."))
    if quote.state != QuoteState.SENT:
        raise QuoteStateError(_("Only a sent quote can be rejected."))
    quote.state = QuoteState.REJECTED
    quote.decided_at = timezone.now()
    quote.decided_by = by
    quote.save(update_fields=["state", "decided_at", "decided_by", "updated_at"])
    return quote


@transaction.atomic
def quotes_expire(*, today: dt.date | None = None) -> int:
    """Mark every draft or sent quote whose ``valid_until`` has passed as expired (beat, daily); returns how
    many. Locks those rows (skipping rows another transaction holds: the next run takes them)."""
    today = today or timezone.localdate()
    ids = list(
        Quote.objects.select_for_update(of=("self",), skip_locked=True)
        .filter(state__in=[QuoteState.DRAFT, QuoteState.SENT], valid_until__lt=today)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if ids:
        Quote.objects.filter(pk__in=ids).update(state=QuoteState.EXPIRED, updated_at=timezone.now())
    return len(ids)
