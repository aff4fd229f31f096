"""Django admin for auto-tag rules, segments, consents, push policies, campaigns and their recipients:
read-only browsing (changes go through the services: API and UI); actions withdraw consents and cancel
campaigns through the services."""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.utils.translation import gettext_lazy as _

from scrm import models as m
from scrm.admin import ReadOnlyAdmin
from scrm.services.consent import consent_withdraw
from scrm.services.pushes import push_campaign_cancel, push_policy_set


@admin.register(m.TagRule)
class TagRuleAdmin(ReadOnlyAdmin):
    list_display = ("name", "company", "trigger", "behaviour", "add_tag_id", "remove_tag_id", "is_active")
    list_filter = ("trigger", "is_active")
    search_fields = ("name",)
    list_select_related = ("company",)


@admin.register(m.Segment)
class SegmentAdmin(ReadOnlyAdmin):
    list_display = ("name", "company", "last_count", "counted_at", "created_by")
    search_fields = ("name",)
    list_select_related = ("company", "created_by")


@admin.register(m.Consent)
class ConsentAdmin(ReadOnlyAdmin):
    list_display = ("crm_contact_id", "company", "channel_kind", "lawful_basis", "source", "granted_at", "withdrawn_at")
    list_filter = ("channel_kind", "lawful_basis", ("withdrawn_at", admin.EmptyFieldListFilter))
    search_fields = ("=crm_contact_id", "source")
    list_select_related = ("company",)
    actions = ["withdraw"]

    @admin.action(description=_("Withdraw now"))
    def withdraw(self, request, queryset):
        for consent in queryset.filter(withdrawn_at__isnull=True):
            consent_withdraw(
                company_id=consent.company_id,
                crm_contact_id=consent.crm_contact_id,
                channel_kind=consent.channel_kind,
                via="admin",
            )


@admin.register(m.PushPolicy)
class PushPolicyAdmin(ReadOnlyAdmin):
    """The frequency cap of each company; changed through ``push_policy_set``."""

    list_display = ("company", "max_pushes", "window_days")
    list_select_related = ("company",)
    fields = ("company", "max_pushes", "window_days")
    readonly_fields = ("company",)

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def save_model(self, request, obj, form, change):
        push_policy_set(
            company_id=obj.company_id, max_pushes=obj.max_pushes, window_days=obj.window_days, by=request.user
        )


class PushContentInline(admin.TabularInline):
    model = m.PushContent
    extra = 0
    can_delete = False
    readonly_fields = ("channel", "text")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.PushCampaign)
class PushCampaignAdmin(ReadOnlyAdmin):
    list_display = ("name", "company", "segment", "status", "scheduled_at", "started_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("name",)
    list_select_related = ("company", "segment")
    inlines = [PushContentInline]
    actions = ["cancel"]

    @admin.action(description=_("Cancel (skip the recipients not sent yet)"))
    def cancel(self, request, queryset):
        for campaign in queryset:
            push_campaign_cancel(campaign=campaign, by=request.user)


@admin.register(m.PushMessage)
class PushMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "campaign", "channel", "crm_contact_id", "status", "skip_reason", "sent_at", "clicks")
    list_filter = ("status", "skip_reason")
    search_fields = ("=crm_contact_id", "=external_id")
    list_select_related = ("campaign", "channel")
    raw_id_fields = ("identity",)
