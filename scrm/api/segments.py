"""API of auto-tag rules, segments (with a live count), consents and push campaigns: thin viewsets over
``scrm.services.segments`` / ``consent`` / ``pushes``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from crm import selectors as crm_selectors
from scrm.api import filters
from scrm.models import (
    Behaviour,
    Channel,
    ChannelKind,
    Consent,
    LawfulBasis,
    PushCampaign,
    PushContent,
    PushMessage,
    RuleTrigger,
    Segment,
    TagRule,
)
from scrm.services import consent as consent_services
from scrm.services import pushes as push_services
from scrm.services import segments as segment_services
from suite.api.serializers import InputSerializer, OutputSerializer, ScopedRelatedField
from suite.api.viewsets import TenantModelViewSet, TenantReadOnlyViewSet

# ---------------------------------------------------------------- serializers


class TagRuleSerializer(OutputSerializer):
    class Meta:
        model = TagRule
        fields = [
            "id",
            "name",
            "trigger",
            "is_active",
            "keywords",
            "behaviour",
            "product_ids",
            "min_amount",
            "crm_campaign_id",
            "add_tag_id",
            "remove_tag_id",
            "created_at",
            "updated_at",
        ]


class TagRuleInput(InputSerializer):
    name = serializers.CharField(max_length=200)
    trigger = serializers.ChoiceField(choices=RuleTrigger.choices)
    is_active = serializers.BooleanField(required=False)
    keywords = serializers.ListField(child=serializers.CharField(max_length=50), required=False, max_length=50)
    behaviour = serializers.ChoiceField(choices=Behaviour.choices, required=False, allow_blank=True)
    product_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=200)
    min_amount = serializers.DecimalField(max_digits=18, decimal_places=2, min_value=0, required=False, allow_null=True)
    crm_campaign_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    add_tag_id = serializers.IntegerField(min_value=1, help_text=_("A CRM tag id."))
    remove_tag_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)

    class Meta:
        writable_protected = ("min_amount",)  # a rule's threshold, not a money amount the server computes


class TagRuleUpdateInput(TagRuleInput):
    name = serializers.CharField(max_length=200, required=False)
    trigger = serializers.ChoiceField(choices=RuleTrigger.choices, required=False)
    add_tag_id = serializers.IntegerField(min_value=1, required=False)


class SegmentSerializer(OutputSerializer):
    class Meta:
        model = Segment
        fields = ["id", "name", "description", "query", "last_count", "counted_at", "created_at", "updated_at"]


class SegmentInput(InputSerializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    query = serializers.JSONField(help_text=_("Boolean query: and / or / not over tag and field conditions."))


class SegmentUpdateInput(SegmentInput):
    name = serializers.CharField(max_length=200, required=False)
    query = serializers.JSONField(required=False)


class SegmentQueryInput(InputSerializer):
    query = serializers.JSONField()


SegmentCountSerializer = inline_serializer("SegmentCount", {"count": serializers.IntegerField()})


class ConsentSerializer(OutputSerializer):
    class Meta:
        model = Consent
        fields = [
            "id",
            "crm_contact_id",
            "channel_kind",
            "lawful_basis",
            "source",
            "evidence",
            "granted_at",
            "withdrawn_at",
            "withdrawn_via",
            "created_at",
        ]


class ConsentInput(InputSerializer):
    crm_contact_id = serializers.IntegerField(min_value=1)
    channel_kind = serializers.ChoiceField(choices=ChannelKind.choices)
    lawful_basis = serializers.ChoiceField(choices=LawfulBasis.choices)
    source = serializers.CharField(max_length=200)
    evidence = serializers.CharField(required=False, allow_blank=True)
    granted_at = serializers.DateTimeField(required=False)


class PushContentSerializer(OutputSerializer):
    class Meta:
        model = PushContent
        fields = ["channel", "text"]


class PushCampaignSerializer(OutputSerializer):
    contents = PushContentSerializer(many=True, read_only=True)

    class Meta:
        model = PushCampaign
        fields = [
            "id",
            "name",
            "segment",
            "crm_campaign_id",
            "link_url",
            "status",
            "scheduled_at",
            "started_at",
            "finished_at",
            "contents",
            "created_at",
            "erp_product_id",
            "stock_threshold",
            "erp_price_list_id",
            "stock_reason",
        ]


class PushContentInput(InputSerializer):
    channel = ScopedRelatedField(model=Channel, help_text=_("A channel id."))
    text = serializers.CharField(max_length=2000)


class PushCampaignInput(InputSerializer):
    name = serializers.CharField(max_length=200)
    segment = ScopedRelatedField(model=Segment)
    contents = PushContentInput(many=True)
    link_url = serializers.URLField(required=False, allow_blank=True)
    crm_campaign_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True)


class ScheduleInput(InputSerializer):
    scheduled_at = serializers.DateTimeField()


class StockGuardInput(InputSerializer):
    erp_product_id = serializers.IntegerField(min_value=1, help_text=_("The ERP product the campaign sells."))
    stock_threshold = serializers.DecimalField(max_digits=18, decimal_places=4, required=False, default="1")
    erp_price_list_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    wait = serializers.BooleanField(
        required=False, default=False, help_text=_("A warm-up: wait for the stock, then start by itself.")
    )


PushReportSerializer = inline_serializer(
    "PushCampaignReport",
    {
        name: serializers.IntegerField()
        for name in ("recipients", "queued", "sent", "failed", "skipped_consent", "skipped_cap", "opened", "clicked")
    }
    | {"click_rate": serializers.FloatField(allow_null=True)},
)


class PushMessageSerializer(OutputSerializer):
    class Meta:
        model = PushMessage
        fields = [
            "id",
            "campaign",
            "channel",
            "identity",
            "crm_contact_id",
            "status",
            "skip_reason",
            "external_id",
            "error",
            "sent_at",
            "opened_at",
            "clicked_at",
            "clicks",
        ]


# ---------------------------------------------------------------- viewsets


class TagRuleViewSet(TenantModelViewSet):
    """Auto-tag rules: when a matched customer writes a keyword, does something (scanned a QR code, joined a
    community, replied to or clicked a push), buys (ERP sales order) or responds to a CRM campaign, the CRM
    tags them (``add_tag_id``, optionally taking ``remove_tag_id`` off)."""

    queryset = TagRule.objects.all()
    output_serializer_class = TagRuleSerializer
    input_serializer_class = TagRuleInput
    update_input_serializer_class = TagRuleUpdateInput
    search_fields = ("name",)
    ordering_fields = ("name", "created_at")
    ordering = ("name",)

    def create_object(self, *, actor, data):
        return segment_services.tag_rule_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return segment_services.tag_rule_update(rule=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        segment_services.tag_rule_delete(rule=instance, by=actor.user)


class SegmentViewSet(TenantModelViewSet):
    """Saved boolean queries over CRM contacts (tags, province/city, gender, age band, lifecycle stage, spend,
    last interaction). ``POST count/`` counts an unsaved query (the editor's live count)."""

    queryset = Segment.objects.all()
    output_serializer_class = SegmentSerializer
    input_serializer_class = SegmentInput
    update_input_serializer_class = SegmentUpdateInput
    search_fields = ("name",)
    ordering_fields = ("name", "created_at")
    ordering = ("name",)
    policy_actions = {"count": "view", "preview_count": "view"}
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def create_object(self, *, actor, data):
        return segment_services.segment_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return segment_services.segment_update(segment=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        segment_services.segment_delete(segment=instance, by=actor.user)

    @extend_schema(request=None, responses=SegmentCountSerializer)
    @action(detail=True, methods=["post"])
    def count(self, request, pk=None):
        """Count the saved segment now and remember the figure."""
        segment = self.get_object()
        return Response({"count": segment_services.segment_count_refresh(segment=segment)})

    @extend_schema(request=SegmentQueryInput, responses=SegmentCountSerializer)
    @action(detail=False, methods=["post"], url_path="count")
    def preview_count(self, request):
        """Count the contacts an unsaved query matches; an invalid query is a 400 on ``query``."""
        serializer = SegmentQueryInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        query = serializer.validated_data["query"]
        company_id = self.actor.company.pk
        errors = crm_selectors.segment_query_errors(query, company_id=company_id)
        if errors:
            raise serializers.ValidationError({"query": errors})
        return Response({"count": crm_selectors.segment_count(company_id=company_id, query=query)})


class ConsentViewSet(TenantModelViewSet):
    """Lawful bases on which we may push to a CRM contact on a kind of channel (PIPL/GDPR). Consents are never
    deleted or edited: ``POST {id}/withdraw/`` withdraws one at once."""

    queryset = Consent.objects.all()
    output_serializer_class = ConsentSerializer
    input_serializer_class = ConsentInput
    filterset_class = filters.ConsentFilter
    ordering_fields = ("granted_at",)
    ordering = ("-granted_at",)
    policy_actions = {"withdraw": "change"}
    http_method_names = ["get", "post", "head", "options"]

    def create_object(self, *, actor, data):
        return consent_services.consent_record(company_id=actor.company.pk, by=actor.user, **data)

    @extend_schema(request=None, responses=ConsentSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """Withdraw this consent now (staff recording a customer's request)."""
        consent = self.get_object()
        consent_services.consent_withdraw(
            company_id=consent.company_id,
            crm_contact_id=consent.crm_contact_id,
            channel_kind=consent.channel_kind,
            via="staff",
        )
        consent.refresh_from_db()
        return Response(self.output(consent))


class PushCampaignViewSet(TenantModelViewSet):
    """Pushes to a segment with a text per channel (``{name}``, ``{city}``, ``{province}``, ``{link}``,
    ``{unsubscribe}``), sent at ``scheduled_at`` to the matched customers with a live consent, within the
    frequency cap, throttled per channel. ``report/`` gives delivery, open and click figures."""

    queryset = PushCampaign.objects.select_related("segment").prefetch_related("contents")
    output_serializer_class = PushCampaignSerializer
    input_serializer_class = PushCampaignInput
    search_fields = ("name",)
    ordering_fields = ("created_at", "scheduled_at")
    ordering = ("-created_at",)
    policy_actions = {"schedule": "change", "cancel": "change", "report": "view", "stock_guard": "change"}
    http_method_names = ["get", "post", "head", "options"]

    def create_object(self, *, actor, data):
        contents = [(item["channel"], item["text"]) for item in data.pop("contents")]
        return push_services.push_campaign_create(company=actor.company, by=actor.user, contents=contents, **data)

    @extend_schema(request=ScheduleInput, responses=PushCampaignSerializer)
    @action(detail=True, methods=["post"])
    def schedule(self, request, pk=None):
        """Schedule (or move) a draft or scheduled campaign."""
        campaign = self.get_object()
        serializer = ScheduleInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        campaign = push_services.push_campaign_schedule(
            campaign=campaign, at=serializer.validated_data["scheduled_at"], by=request.user
        )
        return Response(self.output(campaign))

    @extend_schema(request=StockGuardInput, responses=PushCampaignSerializer)
    @action(detail=True, methods=["post"], url_path="stock-guard")
    def stock_guard(self, request, pk=None):
        """Tie a draft or scheduled campaign to an ERP product (closed loop, flow 8): it pauses itself
        (``paused_stock``) below ``stock_threshold`` free units or when ``erp_price_list_id`` expires, and with
        ``wait`` waits (``waiting_stock``) for a restock before it starts."""
        from scrm.services.stock_pushes import push_campaign_stock_guard

        campaign = self.get_object()
        serializer = StockGuardInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        campaign = push_campaign_stock_guard(campaign=campaign, by=request.user, **serializer.validated_data)
        return Response(self.output(campaign))

    @extend_schema(request=None, responses=PushCampaignSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop the campaign: recipients not sent yet are skipped."""
        campaign = push_services.push_campaign_cancel(campaign=self.get_object(), by=request.user)
        return Response(self.output(campaign))

    @extend_schema(responses=PushReportSerializer)
    @action(detail=True, methods=["get"])
    def report(self, request, pk=None):
        """Recipients, sent, failed, skipped (no consent / frequency cap), opened, clicked, click rate."""
        return Response(push_services.push_campaign_report(self.get_object()), status=status.HTTP_200_OK)


class PushMessageViewSet(TenantReadOnlyViewSet):
    """The recipients of push campaigns and what happened to each (``?campaign=<id>``)."""

    queryset = PushMessage.objects.all()
    output_serializer_class = PushMessageSerializer
    filterset_class = filters.PushMessageFilter
    ordering_fields = ("id",)
    ordering = ("id",)


__all__ = ["ConsentViewSet", "PushCampaignViewSet", "PushMessageViewSet", "SegmentViewSet", "TagRuleViewSet"]
