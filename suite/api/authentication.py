"""``Authorization: Token <prefix>.<key>`` authentication with per-user, per-company tokens."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from suite.middleware import forget_actor
from suite.services.tokens import api_token_authenticate


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header."))
        try:
            secret = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token header.")) from None
        token = api_token_authenticate(secret)
        if token is None or not token.membership.user.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        django_request = request._request
        django_request.auth_membership = token.membership
        forget_actor(django_request)
        return token.membership.user, token

    def authenticate_header(self, request):
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Documents the token scheme in the OpenAPI schema (Swagger's "Authorize" button)."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <secret>` — create one at POST /api/v1/suite/tokens/ or /api/v1/suite/auth/token/.",
        }
