"""Django admin for ERP, one section per domain: every record can be found, filtered and inspected; changes go
through services (the API, the UI, or the admin actions below), never through an admin form's ``save()``."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from erp import models as m


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse and inspect; changes go through services."""

    list_per_page = 50
    show_full_result_count = False  # COUNT(*) over big tables on every page is not free

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# ---------------------------------------------------------------- inventory
from erp.services import inventory as inventory_services  # noqa: E402


@admin.register(m.UnitOfMeasure)
class UnitOfMeasureAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "name_en", "dimension", "factor", "decimal_places", "company", "is_active")
    list_filter = ("company", "dimension", "is_active")
    search_fields = ("code", "name", "name_en")


@admin.register(m.ProductCategory)
class ProductCategoryAdmin(ReadOnlyAdmin):
    list_display = ("name", "name_en", "parent", "company")
    list_filter = ("company",)
    list_select_related = ("parent", "company")
    search_fields = ("name", "name_en")


class UomConversionInline(admin.TabularInline):
    model = m.UomConversion
    extra = 0
    can_delete = False
    fields = ("uom", "factor")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ProductSupplierInline(UomConversionInline):
    model = m.ProductSupplier
    fields = ("supplier_name", "supplier_sku", "lead_time_days", "min_order_quantity", "unit_price", "is_preferred")
    readonly_fields = fields


@admin.register(m.Product)
class ProductAdmin(ReadOnlyAdmin):
    list_display = ("sku", "name", "name_en", "category", "uom", "cost_method", "average_cost", "company", "is_active")
    list_filter = ("company", "is_active", "is_stockable", "tracks_lots", "cost_method")
    list_select_related = ("category", "uom", "company")
    search_fields = ("sku", "barcode", "name", "name_en")
    inlines = [UomConversionInline, ProductSupplierInline]


class PriceListItemInline(UomConversionInline):
    model = m.PriceListItem
    fields = ("product", "min_quantity", "unit_price")
    readonly_fields = fields


@admin.register(m.PriceList)
class PriceListAdmin(ReadOnlyAdmin):
    list_display = ("name", "customer_group", "currency", "valid_from", "valid_to", "company", "is_active")
    list_filter = ("company", "currency", "is_active")
    search_fields = ("name", "name_en", "customer_group")
    inlines = [PriceListItemInline]


@admin.register(m.Warehouse)
class WarehouseAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "name_en", "company", "is_active")
    list_filter = ("company", "is_active")
    search_fields = ("code", "name", "name_en")


@admin.register(m.Location)
class LocationAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "warehouse", "kind", "is_default", "company", "is_active")
    list_filter = ("company", "kind", "is_active")
    list_select_related = ("warehouse", "company")
    search_fields = ("code", "name")


@admin.register(m.Lot)
class LotAdmin(ReadOnlyAdmin):
    list_display = ("code", "product", "production_date", "expiry_date", "company")
    list_filter = ("company", "expiry_date")
    list_select_related = ("product", "company")
    search_fields = ("code", "product__sku")


@admin.register(m.StockMove)
class StockMoveAdmin(ReadOnlyAdmin):
    """The stock ledger: read-only here as everywhere (the database refuses changes to a move)."""

    list_display = ("id", "moved_at", "kind", "product", "lot", "from_location", "to_location", "quantity", "reference")
    list_filter = ("company", "kind")
    list_select_related = ("product", "lot", "from_location", "to_location")
    search_fields = ("=reference", "=product__sku")
    date_hierarchy = None
    ordering = ("-id",)


@admin.register(m.StockQuant)
class StockQuantAdmin(ReadOnlyAdmin):
    list_display = ("product", "warehouse", "location", "lot", "quantity", "reserved")
    list_filter = ("company", "warehouse")
    list_select_related = ("product", "warehouse", "location", "lot")
    search_fields = ("=product__sku",)


@admin.register(m.StockReservation)
class StockReservationAdmin(ReadOnlyAdmin):
    list_display = ("reference", "product", "warehouse", "quantity", "consumed_quantity", "released_quantity", "state")
    list_filter = ("company", "state")
    list_select_related = ("product", "warehouse")
    search_fields = ("=reference", "=product__sku")


def _decide(modeladmin, request, queryset: QuerySet, service) -> None:
    done, errors = 0, []
    for adjustment in queryset.filter(state=m.AdjustmentState.PENDING).order_by("pk"):
        try:
            service(adjustment=adjustment, by=request.user)
            done += 1
        except (ValidationError, inventory_services.StockConflict) as exc:
            errors.append(f"#{adjustment.pk}: {getattr(exc, 'message', None) or '; '.join(exc.messages)}")
    if done:
        modeladmin.message_user(
            request, ngettext("%(count)d adjustment decided.", "%(count)d adjustments decided.", done) % {"count": done}
        )
    for error in errors[:10]:
        modeladmin.message_user(request, error, level=messages.ERROR)


@admin.action(description=_("Approve and apply the selected adjustments"))
def approve_adjustments(modeladmin, request, queryset: QuerySet) -> None:
    _decide(modeladmin, request, queryset, inventory_services.stock_adjustment_approve)


@admin.action(description=_("Reject the selected adjustments"))
def reject_adjustments(modeladmin, request, queryset: QuerySet) -> None:
    _decide(modeladmin, request, queryset, inventory_services.stock_adjustment_reject)


@admin.register(m.StockAdjustment)
class StockAdjustmentAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "product",
        "location",
        "lot",
        "quantity_delta",
        "reason",
        "state",
        "requested_by",
        "decided_by",
    )
    list_filter = ("company", "state")
    list_select_related = ("product", "location", "lot", "requested_by", "decided_by")
    actions = [approve_adjustments, reject_adjustments]


@admin.register(m.IncomingSupply)
class IncomingSupplyAdmin(ReadOnlyAdmin):
    list_display = (
        "reference",
        "product",
        "warehouse",
        "kind",
        "expected_date",
        "quantity",
        "received_quantity",
        "state",
    )
    list_filter = ("company", "kind", "state")
    list_select_related = ("product", "warehouse")
    search_fields = ("=reference", "=product__sku")


@admin.register(m.QuoteReservation)
class QuoteReservationAdmin(ReadOnlyAdmin):
    list_display = ("crm_quote_number", "product", "warehouse", "quantity", "expires_on", "state")
    list_filter = ("company", "state")
    list_select_related = ("product", "warehouse")
    search_fields = ("=crm_quote_number", "=product__sku")


@admin.register(m.ReorderRule)
class ReorderRuleAdmin(ReadOnlyAdmin):
    list_display = ("product", "warehouse", "min_quantity", "max_quantity", "multiple", "is_active")
    list_filter = ("company", "warehouse", "is_active")
    list_select_related = ("product", "warehouse")


# ---------------------------------------------------------------- finance
# The ledger is read-only here: posted entries are frozen by the database anyway, and drafts are written
# through the services (API/UI). Admin offers the service-backed actions "post selected drafts" and
# "close selected periods"; reopening a period (administrators only, with a reason) is done through the API.
from erp.services import finance as finance_services  # noqa: E402


def _finance_report(modeladmin, request, done: int, errors: list[str], done_message: str) -> None:
    if done:
        modeladmin.message_user(request, done_message % {"count": done})
    for error in errors[:10]:
        modeladmin.message_user(request, error, level=messages.ERROR)


@admin.register(m.Account)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "name_en", "account_type", "parent", "is_cash", "is_active", "company")
    list_filter = ("company", "account_type", "is_cash", "is_active")
    list_select_related = ("parent", "company")
    search_fields = ("code", "name", "name_en")


@admin.register(m.Dimension)
class DimensionAdmin(ReadOnlyAdmin):
    list_display = ("kind", "code", "name", "name_en", "is_active", "company")
    list_filter = ("company", "kind", "is_active")
    search_fields = ("code", "name", "name_en")


@admin.register(m.Journal)
class JournalAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "name_en", "kind", "is_active", "company")
    list_filter = ("company", "kind", "is_active")
    search_fields = ("code", "name", "name_en")


class FiscalPeriodInline(admin.TabularInline):
    model = m.FiscalPeriod
    extra = 0
    can_delete = False
    fields = ("number", "name", "start_date", "end_date", "state", "closed_at", "reopened_at", "reopen_reason")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.FiscalYear)
class FiscalYearAdmin(ReadOnlyAdmin):
    list_display = ("name", "start_date", "end_date", "company")
    list_filter = ("company",)
    inlines = [FiscalPeriodInline]


@admin.register(m.FiscalPeriod)
class FiscalPeriodAdmin(ReadOnlyAdmin):
    list_display = ("name", "fiscal_year", "start_date", "end_date", "state", "closed_at", "reopened_at", "company")
    list_filter = ("company", "state", "fiscal_year")
    list_select_related = ("fiscal_year", "company")
    actions = ["close_periods"]

    @admin.action(description=_("Close selected periods"))
    def close_periods(self, request, queryset: QuerySet) -> None:
        done = 0
        for period in queryset.order_by("pk"):
            finance_services.period_close(period=period, by=request.user)
            done += 1
        _finance_report(self, request, done, [], _("%(count)d periods closed."))


class JournalLineInline(admin.TabularInline):
    model = m.JournalLine
    extra = 0
    can_delete = False
    fields = (
        "line_no",
        "account",
        "description",
        "debit",
        "credit",
        "currency",
        "exchange_rate",
        "amount_currency",
        "cost_centre",
        "department",
        "project",
    )
    readonly_fields = fields
    ordering = ("line_no",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "date", "journal", "state", "memo", "reference", "posted_at", "company")
    list_filter = ("company", "state", "journal")
    list_select_related = ("journal", "fiscal_year", "company")
    search_fields = ("memo", "reference", "source_key")
    date_hierarchy = "date"
    inlines = [JournalLineInline]
    actions = ["post_drafts"]

    @admin.action(description=_("Post selected drafts"))
    def post_drafts(self, request, queryset: QuerySet) -> None:
        done, errors = 0, []
        for entry in queryset.filter(state=m.EntryState.DRAFT).order_by("pk"):
            try:
                finance_services.journal_entry_post(entry=entry, by=request.user)
                done += 1
            except (ValidationError, finance_services.LedgerConflict) as error:
                errors.append(f"#{entry.pk}: {'; '.join(str(msg) for msg in getattr(error, 'messages', [error]))}")
        _finance_report(self, request, done, errors, _("%(count)d entries posted."))


@admin.register(m.AccountPeriodBalance)
class AccountPeriodBalanceAdmin(ReadOnlyAdmin):
    list_display = ("account", "period", "debit", "credit", "company")
    list_filter = ("company", "period")
    list_select_related = ("account", "period", "company")


# ---------------------------------------------------------------- sales fulfilment
from erp.services import sales as sales_services  # noqa: E402


def _sales_action(modeladmin, request, queryset: QuerySet, service, argument: str, done_message) -> None:
    done, errors = 0, []
    for record in queryset.order_by("pk"):
        try:
            service(**{argument: record, "by": request.user})
            done += 1
        except (ValidationError, inventory_services.StockConflict) as exc:
            errors.append(f"{record}: {getattr(exc, 'message', None) or '; '.join(exc.messages)}")
    if done:
        modeladmin.message_user(request, done_message % {"count": done})
    for error in errors[:10]:
        modeladmin.message_user(request, error, level=messages.ERROR)


class SalesOrderLineInline(admin.TabularInline):
    model = m.SalesOrderLine
    extra = 0
    can_delete = False
    fields = (
        "sequence",
        "product",
        "warehouse",
        "quantity",
        "unit_price",
        "discount",
        "tax",
        "delivered_quantity",
        "returned_quantity",
        "invoiced_quantity",
        "refunded_quantity",
        "cancelled_quantity",
        "total",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.SalesOrder)
class SalesOrderAdmin(ReadOnlyAdmin):
    list_display = ("number", "partner", "state", "invoice_status", "order_date", "promised_date", "amount_total")
    list_filter = ("company", "state", "invoice_status")
    list_select_related = ("partner",)
    search_fields = ("=number", "partner__name", "client_reference")
    date_hierarchy = "order_date"
    inlines = [SalesOrderLineInline]
    actions = ["confirm_orders", "release_holds", "invoice_orders"]

    @admin.action(description=_("Confirm the selected draft orders"))
    def confirm_orders(self, request, queryset: QuerySet) -> None:
        _sales_action(
            self,
            request,
            queryset.filter(state=m.SalesOrderState.DRAFT),
            sales_services.sales_order_confirm,
            "order",
            _("%(count)d orders confirmed or held."),
        )

    @admin.action(description=_("Release the credit hold of the selected orders"))
    def release_holds(self, request, queryset: QuerySet) -> None:
        _sales_action(
            self,
            request,
            queryset.filter(state=m.SalesOrderState.HELD),
            sales_services.sales_order_release_hold,
            "order",
            _("%(count)d holds released."),
        )

    @admin.action(description=_("Invoice the delivered quantities of the selected orders"))
    def invoice_orders(self, request, queryset: QuerySet) -> None:
        _sales_action(
            self, request, queryset, sales_services.sales_order_invoice, "order", _("%(count)d invoices created.")
        )


class DeliveryLineInline(admin.TabularInline):
    model = m.DeliveryLine
    extra = 0
    can_delete = False
    fields = ("product", "quantity", "picked_quantity", "shipped_quantity", "returned_quantity")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.DeliveryOrder)
class DeliveryOrderAdmin(ReadOnlyAdmin):
    list_display = ("number", "sales_order", "warehouse", "state", "scheduled_date", "carrier", "tracking_number")
    list_filter = ("company", "state", "warehouse")
    list_select_related = ("sales_order", "warehouse")
    search_fields = ("=number", "=tracking_number", "=sales_order__number")
    inlines = [DeliveryLineInline]


class SalesReturnLineInline(admin.TabularInline):
    model = m.SalesReturnLine
    extra = 0
    can_delete = False
    fields = ("product", "lot", "quantity")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.SalesReturn)
class SalesReturnAdmin(ReadOnlyAdmin):
    list_display = ("number", "delivery", "sales_order", "state", "destination", "credit_note", "received_at")
    list_filter = ("company", "state", "destination")
    list_select_related = ("delivery", "sales_order", "credit_note")
    search_fields = ("=number", "reason")
    inlines = [SalesReturnLineInline]
    actions = ["receive_returns"]

    @admin.action(description=_("Receive the goods of the selected returns"))
    def receive_returns(self, request, queryset: QuerySet) -> None:
        _sales_action(
            self,
            request,
            queryset.filter(state=m.ReturnState.REQUESTED),
            sales_services.sales_return_receive,
            "sales_return",
            _("%(count)d returns received."),
        )


# ---------------------------------------------------------------- expenses, budgets, cash-flow mapping


class ExpenseLineInline(admin.TabularInline):
    model = m.ExpenseLine
    extra = 0
    can_delete = False
    fields = ("line_no", "date", "category", "account", "amount", "tax_amount", "cost_centre", "project")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ExpenseApprovalInline(admin.TabularInline):
    model = m.ExpenseApproval
    extra = 0
    can_delete = False
    fields = ("sequence", "approver", "decision", "reason", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.ExpenseClaim)
class ExpenseClaimAdmin(ReadOnlyAdmin):
    list_display = ("number", "title", "employee", "total_amount", "state", "approval_level", "company", "created_at")
    list_filter = ("company", "state")
    list_select_related = ("employee", "company")
    search_fields = ("number", "title")
    inlines = (ExpenseLineInline, ExpenseApprovalInline)


@admin.register(m.ExpenseReceipt)
class ExpenseReceiptAdmin(ReadOnlyAdmin):
    list_display = ("original_name", "claim", "mime", "size", "uploaded_by", "created_at")
    list_filter = ("company", "mime")
    list_select_related = ("claim", "uploaded_by")


@admin.register(m.ExpenseCategory)
class ExpenseCategoryAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "name_en", "account", "is_active", "company")
    list_filter = ("company", "is_active")
    list_select_related = ("account", "company")


@admin.register(m.ExpenseApprovalLevel)
class ExpenseApprovalLevelAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "name", "approver_role", "applies_above", "company")
    list_filter = ("company",)


@admin.register(m.Budget)
class BudgetAdmin(ReadOnlyAdmin):
    list_display = ("name", "fiscal_year", "cost_centre", "owner", "thresholds", "is_active", "company")
    list_filter = ("company", "is_active")
    list_select_related = ("fiscal_year", "cost_centre", "owner", "company")


@admin.register(m.BudgetLine)
class BudgetLineAdmin(ReadOnlyAdmin):
    list_display = ("budget", "account", "period", "amount")
    list_filter = ("company",)
    list_select_related = ("budget", "account", "period")


@admin.register(m.BudgetAlert)
class BudgetAlertAdmin(ReadOnlyAdmin):
    list_display = ("line", "threshold", "budgeted", "actual", "entry_id", "created_at")
    list_filter = ("company", "threshold")


@admin.register(m.CashFlowMapping)
class CashFlowMappingAdmin(ReadOnlyAdmin):
    list_display = ("account", "inflow_line", "outflow_line", "company")
    list_filter = ("company",)
    list_select_related = ("account", "company")


# ---------------------------------------------------------------- partners, invoices, payments, bank (erpar)
from erp.services import invoicing as invoicing_services  # noqa: E402


@admin.register(m.Partner)
class PartnerAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "is_customer",
        "is_supplier",
        "crm_account_id",
        "merged_into",
        "tax_id",
        "credit_limit",
        "company",
    )
    list_filter = ("company", "is_customer", "is_supplier", "is_active")
    search_fields = ("name", "name_en", "tax_id")


@admin.register(m.PaymentTerm)
class PaymentTermAdmin(ReadOnlyAdmin):
    list_display = ("name", "days", "end_of_month", "company", "is_active")
    list_filter = ("company",)


@admin.register(m.Tax)
class TaxAdmin(ReadOnlyAdmin):
    list_display = ("name", "use", "kind", "rate", "price_include", "account", "company", "is_active")
    list_filter = ("company", "use", "kind")
    list_select_related = ("account", "company")


class InvoiceLineInline(admin.TabularInline):
    model = m.InvoiceLine
    extra = 0
    can_delete = False
    fields = ("description", "quantity", "unit_price", "discount", "tax", "account", "subtotal", "tax_amount", "total")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = (
        "number",
        "kind",
        "partner",
        "invoice_date",
        "due_date",
        "amount_total",
        "amount_residual",
        "state",
        "payment_state",
        "company",
    )
    list_filter = ("company", "kind", "state", "payment_state", "fapiao_type")
    search_fields = ("number", "fapiao_number", "origin", "partner__name")
    list_select_related = ("partner", "company")
    date_hierarchy = "invoice_date"
    inlines = [InvoiceLineInline]
    actions = ["post_drafts"]

    @admin.action(description=_("Post the selected drafts"))
    def post_drafts(self, request, queryset: QuerySet):
        posted = 0
        for invoice in queryset.filter(state="draft").order_by("pk"):
            try:
                invoicing_services.invoice_post(invoice=invoice, by=request.user)
                posted += 1
            except ValidationError as exc:
                self.message_user(request, f"{invoice}: {exc.messages}", messages.ERROR)
        self.message_user(request, ngettext("%d invoice posted.", "%d invoices posted.", posted) % posted)


@admin.register(m.Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("number", "payment_type", "partner", "date", "amount", "amount_unallocated", "currency", "company")
    list_filter = ("company", "payment_type", "partner_type")
    search_fields = ("number", "reference", "partner__name")
    list_select_related = ("partner", "company")


@admin.register(m.Allocation)
class AllocationAdmin(ReadOnlyAdmin):
    list_display = ("invoice", "payment", "credit_note", "amount", "company")
    list_filter = ("company",)
    list_select_related = ("invoice", "payment", "credit_note", "company")


@admin.register(m.BankAccount)
class BankAccountAdmin(ReadOnlyAdmin):
    list_display = ("name", "bank_name", "account_number", "currency", "journal", "account", "company")
    list_filter = ("company",)
    list_select_related = ("journal", "account", "company")


@admin.register(m.BankStatement)
class BankStatementAdmin(ReadOnlyAdmin):
    list_display = ("name", "bank_account", "line_count", "duplicate_count", "created_at", "company")
    list_filter = ("company",)
    list_select_related = ("bank_account", "company")


@admin.register(m.BankStatementLine)
class BankStatementLineAdmin(ReadOnlyAdmin):
    list_display = ("date", "amount", "partner_name", "description", "state", "payment", "bank_account")
    list_filter = ("company", "state")
    search_fields = ("partner_name", "description", "reference")
    list_select_related = ("payment", "bank_account")


# ---------------------------------------------------------------- procurement, inventory operations, valuation
# Browse and inspect; state changes are the service-backed actions below (approve / confirm orders, approve
# counts, approve bill variances), each reporting what it refused.
from erp.services import procurement as procurement_services  # noqa: E402
from erp.services import stock_operations as stock_operations_services  # noqa: E402


def _run(modeladmin, request, queryset, call, done_message) -> None:
    done, errors = 0, []
    for record in queryset:
        try:
            call(record, request.user)
            done += 1
        except (ValidationError, inventory_services.StockConflict) as exc:
            errors.append(f"{record}: {getattr(exc, 'message', None) or '; '.join(exc.messages)}")
    if done:
        modeladmin.message_user(request, done_message % {"count": done})
    for error in errors[:10]:
        modeladmin.message_user(request, error, level=messages.ERROR)


class _Lines(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class PurchaseOrderLineInline(_Lines):
    model = m.PurchaseOrderLine
    fields = ("product", "quantity", "unit_price", "expected_date", "received_quantity", "billed_quantity")
    readonly_fields = fields


@admin.register(m.PurchaseOrder)
class PurchaseOrderAdmin(ReadOnlyAdmin):
    list_display = ("number", "supplier", "warehouse", "state", "order_date", "expected_date", "amount_total")
    list_filter = ("company", "state")
    list_select_related = ("supplier", "warehouse")
    search_fields = ("=number", "supplier__name", "supplier_reference")
    date_hierarchy = "order_date"
    inlines = [PurchaseOrderLineInline]
    actions = ["approve_orders", "confirm_orders"]

    @admin.action(description=_("Approve the selected orders waiting for approval"))
    def approve_orders(self, request, queryset: QuerySet) -> None:
        _run(
            self,
            request,
            queryset.filter(state=m.PurchaseOrderState.TO_APPROVE),
            lambda order, user: procurement_services.purchase_order_approve(order=order, by=user),
            _("%(count)d orders approved."),
        )

    @admin.action(description=_("Confirm the selected approved orders"))
    def confirm_orders(self, request, queryset: QuerySet) -> None:
        _run(
            self,
            request,
            queryset.filter(state=m.PurchaseOrderState.APPROVED),
            lambda order, user: procurement_services.purchase_order_confirm(order=order, by=user),
            _("%(count)d orders confirmed."),
        )


@admin.register(m.PurchaseRequisition)
class PurchaseRequisitionAdmin(ReadOnlyAdmin):
    list_display = ("number", "warehouse", "state", "source", "needed_by", "requested_by")
    list_filter = ("company", "state", "source")
    list_select_related = ("warehouse", "requested_by")
    search_fields = ("=number",)


@admin.register(m.RequestForQuotation)
class RequestForQuotationAdmin(ReadOnlyAdmin):
    list_display = ("number", "supplier", "requisition", "state", "valid_until", "purchase_order")
    list_filter = ("company", "state")
    list_select_related = ("supplier", "requisition", "purchase_order")
    search_fields = ("=number", "supplier__name")


class GoodsReceiptLineInline(_Lines):
    model = m.GoodsReceiptLine
    fields = ("order_line", "product", "lot", "location", "quantity", "unit_cost", "move")
    readonly_fields = fields


@admin.register(m.GoodsReceipt)
class GoodsReceiptAdmin(ReadOnlyAdmin):
    list_display = ("number", "purchase_order", "warehouse", "received_at", "delivery_note")
    list_filter = ("company",)
    list_select_related = ("purchase_order", "warehouse")
    search_fields = ("=number", "=purchase_order__number", "delivery_note")
    inlines = [GoodsReceiptLineInline]


@admin.register(m.VendorBillMatch)
class VendorBillMatchAdmin(ReadOnlyAdmin):
    list_display = ("invoice", "purchase_order", "state", "checked_at", "approved_by")
    list_filter = ("company", "state")
    list_select_related = ("invoice", "purchase_order", "approved_by")
    actions = ["approve_variances"]

    @admin.action(description=_("Approve the variance of the selected blocked bills"))
    def approve_variances(self, request, queryset: QuerySet) -> None:
        _run(
            self,
            request,
            queryset.filter(state=m.MatchState.BLOCKED),
            lambda match, user: procurement_services.bill_variance_approve(match=match, by=user),
            _("%(count)d variances approved."),
        )


@admin.register(m.ProcurementSettings)
class ProcurementSettingsAdmin(ReadOnlyAdmin):
    list_display = (
        "company",
        "approval_threshold",
        "over_receipt_tolerance",
        "bill_price_tolerance",
        "bill_quantity_tolerance",
    )


class StockCountLineInline(_Lines):
    model = m.StockCountLine
    fields = ("product", "location", "lot", "expected_quantity", "counted_quantity", "applied_difference")
    readonly_fields = fields


@admin.register(m.StockCount)
class StockCountAdmin(ReadOnlyAdmin):
    list_display = ("number", "warehouse", "location", "state", "submitted_by", "approved_by", "created_at")
    list_filter = ("company", "state")
    list_select_related = ("warehouse", "location", "submitted_by", "approved_by")
    search_fields = ("=number",)
    inlines = [StockCountLineInline]
    actions = ["approve_counts"]

    @admin.action(description=_("Approve and apply the selected submitted counts"))
    def approve_counts(self, request, queryset: QuerySet) -> None:
        _run(
            self,
            request,
            queryset.filter(state=m.CountState.SUBMITTED),
            lambda count, user: stock_operations_services.stock_count_approve(count=count, by=user),
            _("%(count)d counts applied."),
        )


class StockTransferLineInline(_Lines):
    model = m.StockTransferLine
    fields = ("product", "lot", "quantity", "shipped_quantity", "received_quantity")
    readonly_fields = fields


@admin.register(m.StockTransfer)
class StockTransferAdmin(ReadOnlyAdmin):
    list_display = ("number", "from_warehouse", "to_warehouse", "via_transit", "state", "shipped_at", "done_at")
    list_filter = ("company", "state", "via_transit")
    list_select_related = ("from_warehouse", "to_warehouse")
    search_fields = ("=number",)
    inlines = [StockTransferLineInline]


@admin.register(m.StockValuationLayer)
class StockValuationLayerAdmin(ReadOnlyAdmin):
    list_display = ("id", "product", "move", "quantity", "unit_cost", "value", "remaining_quantity", "journal_entry")
    list_filter = ("company",)
    list_select_related = ("product", "journal_entry")
    search_fields = ("=product__sku",)


@admin.register(m.ProductValuation)
class ProductValuationAdmin(ReadOnlyAdmin):
    list_display = ("product", "quantity", "value", "updated_at")
    list_filter = ("company",)
    list_select_related = ("product",)


@admin.register(m.ValuationSettings)
class ValuationSettingsAdmin(ReadOnlyAdmin):
    list_display = ("company", "perpetual", "journal", "stock_account", "grni_account", "cogs_account")
    list_select_related = ("company", "journal", "stock_account", "grni_account", "cogs_account")


# ---------------------------------------------------------------- production
from erp.services import production as production_services  # noqa: E402


class _ProductionLines(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.ProductPlanning)
class ProductPlanningAdmin(ReadOnlyAdmin):
    list_display = ("product", "procurement", "lead_time_days", "safety_stock", "lot_rule", "lot_size", "company")
    list_filter = ("company", "procurement", "lot_rule")
    search_fields = ("product__sku", "product__name")


@admin.register(m.WorkCalendar)
class WorkCalendarAdmin(ReadOnlyAdmin):
    list_display = ("name", "company")
    list_filter = ("company",)


@admin.register(m.WorkCenter)
class WorkCenterAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "units", "labour_rate", "overhead_rate", "calendar", "company", "is_active")
    list_filter = ("company", "is_active")
    search_fields = ("code", "name")


class RoutingOperationInline(_ProductionLines):
    model = m.RoutingOperation
    fields = ("sequence", "name", "work_center", "setup_minutes", "run_minutes", "queue_minutes")
    readonly_fields = fields


@admin.register(m.Routing)
class RoutingAdmin(ReadOnlyAdmin):
    list_display = ("name", "company", "is_active")
    list_filter = ("company", "is_active")
    inlines = [RoutingOperationInline]


class BomLineInline(_ProductionLines):
    model = m.BomLine
    fields = ("sequence", "component", "quantity", "scrap_factor")
    readonly_fields = fields


@admin.register(m.Bom)
class BomAdmin(ReadOnlyAdmin):
    list_display = ("product", "version", "quantity", "effective_from", "effective_to", "routing", "is_active")
    list_filter = ("company", "is_active")
    search_fields = ("product__sku", "product__name", "version")
    inlines = [BomLineInline]
    actions = ["archive"]

    @admin.action(description=_("Retire the selected BOM versions"))
    def archive(self, request, queryset: QuerySet) -> None:
        for bom in queryset:
            production_services.bom_archive(bom=bom, by=request.user)
        messages.success(request, _("Retired."))


@admin.register(m.DemandForecast)
class DemandForecastAdmin(ReadOnlyAdmin):
    list_display = ("product", "date", "quantity", "source", "note", "company")
    list_filter = ("company", "source")
    search_fields = ("product__sku",)


@admin.register(m.ForecastSettings)
class ForecastSettingsAdmin(ReadOnlyAdmin):
    list_display = ("company", "intent_conversion_rate", "intent_horizon_days")


@admin.register(m.MrpRun)
class MrpRunAdmin(ReadOnlyAdmin):
    list_display = ("number", "warehouse", "status", "progress", "demand_count", "planned_count", "created_at")
    list_filter = ("company", "status")


@admin.register(m.PlannedOrder)
class PlannedOrderAdmin(ReadOnlyAdmin):
    list_display = ("run", "product", "kind", "quantity", "release_date", "due_date", "late", "state")
    list_filter = ("company", "kind", "state", "late")
    search_fields = ("product__sku",)


class ProductionMaterialInline(_ProductionLines):
    model = m.ProductionMaterial
    fields = ("product", "required_quantity", "issued_quantity", "issued_cost", "reservation")
    readonly_fields = fields


class ProductionOperationInline(_ProductionLines):
    model = m.ProductionOperation
    fields = ("sequence", "name", "work_center", "state", "scheduled_start", "scheduled_end", "good_quantity")
    readonly_fields = fields


@admin.register(m.ProductionOrder)
class ProductionOrderAdmin(ReadOnlyAdmin):
    list_display = ("number", "product", "quantity", "produced_quantity", "state", "due_date", "promised_at")
    list_filter = ("company", "state")
    search_fields = ("number", "product__sku", "product__name")
    inlines = [ProductionMaterialInline, ProductionOperationInline]
    actions = ["reschedule"]

    @admin.action(description=_("Reschedule the companies of the selected orders"))
    def reschedule(self, request, queryset: QuerySet) -> None:
        for company_id in sorted(set(queryset.values_list("company_id", flat=True))):
            production_services.production_schedule(
                company=m.ProductionOrder.objects.filter(company_id=company_id).first().company
            )
        messages.success(request, _("Rescheduled."))


@admin.register(m.ProductionReceipt)
class ProductionReceiptAdmin(ReadOnlyAdmin):
    list_display = ("order", "lot", "quantity", "scrapped_quantity", "cost", "created_at")
    list_filter = ("company",)


@admin.register(m.OperationReport)
class OperationReportAdmin(ReadOnlyAdmin):
    list_display = ("order", "operation", "work_center", "operator", "good_quantity", "scrap_quantity", "reported_at")
    list_filter = ("company",)


@admin.register(m.InspectionPlan)
class InspectionPlanAdmin(ReadOnlyAdmin):
    list_display = ("name", "product", "operation_name", "is_active", "company")
    list_filter = ("company", "is_active")


@admin.register(m.Inspection)
class InspectionAdmin(ReadOnlyAdmin):
    list_display = ("plan", "product", "production_order", "lot", "result", "inspected_quantity", "defect_quantity")
    list_filter = ("company", "result")


@admin.register(m.NonConformance)
class NonConformanceAdmin(ReadOnlyAdmin):
    list_display = ("number", "product", "production_order", "lot", "crm_ticket_id", "state", "created_at")
    list_filter = ("company", "state")
    search_fields = ("number", "description")


# ---------------------------------------------------------------- HR and payroll
# Read-only: HR data changes through the services (API, pages). The encrypted personal fields are not shown here
# at all (neither the ciphertext nor the clear text): admin staff are not necessarily hr or payroll.


@admin.register(m.Employee)
class EmployeeAdmin(ReadOnlyAdmin):
    list_display = ("number", "name", "department", "position", "manager", "hire_date", "is_active", "company")
    list_filter = ("company", "is_active", "payroll_mode")
    search_fields = ("number", "name", "name_en")
    exclude = ("id_number_encrypted", "bank_account_encrypted", "salary_encrypted", "social_base_encrypted")


for _hr_model, _hr_columns in (
    (m.Department, ("code", "name", "parent", "head", "is_active", "company")),
    (m.Position, ("code", "name", "department", "company")),
    (m.EmploymentContract, ("number", "employee", "kind", "start_date", "end_date", "company")),
    (m.Shift, ("code", "name", "start_time", "end_time", "break_minutes", "company")),
    (m.AttendanceRecord, ("employee", "work_date", "clock_in", "clock_out", "overtime_minutes", "source")),
    (m.LeaveType, ("code", "name", "annual_days", "is_paid", "needs_balance", "company")),
    (m.LeaveBalance, ("employee", "leave_type", "year", "accrued", "taken")),
    (m.LeaveRequest, ("employee", "leave_type", "start_date", "end_date", "days", "state")),
    (m.PayrollCity, ("code", "name", "valid_from", "company")),
    (m.PayrollCityItem, ("city", "code", "kind", "floor", "cap", "employee_rate", "employer_rate")),
    (m.PayComponent, ("code", "name", "kind", "taxable", "rate", "account", "is_active", "company")),
    (m.EmployeePayComponent, ("employee", "component", "amount")),
    (m.CommissionLine, ("employee", "year", "month", "reference", "amount")),
    (m.PayrollRun, ("__str__", "state", "progress", "employees_total", "total_gross", "journal_entry", "company")),
    (m.Payslip, ("run", "employee", "gross", "iit", "net")),
    (m.Kpi, ("code", "name", "source", "company")),
    (m.Goal, ("employee", "kpi", "period_start", "period_end", "target", "actual")),
    (m.PerformanceReview, ("employee", "reviewer", "period_start", "period_end", "rating", "state")),
    (m.JobOpening, ("title", "department", "headcount", "hired", "state", "company")),
    (m.Candidate, ("name", "opening", "stage", "employee")),
    (m.Interview, ("candidate", "interviewer", "scheduled_at", "rating")),
):
    admin.site.register(
        _hr_model,
        type(f"{_hr_model.__name__}Admin", (ReadOnlyAdmin,), {"list_display": _hr_columns, "list_filter": ()}),
    )
