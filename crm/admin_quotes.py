"""Django admin for opportunity lines and quotes (imported by ``crm.admin``): browse and inspect them with their
audit history; expiring overdue quotes is an admin action that calls the service."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from crm import models as m
from crm.admin import ReadOnlyAdmin, _report
from crm.services.quotes import quotes_expire


class QuoteLineInline(admin.TabularInline):
    model = m.QuoteLine
    extra = 0
    can_delete = False
    fields = (
        "sequence",
        "sku",
        "product_name",
        "quantity",
        "uom",
        "unit_price",
        "discount_percent",
        "tax_rate",
        "net_amount",
        "tax_amount",
        "line_total",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class QuoteApprovalDecisionInline(admin.TabularInline):
    """The approval trail (报价审批): each yes or no, the team's manager's then an admin's."""

    model = m.QuoteApprovalDecision
    extra = 0
    can_delete = False
    fields = ("decided_at", "level", "outcome", "decided_by", "note")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.OpportunityLine)
class OpportunityLineAdmin(ReadOnlyAdmin):
    list_display = (
        "opportunity",
        "sku",
        "product_name",
        "quantity",
        "unit_price",
        "price_source",
        "discount_percent",
        "line_total",
        "company",
    )
    list_filter = ("company", "price_source")
    list_select_related = ("opportunity", "company")
    search_fields = ("sku", "product_name")


@admin.action(description=_("Mark quotes past their validity date as expired"))
def expire_quotes(modeladmin, request, queryset) -> None:
    _report(modeladmin, request, quotes_expire(), [])


@admin.register(m.Quote)
class QuoteAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "company", "opportunity", "state", "total", "currency", "valid_until", "created_at")
    list_filter = ("company", "state", "approval")
    list_select_related = ("company", "opportunity")
    search_fields = ("number", "customer_name")
    inlines = [QuoteLineInline, QuoteApprovalDecisionInline]
    actions = [expire_quotes]


@admin.register(m.QuoteLine)
class QuoteLineAdmin(ReadOnlyAdmin):
    list_display = ("quote", "sku", "product_name", "quantity", "unit_price", "line_total", "company")
    list_filter = ("company",)
    list_select_related = ("quote", "company")
    search_fields = ("sku", "product_name")
