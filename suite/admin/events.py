"""Admin for the event backbone: the outbox with its dead letters (retry action) and each handler's runs."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from suite.models import HandlerRun, OutboxEvent
from suite.services.events import event_retry


class HandlerRunInline(admin.TabularInline):
    model = HandlerRun
    extra = 0
    can_delete = False
    fields = ["handler", "status", "attempts", "started_at", "duration_ms", "last_error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "state", "company", "attempts", "created_at", "delivered_at", "next_attempt_at"]
    list_filter = ["state", "name"]
    search_fields = ["=uuid", "=correlation_id", "name"]
    readonly_fields = [
        "uuid",
        "name",
        "version",
        "payload",
        "company",
        "correlation_id",
        "created_by",
        "created_at",
        "state",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_error",
        "trace_link",
    ]
    inlines = [HandlerRunInline]
    actions = ["retry"]
    list_select_related = ["company"]
    show_full_result_count = False  # the outbox is large: no COUNT(*) of the whole table per page
    date_hierarchy = None

    @admin.display(description=_("trace"))
    def trace_link(self, obj):
        """The whole chain of this event's correlation id (loop visibility, /ops/trace/)."""
        url = reverse("ops-trace", kwargs={"correlation_id": obj.correlation_id})
        return format_html('<a href="{}">{}</a>', url, _("Open the trace"))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Retry the selected events (dead letters and events backing off)"))
    def retry(self, request, queryset):
        retried = 0
        for event in queryset.exclude(state=OutboxEvent.State.DONE).order_by("id"):
            event_retry(event=event, by=request.user)
            retried += 1
        self.message_user(
            request,
            ngettext("%(count)d event queued again.", "%(count)d events queued again.", retried) % {"count": retried},
            messages.SUCCESS,
        )


@admin.register(HandlerRun)
class HandlerRunAdmin(admin.ModelAdmin):
    list_display = ["event", "handler", "status", "attempts", "finished_at", "duration_ms"]
    list_filter = ["status", "handler"]
    search_fields = ["handler"]
    readonly_fields = [
        "event",
        "handler",
        "status",
        "attempts",
        "last_error",
        "started_at",
        "finished_at",
        "duration_ms",
    ]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
