"""Admin for the weekly dashboard digest: members' preferences, and the log of digests sent (read-only)."""

from django.contrib import admin

from suite.models import DashboardDigestSent, DashboardDigestSetting


@admin.register(DashboardDigestSetting)
class DashboardDigestSettingAdmin(admin.ModelAdmin):
    list_display = ["membership", "enabled", "language", "updated_at"]
    list_filter = ["enabled", "language"]
    list_select_related = ["membership__user", "membership__company"]
    raw_id_fields = ["membership"]


@admin.register(DashboardDigestSent)
class DashboardDigestSentAdmin(admin.ModelAdmin):
    list_display = ["membership", "company", "week", "language", "sent_at"]
    list_filter = ["company", "week"]
    list_select_related = ["membership__user", "company"]
    readonly_fields = ["membership", "company", "week", "language", "dashboards", "sent_at"]

    def has_add_permission(self, request):
        return False
