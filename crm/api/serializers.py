"""Explicit input and output serializers of the CRM API.

Inputs declare exactly what a client may set; they validate shape and references (every id resolves only to a
record the caller may see) and hand ``validated_data`` to a service, which normalises and checks the rest
(phone numbers, custom fields, duplicates). Outputs declare exactly what is shown.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from crm.models import (
    Account,
    Activity,
    AssignmentRule,
    Contact,
    CustomFieldSet,
    CustomFieldTarget,
    Lead,
    LeadScoringRule,
    LostReason,
    Opportunity,
    OpportunityStageChange,
    Pipeline,
    PoolAccount,
    PoolMoveReason,
    Stage,
    Tag,
    TagGroup,
    Ticket,
)
from crm.text import normalize_phone
from suite.api.serializers import (
    CompanyUserField,
    InputModelSerializer,
    InputSerializer,
    OutputSerializer,
    ScopedRelatedField,
    UserSummarySerializer,
)
from suite.models import Team

PHONE_INPUT_LENGTH = 40  # what people type (spaces, dashes, +86, brackets) before it is stored in E.164


class PhoneField(serializers.CharField):
    """A phone number as people type it; validated (and normalised to E.164, +86 by default) with the other
    fields, so one response lists every bad field."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", PHONE_INPUT_LENGTH)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return normalize_phone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages, code="invalid_phone") from None


# ---------------------------------------------------------------- summaries


class TeamSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class TagSerializer(OutputSerializer):
    group_name = serializers.CharField(source="group.name", read_only=True, default=None)

    class Meta:
        model = Tag
        fields = ["id", "name", "name_en", "color", "group", "group_name", "created_at", "updated_at"]
        read_only_fields = fields


class AccountSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    name_en = serializers.CharField(read_only=True)


class ContactSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    name_en = serializers.CharField(read_only=True)


class StageSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    name_en = serializers.CharField(read_only=True)
    probability = serializers.IntegerField(read_only=True)
    is_won = serializers.BooleanField(read_only=True)
    is_lost = serializers.BooleanField(read_only=True)


# ---------------------------------------------------------------- tags and custom fields


class TagGroupSerializer(OutputSerializer):
    class Meta:
        model = TagGroup
        fields = ["id", "name", "name_en", "is_exclusive", "sort_order", "created_at", "updated_at"]
        read_only_fields = fields


class TagGroupInput(InputModelSerializer):
    class Meta:
        model = TagGroup
        fields = ["name", "name_en", "is_exclusive", "sort_order"]
        validators = []


class TagInput(InputModelSerializer):
    group = ScopedRelatedField(model=TagGroup, allow_null=True, required=False)

    class Meta:
        model = Tag
        fields = ["name", "name_en", "color", "group"]
        validators = []


class CustomFieldSetSerializer(OutputSerializer):
    class Meta:
        model = CustomFieldSet
        fields = ["id", "target", "schema", "created_at", "updated_at"]
        read_only_fields = fields


class CustomFieldSetInput(InputSerializer):
    target = serializers.ChoiceField(choices=CustomFieldTarget.choices)
    schema = serializers.JSONField(help_text=_('A JSON Schema with "type": "object" and flat "properties".'))


class CustomFieldSetUpdateInput(InputSerializer):
    schema = serializers.JSONField()


# ---------------------------------------------------------------- customers

_CUSTOMER_OUTPUT = [
    "id",
    "name",
    "name_en",
    "phone",
    "email",
    "wechat_id",
    "province",
    "city",
    "district",
    "address",
    "source",
    "lifecycle_stage",
    "credit_limit",
    "tags",
    "custom",
    "owner",
    "team",
    "merged_into",
    "merged_at",
    "created_at",
    "updated_at",
]
_CUSTOMER_INPUT = [
    "name",
    "name_en",
    "phone",
    "email",
    "wechat_id",
    "province",
    "city",
    "district",
    "address",
    "source",
    "lifecycle_stage",
    "credit_limit",
    "tags",
    "custom",
    "owner",
    "team",
]


class AccountSerializer(OutputSerializer):
    tags = TagSerializer(many=True, read_only=True)
    owner = UserSummarySerializer(read_only=True, allow_null=True)
    team = TeamSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = Account
        fields = [*_CUSTOMER_OUTPUT[:10], "industry", "size", "website", "tax_id", "parent", *_CUSTOMER_OUTPUT[10:]]
        read_only_fields = fields


class ContactSerializer(OutputSerializer):
    tags = TagSerializer(many=True, read_only=True)
    owner = UserSummarySerializer(read_only=True, allow_null=True)
    team = TeamSummarySerializer(read_only=True, allow_null=True)
    account = AccountSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = Contact
        fields = [
            *_CUSTOMER_OUTPUT[:2],
            "account",
            "gender",
            "title",
            "department",
            "birthday",
            *_CUSTOMER_OUTPUT[2:5],
            "unionid",
            *_CUSTOMER_OUTPUT[5:],
        ]
        read_only_fields = fields


class _CustomerInput(InputModelSerializer):
    phone = PhoneField()
    email = serializers.CharField(max_length=254, allow_blank=True, required=False)
    tags = ScopedRelatedField(model=Tag, many=True, required=False)
    custom = serializers.DictField(required=False, help_text=_("Values of the company's custom fields."))
    owner = CompanyUserField(allow_null=True, required=False)
    team = ScopedRelatedField(model=Team, allow_null=True, required=False)


class AccountInput(_CustomerInput):
    parent = ScopedRelatedField(
        model=Account, allow_null=True, required=False, help_text=_("The group or head office (上级客户).")
    )
    force = serializers.BooleanField(
        required=False, default=False, write_only=True, help_text=_("Create even if duplicates exist.")
    )

    class Meta:
        model = Account
        fields = [*_CUSTOMER_INPUT, "industry", "size", "website", "tax_id", "parent", "force"]
        writable_protected = ["owner"]
        validators = []


class AccountUpdateInput(_CustomerInput):
    parent = ScopedRelatedField(
        model=Account, allow_null=True, required=False, help_text=_("The group or head office (上级客户).")
    )

    class Meta:
        model = Account
        fields = [*_CUSTOMER_INPUT, "industry", "size", "website", "tax_id", "parent"]
        writable_protected = ["owner"]
        validators = []


class ContactInput(_CustomerInput):
    account = ScopedRelatedField(model=Account, allow_null=True, required=False)
    force = serializers.BooleanField(
        required=False, default=False, write_only=True, help_text=_("Create even if duplicates exist.")
    )

    class Meta:
        model = Contact
        fields = [*_CUSTOMER_INPUT, "account", "gender", "title", "department", "birthday", "unionid", "force"]
        writable_protected = ["owner"]
        validators = []


class ContactUpdateInput(_CustomerInput):
    account = ScopedRelatedField(model=Account, allow_null=True, required=False)

    class Meta:
        model = Contact
        fields = [*_CUSTOMER_INPUT, "account", "gender", "title", "department", "birthday", "unionid"]
        writable_protected = ["owner"]
        validators = []


class TagsInput(InputSerializer):
    tags = ScopedRelatedField(model=Tag, many=True)


class AccountMergeInput(InputSerializer):
    duplicate = ScopedRelatedField(model=Account, help_text=_("The account merged into this one."))


class ContactMergeInput(InputSerializer):
    duplicate = ScopedRelatedField(model=Contact, help_text=_("The contact merged into this one."))


class DuplicateCheckInput(InputSerializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=50, required=False, allow_blank=True)
    phone = PhoneField()
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    unionid = serializers.CharField(max_length=64, required=False, allow_blank=True)
    tax_id = serializers.CharField(max_length=30, required=False, allow_blank=True)


class DuplicateCandidateSerializer(serializers.Serializer):
    """A possible duplicate. Its name is shown only when the caller may see the record."""

    id = serializers.IntegerField()
    kind = serializers.CharField()
    matched_on = serializers.ListField(child=serializers.CharField())
    visible = serializers.BooleanField()
    name = serializers.CharField(allow_null=True)
    owner = UserSummarySerializer(allow_null=True)


# ---------------------------------------------------------------- leads


_LEAD_FIELDS = [
    "name",
    "name_en",
    "company_name",
    "title",
    "phone",
    "email",
    "wechat_id",
    "unionid",
    "province",
    "city",
    "district",
    "address",
    "industry",
    "source",
    "notes",
]


class LeadSerializer(OutputSerializer):
    owner = UserSummarySerializer(read_only=True, allow_null=True)
    team = TeamSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = Lead
        fields = [
            "id",
            *_LEAD_FIELDS,
            "status",
            "disqualified_reason",
            "score",
            "score_explanation",
            "custom",
            "owner",
            "team",
            "assignment_rule",
            "assigned_at",
            "converted_at",
            "converted_account",
            "converted_contact",
            "converted_opportunity",
            "conversion_reused",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class LeadInput(InputModelSerializer):
    phone = PhoneField()
    email = serializers.CharField(max_length=254, allow_blank=True, required=False)
    custom = serializers.DictField(required=False)
    owner = CompanyUserField(allow_null=True, required=False)
    team = ScopedRelatedField(model=Team, allow_null=True, required=False)

    class Meta:
        model = Lead
        fields = [*_LEAD_FIELDS, "custom", "owner", "team"]
        writable_protected = ["owner"]
        validators = []


class LeadUpdateInput(InputModelSerializer):
    phone = PhoneField()
    email = serializers.CharField(max_length=254, allow_blank=True, required=False)
    custom = serializers.DictField(required=False)

    class Meta:
        model = Lead
        fields = [*_LEAD_FIELDS, "custom"]
        validators = []


class LeadStatusInput(InputSerializer):
    status = serializers.ChoiceField(choices=["new", "contacted", "qualified", "disqualified"])
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True)

    class Meta:
        writable_protected = ["status"]


class LeadAssignInput(InputSerializer):
    owner = CompanyUserField(
        allow_null=True, required=False, help_text=_("Leave out to let the assignment rules choose.")
    )
    team = ScopedRelatedField(model=Team, allow_null=True, required=False)

    class Meta:
        writable_protected = ["owner"]


class LeadConvertInput(InputSerializer):
    account = ScopedRelatedField(
        model=Account, allow_null=True, required=False, help_text=_("An existing account to convert into.")
    )
    contact = ScopedRelatedField(
        model=Contact, allow_null=True, required=False, help_text=_("An existing contact to convert into.")
    )
    create_opportunity = serializers.BooleanField(default=True)
    opportunity_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, min_value=0, required=False)
    expected_close_date = serializers.DateField(required=False, allow_null=True)
    pipeline = ScopedRelatedField(model=Pipeline, allow_null=True, required=False)

    class Meta:
        writable_protected = ["amount"]


class LeadConversionSerializer(serializers.Serializer):
    lead = LeadSerializer()
    account = AccountSummarySerializer(allow_null=True)
    contact = ContactSummarySerializer(allow_null=True)
    opportunity = serializers.IntegerField(source="opportunity.pk", allow_null=True)
    reused = serializers.ListField(child=serializers.CharField())


class AssignmentRuleSerializer(OutputSerializer):
    assignees = UserSummarySerializer(many=True, read_only=True)
    team = TeamSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = AssignmentRule
        fields = [
            "id",
            "name",
            "kind",
            "match_values",
            "priority",
            "is_active",
            "assignees",
            "team",
            "last_assignee",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AssignmentRuleInput(InputModelSerializer):
    assignees = CompanyUserField(many=True)
    team = ScopedRelatedField(model=Team, allow_null=True, required=False)
    match_values = serializers.ListField(child=serializers.CharField(max_length=50), required=False, max_length=100)

    class Meta:
        model = AssignmentRule
        fields = ["name", "kind", "match_values", "priority", "is_active", "assignees", "team"]
        validators = []


class LeadScoringRuleSerializer(OutputSerializer):
    class Meta:
        model = LeadScoringRule
        fields = [
            "id",
            "name",
            "field",
            "custom_key",
            "operator",
            "value",
            "points",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class LeadScoringRuleInput(InputModelSerializer):
    value = serializers.JSONField(required=False)

    class Meta:
        model = LeadScoringRule
        fields = ["name", "field", "custom_key", "operator", "value", "points", "is_active"]
        validators = []


# ---------------------------------------------------------------- pipelines and opportunities


class StageSerializer(OutputSerializer):
    class Meta:
        model = Stage
        fields = [
            "id",
            "pipeline",
            "name",
            "name_en",
            "sequence",
            "probability",
            "is_won",
            "is_lost",
            "is_active",
        ]
        read_only_fields = fields


class StageUpdateInput(InputModelSerializer):
    class Meta:
        model = Stage
        fields = ["name", "name_en", "sequence", "probability", "is_active"]
        validators = []


class StageCreateInput(InputSerializer):
    pipeline = ScopedRelatedField(model=Pipeline)
    name = serializers.CharField(max_length=100)
    name_en = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    probability = serializers.IntegerField(min_value=0, max_value=100)
    position = serializers.IntegerField(
        min_value=0, required=False, allow_null=True, default=None, help_text="among the open stages; null: last"
    )


class StageMoveInput(InputSerializer):
    direction = serializers.ChoiceField(choices=["up", "down"])


class StageInput(InputSerializer):
    name = serializers.CharField(max_length=100)
    name_en = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    probability = serializers.IntegerField(min_value=0, max_value=100)
    is_won = serializers.BooleanField(default=False)
    is_lost = serializers.BooleanField(default=False)


class PipelineSerializer(OutputSerializer):
    stages = StageSerializer(many=True, read_only=True)

    class Meta:
        model = Pipeline
        fields = [
            "id",
            "name",
            "name_en",
            "is_default",
            "is_active",
            "sort_order",
            "stale_after_days",
            "stages",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PipelineInput(InputSerializer):
    name = serializers.CharField(max_length=100)
    name_en = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    is_default = serializers.BooleanField(default=False)
    stages = StageInput(many=True, min_length=3, max_length=30)


class PipelineUpdateInput(InputModelSerializer):
    class Meta:
        model = Pipeline
        fields = ["name", "name_en", "is_default", "is_active", "sort_order", "stale_after_days"]
        validators = []


class LostReasonSerializer(OutputSerializer):
    class Meta:
        model = LostReason
        fields = ["id", "name", "name_en", "is_active", "sort_order", "created_at", "updated_at"]
        read_only_fields = fields


class LostReasonInput(InputModelSerializer):
    class Meta:
        model = LostReason
        fields = ["name", "name_en", "is_active", "sort_order"]
        validators = []


class OpportunitySerializer(OutputSerializer):
    stage = StageSummarySerializer(read_only=True)
    pipeline = serializers.IntegerField(source="stage.pipeline_id", read_only=True)
    account = AccountSummarySerializer(read_only=True, allow_null=True)
    contact = ContactSummarySerializer(read_only=True, allow_null=True)
    owner = UserSummarySerializer(read_only=True, allow_null=True)
    team = TeamSummarySerializer(read_only=True, allow_null=True)
    lost_reason = LostReasonSerializer(read_only=True, allow_null=True)
    weighted_amount = serializers.DecimalField(max_digits=20, decimal_places=2, read_only=True)

    class Meta:
        model = Opportunity
        fields = [
            "id",
            "name",
            "pipeline",
            "stage",
            "status",
            "account",
            "contact",
            "lead",
            "amount",
            "weighted_amount",
            "currency",
            "expected_close_date",
            "stage_entered_at",
            "closed_at",
            "lost_reason",
            "lost_note",
            "description",
            "custom",
            "owner",
            "team",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OpportunityInput(InputSerializer):
    name = serializers.CharField(max_length=200)
    account = ScopedRelatedField(model=Account, allow_null=True, required=False)
    contact = ScopedRelatedField(model=Contact, allow_null=True, required=False)
    pipeline = ScopedRelatedField(model=Pipeline, allow_null=True, required=False)
    stage = ScopedRelatedField(model=Stage, allow_null=True, required=False)
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, min_value=0, required=False)
    currency = serializers.CharField(max_length=3, required=False)
    expected_close_date = serializers.DateField(required=False, allow_null=True)
    owner = CompanyUserField(allow_null=True, required=False)
    team = ScopedRelatedField(model=Team, allow_null=True, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    custom = serializers.DictField(required=False)

    class Meta:
        writable_protected = ["amount", "owner"]


class OpportunityUpdateInput(InputSerializer):
    name = serializers.CharField(max_length=200, required=False)
    account = ScopedRelatedField(model=Account, allow_null=True, required=False)
    contact = ScopedRelatedField(model=Contact, allow_null=True, required=False)
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, min_value=0, required=False)
    currency = serializers.CharField(max_length=3, required=False)
    expected_close_date = serializers.DateField(required=False, allow_null=True)
    owner = CompanyUserField(allow_null=True, required=False)
    team = ScopedRelatedField(model=Team, allow_null=True, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    custom = serializers.DictField(required=False)

    class Meta:
        writable_protected = ["amount", "owner"]


class OpportunityMoveInput(InputSerializer):
    stage = ScopedRelatedField(model=Stage)
    lost_reason = ScopedRelatedField(model=LostReason, allow_null=True, required=False)
    lost_note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class OpportunityLoseInput(InputSerializer):
    lost_reason = ScopedRelatedField(model=LostReason)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class StageChangeSerializer(OutputSerializer):
    from_stage = StageSummarySerializer(read_only=True, allow_null=True)
    to_stage = StageSummarySerializer(read_only=True)
    changed_by = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = OpportunityStageChange
        fields = [
            "id",
            "from_stage",
            "to_stage",
            "changed_at",
            "changed_by",
            "amount",
            "probability",
            "seconds_in_from_stage",
        ]
        read_only_fields = fields


class ForecastQuery(InputSerializer):
    group_by = serializers.ChoiceField(choices=["owner", "team"], default="owner")
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)


class ForecastRowSerializer(serializers.Serializer):
    month = serializers.DateField()
    group_id = serializers.IntegerField(allow_null=True)
    open_count = serializers.IntegerField()
    open_amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    weighted_amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    won_count = serializers.IntegerField()
    won_amount = serializers.DecimalField(max_digits=20, decimal_places=2)


class FunnelQuery(InputSerializer):
    pipeline = ScopedRelatedField(model=Pipeline)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class FunnelStepSerializer(serializers.Serializer):
    stage = StageSummarySerializer()
    reached = serializers.IntegerField()
    conversion_from_previous = serializers.DecimalField(max_digits=6, decimal_places=1, allow_null=True)


# ---------------------------------------------------------------- activities


class ActivitySerializer(OutputSerializer):
    owner = UserSummarySerializer(read_only=True, allow_null=True)
    team = TeamSummarySerializer(read_only=True, allow_null=True)
    account = AccountSummarySerializer(read_only=True, allow_null=True)
    contact = ContactSummarySerializer(read_only=True, allow_null=True)
    is_done = serializers.BooleanField(read_only=True)

    class Meta:
        model = Activity
        fields = [
            "id",
            "kind",
            "subject",
            "body",
            "due_at",
            "remind_at",
            "reminded_at",
            "done_at",
            "is_done",
            "duration_minutes",
            "location",
            "outcome",
            "email_to",
            "email_cc",
            "account",
            "contact",
            "lead",
            "opportunity",
            "ticket",
            "owner",
            "team",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ActivityInput(InputModelSerializer):
    account = ScopedRelatedField(model=Account, allow_null=True, required=False)
    contact = ScopedRelatedField(model=Contact, allow_null=True, required=False)
    lead = ScopedRelatedField(model=Lead, allow_null=True, required=False)
    opportunity = ScopedRelatedField(model=Opportunity, allow_null=True, required=False)
    ticket = ScopedRelatedField(model=Ticket, allow_null=True, required=False)
    owner = CompanyUserField(allow_null=True, required=False)
    team = ScopedRelatedField(model=Team, allow_null=True, required=False)

    class Meta:
        model = Activity
        fields = [
            "kind",
            "subject",
            "body",
            "due_at",
            "remind_at",
            "done_at",
            "duration_minutes",
            "location",
            "outcome",
            "email_to",
            "email_cc",
            "account",
            "contact",
            "lead",
            "opportunity",
            "ticket",
            "owner",
            "team",
        ]
        writable_protected = ["owner"]
        validators = []


class ActivityCompleteInput(InputSerializer):
    outcome = serializers.CharField(max_length=255, required=False, allow_blank=True)
    done_at = serializers.DateTimeField(required=False)


class CustomerEmailInput(InputSerializer):
    """An e-mail to send about one record (give exactly one of account, contact, lead, opportunity, ticket)."""

    to = serializers.CharField(max_length=1000, help_text="e-mail addresses separated by commas")
    cc = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    subject = serializers.CharField(max_length=200)
    message = serializers.CharField(max_length=10_000)
    account = ScopedRelatedField(model=Account, required=False)
    contact = ScopedRelatedField(model=Contact, required=False)
    lead = ScopedRelatedField(model=Lead, required=False)
    opportunity = ScopedRelatedField(model=Opportunity, required=False)
    ticket = ScopedRelatedField(model=Ticket, required=False)

    RECORDS = ("account", "contact", "lead", "opportunity", "ticket")

    def validate(self, attrs):
        given = [name for name in self.RECORDS if attrs.get(name) is not None]
        if len(given) != 1:
            raise serializers.ValidationError(
                {"account": [_("Give exactly one of account, contact, lead, opportunity or ticket.")]}
            )
        attrs["record"] = attrs.pop(given[0])
        for name in self.RECORDS:
            attrs.pop(name, None)
        return attrs


# ---------------------------------------------------------------- customer pool (客户公海)


class PoolAccountSerializer(OutputSerializer):
    released_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text=_("when it last went back"))
    released_reason = serializers.ChoiceField(
        choices=PoolMoveReason.choices, read_only=True, allow_null=True, help_text=_("by hand, or no follow-up")
    )

    class Meta:
        model = PoolAccount
        fields = [
            "id",
            "name",
            "name_en",
            "province",
            "city",
            "district",
            "industry",
            "size",
            "source",
            "lifecycle_stage",
            "created_at",
            "released_at",
            "released_reason",
            "pool_team",
        ]


class PoolReleaseInput(InputSerializer):
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, help_text=_("why (optional)"))


class PoolAssignInput(InputSerializer):
    user = CompanyUserField(help_text=_("who gets the account"))
