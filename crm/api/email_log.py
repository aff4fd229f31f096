"""E-mails logged by a Bcc copy (``crm.services.email_log``): the mail gateway posts the raw message with the
company's inbound token, as it does for tickets (``crm.api.tickets``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.tickets import INBOUND_TOKEN_PARAMETER, PlainEmailParser, RawEmailParser, inbound_email_of
from crm.services.email_log import email_log_inbound


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
        parameters=[INBOUND_TOKEN_PARAMETER],
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
        company, raw, refused = inbound_email_of(request)
        if refused is not None:
            return refused
        result = email_log_inbound(company=company, raw=raw)
        return Response(
            LoggedEmailSerializer(result).data,
            status=status.HTTP_200_OK if result.duplicate else status.HTTP_201_CREATED,
        )
