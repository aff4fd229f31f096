"""WeCom (企业微信) callbacks: ``msg_signature`` check and AES-256-CBC message crypto per WeCom's spec.

- ``msg_signature`` = SHA1 hex of the sorted, concatenated (token, timestamp, nonce, msg_encrypt);
- AES key = Base64-decode(EncodingAESKey + "="), 32 bytes; AES-256-CBC with IV = key[:16];
- PKCS#7 padding to a multiple of 32 bytes (not the cipher's 16);
- plaintext = 16 random bytes + 4-byte big-endian length + message + ReceiveId (our corp id, checked).

The URL check is a GET whose ``echostr`` is decrypted and echoed. WeCom retries three times after 5 s
without an answer, so the endpoint stores the delivery and answers at once; MsgId (events: FromUserName +
CreateTime, plus the change type and external user) is the dedupe key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.utils.translation import gettext_lazy as _

from .base import ChannelError, Connector, InboundEvent, SendError, SignatureError, WebhookResult, check_timestamp
from .tencent import TencentApi

BLOCK = 32
RELATIONSHIP_EVENTS = {"add_external_contact", "del_external_contact", "del_follow_user", "edit_external_contact"}


class WeComCryptoError(ChannelError):
    status = 401
    code = "bad_signature"


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    joined = "".join(sorted([token, str(timestamp), str(nonce), encrypted]))
    return hashlib.sha1(joined.encode()).hexdigest()  # noqa: S324  WeCom's documented signature


class WeComCrypto:
    """Encrypt/decrypt and sign WeCom callback payloads for one (token, EncodingAESKey, ReceiveId)."""

    def __init__(self, *, token: str, encoding_aes_key: str, receive_id: str):
        if len(encoding_aes_key) != 43:
            raise ValueError("EncodingAESKey must be 43 characters")
        self.token = token
        self.key = base64.b64decode(encoding_aes_key + "=")
        self.receive_id = receive_id

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, message: str, *, random_prefix: bytes | None = None) -> str:
        prefix = random_prefix if random_prefix is not None else os.urandom(16)
        body = message.encode()
        plain = prefix + struct.pack(">I", len(body)) + body + self.receive_id.encode()
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        try:
            raw = base64.b64decode(encrypted, validate=True)
            decryptor = self._cipher().decryptor()
            plain = decryptor.update(raw) + decryptor.finalize()
        except ValueError:
            raise WeComCryptoError(_("The message cannot be decrypted.")) from None
        pad = plain[-1] if plain else 0
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise WeComCryptoError(_("The message cannot be decrypted."))
        plain = plain[:-pad]
        if len(plain) < 20:
            raise WeComCryptoError(_("The message cannot be decrypted."))
        (length,) = struct.unpack(">I", plain[16:20])
        message, receive_id = plain[20 : 20 + length], plain[20 + length :]
        if not hmac.compare_digest(receive_id, self.receive_id.encode()):
            raise WeComCryptoError(_("The message is for another corp."), code="wrong_receiver")
        return message.decode()

    def sign(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return signature(self.token, timestamp, nonce, encrypted)

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        if not hmac.compare_digest(self.sign(timestamp, nonce, encrypted), msg_signature or ""):
            raise SignatureError(_("The signature does not match."))


def parse_xml(data: bytes | str) -> dict[str, str]:
    """The flat children of a WeCom XML document; documents with a DTD (entity tricks) are refused."""
    raw = data.encode() if isinstance(data, str) else data
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise ChannelError(_("XML with a document type is not accepted."), code="parse_error")
    try:
        root = ET.fromstring(raw)  # noqa: S314  DTDs refused above; expat resolves no external entities
    except ET.ParseError:
        raise ChannelError(_("The body is not valid XML."), code="parse_error") from None
    # Lists (``<MemChangeList><Item>a</Item><Item>b</Item></MemChangeList>``) come back comma-joined.
    return {child.tag: ",".join(i.text or "" for i in child) if len(child) else (child.text or "") for child in root}


def event_from_message(fields: dict[str, str]) -> InboundEvent | None:
    """The inbox event of a decrypted WeCom message, or ``None`` for kinds the inbox does not keep."""
    created = fields.get("CreateTime", "0")
    try:
        sent_at = datetime.fromtimestamp(int(created), tz=UTC).isoformat()
    except ValueError:
        raise ChannelError(_("CreateTime is not a timestamp."), code="invalid") from None
    msg_type = fields.get("MsgType", "")
    if msg_type == "text":
        return InboundEvent(
            external_id=f"msg:{fields.get('MsgId', '')}",
            sender_id=fields.get("FromUserName", ""),
            kind="message",
            text=fields.get("Content", ""),
            sent_at=sent_at,
        )
    if msg_type == "event" and fields.get("Event") == "change_external_chat":
        return chat_event(fields, created=created, sent_at=sent_at)
    if msg_type == "event" and fields.get("ChangeType") in RELATIONSHIP_EVENTS:
        change = fields["ChangeType"]
        external_user = fields.get("ExternalUserID", "")
        extra = {"state": fields["State"]} if fields.get("State") else {}
        return InboundEvent(
            external_id=f"event:{fields.get('FromUserName', '')}:{created}:{change}:{external_user}",
            sender_id=external_user,
            kind="event",
            event=change,
            staff_id=fields.get("UserID", ""),
            sent_at=sent_at,
            extra=extra,
        )
    return None


CHAT_CHANGES = {"create", "update", "dismiss"}


def chat_event(fields: dict[str, str], *, created: str, sent_at: str) -> InboundEvent | None:
    """A customer-group change (``change_external_chat``): ``ChangeType`` create / update / dismiss; an update
    says what changed in ``UpdateDetail`` (add_member, del_member, change_owner, change_name, change_notice),
    with ``MemChangeList`` (the members who joined or left), ``JoinScene`` / ``QuitScene``, ``MemChangeCnt``.
    Goes to the communities pipeline (``kind="chat"``), not the inbox."""
    change = fields.get("ChangeType", "")
    if change not in CHAT_CHANGES:
        return None
    chat_id = fields.get("ChatId", "")
    detail = fields.get("UpdateDetail", "")
    members = fields.get("MemChangeList", "")
    return InboundEvent(
        external_id=f"chat:{chat_id}:{created}:{change}:{detail}:{fields.get('CurMemVer', '')}",
        sender_id=chat_id,
        kind="chat",
        event=change,
        sent_at=sent_at,
        extra={
            "chat_id": chat_id,
            "update_detail": detail,
            "members": [m for m in members.split(",") if m],
            "join_scene": fields.get("JoinScene", ""),
            "quit_scene": fields.get("QuitScene", ""),
            "member_change_count": fields.get("MemChangeCnt", ""),
        },
    )


class WeComConnector(Connector):
    """credentials: ``token``, ``encoding_aes_key``, ``secret`` (the customer-contact app's secret); config:
    ``corp_id``, ``sender`` (default staff UserID for replies), ``api_base``."""

    kind = "wecom"

    @property
    def crypto(self) -> WeComCrypto:
        return WeComCrypto(
            token=self.credentials.get("token", ""),
            encoding_aes_key=self.credentials.get("encoding_aes_key", ""),
            receive_id=self.config.get("corp_id", ""),
        )

    def verify_and_parse(self, request) -> WebhookResult:
        params = request.GET
        timestamp, nonce, msg_signature = (
            params.get("timestamp", ""),
            params.get("nonce", ""),
            params.get("msg_signature", ""),
        )
        crypto = self.crypto
        if request.method == "GET":
            echostr = params.get("echostr", "")
            crypto.verify(msg_signature, timestamp, nonce, echostr)
            check_timestamp(timestamp)
            return WebhookResult(events=[], reply=crypto.decrypt(echostr))
        envelope = parse_xml(request.body)
        encrypted = envelope.get("Encrypt", "")
        crypto.verify(msg_signature, timestamp, nonce, encrypted)
        check_timestamp(timestamp)
        event = event_from_message(parse_xml(crypto.decrypt(encrypted)))
        return WebhookResult(events=[event] if event else [], nonce=f"{timestamp}:{nonce}")

    def api(self) -> TencentApi:
        return TencentApi(
            channel_id=self.channel.pk,
            api_base=self.config.get("api_base", "https://qyapi.weixin.qq.com"),
            credential_url="/cgi-bin/gettoken",
            token_params={"corpid": self.config.get("corp_id", ""), "corpsecret": self.credentials.get("secret", "")},
        )

    def send(self, recipient: str, message: str) -> str:
        """A one-to-one message to an external contact through ``externalcontact/add_msg_template`` (WeCom
        sends it once the staff member confirms it in their client). Returns WeCom's ``msgid``."""
        sender = self.config.get("sender", "")
        if not sender:
            raise SendError("the channel has no sender (staff UserID) configured")
        data = self.api().post(
            "/cgi-bin/externalcontact/add_msg_template",
            {"chat_type": "single", "external_userid": [recipient], "sender": sender, "text": {"content": message}},
        )
        if data.get("fail_list"):
            raise SendError(f"WeCom refused the recipient: {data['fail_list']}")
        return str(data.get("msgid", ""))
