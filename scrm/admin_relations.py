"""Django admin for communities, cadences, WeCom channel QR codes and staff handover jobs (read-only views;
changes go through the services — API and pages). Actions run the cadence sweep and move handover jobs on."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from scrm import models as m
from scrm.admin import ReadOnlyAdmin
from scrm.services.cadences import cadence_steps_run_due
from scrm.services.wecom_relations import handover_job_advance


@admin.register(m.Community)
class CommunityAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "channel", "status", "owner", "company", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("name", "=external_id")
    list_select_related = ("channel", "owner", "company")


@admin.register(m.CommunityMember)
class CommunityMemberAdmin(ReadOnlyAdmin):
    list_display = ("member_id", "display_name", "community", "is_staff", "joined_at", "left_at")
    list_filter = ("is_staff",)
    search_fields = ("=member_id", "display_name")
    list_select_related = ("community",)


@admin.register(m.CommunityPost)
class CommunityPostAdmin(ReadOnlyAdmin):
    list_display = ("text", "kind", "community", "answered", "posted_at")
    list_filter = ("kind", "answered")
    list_select_related = ("community",)


class CadenceStepInline(admin.TabularInline):
    model = m.CadenceStep
    fields = ("position", "kind", "delay_minutes", "subject", "message")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(m.Cadence)
class CadenceAdmin(ReadOnlyAdmin):
    list_display = ("name", "trigger_source", "channel", "is_active", "company")
    list_filter = ("is_active", "trigger_source")
    search_fields = ("name",)
    list_select_related = ("channel", "company")
    inlines = [CadenceStepInline]
    actions = ["run_due_steps"]

    @admin.action(description=_("Run due cadence steps now"))
    def run_due_steps(self, request, queryset):
        result = cadence_steps_run_due()
        self.message_user(
            request, _("%(ran)d steps ran, %(done)d enrolments ended.") % {"ran": result.ran, "done": result.completed}
        )


@admin.register(m.CadenceEnrollment)
class CadenceEnrollmentAdmin(ReadOnlyAdmin):
    list_display = ("lead_id", "lead_name", "cadence", "status", "next_position", "next_run_at", "owner")
    list_filter = ("status",)
    search_fields = ("=lead_id", "lead_name")
    list_select_related = ("cadence", "owner")


@admin.register(m.CadenceStepRun)
class CadenceStepRunAdmin(ReadOnlyAdmin):
    list_display = ("enrollment", "step", "outcome", "ran_at", "detail")
    list_filter = ("outcome",)
    list_select_related = ("enrollment", "step")


@admin.register(m.ContactWay)
class ContactWayAdmin(ReadOnlyAdmin):
    list_display = ("name", "state", "channel", "owner", "crm_campaign_id", "added_count", "created_at")
    search_fields = ("name", "=state", "=config_id")
    list_select_related = ("channel", "owner")


@admin.register(m.ContactWayAttribution)
class ContactWayAttributionAdmin(ReadOnlyAdmin):
    list_display = ("contact_way", "identity", "staff_id", "added_at")
    list_select_related = ("contact_way", "identity")


class HandoverItemInline(admin.TabularInline):
    model = m.HandoverItem
    fields = ("kind", "external_id", "status", "errcode", "result_status", "detail", "finished_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(m.HandoverJob)
class HandoverJobAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "kind", "status", "from_user", "to_user", "retry_after", "completed_at", "company")
    list_filter = ("kind", "status")
    list_select_related = ("from_user", "to_user", "company")
    inlines = [HandoverItemInline]
    actions = ["advance_now"]

    @admin.action(description=_("Move the handover on now"))
    def advance_now(self, request, queryset):
        for job in queryset:
            job = handover_job_advance(job_id=job.pk)
            self.message_user(request, f"{job}: {job.get_status_display()}")
