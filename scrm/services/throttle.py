"""Per-platform send throttling: a token bucket per channel in Redis (one Lua script call per token), shared by
every worker process, so all workers together stay under the platform's send limit.

Rates (sends per second, burst) per channel kind are ``SEND_RATES`` — what the platforms document for their
send APIs, kept below the limit — and a channel may override them with ``config["send_rate"]`` /
``config["send_burst"]``.
"""

from __future__ import annotations

from django.conf import settings

from suite.ops.heartbeat import redis_client

SEND_RATES: dict[str, tuple[float, int]] = {
    "wecom": (10.0, 20),  # externalcontact/add_msg_template and message/send: keep well under 2,000/min per app
    "wechat_oa": (20.0, 40),  # customer service messages
    "douyin": (5.0, 10),
    "weibo": (2.0, 5),
    "xiaohongshu": (2.0, 5),
    "webhook": (50.0, 100),
    "simulator": (200.0, 400),
}

# KEYS[1] bucket; ARGV: rate per second, burst, tokens wanted. Uses Redis' clock (TIME), so workers with
# skewed clocks share one bucket fairly. Returns 1 when granted, else the milliseconds to wait.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate / 1000)
local wait = 0
if tokens >= want then
  tokens = tokens - want
else
  wait = math.ceil((want - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
if wait > 0 then return wait end
return -1
"""
_script = None


def _key(channel) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or "troika"
    return f"{prefix}:scrm:send-bucket:{channel.pk}"


def rate_of(channel) -> tuple[float, int]:
    rate, burst = SEND_RATES.get(channel.kind, (5.0, 10))
    config = channel.config or {}
    return float(config.get("send_rate") or rate), int(config.get("send_burst") or burst)


def send_token_take(channel) -> float:
    """Take one send token of the channel's bucket: 0 when granted, else the seconds to wait before trying."""
    global _script
    client = redis_client()
    if _script is None or _script.registered_client is not client:
        _script = client.register_script(_TAKE)
    rate, burst = rate_of(channel)
    result = int(_script(keys=[_key(channel)], args=[rate, burst, 1]))
    return 0.0 if result < 0 else result / 1000.0
