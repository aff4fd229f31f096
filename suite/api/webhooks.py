"""/api/v1/suite/webhooks/ and /api/v1/suite/webhook-deliveries/: outgoing webhook subscriptions of the actor's
company (admins only) and their delivery log (read-only).

The signing secret is in the response to a create and to ``rotate-secret`` only; the company comes from the
actor, never from the body.
"""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from suite.api.serializers import InputSerializer, OutputSerializer
from suite.api.viewsets import TenantModelViewSet, TenantReadOnlyViewSet
from suite.events.registry import EVENT_PATTERN
from suite.models import WebhookDelivery, WebhookSubscription
from suite.services.webhooks import (
    MAX_PATTERNS,
    webhook_subscription_create,
    webhook_subscription_delete,
    webhook_subscription_rotate_secret,
    webhook_subscription_update,
)


class EventPatternField(serializers.CharField):
    default_error_messages = {
        "pattern": _('Use an event name such as "crm.opportunity.won", a prefix "crm.*", or "*".')
    }

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not EVENT_PATTERN.match(value):
            self.fail("pattern")
        return value


class WebhookSubscriptionInput(InputSerializer):
    url = serializers.URLField(max_length=500)
    events = serializers.ListField(child=EventPatternField(max_length=150), min_length=1, max_length=MAX_PATTERNS)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    active = serializers.BooleanField(required=False, default=True)


class WebhookSubscriptionOutput(OutputSerializer):
    events = serializers.ListField(source="event_names", child=serializers.CharField(), read_only=True)

    class Meta:
        model = WebhookSubscription
        fields = ["id", "url", "events", "description", "active", "created_at", "updated_at"]
        read_only_fields = fields


class WebhookSubscriptionWithSecretOutput(WebhookSubscriptionOutput):
    secret = serializers.SerializerMethodField(help_text=_("Shown only now; sign-check deliveries with it."))

    class Meta(WebhookSubscriptionOutput.Meta):
        fields = [*WebhookSubscriptionOutput.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, subscription) -> str:
        return self.context["secret"]


class WebhookDeliveryOutput(OutputSerializer):
    uuid = serializers.UUIDField(read_only=True, help_text=_("The X-Troika-Delivery header of its requests."))
    event_id = serializers.UUIDField(source="event.uuid", read_only=True)
    event_name = serializers.CharField(source="event.name", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "uuid",
            "subscription",
            "event_id",
            "event_name",
            "status",
            "attempts",
            "response_status",
            "response_excerpt",
            "duration_ms",
            "error",
            "next_retry_at",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


class WebhookSubscriptionFilter(django_filters.FilterSet):
    class Meta:
        model = WebhookSubscription
        fields = ["active"]


class WebhookSubscriptionViewSet(TenantModelViewSet):
    """Webhook subscriptions of your company: each matching event is POSTed to ``url`` as JSON, signed with
    ``X-Troika-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">``. Company admins only. The signing secret
    is in the response of ``POST`` and of ``rotate-secret`` only."""

    queryset = WebhookSubscription.objects.all()
    output_serializer_class = WebhookSubscriptionOutput
    input_serializer_class = WebhookSubscriptionInput
    filterset_class = WebhookSubscriptionFilter
    search_fields = ("url", "description")
    ordering_fields = ("id", "created_at", "url")
    ordering = ("-id",)
    policy_actions = {"rotate_secret": "change"}

    def _with_secret(self, subscription, secret: str) -> dict:
        context = {**self.get_serializer_context(), "secret": secret}
        return WebhookSubscriptionWithSecretOutput(subscription, context=context).data

    @extend_schema(request=WebhookSubscriptionInput, responses={201: WebhookSubscriptionWithSecretOutput})
    def create(self, request, *args, **kwargs):
        """Subscribe a URL to events; the response holds the signing secret, shown this once."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = webhook_subscription_create(
            company=self.actor.company, by=self.actor.user, **serializer.validated_data
        )
        return Response(self._with_secret(created.subscription, created.secret), status=status.HTTP_201_CREATED)

    def update_object(self, *, actor, instance, data):
        return webhook_subscription_update(subscription=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        webhook_subscription_delete(subscription=instance, by=actor.user)

    @extend_schema(request=None, responses=WebhookSubscriptionWithSecretOutput)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """Replace the signing secret; the new one is in the response, shown this once."""
        rotated = webhook_subscription_rotate_secret(subscription=self.get_object(), by=self.actor.user)
        return Response(self._with_secret(rotated.subscription, rotated.secret))


class WebhookDeliveryFilter(django_filters.FilterSet):
    # A plain number, not a choice among every subscription: another company's ids must not answer differently.
    subscription = django_filters.NumberFilter(field_name="subscription_id")
    status = django_filters.ChoiceFilter(choices=WebhookDelivery.Status.choices)

    class Meta:
        model = WebhookDelivery
        fields = ["subscription", "status"]


class WebhookDeliveryViewSet(TenantReadOnlyViewSet):
    """The delivery log of your company's webhooks: one entry per (event, subscription) with the latest
    attempt's outcome and the next retry. Company admins only."""

    queryset = WebhookDelivery.objects.select_related("event")
    output_serializer_class = WebhookDeliveryOutput
    filterset_class = WebhookDeliveryFilter
    ordering_fields = ("id", "created_at", "delivered_at")
    ordering = ("-id",)
