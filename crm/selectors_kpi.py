"""Per-person CRM figures for other apps' KPIs (ERP HR performance goals read them through this module).

Company-wide reads by design: the caller (HR's goal computation) decides who may see the result; nothing here
returns a customer or a record, only three numbers per person and period.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from crm.models import Activity, Opportunity, Ticket
from crm.models.opportunities import OpportunityStatus

ZERO = Decimal("0.00")


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_current_timezone()
    return (
        dt.datetime.combine(start, dt.time.min, tzinfo=tz),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz),
    )


def won_revenue(*, company_id: int, user_id: int, start: dt.date, end: dt.date) -> Decimal:
    """Sum of the amounts of the opportunities ``user_id`` owns that were won between ``start`` and ``end``."""
    since, until = _bounds(start, end)
    total = Opportunity.objects.filter(
        company_id=company_id,
        owner_id=user_id,
        status=OpportunityStatus.WON,
        closed_at__gte=since,
        closed_at__lt=until,
    ).aggregate(total=Sum("amount"))["total"]
    return total or ZERO


def activities_done(*, company_id: int, user_id: int, start: dt.date, end: dt.date) -> Decimal:
    """How many activities ``user_id`` owns were done between ``start`` and ``end``."""
    since, until = _bounds(start, end)
    count = Activity.objects.filter(
        company_id=company_id, owner_id=user_id, done_at__gte=since, done_at__lt=until
    ).count()
    return Decimal(count)


def sla_attainment(*, company_id: int, user_id: int, start: dt.date, end: dt.date) -> Decimal | None:
    """Percentage (0–100, one decimal) of the tickets assigned to ``user_id`` and resolved in the period that
    breached neither the first-response nor the resolution SLA; ``None`` when none was resolved."""
    since, until = _bounds(start, end)
    row = Ticket.objects.filter(
        company_id=company_id, assigned_agent_id=user_id, resolved_at__gte=since, resolved_at__lt=until
    ).aggregate(
        total=Count("id"),
        kept=Count("id", filter=Q(first_response_breached_at__isnull=True, resolution_breached_at__isnull=True)),
    )
    if not row["total"]:
        return None
    return (Decimal(row["kept"]) * 100 / Decimal(row["total"])).quantize(Decimal("0.1"))
