"""Django admin for the CRM: every model can be found, filtered and inspected (with its audit history), and
the admin actions call services.

Records are not edited in admin forms: a form's ``save()`` would bypass the services that normalise phones,
keep ``search_text``, validate custom fields and write stage history (docs/decisions.md). Edits go through
the API and the UI; admin offers the service-backed actions below.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from crm import models as m
from crm.errors import CrmConflict
from crm.selectors import search_filter
from crm.services.activities import activity_complete
from crm.services.customers import customer_merge
from crm.services.leads import lead_assign, lead_rescore


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse and inspect; changes go through services (API, UI, or this admin's actions)."""

    list_per_page = 50
    show_full_result_count = False  # COUNT(*) over big tables on every page is not free

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class SearchTextAdmin(ReadOnlyAdmin):
    """Admin search through the trigram-indexed ``search_text`` (Chinese, pinyin, phone, email)."""

    search_fields = ("search_text",)
    search_help_text = _("Name, pinyin (zhangwei / zw), phone or email fragment.")

    def get_search_results(self, request, queryset, search_term):
        if not search_term:
            return queryset, False
        return search_filter(queryset, search_term), False


def _report(modeladmin, request, done: int, errors: list[str]) -> None:
    if done:
        message = ngettext("%(count)d record updated.", "%(count)d records updated.", done) % {"count": done}
        modeladmin.message_user(request, message)
    for error in errors[:10]:
        modeladmin.message_user(request, error, level=messages.ERROR)


@admin.action(description=_("Merge the selected customers into the oldest of them"))
def merge_into_oldest(modeladmin, request, queryset: QuerySet) -> None:
    records = list(queryset.order_by("pk"))
    if len(records) < 2 or len({r.company_id for r in records}) != 1:
        modeladmin.message_user(request, _("Select at least two records of one company."), level=messages.ERROR)
        return
    survivor, *duplicates = records
    done, errors = 0, []
    for duplicate in duplicates:
        try:
            customer_merge(survivor=survivor, duplicate=duplicate, by=request.user)
            done += 1
        except (ValidationError, CrmConflict) as exc:
            errors.append(f"{duplicate}: {getattr(exc, 'message', None) or '; '.join(exc.messages)}")
    _report(modeladmin, request, done, errors)


@admin.register(m.Account)
class AccountAdmin(SearchTextAdmin):
    list_display = ("name", "name_en", "company", "city", "lifecycle_stage", "owner", "credit_limit", "updated_at")
    list_filter = (
        "company",
        "lifecycle_stage",
        "industry",
        "size",
        "source",
        ("merged_into", admin.EmptyFieldListFilter),
    )
    list_select_related = ("company", "owner")
    exclude = ("search_text",)
    raw_id_fields = ("parent",)  # a company's 100,000 accounts are not one <select>
    actions = [merge_into_oldest]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(m.Contact)
class ContactAdmin(AccountAdmin):
    list_display = ("name", "name_en", "company", "account", "phone", "city", "lifecycle_stage", "owner", "updated_at")
    list_filter = ("company", "lifecycle_stage", "source", "gender", ("merged_into", admin.EmptyFieldListFilter))
    list_select_related = ("company", "owner", "account")
    raw_id_fields = ("account",)


@admin.register(m.TagGroup)
class TagGroupAdmin(ReadOnlyAdmin):
    list_display = ("name", "name_en", "company", "is_exclusive", "sort_order")
    list_filter = ("company", "is_exclusive")
    search_fields = ("name", "name_en")


@admin.register(m.Tag)
class TagAdmin(ReadOnlyAdmin):
    list_display = ("name", "name_en", "group", "company", "color")
    list_filter = ("company",)
    list_select_related = ("group", "company")
    search_fields = ("name", "name_en")


@admin.register(m.CustomFieldSet)
class CustomFieldSetAdmin(ReadOnlyAdmin):
    list_display = ("target", "company", "updated_by", "updated_at")
    list_filter = ("company", "target")


@admin.action(description=_("Score again with the current rules"))
def rescore(modeladmin, request, queryset: QuerySet) -> None:
    done = 0
    for lead in queryset.order_by("pk"):
        lead_rescore(lead=lead, by=request.user)
        done += 1
    _report(modeladmin, request, done, [])


@admin.action(description=_("Assign by the assignment rules"))
def assign_by_rules(modeladmin, request, queryset: QuerySet) -> None:
    done, errors = 0, []
    for lead in queryset.order_by("pk"):
        try:
            lead_assign(lead=lead, by=request.user)
            done += 1
        except (ValidationError, CrmConflict) as exc:
            errors.append(f"{lead}: {getattr(exc, 'message', None) or '; '.join(exc.messages)}")
    _report(modeladmin, request, done, errors)


@admin.register(m.Lead)
class LeadAdmin(SearchTextAdmin):
    list_display = ("__str__", "company", "status", "score", "source", "province", "owner", "created_at")
    list_filter = ("company", "status", "source")
    list_select_related = ("company", "owner")
    exclude = ("search_text",)
    actions = [rescore, assign_by_rules]


@admin.register(m.AssignmentRule)
class AssignmentRuleAdmin(ReadOnlyAdmin):
    list_display = ("name", "company", "kind", "priority", "is_active", "last_assignee")
    list_filter = ("company", "kind", "is_active")


@admin.register(m.LeadScoringRule)
class LeadScoringRuleAdmin(ReadOnlyAdmin):
    list_display = ("name", "company", "field", "operator", "value", "points", "is_active")
    list_filter = ("company", "field", "is_active")


class StageInline(admin.TabularInline):
    model = m.Stage
    fields = ("name", "name_en", "sequence", "probability", "is_won", "is_lost", "is_active")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.Pipeline)
class PipelineAdmin(ReadOnlyAdmin):
    list_display = ("name", "name_en", "company", "is_default", "is_active")
    list_filter = ("company", "is_default", "is_active")
    inlines = [StageInline]


@admin.register(m.Stage)
class StageAdmin(ReadOnlyAdmin):
    list_display = ("name", "pipeline", "sequence", "probability", "is_won", "is_lost", "is_active")
    list_filter = ("company", "pipeline", "is_won", "is_lost")
    list_select_related = ("pipeline",)


@admin.register(m.LostReason)
class LostReasonAdmin(ReadOnlyAdmin):
    list_display = ("name", "name_en", "company", "is_active", "sort_order")
    list_filter = ("company", "is_active")


class StageChangeInline(admin.TabularInline):
    model = m.OpportunityStageChange
    fk_name = "opportunity"
    fields = ("changed_at", "from_stage", "to_stage", "amount", "probability", "seconds_in_from_stage", "changed_by")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ContactRoleInline(admin.TabularInline):
    """The deal's buying committee, read-only here (changed on the opportunity page or the API)."""

    model = m.OpportunityContactRole
    fk_name = "opportunity"
    fields = ("contact", "role", "stance", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.Opportunity)
class OpportunityAdmin(SearchTextAdmin):
    list_display = ("name", "company", "account", "stage", "status", "amount", "expected_close_date", "owner")
    list_filter = ("company", "status", "stage__pipeline")
    list_select_related = ("company", "account", "stage", "owner")
    exclude = ("search_text",)
    inlines = [ContactRoleInline, StageChangeInline]


@admin.register(m.OpportunityContactRole)
class OpportunityContactRoleAdmin(ReadOnlyAdmin):
    list_display = ("opportunity", "contact", "role", "stance", "updated_at")
    list_filter = ("company", "role", "stance")
    list_select_related = ("opportunity", "contact")
    search_fields = ("opportunity__name", "contact__name")


@admin.register(m.OpportunityStageChange)
class OpportunityStageChangeAdmin(ReadOnlyAdmin):
    list_display = ("opportunity", "from_stage", "to_stage", "changed_at", "changed_by", "amount", "probability")
    list_filter = ("company",)
    list_select_related = ("opportunity", "from_stage", "to_stage", "changed_by")


@admin.action(description=_("Mark done"))
def mark_done(modeladmin, request, queryset: QuerySet) -> None:
    done = 0
    for activity in queryset.filter(done_at__isnull=True).order_by("pk"):
        activity_complete(activity=activity, by=request.user)
        done += 1
    _report(modeladmin, request, done, [])


@admin.register(m.Activity)
class ActivityAdmin(ReadOnlyAdmin):
    list_display = ("subject", "kind", "company", "owner", "due_at", "done_at", "account", "contact")
    list_filter = ("company", "kind", ("done_at", admin.EmptyFieldListFilter))
    list_select_related = ("company", "owner", "account", "contact")
    search_fields = ("subject",)
    actions = [mark_done]


@admin.register(m.AccountTag)
class AccountTagAdmin(ReadOnlyAdmin):
    list_display = ("account", "tag")
    list_select_related = ("account", "tag")


@admin.register(m.ContactTag)
class ContactTagAdmin(ReadOnlyAdmin):
    list_display = ("contact", "tag")
    list_select_related = ("contact", "tag")


@admin.register(m.OwnerHandover)
class OwnerHandoverAdmin(ReadOnlyAdmin):
    list_display = ("from_user", "to_user", "state", "source_key", "chunks", "created_at", "finished_at")
    list_filter = ("company", "state")


from crm import (  # noqa: E402  each in its own module
    admin_campaigns,  # noqa: F401  campaigns, web forms, reminders, nudges
    admin_finance,  # noqa: F401  customer finance facts from ERP (closed loop)
    admin_quotes,  # noqa: F401  opportunity lines and quotes
    admin_rules,  # noqa: F401  customer pool rule and moves, quote approval rule
    admin_segments,  # noqa: F401  tag history, contact facts (segments)
    admin_targets,  # noqa: F401  sales targets (dashboards)
    admin_tickets,  # noqa: F401  service tickets
)
