"""The campaign part of the CRM API: campaigns (with the comparison report), their members, costs and touches,
web-to-lead forms, reminder preferences and stale-opportunity nudges. Thin like the rest of ``crm.api``:
policy, input serializer, service, output serializer."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from crm import selectors_campaigns as selectors
from crm.api.serializers import (
    AccountSummarySerializer,
    ContactSummarySerializer,
    TeamSummarySerializer,
)
from crm.api.views import CrmViewSetMixin
from crm.models import (
    WEB_FORM_FIELDS,
    Account,
    Campaign,
    CampaignChannel,
    CampaignCost,
    CampaignMember,
    CampaignMemberStatus,
    CampaignStatus,
    CampaignTouch,
    Contact,
    Lead,
    OpportunityNudge,
    ReminderPreference,
    Source,
    Tag,
    TicketCategory,
    TouchKind,
    WebForm,
    WebFormKind,
)
from crm.services import campaigns as campaign_services
from crm.services import reminders as reminder_services
from crm.services import webforms as webform_services
from suite import policy
from suite.api.serializers import (
    CompanyUserField,
    InputSerializer,
    OutputSerializer,
    ScopedRelatedField,
    UserSummarySerializer,
)
from suite.api.viewsets import TenantModelViewSet, TenantReadOnlyViewSet
from suite.models import Team

# ---------------------------------------------------------------- serializers


class CampaignSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    code = serializers.CharField(read_only=True)


class LeadSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    company_name = serializers.CharField(read_only=True)


class CampaignSerializer(OutputSerializer):
    owner = UserSummarySerializer(read_only=True, allow_null=True)
    team = TeamSummarySerializer(read_only=True, allow_null=True)
    target_tags = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "name_en",
            "code",
            "channel",
            "status",
            "budget",
            "currency",
            "start_date",
            "end_date",
            "target_segment",
            "target_tags",
            "description",
            "owner",
            "team",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_target_tags(self, campaign) -> list[int]:
        return [tag.pk for tag in campaign.target_tags.all()]


class CampaignInput(InputSerializer):
    name = serializers.CharField(max_length=200)
    name_en = serializers.CharField(max_length=200, required=False, allow_blank=True)
    code = serializers.CharField(max_length=50, help_text=_("Used in links: ?utm_campaign=<code>."))
    channel = serializers.ChoiceField(choices=CampaignChannel.choices)
    status = serializers.ChoiceField(choices=CampaignStatus.choices, required=False)
    budget = serializers.DecimalField(max_digits=18, decimal_places=2, min_value=0, required=False)
    currency = serializers.CharField(max_length=3, min_length=3, required=False)
    start_date = serializers.DateField()
    end_date = serializers.DateField(required=False, allow_null=True)
    target_segment = serializers.CharField(required=False, allow_blank=True)
    target_tags = ScopedRelatedField(model=Tag, many=True, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    team = ScopedRelatedField(model=Team, allow_null=True, required=False)

    class Meta:
        writable_protected = ["status"]


class CampaignUpdateInput(CampaignInput):
    name = serializers.CharField(max_length=200, required=False)
    code = serializers.CharField(max_length=50, required=False)
    channel = serializers.ChoiceField(choices=CampaignChannel.choices, required=False)
    start_date = serializers.DateField(required=False)

    class Meta:
        writable_protected = ["status"]


class ComparisonQuery(InputSerializer):
    model = serializers.ChoiceField(choices=["first", "last"], default="first", help_text=_("Attribution model."))
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    status = serializers.ChoiceField(choices=CampaignStatus.choices, required=False)
    sort = serializers.ChoiceField(
        choices=[*selectors.SORT_KEYS, *(f"-{key}" for key in selectors.SORT_KEYS)], default="-customers"
    )

    class Meta:
        writable_protected = ["status"]

    def validate(self, attrs):
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_to"] < attrs["date_from"]:
            raise serializers.ValidationError({"date_to": [_("The end is before the start.")]})
        return attrs


class CampaignResultSerializer(serializers.Serializer):
    campaign = CampaignSummarySerializer()
    channel = serializers.CharField(source="campaign.channel")
    members = serializers.IntegerField()
    responses = serializers.IntegerField()
    leads = serializers.IntegerField()
    opportunities = serializers.IntegerField()
    customers = serializers.IntegerField()
    won_deals = serializers.IntegerField()
    won_revenue = serializers.DecimalField(max_digits=18, decimal_places=2)
    cost = serializers.DecimalField(max_digits=18, decimal_places=2)
    roi = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True, help_text=_("1.50 = 150 %"))
    cost_per_lead = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    cost_per_customer = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    booked_revenue = serializers.DecimalField(
        max_digits=18, decimal_places=2, help_text=_("Invoiced by ERP for the won deals, net of credit notes, untaxed")
    )
    gross_margin = serializers.DecimalField(
        max_digits=18, decimal_places=2, help_text=_("Booked revenue less the cost of the goods shipped (ERP)")
    )
    margin_roi = serializers.DecimalField(
        max_digits=18, decimal_places=2, allow_null=True, help_text=_("(gross margin − cost) / cost; 1.50 = 150 %")
    )


class CampaignCostSerializer(OutputSerializer):
    campaign = CampaignSummarySerializer(read_only=True)
    created_by = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = CampaignCost
        fields = ["id", "campaign", "incurred_on", "description", "amount", "created_by", "created_at", "updated_at"]
        read_only_fields = fields


class CampaignCostInput(InputSerializer):
    campaign = ScopedRelatedField(model=Campaign)
    incurred_on = serializers.DateField()
    description = serializers.CharField(max_length=200)
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, min_value=0)

    class Meta:
        writable_protected = ["amount"]


class CampaignCostUpdateInput(InputSerializer):
    incurred_on = serializers.DateField(required=False)
    description = serializers.CharField(max_length=200, required=False)
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, min_value=0, required=False)

    class Meta:
        writable_protected = ["amount"]


class CampaignMemberSerializer(OutputSerializer):
    campaign = CampaignSummarySerializer(read_only=True)
    account = AccountSummarySerializer(read_only=True, allow_null=True)
    contact = ContactSummarySerializer(read_only=True, allow_null=True)
    lead = LeadSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = CampaignMember
        fields = [
            "id",
            "campaign",
            "account",
            "contact",
            "lead",
            "status",
            "sent_at",
            "responded_at",
            "converted_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CampaignMemberInput(InputSerializer):
    campaign = ScopedRelatedField(model=Campaign)
    account = ScopedRelatedField(model=Account, allow_null=True, required=False)
    contact = ScopedRelatedField(model=Contact, allow_null=True, required=False)
    lead = ScopedRelatedField(model=Lead, allow_null=True, required=False)
    status = serializers.ChoiceField(choices=CampaignMemberStatus.choices, default=CampaignMemberStatus.SENT)
    sent_at = serializers.DateTimeField(required=False)

    class Meta:
        writable_protected = ["status"]


class CampaignMemberStatusInput(InputSerializer):
    status = serializers.ChoiceField(choices=CampaignMemberStatus.choices)
    at = serializers.DateTimeField(required=False)

    class Meta:
        writable_protected = ["status"]


class CampaignTouchSerializer(OutputSerializer):
    campaign = CampaignSummarySerializer(read_only=True)
    account = AccountSummarySerializer(read_only=True, allow_null=True)
    contact = ContactSummarySerializer(read_only=True, allow_null=True)
    lead = LeadSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = CampaignTouch
        fields = ["id", "campaign", "kind", "source", "touched_at", "lead", "contact", "account", "opportunity"]
        read_only_fields = fields


class CampaignTouchInput(InputSerializer):
    campaign = ScopedRelatedField(model=Campaign)
    kind = serializers.ChoiceField(choices=TouchKind.choices)
    touched_at = serializers.DateTimeField(required=False)
    account = ScopedRelatedField(model=Account, allow_null=True, required=False)
    contact = ScopedRelatedField(model=Contact, allow_null=True, required=False)
    lead = ScopedRelatedField(model=Lead, allow_null=True, required=False)


class WebFormSerializer(OutputSerializer):
    campaign = CampaignSummarySerializer(read_only=True, allow_null=True)
    url = serializers.SerializerMethodField()
    # method fields, not list fields: the cached-prototype output serializers rebuild list fields badly
    fields = serializers.SerializerMethodField(method_name="form_fields")
    required_fields = serializers.SerializerMethodField(method_name="form_required_fields")

    class Meta:
        model = WebForm
        fields = [
            "id",
            "name",
            "kind",
            "key",
            "url",
            "title",
            "intro",
            "fields",
            "required_fields",
            "source",
            "campaign",
            "ticket_category",
            "success_message",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def form_fields(self, form) -> list[str]:
        return list(form.fields)

    def form_required_fields(self, form) -> list[str]:
        return list(form.required_fields)

    def get_url(self, form) -> str:
        from django.urls import reverse

        return reverse("crm:web-form", args=[form.key])


class WebFormInput(InputSerializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=WebFormKind.choices, required=False)
    title = serializers.CharField(max_length=200)
    intro = serializers.CharField(required=False, allow_blank=True)
    fields = serializers.ListField(child=serializers.ChoiceField(choices=WEB_FORM_FIELDS), min_length=1)
    required_fields = serializers.ListField(child=serializers.ChoiceField(choices=WEB_FORM_FIELDS), required=False)
    source = serializers.ChoiceField(choices=Source.choices, required=False)
    campaign = ScopedRelatedField(model=Campaign, allow_null=True, required=False)
    ticket_category = ScopedRelatedField(model=TicketCategory, allow_null=True, required=False)
    success_message = serializers.CharField(max_length=255, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class WebFormUpdateInput(WebFormInput):
    name = serializers.CharField(max_length=100, required=False)
    title = serializers.CharField(max_length=200, required=False)
    fields = serializers.ListField(child=serializers.ChoiceField(choices=WEB_FORM_FIELDS), min_length=1, required=False)


class ReminderPreferenceSerializer(OutputSerializer):
    user = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = ReminderPreference
        fields = ["id", "user", "email_reminders", "updated_at"]
        read_only_fields = fields


class ReminderPreferenceInput(InputSerializer):
    email_reminders = serializers.BooleanField()
    user = CompanyUserField(
        allow_null=True, required=False, help_text=_("Leave out for your own; administrators may name anyone.")
    )
    company_default = serializers.BooleanField(default=False, help_text=_("Set the company's default (admins)."))


class ReminderPreferenceUpdateInput(InputSerializer):
    email_reminders = serializers.BooleanField()


class NudgeSerializer(OutputSerializer):
    opportunity = serializers.SerializerMethodField()
    owner = UserSummarySerializer(read_only=True)

    class Meta:
        model = OpportunityNudge
        fields = ["id", "opportunity", "owner", "nudged_at", "stale_days", "last_activity_at"]
        read_only_fields = fields

    def get_opportunity(self, nudge) -> dict:
        return {"id": nudge.opportunity_id, "name": nudge.opportunity.name, "status": nudge.opportunity.status}


# ---------------------------------------------------------------- viewsets


class CampaignViewSet(CrmViewSetMixin, TenantModelViewSet):
    """Marketing campaigns: the plan (channel, budget, dates, target segment and tags) and status. ``compare``
    answers which campaign brought the most customers and what each cost (first- or last-touch attribution).
    A campaign with results cannot be deleted (409): set it ``done``."""

    queryset = Campaign.objects.all()
    output_serializer_class = CampaignSerializer
    input_serializer_class = CampaignInput
    update_input_serializer_class = CampaignUpdateInput
    ordering_fields = ("name", "start_date", "budget", "created_at")
    ordering = ("-start_date",)
    policy_actions = {"compare": "report"}

    def select(self, actor):
        return selectors.campaigns_visible_to(actor, status=self.request.query_params.get("status") or None)

    def create_object(self, *, actor, data):
        return campaign_services.campaign_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return campaign_services.campaign_update(campaign=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        campaign_services.campaign_delete(campaign=instance, by=actor.user)

    @extend_schema(parameters=[ComparisonQuery], responses=CampaignResultSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def compare(self, request):
        """Per campaign: members, responses, and the leads, opportunities, customers, won deals and revenue
        credited to it by ``model`` (first / last touch), cost, ROI ((revenue − cost) / cost), cost per lead
        and per customer; sortable (``sort=-customers``)."""
        query = ComparisonQuery(data=request.query_params, context=self.get_serializer_context())
        query.is_valid(raise_exception=True)
        rows = selectors.campaign_comparison(self.actor, **query.validated_data)
        return Response(CampaignResultSerializer(rows, many=True).data)


class _CampaignFilterMixin:
    def campaign_filter(self):
        raw = self.request.query_params.get("campaign")
        if not raw:
            return None
        if not raw.isdigit():
            raise ValidationError({"campaign": [_("Give a campaign id.")]})
        return policy.get_visible_or_404(self.actor, selectors.campaigns_visible_to(self.actor), pk=int(raw))


class CampaignCostViewSet(_CampaignFilterMixin, CrmViewSetMixin, TenantModelViewSet):
    """Dated cost lines of campaigns (more than zero). Filter with ``?campaign=<id>``."""

    queryset = CampaignCost.objects.all()
    output_serializer_class = CampaignCostSerializer
    input_serializer_class = CampaignCostInput
    update_input_serializer_class = CampaignCostUpdateInput
    ordering_fields = ("incurred_on", "amount")
    ordering = ("incurred_on",)

    def select(self, actor):
        return selectors.campaign_costs_visible_to(actor, campaign=self.campaign_filter())

    def create_object(self, *, actor, data):
        return campaign_services.campaign_cost_add(by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return campaign_services.campaign_cost_update(cost=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        campaign_services.campaign_cost_delete(cost=instance, by=actor.user)


class CampaignMemberViewSet(_CampaignFilterMixin, CrmViewSetMixin, TenantReadOnlyViewSet):
    """Who a campaign reached: accounts, contacts or leads, sent / responded / converted. Adding a member
    records a touch; ``status`` records the response or conversion. Filter with ``?campaign=<id>``."""

    queryset = CampaignMember.objects.all()
    output_serializer_class = CampaignMemberSerializer
    input_serializer_class = CampaignMemberInput
    ordering_fields = ("sent_at", "status")
    ordering = ("-sent_at",)
    policy_actions = {"set_status": "change"}
    create = TenantModelViewSet.create
    destroy = TenantModelViewSet.destroy

    def select(self, actor):
        return selectors.campaign_members_visible_to(actor, campaign=self.campaign_filter())

    def create_object(self, *, actor, data):
        at = data.pop("sent_at", None)
        return campaign_services.campaign_member_add(by=actor.user, at=at, **data)

    def delete_object(self, *, actor, instance):
        campaign_services.campaign_member_remove(member=instance, by=actor.user)

    @extend_schema(request=CampaignMemberStatusInput, responses=CampaignMemberSerializer)
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, pk=None):
        """Mark the member responded or converted (a status never moves back)."""
        member = self.get_object()
        serializer = CampaignMemberStatusInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        member = campaign_services.campaign_member_status_set(
            member=member, by=request.user, **serializer.validated_data
        )
        return Response(self.output(member))


class CampaignTouchViewSet(_CampaignFilterMixin, CrmViewSetMixin, TenantReadOnlyViewSet):
    """Touches: when a campaign reached whom (what attribution reads). Recorded with members, leads created
    for a campaign, SCRM reports, or by hand here. Filter with ``?campaign=<id>``."""

    queryset = CampaignTouch.objects.all()
    output_serializer_class = CampaignTouchSerializer
    input_serializer_class = CampaignTouchInput
    ordering_fields = ("touched_at",)
    ordering = ("-touched_at",)
    create = TenantModelViewSet.create

    def select(self, actor):
        return selectors.campaign_touches_visible_to(actor, campaign=self.campaign_filter())

    def create_object(self, *, actor, data):
        return campaign_services.campaign_touch_record(**data)


class WebFormViewSet(CrmViewSetMixin, TenantModelViewSet):
    """Public web-to-lead forms: the fields asked, those required, the lead source and default campaign. The
    public page is ``url`` (``?utm_campaign=<code>`` attributes its leads to another campaign)."""

    queryset = WebForm.objects.all()
    output_serializer_class = WebFormSerializer
    input_serializer_class = WebFormInput
    update_input_serializer_class = WebFormUpdateInput
    ordering_fields = ("name", "created_at")
    ordering = ("name",)

    def select(self, actor):
        return selectors.web_forms_visible_to(actor)

    def create_object(self, *, actor, data):
        return webform_services.web_form_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return webform_services.web_form_update(form=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        webform_services.web_form_delete(form=instance, by=actor.user)


class ReminderPreferenceViewSet(CrmViewSetMixin, TenantModelViewSet):
    """Whether activity reminders also come by e-mail: your own choice, or (administrators) the company's
    default (``company_default: true``) and anyone's. Posting again for the same user changes it."""

    queryset = ReminderPreference.objects.all()
    output_serializer_class = ReminderPreferenceSerializer
    input_serializer_class = ReminderPreferenceInput
    update_input_serializer_class = ReminderPreferenceUpdateInput
    ordering_fields = ("updated_at",)
    ordering = ("-updated_at",)

    def select(self, actor):
        return selectors.reminder_preferences_visible_to(actor)

    def create_object(self, *, actor, data):
        return reminder_services.reminder_preference_set(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return reminder_services.reminder_preference_set(
            company=actor.company,
            by=actor.user,
            user=instance.user,
            company_default=instance.user_id is None,
            email_reminders=data["email_reminders"],
        )

    def delete_object(self, *, actor, instance):
        reminder_services.reminder_preference_delete(preference=instance, by=actor.user)


class NudgeViewSet(CrmViewSetMixin, TenantReadOnlyViewSet):
    """Stale-opportunity nudges: an opportunity's owner was told it had no activity for its pipeline's N days."""

    queryset = OpportunityNudge.objects.all()
    output_serializer_class = NudgeSerializer
    ordering_fields = ("nudged_at",)
    ordering = ("-nudged_at",)

    def select(self, actor):
        return selectors.nudges_visible_to(actor)
