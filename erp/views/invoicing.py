"""Receivables, payables and bank in the UI: invoice list, form (with lines), detail (post, register payment,
credit note, cancel), aged balances, bank statement import and the reconciliation screen.

Views are thin: the policy is checked, the form is read, one service is called; a service's ValidationError
shows on the form, a conflict as a message — nothing half-written.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from erp.models import (
    BankAccount,
    BankStatement,
    BankStatementLine,
    Invoice,
    InvoiceKind,
    Journal,
    JournalKind,
    Partner,
    PartnerType,
    Payment,
    PaymentType,
    Tax,
    TaxUse,
)
from erp.selectors import bank as bank_selectors
from erp.selectors import receivables as selectors
from erp.services import bank as bank_services
from erp.services import invoicing as services
from erp.services.bank import PRESETS
from erp.services.finance import LedgerConflict
from suite import policy
from suite.ui import search as shell_search
from suite.ui.choices import chosen
from suite.ui.records import actor_required
from suite.ui.saved_views import default_view_redirect

FORM_LINES = 5


def _require(actor, action: str, target) -> None:
    if not policy.can(actor, action, target):
        raise PermissionDenied


def _invoice_or_404(actor, pk: int) -> Invoice:
    invoice = policy.scope(actor, Invoice.objects.all()).filter(pk=pk).first()
    if invoice is None:
        raise Http404
    return selectors.invoice_detail(invoice.pk, company=actor.company_id)


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _errors_text(exc: ValidationError) -> str:
    return "; ".join(f"{key}: {' '.join(str(m) for m in msgs)}" for key, msgs in exc.message_dict.items())


@actor_required
def invoice_list(request):
    """Invoices and bills, newest first, filtered by kind, state and payment state."""
    actor = request.actor
    _require(actor, "view", Invoice)
    if opened_with_default := default_view_redirect(request, "erp:invoice-list"):
        return opened_with_default
    queryset = policy.scope(actor, Invoice.objects.select_related("partner")).order_by("-invoice_date", "-id")
    kind = request.GET.get("kind", "")
    if kind in InvoiceKind.values:
        queryset = queryset.filter(kind=kind)
    state = request.GET.get("state", "")
    if state:
        queryset = queryset.filter(state=state)
    payment_state = request.GET.get("payment_state", "")
    if payment_state:
        queryset = queryset.filter(payment_state=payment_state)
    search = shell_search.normalize(request.GET.get("q", ""))
    if search:
        queryset = queryset.filter(number__icontains=search) | queryset.filter(partner__name__icontains=search)
    page = Paginator(queryset, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "erp/invoicing/invoice_list.html",
        {"page": page, "kinds": InvoiceKind.choices, "kind": kind, "state": state, "q": search},
    )


def _form_lines(request) -> tuple[list[dict], dict]:
    lines, errors = [], {}
    for i in range(FORM_LINES):
        description = request.POST.get(f"description_{i}", "").strip()
        quantity = request.POST.get(f"quantity_{i}", "").strip()
        price = request.POST.get(f"unit_price_{i}", "").strip()
        if not (description or quantity or price):
            continue
        row: dict = {"description": description, "tax": request.POST.get(f"tax_{i}") or None}
        index = len(lines)
        for name, value in (("quantity", quantity), ("unit_price", price)):
            try:
                row[name] = Decimal(value)
            except InvalidOperation:
                errors[f"lines.{index}.{name}"] = [_("Enter a number.")]
                row[name] = None
        discount = request.POST.get(f"discount_{i}", "").strip()
        if discount:
            try:
                row["discount"] = Decimal(discount)
            except InvalidOperation:
                errors[f"lines.{index}.discount"] = [_("Enter a number.")]
        lines.append(row)
    return lines, errors


@actor_required
def invoice_create(request):
    """A new draft invoice or bill with up to five lines."""
    actor = request.actor
    _require(actor, "add", Invoice)
    kind = request.POST.get("kind") or request.GET.get("kind") or InvoiceKind.OUT_INVOICE
    if kind not in (InvoiceKind.OUT_INVOICE, InvoiceKind.IN_INVOICE):
        kind = InvoiceKind.OUT_INVOICE
    customer = kind == InvoiceKind.OUT_INVOICE
    partners = Partner.objects.filter(company=actor.company, is_active=True)
    partners = partners.filter(is_customer=True) if customer else partners.filter(is_supplier=True)
    context = {
        "kind": kind,
        "partners": partners.order_by("name"),
        "taxes": Tax.objects.filter(
            company=actor.company, is_active=True, use=TaxUse.SALE if customer else TaxUse.PURCHASE
        ),
        "rows": range(FORM_LINES),
        "errors": {},
        "values": request.POST,
        "today": timezone.localdate(),
    }
    if request.method == "POST":
        lines, errors = _form_lines(request)
        partner = chosen(partners, request.POST.get("partner"))
        if partner is None:
            errors["partner"] = [_("Choose a partner.")]
        if not errors:
            header = {
                "invoice_date": _date(request.POST.get("invoice_date")) or timezone.localdate(),
                "fapiao_type": request.POST.get("fapiao_type", ""),
                "fapiao_number": request.POST.get("fapiao_number", ""),
                "origin": request.POST.get("origin", ""),
            }
            if request.POST.get("currency"):
                header["currency"] = request.POST["currency"]
                header["exchange_rate"] = request.POST.get("exchange_rate") or "1"
            try:
                invoice = services.invoice_create(
                    company=actor.company, kind=kind, partner=partner, lines=lines, by=actor.user, **header
                )
                messages.success(request, _("Invoice saved as a draft."))
                return redirect("erp:invoice-detail", pk=invoice.pk)
            except ValidationError as exc:
                errors = exc.message_dict
        context["errors"] = errors
    return render(request, "erp/invoicing/invoice_form.html", context)


@actor_required
def invoice_detail(request, pk: int):
    actor = request.actor
    _require(actor, "view", Invoice)
    invoice = _invoice_or_404(actor, pk)
    journals = Journal.objects.filter(company=actor.company, kind__in=(JournalKind.BANK, JournalKind.CASH))
    return render(
        request,
        "erp/invoicing/invoice_detail.html",
        {
            "invoice": invoice,
            "journals": journals.filter(is_active=True).order_by("code"),
            "can_post": invoice.state == "draft" and policy.can(actor, "post", Invoice),
            "can_pay": invoice.state == "posted"
            and invoice.amount_residual > 0
            and not invoice.is_refund
            and policy.can(actor, "pay", Invoice),
            "can_refund": invoice.state == "posted" and not invoice.is_refund and policy.can(actor, "refund", Invoice),
            "today": timezone.localdate(),
        },
    )


@require_POST
@actor_required
def invoice_action(request, pk: int, verb: str):
    """post / cancel / credit-note (full) / pay (register a payment of what is open or ``amount``)."""
    actor = request.actor
    permission = {"post": "post", "cancel": "cancel", "credit-note": "refund", "pay": "pay"}.get(verb)
    if permission is None:
        raise Http404
    _require(actor, permission, Invoice)
    invoice = _invoice_or_404(actor, pk)
    try:
        if verb == "post":
            services.invoice_post(invoice=invoice, by=actor.user)
            messages.success(request, _("Invoice posted."))
        elif verb == "cancel":
            services.invoice_cancel(invoice=invoice, by=actor.user)
            messages.success(request, _("Invoice cancelled."))
        elif verb == "credit-note":
            credit_note = services.credit_note_create(
                invoice=invoice, by=actor.user, reason=request.POST.get("reason", ""), post=True
            )
            messages.success(request, _("Credit note %(number)s posted.") % {"number": credit_note.number})
            return redirect("erp:invoice-detail", pk=credit_note.pk)
        else:
            journal = chosen(Journal.objects.filter(company=actor.company), request.POST.get("journal"))
            try:
                amount = Decimal(request.POST.get("amount") or invoice.amount_residual)
            except InvalidOperation:
                raise ValidationError({"amount": [_("Enter a number.")]}) from None
            payment = services.payment_create(
                company=actor.company,
                payment_type=PaymentType.INBOUND if invoice.is_customer_document else PaymentType.OUTBOUND,
                partner_type=PartnerType.CUSTOMER if invoice.is_customer_document else PartnerType.SUPPLIER,
                partner=invoice.partner,
                amount=amount,
                journal=journal,
                date=_date(request.POST.get("date")) or timezone.localdate(),
                currency=invoice.currency,
                exchange_rate=invoice.exchange_rate,
                reference=request.POST.get("reference", ""),
                allocations=[{"invoice": invoice, "amount": min(amount, invoice.amount_residual)}],
                by=actor.user,
            )
            messages.success(request, _("Payment %(number)s registered.") % {"number": payment.number})
    except ValidationError as exc:
        messages.error(request, _errors_text(exc))
    except LedgerConflict as exc:
        messages.error(request, str(exc.message))
    return redirect("erp:invoice-detail", pk=invoice.pk)


@actor_required
def payment_list(request):
    actor = request.actor
    _require(actor, "view", Payment)
    queryset = policy.scope(actor, Payment.objects.select_related("partner", "journal")).order_by("-date", "-id")
    page = Paginator(queryset, 25).get_page(request.GET.get("page"))
    return render(request, "erp/invoicing/payment_list.html", {"page": page})


@actor_required
def aged_report(request):
    """Aged receivables / payables as of a date."""
    actor = request.actor
    _require(actor, "view", Invoice)
    side = "payable" if request.GET.get("side") == "payable" else "receivable"
    as_of = _date(request.GET.get("as_of")) or timezone.localdate()
    aged = selectors.aged_balances(company=actor.company, as_of=as_of, side=side)
    return render(request, "erp/invoicing/aged.html", {"aged": aged, "side": side, "as_of": as_of})


# ---------------------------------------------------------------- bank


@actor_required
def bank_import(request):
    """Upload a CSV bank statement; shows the rows that could not be read."""
    actor = request.actor
    _require(actor, "add", BankStatement)
    accounts = BankAccount.objects.filter(company=actor.company, is_active=True).order_by("name")
    context = {"accounts": accounts, "presets": list(PRESETS), "errors": {}, "statement": None}
    if request.method == "POST":
        account = chosen(accounts, request.POST.get("bank_account"))
        upload = request.FILES.get("file")
        errors = {}
        if account is None:
            errors["bank_account"] = [_("Choose a bank account.")]
        if upload is None:
            errors["file"] = [_("Choose a CSV file.")]
        if not errors:
            try:
                statement = bank_services.statement_import(
                    bank_account=account,
                    data=upload.read(bank_services.MAX_FILE_BYTES + 1),
                    preset=request.POST.get("preset") or "cn_bank",
                    file_name=upload.name,
                    by=actor.user,
                )
                messages.success(
                    request,
                    _("%(n)d lines imported, %(d)d duplicates ignored, %(e)d rows with errors.")
                    % {"n": statement.line_count, "d": statement.duplicate_count, "e": len(statement.import_errors)},
                )
                context["statement"] = statement
            except ValidationError as exc:
                errors = exc.message_dict
        context["errors"] = errors
    return render(request, "erp/invoicing/bank_import.html", context)


@actor_required
def reconcile(request):
    """Open statement lines, each with its best suggested matches."""
    actor = request.actor
    _require(actor, "view", BankStatementLine)
    lines = policy.scope(actor, BankStatementLine.objects.select_related("bank_account", "partner"))
    state = request.GET.get("state", "open")
    lines = lines.filter(state=state) if state in ("open", "reconciled") else lines
    page = Paginator(lines.order_by("date", "id"), 20).get_page(request.GET.get("page"))
    rows = [
        (line, bank_selectors.reconcile_suggestions(line, limit=3) if line.state == "open" else [])
        for line in page.object_list
    ]
    return render(request, "erp/invoicing/reconcile.html", {"page": page, "rows": rows, "state": state})


@require_POST
@actor_required
def reconcile_action(request, pk: int, verb: str):
    """match-payment / pay-invoice / unreconcile for one statement line."""
    actor = request.actor
    _require(actor, "reconcile", BankStatementLine)
    line = policy.scope(actor, BankStatementLine.objects.all()).filter(pk=pk).first()
    if line is None:
        raise Http404
    try:
        if verb == "match-payment":
            payment = chosen(Payment.objects.filter(company=actor.company), request.POST.get("payment"))
            if payment is None:
                raise ValidationError({"payment": [_("Unknown payment.")]})
            bank_services.statement_line_reconcile(line=line, payment=payment, by=actor.user)
        elif verb == "pay-invoice":
            invoice = chosen(Invoice.objects.filter(company=actor.company), request.POST.get("invoice"))
            if invoice is None:
                raise ValidationError({"invoice": [_("Unknown invoice.")]})
            bank_services.statement_line_create_payment(
                line=line, partner=invoice.partner, invoices=[invoice], by=actor.user
            )
        elif verb == "unreconcile":
            bank_services.statement_line_unreconcile(line=line, by=actor.user)
        else:
            raise Http404
        messages.success(request, _("Statement line updated."))
    except ValidationError as exc:
        messages.error(request, _errors_text(exc))
    except LedgerConflict as exc:
        messages.error(request, str(exc.message))
    return redirect("erp:bank-reconcile")
