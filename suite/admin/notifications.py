"""Admin for notifications and attachments (read-mostly: they are written by services, not by hand)."""

from django.contrib import admin

from suite.models import Attachment, Follow, Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["title", "recipient", "company", "level", "created_at", "read_at"]
    list_filter = ["company", "level"]
    search_fields = ["title", "body", "recipient__username"]
    list_select_related = ["recipient", "company"]
    readonly_fields = ["recipient", "company", "title", "body", "link", "level", "created_at", "read_at"]

    def has_add_permission(self, request):
        return False


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = [
        "original_name",
        "company",
        "content_type",
        "object_id",
        "mime",
        "size",
        "uploaded_by",
        "created_at",
    ]
    list_filter = ["company", "mime"]
    search_fields = ["original_name"]
    list_select_related = ["company", "content_type", "uploaded_by"]
    readonly_fields = [
        "company",
        "content_type",
        "object_id",
        "file",
        "original_name",
        "size",
        "mime",
        "uploaded_by",
        "created_at",
    ]

    def has_add_permission(self, request):
        return False


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ["user", "content_type", "object_id", "company", "created_at"]
    list_filter = ["company", "content_type"]
    search_fields = ["user__username", "object_id"]
    list_select_related = ["user", "content_type", "company"]
    readonly_fields = ["company", "user", "content_type", "object_id", "created_at"]

    def has_add_permission(self, request):
        return False
