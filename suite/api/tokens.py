"""API tokens: a user's own tokens (list, create — the secret is in that one response only —, revoke) and the
password login that issues one, behind django-axes and the strict ``login`` throttle."""

from __future__ import annotations

import django_filters
from django.contrib.auth import user_logged_in
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from suite.api.errors import api_error_response
from suite.api.serializers import InputSerializer, OutputSerializer
from suite.api.throttling import LoginRateThrottle
from suite.api.viewsets import TenantModelViewSet
from suite.auth.services import login_check, second_factor_failed, two_factor_required, verify_second_factor
from suite.models import ApiToken, Membership
from suite.policy import Actor
from suite.services.tokens import api_token_issue, api_token_revoke


class ApiTokenSerializer(OutputSerializer):
    company = serializers.IntegerField(source="membership.company_id", read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "company", "is_active", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class IssuedTokenSerializer(ApiTokenSerializer):
    secret = serializers.SerializerMethodField(
        help_text="The token itself, shown in this response only: send it as `Authorization: Token <secret>`."
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, token) -> str:
        return self.context["secret"]


class ApiTokenInput(InputSerializer):
    name = serializers.CharField(max_length=100)


class ApiTokenFilter(django_filters.FilterSet):
    active = django_filters.BooleanFilter(field_name="revoked_at", lookup_expr="isnull", label=_("active"))

    class Meta:
        model = ApiToken
        fields = ["active"]


class ApiTokenViewSet(TenantModelViewSet):
    """The caller's own API tokens in the company they act in. ``POST`` returns the secret once; it is
    stored only as a SHA-256 hash. ``DELETE`` revokes the token (it stays listed, with ``revoked_at``)."""

    queryset = ApiToken.objects.select_related("membership")
    output_serializer_class = ApiTokenSerializer
    input_serializer_class = ApiTokenInput
    filterset_class = ApiTokenFilter
    search_fields = ("name", "prefix")
    ordering_fields = ("created_at", "name", "last_used_at")
    ordering = ("-created_at",)
    http_method_names = ["get", "post", "delete", "head", "options"]

    @extend_schema(request=ApiTokenInput, responses={201: IssuedTokenSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = api_token_issue(membership=self.actor.membership, name=serializer.validated_data["name"])
        context = {**self.get_serializer_context(), "secret": issued.secret}
        return Response(IssuedTokenSerializer(issued.token, context=context).data, status=status.HTTP_201_CREATED)

    def delete_object(self, *, actor, instance):
        api_token_revoke(token=instance)


class TokenLoginInput(InputSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
    company = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="Company to act in (default: the first one)."
    )
    otp = serializers.CharField(
        max_length=32, required=False, help_text="TOTP (or backup) code, when the company requires it for the role."
    )
    name = serializers.CharField(max_length=100, required=False, default="login")

    class Meta:
        # the company to log into, checked against the user's memberships: not a record's owning company
        writable_protected = ("company",)


class TokenLoginView(APIView):
    """Exchange a username and password for an API token bound to one company.

    Brute force is stopped twice: by the strict ``login`` throttle (per client IP) and by django-axes, which
    locks the username for that IP after repeated failures (HTTP 429, code ``locked_out``). Admins and finance
    staff of a company requiring two-factor login must also send ``otp``.
    """

    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [LoginRateThrottle]

    def get_authenticate_header(self, request):
        return "Token"

    def locked_out(self):
        return api_error_response(429, "locked_out", _("Too many failed login attempts; try again later."))

    @extend_schema(
        request=TokenLoginInput,
        responses={
            201: IssuedTokenSerializer,
            401: OpenApiResponse(description="Wrong credentials, or a TOTP code is required (`otp_required`)."),
            429: OpenApiResponse(description="Throttled or locked out."),
        },
    )
    def post(self, request):
        serializer = TokenLoginInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        django_request = request._request
        # The suite's one password check: counted by django-axes one attempt at a time per account.
        result = login_check(request=django_request, identifier=data["username"], password=data["password"])
        user = result.user
        if result.locked_out:
            return self.locked_out()
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid username or password."), code="invalid_credentials")
        memberships = Membership.objects.select_related("company", "user").filter(user=user, is_active=True)
        if "company" in data:
            memberships = memberships.filter(company_id=data["company"])
        membership = memberships.order_by("company_id").first()
        if membership is None:
            raise exceptions.PermissionDenied(_("You are not a member of this company."), code="no_membership")
        if two_factor_required(Actor(membership)):
            if not data.get("otp"):
                raise exceptions.AuthenticationFailed(
                    _("Your role requires a two-factor code (otp)."), code="otp_required"
                )
            if verify_second_factor(user=user, token=data["otp"]) is None:
                if second_factor_failed(request=django_request, user=user):  # wrong codes count as failed logins
                    return self.locked_out()
                raise exceptions.AuthenticationFailed(_("The two-factor code is wrong."), code="otp_invalid")
        user_logged_in.send(sender=type(user), request=django_request, user=user)
        issued = api_token_issue(membership=membership, name=data["name"])
        context = {"request": request, "secret": issued.secret, "actor": None}
        return Response(IssuedTokenSerializer(issued.token, context=context).data, status=status.HTTP_201_CREATED)
