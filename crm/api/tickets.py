"""The service-ticket part of the CRM API: tickets (with reply, note, assign, escalate, resolve, close, their
thread and the report), categories, SLA policies, inbound e-mail tokens, and the inbound e-mail endpoint a mail
gateway posts raw RFC 5322 messages to. Thin, like the rest of ``crm.api``: policy, input serializer, service,
output serializer.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from crm import selectors
from crm.api.serializers import AccountSummarySerializer, ContactSummarySerializer, TeamSummarySerializer
from crm.api.views import CrmViewSetMixin
from crm.models import (
    Account,
    Activity,
    Contact,
    CsatSurvey,
    SlaPolicy,
    Ticket,
    TicketCategory,
    TicketInboundToken,
    TicketMessage,
    TicketPriority,
    TicketStatus,
)
from crm.services import tickets as ticket_services
from suite.api.errors import error_body
from suite.api.serializers import (
    CompanyUserField,
    InputModelSerializer,
    InputSerializer,
    OutputSerializer,
    ScopedRelatedField,
    UserSummarySerializer,
)
from suite.api.viewsets import TenantModelViewSet, TenantReadOnlyViewSet
from suite.models import Company, Team

INBOUND_TOKEN_HEADER = "HTTP_X_TROIKA_INBOUND_TOKEN"  # noqa: S105 - a header name

# ---------------------------------------------------------------- serializers


class TicketCategorySerializer(OutputSerializer):
    default_team = TeamSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = TicketCategory
        fields = ["id", "name", "name_en", "default_team", "is_active", "sort_order", "created_at", "updated_at"]
        read_only_fields = fields


class TicketCategoryInput(InputModelSerializer):
    default_team = ScopedRelatedField(model=Team, allow_null=True, required=False)

    class Meta:
        model = TicketCategory
        fields = ["name", "name_en", "default_team", "is_active", "sort_order"]
        validators = []


class SlaPolicySerializer(OutputSerializer):
    class Meta:
        model = SlaPolicy
        fields = ["id", "priority", "first_response_minutes", "resolution_minutes", "is_active", "updated_at"]
        read_only_fields = fields


class SlaPolicyInput(InputSerializer):
    priority = serializers.ChoiceField(choices=TicketPriority.choices)
    first_response_minutes = serializers.IntegerField(min_value=1, max_value=525_600)
    resolution_minutes = serializers.IntegerField(min_value=1, max_value=525_600)
    is_active = serializers.BooleanField(required=False, default=True)


class SlaPolicyUpdateInput(InputSerializer):
    first_response_minutes = serializers.IntegerField(min_value=1, max_value=525_600)
    resolution_minutes = serializers.IntegerField(min_value=1, max_value=525_600)
    is_active = serializers.BooleanField(required=False, default=True)


class FollowUpSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    subject = serializers.CharField(read_only=True)
    due_at = serializers.DateTimeField(read_only=True)
    done_at = serializers.DateTimeField(read_only=True)
    owner = serializers.IntegerField(source="owner_id", read_only=True)


class CsatSerializer(serializers.Serializer):
    score = serializers.IntegerField(read_only=True, allow_null=True)
    comment = serializers.CharField(read_only=True)
    submitted_at = serializers.DateTimeField(read_only=True, allow_null=True)
    expires_at = serializers.DateTimeField(read_only=True)


class TicketSerializer(OutputSerializer):
    account = AccountSummarySerializer(read_only=True, allow_null=True)
    contact = ContactSummarySerializer(read_only=True, allow_null=True)
    category = serializers.SerializerMethodField()
    assigned_agent = UserSummarySerializer(read_only=True, allow_null=True)
    owner = UserSummarySerializer(read_only=True, allow_null=True)
    team = TeamSummarySerializer(read_only=True, allow_null=True)
    follow_up = serializers.SerializerMethodField()
    csat = serializers.SerializerMethodField()
    sla_breached = serializers.BooleanField(read_only=True)

    class Meta:
        model = Ticket
        fields = [
            "id",
            "number",
            "subject",
            "description",
            "status",
            "priority",
            "channel",
            "category",
            "account",
            "contact",
            "requester_name",
            "requester_email",
            "assigned_agent",
            "owner",
            "team",
            "first_response_due_at",
            "resolution_due_at",
            "first_responded_at",
            "resolved_at",
            "closed_at",
            "first_response_breached_at",
            "resolution_breached_at",
            "sla_breached",
            "escalated",
            "escalated_at",
            "escalation_reason",
            "follow_up",
            "csat",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_category(self, ticket) -> dict | None:
        category = ticket.category
        return {"id": category.pk, "name": category.name, "name_en": category.name_en} if category else None

    @extend_schema(responses=FollowUpSerializer(allow_null=True))
    def get_follow_up(self, ticket) -> dict | None:
        activity: Activity | None = ticket.follow_up_activity
        return FollowUpSerializer(activity).data if activity is not None else None

    @extend_schema(responses=CsatSerializer(allow_null=True))
    def get_csat(self, ticket) -> dict | None:
        try:
            survey: CsatSurvey = ticket.csat
        except CsatSurvey.DoesNotExist:
            return None
        return CsatSerializer(survey).data


class TicketInput(InputSerializer):
    subject = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=ticket_services.MAX_BODY_LENGTH)
    account = ScopedRelatedField(model=Account, allow_null=True, required=False)
    contact = ScopedRelatedField(model=Contact, allow_null=True, required=False)
    channel = serializers.ChoiceField(choices=Ticket._meta.get_field("channel").choices, required=False)
    category = ScopedRelatedField(model=TicketCategory, allow_null=True, required=False)
    priority = serializers.ChoiceField(choices=TicketPriority.choices, required=False)
    team = ScopedRelatedField(model=Team, allow_null=True, required=False)
    assigned_agent = CompanyUserField(allow_null=True, required=False)
    requester_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    requester_email = serializers.EmailField(required=False, allow_blank=True)


class TicketUpdateInput(InputSerializer):
    subject = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=ticket_services.MAX_BODY_LENGTH)
    account = ScopedRelatedField(model=Account, allow_null=True, required=False)
    contact = ScopedRelatedField(model=Contact, allow_null=True, required=False)
    category = ScopedRelatedField(model=TicketCategory, allow_null=True, required=False)
    priority = serializers.ChoiceField(choices=TicketPriority.choices, required=False)


class TicketMessageSerializer(OutputSerializer):
    author = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = TicketMessage
        fields = ["id", "kind", "author", "author_name", "author_email", "body", "created_at"]
        read_only_fields = fields


class TicketMessageInput(InputSerializer):
    body = serializers.CharField(max_length=ticket_services.MAX_BODY_LENGTH)


class TicketAssignInput(InputSerializer):
    agent = CompanyUserField(allow_null=True, required=False)
    team = ScopedRelatedField(model=Team, allow_null=True, required=False)


class TicketEscalateInput(InputSerializer):
    reason = serializers.CharField(max_length=255)
    team = ScopedRelatedField(model=Team, allow_null=True, required=False)
    priority = serializers.ChoiceField(choices=TicketPriority.choices, required=False)


class TicketResolveInput(InputSerializer):
    resolution = serializers.CharField(required=False, allow_blank=True, max_length=ticket_services.MAX_BODY_LENGTH)
    follow_up_days = serializers.IntegerField(required=False, min_value=0, max_value=365)


class TicketReportQuery(InputSerializer):
    group_by = serializers.ChoiceField(choices=["category", "agent"], default="category")
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)


class TicketReportRowSerializer(serializers.Serializer):
    key = serializers.IntegerField(allow_null=True)
    label = serializers.CharField()
    volume = serializers.IntegerField()
    resolved = serializers.IntegerField()
    first_response_met = serializers.IntegerField()
    first_response_due = serializers.IntegerField()
    first_response_attainment = serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True)
    resolution_met = serializers.IntegerField()
    resolution_due = serializers.IntegerField()
    resolution_attainment = serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True)
    csat_count = serializers.IntegerField()
    csat_average = serializers.DecimalField(max_digits=4, decimal_places=2, allow_null=True)


class InboundResultSerializer(serializers.Serializer):
    ticket = serializers.IntegerField(source="ticket.pk")
    number = serializers.IntegerField(source="ticket.number")
    created = serializers.BooleanField()
    duplicate = serializers.BooleanField()


class InboundTokenSerializer(OutputSerializer):
    created_by = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = TicketInboundToken
        fields = ["id", "name", "prefix", "is_active", "last_used_at", "created_by", "created_at"]
        read_only_fields = fields


class InboundTokenInput(InputSerializer):
    name = serializers.CharField(max_length=100)


class IssuedInboundTokenSerializer(InboundTokenSerializer):
    token = serializers.CharField(read_only=True, help_text=_("The secret: shown this once, stored hashed."))

    class Meta(InboundTokenSerializer.Meta):
        fields = [*InboundTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class RawEmailParser(BaseParser):
    """The request body as bytes: a raw RFC 5322 message (``message/rfc822``, or ``text/plain`` from tools
    that cannot set that type)."""

    media_type = "message/rfc822"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream is not None else b""


class PlainEmailParser(RawEmailParser):
    media_type = "text/plain"


INBOUND_TOKEN_PARAMETER = OpenApiParameter(
    "X-Troika-Inbound-Token",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=True,
    description=_("The company's inbound e-mail token."),
)


def inbound_email_of(request) -> tuple[Company | None, bytes, Response | None]:
    """What a mail gateway posted: the company its inbound token names and the raw message — or the refusal to
    answer with (401 without a valid token, 400 without a message). For ``tickets/inbound-email/`` and
    ``activities/inbound-email/`` (``crm.api.email_log``)."""
    company = ticket_services.inbound_token_company(request.META.get(INBOUND_TOKEN_HEADER, ""))
    if company is None:
        refused = error_body("not_authenticated", _("A valid inbound e-mail token is required."))
        return None, b"", Response(refused, status=status.HTTP_401_UNAUTHORIZED)
    raw = request.data if isinstance(request.data, bytes) else b""
    if not raw.strip():
        refused = error_body("invalid", _("Send the raw e-mail as the request body."), "message")
        return company, raw, Response(refused, status=status.HTTP_400_BAD_REQUEST)
    return company, raw, None


# ---------------------------------------------------------------- views

TICKET_ACTIONS = {
    "reply": "reply",
    "note": "note",
    "assign": "assign",
    "escalate": "escalate",
    "resolve": "resolve",
    "close": "close",
    "thread": "view",
    "report": "report",
}


TICKET_LIST_PARAMETERS = [
    OpenApiParameter(
        "search", OpenApiTypes.STR, description=_("Number (123 or #123), part of the subject or requester.")
    ),
    OpenApiParameter(
        "status", OpenApiTypes.STR, many=True, enum=TicketStatus.values, description=_("One or more statuses.")
    ),
    OpenApiParameter("mine", OpenApiTypes.BOOL, description=_("Only tickets assigned to me.")),
    OpenApiParameter(
        "breached", OpenApiTypes.BOOL, description=_("Only tickets that missed (true) or met (false) an SLA target.")
    ),
]


@extend_schema_view(list=extend_schema(parameters=TICKET_LIST_PARAMETERS))
class TicketViewSet(CrmViewSetMixin, TenantModelViewSet):
    """Service tickets (工单). The service role works every ticket of the company; a salesperson sees the
    tickets of their own customers. Opening applies the SLA policy of the priority and assigns round robin
    within the team; ``resolve`` creates the follow-up visit (回访) task and the satisfaction survey."""

    queryset = Ticket.objects.all()
    output_serializer_class = TicketSerializer
    input_serializer_class = TicketInput
    update_input_serializer_class = TicketUpdateInput
    ordering_fields = ("created_at", "updated_at", "number", "priority", "resolution_due_at", "first_response_due_at")
    ordering = ("-created_at",)
    policy_actions = TICKET_ACTIONS
    http_method_names = ["get", "post", "put", "patch", "head", "options"]  # tickets are closed, never deleted

    def select(self, actor):
        params = self.request.query_params if self.action == "list" else {}
        statuses = [s for s in params.getlist("status") if s in TicketStatus.values] if params else []
        breached = params.get("breached") if params else None
        return selectors.tickets_visible_to(
            actor,
            search=params.get("search", "") if params else "",
            status=statuses or None,
            breached={"true": True, "1": True, "false": False, "0": False}.get(breached or ""),
            assigned_to=actor.user if params and params.get("mine") in ("1", "true") else None,
        )

    def create_object(self, *, actor, data):
        return ticket_services.ticket_open(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return ticket_services.ticket_update(ticket=instance, by=actor.user, **data)

    def _message_response(self, request, service) -> Response:
        ticket = self.get_object()
        serializer = TicketMessageInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        message = service(ticket=ticket, by=request.user, body=serializer.validated_data["body"])
        return Response(
            TicketMessageSerializer(message, context=self.get_serializer_context()).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=TicketMessageInput, responses={201: TicketMessageSerializer})
    @action(detail=True, methods=["post"])
    def reply(self, request, pk=None):
        """Reply to the customer (e-mailed to the requester); the first reply stops the first-response timer."""
        return self._message_response(request, ticket_services.ticket_reply)

    @extend_schema(request=TicketMessageInput, responses={201: TicketMessageSerializer})
    @action(detail=True, methods=["post"])
    def note(self, request, pk=None):
        """Add an internal note (never shown to the customer)."""
        return self._message_response(request, ticket_services.ticket_note)

    @extend_schema(responses=TicketMessageSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="messages", pagination_class=None, filter_backends=[])
    def thread(self, request, pk=None):
        """The ticket's thread: customer messages, replies and internal notes, oldest first."""
        ticket = self.get_object()
        messages = selectors.ticket_messages_visible_to(self.actor, ticket=ticket)
        return Response(TicketMessageSerializer(messages, many=True, context=self.get_serializer_context()).data)

    @extend_schema(request=TicketAssignInput, responses=TicketSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Assign to an agent, or to a team's next agent in round robin."""
        ticket = self.get_object()
        serializer = TicketAssignInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        ticket = ticket_services.ticket_assign(ticket=ticket, by=request.user, **serializer.validated_data)
        return Response(self.output(ticket))

    @extend_schema(request=TicketEscalateInput, responses=TicketSerializer)
    @action(detail=True, methods=["post"])
    def escalate(self, request, pk=None):
        """Escalate with a reason (optionally a higher priority and another team); notifies the team manager."""
        ticket = self.get_object()
        serializer = TicketEscalateInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        ticket = ticket_services.ticket_escalate(ticket=ticket, by=request.user, **serializer.validated_data)
        return Response(self.output(ticket))

    @extend_schema(request=TicketResolveInput, responses=TicketSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        """Resolve: creates the follow-up visit task and the satisfaction survey (calling it again changes
        nothing)."""
        ticket = self.get_object()
        serializer = TicketResolveInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        result = ticket_services.ticket_resolve(ticket=ticket, by=request.user, **serializer.validated_data)
        return Response(self.output(result.ticket))

    @extend_schema(request=None, responses=TicketSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Close the ticket for good."""
        ticket = ticket_services.ticket_close(ticket=self.get_object(), by=request.user)
        return Response(self.output(ticket))

    @extend_schema(parameters=[TicketReportQuery], responses=TicketReportRowSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def report(self, request):
        """Volume, SLA attainment and CSAT per category or agent (the last row is the total)."""
        query = TicketReportQuery(data=request.query_params, context=self.get_serializer_context())
        query.is_valid(raise_exception=True)
        rows = selectors.ticket_report(self.actor, **query.validated_data)
        return Response(TicketReportRowSerializer(rows, many=True).data)

    @extend_schema(
        request={"message/rfc822": OpenApiTypes.BINARY},
        parameters=[INBOUND_TOKEN_PARAMETER],
        responses={
            201: InboundResultSerializer,
            200: OpenApiResponse(InboundResultSerializer, description=_("Appended, or seen before")),
        },
        auth=[],
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="inbound-email",
        authentication_classes=[],
        permission_classes=[AllowAny],
        parser_classes=[RawEmailParser, PlainEmailParser],
        filter_backends=[],
    )
    def inbound_email(self, request):
        """Post a raw RFC 5322 e-mail (body) with the company's token (``X-Troika-Inbound-Token`` header): a new
        ticket, or — when the subject names ``[#number]`` of an open ticket — a customer message on it."""
        company, raw, refused = inbound_email_of(request)
        if refused is not None:
            return refused
        result = ticket_services.ticket_inbound_email(company=company, raw=raw)
        return Response(
            InboundResultSerializer(result).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class TicketCategoryViewSet(CrmViewSetMixin, TenantModelViewSet):
    """Ticket categories; a category's default team receives its new tickets."""

    queryset = TicketCategory.objects.all()
    output_serializer_class = TicketCategorySerializer
    input_serializer_class = TicketCategoryInput
    ordering_fields = ("sort_order", "name")
    ordering = ("sort_order", "name")

    def select(self, actor):
        return selectors.ticket_categories_visible_to(actor)

    def create_object(self, *, actor, data):
        return ticket_services.ticket_category_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return ticket_services.ticket_category_update(category=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        ticket_services.ticket_category_delete(category=instance, by=actor.user)


class SlaPolicyViewSet(CrmViewSetMixin, TenantModelViewSet):
    """SLA targets per priority (minutes to first response and to resolution). Posting a priority that has
    targets replaces them."""

    queryset = SlaPolicy.objects.all()
    output_serializer_class = SlaPolicySerializer
    input_serializer_class = SlaPolicyInput
    update_input_serializer_class = SlaPolicyUpdateInput
    ordering_fields = ("priority",)
    ordering = ("priority",)

    def select(self, actor):
        return selectors.sla_policies_visible_to(actor)

    def create_object(self, *, actor, data):
        return ticket_services.sla_policy_set(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        data.setdefault("first_response_minutes", instance.first_response_minutes)
        data.setdefault("resolution_minutes", instance.resolution_minutes)
        return ticket_services.sla_policy_set(company=actor.company, by=actor.user, priority=instance.priority, **data)

    def delete_object(self, *, actor, instance):
        ticket_services.sla_policy_delete(policy=instance, by=actor.user)


class InboundTokenViewSet(CrmViewSetMixin, TenantReadOnlyViewSet):
    """Tokens a mail gateway uses to post inbound e-mail (admins). Creating one shows its secret once;
    deleting revokes it."""

    queryset = TicketInboundToken.objects.all()
    output_serializer_class = InboundTokenSerializer
    input_serializer_class = InboundTokenInput
    ordering = ("-created_at",)

    def select(self, actor):
        return selectors.inbound_tokens_visible_to(actor)

    @extend_schema(request=InboundTokenInput, responses={201: IssuedInboundTokenSerializer})
    def create(self, request, *args, **kwargs):
        serializer = InboundTokenInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        issued = ticket_services.inbound_token_issue(
            company=self.actor.company, by=request.user, name=serializer.validated_data["name"]
        )
        issued.token.token = issued.secret
        return Response(
            IssuedInboundTokenSerializer(issued.token, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    def destroy(self, request, *args, **kwargs):
        ticket_services.inbound_token_revoke(token=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
