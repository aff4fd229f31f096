"""Budgets and the cash-flow statement: /api/v1/erp/budgets/ and /api/v1/erp/reports/.

* ``budgets/budgets/`` (+ ``…/{id}/report/``: budget, actual, variance, % used per line, ``?format=xlsx``),
  ``budgets/lines/`` (creating a line for an existing account and period changes its amount),
  ``budgets/alerts/`` (thresholds crossed, read only), ``budgets/cash-flow-mappings/``;
* ``reports/cash-flow/`` (现金流量表, direct method, comparative periods, ``?format=xlsx``) and
  ``reports/cash-flow/drilldown/?line=…`` (the lines behind one figure). The other statements and their
  drill-down (the general ledger of an account) are in ``/api/v1/erp/finance/reports/``.
"""

from __future__ import annotations

from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from erp.api.finance import MONEY_OUT, _periods, _report_responses, _ReportView, _xlsx
from erp.models import (
    Account,
    Budget,
    BudgetAlert,
    BudgetLine,
    CashFlowLine,
    CashFlowMapping,
    Dimension,
    FiscalPeriod,
    FiscalYear,
)
from erp.selectors import budgets as budget_selectors
from erp.selectors import reports as report_selectors
from erp.services import budgets as services
from suite import exports, policy
from suite.api.pagination import Pagination
from suite.api.serializers import (
    CompanyUserField,
    InputSerializer,
    OutputSerializer,
    ScopedRelatedField,
    UserSummarySerializer,
)
from suite.api.viewsets import TenantModelViewSet, TenantReadOnlyViewSet

MONEY = {"max_digits": 18, "decimal_places": 2}

# ---------------------------------------------------------------- budgets


class BudgetOutput(OutputSerializer):
    owner = UserSummarySerializer(read_only=True)
    thresholds = serializers.SerializerMethodField()

    class Meta:
        model = Budget
        fields = ["id", "name", "fiscal_year", "cost_centre", "owner", "thresholds", "is_active", "created_at"]
        read_only_fields = fields

    def get_thresholds(self, budget) -> list[int]:
        return list(budget.thresholds)


class BudgetInput(InputSerializer):
    name = serializers.CharField(max_length=200)
    fiscal_year = ScopedRelatedField(model=FiscalYear)
    cost_centre = ScopedRelatedField(model=Dimension, allow_null=True, required=False)
    owner = CompanyUserField(allow_null=True, required=False)
    thresholds = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=1000), required=False)

    class Meta:
        writable_protected = ("owner",)


class BudgetUpdateInput(InputSerializer):
    name = serializers.CharField(max_length=200, required=False)
    owner = CompanyUserField(allow_null=True, required=False)
    thresholds = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=1000), required=False)
    is_active = serializers.BooleanField(required=False)

    class Meta:
        writable_protected = ("owner",)


class BudgetLineOutput(OutputSerializer):
    account_code = serializers.CharField(source="account.code", read_only=True)
    period_name = serializers.CharField(source="period.name", read_only=True)

    class Meta:
        model = BudgetLine
        fields = ["id", "budget", "account", "account_code", "period", "period_name", "amount"]
        read_only_fields = fields


class BudgetLineInput(InputSerializer):
    budget = ScopedRelatedField(model=Budget)
    account = ScopedRelatedField(model=Account)
    period = ScopedRelatedField(model=FiscalPeriod)
    amount = serializers.DecimalField(min_value=0, **MONEY)

    class Meta:
        writable_protected = ("amount",)


class BudgetLineUpdateInput(InputSerializer):
    amount = serializers.DecimalField(min_value=0, **MONEY)

    class Meta:
        writable_protected = ("amount",)


class BudgetAlertOutput(OutputSerializer):
    budget = serializers.IntegerField(source="line.budget_id", read_only=True)
    account_code = serializers.CharField(source="line.account.code", read_only=True)
    period_name = serializers.CharField(source="line.period.name", read_only=True)

    class Meta:
        model = BudgetAlert
        fields = [
            "id",
            "budget",
            "line",
            "account_code",
            "period_name",
            "threshold",
            "budgeted",
            "actual",
            "entry_id",
            "created_at",
        ]
        read_only_fields = fields


class BudgetReportRowOutput(serializers.Serializer):
    line_id = serializers.IntegerField()
    account_id = serializers.IntegerField()
    account_code = serializers.CharField()
    account_name = serializers.CharField()
    period_id = serializers.IntegerField()
    period_name = serializers.CharField()
    budgeted = serializers.DecimalField(**MONEY_OUT)
    actual = serializers.DecimalField(**MONEY_OUT)
    variance = serializers.DecimalField(**MONEY_OUT)
    percent_used = serializers.DecimalField(max_digits=12, decimal_places=1, allow_null=True, read_only=True)
    alerts = serializers.ListField(child=serializers.IntegerField())


class BudgetReportOutput(serializers.Serializer):
    budget = serializers.IntegerField(source="budget.pk")
    rows = BudgetReportRowOutput(many=True)
    budgeted = serializers.DecimalField(**MONEY_OUT)
    actual = serializers.DecimalField(**MONEY_OUT)
    variance = serializers.DecimalField(**MONEY_OUT)
    percent_used = serializers.DecimalField(max_digits=12, decimal_places=1, allow_null=True, read_only=True)


class BudgetReportQuery(InputSerializer):
    period = ScopedRelatedField(queryset=_periods(), required=False)
    format = serializers.ChoiceField(choices=["json", exports.XLSX], required=False)


class BudgetViewSet(TenantModelViewSet):
    """Budgets per fiscal year, for the company or a cost centre; ``report/`` compares them with actuals."""

    queryset = Budget.objects.select_related("fiscal_year", "cost_centre", "owner")
    output_serializer_class = BudgetOutput
    input_serializer_class = BudgetInput
    update_input_serializer_class = BudgetUpdateInput
    pagination_class = Pagination
    filterset_fields = ("fiscal_year", "cost_centre", "is_active")
    search_fields = ("name",)
    ordering = ("name",)
    policy_actions = {"report": "view"}

    def create_object(self, *, actor, data):
        return services.budget_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.budget_update(budget=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        services.budget_update(budget=instance, by=actor.user, is_active=False)

    def perform_content_negotiation(self, request, force=False):
        if getattr(self, "action", None) == "report":
            from rest_framework.renderers import JSONRenderer

            renderer = JSONRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(parameters=[BudgetReportQuery], responses=_report_responses(BudgetReportOutput))
    @action(detail=True, methods=["get"])
    def report(self, request, pk=None):
        """Budget against actual per line: variance (budget − actual) and % used; ``?format=xlsx``."""
        budget = self.get_object()
        query = BudgetReportQuery(data=request.query_params, context=self.get_serializer_context())
        query.is_valid(raise_exception=True)
        period = query.validated_data.get("period")
        report = budget_selectors.budget_report(budget=budget, period_id=period.pk if period else None)
        if query.validated_data.get("format") == exports.XLSX:
            if not policy.can(self.actor, "export", Budget):
                from rest_framework.exceptions import PermissionDenied

                raise PermissionDenied
            header = [_("account"), _("name"), _("period"), _("budget"), _("actual"), _("variance"), _("percent used")]
            rows = [
                [r.account_code, r.account_name, r.period_name, r.budgeted, r.actual, r.variance, r.percent_used]
                for r in report.rows
            ]
            rows.append(["", str(_("Total")), "", report.budgeted, report.actual, report.variance, report.percent_used])
            return _xlsx(f"budget-{budget.pk}", header, rows)
        return Response(BudgetReportOutput(report).data)


class BudgetLineViewSet(TenantModelViewSet):
    """Amounts per account and period of a budget."""

    queryset = BudgetLine.objects.select_related("account", "period")
    output_serializer_class = BudgetLineOutput
    input_serializer_class = BudgetLineInput
    update_input_serializer_class = BudgetLineUpdateInput
    pagination_class = Pagination
    filterset_fields = ("budget", "account", "period")
    ordering = ("budget", "account__code", "period__start_date")

    def create_object(self, *, actor, data):
        return services.budget_line_set(by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.budget_line_set(
            budget=instance.budget,
            account=instance.account,
            period=instance.period,
            amount=data["amount"],
            by=actor.user,
        )

    def delete_object(self, *, actor, instance):
        services.budget_line_delete(line=instance, by=actor.user)


class BudgetAlertViewSet(TenantReadOnlyViewSet):
    """Thresholds crossed (one per budget line and threshold)."""

    queryset = BudgetAlert.objects.select_related("line__account", "line__period")
    output_serializer_class = BudgetAlertOutput
    pagination_class = Pagination
    filterset_fields = ("line", "threshold")
    ordering = ("-created_at", "-id")


class CashFlowMappingOutput(OutputSerializer):
    account_code = serializers.CharField(source="account.code", read_only=True)

    class Meta:
        model = CashFlowMapping
        fields = ["id", "account", "account_code", "inflow_line", "outflow_line"]
        read_only_fields = fields


class CashFlowMappingInput(InputSerializer):
    account = ScopedRelatedField(model=Account)
    inflow_line = serializers.ChoiceField(choices=CashFlowLine.choices)
    outflow_line = serializers.ChoiceField(choices=CashFlowLine.choices)


class CashFlowMappingViewSet(TenantModelViewSet):
    """Overrides of the CAS default cash-flow lines per counterpart account (and its sub-accounts)."""

    queryset = CashFlowMapping.objects.select_related("account")
    output_serializer_class = CashFlowMappingOutput
    input_serializer_class = CashFlowMappingInput
    pagination_class = Pagination
    ordering = ("account__code",)

    def create_object(self, *, actor, data):
        return services.cash_flow_mapping_set(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        current = {"inflow_line": instance.inflow_line, "outflow_line": instance.outflow_line}
        data = {**current, **data, "account": instance.account}  # the mapping stays the account's
        return services.cash_flow_mapping_set(company=actor.company, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        services.cash_flow_mapping_delete(mapping=instance, by=actor.user)


# ---------------------------------------------------------------- cash-flow statement


class CashFlowQuery(InputSerializer):
    period_from = ScopedRelatedField(queryset=_periods())
    period_to = ScopedRelatedField(queryset=_periods(), required=False)
    compare_from = ScopedRelatedField(queryset=_periods(), required=False)
    compare_to = ScopedRelatedField(queryset=_periods(), required=False)
    format = serializers.ChoiceField(choices=["json", exports.XLSX], required=False)


class CashFlowDrilldownQuery(InputSerializer):
    line = serializers.ChoiceField(choices=CashFlowLine.choices)
    period_from = ScopedRelatedField(queryset=_periods())
    period_to = ScopedRelatedField(queryset=_periods(), required=False)
    offset = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=200)


class CashFlowRowOutput(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    direction = serializers.CharField()
    amount = serializers.DecimalField(**MONEY_OUT)
    compare_amount = serializers.DecimalField(allow_null=True, **MONEY_OUT)


class CashFlowSectionOutput(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    rows = CashFlowRowOutput(many=True)
    inflow = serializers.DecimalField(**MONEY_OUT)
    outflow = serializers.DecimalField(**MONEY_OUT)
    net = serializers.DecimalField(**MONEY_OUT)
    compare_inflow = serializers.DecimalField(allow_null=True, **MONEY_OUT)
    compare_outflow = serializers.DecimalField(allow_null=True, **MONEY_OUT)
    compare_net = serializers.DecimalField(allow_null=True, **MONEY_OUT)


class CashFlowOutput(serializers.Serializer):
    period_from = serializers.IntegerField(source="period_from.pk")
    period_to = serializers.IntegerField(source="period_to.pk")
    compare_from = serializers.IntegerField(source="compare_from.pk", allow_null=True, default=None)
    compare_to = serializers.IntegerField(source="compare_to.pk", allow_null=True, default=None)
    is_consistent = serializers.BooleanField()
    sections = CashFlowSectionOutput(many=True)
    net_increase = serializers.DecimalField(**MONEY_OUT)
    opening_cash = serializers.DecimalField(**MONEY_OUT)
    closing_cash = serializers.DecimalField(**MONEY_OUT)
    compare_net_increase = serializers.DecimalField(allow_null=True, **MONEY_OUT)
    compare_opening_cash = serializers.DecimalField(allow_null=True, **MONEY_OUT)
    compare_closing_cash = serializers.DecimalField(allow_null=True, **MONEY_OUT)


class CashFlowDrillLineOutput(serializers.Serializer):
    line_id = serializers.IntegerField()
    entry_id = serializers.IntegerField()
    date = serializers.DateField()
    display_number = serializers.CharField()
    memo = serializers.CharField()
    account_code = serializers.CharField()
    account_name = serializers.CharField()
    cash_in = serializers.DecimalField(**MONEY_OUT)
    cash_out = serializers.DecimalField(**MONEY_OUT)


class CashFlowDrilldownOutput(serializers.Serializer):
    line = serializers.CharField()
    count = serializers.IntegerField()
    lines = CashFlowDrillLineOutput(many=True)


def cash_flow_rows(report) -> list[list]:
    """The statement as spreadsheet rows (also used by the UI's export)."""
    rows = []
    for section in report.sections:
        rows.append([section.name, None, None])
        rows += [["    " + row.name, row.amount, row.compare_amount] for row in section.rows]
        rows.append([str(_("Net cash flow")), section.net, section.compare_net])
    rows.append([str(_("Net increase in cash and cash equivalents")), report.net_increase, report.compare_net_increase])
    rows.append([str(_("Cash at the beginning of the period")), report.opening_cash, report.compare_opening_cash])
    rows.append([str(_("Cash at the end of the period")), report.closing_cash, report.compare_closing_cash])
    return rows


class CashFlowView(_ReportView):
    """Cash-flow statement (现金流量表), direct method from the cash accounts, with comparative periods."""

    query_serializer = CashFlowQuery

    @extend_schema(parameters=[CashFlowQuery], responses=_report_responses(CashFlowOutput))
    def get(self, request):
        data = self.query(request)
        report = report_selectors.cash_flow_statement(
            period_from=data["period_from"],
            period_to=data.get("period_to"),
            compare_from=data.get("compare_from"),
            compare_to=data.get("compare_to"),
        )
        if data.get("format") == exports.XLSX:
            return _xlsx("cash-flow", [_("line"), _("amount"), _("comparative")], cash_flow_rows(report))
        return Response(CashFlowOutput(report).data)


class CashFlowDrilldownView(_ReportView):
    """The counterpart journal lines behind one figure of the cash-flow statement."""

    query_serializer = CashFlowDrilldownQuery

    @extend_schema(parameters=[CashFlowDrilldownQuery], responses={200: CashFlowDrilldownOutput})
    def get(self, request):
        data = self.query(request)
        lines, count = report_selectors.cash_flow_drilldown(
            line=data["line"],
            period_from=data["period_from"],
            period_to=data.get("period_to"),
            offset=data["offset"],
            limit=data["limit"],
        )
        return Response(CashFlowDrilldownOutput({"line": data["line"], "count": count, "lines": lines}).data)


budget_router = SimpleRouter()
budget_router.register("budgets", BudgetViewSet, basename="erp-budget")
budget_router.register("lines", BudgetLineViewSet, basename="erp-budget-line")
budget_router.register("alerts", BudgetAlertViewSet, basename="erp-budget-alert")
budget_router.register("cash-flow-mappings", CashFlowMappingViewSet, basename="erp-cash-flow-mapping")

budget_urlpatterns = [*budget_router.urls]
report_urlpatterns = [
    path("cash-flow/", CashFlowView.as_view(), name="erp-reports-cash-flow"),
    path("cash-flow/drilldown/", CashFlowDrilldownView.as_view(), name="erp-reports-cash-flow-drilldown"),
]
