"""Brute-force protection (django-axes) holds when the guesses arrive all at once, on the UI, admin and API logins.

The concurrent test fires real HTTP requests from threads at the live server (each request handled in its own
server thread with its own database connection), so the race is the real one: without the per-username lock in
``suite.auth.services.login_check`` several guesses would be checked before any failure was counted.
"""

import http.cookiejar
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client
from django.urls import reverse

from suite.models import Membership, Role
from suite.testing import CompanyFactory, UserFactory

PASSWORD = "pw-Troika-123"


class Browser:
    """One visitor: its own cookies (session, CSRF), no redirects followed."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), self._NoRedirect)

    def get(self, path: str) -> tuple[int, str]:
        return self._open(urllib.request.Request(self.base_url + path))

    def post(self, path: str, data: dict) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode()
        request = urllib.request.Request(self.base_url + path, data=body, headers={"Referer": self.base_url + path})
        return self._open(request)

    def _open(self, request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def csrf_token(self, path: str) -> str:
        status, html = self.get(path)
        assert status == 200, status
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


class CountingHasher(MD5PasswordHasher):
    """The test hasher, counting the password checks and as slow as a real hasher (which widens the race)."""

    checks = 0
    _lock = threading.Lock()

    def verify(self, password, encoded):
        with CountingHasher._lock:
            CountingHasher.checks += 1
        time.sleep(0.05)
        return super().verify(password, encoded)


@pytest.mark.django_db(transaction=True)
def test_concurrent_guesses_lock_the_account_after_exactly_the_limit(live_server, settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    CountingHasher.checks = 0
    company = CompanyFactory()
    user = UserFactory(username="target")
    Membership.objects.create(user=user, company=company, role=Role.FINANCE)
    attempts = 20
    limit = settings.AXES_FAILURE_LIMIT
    browsers = [Browser(live_server.url) for _ in range(attempts)]
    tokens = [browser.csrf_token("/login/") for browser in browsers]
    start = threading.Barrier(attempts)
    results: list[tuple[int, str]] = [None] * attempts

    def guess(index: int) -> None:
        start.wait()
        results[index] = browsers[index].post(
            "/login/", {"csrfmiddlewaretoken": tokens[index], "username": "target", "password": f"guess-{index}"}
        )

    threads = [threading.Thread(target=guess, args=(index,)) for index in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(status for status, _ in results)
    wrong_password_pages = [html for status, html in results if status == 200]
    # Guesses are checked one after another: the first limit-1 see "wrong password", the limit-th locks the
    # account, and every other one is refused without its password being looked at.
    assert statuses == [200] * (limit - 1) + [429] * (attempts - limit + 1)
    assert all("not correct" in html or "不正确" in html for html in wrong_password_pages)
    assert sum(AccessAttempt.objects.filter(username="target").values_list("failures_since_start", flat=True)) == (
        attempts
    )
    assert CountingHasher.checks == limit  # no more passwords were tried than the limit allows

    # The right password is refused now, from a fresh visitor too.
    honest = Browser(live_server.url)
    status, _ = honest.post(
        "/login/", {"csrfmiddlewaretoken": honest.csrf_token("/login/"), "username": "target", "password": PASSWORD}
    )
    assert status == 429
    assert "sessionid" not in {cookie.name for cookie in honest.jar}
    assert honest.get("/")[0] == 302  # still anonymous


@pytest.mark.django_db(transaction=True)
def test_concurrent_guesses_on_different_accounts_do_not_block_each_other(live_server):
    for name in ("alpha", "beta"):
        UserFactory(username=name)
    browsers = {name: Browser(live_server.url) for name in ("alpha", "beta")}
    tokens = {name: browser.csrf_token("/login/") for name, browser in browsers.items()}
    results = {}

    def run(name):
        results[name] = browsers[name].post(
            "/login/", {"csrfmiddlewaretoken": tokens[name], "username": name, "password": PASSWORD}
        )

    threads = [threading.Thread(target=run, args=(name,)) for name in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert results["alpha"][0] == 302 and results["beta"][0] == 302


@pytest.mark.django_db
def test_lockout_by_email_counts_against_the_same_account(company, member):
    member(company, Role.SALES, username="zhao.lei", email="zhao.lei@example.com")
    client = Client()
    client.cookies["django_language"] = "en"

    for index in range(settings.AXES_FAILURE_LIMIT):
        identifier = "zhao.lei" if index % 2 else "zhao.lei@example.com"
        client.post(reverse("login"), {"username": identifier, "password": "nope"})
    response = client.post(reverse("login"), {"username": "zhao.lei", "password": PASSWORD})

    assert response.status_code == 429
    assert "Try again in 30 minutes." in response.content.decode()  # axes renders our lockout page
    assert list(AccessAttempt.objects.values_list("username", flat=True).distinct()) == ["zhao.lei"]


@pytest.mark.django_db
def test_locked_out_page(company, member):
    client = Client()
    client.cookies["django_language"] = "en"

    response = client.get(reverse("locked-out"))

    assert response.status_code == 429
    assert "Account locked" in response.content.decode()
    assert "Try again in 30 minutes." in response.content.decode()


@pytest.mark.django_db
def test_admin_login_cannot_be_used_to_guess_passwords(company):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()

    for _ in range(settings.AXES_FAILURE_LIMIT + 2):
        response = client.post("/admin/login/", {"username": "root", "password": "nope"})
        assert response.status_code == 302  # sent to our login; nothing is checked there

    # guesses through the one login are counted and lock the staff account like any other
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(f"{reverse('login')}?next=/admin/", {"username": "root", "password": "nope"})
    assert client.post(reverse("login"), {"username": "root", "password": PASSWORD}).status_code == 429
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_api_token_login_is_locked_too(company, member):
    member(company, Role.SALES, username="api.user")
    client = Client()
    url = "/api/v1/suite/auth/token/"

    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(url, {"username": "api.user", "password": "nope"}, content_type="application/json")
    response = client.post(url, {"username": "api.user", "password": PASSWORD}, content_type="application/json")

    assert response.status_code == 429
    # and the UI login refuses the same account from the same address
    assert client.post(reverse("login"), {"username": "api.user", "password": PASSWORD}).status_code == 429
