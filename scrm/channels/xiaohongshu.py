"""Xiaohongshu (小红书) notes and comments, polled, in the shape of its open platform.

Every call is ``POST {api_base}/ark/open_api/v3/common_controller`` with a JSON body carrying the method and
the signed common parameters::

    {"method": "note.comment.list", "appId": "...", "timestamp": "1732700000", "version": "2.0",
     "sign": md5("<method>?appId=<appId>&timestamp=<timestamp>&version=2.0<appSecret>"),
     "accessToken": "...", ...method parameters}

and answers ``{"success": true, "code": 0, "msg": "", "data": {...}}``. Access tokens expire
(``accessTokenExpiresAt``, epoch milliseconds) and are renewed with ``oauth.refreshToken`` (``refreshToken``),
which answers a new ``accessToken`` / ``accessTokenExpiresAt`` / ``refreshToken``. We refresh a token about
to expire before the call, and once more when the platform still calls it invalid or expired.

Error codes as handled here (keep them in step with the platform documentation of the account):
``TOKEN_CODES`` (invalid / expired access token) → refresh and retry once; ``RATE_LIMIT_CODES`` or HTTP 429 →
``RateLimited`` (the poller backs off; ``Retry-After`` honoured); anything else → ``XiaohongshuApiError``.

Comments come oldest first after an opaque ``cursor`` (``nextCursor`` of the previous page, ``hasMore``); the
stored cursor is the last page's ``nextCursor``, advanced by the poller only after the items are saved, so a
crash re-reads the same page and the (channel, external id) dedupe drops what was already stored.
"""

from __future__ import annotations

import hashlib
import json
import time

from suite import net

from .base import Connector, InboundEvent, RateLimited

API_PATH = "/ark/open_api/v3/common_controller"
VERSION = "2.0"
TOKEN_CODES = {1002, 1003}  # accessToken invalid, accessToken expired
RATE_LIMIT_CODES = {3001, 3002}  # app / method call frequency over the limit
REFRESH_MARGIN_SECONDS = 120
PAGE_SIZE = 50
MAX_PAGES = 20


class XiaohongshuApiError(Exception):
    pass


def sign(method: str, app_id: str, timestamp: str, app_secret: str, version: str = VERSION) -> str:
    """The platform's request signature: MD5 hex of ``<method>?appId=…&timestamp=…&version=…`` + app secret."""
    raw = f"{method}?appId={app_id}&timestamp={timestamp}&version={version}{app_secret}"
    return hashlib.md5(raw.encode()).hexdigest()  # noqa: S324  the platform's documented signature


class XiaohongshuConnector(Connector):
    """credentials: ``app_id``, ``app_secret``, ``access_token``, ``access_token_expires_at`` (epoch ms),
    ``refresh_token``; config: ``api_base``, ``page_size``, ``max_pages``."""

    kind = "xiaohongshu"
    can_poll = True
    credentials_changed = False

    @property
    def api_base(self) -> str:
        return self.config.get("api_base", "https://ark.xiaohongshu.com").rstrip("/")

    def _post(self, method: str, params: dict, *, with_token: bool = True) -> tuple[int, dict, dict]:
        timestamp = str(int(time.time()))
        app_id = self.credentials.get("app_id", "")
        body = {
            "method": method,
            "appId": app_id,
            "timestamp": timestamp,
            "version": VERSION,
            "sign": sign(method, app_id, timestamp, self.credentials.get("app_secret", "")),
            **params,
        }
        if with_token:
            body["accessToken"] = self.credentials.get("access_token", "")
        response = net.request(
            "POST",
            f"{self.api_base}{API_PATH}",
            body=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json;charset=utf-8"},
            timeout=15,
        )
        try:
            data = json.loads(response.body or b"{}")
        except ValueError:
            raise XiaohongshuApiError(f"HTTP {response.status}: not JSON") from None
        return response.status, data if isinstance(data, dict) else {}, response.headers

    def _token_expiring(self) -> bool:
        expires_ms = int(self.credentials.get("access_token_expires_at") or 0)
        return not self.credentials.get("access_token") or (
            expires_ms and expires_ms / 1000 < time.time() + REFRESH_MARGIN_SECONDS
        )

    def refresh_token(self) -> None:
        """``oauth.refreshToken``: store the new access token, its expiry and the rotated refresh token."""
        status, data, _headers = self._post(
            "oauth.refreshToken", {"refreshToken": self.credentials.get("refresh_token", "")}, with_token=False
        )
        token = (data.get("data") or {}) if data.get("success") else {}
        if status >= 400 or not token.get("accessToken"):
            raise XiaohongshuApiError(f"token refresh failed: code={data.get('code')} {data.get('msg', '')}")
        self.credentials = {
            **self.credentials,
            "access_token": token["accessToken"],
            "access_token_expires_at": int(token.get("accessTokenExpiresAt") or 0),
        }
        if token.get("refreshToken"):
            self.credentials["refresh_token"] = token["refreshToken"]
        self.credentials_changed = True

    def call(self, method: str, params: dict) -> dict:
        """One API call: the token refreshed first when about to expire, and once more if the platform says
        it is invalid or expired. Returns ``data``."""
        if self._token_expiring():
            self.refresh_token()
        for attempt in (1, 2):
            status, data, headers = self._post(method, params)
            code = int(data.get("code") or 0)
            if status == 429 or code in RATE_LIMIT_CODES:
                raise RateLimited(int(headers.get("Retry-After", "") or 60))
            if code in TOKEN_CODES and attempt == 1:
                self.refresh_token()
                continue
            if status >= 400 or code or not data.get("success", False):
                raise XiaohongshuApiError(f"HTTP {status} code={code}: {data.get('msg', '')}")
            return data.get("data") or {}
        raise XiaohongshuApiError("the access token was refused after a refresh")

    def poll(self, cursor: str) -> tuple[list[InboundEvent], str]:
        page_size = int(self.config.get("page_size", PAGE_SIZE))
        max_pages = int(self.config.get("max_pages", MAX_PAGES))
        events: list[InboundEvent] = []
        for _page in range(max_pages):
            data = self.call("note.comment.list", {"cursor": cursor, "pageSize": page_size})
            for comment in data.get("comments") or []:
                events.append(self._event(comment))
            cursor = data.get("nextCursor") or cursor
            if not data.get("hasMore"):
                break
        return events, cursor

    @staticmethod
    def _event(comment: dict) -> InboundEvent:
        from datetime import UTC, datetime

        user = comment.get("user") or {}
        event = InboundEvent(
            external_id=f"comment:{comment['commentId']}",
            sender_id=str(user.get("userId") or ""),
            kind="comment",
            text=comment.get("content", ""),
            sender_name=user.get("nickname", ""),
            extra={"note_id": comment.get("noteId", ""), "note_title": comment.get("noteTitle", "")},
        )
        if comment.get("createTime"):
            event.sent_at = datetime.fromtimestamp(int(comment["createTime"]) / 1000, tz=UTC).isoformat()
        return event
