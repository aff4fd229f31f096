"""Writes of budgets, their lines, the alerts when an actual crosses a threshold, and the cash-flow mapping.

``budget_alerts_check`` runs from the handler of ``erp.journal_entry.posted`` / ``erp.journal_entries.posted``
(``erp/events.py``): for the budget lines the posted entries touch, it recomputes the actual
(``erp.selectors.budgets.budget_line_actuals``) and, for every threshold now reached that has no alert yet, writes
a ``BudgetAlert`` (unique per line and threshold: ``INSERT … ON CONFLICT DO NOTHING``), notifies the budget's
owner and publishes ``erp.budget.threshold_crossed`` — so a second delivery of the same event changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from erp import events as erp_events
from erp.models import (
    Account,
    Budget,
    BudgetAlert,
    BudgetLine,
    CashFlowLine,
    CashFlowMapping,
    Dimension,
    DimensionKind,
    FiscalPeriod,
    FiscalYear,
    JournalLine,
)
from erp.selectors.budgets import budget_line_actuals
from suite import events
from suite.models import Company, Membership
from suite.services.notifications import notification_send

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


def _clean_thresholds(thresholds) -> list[int]:
    try:
        values = sorted({int(t) for t in thresholds})
    except (TypeError, ValueError):
        raise ValidationError({"thresholds": [_("Enter whole percentages such as 80, 100.")]}) from None
    if not values or len(values) > 10 or any(t < 1 or t > 1000 for t in values):
        raise ValidationError({"thresholds": [_("Enter one to ten percentages between 1 and 1000.")]})
    return values


def _check_owner(company: Company, owner) -> None:
    if owner is not None and not Membership.objects.filter(company=company, user=owner, is_active=True).exists():
        raise ValidationError({"owner": [_("The owner must be a member of the company.")]})


@transaction.atomic
def budget_create(
    *,
    company: Company,
    name: str,
    fiscal_year: FiscalYear,
    cost_centre: Dimension | None = None,
    owner: User | None = None,
    thresholds: Sequence[int] = (80, 100),
    by: User | None = None,
) -> Budget:
    """A budget of ``fiscal_year`` for the company (or ``cost_centre``), owned by ``owner`` who is alerted."""
    errors: dict[str, list] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("This field is required.")]
    elif Budget.objects.filter(company=company, fiscal_year=fiscal_year, name=name).exists():
        errors["name"] = [_("The fiscal year already has a budget of this name.")]
    if fiscal_year.company_id != company.pk:
        errors["fiscal_year"] = [_("Choose a fiscal year of the company.")]
    if cost_centre is not None and (
        cost_centre.company_id != company.pk or cost_centre.kind != DimensionKind.COST_CENTRE
    ):
        errors["cost_centre"] = [_("Choose a cost centre of the company.")]
    try:
        _check_owner(company, owner)
        values = _clean_thresholds(thresholds)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return Budget.objects.create(
        company=company, name=name, fiscal_year=fiscal_year, cost_centre=cost_centre, owner=owner, thresholds=values
    )


@transaction.atomic
def budget_update(*, budget: Budget, by: User | None = None, **changes) -> Budget:
    """Change name, owner, thresholds or ``is_active`` (the year and cost centre stay: lines depend on them)."""
    unknown = set(changes) - {"name", "owner", "thresholds", "is_active"}
    if unknown:
        raise TypeError(f"budget_update: unknown fields {sorted(unknown)}")
    if "thresholds" in changes:
        changes["thresholds"] = _clean_thresholds(changes["thresholds"])
    if "owner" in changes:
        _check_owner(budget.company, changes["owner"])
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
        if not changes["name"]:
            raise ValidationError({"name": [_("This field is required.")]})
    for field, value in changes.items():
        setattr(budget, field, value)
    budget.save(update_fields=[*changes, "updated_at"])
    return budget


@transaction.atomic
def budget_line_set(
    *, budget: Budget, account: Account, period: FiscalPeriod, amount, by: User | None = None
) -> BudgetLine:
    """Set the amount budgeted for ``account`` in ``period`` (creating the line or changing it). Alerts already
    sent stay; a higher amount makes the next crossing of a threshold count again only for new thresholds."""
    errors: dict[str, list] = {}
    if account.company_id != budget.company_id:
        errors["account"] = [_("Choose an account of the company.")]
    if period.company_id != budget.company_id or period.fiscal_year_id != budget.fiscal_year_id:
        errors["period"] = [_("Choose a period of the budget's fiscal year.")]
    try:
        value = Decimal(str(amount))
        if not value.is_finite() or value < 0 or value != value.quantize(CENT) or value > Decimal("1e16"):
            raise ValueError
    except (ArithmeticError, ValueError):
        errors["amount"] = [_("Enter an amount of zero or more with at most 2 decimal places.")]
    if errors:
        raise ValidationError(errors)
    line, _created = BudgetLine.objects.update_or_create(
        budget=budget, account=account, period=period, defaults={"company_id": budget.company_id, "amount": value}
    )
    return line


@transaction.atomic
def budget_line_delete(*, line: BudgetLine, by: User | None = None) -> None:
    line.delete()


def _affected_lines(company_id: int, entry_ids: Iterable[int]) -> list[BudgetLine]:
    """Active budget lines whose account (or a sub-account) and period the entries' lines touch."""
    touched = set(
        JournalLine.objects.filter(entry_id__in=list(entry_ids), entry__state="posted")
        .values_list("account_id", "entry__period_id")
        .distinct()
    )
    if not touched:
        return []
    periods = {period for _account, period in touched}
    chart = dict(Account.objects.filter(company_id=company_id).values_list("pk", "parent_id"))
    reach: set[tuple[int, int]] = set()
    for account_id, period_id in touched:
        node, seen = account_id, set()
        while node is not None and node not in seen:
            seen.add(node)
            reach.add((node, period_id))
            node = chart.get(node)
    candidates = BudgetLine.objects.filter(
        company_id=company_id,
        period_id__in=periods,
        account_id__in={a for a, _p in reach},
        budget__is_active=True,
    ).select_related("budget", "account", "period")
    return [line for line in candidates if (line.account_id, line.period_id) in reach]


@transaction.atomic
def budget_alerts_check(*, company_id: int, entry_ids: Iterable[int]) -> list[BudgetAlert]:
    """Alert the owners of the budget lines the entries touched whose actual has reached a threshold for the
    first time (a notification in the owner's language). Returns the alerts created now (none on a repeated
    call). Publishes ``erp.budget.threshold_crossed`` per alert."""
    entry_ids = list(entry_ids)
    if not entry_ids or not BudgetLine.objects.filter(company_id=company_id, budget__is_active=True).exists():
        return []
    lines = _affected_lines(company_id, entry_ids)
    if not lines:
        return []
    actuals = budget_line_actuals(lines)
    company = Company.objects.get(pk=company_id)
    entry_id = max(entry_ids)
    created: list[BudgetAlert] = []
    for line in lines:
        actual = actuals.get(line.pk, ZERO)
        for threshold in line.budget.thresholds:
            reached = actual > 0 if line.amount == 0 else actual * 100 >= line.amount * threshold
            if reached and (alert := _alert_once(line, threshold, actual, entry_id)) is not None:
                created.append(alert)
    for alert in created:
        line = alert.line
        events.publish(
            erp_events.BUDGET_THRESHOLD_CROSSED,
            erp_events.budget_threshold_crossed_payload(alert, line),
            company_id=company_id,
        )
        if line.budget.owner_id:
            notification_send(
                recipients=[line.budget.owner_id],
                company=company,
                title=lambda line=line, alert=alert: (
                    gettext("Budget %(budget)s: %(account)s has used %(threshold)s%% in %(period)s")
                    % {
                        "budget": line.budget.name,
                        "account": f"{line.account.code} {line.account.name}",
                        "threshold": alert.threshold,
                        "period": line.period.name,
                    }
                ),
                body=lambda alert=alert: (
                    gettext("Actual %(actual)s of %(budgeted)s budgeted.")
                    % {"actual": alert.actual, "budgeted": alert.budgeted}
                ),
                link=f"/erp/budgets/{line.budget_id}/",
                level="warning",
            )
    return created


def _alert_once(line: BudgetLine, threshold: int, actual: Decimal, entry_id: int) -> BudgetAlert | None:
    """Insert the alert of (line, threshold) unless it exists (also one a concurrent transaction is writing:
    the unique index makes it wait); the new alert, or None."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO erp_budgetalert (company_id, created_at, updated_at, line_id, threshold, budgeted, actual,
                                         entry_id)
            VALUES (%s, now(), now(), %s, %s, %s, %s, %s)
            ON CONFLICT (line_id, threshold) DO NOTHING
            RETURNING id
            """,
            [line.company_id, line.pk, threshold, line.amount, actual, entry_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    alert = BudgetAlert(
        pk=row[0],
        company_id=line.company_id,
        line=line,
        threshold=threshold,
        budgeted=line.amount,
        actual=actual,
        entry_id=entry_id,
    )
    return alert


# ---------------------------------------------------------------- cash-flow mapping


@transaction.atomic
def cash_flow_mapping_set(
    *, company: Company, account: Account, inflow_line: str, outflow_line: str, by: User | None = None
) -> CashFlowMapping:
    """Map the cash movements against ``account`` (and its sub-accounts) to the cash-flow lines (overrides the
    CAS defaults). A cash account itself cannot be mapped: transfers between cash accounts are no cash flow."""
    errors: dict[str, list] = {}
    if account.company_id != company.pk:
        errors["account"] = [_("Choose an account of the company.")]
    elif account.is_cash:
        errors["account"] = [_("A cash account has no cash-flow line: its movements are the cash flows.")]
    for name, value in (("inflow_line", inflow_line), ("outflow_line", outflow_line)):
        if value not in CashFlowLine.values:
            errors[name] = [_("Choose a line of the cash-flow statement.")]
    if errors:
        raise ValidationError(errors)
    mapping, _created = CashFlowMapping.objects.update_or_create(
        company=company, account=account, defaults={"inflow_line": inflow_line, "outflow_line": outflow_line}
    )
    return mapping


@transaction.atomic
def cash_flow_mapping_delete(*, mapping: CashFlowMapping, by: User | None = None) -> None:
    """Back to the CAS default for the account."""
    mapping.delete()
