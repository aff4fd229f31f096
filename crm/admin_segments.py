"""Django admin for the tag history and contact facts that segments read: read-only (written by
``crm.services.segments``)."""

from __future__ import annotations

from django.contrib import admin

from crm import models as m


class _ReadOnly(admin.ModelAdmin):
    list_per_page = 50
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.TagChange)
class TagChangeAdmin(_ReadOnly):
    list_display = ("at", "contact", "tag", "action", "source", "rule", "by")
    list_filter = ("action", "source")
    search_fields = ("=contact__id", "rule")
    list_select_related = ("contact", "tag", "by")
    raw_id_fields = ("contact",)


@admin.register(m.ContactFacts)
class ContactFactsAdmin(_ReadOnly):
    list_display = ("contact", "spend", "last_purchase_at", "last_interaction_at")
    list_select_related = ("contact",)
    raw_id_fields = ("contact",)
