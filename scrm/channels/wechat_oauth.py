"""WeChat web-page authorisation (网页授权, OAuth 2.0) of an Official Account: who scanned a QR code.

1. The landing page sends the phone to ``{oauth_base}/connect/oauth2/authorize?appid=&redirect_uri=
   &response_type=code&scope=snsapi_base|snsapi_userinfo&state=#wechat_redirect``;
2. WeChat redirects back with ``?code=&state=``;
3. we exchange the code: ``GET {api_base}/sns/oauth2/access_token?appid=&secret=&code=&grant_type=
   authorization_code`` → ``{"access_token", "expires_in", "refresh_token", "openid", "scope", "unionid"?}``
   or ``{"errcode": 40029, "errmsg": "invalid code"}``;
4. with ``snsapi_userinfo``: ``GET {api_base}/sns/userinfo?access_token=&openid=&lang=zh_CN`` →
   ``{"openid", "nickname", "province", "city", "unionid"?}``.

Credentials and config are those of the ``wechat_oa`` channel: ``app_secret``; ``app_id``, ``api_base``
(default https://api.weixin.qq.com), ``oauth_base`` (default https://open.weixin.qq.com), ``oauth_scope``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlencode

from suite import net

from .base import SendError


class OAuthError(SendError):
    """WeChat refused the code (expired, used twice, forged) or could not be reached."""


@dataclass
class WeChatUser:
    openid: str
    unionid: str = ""
    nickname: str = ""
    province: str = ""
    city: str = ""


def authorize_url(channel, *, redirect_uri: str, state: str) -> str:
    config = channel.config or {}
    params = {
        "appid": config.get("app_id", ""),
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": config.get("oauth_scope", "snsapi_userinfo"),
        "state": state,
    }
    base = config.get("oauth_base", "https://open.weixin.qq.com").rstrip("/")
    return f"{base}/connect/oauth2/authorize?{urlencode(params)}#wechat_redirect"


def _get(url: str) -> dict:
    try:
        response = net.request("GET", url)
    except (net.UnsafeURL, net.OutboundError) as exc:
        raise OAuthError(str(exc)) from exc
    try:
        data = json.loads(response.body or b"{}")
    except ValueError:
        raise OAuthError(f"HTTP {response.status}: not JSON") from None
    if data.get("errcode"):
        raise OAuthError(f"errcode={data.get('errcode')} {data.get('errmsg', '')}")
    if response.status >= 400:
        raise OAuthError(f"HTTP {response.status}")
    return data


def exchange_code(channel, code: str) -> WeChatUser:
    """The scanner behind an OAuth ``code``: openid (and unionid, nickname, region with ``snsapi_userinfo``)."""
    config = channel.config or {}
    api_base = config.get("api_base", "https://api.weixin.qq.com").rstrip("/")
    params = {
        "appid": config.get("app_id", ""),
        "secret": channel.credentials.get("app_secret", ""),
        "code": code,
        "grant_type": "authorization_code",
    }
    token = _get(f"{api_base}/sns/oauth2/access_token?{urlencode(params)}")
    if not token.get("openid"):
        raise OAuthError("no openid in the answer")
    user = WeChatUser(openid=token["openid"], unionid=token.get("unionid", ""))
    if "snsapi_userinfo" in str(token.get("scope", "")):
        info = _get(
            f"{api_base}/sns/userinfo?"
            + urlencode({"access_token": token.get("access_token", ""), "openid": user.openid, "lang": "zh_CN"})
        )
        user.unionid = info.get("unionid", user.unionid)
        user.nickname = str(info.get("nickname", ""))[:100]
        user.province = str(info.get("province", ""))[:50]
        user.city = str(info.get("city", ""))[:50]
    return user
