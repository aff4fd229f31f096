"""Outbound HTTP to user-given URLs (webhooks) that cannot be turned against our own network (SSRF).

``request()`` resolves the host once, refuses the call unless every address it resolves to is public, then
connects to the checked address itself (the host name only goes into ``Host`` and TLS SNI/verification), so a
DNS answer that changes between the check and the connection (rebinding) cannot redirect it. Each redirect hop
is checked the same way, at most ``max_redirects`` of them. Refused: loopback, private (RFC 1918), shared
(100.64/10), link-local (169.254/16, incl. the cloud metadata address 169.254.169.254; fe80::/10),
unique-local (fc00::/7), site-local, multicast, reserved, unspecified (0.0.0.0, ::), documentation ranges,
IPv4-mapped/-compatible IPv6 and 6to4/Teredo/NAT64 wrappers of a refused IPv4 address — in every spelling
the C library accepts (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``, ``[::ffff:127.0.0.1]`` …),
because the check runs on the resolved address, not on the text.

``settings.TROIKA_OUTBOUND_ALLOW`` lists ``host:port`` pairs allowed even though private (tests' local server).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3
from django.conf import settings
from django.utils.translation import gettext_lazy as _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")


class UnsafeURL(ValueError):
    """The URL is not allowed: bad scheme or form, or a host that resolves to a non-public address."""


class OutboundError(Exception):
    """The request could not be completed: DNS, connection, timeout, TLS, too many redirects."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    url: str  # the URL that answered (after redirects)
    truncated: bool  # the body was longer than max_bytes; only the first max_bytes were read
    elapsed_ms: int
    redirects: int


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written, lower case, without brackets
    port: int
    path: str  # path and query
    addresses: tuple[IPAddress, ...]  # every address the host resolved to, all checked

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def refusal_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be called, or ``None`` for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(_("an IPv4-mapped IPv6 address"))
        embedded = None
        if address.sixtofour is not None:
            embedded = address.sixtofour
        elif address.teredo is not None:
            embedded = address.teredo[1]
        elif address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        elif int(address) >> 32 == 0 and int(address) > 1:  # deprecated IPv4-compatible ::a.b.c.d
            return str(_("an IPv4-compatible IPv6 address"))
        if embedded is not None:
            reason = refusal_reason(embedded)
            if reason:
                return reason
    if address.is_unspecified:
        return str(_("an unspecified address"))
    if address.is_loopback:
        return str(_("a loopback address"))
    if address.is_link_local:
        return str(_("a link-local address (such as the cloud metadata service)"))
    if address.is_multicast:
        return str(_("a multicast address"))
    if isinstance(address, ipaddress.IPv6Address) and (address.is_site_local or address in _UNIQUE_LOCAL):
        return str(_("a unique-local or site-local address"))
    if address.is_reserved:
        return str(_("a reserved address"))
    if address.is_private:
        return str(_("a private address"))
    if not address.is_global:
        return str(_("an address that is not publicly routable"))
    return None


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any form the C library would accept, or ``None`` for a host name.

    ``2130706433``, ``0177.0.0.1``, ``0x7f.1`` and ``127.1`` are all 127.0.0.1 to ``inet_aton`` (and so to
    ``getaddrinfo`` and every HTTP client built on it); a host made only of numeric labels that is not a valid
    address is refused rather than sent to DNS.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if labels and all(_NUMERIC_LABEL.match(label) for label in labels):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
        except OSError:
            raise UnsafeURL(_("%(host)s is not a valid IP address.") % {"host": host}) from None
    return None


def _allowed_pairs() -> frozenset[str]:
    return frozenset(item.strip().lower() for item in getattr(settings, "TROIKA_OUTBOUND_ALLOW", []) if item.strip())


def _is_allowed(host: str, address: IPAddress, port: int, allowed: frozenset[str]) -> bool:
    if not allowed:
        return False
    candidates = {f"{host}:{port}", f"{address}:{port}", f"[{address}]:{port}"}
    return bool(candidates & allowed)


def split_url(url: str) -> tuple[str, str, int, str]:
    """Scheme, host, port and path+query of an http(s) URL; ``UnsafeURL`` for anything else."""
    if not isinstance(url, str) or len(url) > 2000:
        raise UnsafeURL(_("Enter a URL of at most 2000 characters."))
    if any(ord(ch) < 33 for ch in url):
        raise UnsafeURL(_("The URL contains spaces or control characters."))
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURL(_("Only http and https URLs are allowed."))
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeURL(_("URLs with a user name or password are not allowed."))
    host = (parts.hostname or "").strip()
    if not host:
        raise UnsafeURL(_("The URL has no host."))
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise UnsafeURL(_("The URL has an invalid port.")) from None
    if not 0 < port < 65536:
        raise UnsafeURL(_("The URL has an invalid port."))
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, host.lower(), port, path


def _refuse_localhost_names(host: str, port: int) -> None:
    # RFC 6761: "localhost" and every name under it are loopback, whatever a resolver says.
    bare = host.rstrip(".")
    if (bare == "localhost" or bare.endswith(".localhost")) and f"{host}:{port}" not in _allowed_pairs():
        raise UnsafeURL(_("%(host)s is a loopback host name.") % {"host": host})


def validate_url(url: str) -> str:
    """Check a URL's form and, for hosts written as an address, the address (no DNS): for forms and APIs.

    The full check, with DNS, runs on every request; this one gives an integrator an early, clear error.
    """
    _scheme, host, port, _path = split_url(url)
    _refuse_localhost_names(host, port)
    address = parse_ip_literal(host)
    if address is not None and not _is_allowed(host, address, port, _allowed_pairs()):
        reason = refusal_reason(address)
        if reason:
            raise UnsafeURL(_("%(host)s is %(reason)s.") % {"host": host, "reason": reason})
    return url


def resolve(url: str) -> Target:
    """Resolve and check ``url``: every address of the host must be public (or allowed by settings)."""
    scheme, host, port, path = split_url(url)
    _refuse_localhost_names(host, port)
    literal = parse_ip_literal(host)
    if literal is not None:
        addresses: tuple[IPAddress, ...] = (literal,)
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise OutboundError(_("Could not resolve %(host)s: %(error)s") % {"host": host, "error": exc}) from None
        found: list[IPAddress] = []
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
            if address not in found:
                found.append(address)
        if not found:
            raise OutboundError(_("%(host)s has no address.") % {"host": host})
        addresses = tuple(found)
    allowed = _allowed_pairs()
    for address in addresses:
        if _is_allowed(host, address, port, allowed):
            continue
        reason = refusal_reason(address)
        if reason:
            message = _("%(host)s resolves to %(address)s, %(reason)s.")
            raise UnsafeURL(message % {"host": host, "address": address, "reason": reason})
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=addresses)


def _pool(target: Target, address: IPAddress, timeout: urllib3.Timeout) -> urllib3.HTTPConnectionPool:
    common = {"host": str(address), "port": target.port, "timeout": timeout, "retries": False, "maxsize": 1}
    if target.scheme == "https":
        tls_name = None if parse_ip_literal(target.host) is not None else target.host
        return urllib3.HTTPSConnectionPool(
            **common, server_hostname=tls_name, assert_hostname=tls_name or str(address), cert_reqs="CERT_REQUIRED"
        )
    return urllib3.HTTPConnectionPool(**common)


def _open(target: Target, method: str, body: bytes | None, headers: dict[str, str], timeouts: urllib3.Timeout):
    """Send the request to the first of the checked addresses that accepts a connection (never to another)."""
    last_error: Exception | None = None
    for address in target.addresses:
        pool = _pool(target, address, timeouts)
        try:
            response = pool.urlopen(
                method,
                target.path,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
                release_conn=False,
            )
            return pool, response
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
            pool.close()
            last_error = exc
        except urllib3.exceptions.HTTPError as exc:
            pool.close()
            raise OutboundError(str(exc)) from None
    raise OutboundError(str(last_error))


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    connect_timeout: float = 3.0,
    max_redirects: int = 3,
    max_bytes: int = 1024 * 1024,
) -> Response:
    """Make an HTTP request to a user-given URL, safely (see the module docstring).

    ``timeout`` bounds the whole exchange including redirects; ``max_bytes`` caps the body read (the rest is
    not read and the connection is closed). Raises ``UnsafeURL`` when a hop is refused, ``OutboundError`` when
    the request fails; any HTTP status is a ``Response``.
    """
    method = method.upper()
    headers = dict(headers or {})
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    current_url = url
    redirects = 0
    origin = None
    while True:
        target = resolve(current_url)
        if origin is not None and (target.scheme, target.host, target.port) != origin:
            headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
        origin = (target.scheme, target.host, target.port)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OutboundError(_("The request took longer than %(seconds)s s.") % {"seconds": timeout})
        send_headers = {k: v for k, v in headers.items() if k.lower() != "host"}
        send_headers["Host"] = target.host_header
        timeouts = urllib3.Timeout(connect=min(connect_timeout, remaining), read=remaining)
        pool, response = _open(target, method, body, send_headers, timeouts)
        try:
            location = response.headers.get("Location")
            if response.status in REDIRECT_STATUSES and location:
                response.close()
                redirects += 1
                if redirects > max_redirects:
                    raise OutboundError(_("More than %(n)s redirects.") % {"n": max_redirects})
                current_url = urljoin(current_url, location.strip())
                if response.status == 303 or (response.status in (301, 302) and method not in ("GET", "HEAD")):
                    method, body = ("HEAD" if method == "HEAD" else "GET"), None
                    headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}
                continue
            chunks: list[bytes] = []
            size = 0
            truncated = False
            for chunk in response.stream(16384, decode_content=True):
                if time.monotonic() > deadline:
                    raise OutboundError(_("The request took longer than %(seconds)s s.") % {"seconds": timeout})
                if size + len(chunk) > max_bytes:
                    chunks.append(chunk[: max_bytes - size])
                    truncated = True
                    break
                chunks.append(chunk)
                size += len(chunk)
            response.close()
            return Response(
                status=response.status,
                headers=dict(response.headers.items()),
                body=b"".join(chunks),
                url=current_url,
                truncated=truncated,
                elapsed_ms=int((time.monotonic() - started) * 1000),
                redirects=redirects,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise OutboundError(str(exc)) from None
        finally:
            pool.close()
