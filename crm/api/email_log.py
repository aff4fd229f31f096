"""E-mails logged by a Bcc copy (``crm.services.email_log``): the mail gateway posts the raw message with the
company's inbound token, as it does for tickets (``crm.api.tickets``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.tickets import INBOUND_TOKEN_HEADER, PlainEmailParser, RawEmailParser
from crm.services import tickets as ticket_services
from crm.services.email_log import email_log_inbound
from suite.api.errors import error_body


class LoggedEmailSerializer(serializers.Serializer):
    activities = serializers.SerializerMethodField()
    unknown = serializers.ListField(child=serializers.CharField(), help_text="recipients not in the CRM for the sender")
    duplicate = serializers.BooleanField()

    def get_activities(self, result) -> list[int]:
        return [activity.pk for activity in result.activities]


class EmailLogView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = [RawEmailParser, PlainEmailParser]

    @extend_schema(
        request={"message/rfc822": OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter(
                "X-Troika-Inbound-Token",
                OpenApiTypes.STR,
                location=OpenApiParameter.HEADER,
                required=True,
                description=_("The company's inbound e-mail token."),
            )
        ],
        responses={
            201: LoggedEmailSerializer,
            200: OpenApiResponse(LoggedEmailSerializer, description=_("Seen before: what was logged then")),
        },
        auth=[],
        operation_id="crm_activities_inbound_email",
        tags=["crm"],
    )
    def post(self, request):
        """Post a raw RFC 5322 e-mail a member sent to customers with the company's logging address in Bcc
        (``X-Troika-Inbound-Token`` header): it is logged as a done e-mail activity on each recipient who is a
        contact (else an account) the sender may see; the other addresses come back in ``unknown``. The same
        ``Message-ID`` again: 200 with what was logged then."""
        company = ticket_services.inbound_token_company(request.META.get(INBOUND_TOKEN_HEADER, ""))
        if company is None:
            return Response(
                error_body("not_authenticated", _("A valid inbound e-mail token is required.")),
                status=status.HTTP_401_UNAUTHORIZED,
            )
        raw = request.data if isinstance(request.data, bytes) else b""
        if not raw.strip():
            return Response(
                error_body("invalid", _("Send the raw e-mail as the request body."), "message"),
                status=status.HTTP_400_BAD_REQUEST,
            )
        result = email_log_inbound(company=company, raw=raw)
        return Response(
            LoggedEmailSerializer(result).data,
            status=status.HTTP_200_OK if result.duplicate else status.HTTP_201_CREATED,
        )
