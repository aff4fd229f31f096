"""A test-only business model served through the real base classes, to prove the policy layer end to end:
own / team / company scopes, per-role actions, field-level hiding (list, detail, ordering, export) and
mass-assignment safety — on a model with an owner, a team, a sensitive field, a status and an amount.

The model's app label is not an installed app, so neither migrations nor the isolation walk ever see it; the
``probe_table`` fixture creates its table inside the test's transaction. Tests using the endpoint run with
``@pytest.mark.urls("suite.tests.probe")``.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import django_filters
import pytest
from django.conf import settings
from django.db import connection, models, transaction
from django.urls import include, path
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from suite.api.serializers import CompanyUserField, InputModelSerializer, OutputSerializer, ScopedRelatedField
from suite.api.viewsets import ExportMixin, TenantModelViewSet
from suite.models import Company, Role, Team
from suite.policy import ALL_ROLES, CRUD, ModelPolicy, Scope, register


class ProbeRecord(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "draft"
        POSTED = "posted", "posted"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField("title", max_length=100)
    salary = models.DecimalField("salary", max_digits=18, decimal_places=2, default=Decimal("0"))
    amount = models.DecimalField("amount", max_digits=18, decimal_places=2, default=Decimal("0"))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)

    class Meta:
        app_label = "suite_probe"
        db_table = "suite_probe_record"

    def __str__(self) -> str:
        return self.title


PROBE_POLICY = register(
    ModelPolicy(
        model=ProbeRecord,
        scopes={
            Role.ADMIN: Scope.COMPANY,
            Role.FINANCE: Scope.COMPANY,
            Role.HR: Scope.COMPANY,
            Role.MANAGER: Scope.TEAM,
            Role.SALES: Scope.TEAM,
            Role.SERVICE: Scope.OWN,
        },
        actions={
            Role.ADMIN: CRUD | {"export", "assign"},
            Role.MANAGER: CRUD | {"assign"},
            Role.SALES: {"view", "add", "change", "export"},
            Role.SERVICE: {"view"},
            Role.FINANCE: {"view"},
            Role.HR: {"view"},
        },
        sensitive_fields={"salary": {Role.ADMIN, Role.FINANCE, Role.HR}},
    )
)
assert ALL_ROLES - set(PROBE_POLICY.scopes) == {Role.MARKETING, Role.WAREHOUSE, Role.PRODUCTION, Role.PAYROLL}


# ------------------------------------------------------------------ "services" of the probe


@transaction.atomic
def probe_create(*, actor, title: str, salary: Decimal = Decimal("0"), owner=None, team=None) -> ProbeRecord:
    """Create a record in the actor's company, owned by the actor unless an allowed owner was given."""
    first_team = actor.membership.teams.order_by("pk").first()
    return ProbeRecord.objects.create(
        company=actor.company, owner=owner or actor.user, team=team or first_team, title=title, salary=salary
    )


@transaction.atomic
def probe_update(*, record: ProbeRecord, **changes) -> ProbeRecord:
    for name, value in changes.items():
        setattr(record, name, value)
    record.save(update_fields=list(changes) or None)
    return record


# ------------------------------------------------------------------ API


class ProbeOutput(OutputSerializer):
    class Meta:
        model = ProbeRecord
        fields = ["id", "company", "owner", "team", "title", "salary", "amount", "status"]
        read_only_fields = fields


class ProbeInput(InputModelSerializer):
    owner = CompanyUserField(required=False, allow_null=True)
    team = ScopedRelatedField(model=Team, required=False, allow_null=True)

    class Meta:
        model = ProbeRecord
        fields = ["title", "salary", "owner", "team"]
        writable_protected = ("owner",)


class ProbeFilter(django_filters.FilterSet):
    class Meta:
        model = ProbeRecord
        fields = {"status": ["exact"], "salary": ["gte", "lte"], "owner": ["exact"]}


class ProbeViewSet(ExportMixin, TenantModelViewSet):
    queryset = ProbeRecord.objects.select_related("owner", "team")
    output_serializer_class = ProbeOutput
    input_serializer_class = ProbeInput
    filterset_class = ProbeFilter
    search_fields = ("title",)
    ordering_fields = ("title", "salary", "amount")
    ordering = ("title",)
    export_fields = ("id", "title", "salary", "amount", ("owner__username", "owner"))

    def create_object(self, *, actor, data):
        return probe_create(actor=actor, **data)

    def update_object(self, *, actor, instance, data):
        return probe_update(record=instance, **data)

    def delete_object(self, *, actor, instance):
        instance.delete()


class EchoStatusView(APIView):
    """Answers with the status asked for and a fresh nonce: tells a replay (same nonce) from a re-run."""

    permission_classes = [IsAuthenticated]

    def post(self, request):
        status, nonce = int(request.data.get("status", 201)), uuid.uuid4().hex
        if status >= 400:
            return Response({"errors": [{"field": None, "code": "unavailable", "message": nonce}]}, status=status)
        return Response({"nonce": nonce}, status=status)


class BoomView(APIView):
    """A bug: raises, so the test sees what a client gets from a crash under /api/."""

    permission_classes = [IsAuthenticated]

    def get(self, request):
        raise RuntimeError("probe crash")


class NestedInput(serializers.Serializer):
    class Line(serializers.Serializer):
        product = serializers.CharField(max_length=10)
        quantity = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0.01"))

    customer = serializers.IntegerField(min_value=1)
    lines = Line(many=True, allow_empty=False)


class NestedValidationView(APIView):
    """Validates a nested body (an order with lines) and answers 204: errors must name ``lines.1.quantity``."""

    permission_classes = [IsAuthenticated]

    def post(self, request):
        NestedInput(data=request.data).is_valid(raise_exception=True)
        return Response(status=204)


router = SimpleRouter()
router.register("records", ProbeViewSet, basename="probe-record")

urlpatterns = [
    path("api/v1/probe/echo/", EchoStatusView.as_view()),
    path("api/v1/probe/boom/", BoomView.as_view()),
    path("api/v1/probe/nested/", NestedValidationView.as_view()),
    path("api/v1/probe/", include(router.urls)),
    path("", include("suite.urls")),
]


@pytest.fixture
def probe_table(db):
    """The probe's table, created inside the test's transaction (rolled back with it)."""
    with connection.schema_editor() as editor:
        editor.create_model(ProbeRecord)
    return ProbeRecord
