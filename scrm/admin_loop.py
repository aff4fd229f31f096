"""Django admin for the order status messages sent to customers (closed loop, flow 3): read-only."""

from __future__ import annotations

from django.contrib import admin

from scrm import models as m
from scrm.admin import ReadOnlyAdmin


@admin.register(m.StatusMessage)
class StatusMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "event_name", "crm_contact_id", "channel", "status", "skip_reason", "sent_at")
    list_filter = ("status", "skip_reason", "event_name")
    search_fields = ("=crm_contact_id", "=crm_account_id", "source_key")
    list_select_related = ("channel",)
    raw_id_fields = ("identity",)
