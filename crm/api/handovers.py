"""Owner handovers in the CRM API: ``/api/v1/crm/handovers/`` (read only). A job is created by the handler of
HR's ``erp.employee.deactivated`` (closed loop, flow 11); the API shows its state and what moved."""

from __future__ import annotations

from rest_framework import serializers

from crm.models import OwnerHandover
from suite.api.serializers import OutputSerializer
from suite.api.viewsets import TenantReadOnlyViewSet


class OwnerHandoverSerializer(OutputSerializer):
    total_moved = serializers.IntegerField(read_only=True)

    class Meta:
        model = OwnerHandover
        fields = [
            "id",
            "from_user",
            "to_user",
            "source_key",
            "erp_employee_id",
            "state",
            "leads_moved",
            "opportunities_moved",
            "activities_moved",
            "tickets_moved",
            "accounts_moved",
            "contacts_moved",
            "total_moved",
            "chunks",
            "social_requested",
            "last_error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class OwnerHandoverViewSet(TenantReadOnlyViewSet):
    """Handovers of a leaving employee's CRM records to their successor: state and counts per kind."""

    queryset = OwnerHandover.objects.all()
    output_serializer_class = OwnerHandoverSerializer
    filterset_fields = ("state", "from_user", "to_user")
    ordering = ("-id",)
