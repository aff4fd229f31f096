"""``GET /api/v1/suite/history/<app_label>.<model>/<pk>/``: the audit trail of one record.

Guarded like the record itself: the model must have a policy, the caller's role may ``view`` it, and the record
must be in the caller's scope — otherwise 404, exactly as for another company's record. Changes of fields the
caller's role may not see (``policy.hidden_fields``) are left out of every entry.
"""

from __future__ import annotations

from django.apps import apps
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from suite import audit, policy
from suite.api.permissions import request_actor

MAX_LIMIT = 500


class ChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class HistoryEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    label = serializers.CharField(help_text="insert, update or delete")
    user_id = serializers.IntegerField(allow_null=True)
    username = serializers.CharField(allow_blank=True)
    source = serializers.CharField(help_text="ui, api, admin, worker, or database (a change made outside the app)")
    changes = ChangeSerializer(many=True)


class HistorySerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = HistoryEntrySerializer(many=True)


def _tracked_model(label: str):
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        raise Http404 from None
    try:
        policy.policy_for(model)
    except LookupError:
        raise Http404 from None
    return model


class HistoryView(APIView):
    """The changes of one record, newest first: who, when, from where, and each field's old → new value."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        parameters=[
            OpenApiParameter("label", OpenApiTypes.STR, OpenApiParameter.PATH, description="`app_label.model`"),
            OpenApiParameter("pk", OpenApiTypes.STR, OpenApiParameter.PATH),
            OpenApiParameter("limit", OpenApiTypes.INT, description=f"At most this many entries (≤ {MAX_LIMIT})."),
        ],
        responses=HistorySerializer,
    )
    def get(self, request, label: str, pk: str):
        actor = request_actor(request)
        model = _tracked_model(label)
        if not policy.can(actor, "view", model):
            raise Http404
        record = policy.get_visible_or_404(actor, model._default_manager.all(), pk=pk)
        try:
            limit = min(max(int(request.query_params.get("limit", 200)), 1), MAX_LIMIT)
        except ValueError:
            raise ValidationError({"limit": ["A whole number is required."]}) from None
        hidden = policy.hidden_fields(actor, model)
        entries = []
        for entry in audit.history_of(record, limit=limit):
            entries.append(
                {
                    "at": entry.at,
                    "label": entry.label,
                    "user_id": entry.user_id,
                    "username": entry.username,
                    "source": entry.source,
                    "changes": [
                        {"field": name, "old": old, "new": new}
                        for name, (old, new) in sorted(entry.changes.items())
                        if name not in hidden and name.removesuffix("_id") not in hidden
                    ],
                }
            )
        return Response(HistorySerializer({"count": len(entries), "results": entries}).data)
