"""SSRF-safe outbound HTTP (suite.net): every spelling of a private address is refused, before and after
redirects; the allow-list lets tests reach their own local server; the body is capped."""

from __future__ import annotations

import ipaddress

import pytest
from django.utils import translation
from werkzeug import Response as WerkzeugResponse

from suite import net


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


REFUSED = [
    ("http://127.0.0.1/", "loopback"),
    ("http://2130706433/", "loopback"),  # decimal
    ("http://0177.0.0.1/", "loopback"),  # octal
    ("http://0x7f.1/", "loopback"),  # hex, short form
    ("http://0x7f000001/", "loopback"),  # hex, one number
    ("http://017700000001/", "loopback"),  # octal, one number
    ("http://127.1/", "loopback"),  # short form
    ("http://127.0.0.1.:8080/", "loopback"),  # trailing dot
    ("http://localhost/", "loopback"),
    ("http://LOCALHOST./", "loopback"),
    ("http://foo.localhost/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped"),
    ("http://[::ffff:7f00:1]/", "IPv4-mapped"),
    ("http://[::ffff:169.254.169.254]/", "IPv4-mapped"),
    ("http://[::127.0.0.1]/", "IPv4-compatible"),
    ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 around 127.0.0.1
    ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),  # NAT64 around 169.254.169.254
    ("http://169.254.169.254/latest/meta-data/", "link-local"),  # cloud metadata
    ("http://0xa9.0xfe.0xa9.0xfe/", "link-local"),
    ("http://2852039166/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://10.0.0.1/", "private"),
    ("http://10.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://192.168.1.1:8443/", "private"),
    ("http://[fc00::1]/", "unique-local"),
    ("http://[fd12:3456:789a::1]/", "unique-local"),
    ("http://[fec0::1]/", "site-local"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://240.0.0.1/", "reserved"),
    ("http://100.64.0.1/", "not publicly routable"),  # carrier-grade NAT
    ("http://192.0.2.1/", "private"),  # documentation range
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_private_addresses_are_refused_in_every_spelling(url, reason):
    with pytest.raises(net.UnsafeURL, match=reason):
        net.request("GET", url, timeout=2)


@pytest.mark.parametrize(("url", "reason"), [u for u in REFUSED if "localhost" not in u[0].lower()])
def test_validate_url_refuses_literal_addresses_without_dns(url, reason):
    with pytest.raises(net.UnsafeURL):
        net.validate_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http://user:pw@example.com/",
        "http:///nohost",
        "http://example.com:99999/",
        "http://exa mple.com/",
        "http://999.1.1.1/",  # all-numeric but not an address: never sent to DNS
    ],
)
def test_malformed_urls_are_refused(url):
    with pytest.raises(net.UnsafeURL):
        net.validate_url(url)


def test_public_addresses_pass_the_check():
    for text in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"):
        assert net.refusal_reason(ipaddress.ip_address(text)) is None
    assert net.validate_url("https://hooks.example.com/troika?x=1") == "https://hooks.example.com/troika?x=1"


@pytest.fixture
def allow_httpserver(settings, httpserver):
    settings.TROIKA_OUTBOUND_ALLOW = [f"{httpserver.host}:{httpserver.port}"]
    return httpserver


def test_the_local_server_is_refused_unless_allowed(settings, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    settings.TROIKA_OUTBOUND_ALLOW = []
    with pytest.raises(net.UnsafeURL, match="loopback"):
        net.request("GET", httpserver.url_for("/hook"))
    settings.TROIKA_OUTBOUND_ALLOW = [f"{httpserver.host}:{httpserver.port + 1}"]  # another port: still refused
    with pytest.raises(net.UnsafeURL):
        net.request("GET", httpserver.url_for("/hook"))


def test_an_allowed_server_is_called_with_its_host_name(allow_httpserver):
    server = allow_httpserver
    server.expect_request("/hook", method="POST", data=b'{"a":1}').respond_with_data("accepted", status=202)

    response = net.request("POST", server.url_for("/hook"), body=b'{"a":1}', headers={"X-Test": "1"})

    assert (response.status, response.body, response.truncated, response.redirects) == (202, b"accepted", False, 0)
    request, _ = server.log[0]
    assert request.headers["Host"] == f"{server.host}:{server.port}"  # the name, though we connected to the IP
    assert request.headers["X-Test"] == "1"


def test_a_redirect_to_the_metadata_service_is_refused(allow_httpserver):
    server = allow_httpserver
    server.expect_request("/hook").respond_with_response(
        WerkzeugResponse(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/iam/"})
    )
    with pytest.raises(net.UnsafeURL, match=r"169\.254\.169\.254"):
        net.request("POST", server.url_for("/hook"), body=b"{}")


@pytest.mark.parametrize("location", ["http://0x7f.1/admin", "http://[::ffff:10.0.0.1]/", "http://localhost:1/"])
def test_a_redirect_to_another_private_spelling_is_refused(allow_httpserver, location):
    allow_httpserver.expect_request("/hook").respond_with_response(
        WerkzeugResponse(status=307, headers={"Location": location})
    )
    with pytest.raises(net.UnsafeURL):
        net.request("GET", allow_httpserver.url_for("/hook"))


def test_redirects_are_followed_three_times_at_most(allow_httpserver):
    server = allow_httpserver
    for hop in range(4):
        server.expect_request(f"/r{hop}").respond_with_response(
            WerkzeugResponse(status=301, headers={"Location": f"/r{hop + 1}"})
        )
    server.expect_request("/r4").respond_with_data("end")
    server.expect_request("/s0").respond_with_response(WerkzeugResponse(status=308, headers={"Location": "/s1"}))
    server.expect_request("/s1", method="POST", data=b"payload").respond_with_data("kept the body")

    with pytest.raises(net.OutboundError, match="redirects"):
        net.request("GET", server.url_for("/r0"))
    followed = net.request("GET", server.url_for("/r1"))
    assert (followed.status, followed.body, followed.redirects) == (200, b"end", 3)
    kept = net.request("POST", server.url_for("/s0"), body=b"payload")
    assert (kept.body, kept.url) == (b"kept the body", server.url_for("/s1"))


def test_the_body_is_capped(allow_httpserver):
    allow_httpserver.expect_request("/big").respond_with_data(b"x" * 100_000)
    response = net.request("GET", allow_httpserver.url_for("/big"), max_bytes=1000)
    assert (len(response.body), response.truncated) == (1000, True)


def test_a_slow_server_times_out(allow_httpserver):
    import time

    def slow(request):
        time.sleep(1.5)
        return WerkzeugResponse("late")

    allow_httpserver.expect_request("/slow").respond_with_handler(slow)
    with pytest.raises(net.OutboundError):
        net.request("GET", allow_httpserver.url_for("/slow"), timeout=0.5)


def test_an_unresolvable_host_is_an_outbound_error():
    with pytest.raises(net.OutboundError, match="resolve"):
        net.request("GET", "http://does-not-exist.invalid/", timeout=2)
