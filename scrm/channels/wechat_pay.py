"""WeChat Pay v2 "send red packet" (现金红包 ``POST /mmpaymkttransfers/sendredpack``), as documented.

Request: an XML ``<xml>`` of mch_billno, mch_id, wxappid, send_name, re_openid, total_amount (fen, integer),
total_num (1), wishing, client_ip, act_name, remark, nonce_str and ``sign`` = uppercase MD5 hex of the
non-empty parameters sorted by name as ``k=v&…`` followed by ``&key=<API key>``. The call needs the merchant's
client certificate (mutual TLS) in production; ``cert_file``/``key_file`` are optional so a local fake works.

Answer: XML with ``return_code`` (communication) and ``result_code`` (business) ``SUCCESS``/``FAIL`` and, on a
business failure, ``err_code``/``err_code_des``. ``SYSTEMERROR`` (and a failed connection) are retried with the
SAME ``mch_billno`` — WeChat Pay pays one bill number at most once; any other error code is final.
"""

from __future__ import annotations

import hashlib
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape

from suite import net

SEND_PATH = "/mmpaymkttransfers/sendredpack"
DEFAULT_API_BASE = "https://api.mch.weixin.qq.com"
RETRYABLE_CODES = {"SYSTEMERROR"}


def sign(params: dict[str, str], api_key: str) -> str:
    """WeChat Pay v2 MD5 signature of ``params`` (``sign`` itself and empty values are left out)."""
    joined = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k] not in ("", None))
    return hashlib.md5(f"{joined}&key={api_key}".encode()).hexdigest().upper()  # noqa: S324  documented MD5


def to_fen(amount: Decimal) -> int:
    """Yuan (Decimal, at most 2 decimals) to integer fen, exactly; refuses anything that does not fit."""
    fen = Decimal(amount) * 100
    if fen != fen.to_integral_value() or fen <= 0:
        raise ValueError(f"{amount} is not a positive amount in whole fen")
    return int(fen)


def to_xml(params: dict[str, str]) -> bytes:
    return ("<xml>" + "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in params.items()) + "</xml>").encode()


def from_xml(body: bytes) -> dict[str, str]:
    root = ET.fromstring(body)  # noqa: S314  the answer of a configured payment host, no DTD processing
    return {child.tag: (child.text or "") for child in root}


@dataclass
class PayResult:
    ok: bool
    retry: bool = False
    reason: str = ""
    listid: str = ""


@dataclass
class RedPacketClient:
    mch_id: str
    api_key: str
    wxappid: str
    send_name: str
    client_ip: str = "127.0.0.1"
    api_base: str = DEFAULT_API_BASE
    cert_file: str = ""
    key_file: str = ""

    def params(self, *, billno: str, openid: str, amount: Decimal, wishing: str, act_name: str, remark: str):
        params = {
            "mch_billno": billno,
            "mch_id": self.mch_id,
            "wxappid": self.wxappid,
            "send_name": self.send_name[:32],
            "re_openid": openid,
            "total_amount": str(to_fen(amount)),
            "total_num": "1",
            "wishing": wishing[:128],
            "client_ip": self.client_ip,
            "act_name": act_name[:32],
            "remark": remark[:256],
            "nonce_str": secrets.token_hex(16),
        }
        params["sign"] = sign(params, self.api_key)
        return params

    def _post(self, url: str, body: bytes) -> bytes:
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if self.cert_file:  # mutual TLS with the merchant certificate (the fixed WeChat Pay host)
            import urllib3

            pool = urllib3.PoolManager(cert_file=self.cert_file, key_file=self.key_file or None, retries=False)
            response = pool.request("POST", url, body=body, headers=headers, timeout=10.0)
            return response.data
        return net.request("POST", url, body=body, headers=headers).body

    def send(self, **kwargs) -> PayResult:
        body = to_xml(self.params(**kwargs))
        try:
            answer = from_xml(self._post(f"{self.api_base.rstrip('/')}{SEND_PATH}", body))
        except (net.UnsafeURL, ET.ParseError) as exc:
            return PayResult(ok=False, reason=str(exc)[:200])
        except Exception as exc:
            return PayResult(ok=False, retry=True, reason=f"network: {exc}"[:200])
        if answer.get("return_code") != "SUCCESS":
            return PayResult(ok=False, reason=f"{answer.get('return_msg', '')}".strip()[:200] or "FAIL")
        if answer.get("result_code") == "SUCCESS":
            return PayResult(ok=True, listid=answer.get("send_listid", ""))
        code = answer.get("err_code", "")
        reason = f"{code} {answer.get('err_code_des', '')}".strip()[:200]
        return PayResult(ok=False, retry=code in RETRYABLE_CODES, reason=reason)
