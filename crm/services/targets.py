"""Writes of sales targets (issue #7): set (create or replace) and delete, validated, in one transaction."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from crm.models import SalesTarget
from suite.models import Membership, Team

User = get_user_model()


def _clean(*, company_id: int, team: Team | None, owner, month, amount) -> tuple[date, Decimal]:
    errors: dict[str, list] = {}
    if team is None or team.company_id != company_id:
        errors["team"] = [_("Choose a team of the company.")]
    if owner is not None and not Membership.objects.filter(company_id=company_id, user=owner, is_active=True).exists():
        errors["owner"] = [_("Choose a member of the company.")]
    if not isinstance(month, date):
        errors["month"] = [_("Give the month.")]
    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
        if value < 0 or not value.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError, TypeError):
        errors["amount"] = [_("Enter an amount of zero or more.")]
        value = Decimal(0)
    if errors:
        raise ValidationError(errors)
    return month.replace(day=1), value


@transaction.atomic
def sales_target_set(*, company_id: int, team: Team, month: date, amount, owner=None, by=None) -> SalesTarget:
    """Set the target of ``team`` (or of ``owner`` in it) for the month of ``month``: created, or replaced."""
    month, value = _clean(company_id=company_id, team=team, owner=owner, month=month, amount=amount)
    target, _created = SalesTarget.objects.select_for_update().update_or_create(
        company_id=company_id, team=team, owner=owner, month=month, defaults={"amount": value}
    )
    return target


@transaction.atomic
def sales_target_update(*, target: SalesTarget, by=None, **fields) -> SalesTarget:
    allowed = {"amount", "month"}
    if set(fields) - allowed:
        raise TypeError(f"unknown target fields: {', '.join(sorted(set(fields) - allowed))}")
    target = SalesTarget.objects.select_for_update().get(pk=target.pk)
    month, value = _clean(
        company_id=target.company_id,
        team=target.team,
        owner=target.owner,
        month=fields.get("month", target.month),
        amount=fields.get("amount", target.amount),
    )
    clash = SalesTarget.objects.filter(team=target.team, owner=target.owner, month=month).exclude(pk=target.pk)
    if clash.exists():
        raise ValidationError({"month": [_("This team already has a target for that month.")]})
    target.month, target.amount = month, value
    target.save(update_fields=["month", "amount", "updated_at"])
    return target


@transaction.atomic
def sales_target_delete(*, target: SalesTarget, by=None) -> None:
    SalesTarget.objects.filter(pk=target.pk).delete()
