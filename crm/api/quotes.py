"""Opportunity lines (``/api/v1/crm/opportunities/{id}/lines/``), the deal's buying committee
(``/api/v1/crm/opportunities/{id}/contact-roles/``) and quotes (``/api/v1/crm/quotes/``).

Lines come from the ERP product catalogue; each line in an answer carries ERP's live figures (current price,
free stock, earliest delivery date) read through ``erp.selectors`` when the answer is made. Bad input is a 400
with the field named (``product_id``, ``quantity``, ``discount_percent`` …); setting ``unit_price`` needs the
policy action ``override_price``. Quotes are generated from an opportunity's lines, sent, accepted or rejected
(409 when the state refuses: ``quote_expired``, ``quote_state``) and downloaded as PDF.
"""

from __future__ import annotations

import django_filters
from django.http import Http404, HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from crm import selectors
from crm.api.views import CrmViewSetMixin
from crm.models import (
    Contact,
    ContactRole,
    Opportunity,
    OpportunityContactRole,
    OpportunityLine,
    Quote,
    QuoteApprovalDecision,
    QuoteLine,
    QuoteState,
)
from crm.quote_pdf import render_quote_pdf
from crm.services import opportunity_roles as role_services
from crm.services import quote_approvals
from crm.services import quotes as quote_services
from crm.services.quote_mail import QuoteMailError, quote_email
from suite import policy
from suite.api.errors import error_body
from suite.api.serializers import InputSerializer, OutputSerializer, ScopedRelatedField, UserSummarySerializer
from suite.api.viewsets import TenantModelViewSet, TenantReadOnlyViewSet

# ---------------------------------------------------------------- serializers


class LineAvailabilitySerializer(serializers.Serializer):
    current_price = serializers.DecimalField(max_digits=18, decimal_places=4, allow_null=True, read_only=True)
    price_source = serializers.CharField(read_only=True, help_text="price_list | list_price | '' (no price)")
    available_now = serializers.DecimalField(max_digits=18, decimal_places=4, read_only=True)
    earliest_date = serializers.DateField(
        allow_null=True, read_only=True, help_text="null: not within the horizon (horizon_end)"
    )
    horizon_end = serializers.DateField(read_only=True)
    is_stockable = serializers.BooleanField(read_only=True, help_text="false: a service, always deliverable")


class OpportunityLineSerializer(OutputSerializer):
    availability = LineAvailabilitySerializer(read_only=True, allow_null=True)

    class Meta:
        model = OpportunityLine
        fields = [
            "id",
            "opportunity",
            "sequence",
            "product_id",
            "sku",
            "product_name",
            "uom",
            "quantity",
            "unit_price",
            "price_source",
            "price_list_id",
            "discount_percent",
            "tax_rate",
            "net_amount",
            "tax_amount",
            "line_total",
            "note",
            "availability",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OpportunityLineInput(InputSerializer):
    product_id = serializers.IntegerField(help_text="an active product of the company's ERP catalogue")
    quantity = serializers.DecimalField(max_digits=18, decimal_places=4, help_text="in the product's stock unit")
    discount_percent = serializers.DecimalField(max_digits=5, decimal_places=2, required=False)
    tax_rate = serializers.DecimalField(max_digits=5, decimal_places=2, required=False, help_text="default 13")
    unit_price = serializers.DecimalField(
        max_digits=18,
        decimal_places=4,
        required=False,
        allow_null=True,
        help_text="a price set by hand instead of ERP's (needs the override_price permission)",
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=200)


class OpportunityLineUpdateInput(InputSerializer):
    quantity = serializers.DecimalField(max_digits=18, decimal_places=4, required=False)
    discount_percent = serializers.DecimalField(max_digits=5, decimal_places=2, required=False)
    tax_rate = serializers.DecimalField(max_digits=5, decimal_places=2, required=False)
    unit_price = serializers.DecimalField(
        max_digits=18, decimal_places=4, required=False, allow_null=True, help_text="needs override_price"
    )
    reset_price = serializers.BooleanField(required=False, default=False, help_text="go back to ERP's price")
    note = serializers.CharField(required=False, allow_blank=True, max_length=200)


class CrmQuoteLineSerializer(OutputSerializer):
    class Meta:
        model = QuoteLine
        fields = [
            "id",
            "sequence",
            "product_id",
            "sku",
            "product_name",
            "uom",
            "quantity",
            "unit_price",
            "discount_percent",
            "tax_rate",
            "net_amount",
            "tax_amount",
            "line_total",
        ]
        read_only_fields = fields


class QuoteApprovalInput(InputSerializer):
    note = serializers.CharField(
        max_length=300, required=False, allow_blank=True, help_text=_("a word for the other side")
    )


class CrmQuoteApprovalDecisionSerializer(OutputSerializer):
    decided_by = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = QuoteApprovalDecision
        fields = ["level", "outcome", "decided_by", "decided_at", "note"]
        read_only_fields = fields


class CrmQuoteSerializer(OutputSerializer):
    lines = CrmQuoteLineSerializer(many=True, read_only=True)
    display_number = serializers.CharField(read_only=True)
    created_by = UserSummarySerializer(read_only=True, allow_null=True)
    approval_decided_by = UserSummarySerializer(read_only=True, allow_null=True)
    approval_reason = serializers.CharField(
        read_only=True, help_text="why it needs approval, in the request's language ('' when it needs none)"
    )
    approval_decisions = CrmQuoteApprovalDecisionSerializer(
        many=True, read_only=True, help_text="the trail of yes and no, oldest first: the team's manager, then an admin"
    )
    approval_facts = serializers.JSONField(
        read_only=True,
        help_text="the same as figures: `discount` {product, percent, limit}, `total` {amount, currency, limit}",
    )

    class Meta:
        model = Quote
        fields = [
            "id",
            "number",
            "version",
            "display_number",
            "state",
            "opportunity",
            "customer_name",
            "contact_name",
            "currency",
            "valid_until",
            "terms",
            "subtotal",
            "tax_total",
            "total",
            "lines",
            "created_by",
            "sent_at",
            "decided_at",
            "approval",
            "approval_reason",
            "approval_facts",
            "approval_by_admin",
            "approval_level",
            "approval_decisions",
            "approval_requested_at",
            "approval_decided_at",
            "approval_decided_by",
            "approval_note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CrmQuoteInput(InputSerializer):
    opportunity = ScopedRelatedField(model=Opportunity)
    valid_until = serializers.DateField(required=False, help_text="default: 30 days from today")
    terms = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class QuoteEmailInput(InputSerializer):
    to = serializers.CharField(max_length=1000, help_text="e-mail addresses separated by commas")
    cc = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")
    subject = serializers.CharField(max_length=200)
    message = serializers.CharField(required=False, allow_blank=True, max_length=10_000, default="")


class QuoteFilter(django_filters.FilterSet):
    opportunity = django_filters.NumberFilter(field_name="opportunity_id")
    state = django_filters.MultipleChoiceFilter(choices=QuoteState.choices)
    number = django_filters.CharFilter()

    class Meta:
        model = Quote
        fields = []


# ---------------------------------------------------------------- viewsets


def _price_permission(actor, data: dict) -> None:
    if data.get("unit_price") is not None and not policy.can(actor, "override_price", OpportunityLine):
        raise ValidationError(
            {"unit_price": [serializers.ErrorDetail(str(_("Your role may not set prices by hand.")), "forbidden")]}
        )


def attach_availability(opportunity: Opportunity, lines) -> list[OpportunityLine]:
    """``lines`` with ``availability`` set from ERP (four queries for all of them)."""
    lines = list(lines)
    figures = selectors.lines_availability(opportunity=opportunity, lines=lines)
    for line in lines:
        line.availability = figures.get(line.pk)
    return lines


class OnOpportunity:
    """A resource nested under one opportunity (``opportunities/{opportunity_pk}/…``): the deal must be one the
    caller may see (else 404, as for the deal itself); ``nested(actor)`` is what of it the caller may see."""

    opportunity: Opportunity | None = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if getattr(self, "swagger_fake_view", False):
            return
        self.opportunity = policy.get_visible_or_404(
            self.actor, selectors.opportunities_visible_to(self.actor), pk=kwargs.get("opportunity_pk")
        )

    def select(self, actor):
        if self.opportunity is None:
            raise Http404
        return self.nested(actor)

    def nested(self, actor):
        raise NotImplementedError


@extend_schema(parameters=[OpenApiParameter("opportunity_pk", OpenApiTypes.INT, OpenApiParameter.PATH)])
class OpportunityLineViewSet(OnOpportunity, CrmViewSetMixin, TenantModelViewSet):
    """The products on an opportunity, from the ERP catalogue, with live price and availability. Adding,
    changing or removing a line recomputes the opportunity's amount (Σ line totals, tax included)."""

    queryset = OpportunityLine.objects.all()
    output_serializer_class = OpportunityLineSerializer
    input_serializer_class = OpportunityLineInput
    update_input_serializer_class = OpportunityLineUpdateInput
    ordering_fields = ("sequence", "line_total")
    ordering = ("sequence", "id")
    policy_actions = {"reprice": "change"}

    def nested(self, actor):
        return selectors.opportunity_lines_visible_to(actor, opportunity=self.opportunity)

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = attach_availability(self.opportunity, page if page is not None else queryset)
        data = self.output_serializer_class(rows, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request, *args, **kwargs):
        return Response(self.output(self.get_object()))

    def output(self, instance) -> dict:
        fresh = self.get_queryset().filter(pk=instance.pk).first() or instance
        [fresh] = attach_availability(self.opportunity, [fresh])
        return self.output_serializer_class(fresh, context=self.get_serializer_context()).data

    def create_object(self, *, actor, data):
        _price_permission(actor, data)
        return quote_services.opportunity_line_add(opportunity=self.opportunity, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        _price_permission(actor, data)
        if data.get("unit_price", 0) is None:
            data.pop("unit_price")
        return quote_services.opportunity_line_update(line=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        quote_services.opportunity_line_delete(line=instance, by=actor.user)

    @extend_schema(request=None, responses=OpportunityLineSerializer(many=True))
    @action(detail=False, methods=["post"], pagination_class=None, filter_backends=[])
    def reprice(self, request, *args, **kwargs):
        """Read ERP's current price of every line not priced by hand; answers with all the lines."""
        quote_services.opportunity_lines_reprice(opportunity=self.opportunity, by=request.user)
        rows = attach_availability(self.opportunity, self.get_queryset())
        return Response(self.output_serializer_class(rows, many=True, context=self.get_serializer_context()).data)


class QuoteViewSet(CrmViewSetMixin, TenantReadOnlyViewSet):
    """Quotes (报价单) generated from an opportunity's lines: a frozen copy with totals. ``send`` marks a draft
    sent; ``accept`` (publishes ``crm.quote.accepted``; a second call changes nothing) and ``reject`` record the
    customer's answer; an expired quote cannot be accepted (409 ``quote_expired``). ``pdf`` downloads it."""

    queryset = Quote.objects.all()
    output_serializer_class = CrmQuoteSerializer
    input_serializer_class = CrmQuoteInput
    filterset_class = QuoteFilter
    ordering_fields = ("created_at", "valid_until", "total", "number")
    ordering = ("-created_at",)
    policy_actions = {
        "send": "send",
        "email": "send",
        "accept": "accept",
        "reject": "reject",
        "pdf": "view",
        "request_approval": "send",
        "approve": "approve",
        "decline": "approve",
    }

    create = TenantModelViewSet.create

    def select(self, actor):
        return selectors.quotes_visible_to(actor)

    def create_object(self, *, actor, data):
        return quote_services.quote_create(
            opportunity=data["opportunity"],
            by=actor.user,
            valid_until=data.get("valid_until"),
            terms=data.get("terms", ""),
        )

    def perform_content_negotiation(self, request, force=False):
        if getattr(self, "action", None) == "pdf":
            renderer = JSONRenderer()  # the file is an HttpResponse; errors still come out as JSON
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(request=None, responses=CrmQuoteSerializer)
    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        """Mark a draft quote sent to the customer (again: nothing changes)."""
        return Response(self.output(quote_services.quote_send(quote=self.get_object(), by=request.user)))

    @extend_schema(
        request=QuoteEmailInput,
        responses={
            200: CrmQuoteSerializer,
            503: OpenApiResponse(description="the mail server did not take the e-mail; nothing changed"),
        },
    )
    @action(detail=True, methods=["post"])
    def email(self, request, pk=None):
        """E-mail the quote as a PDF (``to`` and ``cc``: addresses separated by commas; reply-to you) and mark a
        draft sent; a note goes on the deal. All or nothing: a mail server that refuses is a 503
        ``mail_refused`` and the quote stays as it was."""
        quote = self.get_object()
        serializer = QuoteEmailInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        try:
            quote = quote_email(quote=quote, by=request.user, **serializer.validated_data)
        except QuoteMailError as exc:
            return Response(error_body(exc.code, exc.message, None), status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(self.output(quote))

    @extend_schema(request=None, responses=CrmQuoteSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """The customer accepted the sent quote (again: nothing changes, nothing is published twice)."""
        return Response(self.output(quote_services.quote_accept(quote=self.get_object(), by=request.user)))

    @extend_schema(request=None, responses=CrmQuoteSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """The customer declined the sent quote."""
        return Response(self.output(quote_services.quote_reject(quote=self.get_object(), by=request.user)))

    def _approval_step(self, request, service):
        serializer = QuoteApprovalInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        quote = service(quote=self.get_object(), by=request.user, note=serializer.validated_data.get("note", ""))
        return Response(self.output(quote))

    @extend_schema(request=QuoteApprovalInput, responses=CrmQuoteSerializer)
    @action(detail=True, methods=["post"], url_path="request-approval")
    def request_approval(self, request, pk=None):
        """Put a draft quote that needs approval (``approval: required``) forward; its approvers are notified.
        409 ``quote_approval`` when it needs none or was decided already."""
        return self._approval_step(request, quote_approvals.quote_approval_request)

    @extend_schema(request=QuoteApprovalInput, responses=CrmQuoteSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve a pending quote (a manager of the deal's team or an admin; never one's own quote)."""
        return self._approval_step(request, quote_approvals.quote_approve)

    @extend_schema(request=QuoteApprovalInput, responses=CrmQuoteSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        """Decline a pending quote; ``note`` (why) is required."""
        return self._approval_step(request, quote_approvals.quote_decline)

    @extend_schema(
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="the quote as PDF")}
    )
    @action(detail=True, methods=["get"])
    def pdf(self, request, pk=None):
        """The quote as a PDF file (Chinese and English)."""
        quote = self.get_object()
        response = HttpResponse(render_quote_pdf(quote), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{quote.display_number}.pdf"'
        return response


# ---------------------------------------------------------------- the buying committee


class OpportunityContactRoleSerializer(OutputSerializer):
    contact_name = serializers.CharField(source="contact.name", read_only=True)
    contact_title = serializers.CharField(source="contact.title", read_only=True)
    contact_account = serializers.IntegerField(source="contact.account_id", read_only=True, allow_null=True)

    class Meta:
        model = OpportunityContactRole
        fields = [
            "id",
            "opportunity",
            "contact",
            "contact_name",
            "contact_title",
            "contact_account",
            "role",
            "stance",
            "note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OpportunityContactRoleInput(InputSerializer):
    contact = ScopedRelatedField(model=Contact, help_text="a contact the caller may see (any account of the company)")
    role = serializers.ChoiceField(choices=ContactRole.choices)
    stance = serializers.ChoiceField(choices=OpportunityContactRole.Stance.choices, required=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=200)


class OpportunityContactRoleUpdateInput(InputSerializer):
    role = serializers.ChoiceField(choices=ContactRole.choices, required=False)
    stance = serializers.ChoiceField(choices=OpportunityContactRole.Stance.choices, required=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=200)


@extend_schema(parameters=[OpenApiParameter("opportunity_pk", OpenApiTypes.INT, OpenApiParameter.PATH)])
class OpportunityContactRoleViewSet(OnOpportunity, CrmViewSetMixin, TenantModelViewSet):
    """The deal's buying committee (决策链): the customer's people with their role (decision maker, budget
    holder, technical evaluator, procurement, influencer, user) and stance. Posting a person already in it
    changes their seat (one per person and deal)."""

    queryset = OpportunityContactRole.objects.all()
    output_serializer_class = OpportunityContactRoleSerializer
    input_serializer_class = OpportunityContactRoleInput
    update_input_serializer_class = OpportunityContactRoleUpdateInput
    ordering_fields = ("id", "role")

    def nested(self, actor):
        return selectors.opportunity_contact_roles_visible_to(actor, opportunity=self.opportunity)

    def create_object(self, *, actor, data):
        return role_services.contact_role_set(opportunity=self.opportunity, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return role_services.contact_role_update(member=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        role_services.contact_role_remove(member=instance, by=actor.user)
