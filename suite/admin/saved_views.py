"""Admin for saved list views (people's preferences; kept and shared from the lists themselves)."""

from django.contrib import admin

from suite.models import DefaultView, SavedView


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ["name", "list_key", "owner", "company", "shared", "created_at"]
    list_filter = ["company", "list_key", "shared"]
    search_fields = ["name", "owner__username", "query"]
    list_select_related = ["owner", "company"]
    readonly_fields = ["company", "owner", "list_key", "created_at"]

    def has_add_permission(self, request):
        return False


@admin.register(DefaultView)
class DefaultViewAdmin(admin.ModelAdmin):
    list_display = ["user", "list_key", "view", "company"]
    list_filter = ["company", "list_key"]
    list_select_related = ["user", "view", "company"]
    readonly_fields = ["company", "user", "list_key", "view"]

    def has_add_permission(self, request):
        return False
