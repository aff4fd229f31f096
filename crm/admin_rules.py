"""Django admin for the CRM's company rules (imported by ``crm.admin``): the customer pool's rule and every move
in or out of the pool, and the quote approval limits — to browse with the audit history; changes go through the
CRM settings pages and the pool's pages, which call the services."""

from __future__ import annotations

from django.contrib import admin

from crm import models as m
from crm.admin import ReadOnlyAdmin


@admin.register(m.PoolRule)
class PoolRuleAdmin(ReadOnlyAdmin):
    list_display = ("company", "is_active", "idle_days", "max_owned", "reclaim_after_days", "updated_at")
    list_select_related = ("company",)


@admin.register(m.PoolMove)
class PoolMoveAdmin(ReadOnlyAdmin):
    list_display = ("account", "kind", "reason", "user", "previous_owner", "new_owner", "created_at", "company")
    list_filter = ("company", "kind", "reason")
    list_select_related = ("company", "account", "user", "previous_owner", "new_owner")
    raw_id_fields = ("account",)
    date_hierarchy = "created_at"


@admin.register(m.QuoteApprovalRule)
class QuoteApprovalRuleAdmin(ReadOnlyAdmin):
    """The companies' quote approval limits (报价审批; set on the CRM settings page)."""

    list_display = ("company", "is_active", "max_discount_percent", "max_total", "updated_at")
    list_select_related = ("company",)
