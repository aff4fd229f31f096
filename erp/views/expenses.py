"""Expense claims in the UI: my claims, the approval inbox, a new claim (lines and a first receipt), a claim's
page with its receipts, approvals and the actions the viewer may take; and the budget pages (list, report).

Views are thin: the policy is checked, the form is read, one service is called; a service's ValidationError
shows on the form, a conflict or a refused step as a message — nothing half-written.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from erp.models import Budget, Dimension, DimensionKind, ExpenseCategory, ExpenseClaim, ExpenseReceipt
from erp.selectors import budgets as budget_selectors
from erp.selectors import expenses as selectors
from erp.services import expenses as services
from suite import policy
from suite.ui.records import actor_required

FORM_LINES = 5


def _require(actor, action: str, target) -> None:
    if not policy.can(actor, action, target):
        raise PermissionDenied


def _claim_or_404(actor, pk: int) -> ExpenseClaim:
    claim = selectors.expense_claims_visible_to(actor).filter(pk=pk).first()
    if claim is None:
        raise Http404
    return claim


@actor_required
def claim_list(request):
    """My claims, and below them the claims waiting for me."""
    actor = request.actor
    _require(actor, "view", ExpenseClaim)
    mine = Paginator(selectors.my_expense_claims(actor).order_by("-created_at", "-id"), 25).get_page(
        request.GET.get("page")
    )
    inbox = list(selectors.expense_claims_awaiting(actor)[:50])
    return render(request, "erp/expenses/claim_list.html", {"page": mine, "inbox": inbox})


def _form_lines(request) -> tuple[list[dict], dict]:
    """The filled rows of the claim form as service input; row-level parse errors."""
    lines, errors = [], {}
    for i in range(FORM_LINES):
        amount = request.POST.get(f"amount_{i}", "").strip()
        if not amount:
            continue
        row: dict = {
            "category": request.POST.get(f"category_{i}") or None,
            "description": request.POST.get(f"description_{i}", ""),
            "cost_centre": request.POST.get(f"cost_centre_{i}") or None,
            "project": request.POST.get(f"project_{i}") or None,
        }
        try:
            row["amount"] = Decimal(amount)
            row["tax_amount"] = Decimal(request.POST.get(f"tax_{i}", "").strip() or "0")
        except InvalidOperation:
            errors[f"lines.{len(lines)}.amount"] = [_("Enter a number.")]
        try:
            row["date"] = date.fromisoformat(request.POST.get(f"date_{i}", ""))
        except ValueError:
            row["date"] = None
        lines.append(row)
    return lines, errors


@actor_required
def claim_create(request):
    actor = request.actor
    _require(actor, "add", ExpenseClaim)
    context = {
        "categories": ExpenseCategory.objects.filter(company=actor.company, is_active=True).order_by("code"),
        "cost_centres": Dimension.objects.filter(company=actor.company, kind=DimensionKind.COST_CENTRE, is_active=True),
        "projects": Dimension.objects.filter(company=actor.company, kind=DimensionKind.PROJECT, is_active=True),
        "rows": range(FORM_LINES),
        "errors": {},
        "values": request.POST,
    }
    if request.method == "POST":
        lines, errors = _form_lines(request)
        upload = request.FILES.get("receipt")
        if not errors:
            try:
                from django.db import transaction

                with transaction.atomic():
                    claim = services.expense_claim_create(
                        company=actor.company,
                        employee=actor.user,
                        title=request.POST.get("title", ""),
                        lines=lines,
                        by=actor.user,
                    )
                    if upload is not None:
                        services.expense_receipt_add(claim=claim, upload=upload, by=actor.user)
                messages.success(request, _("Claim saved as a draft."))
                return redirect("erp:expense-detail", pk=claim.pk)
            except ValidationError as exc:
                errors = exc.message_dict
        context["errors"] = errors
    return render(request, "erp/expenses/claim_form.html", context)


@actor_required
def claim_detail(request, pk: int):
    actor = request.actor
    _require(actor, "view", ExpenseClaim)
    claim = _claim_or_404(actor, pk)
    is_employee = claim.employee_id == actor.user.pk
    return render(
        request,
        "erp/expenses/claim_detail.html",
        {
            "claim": claim,
            "is_employee": is_employee,
            "can_approve": (not is_employee) and claim.state == "submitted" and policy.can(actor, "approve", claim),
            "can_post": claim.state == "approved" and policy.can(actor, "post", claim),
            "can_pay": claim.state == "posted" and policy.can(actor, "pay", claim),
            "max_mb": services.receipt_max_bytes() // (1024 * 1024),
        },
    )


ACTIONS = {
    "submit": ("submit", lambda claim, request: services.expense_claim_submit(claim=claim, by=request.user)),
    "approve": (
        "approve",
        lambda claim, request: services.expense_claim_approve(
            claim=claim, by=request.user, reason=request.POST.get("reason", "")
        ),
    ),
    "reject": (
        "approve",
        lambda claim, request: services.expense_claim_reject(
            claim=claim, by=request.user, reason=request.POST.get("reason", "")
        ),
    ),
    "post": ("post", lambda claim, request: services.expense_claim_post(claim=claim, by=request.user)),
    "pay": ("pay", lambda claim, request: services.expense_claim_pay(claim=claim, by=request.user)),
    "cancel": ("cancel", lambda claim, request: services.expense_claim_cancel(claim=claim, by=request.user)),
}


@require_POST
@actor_required
def claim_action(request, pk: int, verb: str):
    actor = request.actor
    if verb not in ACTIONS:
        raise Http404
    policy_action, call = ACTIONS[verb]
    claim = _claim_or_404(actor, pk)
    _require(actor, policy_action, claim)
    try:
        call(claim, request)
        messages.success(request, _("Done."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except services.ExpenseConflict as exc:
        messages.error(request, str(exc.message))
    except PermissionDenied as exc:
        messages.error(request, str(exc) or _("You may not do this."))
    return redirect("erp:expense-detail", pk=pk)


@require_POST
@actor_required
def receipt_upload(request, pk: int):
    actor = request.actor
    claim = _claim_or_404(actor, pk)
    _require(actor, "change", claim)
    upload = request.FILES.get("receipt")
    if upload is None:
        messages.error(request, _("Choose a file."))
    else:
        try:
            services.expense_receipt_add(claim=claim, upload=upload, by=request.user)
            messages.success(request, _("Receipt added."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        except (services.ExpenseConflict, PermissionDenied) as exc:
            messages.error(request, str(getattr(exc, "message", exc)))
    return redirect("erp:expense-detail", pk=pk)


@actor_required
def receipt_download(request, pk: int, receipt_pk: int):
    actor = request.actor
    claim = _claim_or_404(actor, pk)
    receipt = ExpenseReceipt.objects.filter(claim=claim, pk=receipt_pk).first()
    if receipt is None:
        raise Http404
    response = FileResponse(receipt.file.open("rb"), content_type=receipt.mime, filename=receipt.original_name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response


# ---------------------------------------------------------------- budgets


@actor_required
def budget_list(request):
    actor = request.actor
    _require(actor, "view", Budget)
    budgets = budget_selectors.budgets_visible_to(actor).order_by("-fiscal_year__start_date", "name")
    return render(request, "erp/budgets/budget_list.html", {"budgets": budgets})


@actor_required
def budget_detail(request, pk: int):
    actor = request.actor
    _require(actor, "view", Budget)
    budget = budget_selectors.budgets_visible_to(actor).filter(pk=pk).first()
    if budget is None:
        raise Http404
    report = budget_selectors.budget_report(budget=budget)
    return render(request, "erp/budgets/budget_detail.html", {"budget": budget, "report": report})
