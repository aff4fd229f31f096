"""The HTTP side of WeChat Official Account and WeCom APIs: access tokens (cached per channel, refreshed once
when the platform says expired/invalid) and JSON calls that report ``errcode``.

Token endpoints: WeCom ``GET /cgi-bin/gettoken?corpid=&corpsecret=``; Official Account
``GET /cgi-bin/token?grant_type=client_credential&appid=&secret=``; both answer ``{"access_token",
"expires_in": 7200}`` or ``{"errcode", "errmsg"}``. Codes 40001 (invalid credential), 40014 (invalid token)
and 42001 (token expired) make one refresh and retry; 45009/45047 (frequency limits) are ``RateLimited``.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.core.cache import cache

from suite import net

from .base import RateLimited, SendError

TOKEN_ERRORS = {40001, 40014, 42001}
RATE_LIMIT_ERRORS = {45009, 45047, 45033}


class TencentApi:
    def __init__(self, *, channel_id: int, api_base: str, credential_url: str, token_params: dict[str, str]):
        self.channel_id = channel_id
        self.api_base = api_base.rstrip("/")
        self.credential_url = credential_url
        self.token_params = token_params

    @property
    def cache_key(self) -> str:
        return f"scrm:channel:{self.channel_id}:access_token"

    def _json(self, method: str, url: str, body: dict | None = None) -> dict:
        payload = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        try:
            response = net.request(
                method, url, body=payload, headers={"Content-Type": "application/json"} if payload else None
            )
        except (net.UnsafeURL, net.OutboundError) as exc:
            raise SendError(str(exc)) from exc
        try:
            data = json.loads(response.body or b"{}")
        except ValueError:
            raise SendError(f"HTTP {response.status}: not JSON") from None
        if response.status >= 400 and not data.get("errcode"):
            raise SendError(f"HTTP {response.status}")
        return data

    def access_token(self, *, refresh: bool = False) -> str:
        token = None if refresh else cache.get(self.cache_key)
        if token:
            return token
        data = self._json("GET", f"{self.api_base}{self.credential_url}?{urlencode(self.token_params)}")
        if not data.get("access_token"):
            raise SendError(f"token refused: errcode={data.get('errcode')} {data.get('errmsg', '')}")
        # Expire early: a token used at the edge of its life fails with 42001 mid-call.
        cache.set(self.cache_key, data["access_token"], max(int(data.get("expires_in", 7200)) - 300, 60))
        return data["access_token"]

    def post(self, path: str, body: dict) -> dict:
        """POST ``body`` to ``path?access_token=…``; refresh the token once if the platform rejects it."""
        for attempt in (1, 2):
            token = self.access_token(refresh=attempt == 2)
            data = self._json("POST", f"{self.api_base}{path}?{urlencode({'access_token': token})}", body)
            code = int(data.get("errcode") or 0)
            if code in TOKEN_ERRORS and attempt == 1:
                continue
            if code in RATE_LIMIT_ERRORS:
                raise RateLimited(60)
            if code:
                raise SendError(f"errcode={code} {data.get('errmsg', '')}")
            return data
        raise SendError("the access token was refused twice")
