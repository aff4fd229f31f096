"""Django admin for SCRM: browse and inspect channels, cursors, deliveries and the inbox; changes go through
the services (API, UI). Channel credentials are never shown; admin actions re-poll a channel and re-run the
pipeline on pending deliveries."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from scrm import models as m
from scrm.services.inbox import deliveries_process
from scrm.services.polling import channel_poll


class ReadOnlyAdmin(admin.ModelAdmin):
    list_per_page = 50
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.Channel)
class ChannelAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "company", "is_active", "default_assignee", "created_at")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    exclude = ("credentials_encrypted",)
    list_select_related = ("company", "default_assignee")
    actions = ["poll_now", "process_pending"]

    @admin.action(description=_("Poll now"))
    def poll_now(self, request, queryset):
        for channel in queryset:
            result = channel_poll(channel_id=channel.pk)
            self.message_user(request, f"{channel}: {result.stored} new, {result.skipped or 'ok'}")

    @admin.action(description=_("Process pending deliveries"))
    def process_pending(self, request, queryset):
        for channel in queryset:
            result = deliveries_process(channel_id=channel.pk)
            self.message_user(request, f"{channel}: {result.deliveries} processed")


@admin.register(m.ChannelCursor)
class ChannelCursorAdmin(ReadOnlyAdmin):
    list_display = ("channel", "cursor", "polled_at", "failures", "backoff_until", "last_error")
    list_select_related = ("channel",)


@admin.register(m.Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "channel", "received_at", "processed_at")
    list_filter = (("processed_at", admin.EmptyFieldListFilter),)
    search_fields = ("=external_id",)
    list_select_related = ("channel",)


@admin.register(m.SocialIdentity)
class SocialIdentityAdmin(ReadOnlyAdmin):
    list_display = ("display_name", "channel_kind", "external_id", "resolution", "crm_contact_id", "company")
    list_filter = ("channel_kind", "resolution")
    search_fields = ("=external_id", "=unionid", "display_name")
    list_select_related = ("company",)


@admin.register(m.Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ("identity", "channel", "assigned_to", "status", "last_message_at", "first_response_at")
    list_filter = ("status", "channel__kind")
    list_select_related = ("identity", "channel", "assigned_to")


@admin.register(m.Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ("text", "direction", "kind", "conversation", "sent_at")
    list_filter = ("direction", "kind")
    search_fields = ("=external_id",)
    list_select_related = ("conversation__identity", "conversation__channel")
