"""Django admin for sales targets (imported by ``crm.admin``): browse with the audit history; changes go through
the API, which calls the services."""

from __future__ import annotations

from django.contrib import admin

from crm import models as m
from crm.admin import ReadOnlyAdmin


@admin.register(m.SalesTarget)
class SalesTargetAdmin(ReadOnlyAdmin):
    list_display = ("team", "owner", "month", "amount", "company")
    list_filter = ("company", "team")
    list_select_related = ("company", "team", "owner")
    date_hierarchy = "month"
