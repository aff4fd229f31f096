"""Weibo comments poller following the shape of Weibo's open API (``/2/comments/to_me.json``).

Pages newest-first with ``since_id`` (the cursor: the highest comment id saved) and ``page``/``count``, walking
pages until one comes back short so a burst larger than one page leaves no gap. Errors come as
``{"error", "error_code", "request"}``: 10022/10023/10024 (rate limits, also HTTP 403/429) → ``RateLimited``;
21327 (token expired) / 21332 (invalid token) → one refresh through ``/oauth2/access_token`` with the refresh
token, then the call again.
"""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import urlencode

from suite import net

from .base import Connector, InboundEvent, RateLimited

RATE_LIMIT_CODES = {10022, 10023, 10024}
TOKEN_CODES = {21327, 21332, 21315}
PAGE_SIZE = 50
MAX_PAGES = 20


class WeiboApiError(Exception):
    pass


class WeiboConnector(Connector):
    """credentials: ``access_token``, ``refresh_token``, ``app_key``, ``app_secret``; config: ``api_base``."""

    kind = "weibo"
    can_poll = True
    credentials_changed = False

    @property
    def api_base(self) -> str:
        return self.config.get("api_base", "https://api.weibo.com").rstrip("/")

    def _get(self, path: str, params: dict) -> dict:
        for attempt in (1, 2):
            query = urlencode({**params, "access_token": self.credentials.get("access_token", "")})
            response = net.request("GET", f"{self.api_base}{path}?{query}", timeout=15)
            try:
                data = json.loads(response.body or b"{}")
            except ValueError:
                raise WeiboApiError(f"HTTP {response.status}: not JSON") from None
            code = data.get("error_code") if isinstance(data, dict) else None
            if response.status == 429 or code in RATE_LIMIT_CODES:
                raise RateLimited(int(response.headers.get("Retry-After", "") or 60))
            if code in TOKEN_CODES and attempt == 1:
                self.refresh_token()
                continue
            if code or response.status >= 400:
                raise WeiboApiError(f"HTTP {response.status} error_code={code}: {data.get('error')}")
            return data
        raise WeiboApiError("token refresh did not help")

    def refresh_token(self) -> None:
        body = urlencode(
            {
                "client_id": self.credentials.get("app_key", ""),
                "client_secret": self.credentials.get("app_secret", ""),
                "grant_type": "refresh_token",
                "refresh_token": self.credentials.get("refresh_token", ""),
            }
        ).encode()
        response = net.request(
            "POST",
            f"{self.api_base}/oauth2/access_token",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        data = json.loads(response.body or b"{}")
        if response.status >= 400 or "access_token" not in data:
            raise WeiboApiError(f"token refresh failed: {data.get('error')}")
        self.credentials = {**self.credentials, "access_token": data["access_token"]}
        if data.get("refresh_token"):
            self.credentials["refresh_token"] = data["refresh_token"]
        self.credentials_changed = True

    def poll(self, cursor: str) -> tuple[list[InboundEvent], str]:
        since_id = int(cursor or 0)
        seen: dict[int, dict] = {}
        for page in range(1, MAX_PAGES + 1):
            data = self._get("/2/comments/to_me.json", {"since_id": since_id, "count": PAGE_SIZE, "page": page})
            comments = data.get("comments") or []
            for comment in comments:
                seen[int(comment["id"])] = comment
            if len(comments) < PAGE_SIZE:
                break
        events = [self._event(seen[key]) for key in sorted(seen) if key > since_id]
        return events, str(max(seen, default=since_id))

    @staticmethod
    def _event(comment: dict) -> InboundEvent:
        user = comment.get("user") or {}
        event = InboundEvent(
            external_id=f"comment:{comment.get('idstr') or comment['id']}",
            sender_id=str(user.get("idstr") or user.get("id") or ""),
            kind="comment",
            text=comment.get("text", ""),
            sender_name=user.get("screen_name", ""),
        )
        if comment.get("created_at"):
            event.sent_at = datetime.strptime(comment["created_at"], "%a %b %d %H:%M:%S %z %Y").isoformat()
        return event
