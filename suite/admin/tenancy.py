from django.contrib import admin

from suite.models import ApiToken, Company, Membership, Team


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "name_en", "code", "currency", "require_2fa", "created_at"]
    search_fields = ["name", "name_en", "code"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "company", "kind", "manager", "parent"]
    list_filter = ["company", "kind"]
    search_fields = ["name", "name_en"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "company", "role", "is_active"]
    list_filter = ["company", "role", "is_active"]
    search_fields = ["user__username", "user__email"]
    filter_horizontal = ["teams"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "membership", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "key_hash", "created_at", "last_used_at"]
