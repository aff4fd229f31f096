"""``/api/v1/suite/notifications/``: the caller's own notifications in the company they act in; mark read."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from suite.api.serializers import InputSerializer, OutputSerializer
from suite.api.viewsets import TenantReadOnlyViewSet
from suite.models import Notification
from suite.services.notifications import notification_mark_read


class NotificationSerializer(OutputSerializer):
    is_read = serializers.BooleanField(read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "title", "body", "link", "level", "created_at", "read_at", "is_read"]
        read_only_fields = fields


class MarkReadInput(InputSerializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=500,
        help_text="Notifications to mark read; leave out to mark all of them.",
    )


class NotificationFilter(django_filters.FilterSet):
    unread = django_filters.BooleanFilter(field_name="read_at", lookup_expr="isnull", label=_("unread"))
    level = django_filters.ChoiceFilter(choices=Notification.Level.choices)

    class Meta:
        model = Notification
        fields = ["unread", "level"]


class NotificationViewSet(TenantReadOnlyViewSet):
    """The caller's notifications (only their own, only in the company they act in), newest first.

    ``?unread=true`` lists the unread ones. ``POST {id}/read/`` marks one read; ``POST read/`` marks the given
    ``ids`` (or all) read."""

    queryset = Notification.objects.all()
    output_serializer_class = NotificationSerializer
    filterset_class = NotificationFilter
    search_fields = ("title", "body")
    ordering_fields = ("created_at",)
    ordering = ("-created_at", "-id")
    policy_actions = {"mark_read": "change", "mark_all_read": "change"}

    @extend_schema(request=None, responses={200: NotificationSerializer})
    @action(detail=True, methods=["post"], url_path="read")
    def mark_read(self, request, pk=None):
        """Mark this notification read (reading it twice changes nothing)."""
        notification = self.get_object()
        notification_mark_read(user=request.user, company=self.actor.company_id, ids=[notification.pk])
        return Response(self.output(notification))

    @extend_schema(
        request=MarkReadInput,
        responses={200: inline_serializer("MarkedRead", {"marked": serializers.IntegerField()})},
    )
    @action(detail=False, methods=["post"], url_path="read")
    def mark_all_read(self, request):
        """Mark the given ``ids`` (or, without ``ids``, all unread notifications) read; ids of others'
        notifications are ignored."""
        serializer = MarkReadInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = serializer.validated_data.get("ids")
        marked = notification_mark_read(user=request.user, company=self.actor.company_id, ids=ids)
        return Response({"marked": marked})
