"""Reads of expense claims: my claims, the approval inbox, categories and approval levels (scoped by policy)."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from erp.models import (
    ExpenseApproval,
    ExpenseApprovalLevel,
    ExpenseCategory,
    ExpenseClaim,
    ExpenseClaimState,
    ExpenseLine,
)
from suite import policy
from suite.models import Role


def expense_claims_visible_to(actor) -> QuerySet[ExpenseClaim]:
    """Claims the actor may see (their own; the whole company for managers, finance and administrators), with
    employee, lines, receipts and approvals prefetched: a page costs a fixed number of queries."""
    lines = ExpenseLine.objects.select_related("category", "account", "cost_centre", "project").order_by("line_no")
    approvals = ExpenseApproval.objects.select_related("approver").order_by("id")
    return (
        policy.scope(actor, ExpenseClaim.objects.all())
        .select_related("employee", "journal_entry", "payment_entry")
        .prefetch_related(Prefetch("lines", queryset=lines), "receipts", Prefetch("approvals", queryset=approvals))
    )


def my_expense_claims(actor) -> QuerySet[ExpenseClaim]:
    return expense_claims_visible_to(actor).filter(employee_id=actor.user.pk)


def expense_claims_awaiting(actor) -> QuerySet[ExpenseClaim]:
    """The approval inbox: submitted claims of others waiting at a step of the actor's role (administrators:
    every step); for finance also the approved claims to post and the posted ones to reimburse."""
    if actor is None:
        return ExpenseClaim.objects.none()
    qs = expense_claims_visible_to(actor).exclude(employee_id=actor.user.pk)
    if actor.role == Role.ADMIN:
        waiting = Q(state=ExpenseClaimState.SUBMITTED)
    else:
        steps = list(
            ExpenseApprovalLevel.objects.filter(company_id=actor.company_id, approver_role=actor.role).values_list(
                "sequence", flat=True
            )
        )
        waiting = Q(state=ExpenseClaimState.SUBMITTED, approval_level__in=steps)
    if actor.role in (Role.FINANCE, Role.ADMIN):
        waiting |= Q(state__in=[ExpenseClaimState.APPROVED, ExpenseClaimState.POSTED])
    return qs.filter(waiting).order_by("submitted_at", "id")


def expense_categories_visible_to(actor) -> QuerySet[ExpenseCategory]:
    return policy.scope(actor, ExpenseCategory.objects.all()).select_related("account")


def expense_approval_levels_visible_to(actor) -> QuerySet[ExpenseApprovalLevel]:
    return policy.scope(actor, ExpenseApprovalLevel.objects.all())
