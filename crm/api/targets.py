"""Sales targets in the CRM API (issue #7): ``/api/v1/crm/sales-targets/``. Thin: policy, input serializer,
service, output serializer."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from crm.api.serializers import TeamSummarySerializer
from crm.api.views import CrmViewSetMixin
from crm.models import SalesTarget
from crm.selectors_dashboards import sales_targets_visible_to
from crm.services import targets as target_services
from suite.api.serializers import (
    CompanyUserField,
    InputSerializer,
    OutputSerializer,
    ScopedRelatedField,
    UserSummarySerializer,
)
from suite.api.viewsets import TenantModelViewSet
from suite.models import Role, Team


class SalesTargetSerializer(OutputSerializer):
    team = TeamSummarySerializer(read_only=True)
    owner = UserSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = SalesTarget
        fields = ["id", "team", "owner", "month", "amount", "created_at", "updated_at"]
        read_only_fields = fields


class SalesTargetInput(InputSerializer):
    team = ScopedRelatedField(model=Team)
    owner = CompanyUserField(allow_null=True, required=False)
    month = serializers.DateField(help_text="Any day of the month; stored as its first day.")
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, min_value=0)

    class Meta:
        writable_protected = ["owner", "amount"]  # a manager sets whose target it is and how much


class SalesTargetUpdateInput(InputSerializer):
    month = serializers.DateField(required=False)
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, min_value=0, required=False)

    class Meta:
        writable_protected = ["amount"]


class SalesTargetViewSet(CrmViewSetMixin, TenantModelViewSet):
    """Monthly sales targets of a team (``owner`` empty) or of one person in it; creating one for a team, owner
    and month that already has one replaces its amount."""

    queryset = SalesTarget.objects.all()
    output_serializer_class = SalesTargetSerializer
    input_serializer_class = SalesTargetInput
    update_input_serializer_class = SalesTargetUpdateInput
    ordering_fields = ("month", "amount")
    ordering = ("month",)

    def select(self, actor):
        return sales_targets_visible_to(actor)

    def create_object(self, *, actor, data):
        if actor.role == Role.MANAGER and data["team"].pk not in actor.team_ids:
            raise ValidationError({"team": [_("Choose one of your teams.")]})
        return target_services.sales_target_set(company_id=actor.company_id, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return target_services.sales_target_update(target=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        target_services.sales_target_delete(target=instance, by=actor.user)
