"""Django admin for the customer pool (imported by ``crm.admin``): the companies' rules and every move in or out
of the pool, to browse with the audit history; changes go through the CRM settings page and the pool's pages,
which call the services."""

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
