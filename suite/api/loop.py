"""``GET /api/v1/events/trace/<uuid>/``: every event of one correlation id with its handler runs (issue #7).

Administrators and managers only; company-scoped: a correlation id of another company (or none at all) is a 404.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from suite.api.permissions import request_actor
from suite.events import selectors as event_selectors
from suite.models import Role

LOOP_ROLES = frozenset({Role.ADMIN, Role.MANAGER})


class LoopViewerPermission(permissions.BasePermission):
    """Authenticated, acting in a company, as its administrator or a manager."""

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        actor = request_actor(request)
        return actor is not None and actor.role in LOOP_ROLES


class TraceRunSerializer(serializers.Serializer):
    handler = serializers.CharField()
    status = serializers.CharField(help_text="done, skipped (module disabled), failed, dead or pending")
    attempts = serializers.IntegerField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)


class TraceEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    uuid = serializers.UUIDField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    app = serializers.CharField()
    state = serializers.CharField(help_text="pending, done or dead")
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    lag_ms = serializers.IntegerField(allow_null=True, help_text="created_at → delivered_at")
    attempts = serializers.IntegerField()
    last_error = serializers.CharField(allow_blank=True)
    payload = serializers.JSONField()
    runs = TraceRunSerializer(many=True)


class TraceSerializer(serializers.Serializer):
    correlation_id = serializers.UUIDField()
    count = serializers.IntegerField()
    events = TraceEventSerializer(many=True)


class TraceView(APIView):
    """Every event of the correlation id, oldest first, with each handler's runs (duration and outcome)."""

    permission_classes = [LoopViewerPermission]

    @extend_schema(responses=TraceSerializer, operation_id="events_trace_retrieve")
    def get(self, request, correlation_id):
        actor = request_actor(request)
        found = event_selectors.trace(correlation_id, company=actor.company_id)
        if not found:
            raise Http404
        return Response(TraceSerializer({"correlation_id": correlation_id, "count": len(found), "events": found}).data)
