"""Forecast settings (closed loop, issue #7, flow 10): ``/api/v1/erp/forecast-settings/`` — the company's intent
conversion rate and horizon (list: the company's one row, if set; ``set/``: change them)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from erp.api.inventory import InventoryViewSetMixin
from erp.models import ForecastSettings
from erp.services import forecasting
from suite.api.serializers import InputSerializer, OutputSerializer
from suite.api.viewsets import TenantReadOnlyViewSet


class ForecastSettingsOutput(OutputSerializer):
    class Meta:
        model = ForecastSettings
        fields = ["id", "intent_conversion_rate", "intent_horizon_days"]
        read_only_fields = fields


class ForecastSettingsInput(InputSerializer):
    intent_conversion_rate = serializers.DecimalField(max_digits=5, decimal_places=4, required=False)
    intent_horizon_days = serializers.IntegerField(required=False)


class ForecastSettingsViewSet(InventoryViewSetMixin, TenantReadOnlyViewSet):
    """How customers' social purchase intents (``intent:<SKU>`` tags) become forecast lines: units per intent
    customer and days ahead. ``set/`` creates or changes the company's settings."""

    queryset = ForecastSettings.objects.all()
    output_serializer_class = ForecastSettingsOutput
    ordering = ("id",)
    policy_actions = {"set_settings": "change"}

    @extend_schema(request=ForecastSettingsInput, responses={200: ForecastSettingsOutput})
    @action(detail=False, methods=["post"], url_path="set")
    def set_settings(self, request):
        data = self.input(ForecastSettingsInput, request)
        settings = forecasting.forecast_settings_set(company=self.actor.company, by=self.actor.user, **data)
        return Response(self.output(settings))


router = SimpleRouter()
router.register("forecast-settings", ForecastSettingsViewSet, basename="erp-forecast-settings")
urlpatterns = router.urls
