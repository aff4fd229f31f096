"""Demand signals → MRP forecasts (closed loop, issue #7): CRM's weighted pipeline (flow 7) and its customers'
social purchase intents (flow 10) become ``DemandForecast`` lines of the sources ``crm_pipeline`` and
``social_intent``, replaced as a whole per snapshot (``erp.services.mrp.forecast_lines_replace``), each line
keeping in ``reference`` the opportunities or customers behind it, then ``erp.demand_forecast.replaced`` is published
(nothing is written or published when the source already holds exactly those lines). MRP nets forecasts against
the month's orders.

Both appliers take a transaction-scoped advisory try-lock per company and source: a second applier of the same
source (a parallel relay, an operator's retry) fails at once with ``ForecastBusy`` and the relay retries it later.
A snapshot older than the one already applied changes nothing, so a late redelivery never rolls the plan back."""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from erp.models import DemandForecast, ForecastSettings, Product
from erp.services import inventory as inv
from erp.services.mrp import forecast_lines_replace
from suite import events
from suite.models import Company

PIPELINE_SOURCE = "crm_pipeline"
INTENT_SOURCE = "social_intent"
IDS_KEPT = 200  # the ids stored per line (the count is kept too)
QUANTUM = Decimal("0.0001")
DEMAND_FORECAST_REPLACED = "erp.demand_forecast.replaced"


class ForecastBusy(RuntimeError):
    """Another transaction is replacing the same forecast source of the company; the relay retries."""


def _lock(company_id: int, source: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [f"erp.forecast:{company_id}:{source}"])
        if not cursor.fetchone()[0]:
            raise ForecastBusy(f"forecast {source} of company {company_id} is being replaced")


def _stale(company_id: int, source: str, snapshot_at: dt.datetime | None) -> bool:
    """True when a newer snapshot of ``source`` is already applied."""
    if snapshot_at is None:
        return False
    applied = (
        DemandForecast.objects.filter(company_id=company_id, source=source)
        .values_list("reference__snapshot_at", flat=True)
        .order_by()
        .distinct()
    )
    return any((parse_datetime(value) or snapshot_at) > snapshot_at for value in applied if isinstance(value, str))


def _snapshot_time(payload: dict) -> dt.datetime | None:
    value = payload.get("snapshot_at")
    return parse_datetime(value) if isinstance(value, str) else None


# ---------------------------------------------------------------- settings


def forecast_settings_of(company: Company | int) -> ForecastSettings:
    """The company's forecast rules (defaults: 0.1 unit per intent, 30 days ahead) — not saved when unset."""
    company_id = getattr(company, "pk", company)
    return ForecastSettings.objects.filter(company_id=company_id).first() or ForecastSettings(company_id=company_id)


@transaction.atomic
def forecast_settings_set(
    *, company: Company, intent_conversion_rate=None, intent_horizon_days=None, by=None
) -> ForecastSettings:
    """Set the intent conversion rate (units per intent customer, 0 to 10, four decimals) and horizon (1 to 365
    days). Locks the company's settings row."""
    settings, _created = ForecastSettings.objects.select_for_update().get_or_create(company=company)
    errors: dict = {}
    if intent_conversion_rate is not None:
        rate = inv._decimal(
            intent_conversion_rate, field="intent_conversion_rate", errors=errors, places=4, positive=False
        )
        if rate is not None and not Decimal("0") <= rate <= Decimal("10"):
            errors["intent_conversion_rate"] = [_("Between 0 and 10.")]
        settings.intent_conversion_rate = rate
    if intent_horizon_days is not None:
        if not isinstance(intent_horizon_days, int) or not 1 <= intent_horizon_days <= 365:
            errors["intent_horizon_days"] = [_("Between 1 and 365 days.")]
        else:
            settings.intent_horizon_days = intent_horizon_days
    inv._raise(errors)
    settings.save()
    return settings


# ---------------------------------------------------------------- flow 7: pipeline


@transaction.atomic
def pipeline_forecast_apply(*, company_id: int, payload: dict) -> int:
    """Replace the ``crm_pipeline`` forecast with a ``crm.pipeline_forecast.published`` snapshot: one line per
    product and month (dated the month's first day; MRP counts the current month from today), quantity = Σ open
    opportunities' line quantity × stage probability, the opportunities in ``reference``. Products unknown to
    the company are ignored. Returns the lines stored (0 and nothing changed for a stale snapshot)."""
    _lock(company_id, PIPELINE_SOURCE)
    snapshot_at = _snapshot_time(payload)
    if _stale(company_id, PIPELINE_SOURCE, snapshot_at):
        return 0
    known = _known_products(company_id, {line.get("product_id") for line in payload.get("lines", [])})
    lines = []
    for line in payload.get("lines", []):
        quantity = Decimal(str(line.get("quantity") or "0")).quantize(QUANTUM, rounding=ROUND_HALF_UP)
        if line.get("product_id") not in known or quantity <= 0:
            continue
        ids = list(line.get("opportunity_ids") or [])
        lines.append(
            {
                "product": line["product_id"],
                "date": dt.date.fromisoformat(f"{line['month']}-01"),
                "quantity": quantity,
                "note": _("%(count)d open opportunities (weighted)") % {"count": len(ids)},
                "reference": {
                    "snapshot_at": payload.get("snapshot_at"),
                    "opportunities": len(ids),
                    "opportunity_ids": ids[:IDS_KEPT],
                },
            }
        )
    return _replace(company_id, PIPELINE_SOURCE, lines, payload)


# ---------------------------------------------------------------- flow 10: social intent


@transaction.atomic
def intent_forecast_apply(*, company_id: int, payload: dict) -> int:
    """Replace the ``social_intent`` forecast with a ``crm.intent_snapshot.published`` snapshot: per SKU, the
    customers tagged ``intent:<SKU>`` × the company's conversion rate, due ``intent_horizon_days`` after the
    snapshot; the customers (count and CRM contact ids) in ``reference``. SKUs unknown to ERP are ignored."""
    _lock(company_id, INTENT_SOURCE)
    snapshot_at = _snapshot_time(payload)
    if _stale(company_id, INTENT_SOURCE, snapshot_at):
        return 0
    settings = forecast_settings_of(company_id)
    rate = settings.intent_conversion_rate
    day = timezone.localdate(snapshot_at) if snapshot_at else timezone.localdate()
    due = day + dt.timedelta(days=settings.intent_horizon_days)
    intents = payload.get("intents", [])
    by_sku = dict(
        Product.objects.filter(company_id=company_id, sku__in=[i.get("sku") for i in intents]).values_list("sku", "pk")
    )
    lines = []
    for intent in intents:
        customers = int(intent.get("customers") or 0)
        quantity = (Decimal(customers) * rate).quantize(QUANTUM, rounding=ROUND_HALF_UP)
        if intent.get("sku") not in by_sku or quantity <= 0:
            continue
        lines.append(
            {
                "product": by_sku[intent["sku"]],
                "date": due,
                "quantity": quantity,
                "note": _("%(count)d customers with intent × %(rate)s") % {"count": customers, "rate": rate},
                "reference": {
                    "snapshot_at": payload.get("snapshot_at"),
                    "tag": intent.get("tag", ""),
                    "customers": customers,
                    "contact_ids": list(intent.get("contact_ids") or [])[:IDS_KEPT],
                    "conversion_rate": str(rate),
                },
            }
        )
    return _replace(company_id, INTENT_SOURCE, lines, payload)


def _replace(company_id: int, source: str, lines: list[dict], payload: dict) -> int:
    """Store ``lines`` as the whole forecast of ``source`` unless it already holds exactly them (then nothing is
    written or published: a re-run is a no-op); publishes ``erp.demand_forecast.replaced`` after a change."""
    wanted = sorted(
        (int(line["product"]), line["date"], Decimal(line["quantity"]).quantize(QUANTUM), _json(line["reference"]))
        for line in lines
    )
    held = sorted(
        (product_id, day, quantity.quantize(QUANTUM), _json(reference))
        for product_id, day, quantity, reference in DemandForecast.objects.filter(
            company_id=company_id, source=source
        ).values_list("product_id", "date", "quantity", "reference")
    )
    if wanted == held:
        return len(held)
    count = forecast_lines_replace(company=Company.objects.get(pk=company_id), source=source, lines=lines)
    total = sum((Decimal(line["quantity"]) for line in lines), Decimal("0"))
    events.publish(
        DEMAND_FORECAST_REPLACED,
        {
            "source": source,
            "snapshot_at": payload.get("snapshot_at"),
            "lines": count,
            "total_quantity": str(total.quantize(QUANTUM)),
            "product_ids": sorted({int(line["product"]) for line in lines}),
        },
        company_id=company_id,
    )
    return count


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _known_products(company_id: int, ids: set) -> set[int]:
    ids = {i for i in ids if isinstance(i, int)}
    if not ids:
        return set()
    return set(Product.objects.filter(company_id=company_id, pk__in=ids).values_list("pk", flat=True))
