"""Reply templates (快捷回复) in the API: ``/api/v1/crm/reply-templates/`` — the company's shared ones and the
caller's own; ``shared: true`` on create needs a manager's or admin's role (400 ``shared`` otherwise).
``POST reply-templates/{id}/render/`` ``{"ticket": id}`` answers the text filled in for that ticket."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from crm import selectors
from crm.api.views import CrmViewSetMixin
from crm.models import ReplyTemplate, Ticket, TicketCategory
from crm.services import replies as reply_services
from suite.api.serializers import (
    InputModelSerializer,
    InputSerializer,
    OutputSerializer,
    ScopedRelatedField,
    UserSummarySerializer,
)
from suite.api.viewsets import TenantModelViewSet


class ReplyTemplateSerializer(OutputSerializer):
    owner = UserSummarySerializer(read_only=True, allow_null=True)
    shared = serializers.BooleanField(read_only=True)

    class Meta:
        model = ReplyTemplate
        fields = ["id", "title", "body", "category", "shared", "owner", "usage_count", "last_used_at", "created_at"]
        read_only_fields = fields


class ReplyTemplateUpdateInput(InputModelSerializer):
    category = ScopedRelatedField(model=TicketCategory, allow_null=True, required=False)

    class Meta:
        model = ReplyTemplate
        fields = ["title", "body", "category"]
        validators = []


class ReplyTemplateInput(ReplyTemplateUpdateInput):
    """A new template: whose it is (``shared``) is chosen once."""

    shared = serializers.BooleanField(required=False, default=False, help_text=_("the company's (managers, admins)"))

    class Meta(ReplyTemplateUpdateInput.Meta):
        fields = [*ReplyTemplateUpdateInput.Meta.fields, "shared"]


class ReplyRenderInput(InputSerializer):
    ticket = ScopedRelatedField(model=Ticket, help_text=_("the ticket the reply is for"))


class ReplyTemplateViewSet(CrmViewSetMixin, TenantModelViewSet):
    """Reply templates: the company's shared ones and the caller's own, most used first."""

    queryset = ReplyTemplate.objects.all()
    output_serializer_class = ReplyTemplateSerializer
    input_serializer_class = ReplyTemplateInput
    update_input_serializer_class = ReplyTemplateUpdateInput
    ordering_fields = ("title", "usage_count", "created_at")
    policy_actions = {"render": "view"}

    def select(self, actor):
        return selectors.reply_templates_visible_to(actor)

    def create_object(self, *, actor, data):
        return reply_services.reply_template_create(company=actor.company, actor=actor, **data)

    def update_object(self, *, actor, instance, data):
        return reply_services.reply_template_update(template=instance, actor=actor, **data)

    def delete_object(self, *, actor, instance):
        reply_services.reply_template_delete(template=instance, actor=actor)

    @extend_schema(
        request=ReplyRenderInput,
        responses=inline_serializer("ReplyRendered", {"body": serializers.CharField()}),
    )
    @action(detail=True, methods=["post"])
    def render(self, request, pk=None):
        """The template's text filled in for ``ticket`` (the customer, the caller, the ticket's number)."""
        template = self.get_object()
        serializer = ReplyRenderInput(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        ticket = serializer.validated_data["ticket"]
        return Response({"body": reply_services.reply_text(template=template, ticket=ticket, by=request.user)})
