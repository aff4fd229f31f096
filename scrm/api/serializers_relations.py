"""Serializers of communities, cadences, channel QR codes and staff handover jobs."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from scrm.api.serializers import ChannelSummarySerializer
from scrm.models import (
    Cadence,
    CadenceEnrollment,
    CadenceStep,
    Channel,
    Community,
    CommunityKind,
    CommunityMember,
    CommunityPost,
    ContactWay,
    HandoverItem,
    HandoverJob,
)
from scrm.models.handover import STATE_MAX_LENGTH
from suite.api.serializers import (
    CompanyUserField,
    InputSerializer,
    OutputSerializer,
    ScopedRelatedField,
    UserSummarySerializer,
    serializer_actor,
)


class CompanyMemberOrFormerField(serializers.PrimaryKeyRelatedField):
    """The id of a user who is or was a member of the actor's company (a staff member who left)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", get_user_model()._default_manager.all())
        super().__init__(**kwargs)

    def get_queryset(self):
        actor = serializer_actor(self)
        queryset = super().get_queryset()
        if actor is None:
            return queryset.none()
        return queryset.filter(memberships__company_id=actor.company_id).distinct()


# ---------------------------------------------------------------- communities


class CommunitySerializer(OutputSerializer):
    channel = ChannelSummarySerializer(read_only=True, allow_null=True)
    owner = UserSummarySerializer(read_only=True, allow_null=True)
    member_count = serializers.IntegerField(read_only=True, help_text=_("Current members."))

    class Meta:
        model = Community
        fields = [
            "id",
            "name",
            "kind",
            "channel",
            "external_id",
            "owner",
            "owner_staff_id",
            "status",
            "notice",
            "member_count",
            "dismissed_at",
            "created_at",
        ]


class CommunityInput(InputSerializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=CommunityKind.choices, required=False)
    channel = ScopedRelatedField(model=Channel, required=False, allow_null=True)
    external_id = serializers.CharField(max_length=128, required=False, allow_blank=True)
    owner = CompanyUserField(required=False, allow_null=True)
    notice = serializers.CharField(required=False, allow_blank=True, max_length=2000)

    class Meta:
        writable_protected = ("owner",)  # roles with "assign" (admin, marketing) hand communities over


class CommunityUpdateInput(InputSerializer):
    name = serializers.CharField(max_length=200, required=False)
    owner = CompanyUserField(required=False, allow_null=True)
    notice = serializers.CharField(required=False, allow_blank=True, max_length=2000)

    class Meta:
        writable_protected = ("owner",)  # roles with "assign" (admin, marketing) hand communities over


class WeekFlowSerializer(serializers.Serializer):
    week = serializers.DateField()
    joins = serializers.IntegerField()
    leaves = serializers.IntegerField()


class CommunityFiguresSerializer(serializers.Serializer):
    members = serializers.IntegerField()
    active_7d = serializers.IntegerField()
    active_30d = serializers.IntegerField()
    posts_30d = serializers.IntegerField()
    questions = serializers.IntegerField()
    answered = serializers.IntegerField()
    answer_rate = serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True)
    weeks = WeekFlowSerializer(many=True)


class CommunityMemberSerializer(OutputSerializer):
    crm_contact_id = serializers.SerializerMethodField()

    class Meta:
        model = CommunityMember
        fields = ["id", "member_id", "display_name", "is_staff", "joined_at", "left_at", "identity", "crm_contact_id"]

    def get_crm_contact_id(self, member) -> int | None:
        return member.identity.crm_contact_id if member.identity_id else None


class CommunityPostSerializer(OutputSerializer):
    author = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = CommunityPost
        fields = [
            "id",
            "community",
            "kind",
            "parent",
            "member",
            "author",
            "text",
            "answered",
            "answered_at",
            "posted_at",
        ]


class CommunityPostInput(InputSerializer):
    community = ScopedRelatedField(model=Community)
    kind = serializers.ChoiceField(choices=CommunityPost.Kind.choices, required=False)
    parent = ScopedRelatedField(model=CommunityPost, required=False, allow_null=True)
    member = ScopedRelatedField(model=CommunityMember, required=False, allow_null=True)
    text = serializers.CharField(max_length=5000)

    def validate(self, attrs):
        community = attrs["community"]
        for key in ("parent", "member"):
            if attrs.get(key) is not None and attrs[key].community_id != community.pk:
                raise serializers.ValidationError({key: _("Not in this community.")})
        return attrs


# ---------------------------------------------------------------- cadences


class CadenceStepSerializer(OutputSerializer):
    class Meta:
        model = CadenceStep
        fields = ["id", "position", "kind", "delay_minutes", "subject", "message"]


class CadenceSerializer(OutputSerializer):
    channel = ChannelSummarySerializer(read_only=True, allow_null=True)
    steps = CadenceStepSerializer(many=True, read_only=True)
    active_enrollments = serializers.IntegerField(read_only=True)

    class Meta:
        model = Cadence
        fields = [
            "id",
            "name",
            "is_active",
            "trigger_source",
            "channel",
            "stop_keywords",
            "steps",
            "active_enrollments",
            "created_at",
            "updated_at",
        ]


class CadenceStepInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CadenceStep.Kind.choices)
    delay_minutes = serializers.IntegerField(min_value=0, max_value=60 * 24 * 365, default=0)
    subject = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    message = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class CadenceInput(InputSerializer):
    name = serializers.CharField(max_length=200)
    is_active = serializers.BooleanField(required=False, default=True)
    trigger_source = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    channel = ScopedRelatedField(model=Channel, required=False, allow_null=True, default=None)
    stop_keywords = serializers.CharField(max_length=200, required=False)
    steps = CadenceStepInput(many=True)


class CadenceUpdateInput(InputSerializer):
    name = serializers.CharField(max_length=200, required=False)
    is_active = serializers.BooleanField(required=False)
    trigger_source = serializers.CharField(max_length=20, required=False, allow_blank=True)
    channel = ScopedRelatedField(model=Channel, required=False, allow_null=True)
    stop_keywords = serializers.CharField(max_length=200, required=False)
    steps = CadenceStepInput(many=True, required=False)


class CadenceEnrollmentSerializer(OutputSerializer):
    owner = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = CadenceEnrollment
        fields = [
            "id",
            "cadence",
            "lead_id",
            "lead_name",
            "owner",
            "identity",
            "status",
            "next_position",
            "next_run_at",
            "stopped_at",
            "stop_reason",
            "created_at",
        ]


# ---------------------------------------------------------------- channel QR codes


class ContactWaySerializer(OutputSerializer):
    channel = ChannelSummarySerializer(read_only=True)
    owner = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = ContactWay
        fields = [
            "id",
            "channel",
            "name",
            "state",
            "staff_ids",
            "owner",
            "crm_campaign_id",
            "config_id",
            "qr_code",
            "added_count",
            "created_at",
        ]


class ContactWayInput(InputSerializer):
    channel = ScopedRelatedField(model=Channel)
    name = serializers.CharField(max_length=200)
    state = serializers.CharField(
        max_length=STATE_MAX_LENGTH, help_text=_("Comes back in WeCom's callback; at most 30 characters.")
    )
    staff_ids = serializers.ListField(child=serializers.CharField(max_length=64), min_length=1, max_length=100)
    owner = CompanyUserField(required=False, allow_null=True, default=None)
    crm_campaign_id = serializers.IntegerField(required=False, allow_null=True, default=None)

    class Meta:
        writable_protected = ("state", "owner")  # the code's WeCom state and its staff member are chosen here


# ---------------------------------------------------------------- handover


class HandoverJobSerializer(OutputSerializer):
    channel = ChannelSummarySerializer(read_only=True)
    from_user = UserSummarySerializer(read_only=True)
    to_user = UserSummarySerializer(read_only=True)
    customers_total = serializers.IntegerField(read_only=True)
    customers_waiting = serializers.IntegerField(read_only=True)
    customers_transferred = serializers.IntegerField(read_only=True)
    customers_failed = serializers.IntegerField(read_only=True)
    groups_total = serializers.IntegerField(read_only=True)
    groups_transferred = serializers.IntegerField(read_only=True)

    class Meta:
        model = HandoverJob
        fields = [
            "id",
            "channel",
            "kind",
            "handover_staff_id",
            "takeover_staff_id",
            "from_user",
            "to_user",
            "status",
            "customers_total",
            "customers_waiting",
            "customers_transferred",
            "customers_failed",
            "groups_total",
            "groups_transferred",
            "retry_after",
            "last_error",
            "completed_at",
            "created_at",
        ]


class HandoverItemSerializer(OutputSerializer):
    class Meta:
        model = HandoverItem
        fields = ["id", "kind", "external_id", "status", "errcode", "result_status", "detail", "finished_at"]


class HandoverJobInput(InputSerializer):
    channel = ScopedRelatedField(model=Channel)
    kind = serializers.ChoiceField(choices=HandoverJob.Kind.choices)
    handover_staff_id = serializers.CharField(max_length=64)
    takeover_staff_id = serializers.CharField(max_length=64)
    from_user = CompanyMemberOrFormerField()
    to_user = CompanyUserField()
    transfer_success_msg = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    customers = serializers.ListField(
        child=serializers.CharField(max_length=128), required=False, allow_null=True, default=None, max_length=20000
    )
    groups = serializers.ListField(
        child=serializers.CharField(max_length=128), required=False, allow_null=True, default=None, max_length=5000
    )
