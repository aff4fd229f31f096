"""``/api/v1/dashboards/`` (the dashboards the caller may open) and ``/api/v1/dashboards/<key>/`` (its widgets as
JSON for the same filters as the page: ``date_from``, ``date_to`` or ``preset``, ``team``, ``owner``, ``product``,
``granularity``). Money and other decimals are strings. Unknown or not allowed: 404; bad filters: 400."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from suite import dashboards
from suite.api.permissions import request_actor
from suite.dashboards.forms import PRESETS, FilterForm
from suite.dashboards.render import widget_data


class ActingInCompany(permissions.BasePermission):
    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request_actor(request) is not None)


class DashboardSummarySerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    filters = serializers.ListField(child=serializers.CharField(), help_text="period, team, owner, product")
    url = serializers.CharField(help_text="The dashboard's page")


class SeriesSerializer(serializers.Serializer):
    name = serializers.CharField()
    data = serializers.ListField(child=serializers.CharField(allow_null=True), help_text="Decimals as strings")
    drill_urls = serializers.ListField(child=serializers.CharField(allow_null=True), allow_null=True)


class WidgetSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["kpi", "chart", "table"])
    key = serializers.CharField()
    label = serializers.CharField(required=False, help_text="KPI")
    value = serializers.CharField(required=False, allow_null=True, help_text="KPI; decimals as strings")
    unit = serializers.CharField(required=False, help_text="KPI")
    money = serializers.BooleanField(required=False)
    drill_url = serializers.CharField(required=False, allow_null=True, help_text="KPI")
    hint = serializers.CharField(required=False, help_text="KPI")
    title = serializers.CharField(required=False, help_text="chart, table")
    kind = serializers.CharField(required=False, help_text="chart: bar, hbar, line, pie, doughnut, funnel")
    labels = serializers.ListField(child=serializers.CharField(), required=False, help_text="chart")
    stacked = serializers.BooleanField(required=False, help_text="chart")
    series = SeriesSerializer(many=True, required=False, help_text="chart")
    columns = serializers.ListField(child=serializers.CharField(), required=False, help_text="table")
    rows = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField(allow_null=True)), required=False, help_text="table"
    )
    row_urls = serializers.ListField(
        child=serializers.CharField(allow_null=True), required=False, allow_null=True, help_text="table"
    )


class DashboardSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    team = serializers.IntegerField(allow_null=True)
    owner = serializers.IntegerField(allow_null=True)
    product = serializers.IntegerField(allow_null=True)
    granularity = serializers.CharField()
    widgets = WidgetSerializer(many=True)


FILTER_PARAMETERS = [
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="Start of the period (inclusive)"),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="End of the period (inclusive)"),
    OpenApiParameter("preset", OpenApiTypes.STR, enum=[key for key, _label in PRESETS]),
    OpenApiParameter("team", OpenApiTypes.INT),
    OpenApiParameter("owner", OpenApiTypes.INT, description="A user id"),
    OpenApiParameter("product", OpenApiTypes.INT, description="An ERP product id"),
    OpenApiParameter("granularity", OpenApiTypes.STR, enum=["month", "week"]),
]


def _summary(dashboard, request) -> dict:
    from django.urls import reverse

    return {
        "key": dashboard.key,
        "title": str(dashboard.title),
        "description": str(dashboard.description),
        "filters": sorted(dashboard.filters),
        "url": reverse("dashboard-detail", kwargs={"key": dashboard.key}),
    }


class DashboardListView(APIView):
    """The dashboards the caller may open (their role, the company's modules)."""

    permission_classes = [ActingInCompany]

    @extend_schema(responses=DashboardSummarySerializer(many=True), operation_id="dashboards_list")
    def get(self, request):
        actor = request_actor(request)
        return Response([_summary(d, request) for d in dashboards.for_actor(actor)])


class DashboardDetailView(APIView):
    """One dashboard's widgets for the filters (default: the last 12 months)."""

    permission_classes = [ActingInCompany]

    @extend_schema(parameters=FILTER_PARAMETERS, responses=DashboardSerializer, operation_id="dashboards_retrieve")
    def get(self, request, key: str):
        actor = request_actor(request)
        dashboard = dashboards.visible_or_none(actor, key)
        if dashboard is None:
            raise Http404
        form = FilterForm(request.query_params, actor=actor, dashboard=dashboard)
        if not form.is_valid():
            raise ValidationError({field: list(errors) for field, errors in form.errors.items()})
        filters = form.filters()
        widgets = dashboard.build(filters)
        return Response(
            {
                "key": dashboard.key,
                "title": str(dashboard.title),
                "date_from": filters.date_from,
                "date_to": filters.date_to,
                "team": filters.team_id,
                "owner": filters.owner_id,
                "product": filters.product_id,
                "granularity": filters.granularity,
                "widgets": [widget_data(widget) for widget in widgets],
            }
        )
