"""SCRM API viewsets: thin — the policy (``PolicyPermission``), an input serializer, one service call."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from scrm.api import filters, serializers
from scrm.models import Channel, Conversation, Message, SocialIdentity
from scrm.services import channels as channel_services
from scrm.services import inbox as inbox_services
from suite.api.pagination import CursorPagination
from suite.api.viewsets import TenantModelViewSet, TenantReadOnlyViewSet


class ChannelViewSet(TenantModelViewSet):
    """Connected social accounts. ``credentials`` are write-only (stored encrypted); ``webhook_url`` is where
    the platform pushes. Channels are deactivated (``is_active``), never deleted: their messages stay."""

    queryset = Channel.objects.select_related("default_assignee")
    output_serializer_class = serializers.ChannelSerializer
    input_serializer_class = serializers.ChannelInput
    update_input_serializer_class = serializers.ChannelUpdateInput
    search_fields = ("name",)
    ordering_fields = ("name", "created_at")
    ordering = ("name",)
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def create_object(self, *, actor, data):
        return channel_services.channel_create(company=actor.company, **data)

    def update_object(self, *, actor, instance, data):
        return channel_services.channel_update(channel=instance, **data)


class IdentityViewSet(TenantReadOnlyViewSet):
    """Social identities and how they map onto CRM customers (``auto`` / ``suggested`` / ``none``)."""

    queryset = SocialIdentity.objects.all()
    output_serializer_class = serializers.IdentitySerializer
    filterset_class = filters.IdentityFilter
    search_fields = ("display_name", "external_id")
    ordering_fields = ("created_at",)
    ordering = ("-created_at",)


class ConversationViewSet(TenantReadOnlyViewSet):
    """The inbox: one conversation per person per channel, most recent activity first."""

    queryset = Conversation.objects.select_related("channel", "identity", "assigned_to")
    output_serializer_class = serializers.ConversationSerializer
    filterset_class = filters.ConversationFilter
    ordering_fields = ("last_message_at", "created_at")
    ordering = ("-last_message_at",)
    policy_actions = {"reply": "reply", "note": "reply", "assign": "assign", "lead": "reply", "ticket": "reply"}

    @extend_schema(request=serializers.ReplyInput, responses={201: serializers.MessageSerializer})
    @action(detail=True, methods=["post"])
    def reply(self, request, pk=None):
        """Send a reply through the channel's connector; records the outbound message and the first-response
        time. A platform refusal is a 400 on ``text``."""
        conversation = self.get_object()
        serializer = serializers.ReplyInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        message = inbox_services.conversation_reply(
            conversation=conversation, text=serializer.validated_data["text"], by=request.user
        )
        return Response(serializers.MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=serializers.ReplyInput, responses={201: serializers.MessageSerializer})
    @action(detail=True, methods=["post"])
    def note(self, request, pk=None):
        """Add an internal note (seen by staff only, never sent to the customer)."""
        conversation = self.get_object()
        serializer = serializers.ReplyInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        message = inbox_services.conversation_note_add(
            conversation=conversation, text=serializer.validated_data["text"], by=request.user
        )
        return Response(serializers.MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: serializers.CrmRequestSerializer})
    @action(detail=True, methods=["post"])
    def lead(self, request, pk=None):
        """「转线索」: ask the CRM for a lead of the conversation's person, owned by you; the worker makes it (the
        person's open lead is kept if they have one). 400 on ``conversation`` for a person who is already a CRM
        customer."""
        payload = inbox_services.conversation_lead_request(conversation=self.get_object(), by=request.user)
        return Response({"requested": "lead", "conversation": payload["conversation_id"]}, status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: serializers.CrmRequestSerializer})
    @action(detail=True, methods=["post"])
    def ticket(self, request, pk=None):
        """「转工单」: ask the CRM for a service ticket about the conversation (the customer's last message is the
        subject); the worker opens it, once per last customer message. 400 on ``conversation`` when the customer
        has written nothing yet."""
        payload = inbox_services.conversation_ticket_request(conversation=self.get_object(), by=request.user)
        return Response({"requested": "ticket", "conversation": payload["conversation_id"]}, status.HTTP_202_ACCEPTED)

    @extend_schema(request=serializers.AssignInput, responses=serializers.ConversationSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Hand the conversation to a member of the company (or to nobody)."""
        conversation = self.get_object()
        serializer = serializers.AssignInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        conversation = inbox_services.conversation_assign(
            conversation=conversation, assignee=serializer.validated_data["assigned_to"]
        )
        return Response(self.output(conversation))


class MessagePagination(CursorPagination):
    ordering = "-id"


class MessageViewSet(TenantReadOnlyViewSet):
    """Messages of the conversations you may see, newest first, cursor-paginated (``?conversation=<id>``)."""

    queryset = Message.objects.select_related("author")
    output_serializer_class = serializers.MessageSerializer
    filterset_class = filters.MessageFilter
    pagination_class = MessagePagination
    ordering_fields = ()
    ordering = None
