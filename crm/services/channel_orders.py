"""Orders and customers from commerce channel plugins (``scrm.channel_order.received`` /
``scrm.channel_customer.received``, docs/plugins.md): the shop's buyer becomes a CRM account, its order a won
deal with the shop's lines — so ERP makes the sales order from ``crm.opportunity.won`` exactly as for a deal won
by a salesperson."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from crm.errors import DuplicateCustomerError
from crm.models import Account, Opportunity, OpportunityStatus
from crm.services.customers import account_create
from crm.services.opportunities import opportunity_create, opportunity_win
from crm.services.quotes import opportunity_line_add
from erp.selectors.inventory import products_for_sale
from suite.models import Company, Membership

CUSTOMER_FIELDS = ("phone", "email", "city", "address")


def _owner(company: Company, owner_id) -> object | None:
    if not owner_id:
        return None
    if not Membership.objects.filter(company=company, user_id=owner_id, is_active=True).exists():
        return None
    return get_user_model().objects.filter(pk=owner_id).first()


@transaction.atomic
def channel_customer_ensure(*, company: Company, customer: dict, owner=None) -> Account:
    """The CRM account of a channel's buyer: an existing account with the same phone, e-mail or name and city
    (the CRM's duplicate check) or a new one (source API). Refuses a buyer without a name."""
    name = " ".join(str(customer.get("name") or "").split())[:200]
    if not name:
        raise ValidationError({"customer": [_("The channel's customer has no name.")]})
    fields = {key: str(customer[key])[:200] for key in CUSTOMER_FIELDS if customer.get(key)}
    try:
        return account_create(company=company, by=owner, name=name, source="api", **fields)
    except DuplicateCustomerError as duplicate:
        for candidate in duplicate.candidates:
            if isinstance(candidate.customer, Account):
                return candidate.customer
        return account_create(company=company, by=owner, name=name, source="api", force=True, **fields)


def _quantity(value, field: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError({field: [_("A number is required.")]}) from None
    if not number.is_finite() or number <= 0:
        raise ValidationError({field: [_("Must be above zero.")]})
    return number


@transaction.atomic
def channel_order_apply(*, company: Company, payload: dict) -> Opportunity:
    """A channel's order as a won deal of the buyer's account, one line per order line (product by exact SKU,
    the shop's unit price). Idempotent: the deal is keyed on the channel and the order id (its name), a second
    call returns it unchanged. Unknown SKUs raise ``ValidationError`` (the relay retries, then dead-letters:
    visible in the loop monitor). Publishes ``crm.opportunity.won`` through ``opportunity_win``."""
    order = payload.get("order") or {}
    order_id = str(order.get("id") or "").strip()
    if not order_id:
        raise ValidationError({"order": [_("The order has no id.")]})
    owner = _owner(company, payload.get("owner_id"))
    account = channel_customer_ensure(company=company, customer=payload.get("customer") or {}, owner=owner)
    source = str(payload.get("source") or "channel")[:40]
    name = f"{source} #{order.get('number') or order_id} [{payload.get('channel_id')}:{order_id}]"[:200]
    existing = Opportunity.objects.filter(company=company, account=account, name=name).first()
    if existing is not None and existing.status == OpportunityStatus.WON:
        return existing
    lines = order.get("lines") or []
    if not lines:
        raise ValidationError({"lines": [_("The order has no lines.")]})
    deal = existing or opportunity_create(
        company=company,
        by=owner,
        name=name,
        account=account,
        currency=order.get("currency") or None,
        description=_("Order %(order)s from the channel %(source)s.") % {"order": order_id, "source": source},
    )
    if existing is None:
        for index, line in enumerate(lines):
            sku = str(line.get("sku") or "").strip()
            found = [p for p in products_for_sale(company=company, search=sku, limit=50) if p.sku == sku] if sku else []
            if not found:
                raise ValidationError({f"lines.{index}.sku": [_("Unknown product %(sku)s.") % {"sku": sku}]})
            opportunity_line_add(
                opportunity=deal,
                by=owner,
                product_id=found[0].pk,
                quantity=_quantity(line.get("quantity"), f"lines.{index}.quantity"),
                unit_price=line.get("unit_price"),
            )
    return opportunity_win(opportunity=deal, by=owner)
