"""The finance REST API: /api/v1/erp/finance/.

Thin, like every API here: the policy is checked (``PolicyPermission``, scoped querysets), input is validated by
an explicit input serializer, one service is called, the result is serialised.

* ``accounts/`` (+ ``install-template/``), ``dimensions/``, ``journals/`` (+ ``install-defaults/``),
  ``fiscal-years/``, ``periods/`` with ``…/{id}/close/`` and ``…/{id}/reopen/`` (administrators, with a reason);
* ``entries/``: drafts are created, changed and deleted; posting and reversing are explicit actions —
  ``POST …/{id}/post/`` and ``POST …/{id}/reverse/`` — never field edits: ``state``, ``number`` and the hashes
  are not input fields at all;
* ``reports/trial-balance/``, ``reports/general-ledger/``, ``reports/balance-sheet/``,
  ``reports/income-statement/`` (``?format=xlsx`` for a spreadsheet) and ``ledger-integrity/``.

Errors: bad input → 400 with field errors (``lines.0.debit``); a request the ledger's state refuses (editing a
posted entry, reversing twice, reopening an open period) → 409 with ``code``; nothing is written in either case.
"""

from __future__ import annotations

import io

from django.http import HttpResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from erp.models import (
    Account,
    AccountPeriodBalance,
    AccountType,
    Dimension,
    DimensionKind,
    FiscalPeriod,
    FiscalYear,
    Journal,
    JournalEntry,
    JournalKind,
    JournalLine,
)
from erp.selectors import finance as selectors
from erp.services import finance as services
from suite import exports, policy
from suite.api.errors import error_body
from suite.api.pagination import CursorPagination
from suite.api.permissions import PolicyPermission, request_actor
from suite.api.serializers import InputSerializer, OutputSerializer, ScopedRelatedField, UserSummarySerializer
from suite.api.viewsets import ExportMixin, TenantModelViewSet, TenantReadOnlyViewSet

MONEY = {"max_digits": 18, "decimal_places": 2}
RATE = {"max_digits": 18, "decimal_places": 6}

# ---------------------------------------------------------------- serializers: chart, dimensions, journals


class LedgerAccountOutput(OutputSerializer):
    parent_code = serializers.CharField(source="parent.code", read_only=True, default=None)

    class Meta:
        model = Account
        fields = [
            "id",
            "code",
            "name",
            "name_en",
            "account_type",
            "parent",
            "parent_code",
            "is_cash",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class LedgerAccountInput(InputSerializer):
    code = serializers.CharField(max_length=20)
    name = serializers.CharField(max_length=200)
    name_en = serializers.CharField(max_length=200, required=False, allow_blank=True)
    account_type = serializers.ChoiceField(choices=AccountType.choices)
    parent = ScopedRelatedField(model=Account, allow_null=True, required=False)
    is_cash = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)


class ChartTemplateInput(InputSerializer):
    template = serializers.ChoiceField(choices=[("cas", "企业会计准则 (CAS)"), ("ifrs", "IFRS")], default="cas")


class FinanceCreatedOutput(serializers.Serializer):
    created = serializers.IntegerField()


class DimensionOutput(OutputSerializer):
    class Meta:
        model = Dimension
        fields = ["id", "kind", "code", "name", "name_en", "is_active", "created_at", "updated_at"]
        read_only_fields = fields


class DimensionInput(InputSerializer):
    kind = serializers.ChoiceField(choices=DimensionKind.choices)
    code = serializers.CharField(max_length=30)
    name = serializers.CharField(max_length=200)
    name_en = serializers.CharField(max_length=200, required=False, allow_blank=True)


class DimensionUpdateInput(InputSerializer):
    code = serializers.CharField(max_length=30, required=False)
    name = serializers.CharField(max_length=200, required=False)
    name_en = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class JournalOutput(OutputSerializer):
    class Meta:
        model = Journal
        fields = ["id", "code", "name", "name_en", "kind", "is_active", "created_at", "updated_at"]
        read_only_fields = fields


class JournalInput(InputSerializer):
    code = serializers.CharField(max_length=10)
    name = serializers.CharField(max_length=100)
    name_en = serializers.CharField(max_length=100, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=JournalKind.choices, required=False)


class JournalUpdateInput(JournalInput):
    code = serializers.CharField(max_length=10, required=False)
    name = serializers.CharField(max_length=100, required=False)
    is_active = serializers.BooleanField(required=False)


# ---------------------------------------------------------------- serializers: fiscal years and periods


class FiscalPeriodOutput(OutputSerializer):
    closed_by = UserSummarySerializer(read_only=True)
    reopened_by = UserSummarySerializer(read_only=True)

    class Meta:
        model = FiscalPeriod
        fields = [
            "id",
            "fiscal_year",
            "number",
            "name",
            "start_date",
            "end_date",
            "state",
            "closed_at",
            "closed_by",
            "reopened_at",
            "reopened_by",
            "reopen_reason",
        ]
        read_only_fields = fields


class FiscalYearOutput(OutputSerializer):
    class Meta:
        model = FiscalYear
        fields = ["id", "name", "start_date", "end_date", "created_at"]
        read_only_fields = fields


class FiscalYearInput(InputSerializer):
    start_date = serializers.DateField()
    name = serializers.CharField(max_length=20, required=False, allow_blank=True)
    months = serializers.IntegerField(min_value=1, max_value=24, default=12)


class PeriodReopenInput(InputSerializer):
    reason = serializers.CharField(max_length=500)


# ---------------------------------------------------------------- serializers: entries


class JournalLineOutput(OutputSerializer):
    account_code = serializers.CharField(source="account.code", read_only=True)
    account_name = serializers.CharField(source="account.name", read_only=True)

    class Meta:
        model = JournalLine
        fields = [
            "id",
            "line_no",
            "account",
            "account_code",
            "account_name",
            "description",
            "debit",
            "credit",
            "currency",
            "exchange_rate",
            "amount_currency",
            "cost_centre",
            "department",
            "project",
        ]
        read_only_fields = fields


class JournalEntryOutput(OutputSerializer):
    journal_code = serializers.CharField(source="journal.code", read_only=True)
    period_name = serializers.CharField(source="period.name", read_only=True)
    display_number = serializers.CharField(read_only=True)
    reversed_by = serializers.SerializerMethodField()
    total_debit = serializers.SerializerMethodField()
    total_credit = serializers.SerializerMethodField()
    lines = JournalLineOutput(many=True, read_only=True)
    posted_by = UserSummarySerializer(read_only=True)
    created_by = UserSummarySerializer(read_only=True)

    class Meta:
        model = JournalEntry
        fields = [
            "id",
            "journal",
            "journal_code",
            "fiscal_year",
            "period",
            "period_name",
            "date",
            "number",
            "display_number",
            "state",
            "memo",
            "reference",
            "source_key",
            "reversal_of",
            "reversed_by",
            "total_debit",
            "total_credit",
            "chain_position",
            "previous_hash",
            "entry_hash",
            "posted_at",
            "posted_by",
            "created_by",
            "created_at",
            "updated_at",
            "lines",
        ]
        read_only_fields = fields

    def get_reversed_by(self, entry) -> int | None:
        try:
            return entry.reversed_by.pk
        except JournalEntry.DoesNotExist:
            return None

    def get_total_debit(self, entry) -> str:
        return str(sum((line.debit for line in entry.lines.all()), services.ZERO))

    def get_total_credit(self, entry) -> str:
        return str(sum((line.credit for line in entry.lines.all()), services.ZERO))


class JournalLineInput(InputSerializer):
    account = ScopedRelatedField(model=Account)
    debit = serializers.DecimalField(min_value=0, default=services.ZERO, **MONEY)
    credit = serializers.DecimalField(min_value=0, default=services.ZERO, **MONEY)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, allow_blank=True)
    exchange_rate = serializers.DecimalField(min_value=0, required=False, **RATE)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    cost_centre = ScopedRelatedField(model=Dimension, allow_null=True, required=False)
    department = ScopedRelatedField(model=Dimension, allow_null=True, required=False)
    project = ScopedRelatedField(model=Dimension, allow_null=True, required=False)


class JournalEntryInput(InputSerializer):
    """A draft entry. ``debit``/``credit`` of a line are in its ``currency`` (the company's by default) and are
    converted at ``exchange_rate``. Post it with ``POST …/{id}/post/``."""

    journal = ScopedRelatedField(model=Journal)
    date = serializers.DateField()
    memo = serializers.CharField(max_length=255, required=False, allow_blank=True)
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True)
    lines = JournalLineInput(many=True, allow_empty=False, max_length=services.MAX_LINES)


class JournalEntryUpdateInput(JournalEntryInput):
    journal = ScopedRelatedField(model=Journal, required=False)
    date = serializers.DateField(required=False)
    lines = JournalLineInput(many=True, allow_empty=False, required=False, max_length=services.MAX_LINES)


class EntryReverseInput(InputSerializer):
    date = serializers.DateField(required=False, help_text=_("Date of the reversal; the original's date by default."))
    memo = serializers.CharField(max_length=255, required=False, allow_blank=True)


def _lines(data: list[dict]) -> list[services.LineSpec]:
    return [services.LineSpec(**line) for line in data]


# ---------------------------------------------------------------- viewsets


class FinanceViewSetMixin:
    """The ledger's conflicts as 409 in the one error format."""

    def handle_exception(self, exc):
        if isinstance(exc, services.LedgerConflict):
            return Response(error_body(exc.code, exc.message), status=status.HTTP_409_CONFLICT)
        return super().handle_exception(exc)

    def input(self, serializer_class, request):
        serializer = serializer_class(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class AccountViewSet(FinanceViewSetMixin, TenantModelViewSet):
    """The chart of accounts (科目表). Accounts with lines keep their code and type and are deactivated rather
    than deleted."""

    queryset = Account.objects.select_related("parent")
    output_serializer_class = LedgerAccountOutput
    input_serializer_class = LedgerAccountInput
    filterset_fields = ("account_type", "is_active", "is_cash", "parent")
    search_fields = ("code", "name", "name_en")
    ordering_fields = ("code", "name")
    ordering = ("code",)
    policy_actions = {"install_template": "install"}

    def create_object(self, *, actor, data):
        return services.account_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.account_update(account=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        services.account_delete(account=instance, by=actor.user)

    @extend_schema(request=ChartTemplateInput, responses={200: FinanceCreatedOutput})
    @action(detail=False, methods=["post"], url_path="install-template")
    def install_template(self, request):
        """Install the accounts of a template (``cas`` 企业会计准则 or ``ifrs``) that the company lacks."""
        data = self.input(ChartTemplateInput, request)
        created = services.chart_of_accounts_install(
            company=self.actor.company, template=data["template"], by=request.user
        )
        return Response({"created": created})


class DimensionViewSet(FinanceViewSetMixin, TenantModelViewSet):
    """Cost centres, departments and projects that journal lines may carry."""

    queryset = Dimension.objects.all()
    output_serializer_class = DimensionOutput
    input_serializer_class = DimensionInput
    update_input_serializer_class = DimensionUpdateInput
    filterset_fields = ("kind", "is_active")
    search_fields = ("code", "name", "name_en")
    ordering_fields = ("kind", "code")
    ordering = ("kind", "code")

    def create_object(self, *, actor, data):
        return services.dimension_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.dimension_update(dimension=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        services.dimension_delete(dimension=instance, by=actor.user)


class JournalViewSet(FinanceViewSetMixin, TenantReadOnlyViewSet):
    """Journals (凭证字): each numbers its entries per fiscal year and keeps its own hash chain. Retired by
    deactivation, never deleted."""

    queryset = Journal.objects.all()
    output_serializer_class = JournalOutput
    input_serializer_class = JournalInput
    update_input_serializer_class = JournalUpdateInput
    filterset_fields = ("kind", "is_active")
    ordering_fields = ("code",)
    ordering = ("code",)
    policy_actions = {"install_defaults": "install"}
    create = TenantModelViewSet.create
    update = TenantModelViewSet.update
    partial_update = TenantModelViewSet.partial_update

    def create_object(self, *, actor, data):
        return services.journal_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.journal_update(journal=instance, by=actor.user, **data)

    @extend_schema(request=None, responses={200: FinanceCreatedOutput})
    @action(detail=False, methods=["post"], url_path="install-defaults")
    def install_defaults(self, request):
        """Create the default journals (记账, 销售, 采购, 银行, 现金, 存货) the company lacks."""
        return Response({"created": services.journals_install_defaults(company=self.actor.company, by=request.user)})


class FiscalYearViewSet(FinanceViewSetMixin, TenantReadOnlyViewSet):
    """Fiscal years; creating one creates its monthly periods (open)."""

    queryset = FiscalYear.objects.all()
    output_serializer_class = FiscalYearOutput
    input_serializer_class = FiscalYearInput
    ordering_fields = ("start_date",)
    ordering = ("-start_date",)
    create = TenantModelViewSet.create

    def create_object(self, *, actor, data):
        return services.fiscal_year_create(company=actor.company, by=actor.user, **data)


class FiscalPeriodViewSet(FinanceViewSetMixin, TenantReadOnlyViewSet):
    """Periods: close (finance, administrators) and reopen (administrators only, with a reason, audited) are
    explicit actions."""

    queryset = FiscalPeriod.objects.select_related("fiscal_year", "closed_by", "reopened_by")
    output_serializer_class = FiscalPeriodOutput
    filterset_fields = ("fiscal_year", "state")
    ordering_fields = ("start_date",)
    ordering = ("start_date",)
    policy_actions = {"close": "close", "reopen": "reopen"}

    @extend_schema(request=None, responses={200: FiscalPeriodOutput})
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Close the period: nothing posts into it any more (idempotent)."""
        period = services.period_close(period=self.get_object(), by=request.user)
        return Response(self.output(period))

    @extend_schema(request=PeriodReopenInput, responses={200: FiscalPeriodOutput})
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        """Reopen a closed period (administrators only; the reason is kept in the period's history)."""
        period = self.get_object()
        data = self.input(PeriodReopenInput, request)
        period = services.period_reopen(period=period, by=request.user, reason=data["reason"])
        return Response(self.output(period))


class EntryPagination(CursorPagination):
    ordering = ("-date", "-id")


ENTRY_FILTERS = {
    "journal": ["exact"],
    "period": ["exact"],
    "fiscal_year": ["exact"],
    "state": ["exact"],
    "date": ["gte", "lte", "exact"],
    "number": ["exact"],
    "reversal_of": ["exact"],
}


class JournalEntryViewSet(FinanceViewSetMixin, ExportMixin, TenantModelViewSet):
    """Journal entries (凭证). Drafts are created, changed (``lines`` replaces all lines) and deleted; ``post/``
    numbers, hashes and freezes a draft; ``reverse/`` corrects a posted entry by posting its mirror image.
    Posted entries cannot be changed or deleted (409)."""

    queryset = JournalEntry.objects.all()
    output_serializer_class = JournalEntryOutput
    input_serializer_class = JournalEntryInput
    update_input_serializer_class = JournalEntryUpdateInput
    pagination_class = EntryPagination
    filterset_fields = ENTRY_FILTERS
    search_fields = ("memo", "reference")
    policy_actions = {"post": "post", "reverse": "reverse"}
    export_fields = (
        "date",
        ("journal__code", _("journal")),
        "number",
        "state",
        "memo",
        "reference",
        ("period__name", _("period")),
        "entry_hash",
    )
    export_filename = "journal-entries"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return JournalEntry.objects.none()
        return selectors.entries_visible_to(self.actor)

    def create_object(self, *, actor, data):
        return services.journal_entry_create(
            company=actor.company,
            journal=data["journal"],
            date=data["date"],
            memo=data.get("memo", ""),
            reference=data.get("reference", ""),
            lines=_lines(data["lines"]),
            by=actor.user,
        )

    def update_object(self, *, actor, instance, data):
        lines = data.pop("lines", None)
        return services.journal_entry_update(
            entry=instance, by=actor.user, lines=_lines(lines) if lines is not None else None, **data
        )

    def delete_object(self, *, actor, instance):
        services.journal_entry_delete(entry=instance, by=actor.user)

    @extend_schema(request=None, responses={200: JournalEntryOutput})
    @action(detail=True, methods=["post"])
    def post(self, request, pk=None):
        """Post the draft: next number of its journal and fiscal year, SHA-256 chained to the journal's previous
        entry, counted in the period balances; frozen from then on. Posting a posted entry changes nothing."""
        entry = services.journal_entry_post(entry=self.get_object(), by=request.user)
        return Response(self.output(entry))

    @extend_schema(request=EntryReverseInput, responses={201: JournalEntryOutput})
    @action(detail=True, methods=["post"])
    def reverse(self, request, pk=None):
        """Post the reversing entry of a posted entry (debits and credits swapped), at most once."""
        entry = self.get_object()
        data = self.input(EntryReverseInput, request)
        reversal = services.journal_entry_reverse(entry=entry, by=request.user, **data)
        return Response(self.output(reversal), status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------- reports


def _periods():
    return FiscalPeriod.objects.select_related("fiscal_year")


class PeriodRangeQuery(InputSerializer):
    period_from = ScopedRelatedField(queryset=_periods())
    period_to = ScopedRelatedField(queryset=_periods(), required=False)
    format = serializers.ChoiceField(choices=["json", exports.XLSX], required=False)


class GeneralLedgerQuery(PeriodRangeQuery):
    account = ScopedRelatedField(model=Account)
    offset = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=5000, default=500)


class BalanceSheetQuery(InputSerializer):
    period = ScopedRelatedField(queryset=_periods())
    compare_period = ScopedRelatedField(queryset=_periods(), required=False)
    format = serializers.ChoiceField(choices=["json", exports.XLSX], required=False)


class IncomeStatementQuery(PeriodRangeQuery):
    compare_from = ScopedRelatedField(queryset=_periods(), required=False)
    compare_to = ScopedRelatedField(queryset=_periods(), required=False)


MONEY_OUT = {"max_digits": 20, "decimal_places": 2, "read_only": True}


class TrialBalanceRowOutput(serializers.Serializer):
    account_id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    name_en = serializers.CharField()
    account_type = serializers.CharField()
    parent_id = serializers.IntegerField(allow_null=True)
    depth = serializers.IntegerField()
    opening_debit = serializers.DecimalField(**MONEY_OUT)
    opening_credit = serializers.DecimalField(**MONEY_OUT)
    period_debit = serializers.DecimalField(**MONEY_OUT)
    period_credit = serializers.DecimalField(**MONEY_OUT)
    closing_debit = serializers.DecimalField(**MONEY_OUT)
    closing_credit = serializers.DecimalField(**MONEY_OUT)


class TrialBalanceOutput(serializers.Serializer):
    period_from = serializers.IntegerField(source="period_from.pk")
    period_to = serializers.IntegerField(source="period_to.pk")
    is_balanced = serializers.BooleanField()
    rows = TrialBalanceRowOutput(many=True)
    totals = TrialBalanceRowOutput()


class LedgerLineOutput(serializers.Serializer):
    line_id = serializers.IntegerField()
    entry_id = serializers.IntegerField()
    date = serializers.DateField()
    journal_code = serializers.CharField()
    number = serializers.IntegerField()
    display_number = serializers.CharField()
    memo = serializers.CharField()
    description = serializers.CharField()
    debit = serializers.DecimalField(**MONEY_OUT)
    credit = serializers.DecimalField(**MONEY_OUT)
    balance = serializers.DecimalField(**MONEY_OUT)


class GeneralLedgerOutput(serializers.Serializer):
    account = serializers.IntegerField(source="account.pk")
    account_code = serializers.CharField(source="account.code")
    period_from = serializers.IntegerField(source="period_from.pk")
    period_to = serializers.IntegerField(source="period_to.pk")
    opening = serializers.DecimalField(**MONEY_OUT)
    period_debit = serializers.DecimalField(**MONEY_OUT)
    period_credit = serializers.DecimalField(**MONEY_OUT)
    closing = serializers.DecimalField(**MONEY_OUT)
    line_count = serializers.IntegerField()
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    lines = LedgerLineOutput(many=True)


class StatementRowOutput(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    name_en = serializers.CharField()
    account_id = serializers.IntegerField(allow_null=True)
    amount = serializers.DecimalField(**MONEY_OUT)
    compare_amount = serializers.DecimalField(allow_null=True, **MONEY_OUT)


class StatementSectionOutput(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    rows = StatementRowOutput(many=True)
    total = serializers.DecimalField(**MONEY_OUT)
    compare_total = serializers.DecimalField(allow_null=True, **MONEY_OUT)


class BalanceSheetOutput(serializers.Serializer):
    period = serializers.IntegerField(source="period.pk")
    compare_period = serializers.IntegerField(source="compare_period.pk", allow_null=True, default=None)
    is_balanced = serializers.BooleanField()
    assets = StatementSectionOutput()
    liabilities = StatementSectionOutput()
    equity = StatementSectionOutput()
    total_liabilities_and_equity = serializers.DecimalField(**MONEY_OUT)
    compare_total_liabilities_and_equity = serializers.DecimalField(allow_null=True, **MONEY_OUT)


class IncomeStatementOutput(serializers.Serializer):
    period_from = serializers.IntegerField(source="period_from.pk")
    period_to = serializers.IntegerField(source="period_to.pk")
    compare_from = serializers.IntegerField(source="compare_from.pk", allow_null=True, default=None)
    compare_to = serializers.IntegerField(source="compare_to.pk", allow_null=True, default=None)
    income = StatementSectionOutput()
    expenses = StatementSectionOutput()
    net_profit = serializers.DecimalField(**MONEY_OUT)
    compare_net_profit = serializers.DecimalField(allow_null=True, **MONEY_OUT)


def _report_responses(serializer) -> dict:
    return {
        (200, "application/json"): serializer,
        (200, exports.XLSX_MEDIA_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="XLSX file (?format=xlsx)"),
    }


def _cell(value):
    """A spreadsheet cell: numbers and dates as they are; text never run as a formula."""
    if value is None or not isinstance(value, str):
        return value
    return "'" + value if value.startswith(exports.FORMULA_PREFIXES) else value


def _xlsx(title: str, header: list, rows: list[list]) -> HttpResponse:
    """A one-sheet workbook of a report (numbers stay numbers)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append([str(cell) for cell in header])
    for row in rows:
        sheet.append([_cell(cell) for cell in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type=exports.XLSX_MEDIA_TYPE)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{title}-{stamp}.xlsx"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


class _ReportView(APIView):
    """A report read from the period balances; ``?format=xlsx`` downloads it (policy action ``export``)."""

    permission_classes = [PolicyPermission]
    policy_model = AccountPeriodBalance
    policy_action = "view"
    query_serializer: type[serializers.Serializer] = PeriodRangeQuery

    def perform_content_negotiation(self, request, force=False):
        # ?format= names the file type here, not a DRF renderer; errors still come out as JSON.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    def query(self, request) -> dict:
        context = {"request": request, "actor": request_actor(request), "view": self}
        serializer = self.query_serializer(data=request.query_params, context=context)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("format") == exports.XLSX and not policy.can(request_actor(request), "export", self.policy_model):
            raise PermissionDenied
        return data


class TrialBalanceView(_ReportView):
    """Trial balance (科目余额表): opening balance, debits and credits of the periods and closing balance per
    account, rolled up to parent accounts."""

    @extend_schema(parameters=[PeriodRangeQuery], responses=_report_responses(TrialBalanceOutput))
    def get(self, request):
        data = self.query(request)
        report = selectors.trial_balance(period_from=data["period_from"], period_to=data.get("period_to"))
        if data.get("format") == exports.XLSX:
            header = [_("code"), _("name"), _("opening debit"), _("opening credit"), _("debit"), _("credit")]
            header += [_("closing debit"), _("closing credit")]
            amounts = (
                "opening_debit",
                "opening_credit",
                "period_debit",
                "period_credit",
                "closing_debit",
                "closing_credit",
            )
            rows = [
                ["  " * r.depth + r.code, r.name, *(getattr(r, name) for name in amounts)]
                for r in [*report.rows, report.totals]
            ]
            return _xlsx("trial-balance", header, rows)
        return Response(TrialBalanceOutput(report).data)


class GeneralLedgerView(_ReportView):
    """General ledger (明细账) of an account and its sub-accounts: posted lines with a running balance,
    ``offset``/``limit`` pages."""

    query_serializer = GeneralLedgerQuery

    @extend_schema(parameters=[GeneralLedgerQuery], responses=_report_responses(GeneralLedgerOutput))
    def get(self, request):
        data = self.query(request)
        report = selectors.general_ledger(
            account=data["account"],
            period_from=data["period_from"],
            period_to=data.get("period_to"),
            offset=data["offset"],
            limit=data["limit"],
        )
        if data.get("format") == exports.XLSX:
            header = [_("date"), _("number"), _("memo"), _("description"), _("debit"), _("credit"), _("balance")]
            rows = [[None, "", str(_("Opening balance")), "", None, None, report.opening]]
            rows += [
                [ln.date, ln.display_number, ln.memo, ln.description, ln.debit, ln.credit, ln.balance]
                for ln in report.lines
            ]
            return _xlsx(f"general-ledger-{report.account.code}", header, rows)
        return Response(GeneralLedgerOutput(report).data)


def _statement_rows(sections) -> list[list]:
    rows = []
    for section in sections:
        rows.append([section.name, "", None, None])
        rows += [[row.key, row.name, row.amount, row.compare_amount] for row in section.rows]
        rows.append(["", str(_("Total")), section.total, section.compare_total])
    return rows


class BalanceSheetView(_ReportView):
    """Balance sheet (资产负债表) at the end of a period, with a comparative period."""

    query_serializer = BalanceSheetQuery

    @extend_schema(parameters=[BalanceSheetQuery], responses=_report_responses(BalanceSheetOutput))
    def get(self, request):
        data = self.query(request)
        report = selectors.balance_sheet(period=data["period"], compare_period=data.get("compare_period"))
        if data.get("format") == exports.XLSX:
            rows = _statement_rows([report.assets, report.liabilities, report.equity])
            rows.append(
                [
                    "",
                    str(_("Liabilities and equity")),
                    report.total_liabilities_and_equity,
                    report.compare_total_liabilities_and_equity,
                ]
            )
            return _xlsx("balance-sheet", [_("code"), _("name"), _("amount"), _("comparative")], rows)
        return Response(BalanceSheetOutput(report).data)


class IncomeStatementView(_ReportView):
    """Income statement (利润表) of a range of periods, with a comparative range."""

    query_serializer = IncomeStatementQuery

    @extend_schema(parameters=[IncomeStatementQuery], responses=_report_responses(IncomeStatementOutput))
    def get(self, request):
        data = self.query(request)
        report = selectors.income_statement(
            period_from=data["period_from"],
            period_to=data.get("period_to"),
            compare_from=data.get("compare_from"),
            compare_to=data.get("compare_to"),
        )
        if data.get("format") == exports.XLSX:
            rows = _statement_rows([report.income, report.expenses])
            rows.append(["", str(_("Net profit")), report.net_profit, report.compare_net_profit])
            return _xlsx("income-statement", [_("code"), _("name"), _("amount"), _("comparative")], rows)
        return Response(IncomeStatementOutput(report).data)


class BrokenEntryOutput(serializers.Serializer):
    entry_id = serializers.IntegerField()
    journal_id = serializers.IntegerField()
    journal_code = serializers.CharField()
    fiscal_year = serializers.CharField()
    number = serializers.IntegerField(allow_null=True)
    chain_position = serializers.IntegerField()
    code = serializers.CharField()
    problem = serializers.CharField()


class LedgerIntegrityOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    checked_entries = serializers.IntegerField()
    journals = serializers.IntegerField()
    first_broken = BrokenEntryOutput(allow_null=True)
    broken = BrokenEntryOutput(many=True)


class LedgerIntegrityView(APIView):
    """Recompute every journal's hash chain of the company and name the first entry of each journal whose
    content, link or position no longer matches (rows changed behind the ledger's back)."""

    permission_classes = [PolicyPermission]
    policy_model = JournalEntry
    policy_action = "verify"

    @extend_schema(responses={200: LedgerIntegrityOutput})
    def get(self, request):
        actor = request_actor(request)
        result = services.ledger_verify(company=actor.company)
        return Response(LedgerIntegrityOutput(result).data)


# ---------------------------------------------------------------- routes (included at /api/v1/erp/finance/)

router = SimpleRouter()
router.register("accounts", AccountViewSet, basename="erp-account")
router.register("dimensions", DimensionViewSet, basename="erp-dimension")
router.register("journals", JournalViewSet, basename="erp-journal")
router.register("fiscal-years", FiscalYearViewSet, basename="erp-fiscal-year")
router.register("periods", FiscalPeriodViewSet, basename="erp-fiscal-period")
router.register("entries", JournalEntryViewSet, basename="erp-journal-entry")

urlpatterns = [
    path("reports/trial-balance/", TrialBalanceView.as_view(), name="erp-finance-trial-balance"),
    path("reports/general-ledger/", GeneralLedgerView.as_view(), name="erp-finance-general-ledger"),
    path("reports/balance-sheet/", BalanceSheetView.as_view(), name="erp-finance-balance-sheet"),
    path("reports/income-statement/", IncomeStatementView.as_view(), name="erp-finance-income-statement"),
    path("ledger-integrity/", LedgerIntegrityView.as_view(), name="erp-finance-ledger-integrity"),
    *router.urls,
]
