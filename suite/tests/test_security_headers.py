"""Security headers, the content security policy, and CSRF on every state-changing UI request."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from suite.models import Role
from suite.services.notifications import notification_send
from suite.testing import TeamFactory

pytestmark = pytest.mark.django_db


def shell_pages(team_pk: int) -> list[str]:
    return [
        reverse("home"),
        reverse("directory"),
        reverse("notifications"),
        reverse("search") + "?q=a",
        reverse("app-landing", kwargs={"app": "crm"}),
        reverse("app-landing", kwargs={"app": "admin"}),
        reverse("team-page", args=[team_pk]),
        reverse("record-history", args=["suite.team", team_pk]),
        reverse("security"),
        reverse("two-factor-setup"),
        reverse("api-tokens"),
        reverse("password_change"),
    ]


def test_security_headers_on_pages(company, member):
    client = Client()
    client.force_login(member(company, Role.ADMIN).user)

    response = client.get(reverse("home"))

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["default-src"] == "'self'"
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives["script-src"].startswith("'self'")
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["form-action"] == "'self'"


def test_login_page_has_the_headers_too():
    response = Client().get(reverse("login"))

    assert response["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" in response


def test_shell_pages_have_no_inline_script_or_style_and_no_external_assets(company, member):
    team = TeamFactory(company=company)
    client = Client()
    client.force_login(member(company, Role.ADMIN).user)

    for path in [*shell_pages(team.pk), reverse("logout")]:
        response = client.get(path)
        if response.status_code != 200:
            assert path == reverse("logout")
            continue
        html = response.content.decode()
        for script in re.findall(r"<script\b[^>]*>", html):
            assert re.search(r'\bsrc="/static/', script), (path, script)
        assert all(not body.strip() for body in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)), path
        assert "<style" not in html, path
        assert not re.search(r'\sstyle="', html), path
        assert not re.search(r'\son[a-z]+="', html), path  # no inline event handlers
        assert not re.search(r'(src|href)="(https?:)?//', html), path  # nothing from a CDN


def test_every_shell_page_answers(company, member):
    team = TeamFactory(company=company)
    client = Client()
    client.force_login(member(company, Role.ADMIN).user)

    for path in shell_pages(team.pk):
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize(
    "name,kwargs,data",
    [
        ("logout", {}, {}),
        ("company-switch", {}, {"company": "1"}),
        ("notifications-read-all", {}, {}),
        ("notification-read", {"pk": 1}, {}),
        ("api-tokens", {}, {"name": "x"}),
        ("api-token-revoke", {"pk": 1}, {}),
        ("backup-codes", {}, {}),
        ("two-factor-setup", {}, {"token": "123456"}),
        ("password_change", {}, {"old_password": "a", "new_password1": "b", "new_password2": "b"}),
        ("attachment-upload", {"label": "suite.team", "pk": 1}, {}),
        ("attachment-remove", {"pk": 1}, {}),
        ("set_language", {}, {"language": "en"}),
    ],
)
def test_state_changing_requests_without_csrf_token_are_refused(company, member, name, kwargs, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member(company, Role.ADMIN).user)

    response = client.post(reverse(name, kwargs=kwargs), data)

    assert response.status_code == 403
    assert "CSRF" in response.content.decode()


@pytest.mark.parametrize("name", ["login", "login-verify", "password_reset"])
def test_anonymous_forms_need_the_csrf_token_too(name):
    response = Client(enforce_csrf_checks=True).post(reverse(name), {"username": "a", "password": "b"})

    assert response.status_code == 403


def test_htmx_posts_carry_the_token_from_the_page(company, member):
    membership = member(company, Role.SALES)
    notification = notification_send(recipients=[membership.user], company=company, title="t")[0]
    client = Client(enforce_csrf_checks=True)
    client.force_login(membership.user)
    html = client.get(reverse("home")).content.decode()
    token = re.search(r"hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'", html).group(1)

    response = client.post(
        reverse("notification-read", args=[notification.pk]), HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token
    )

    assert response.status_code == 200
    notification.refresh_from_db()
    assert notification.read_at is not None
