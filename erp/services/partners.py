"""Writes of partners (customers and suppliers) and payment terms."""

from __future__ import annotations

import calendar
from datetime import date as Date
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from erp import events as erp_events
from erp.models import Partner, PaymentTerm, PaymentTermLine, SalesOrder
from suite import events
from suite.models import Company

if TYPE_CHECKING:
    from django.contrib.auth.models import User

PARTNER_FIELDS = (
    "name",
    "name_en",
    "is_customer",
    "is_supplier",
    "crm_account_id",
    "tax_id",
    "customer_group",
    "currency",
    "payment_term",
    "credit_limit",
    "email",
    "phone",
    "address",
    "bank_account_number",
    "is_active",
)


def _clean_partner(partner: Partner) -> None:
    errors: dict[str, list] = {}
    if partner.payment_term_id and partner.payment_term.company_id != partner.company_id:
        errors["payment_term"] = [_("Unknown payment term.")]
    if partner.credit_limit is not None:
        try:
            partner.credit_limit = Decimal(str(partner.credit_limit))
        except InvalidOperation:
            errors["credit_limit"] = [_("Enter a number.")]
        else:
            if partner.credit_limit < 0:
                errors["credit_limit"] = [_("The credit limit cannot be negative.")]
    if partner.currency:
        partner.currency = partner.currency.upper()
    if not (partner.name or "").strip():
        errors["name"] = [_("Enter a name.")]
    if partner.crm_account_id is not None:
        clash = Partner.objects.filter(company_id=partner.company_id, crm_account_id=partner.crm_account_id)
        if partner.pk:
            clash = clash.exclude(pk=partner.pk)
        if clash.exists():
            errors["crm_account_id"] = [_("Another partner already mirrors this CRM account.")]
    try:
        partner.full_clean(exclude=["company", "payment_term"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def partner_create(*, company: Company, name: str, by: User | None = None, **fields) -> Partner:
    """Add a customer and/or supplier. ``fields``: any of ``PARTNER_FIELDS``; ``crm_account_id`` is unique per
    company (a field error when taken)."""
    unknown = set(fields) - set(PARTNER_FIELDS)
    if unknown:
        raise TypeError(f"partner_create: unknown fields {sorted(unknown)}")
    partner = Partner(company=company, name=(name or "").strip(), **fields)
    _clean_partner(partner)
    try:
        with transaction.atomic():
            partner.save()
    except IntegrityError:
        raise ValidationError({"crm_account_id": [_("Another partner already mirrors this CRM account.")]}) from None
    return partner


@transaction.atomic
def partner_update(*, partner: Partner, by: User | None = None, **changes) -> Partner:
    """Change a partner's fields (any of ``PARTNER_FIELDS``). Locks the partner row."""
    unknown = set(changes) - set(PARTNER_FIELDS)
    if unknown:
        raise TypeError(f"partner_update: unknown fields {sorted(unknown)}")
    partner = Partner.objects.select_for_update(of=("self",)).get(pk=partner.pk)
    for name, value in changes.items():
        setattr(partner, name, value.strip() if isinstance(value, str) else value)
    _clean_partner(partner)
    partner.save(update_fields=[*changes, "updated_at"])
    return partner


@transaction.atomic
def partner_ensure_for_crm_account(*, company: Company, crm_account_id: int, name: str, **fields) -> Partner:
    """The partner mirroring CRM account ``crm_account_id``: created as a customer when missing, else its name
    and the given ``fields`` refreshed. Idempotent and safe under concurrency (unique per company; a racing
    insert is caught and the winner returned) — what the closed loop's handlers call."""
    by = fields.pop("by", None)
    existing = Partner.objects.filter(company=company, crm_account_id=crm_account_id).first()
    if existing is None:
        try:
            with transaction.atomic():
                return partner_create(
                    company=company, name=name, crm_account_id=crm_account_id, is_customer=True, by=by, **fields
                )
        except ValidationError as exc:
            if "crm_account_id" not in exc.message_dict:
                raise
            existing = Partner.objects.get(company=company, crm_account_id=crm_account_id)
    changes = {k: v for k, v in {"name": name, **fields}.items() if getattr(existing, k) != v}
    if not existing.is_customer:
        changes["is_customer"] = True
    return partner_update(partner=existing, by=by, **changes) if changes else existing


@transaction.atomic
def partners_follow_crm_merge(*, company_id: int, survivor_account_id: int, duplicate_account_id: int) -> dict:
    """CRM merged account ``duplicate_account_id`` into ``survivor_account_id``: ERP follows, so the survivor's
    orders, invoices and payments are all found under it (the CRM 360 page, the credit check).

    * Sales orders of the duplicate now name the survivor (``crm_account_id``).
    * The partner mirroring the duplicate mirrors the survivor when the survivor had none. When both had one,
      posted documents keep their partner (the ledger is not rewritten): the duplicate's partner stops
      mirroring and is ``merged_into`` the survivor's, which ``erp.selectors.receivables`` counts together;
      partners merged into it earlier follow.

    Idempotent (a redelivered event finds nothing left to move). When something moved, publishes
    ``erp.partner.merged`` (CRM refreshes the survivor's finance facts). Returns what moved, by kind."""
    moved = {"sales_orders": 0, "partners_remapped": 0, "partners_merged": 0}
    # Partners in primary-key order, so two merges running at once lock them in the same order.
    partners = list(
        Partner.objects.select_for_update()
        .filter(company_id=company_id, crm_account_id__in=(survivor_account_id, duplicate_account_id))
        .order_by("pk")
    )
    by_account = {partner.crm_account_id: partner for partner in partners}
    duplicate, survivor = by_account.get(duplicate_account_id), by_account.get(survivor_account_id)
    if duplicate is not None and survivor is None:
        duplicate.crm_account_id = survivor_account_id
        duplicate.save(update_fields=["crm_account_id", "updated_at"])
        moved["partners_remapped"] = 1
    elif duplicate is not None:
        Partner.objects.filter(company_id=company_id, merged_into=duplicate).update(merged_into=survivor)
        duplicate.crm_account_id = None
        duplicate.merged_into = survivor
        duplicate.save(update_fields=["crm_account_id", "merged_into", "updated_at"])
        moved["partners_merged"] = 1
    moved["sales_orders"] = SalesOrder.objects.filter(
        company_id=company_id, crm_account_id=duplicate_account_id
    ).update(crm_account_id=survivor_account_id, updated_at=timezone.now())
    if any(moved.values()):
        events.publish(
            erp_events.PARTNER_MERGED,
            erp_events.partner_merged_payload(
                crm_account_id=survivor_account_id, duplicate_crm_account_id=duplicate_account_id, moved=moved
            ),
            company_id=company_id,
        )
    return moved


@transaction.atomic
def payment_term_create(
    *,
    company: Company,
    name: str,
    days: int = 0,
    end_of_month: bool = False,
    lines: list[dict] | None = None,
    name_en: str = "",
    by: User | None = None,
) -> PaymentTerm:
    """Add a payment term: ``days`` after the invoice date, or instalments ``lines`` (``{"percent", "days"}``,
    percents adding up to 100)."""
    errors: dict[str, list] = {}
    if PaymentTerm.objects.filter(company=company, name=name.strip()).exists():
        errors["name"] = [_("%(name)s already exists.") % {"name": name}]
    if not 0 <= int(days) <= 3650:
        errors["days"] = [_("Between 0 and 3650 days.")]
    if lines:
        total = sum((Decimal(str(line.get("percent", 0))) for line in lines), Decimal(0))
        if total != 100:
            errors["lines"] = [_("The instalments add up to %(total)s %%, not 100 %%.") % {"total": total}]
    if errors:
        raise ValidationError(errors)
    term = PaymentTerm.objects.create(
        company=company, name=name.strip(), name_en=name_en, days=days, end_of_month=end_of_month
    )
    PaymentTermLine.objects.bulk_create(
        PaymentTermLine(
            company=company,
            term=term,
            sequence=index,
            percent=Decimal(str(line["percent"])),
            days=int(line.get("days", 0)),
        )
        for index, line in enumerate(lines or (), start=1)
    )
    return term


def _month_end(day: Date) -> Date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def payment_term_due_date(term: PaymentTerm | None, invoice_date: Date) -> Date:
    """The due date of an invoice dated ``invoice_date`` under ``term`` (the invoice date without a term): the
    term's days (or its last instalment's), counted from the end of the month when ``end_of_month``."""
    if term is None:
        return invoice_date
    start = _month_end(invoice_date) if term.end_of_month else invoice_date
    line_days = [line.days for line in term.lines.all()]
    return start + timedelta(days=max(line_days) if line_days else term.days)
