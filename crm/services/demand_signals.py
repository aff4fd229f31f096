"""CRM's demand signals for ERP's MRP (closed loop, issue #7):

* flow 7 — ``pipeline_forecast_publish``: the weighted pipeline per ERP product and month (open opportunities'
  line quantities × their stage's win probability, by expected close month) as ``crm.pipeline_forecast.published``;
* flow 10 — ``intent_snapshot_publish``: per ``intent:<SKU>`` tag, the live contacts carrying it (SCRM's auto-tag
  rules put them there from social conversations) as ``crm.intent_snapshot.published``.

Both are snapshots: ERP replaces its forecast of that source with each one (``erp/events_forecasting.py``).
Beat publishes them daily for every company (``crm.demand_signals_publish``); the API publishes on demand.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.models import ContactTag, OpportunityLine, OpportunityStatus, Tag
from suite import events
from suite.models import Company, OutboxEvent

if TYPE_CHECKING:
    from django.contrib.auth.models import User

PIPELINE_FORECAST_PUBLISHED = "crm.pipeline_forecast.published"
INTENT_SNAPSHOT_PUBLISHED = "crm.intent_snapshot.published"
INTENT_PREFIX = "intent:"
QUANTUM = Decimal("0.0001")


def _snapshot_at() -> str:
    return timezone.now().astimezone(dt.UTC).isoformat()


def pipeline_forecast(*, company_id: int, today: date | None = None) -> list[dict]:
    """The weighted pipeline per product and month: ``[{"product_id", "sku", "month" ("2026-12"), "quantity"
    (decimal string), "opportunity_ids"}]``. An open deal without an expected close date, or one already past
    it, counts in the current month. One query."""
    this_month = (today or timezone.localdate()).replace(day=1)
    buckets: dict[tuple[int, date], list] = {}
    for product_id, sku, quantity, probability, closing, opportunity_id in (
        OpportunityLine.objects.filter(
            company_id=company_id, opportunity__status=OpportunityStatus.OPEN, opportunity__stage__probability__gt=0
        )
        .annotate(probability=F("opportunity__stage__probability"), closing=F("opportunity__expected_close_date"))
        .order_by("product_id", "opportunity_id", "pk")
        .values_list("product_id", "sku", "quantity", "probability", "closing", "opportunity_id")
    ):
        month = max(closing.replace(day=1), this_month) if closing else this_month
        bucket = buckets.setdefault((product_id, month), [sku, Decimal("0"), set()])
        bucket[1] += quantity * probability / Decimal(100)
        bucket[2].add(opportunity_id)
    return [
        {
            "product_id": product_id,
            "sku": sku,
            "month": f"{month:%Y-%m}",
            "quantity": str(quantity.quantize(QUANTUM)),
            "opportunity_ids": sorted(ids),
        }
        for (product_id, month), (sku, quantity, ids) in sorted(buckets.items())
    ]


@transaction.atomic
def pipeline_forecast_publish(*, company: Company, by: User | None = None) -> OutboxEvent:
    """Publish the weighted pipeline (``pipeline_forecast``) as ``crm.pipeline_forecast.published`` v1:
    ``snapshot_at`` (UTC ISO time), ``lines``. Locks nothing; every call is a new snapshot."""
    payload = {"snapshot_at": _snapshot_at(), "lines": pipeline_forecast(company_id=company.pk)}
    return events.publish(PIPELINE_FORECAST_PUBLISHED, payload, company_id=company.pk, by=by)


def intent_snapshot(*, company_id: int) -> list[dict]:
    """Per tag named ``intent:<SKU>`` (case-insensitive prefix), the live (not merged) contacts carrying it:
    ``[{"sku", "tag_id", "tag", "customers", "contact_ids"}]``. Two queries."""
    tags = {
        tag.pk: tag
        for tag in Tag.objects.filter(company_id=company_id, name__istartswith=INTENT_PREFIX).only("pk", "name")
    }
    contacts: dict[int, list[int]] = defaultdict(list)
    for tag_id, contact_id in (
        ContactTag.objects.filter(tag_id__in=list(tags), contact__merged_into__isnull=True)
        .order_by("tag_id", "contact_id")
        .values_list("tag_id", "contact_id")
    ):
        contacts[tag_id].append(contact_id)
    return [
        {
            "sku": tags[tag_id].name[len(INTENT_PREFIX) :].strip(),
            "tag_id": tag_id,
            "tag": tags[tag_id].name,
            "customers": len(ids),
            "contact_ids": ids,
        }
        for tag_id, ids in sorted(contacts.items())
        if tags[tag_id].name[len(INTENT_PREFIX) :].strip()
    ]


@transaction.atomic
def intent_snapshot_publish(*, company: Company, by: User | None = None) -> OutboxEvent:
    """Publish the customers with a purchase intent per SKU (``intent_snapshot``) as
    ``crm.intent_snapshot.published`` v1: ``snapshot_at``, ``intents``. Every call is a new snapshot."""
    payload = {"snapshot_at": _snapshot_at(), "intents": intent_snapshot(company_id=company.pk)}
    return events.publish(INTENT_SNAPSHOT_PUBLISHED, payload, company_id=company.pk, by=by)


def demand_signals_publish_all() -> int:
    """Beat (daily): both snapshots for every company with open deals or intent tags; returns the companies."""
    company_ids = set(
        OpportunityLine.objects.filter(opportunity__status=OpportunityStatus.OPEN)
        .values_list("company_id", flat=True)
        .distinct()
    ) | set(Tag.objects.filter(name__istartswith=INTENT_PREFIX).values_list("company_id", flat=True).distinct())
    for company in Company.objects.filter(pk__in=company_ids).order_by("pk"):
        pipeline_forecast_publish(company=company)
        intent_snapshot_publish(company=company)
    return len(company_ids)
