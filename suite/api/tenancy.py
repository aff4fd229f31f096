"""Platform endpoints: who am I, my company's settings, its teams and its members."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from suite import selectors
from suite.api.permissions import request_actor
from suite.api.serializers import (
    CompanyUserField,
    InputModelSerializer,
    InputSerializer,
    OutputSerializer,
    ScopedRelatedField,
    UserSummarySerializer,
)
from suite.api.viewsets import ExportMixin, TenantModelViewSet, TenantReadOnlyViewSet
from suite.models import Company, Membership, Module, Role, Team
from suite.services import tenancy as services

# ------------------------------------------------------------------ companies


class CompanySerializer(OutputSerializer):
    class Meta:
        model = Company
        fields = ["id", "name", "name_en", "code", "currency", "require_2fa", "enabled_modules", "created_at"]
        read_only_fields = fields


class CompanySettingsInput(InputModelSerializer):
    enabled_modules = serializers.ListField(
        child=serializers.ChoiceField(choices=Module.choices), required=False, max_length=len(Module.values)
    )

    class Meta:
        model = Company
        fields = ["name", "name_en", "require_2fa", "enabled_modules"]


class CompanyViewSet(TenantReadOnlyViewSet):
    """The company the caller acts in. Admins change its name and settings (e.g. ``require_2fa``)."""

    queryset = Company.objects.all()
    output_serializer_class = CompanySerializer
    input_serializer_class = CompanySettingsInput
    http_method_names = ["get", "put", "patch", "head", "options"]
    ordering_fields = ("name", "code")
    search_fields = ("name", "name_en", "code")

    def update(self, request, *args, **kwargs):
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        company = services.company_update_settings(company=instance, by=request.user, **serializer.validated_data)
        return Response(self.output(company))

    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)


# ------------------------------------------------------------------ teams


class TeamSerializer(OutputSerializer):
    manager = UserSummarySerializer(read_only=True, allow_null=True)
    member_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Team
        fields = ["id", "name", "name_en", "kind", "parent", "manager", "member_count", "created_at"]
        read_only_fields = fields


class TeamInput(InputModelSerializer):
    parent = ScopedRelatedField(model=Team, allow_null=True, required=False)
    manager = CompanyUserField(allow_null=True, required=False)

    class Meta:
        model = Team
        fields = ["name", "name_en", "kind", "parent", "manager"]
        # uniqueness per company is checked by the service (the company is not a field of the request)
        validators = []


class TeamFilter(django_filters.FilterSet):
    class Meta:
        model = Team
        fields = {"kind": ["exact"], "parent": ["exact", "isnull"], "manager": ["exact"]}


class TeamViewSet(ExportMixin, TenantModelViewSet):
    """Sales teams and departments of the caller's company; admins and managers maintain them."""

    queryset = selectors.team_list_queryset(Team.objects.all())
    output_serializer_class = TeamSerializer
    input_serializer_class = TeamInput
    filterset_class = TeamFilter
    search_fields = ("name", "name_en")
    ordering_fields = ("name", "created_at", "member_count")
    ordering = ("name",)
    export_fields = (
        "id",
        "name",
        "name_en",
        "kind",
        ("parent__name", _("parent")),
        ("manager__username", _("manager")),
    )

    def create_object(self, *, actor, data):
        return services.team_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.team_update(team=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        services.team_delete(team=instance, by=actor.user)


# ------------------------------------------------------------------ memberships


class MembershipSerializer(OutputSerializer):
    user = UserSummarySerializer(read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    teams = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "email", "role", "teams", "is_active", "created_at"]
        read_only_fields = fields


class MembershipCreateInput(InputSerializer):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    email = serializers.EmailField()
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=Role.choices)
    teams = ScopedRelatedField(model=Team, many=True, required=False, default=list)


class MembershipUpdateInput(InputSerializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    teams = ScopedRelatedField(model=Team, many=True, required=False)
    is_active = serializers.BooleanField(required=False)


class MembershipFilter(django_filters.FilterSet):
    team = django_filters.NumberFilter(field_name="teams", distinct=True)

    class Meta:
        model = Membership
        fields = {"role": ["exact"], "is_active": ["exact"]}


class MembershipViewSet(ExportMixin, TenantModelViewSet):
    """Members of the caller's company with their roles and teams. Everyone sees the list; admins add people,
    change roles and teams, and remove people (``DELETE`` deactivates: history and ownership stay)."""

    queryset = selectors.membership_list_queryset(Membership.objects.all())
    output_serializer_class = MembershipSerializer
    input_serializer_class = MembershipCreateInput
    update_input_serializer_class = MembershipUpdateInput
    filterset_class = MembershipFilter
    search_fields = ("user__username", "user__first_name", "user__last_name", "user__email")
    ordering_fields = {"username": "user__username", "role": "role", "created_at": "created_at"}
    ordering = ("username",)
    export_fields = (
        ("user__username", _("username")),
        ("user__first_name", _("first name")),
        ("user__last_name", _("last name")),
        ("user__email", _("e-mail")),
        "role",
        "is_active",
    )

    def create_object(self, *, actor, data):
        return services.membership_create(company=actor.company, by=actor.user, **data)

    def update_object(self, *, actor, instance, data):
        return services.membership_update(membership=instance, by=actor.user, **data)

    def delete_object(self, *, actor, instance):
        services.membership_deactivate(membership=instance, by=actor.user)


# ------------------------------------------------------------------ me


class MeCompanySerializer(serializers.Serializer):
    id = serializers.IntegerField(source="company.id")
    name = serializers.CharField(source="company.name")
    name_en = serializers.CharField(source="company.name_en")
    code = serializers.CharField(source="company.code")
    role = serializers.CharField()


class MeUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    email = serializers.EmailField()


class MeSerializer(serializers.Serializer):
    user = MeUserSerializer()
    company = CompanySerializer(allow_null=True)
    role = serializers.ChoiceField(choices=Role.choices, allow_null=True)
    teams = serializers.ListField(child=serializers.IntegerField())
    companies = MeCompanySerializer(many=True)
    auth = serializers.ChoiceField(choices=["session", "token"])


class MeView(APIView):
    """The caller: user, the company acted in (the token's, else ``X-Troika-Company``/the session's choice),
    the role there, and every company they belong to."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        actor = request_actor(request)
        memberships = list(selectors.memberships_of_user(request.user))
        data = {
            "user": request.user,
            "company": actor.company if actor else None,
            "role": actor.role if actor else None,
            "teams": sorted(actor.membership.teams.values_list("id", flat=True)) if actor else [],
            "companies": memberships,
            "auth": "token" if getattr(request._request, "auth_membership", None) else "session",
        }
        return Response(MeSerializer(data, context={"request": request, "actor": actor}).data)
