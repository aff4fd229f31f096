"""``/api/v1/scrm/channels/<id>/webhook/``: where platforms push. No login: the connector's signature check
is the authentication. The delivery is stored and answered at once; processing runs in a Celery task after
commit (WeCom gives up after 5 s and retries)."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from scrm.channels import ChannelError, connector_for
from scrm.selectors import channel_for_webhook
from scrm.services.channels import webhook_receive
from suite.api.errors import json_error

MAX_BODY = 256 * 1024


@csrf_exempt
@require_http_methods(["GET", "POST"])
def channel_webhook(request, channel_id: int):
    channel = channel_for_webhook(channel_id)
    if channel is None:
        return json_error(404, "not_found", _("Not found."))
    if len(request.body) > MAX_BODY:
        return json_error(413, "too_large", _("The request body is too large."))
    try:
        result = connector_for(channel).verify_and_parse(request)
        webhook_receive(channel=channel, result=result)
    except ChannelError as exc:
        return json_error(exc.status, exc.code, exc.message)
    return HttpResponse(result.reply, content_type=result.content_type)
