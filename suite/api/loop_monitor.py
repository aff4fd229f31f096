"""The loop monitor over the API (issue #7, "Loop visibility"): what ``/ops/loop/`` shows, and its retry button.

    GET  /api/v1/events/monitor/?minutes=60            events per type per minute, lag p50/p95, failures, dead letters
    POST /api/v1/events/dead-letters/<id>/retry/       put a dead letter (or an event backing off) back in the queue

Administrators and managers of the company acted in only (the page's roles: ``LoopViewerPermission``; anyone else
403); everything is scoped to that company: another company's event is a 404 like a missing one.
"""

from __future__ import annotations

from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from suite.api.loop import LoopViewerPermission
from suite.api.permissions import request_actor
from suite.events import selectors as event_selectors
from suite.models.outbox import OutboxEvent
from suite.services.loop import RetryRefused, dead_letter_retry

MAX_MINUTES = 24 * 60


class MonitorQuery(serializers.Serializer):
    minutes = serializers.IntegerField(
        required=False,
        default=60,
        min_value=1,
        max_value=MAX_MINUTES,
        help_text=_("The window, in minutes back from now (1 to 1440; default 60)."),
    )


class EventTypeRateSerializer(serializers.Serializer):
    name = serializers.CharField()
    total = serializers.IntegerField()
    peak = serializers.IntegerField(help_text="the busiest minute's count")
    per_minute = serializers.ListField(
        child=serializers.IntegerField(), help_text="events created per minute, oldest minute first (minutes + 1)"
    )


class FailingRunSerializer(serializers.Serializer):
    event_id = serializers.IntegerField()
    event_name = serializers.CharField()
    correlation_id = serializers.UUIDField()
    handler = serializers.CharField()
    status = serializers.CharField(help_text="failed (will retry) or dead")
    attempts = serializers.IntegerField()
    finished_at = serializers.DateTimeField()
    error = serializers.CharField(allow_blank=True)


class DeadLetterSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    uuid = serializers.UUIDField()
    name = serializers.CharField()
    correlation_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    attempts = serializers.IntegerField()
    last_error = serializers.CharField(allow_blank=True)
    retry_url = serializers.SerializerMethodField()

    def get_retry_url(self, event) -> str:
        return f"/api/v1/events/dead-letters/{event.pk}/retry/"


class LoopMonitorSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    minutes = serializers.IntegerField()
    delivered = serializers.IntegerField(help_text="events of the window delivered")
    lag_p50_ms = serializers.IntegerField(allow_null=True, help_text="created_at → delivered_at, median")
    lag_p95_ms = serializers.IntegerField(allow_null=True, help_text="created_at → delivered_at, 95th percentile")
    pending = serializers.IntegerField(help_text="events of the window not delivered yet")
    rates = EventTypeRateSerializer(many=True)
    failing = FailingRunSerializer(many=True, help_text="latest failing or dead handler runs (at most 50)")
    dead_letters = DeadLetterSerializer(many=True, help_text="dead events, newest first (at most 50)")


class RetriedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    correlation_id = serializers.UUIDField()
    state = serializers.CharField(help_text="pending: queued again; done: it had been delivered, nothing changed")
    attempts = serializers.IntegerField()


class LoopMonitorView(APIView):
    """The loop's health for the company: events per type per minute, relay lag p50/p95, failures, dead letters."""

    permission_classes = [LoopViewerPermission]

    @extend_schema(parameters=[MonitorQuery], responses=LoopMonitorSerializer, operation_id="events_monitor_retrieve")
    def get(self, request):
        query = MonitorQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        actor = request_actor(request)
        data = event_selectors.loop_monitor(company=actor.company_id, minutes=query.validated_data["minutes"])
        return Response(LoopMonitorSerializer(data).data)


class DeadLetterRetryView(APIView):
    """Retry one dead letter (or an event backing off) of the company: it is queued again with a fresh set of
    tries, and ``suite.event.retried`` records who did it (same rule as the monitor page's retry button)."""

    permission_classes = [LoopViewerPermission]

    @extend_schema(request=None, responses=RetriedSerializer, operation_id="events_dead_letters_retry")
    def post(self, request, pk: int):
        try:
            event = dead_letter_retry(actor=request_actor(request), event_id=pk)
        except (OutboxEvent.DoesNotExist, RetryRefused):
            raise Http404 from None
        return Response(RetriedSerializer(event).data)
