"""WeChat Official Account (公众号) message push: ``signature`` = SHA1 of the sorted (token, timestamp, nonce);
plaintext mode, or safe mode (``encrypt_type=aes``) with the same AES scheme as WeCom, the app id as
ReceiveId and ``msg_signature`` over the ciphertext. The URL check echoes ``echostr`` as is. Text messages
dedupe on MsgId, events (subscribe/unsubscribe) on FromUserName + CreateTime. Replies go out as customer
service messages (``/cgi-bin/message/custom/send``, within 48 h of the fan's last message)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from django.utils.translation import gettext_lazy as _

from .base import ChannelError, Connector, InboundEvent, SignatureError, WebhookResult, check_timestamp
from .tencent import TencentApi
from .wecom import WeComCrypto, parse_xml


def signature(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()  # noqa: S324  WeChat's scheme


def event_from_message(fields: dict[str, str]) -> InboundEvent | None:
    created = fields.get("CreateTime", "0")
    if not created.isdigit():
        raise ChannelError(_("CreateTime is not a timestamp."))
    sent_at = datetime.fromtimestamp(int(created), tz=UTC).isoformat()
    openid = fields.get("FromUserName", "")
    if fields.get("MsgType") == "text":
        return InboundEvent(
            external_id=f"msg:{fields.get('MsgId', '')}",
            sender_id=openid,
            text=fields.get("Content", ""),
            sent_at=sent_at,
        )
    if fields.get("MsgType") == "event" and fields.get("Event") in ("subscribe", "unsubscribe"):
        return InboundEvent(
            external_id=f"event:{openid}:{created}",
            sender_id=openid,
            kind="event",
            event=fields["Event"],
            sent_at=sent_at,
        )
    return None


class WeChatOfficialAccountConnector(Connector):
    """credentials: ``token``, ``app_secret``, ``encoding_aes_key`` (safe mode); config: ``app_id``, ``api_base``."""

    kind = "wechat_oa"

    def verify_and_parse(self, request) -> WebhookResult:
        params = request.GET
        token = self.credentials.get("token", "")
        timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
        if not token or not hmac.compare_digest(signature(token, timestamp, nonce), params.get("signature", "")):
            raise SignatureError(_("The signature does not match."))
        check_timestamp(timestamp)
        if request.method == "GET":
            return WebhookResult(events=[], reply=params.get("echostr", ""))
        fields = parse_xml(request.body)
        if params.get("encrypt_type") == "aes":
            crypto = WeComCrypto(
                token=token,
                encoding_aes_key=self.credentials.get("encoding_aes_key", ""),
                receive_id=self.config.get("app_id", ""),
            )
            crypto.verify(params.get("msg_signature", ""), timestamp, nonce, fields.get("Encrypt", ""))
            fields = parse_xml(crypto.decrypt(fields.get("Encrypt", "")))
        event = event_from_message(fields)
        # The plain mode's signature covers no body: only the nonce check stops a replayed signature with another.
        return WebhookResult(events=[event] if event else [], nonce=f"{timestamp}:{nonce}")

    def api(self) -> TencentApi:
        return TencentApi(
            channel_id=self.channel.pk,
            api_base=self.config.get("api_base", "https://api.weixin.qq.com"),
            credential_url="/cgi-bin/token",
            token_params={
                "grant_type": "client_credential",
                "appid": self.config.get("app_id", ""),
                "secret": self.credentials.get("app_secret", ""),
            },
        )

    def send(self, recipient: str, message: str) -> str:
        self.api().post(
            "/cgi-bin/message/custom/send", {"touser": recipient, "msgtype": "text", "text": {"content": message}}
        )
        return ""  # the customer service API returns no message id
