"""Django admin for campaigns, their costs, members and touches, web-to-lead forms, reminder preferences and
stale-opportunity nudges (imported by ``crm.admin``): browse and inspect with the audit history; changes go
through the API and the pages, which call the services."""

from __future__ import annotations

from django.contrib import admin

from crm import models as m
from crm.admin import ReadOnlyAdmin


@admin.register(m.Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = ("name", "code", "company", "channel", "status", "budget", "start_date", "end_date", "owner")
    list_filter = ("company", "channel", "status")
    list_select_related = ("company", "owner")
    search_fields = ("name", "name_en", "code")


@admin.register(m.CampaignCost)
class CampaignCostAdmin(ReadOnlyAdmin):
    list_display = ("campaign", "incurred_on", "description", "amount", "created_by")
    list_filter = ("company",)
    list_select_related = ("campaign", "created_by")
    date_hierarchy = "incurred_on"


@admin.register(m.CampaignMember)
class CampaignMemberAdmin(ReadOnlyAdmin):
    list_display = ("campaign", "account", "contact", "lead", "status", "sent_at", "responded_at", "converted_at")
    list_filter = ("company", "status")
    list_select_related = ("campaign", "account", "contact", "lead")


@admin.register(m.CampaignTouch)
class CampaignTouchAdmin(ReadOnlyAdmin):
    list_display = ("campaign", "kind", "source", "touched_at", "lead", "contact", "account", "opportunity")
    list_filter = ("company", "kind", "source")
    list_select_related = ("campaign", "lead", "contact", "account", "opportunity")


@admin.register(m.WebForm)
class WebFormAdmin(ReadOnlyAdmin):
    list_display = ("name", "company", "title", "source", "campaign", "is_active")
    list_filter = ("company", "is_active")
    list_select_related = ("company", "campaign")
    exclude = ("key",)


@admin.register(m.ReminderPreference)
class ReminderPreferenceAdmin(ReadOnlyAdmin):
    list_display = ("company", "user", "email_reminders")
    list_filter = ("company", "email_reminders")
    list_select_related = ("company", "user")


@admin.register(m.OpportunityNudge)
class OpportunityNudgeAdmin(ReadOnlyAdmin):
    list_display = ("opportunity", "owner", "nudged_at", "stale_days", "last_activity_at")
    list_filter = ("company",)
    list_select_related = ("opportunity", "owner")
