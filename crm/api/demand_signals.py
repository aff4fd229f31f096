"""Demand signals for ERP's MRP on demand (closed loop, issue #7, flows 7 and 10):
``POST /api/v1/crm/demand-signals/publish/`` publishes the weighted pipeline (``crm.pipeline_forecast.published``)
and the intent snapshot (``crm.intent_snapshot.published``) now instead of waiting for the daily beat. Pipeline
administrators only (the snapshots cover every deal of the company)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.models import Pipeline
from crm.services.demand_signals import intent_snapshot_publish, pipeline_forecast_publish
from suite.api.permissions import PolicyPermission, request_actor


class PublishedSnapshotOutput(serializers.Serializer):
    event = serializers.CharField(help_text="The event's name.")
    event_id = serializers.UUIDField(help_text="Its uuid; also the correlation id to trace at /ops/trace/<uuid>/.")
    count = serializers.IntegerField(help_text="Forecast lines (pipeline) or intent tags (intents) in the snapshot.")


class DemandSignalsPublishOutput(serializers.Serializer):
    pipeline = PublishedSnapshotOutput()
    intents = PublishedSnapshotOutput()


class DemandSignalsPublishView(APIView):
    """Publish the company's weighted pipeline and intent snapshot for ERP's MRP now."""

    permission_classes = [PolicyPermission]
    policy_model = Pipeline
    policy_action = "change"

    @extend_schema(request=None, responses={200: DemandSignalsPublishOutput})
    def post(self, request):
        actor = request_actor(request)
        pipeline = pipeline_forecast_publish(company=actor.company, by=actor.user)
        intents = intent_snapshot_publish(company=actor.company, by=actor.user)
        return Response(
            {
                "pipeline": {
                    "event": pipeline.name,
                    "event_id": pipeline.uuid,
                    "count": len(pipeline.payload["lines"]),
                },
                "intents": {"event": intents.name, "event_id": intents.uuid, "count": len(intents.payload["intents"])},
            }
        )
