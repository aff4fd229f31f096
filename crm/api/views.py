"""CRM API viewsets: thin — check the policy (``PolicyPermission``), validate with an input serializer, call a
service, serialise the result. Reads go through ``crm.selectors`` (scoped by the policy layer, prefetched).

Errors: bad input → 400 with field errors; a duplicate customer, a second conversion, a change to a won deal
→ 409 (``code`` says which; a duplicate also lists the ``duplicates`` found).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from crm import selectors
from crm.api import fast, filters, rows, serializers
from crm.errors import CrmConflict, DuplicateCustomerError
from crm.models import (
    Account,
    AccountTag,
    Activity,
    AssignmentRule,
    Contact,
    ContactTag,
    CustomFieldSet,
    Lead,
    LeadScoringRule,
    LostReason,
    Opportunity,
    Pipeline,
    Stage,
    Tag,
    TagGroup,
)
from crm.services import activities as activity_services
from crm.services import custom_fields as custom_field_services
from crm.services import customers as customer_services
from crm.services import leads as lead_services
from crm.services import opportunities as opportunity_services
from crm.services import pool as pool_services
from crm.services import stages as stage_services
from crm.services import tags as tag_services
from crm.services.customer_mail import customer_email
from crm.services.mail import MailRefused
from suite import policy
from suite.api.counting import CachedCountPagination
from suite.api.errors import error_body
from suite.api.viewsets import TenantModelViewSet, TenantReadOnlyViewSet

SEARCH_PARAMETER = OpenApiParameter(
    "search",
    OpenApiTypes.STR,
    description=_("Part of a name (张 finds 张伟), full or initial pinyin (zhangwei, zw), phone or email fragment."),
)
CUSTOM_PARAMETER = OpenApiParameter(
    "custom.<field>",
    OpenApiTypes.STR,
    description=_("Filter by a custom field of the company, e.g. ?custom.level=A (repeatable for several fields)."),
)


class CrmViewSetMixin:
    """Reads through a selector; the CRM's conflicts as 409 in the one error format."""

    search_enabled = False
    custom_target: str | None = None

    def select(self, actor):  # pragma: no cover - every viewset defines it
        raise NotImplementedError

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset.none()
        return self.select(self.actor)

    def search_query(self) -> str:
        return self.request.query_params.get("search", "") if self.search_enabled else ""

    def custom_values(self) -> dict[str, str]:
        if not self.custom_target or self.action != "list":
            return {}
        return {
            key.removeprefix("custom."): value
            for key, value in self.request.query_params.items()
            if key.startswith("custom.") and len(key) > len("custom.")
        }

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        # suite's SearchFilter has refused a NUL byte or an overlong ?search= by now
        query = self.search_query() if self.action == "list" else ""
        if query:
            queryset = selectors.search_filter(queryset, query)
        return queryset

    def handle_exception(self, exc):
        if isinstance(exc, DuplicateCustomerError):
            body = error_body(exc.code, exc.message, exc.field)
            body["duplicates"] = duplicate_candidates_data(self.actor, exc.candidates)
            return Response(body, status=status.HTTP_409_CONFLICT)
        if isinstance(exc, CrmConflict):
            return Response(error_body(exc.code, exc.message, exc.field), status=status.HTTP_409_CONFLICT)
        return super().handle_exception(exc)


class TenantNoDeleteViewSet(TenantReadOnlyViewSet):
    """List, retrieve, create and update (through services) — for configuration that deals refer to and that
    is retired (``is_active``) rather than deleted."""

    create = TenantModelViewSet.create
    update = TenantModelViewSet.update
    partial_update = TenantModelViewSet.partial_update


def duplicate_candidates_data(actor, candidates) -> list[dict]:
    """Candidates for a 409 or a duplicate check: names only of records the actor may see (one query)."""
    if not candidates:
        return []
    model = type(candidates[0].customer)
    visible = set(
        policy.scope(actor, model.objects.filter(pk__in=[c.customer.pk for c in candidates])).values_list(
            "pk", flat=True
        )
    )
    rows = []
    for candidate in candidates:
        customer = candidate.customer
        is_visible = customer.pk in visible
        rows.append(
            {
                "id": customer.pk,
                "kind": customer._meta.model_name,
                "matched_on": list(candidate.matched_on),
                "visible": is_visible,
                "name": customer.name if is_visible else None,
                "owner": customer.owner,
            }
        )
    return serializers.DuplicateCandidateSerializer(rows, many=True).data


# ---------------------------------------------------------------- customers


class _CustomerViewSet(CrmViewSetMixin, TenantModelViewSet):
    search_enabled = True
    policy_actions = {"merge": "merge", "tags": "change", "check_duplicates": "add"}
    ordering_fields = ("name", "created_at", "updated_at", "credit_limit", "lifecycle_stage", "city")
    ordering = ("-updated_at",)

    tag_link_model = None  # AccountTag / ContactTag
    tag_link_field = ""
    pagination_class = CachedCountPagination

    @property
    def count_models(self):
        """What the list's filters read (``suite.api.counting``): the customers and their tag links."""
        return (self.queryset.model, self.tag_link_model)

    def list(self, request, *args, **kwargs):
        """The page from ``.values()`` rows (``crm.api.rows``): same scope, filters, order and JSON as the
        output serializer, a fraction of its cost; the exact ``count`` is cached until an account (or a tag
        link) is written (``suite.api.counting``). A token request with only ``lifecycle_stage``, ``search`` and
        ``page`` takes the compiled path of ``crm.api.fast`` (same scope, filters, order and JSON)."""
        compiled = fast.customer_list(self, request)
        if compiled is not None:
            return compiled
        queryset = self.filter_queryset(self.get_queryset())
        plan = rows.row_plan(self.output_serializer_class, self.get_serializer_context())
        page = self.paginator.paginate_queryset(
            rows.customer_values(queryset, plan), request, view=self, count_queryset=queryset
        )
        data = rows.customer_rows(plan, page, through=self.tag_link_model, owner_field=self.tag_link_field)
        return self.get_paginated_response(data)

    def include_merged(self) -> bool:
        if self.action != "list":
            return True  # an old id still resolves, and shows where it was merged into
        return self.request.query_params.get("include_merged") in ("1", "true")

    def update_object(self, *, actor, instance, data):
        return self.update_service(
            instance,
            by=actor.user,
            tags=data.pop("tags", None),
            custom=data.pop("custom", None),
            **data,
        )

    def delete_object(self, *, actor, instance):
        customer_services.customer_delete(customer=instance, by=actor.user)

    def merge_response(self, request, input_serializer):
        survivor = self.get_object()
        serializer = input_serializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        duplicate = serializer.validated_data["duplicate"]
        if not policy.can(self.actor, "change", duplicate):
            raise DjangoValidationError({"duplicate": [_("Unknown record.")]})
        merged = customer_services.customer_merge(survivor=survivor, duplicate=duplicate, by=request.user)
        return Response(self.output(merged))

    def tags_response(self, request):
        customer = self.get_object()
        serializer = serializers.TagsInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        customer_services.customer_tags_set(customer=customer, tags=serializer.validated_data["tags"], by=request.user)
        return Response(self.output(customer))

    def duplicates_response(self, request, model):
        serializer = serializers.DuplicateCheckInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        candidates = selectors.customer_duplicates_find(
            model=model,
            company_id=self.actor.company_id,
            phone=data.get("phone", ""),
            email=data.get("email", ""),
            unionid=data.get("unionid", ""),
            tax_id=data.get("tax_id", ""),
            name=data.get("name", ""),
            city=data.get("city", ""),
        )
        return Response({"duplicates": duplicate_candidates_data(self.actor, candidates)})


@extend_schema_view(list=extend_schema(parameters=[SEARCH_PARAMETER, CUSTOM_PARAMETER]))
class AccountViewSet(_CustomerViewSet):
    """Accounts (B2B customers). Creating one that duplicates an existing account (same phone, email, tax ID,
    or name and city) answers 409 with the ``duplicates``; send ``force: true`` to create it anyway."""

    queryset = Account.objects.all()
    tag_link_model = AccountTag
    tag_link_field = "account"
    output_serializer_class = serializers.AccountSerializer
    input_serializer_class = serializers.AccountInput
    update_input_serializer_class = serializers.AccountUpdateInput
    filterset_class = filters.AccountFilter
    custom_target = "account"
    policy_actions = {**_CustomerViewSet.policy_actions, "release": "release"}

    def select(self, actor):
        return selectors.accounts_visible_to(
            actor, search="", custom=self.custom_values(), include_merged=self.include_merged()
        )

    def update_service(self, instance, **kwargs):
        return customer_services.account_update(account=instance, **kwargs)

    def create_object(self, *, actor, data):
        return customer_services.account_create(
            company=actor.company,
            by=actor.user,
            tags=data.pop("tags", ()),
            custom=data.pop("custom", None),
            force=data.pop("force", False),
            **data,
        )

    @extend_schema(request=serializers.AccountMergeInput, responses=serializers.AccountSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        """Merge ``duplicate`` into this account: its contacts, leads, opportunities and activities move here."""
        return self.merge_response(request, serializers.AccountMergeInput)

    @extend_schema(request=serializers.TagsInput, responses=serializers.AccountSerializer)
    @action(detail=True, methods=["put"])
    def tags(self, request, pk=None):
        """Replace the account's tags."""
        return self.tags_response(request)

    @extend_schema(
        request=serializers.DuplicateCheckInput, responses=serializers.DuplicateCandidateSerializer(many=True)
    )
    @action(detail=False, methods=["post"], url_path="check-duplicates")
    def check_duplicates(self, request):
        """Accounts that the given facts would duplicate (before creating one)."""
        return self.duplicates_response(request, Account)

    @extend_schema(request=serializers.PoolReleaseInput, responses=serializers.AccountSerializer)
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        """Let the account go to the customer pool (客户公海): nobody owns it then, anyone who sells may claim
        it. 409 when it is in the pool already or has an open deal."""
        account = self.get_object()
        serializer = serializers.PoolReleaseInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        account = pool_services.account_release(account=account, by=request.user, **serializer.validated_data)
        return Response(self.output(account))


@extend_schema_view(list=extend_schema(parameters=[SEARCH_PARAMETER, CUSTOM_PARAMETER]))
class ContactViewSet(_CustomerViewSet):
    """Contacts: B2C customers, and people at accounts. Duplicates (same phone, email, WeChat unionid, or name
    in the same city) answer 409 unless ``force: true``; a unionid is never shared by two live contacts."""

    queryset = Contact.objects.all()
    tag_link_model = ContactTag
    tag_link_field = "contact"
    output_serializer_class = serializers.ContactSerializer
    input_serializer_class = serializers.ContactInput
    update_input_serializer_class = serializers.ContactUpdateInput
    filterset_class = filters.ContactFilter
    custom_target = "contact"

    def select(self, actor):
        return selectors.contacts_visible_to(
            actor, search="", custom=self.custom_values(), include_merged=self.include_merged()
        )

    def update_service(self, instance, **kwargs):
        return customer_services.contact_update(contact=instance, **kwargs)

    def create_object(self, *, actor, data):
        return customer_services.contact_create(
            company=actor.company,
            by=actor.user,
            tags=data.pop("tags", ()),
            custom=data.pop("custom", None),
            force=data.pop("force", False),
            **data,
        )

    @extend_schema(request=serializers.ContactMergeInput, responses=serializers.ContactSerializer)
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        """Merge ``duplicate`` into this contact: its leads, opportunities and activities move here."""
        return self.merge_response(request, serializers.ContactMergeInput)

    @extend_schema(request=serializers.TagsInput, responses=serializers.ContactSerializer)
    @action(detail=True, methods=["put"])
    def tags(self, request, pk=None):
        """Replace the contact's tags."""
        return self.tags_response(request)

    @extend_schema(
        request=serializers.DuplicateCheckInput, responses=serializers.DuplicateCandidateSerializer(many=True)
    )
    @action(detail=False, methods=["post"], url_path="check-duplicates")
    def check_duplicates(self, request):
        """Contacts that the given facts would duplicate (before creating one)."""
        return self.duplicates_response(request, Contact)


# ---------------------------------------------------------------- tags and custom fields


class TagGroupViewSet(CrmViewSetMixin, TenantModelViewSet):
    """Groups of tags; in an exclusive group a customer carries at most one tag."""

    queryset = TagGroup.objects.all()
    output_serializer_class = serializers.TagGroupSerializer
    input_serializer_class = serializers.TagGroupInput
    ordering_fields = ("name", "sort_order")
    ordering = ("sort_order", "name")

    def select(self, actor):
        return selectors.tag_groups_visible_to(actor)

    def create_object(self, *, actor, data):
        return tag_services.tag_group_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return tag_services.tag_group_update(group=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        tag_services.tag_group_delete(group=instance, by=actor.user)


class TagViewSet(CrmViewSetMixin, TenantModelViewSet):
    """The company's tags (shared by CRM customers and, later, SCRM followers)."""

    queryset = Tag.objects.all()
    output_serializer_class = serializers.TagSerializer
    input_serializer_class = serializers.TagInput
    filterset_class = filters.TagFilter
    ordering_fields = ("name", "created_at")
    ordering = ("name",)

    def select(self, actor):
        return selectors.tags_visible_to(actor)

    def create_object(self, *, actor, data):
        return tag_services.tag_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return tag_services.tag_update(tag=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        tag_services.tag_delete(tag=instance, by=actor.user)


class CustomFieldSetViewSet(CrmViewSetMixin, TenantModelViewSet):
    """The custom fields a company adds to accounts, contacts, leads and opportunities (a JSON Schema per kind
    of record). Posting a set for a kind that has one replaces its schema."""

    queryset = CustomFieldSet.objects.all()
    output_serializer_class = serializers.CustomFieldSetSerializer
    input_serializer_class = serializers.CustomFieldSetInput
    update_input_serializer_class = serializers.CustomFieldSetUpdateInput
    ordering_fields = ("target",)
    ordering = ("target",)

    def select(self, actor):
        return selectors.custom_field_sets_visible_to(actor)

    def create_object(self, *, actor, data):
        return custom_field_services.custom_field_set_define(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return custom_field_services.custom_field_set_define(
            company=actor.company, target=instance.target, by=actor.user, schema=data["schema"]
        )

    def delete_object(self, *, actor, instance):
        custom_field_services.custom_field_set_delete(field_set=instance, by=actor.user)


# ---------------------------------------------------------------- leads


@extend_schema_view(list=extend_schema(parameters=[SEARCH_PARAMETER, CUSTOM_PARAMETER]))
class LeadViewSet(CrmViewSetMixin, TenantModelViewSet):
    """Leads: scored by the company's rules (``score_explanation`` says why) and assigned by its assignment
    rules when no owner is given. ``convert`` turns one into account + contact + opportunity; a second
    conversion answers 409 ``already_converted``."""

    queryset = Lead.objects.all()
    output_serializer_class = serializers.LeadSerializer
    input_serializer_class = serializers.LeadInput
    update_input_serializer_class = serializers.LeadUpdateInput
    filterset_class = filters.LeadFilter
    ordering_fields = ("created_at", "updated_at", "score", "name", "company_name", "status")
    ordering = ("-created_at",)
    search_enabled = True
    custom_target = "lead"
    policy_actions = {"convert": "convert", "assign": "assign", "set_status": "change"}

    def select(self, actor):
        return selectors.leads_visible_to(actor, custom=self.custom_values())

    def create_object(self, *, actor, data):
        return lead_services.lead_create(company=actor.company, by=actor.user, custom=data.pop("custom", None), **data)

    def update_object(self, *, actor, instance, data):
        return lead_services.lead_update(lead=instance, by=actor.user, custom=data.pop("custom", None), **data)

    def delete_object(self, *, actor, instance):
        lead_services.lead_delete(lead=instance, by=actor.user)

    @extend_schema(request=serializers.LeadConvertInput, responses=serializers.LeadConversionSerializer)
    @action(detail=True, methods=["post"])
    def convert(self, request, pk=None):
        """Convert the lead into an account, a contact and an opportunity (reusing existing customers)."""
        lead = self.get_object()
        serializer = serializers.LeadConvertInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        result = lead_services.lead_convert(lead=lead, by=request.user, **serializer.validated_data)
        body = serializers.LeadConversionSerializer(
            {
                "lead": self.get_queryset().get(pk=lead.pk),
                "account": result.account,
                "contact": result.contact,
                "opportunity": result.opportunity,
                "reused": list(result.reused),
            },
            context=self.get_serializer_context(),
        ).data
        return Response(body)

    @extend_schema(request=serializers.LeadAssignInput, responses=serializers.LeadSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Give the lead to ``owner``, or without one to whoever the assignment rules pick next."""
        lead = self.get_object()
        serializer = serializers.LeadAssignInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        lead = lead_services.lead_assign(lead=lead, by=request.user, **serializer.validated_data)
        return Response(self.output(lead))

    @extend_schema(request=serializers.LeadStatusInput, responses=serializers.LeadSerializer)
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, pk=None):
        """Mark the lead contacted, qualified or disqualified (with a ``reason``)."""
        lead = self.get_object()
        serializer = serializers.LeadStatusInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        lead = lead_services.lead_status_set(lead=lead, by=request.user, **serializer.validated_data)
        return Response(self.output(lead))


class AssignmentRuleViewSet(CrmViewSetMixin, TenantModelViewSet):
    """How new leads are assigned: round robin, by province / territory, by source; by ascending priority."""

    queryset = AssignmentRule.objects.all()
    output_serializer_class = serializers.AssignmentRuleSerializer
    input_serializer_class = serializers.AssignmentRuleInput
    ordering_fields = ("priority", "name")
    ordering = ("priority",)

    def select(self, actor):
        return selectors.assignment_rules_visible_to(actor)

    def create_object(self, *, actor, data):
        return lead_services.assignment_rule_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return lead_services.assignment_rule_update(rule=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        lead_services.assignment_rule_delete(rule=instance, by=actor.user)


class LeadScoringRuleViewSet(CrmViewSetMixin, TenantModelViewSet):
    """Lead scoring rules: points added when a lead's field matches; a lead's score is their sum (0–100)."""

    queryset = LeadScoringRule.objects.all()
    output_serializer_class = serializers.LeadScoringRuleSerializer
    input_serializer_class = serializers.LeadScoringRuleInput
    ordering_fields = ("name", "points", "created_at")
    ordering = ("created_at",)

    def select(self, actor):
        return selectors.lead_scoring_rules_visible_to(actor)

    def create_object(self, *, actor, data):
        return lead_services.lead_scoring_rule_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return lead_services.lead_scoring_rule_update(rule=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        lead_services.lead_scoring_rule_delete(rule=instance, by=actor.user)


# ---------------------------------------------------------------- pipelines and opportunities


class PipelineViewSet(CrmViewSetMixin, TenantNoDeleteViewSet):
    """Sales pipelines with their stages. A pipeline has one won (100 %) and one lost (0 %) stage."""

    queryset = Pipeline.objects.all()
    output_serializer_class = serializers.PipelineSerializer
    input_serializer_class = serializers.PipelineInput
    update_input_serializer_class = serializers.PipelineUpdateInput
    ordering_fields = ("name", "sort_order")
    ordering = ("sort_order", "name")

    def select(self, actor):
        return selectors.pipelines_visible_to(actor)

    def create_object(self, *, actor, data):
        return opportunity_services.pipeline_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return opportunity_services.pipeline_update(pipeline=instance, by=actor.user, **data)


class StageViewSet(CrmViewSetMixin, TenantModelViewSet):
    """Stages of the pipelines: add an open stage, rename, re-weight (won stays 100 %, lost 0 %), move up or
    down, retire (``is_active: false``) and remove — with the rules of ``crm.services.stages`` (won and lost
    last and in use, one open stage in use, a stage with deals or history is retired, not removed: 409)."""

    queryset = Stage.objects.all()
    output_serializer_class = serializers.StageSerializer
    input_serializer_class = serializers.StageCreateInput
    update_input_serializer_class = serializers.StageUpdateInput
    ordering_fields = ("sequence", "name")
    ordering = ("pipeline", "sequence")
    policy_actions = {"move": "change"}

    def select(self, actor):
        return selectors.stages_visible_to(actor)

    def create_object(self, *, actor, data):
        return stage_services.stage_create(by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        if data.get("is_active") is False and instance.is_active:  # retiring has rules of its own
            instance = stage_services.stage_retire(stage=instance, by=actor.user)
            data = {name: value for name, value in data.items() if name != "is_active"}
        return opportunity_services.stage_update(stage=instance, by=actor.user, **data) if data else instance

    def delete_object(self, *, actor, instance) -> None:
        stage_services.stage_delete(stage=instance, by=actor.user)

    @extend_schema(request=serializers.StageMoveInput, responses=serializers.StageSerializer)
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        """Move an open stage one place up or down among its pipeline's open stages."""
        stage = self.get_object()
        data = serializers.StageMoveInput(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        return Response(self.output(stage_services.stage_move(stage=stage, by=request.user, **data.validated_data)))


class LostReasonViewSet(CrmViewSetMixin, TenantNoDeleteViewSet):
    """Why deals are lost: the company's list."""

    queryset = LostReason.objects.all()
    output_serializer_class = serializers.LostReasonSerializer
    input_serializer_class = serializers.LostReasonInput
    ordering_fields = ("sort_order", "name")
    ordering = ("sort_order", "name")

    def select(self, actor):
        return selectors.lost_reasons_visible_to(actor)

    def create_object(self, *, actor, data):
        return opportunity_services.lost_reason_create(
            company=actor.company, by=actor.user, name=data["name"], name_en=data.get("name_en", "")
        )

    def update_object(self, *, actor, instance, data):
        return opportunity_services.lost_reason_update(reason=instance, by=actor.user, **data)


@extend_schema_view(list=extend_schema(parameters=[SEARCH_PARAMETER, CUSTOM_PARAMETER]))
class OpportunityViewSet(CrmViewSetMixin, TenantModelViewSet):
    """Opportunities (商机). Stage changes go through ``move`` (a kanban drag), ``win`` and ``lose``; winning
    publishes ``crm.opportunity.won`` for ERP. A won opportunity is final (409 on changes to it)."""

    queryset = Opportunity.objects.all()
    output_serializer_class = serializers.OpportunitySerializer
    input_serializer_class = serializers.OpportunityInput
    update_input_serializer_class = serializers.OpportunityUpdateInput
    filterset_class = filters.OpportunityFilter
    ordering_fields = ("created_at", "updated_at", "amount", "expected_close_date", "name", "stage_entered_at")
    ordering = ("-updated_at",)
    search_enabled = True
    custom_target = "opportunity"
    policy_actions = {
        "move": "change",
        "win": "change",
        "lose": "change",
        "stage_history": "view",
        "forecast": "view",
        "funnel": "view",
    }

    def select(self, actor):
        return selectors.opportunities_visible_to(actor, custom=self.custom_values())

    def get_object(self):
        """The opportunity of a detail route through the actor's scope (404 outside it). Without query
        parameters (which DRF's filter backends would apply) it is read by ``selectors.opportunity_visible_to``:
        the same row and joins, compiled and planned once (the win is the closed loop's hot request)."""
        if self.request.query_params or getattr(self, "swagger_fake_view", False):
            return super().get_object()
        try:
            pk = int(self.kwargs[self.lookup_url_kwarg or self.lookup_field])
        except (TypeError, ValueError):
            raise Http404 from None
        opportunity = selectors.opportunity_visible_to(self.actor, pk)
        if opportunity is None:
            raise Http404
        self.check_object_permissions(self.request, opportunity)
        return opportunity

    def output(self, instance) -> dict:
        if self.action == "create":
            # just written by the service, which loaded every relation the serializer shows (stage with its
            # pipeline, account, contact, owner, team): rendered as is, without reading it back
            return self.output_serializer_class(instance, context=self.get_serializer_context()).data
        return super().output(instance)

    def create(self, request, *args, **kwargs):
        """The usual body (name, account, amount, description) through ``crm.api.fast`` — same validation, scope,
        service and output — everything else through the input serializer."""
        compiled = fast.opportunity_create(self, request)
        if compiled is not None:
            return compiled
        return super().create(request, *args, **kwargs)

    def create_object(self, *, actor, data):
        return opportunity_services.opportunity_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return opportunity_services.opportunity_update(
            opportunity=instance, by=actor.user, custom=data.pop("custom", None), **data
        )

    def delete_object(self, *, actor, instance):
        opportunity_services.opportunity_delete(opportunity=instance, by=actor.user)

    @extend_schema(request=serializers.OpportunityMoveInput, responses=serializers.OpportunitySerializer)
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        """Move to another stage of the pipeline (to won: wins it; to lost: needs ``lost_reason``)."""
        opportunity = self.get_object()
        serializer = serializers.OpportunityMoveInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        opportunity = opportunity_services.opportunity_move(
            opportunity=opportunity,
            stage=data["stage"],
            lost_reason=data.get("lost_reason"),
            lost_note=data.get("lost_note", ""),
            by=request.user,
        )
        return Response(self.output(opportunity))

    @extend_schema(request=None, responses=serializers.OpportunitySerializer)
    @action(detail=True, methods=["post"])
    def win(self, request, pk=None):
        """Mark the opportunity won (calling it again changes nothing)."""
        shown = self.get_object()
        won = opportunity_services.opportunity_win(opportunity=shown, by=request.user)
        # The answer without reading the row back (issue #7 figure: the win is the loop's hot request): the
        # instance read through the actor's scope already carries every relation the serializer shows; the win
        # changed only these fields of the opportunity itself (the account's and contact's lifecycle, which the
        # win may change too, are not part of their summaries).
        for name in ("status", "stage_entered_at", "closed_at", "lost_note", "updated_at"):
            setattr(shown, name, getattr(won, name))
        shown.stage, shown.lost_reason = won.stage, None
        return Response(self.output_serializer_class(shown, context=self.get_serializer_context()).data)

    @extend_schema(request=serializers.OpportunityLoseInput, responses=serializers.OpportunitySerializer)
    @action(detail=True, methods=["post"])
    def lose(self, request, pk=None):
        """Mark the opportunity lost, with one of the company's lost reasons and a note."""
        opportunity = self.get_object()
        serializer = serializers.OpportunityLoseInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        opportunity = opportunity_services.opportunity_lose(
            opportunity=opportunity,
            reason=serializer.validated_data["lost_reason"],
            note=serializer.validated_data.get("note", ""),
            by=request.user,
        )
        return Response(self.output(opportunity))

    @extend_schema(responses=serializers.StageChangeSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="stage-history", pagination_class=None)
    def stage_history(self, request, pk=None):
        """Every stage the opportunity went through, oldest first."""
        opportunity = self.get_object()
        changes = selectors.stage_changes_visible_to(self.actor, opportunity=opportunity)
        return Response(
            serializers.StageChangeSerializer(changes, many=True, context=self.get_serializer_context()).data
        )

    @extend_schema(parameters=[serializers.ForecastQuery], responses=serializers.ForecastRowSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def forecast(self, request):
        """Weighted forecast per owner or team and month (open: amount × stage probability; won: actual)."""
        query = serializers.ForecastQuery(data=request.query_params, context=self.get_serializer_context())
        query.is_valid(raise_exception=True)
        rows = selectors.opportunity_forecast(self.actor, **query.validated_data)
        return Response(serializers.ForecastRowSerializer(rows, many=True).data)

    @extend_schema(parameters=[serializers.FunnelQuery], responses=serializers.FunnelStepSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def funnel(self, request):
        """How many opportunities of a pipeline reached each stage, and the conversion between stages."""
        query = serializers.FunnelQuery(data=request.query_params, context=self.get_serializer_context())
        query.is_valid(raise_exception=True)
        steps = selectors.opportunity_funnel(self.actor, **query.validated_data)
        return Response(serializers.FunnelStepSerializer(steps, many=True).data)


# ---------------------------------------------------------------- activities


class ActivityViewSet(CrmViewSetMixin, TenantModelViewSet):
    """Calls, meetings, tasks and notes linked to accounts, contacts, leads, opportunities and tickets."""

    queryset = Activity.objects.all()
    output_serializer_class = serializers.ActivitySerializer
    input_serializer_class = serializers.ActivityInput
    filterset_class = filters.ActivityFilter
    ordering_fields = ("created_at", "due_at", "done_at")
    ordering = ("-created_at",)
    policy_actions = {"complete": "change", "reopen": "change", "my_day": "view", "email": "add"}

    def select(self, actor):
        return selectors.activities_visible_to(actor)

    def create_object(self, *, actor, data):
        return activity_services.activity_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return activity_services.activity_update(activity=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        activity_services.activity_delete(activity=instance, by=actor.user)

    @extend_schema(request=serializers.ActivityCompleteInput, responses=serializers.ActivitySerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """Mark done (now, or at ``done_at``) with an optional outcome."""
        activity = self.get_object()
        serializer = serializers.ActivityCompleteInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        activity = activity_services.activity_complete(activity=activity, by=request.user, **serializer.validated_data)
        return Response(self.output(activity))

    @extend_schema(request=None, responses=serializers.ActivitySerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        """Mark a task, call or meeting as not done."""
        activity = activity_services.activity_reopen(activity=self.get_object(), by=request.user)
        return Response(self.output(activity))

    @extend_schema(
        request=serializers.CustomerEmailInput,
        responses={
            201: serializers.ActivitySerializer,
            503: OpenApiResponse(description="the mail server did not take the e-mail; nothing was logged"),
        },
    )
    @action(detail=False, methods=["post"])
    def email(self, request):
        """Send an e-mail about one record (``to`` and ``cc``: addresses separated by commas; reply-to you) and
        log it on the record as a done activity of kind ``email``. All or nothing: a mail server that refuses is
        a 503 ``mail_refused`` and nothing is logged."""
        serializer = serializers.CustomerEmailInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        try:
            activity = customer_email(company=self.actor.company, by=request.user, **serializer.validated_data)
        except MailRefused as exc:
            return Response(error_body(exc.code, exc.message, None), status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(self.output(activity), status=status.HTTP_201_CREATED)

    @extend_schema(responses=serializers.ActivitySerializer(many=True))
    @action(detail=False, methods=["get"], url_path="my-day", filter_backends=[])
    def my_day(self, request):
        """The caller's open activities due by the end of today, most overdue first."""
        page = self.paginate_queryset(selectors.activities_due(self.actor))
        data = serializers.ActivitySerializer(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)
