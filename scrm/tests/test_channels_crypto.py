"""Connector crypto and signatures, without HTTP: WeCom AES/msg_signature, Fernet credentials."""

from __future__ import annotations

import base64
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from scrm.channels.base import ReplayError, SignatureError, check_timestamp
from scrm.channels.secrets import decrypt_credentials, encrypt_credentials
from scrm.channels.wecom import WeComCrypto, WeComCryptoError, event_from_message, parse_xml
from scrm.models import Channel
from scrm.tests.factories import WECOM_CORP_ID, WECOM_CREDENTIALS, make_channel

# Tencent's published sample (developer.work.weixin.qq.com/document/path/90968, WXBizMsgCrypt samples).
OFFICIAL_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3"
    "TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gs"
    "ijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUa"
    "x5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIG"
    "HBZZIs2pDBS8R07+qN+E7Q=="
)
# Our own fixed vector: prefix b"0123456789abcdef", message below, the sample's key and corp id.
FIXED_MESSAGE = "<xml><MsgId>1</MsgId></xml>"
FIXED_ENCRYPT = (
    "sKqRbbiSUnDhFHOvPjtUMay4asIA5fy2Srx+eW29XFFWsQpNdm7k0jESKLoyvoLvlbW18LYya/InTcWN2uV1JFcAfvLeuM6AbigWGe3o++K1TLev"
    "xEBqnB/XQZfgPblp"
)


@pytest.fixture
def crypto():
    return WeComCrypto(
        token=WECOM_CREDENTIALS["token"],
        encoding_aes_key=WECOM_CREDENTIALS["encoding_aes_key"],
        receive_id=WECOM_CORP_ID,
    )


def test_official_sample_verifies_and_decrypts(crypto):
    crypto.verify("477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149", OFFICIAL_ENCRYPT)
    fields = parse_xml(crypto.decrypt(OFFICIAL_ENCRYPT))
    assert fields["MsgId"] == "4561255354251345929"
    assert fields["Content"] == "hello"
    assert fields["FromUserName"] == "mycreate"


def test_fixed_vector_matches_and_has_the_documented_layout(crypto):
    assert crypto.encrypt(FIXED_MESSAGE, random_prefix=b"0123456789abcdef") == FIXED_ENCRYPT
    # Decrypt independently with the primitive: key = b64(EncodingAESKey + "="), IV = key[:16].
    key = base64.b64decode(WECOM_CREDENTIALS["encoding_aes_key"] + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(FIXED_ENCRYPT)) + decryptor.finalize()
    assert len(key) == 32
    assert len(plain) % 32 == 0
    pad = plain[-1]
    assert plain[-pad:] == bytes([pad]) * pad
    body = plain[:-pad]
    assert body[:16] == b"0123456789abcdef"
    assert struct.unpack(">I", body[16:20])[0] == len(FIXED_MESSAGE)
    assert body[20 : 20 + len(FIXED_MESSAGE)] == FIXED_MESSAGE.encode()
    assert body[20 + len(FIXED_MESSAGE) :] == WECOM_CORP_ID.encode()


def test_round_trip_with_chinese_text_and_random_prefix(crypto):
    message = "<xml><Content><![CDATA[你好，请问有货吗？]]></Content></xml>"
    encrypted = crypto.encrypt(message)
    assert encrypted != crypto.encrypt(message)  # random prefix
    assert crypto.decrypt(encrypted) == message
    signature = crypto.sign("1700000000", "42", encrypted)
    crypto.verify(signature, "1700000000", "42", encrypted)


def test_bad_signature_wrong_corp_and_garbage_are_refused(crypto):
    with pytest.raises(SignatureError):
        crypto.verify("0" * 40, "1409659813", "1372623149", OFFICIAL_ENCRYPT)
    other = WeComCrypto(
        token="QDG6eK", encoding_aes_key=WECOM_CREDENTIALS["encoding_aes_key"], receive_id="wwsomeoneelse"
    )
    with pytest.raises(WeComCryptoError) as exc:
        other.decrypt(OFFICIAL_ENCRYPT)
    assert exc.value.code == "wrong_receiver"
    with pytest.raises(WeComCryptoError):
        crypto.decrypt("bm90IGFuIGFlcyBibG9jaw==")


def test_external_contact_events_and_dtd_refused():
    event = event_from_message(
        {
            "ToUserName": "corp",
            "FromUserName": "sys",
            "CreateTime": "1700000000",
            "MsgType": "event",
            "Event": "change_external_contact",
            "ChangeType": "del_follow_user",
            "UserID": "zhangsan",
            "ExternalUserID": "wmEXT1",
        }
    )
    assert (event.kind, event.event, event.sender_id, event.staff_id) == (
        "event",
        "del_follow_user",
        "wmEXT1",
        "zhangsan",
    )
    assert event.external_id == "event:sys:1700000000:del_follow_user:wmEXT1"
    with pytest.raises(Exception) as exc:
        parse_xml(b'<!DOCTYPE x [<!ENTITY a "b">]><xml><A>&a;</A></xml>')
    assert exc.value.code == "parse_error"


def test_timestamp_window():
    check_timestamp("1000", now=1000 + 300)
    with pytest.raises(ReplayError):
        check_timestamp("1000", now=1000 + 301)
    with pytest.raises(SignatureError):
        check_timestamp("abc")


def test_credentials_are_stored_encrypted(company, settings):
    channel = make_channel(company, "webhook", credentials={"secret": "很秘密-secret"})
    stored = Channel.objects.values_list("credentials_encrypted", flat=True).get(pk=channel.pk)
    assert "secret" not in stored and "很秘密" not in stored
    assert Channel.objects.get(pk=channel.pk).credentials == {"secret": "很秘密-secret"}
    assert decrypt_credentials(encrypt_credentials({"a": 1})) == {"a": 1}
    settings.SECRET_KEY = "another-secret-key-" + "y" * 40
    with pytest.raises(ValueError):
        decrypt_credentials(stored)
