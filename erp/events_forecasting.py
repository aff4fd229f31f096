"""Closed loop (issue #7, flows 7 and 10): ERP's handlers of CRM's demand-signal snapshots. Imported at the end of
``erp/events.py`` so every process registers them.

    crm.pipeline_forecast.published ─► erp.forecast_from_pipeline ─► DemandForecast "crm_pipeline" replaced
    crm.intent_snapshot.published ─► erp.forecast_from_social_intent ─► DemandForecast "social_intent" replaced
    (the next MRP run nets them against the month's sales orders)
"""

from __future__ import annotations

from suite import events as _events

PIPELINE_FORECAST_PUBLISHED = "crm.pipeline_forecast.published"
INTENT_SNAPSHOT_PUBLISHED = "crm.intent_snapshot.published"


@_events.handler(PIPELINE_FORECAST_PUBLISHED, name="erp.forecast_from_pipeline", module="erp_production")
def forecast_from_pipeline(event: _events.Event) -> None:
    """The weighted pipeline per product and month replaces the ``crm_pipeline`` forecast (idempotent: the same
    snapshot leaves the same lines; an older one changes nothing)."""
    from erp.services.forecasting import pipeline_forecast_apply

    pipeline_forecast_apply(company_id=event.company_id, payload=event.payload)


@_events.handler(INTENT_SNAPSHOT_PUBLISHED, name="erp.forecast_from_social_intent", module="erp_production")
def forecast_from_social_intent(event: _events.Event) -> None:
    """Customers with an ``intent:<SKU>`` tag × the company's conversion rate replace the ``social_intent``
    forecast (idempotent as above)."""
    from erp.services.forecasting import intent_forecast_apply

    intent_forecast_apply(company_id=event.company_id, payload=event.payload)
