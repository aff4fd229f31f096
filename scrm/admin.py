"""Django admin for SCRM: browse and inspect channels, cursors, deliveries and the inbox; changes go through
the services (API, UI). Channel credentials are never shown; admin actions re-poll a channel and re-run the
pipeline on pending deliveries."""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.utils.translation import gettext_lazy as _

from scrm import models as m
from scrm.services.inbox import deliveries_process
from scrm.services.polling import channel_poll


class ReadOnlyAdmin(admin.ModelAdmin):
    list_per_page = 50
    show_full_result_count = False
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

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


from scrm import (  # noqa: E402
    admin_loop,  # noqa: F401  order status messages to customers (closed loop)
    admin_relations,  # noqa: F401  communities, cadences, QR codes, handover (scrmwecom)
    admin_segments,  # noqa: F401  rules, segments, consents, pushes (scrmseg)
)

# ---------------------------------------------------------------- QR campaigns, coupons, UGC (scrmqr)


@admin.register(m.QrCampaign)
class QrCampaignAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "status", "company", "budget", "spent", "prizes_granted", "starts_at", "ends_at")
    list_filter = ("kind", "status")
    search_fields = ("name",)
    list_select_related = ("company",)


@admin.register(m.QrCode)
class QrCodeAdmin(ReadOnlyAdmin):
    list_display = (
        "serial",
        "campaign",
        "product_sku",
        "lot_code",
        "channel_label",
        "staff",
        "scan_count",
        "claimed_at",
    )
    search_fields = ("=serial", "=lot_code")
    list_select_related = ("campaign", "staff")


@admin.register(m.QrScan)
class QrScanAdmin(ReadOnlyAdmin):
    list_display = ("scanned_at", "campaign", "scanner_key", "province", "city", "source")
    list_filter = ("source",)
    search_fields = ("=scanner_key", "=phone", "=openid")
    list_select_related = ("campaign",)


@admin.register(m.QrClaim)
class QrClaimAdmin(ReadOnlyAdmin):
    list_display = ("claimed_at", "campaign", "scanner_key", "amount", "payout_status", "coupon")
    list_filter = ("payout_status",)
    search_fields = ("=scanner_key", "=mch_billno")
    list_select_related = ("campaign", "coupon")


@admin.register(m.CouponTemplate)
class CouponTemplateAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "value", "min_spend", "valid_days", "total_quantity", "issued_count", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)


@admin.register(m.Coupon)
class CouponAdmin(ReadOnlyAdmin):
    list_display = ("code", "template", "status", "reason", "identity", "crm_contact_id", "expires_at", "redeemed_at")
    list_filter = ("status", "reason")
    search_fields = ("=code", "=recipient_phone")
    list_select_related = ("template", "identity")


@admin.register(m.UgcPost)
class UgcPostAdmin(ReadOnlyAdmin):
    list_display = ("text", "kind", "sentiment", "sentiment_score", "author_name", "is_featured", "posted_at")
    list_filter = ("kind", "sentiment", "is_featured")
    search_fields = ("author_name", "=external_id")
    list_select_related = ("channel",)
