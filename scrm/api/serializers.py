"""Explicit input and output serializers of the SCRM API. Channel credentials are write-only: they are
stored encrypted and never shown again."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from scrm.models import Channel, ChannelKind, Conversation, Message, SocialIdentity
from suite.api.serializers import CompanyUserField, InputSerializer, OutputSerializer, UserSummarySerializer


class ChannelSerializer(OutputSerializer):
    default_assignee = UserSummarySerializer(read_only=True, allow_null=True)
    has_credentials = serializers.SerializerMethodField()
    webhook_url = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = [
            "id",
            "kind",
            "name",
            "is_active",
            "config",
            "default_assignee",
            "has_credentials",
            "webhook_url",
            "created_at",
            "updated_at",
        ]

    def get_has_credentials(self, channel) -> bool:
        return bool(channel.credentials_encrypted)

    def get_webhook_url(self, channel) -> str:
        return reverse("scrm-channel-webhook", kwargs={"channel_id": channel.pk})


class ChannelInput(InputSerializer):
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    name = serializers.CharField(max_length=200)
    is_active = serializers.BooleanField(required=False)
    config = serializers.DictField(required=False)
    credentials = serializers.DictField(
        child=serializers.CharField(max_length=2000), required=False, write_only=True, help_text=_("Write-only.")
    )
    default_assignee = CompanyUserField(required=False, allow_null=True)


class ChannelUpdateInput(ChannelInput):
    kind = None
    name = serializers.CharField(max_length=200, required=False)


class IdentitySerializer(OutputSerializer):
    class Meta:
        model = SocialIdentity
        fields = [
            "id",
            "channel_kind",
            "external_id",
            "unionid",
            "display_name",
            "phone",
            "resolution",
            "crm_contact_id",
            "crm_account_id",
            "created_at",
        ]


class ChannelSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)


class ConversationSerializer(OutputSerializer):
    channel = ChannelSummarySerializer(read_only=True)
    identity = IdentitySerializer(read_only=True)
    assigned_to = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "channel",
            "identity",
            "assigned_to",
            "status",
            "last_message_at",
            "last_inbound_at",
            "first_response_at",
            "created_at",
        ]


class MessageSerializer(OutputSerializer):
    author = UserSummarySerializer(read_only=True, allow_null=True)
    display_text = serializers.CharField(read_only=True, help_text=_("The text, or a platform event described."))

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "direction",
            "kind",
            "event",
            "text",
            "display_text",
            "external_id",
            "author",
            "sent_at",
        ]


class ReplyInput(InputSerializer):
    text = serializers.CharField(max_length=2000)


class AssignInput(InputSerializer):
    assigned_to = CompanyUserField(allow_null=True)


class CrmRequestSerializer(serializers.Serializer):
    """A request handed to the CRM through an event (a lead or a ticket of a conversation): done by the worker."""

    requested = serializers.ChoiceField(choices=["lead", "ticket"])
    conversation = serializers.IntegerField()
