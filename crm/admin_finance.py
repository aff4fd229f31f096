"""Django admin for the customer finance facts kept from ERP (closed loop, flow 4): read-only (written by
``crm.services.finance`` from ERP's figures)."""

from __future__ import annotations

from django.contrib import admin

from crm import models as m
from crm.admin_segments import _ReadOnly


@admin.register(m.CustomerFinance)
class CustomerFinanceAdmin(_ReadOnly):
    list_display = ("account", "outstanding", "overdue", "lifetime_revenue", "credit_limit", "refreshed_at")
    list_select_related = ("account",)
    raw_id_fields = ("account",)
    search_fields = ("=account__id", "account__name")
