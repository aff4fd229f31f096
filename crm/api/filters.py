"""django-filter filter sets of the CRM API (declared fields only; ``?search=`` and ``?custom.<field>=`` are
handled by the viewsets through ``crm.selectors``).

``MultipleChoiceFilter`` defaults to ``distinct=True``: on a plain column that only turns every list query into a
``SELECT DISTINCT`` over all columns (and its ``COUNT(*)`` into a count of a distinct subquery), 2x the cost of
the page on 100k accounts — so choice filters of own columns say ``distinct=False``."""

from __future__ import annotations

import django_filters

from crm import selectors
from crm.models import (
    Account,
    Activity,
    ActivityKind,
    CompanySize,
    Contact,
    Industry,
    Lead,
    LeadStatus,
    LifecycleStage,
    Opportunity,
    OpportunityStatus,
    Source,
    Tag,
)


class _CustomerFilter(django_filters.FilterSet):
    lifecycle_stage = django_filters.MultipleChoiceFilter(choices=LifecycleStage.choices, distinct=False)
    source = django_filters.MultipleChoiceFilter(choices=Source.choices, distinct=False)
    province = django_filters.CharFilter()
    city = django_filters.CharFilter()
    owner = django_filters.NumberFilter(field_name="owner_id")
    team = django_filters.NumberFilter(field_name="team_id")
    tag = django_filters.NumberFilter(field_name="tags", distinct=True, help_text="a tag id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    credit_limit_min = django_filters.NumberFilter(field_name="credit_limit", lookup_expr="gte")
    credit_limit_max = django_filters.NumberFilter(field_name="credit_limit", lookup_expr="lte")


class AccountFilter(_CustomerFilter):
    industry = django_filters.MultipleChoiceFilter(choices=Industry.choices, distinct=False)
    size = django_filters.MultipleChoiceFilter(choices=CompanySize.choices, distinct=False)
    parent = django_filters.NumberFilter(field_name="parent_id", help_text="a group's subsidiaries")
    group = django_filters.NumberFilter(
        method="in_group", help_text="an account and every account under it, at any depth (a group's companies)"
    )

    class Meta:
        model = Account
        fields = []

    def in_group(self, queryset, name, value):
        return selectors.in_account_group(queryset, int(value))


class ContactFilter(_CustomerFilter):
    account = django_filters.NumberFilter(field_name="account_id")
    has_account = django_filters.BooleanFilter(field_name="account", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Contact
        fields = []


class TagFilter(django_filters.FilterSet):
    group = django_filters.NumberFilter(field_name="group_id")
    ungrouped = django_filters.BooleanFilter(field_name="group", lookup_expr="isnull")

    class Meta:
        model = Tag
        fields = []


class LeadFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=LeadStatus.choices, distinct=False)
    source = django_filters.MultipleChoiceFilter(choices=Source.choices, distinct=False)
    province = django_filters.CharFilter()
    city = django_filters.CharFilter()
    owner = django_filters.NumberFilter(field_name="owner_id")
    unassigned = django_filters.BooleanFilter(field_name="owner", lookup_expr="isnull")
    team = django_filters.NumberFilter(field_name="team_id")
    score_min = django_filters.NumberFilter(field_name="score", lookup_expr="gte")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Lead
        fields = []


class OpportunityFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=OpportunityStatus.choices, distinct=False)
    pipeline = django_filters.NumberFilter(field_name="stage__pipeline_id")
    stage = django_filters.NumberFilter(field_name="stage_id")
    account = django_filters.NumberFilter(field_name="account_id")
    contact = django_filters.NumberFilter(field_name="contact_id")
    owner = django_filters.NumberFilter(field_name="owner_id")
    team = django_filters.NumberFilter(field_name="team_id")
    amount_min = django_filters.NumberFilter(field_name="amount", lookup_expr="gte")
    amount_max = django_filters.NumberFilter(field_name="amount", lookup_expr="lte")
    close_after = django_filters.DateFilter(field_name="expected_close_date", lookup_expr="gte")
    close_before = django_filters.DateFilter(field_name="expected_close_date", lookup_expr="lte")

    class Meta:
        model = Opportunity
        fields = []


class ActivityFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=ActivityKind.choices, distinct=False)
    account = django_filters.NumberFilter(field_name="account_id")
    contact = django_filters.NumberFilter(field_name="contact_id")
    lead = django_filters.NumberFilter(field_name="lead_id")
    opportunity = django_filters.NumberFilter(field_name="opportunity_id")
    ticket = django_filters.NumberFilter(field_name="ticket_id")
    owner = django_filters.NumberFilter(field_name="owner_id")
    done = django_filters.BooleanFilter(field_name="done_at", lookup_expr="isnull", exclude=True)
    due_after = django_filters.IsoDateTimeFilter(field_name="due_at", lookup_expr="gte")
    due_before = django_filters.IsoDateTimeFilter(field_name="due_at", lookup_expr="lt")

    class Meta:
        model = Activity
        fields = []
