"""django-filter filter sets of the SCRM API."""

from __future__ import annotations

import django_filters

from scrm.models import ChannelKind, Conversation, Message, Resolution, SocialIdentity


class ConversationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Conversation.Status.choices)
    channel = django_filters.NumberFilter(field_name="channel_id")
    assigned_to = django_filters.NumberFilter(field_name="assigned_to_id")

    class Meta:
        model = Conversation
        fields = ["status", "channel", "assigned_to"]


class MessageFilter(django_filters.FilterSet):
    conversation = django_filters.NumberFilter(field_name="conversation_id")
    direction = django_filters.ChoiceFilter(choices=Message.Direction.choices)

    class Meta:
        model = Message
        fields = ["conversation", "direction"]


class IdentityFilter(django_filters.FilterSet):
    resolution = django_filters.ChoiceFilter(choices=Resolution.choices)
    channel_kind = django_filters.ChoiceFilter(choices=ChannelKind.choices)

    class Meta:
        model = SocialIdentity
        fields = ["resolution", "channel_kind"]


# ---------------------------------------------------------------- consents and pushes (scrmseg)


class ConsentFilter(django_filters.FilterSet):
    crm_contact_id = django_filters.NumberFilter()
    channel_kind = django_filters.ChoiceFilter(choices=ChannelKind.choices)

    class Meta:
        from scrm.models import Consent

        model = Consent
        fields = ["crm_contact_id", "channel_kind"]


class PushMessageFilter(django_filters.FilterSet):
    campaign = django_filters.NumberFilter(field_name="campaign_id")
    status = django_filters.CharFilter()

    class Meta:
        from scrm.models import PushMessage

        model = PushMessage
        fields = ["campaign", "status"]
