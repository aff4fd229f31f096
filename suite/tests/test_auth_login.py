"""Login by username or email, safe redirects, logout, password change and reset, the admin's login."""

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client
from django.urls import reverse

from suite.models import Role
from suite.testing import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Troika-123"


@pytest.fixture
def client():
    client = Client()
    client.cookies["django_language"] = "en"
    return client


def test_login_page_renders_with_our_template(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Username or email" in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert reverse("password_reset") in html


def test_login_by_username_goes_to_the_workspace(client, company, member):
    membership = member(company, Role.SALES, username="zhang.wei")

    response = client.post(reverse("login"), {"username": "zhang.wei", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert int(client.session[SESSION_KEY]) == membership.user.pk


def test_login_by_email_in_any_case(client, company, member):
    membership = member(company, Role.SALES, username="li.na", email="Li.Na@Example.com")

    response = client.post(reverse("login"), {"username": "li.na@example.COM", "password": PASSWORD})

    assert response.status_code == 302
    assert int(client.session[SESSION_KEY]) == membership.user.pk


def test_wrong_password_shows_the_error_next_to_the_form(client, company, member):
    member(company, Role.SALES, username="wang.fang")

    response = client.post(reverse("login"), {"username": "wang.fang", "password": "wrong"})

    assert response.status_code == 200
    assert "The username/email or password is not correct." in response.content.decode()
    assert SESSION_KEY not in client.session


def test_empty_login_form_shows_field_errors(client):
    response = client.post(reverse("login"), {"username": "", "password": ""})

    assert response.status_code == 200
    assert response.content.decode().count("This field is required.") == 2


def test_login_redirects_to_next_only_on_this_site(client, company, member):
    member(company, Role.SALES, username="chen.jie")

    local = client.post(reverse("login"), {"username": "chen.jie", "password": PASSWORD, "next": "/directory/"})
    client.post(reverse("logout"))
    foreign = client.post(
        reverse("login"), {"username": "chen.jie", "password": PASSWORD, "next": "https://evil.example/phish"}
    )

    assert local["Location"] == "/directory/"
    assert foreign["Location"] == reverse("home")


def test_inactive_user_cannot_log_in(client, company, member):
    membership = member(company, Role.SALES, username="gone")
    membership.user.is_active = False
    membership.user.save()

    response = client.post(reverse("login"), {"username": "gone", "password": PASSWORD})

    assert response.status_code == 200
    assert SESSION_KEY not in client.session


def test_logout_needs_a_post(client, company, member):
    membership = member(company, Role.SALES)
    client.force_login(membership.user)

    assert client.get(reverse("logout")).status_code == 405
    assert SESSION_KEY in client.session
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert SESSION_KEY not in client.session


def test_password_change(client, company, member):
    membership = member(company, Role.SALES)
    client.force_login(membership.user)

    page = client.get(reverse("password_change"))
    bad = client.post(
        reverse("password_change"),
        {"old_password": "nope", "new_password1": "Xq9!long-enough", "new_password2": "Xq9!long-enough"},
    )
    good = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "Xq9!long-enough", "new_password2": "Xq9!long-enough"},
    )

    assert page.status_code == 200 and "Change password" in page.content.decode()
    assert bad.status_code == 200 and "old password was entered incorrectly" in bad.content.decode()
    assert good.status_code == 302 and good["Location"] == reverse("password_change_done")
    membership.user.refresh_from_db()
    assert membership.user.check_password("Xq9!long-enough")


def test_password_reset_by_email_end_to_end(client, company, member):
    membership = member(company, Role.SALES, username="reset.me", email="reset.me@example.com")

    response = client.post(reverse("password_reset"), {"email": "reset.me@example.com"})

    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["reset.me@example.com"]
    assert "reset.me" in message.body
    link = re.search(r"https?://[^/]+(/password/reset/[^\s]+/)", message.body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    assert "Choose a new password" in form_page.content.decode()
    done = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": "N3w!password-x", "new_password2": "N3w!password-x"}
    )
    assert done.status_code == 302
    membership.user.refresh_from_db()
    assert membership.user.check_password("N3w!password-x")


def test_password_reset_for_unknown_email_sends_nothing_and_says_the_same(client):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"}, follow=True)

    assert response.status_code == 200
    assert "Check your email" in response.content.decode()
    assert mail.outbox == []


def test_admin_login_goes_through_our_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    admin_login = client.get(response["Location"])

    assert admin_login.status_code == 302
    assert admin_login["Location"] == f"{reverse('login')}?next=/admin/"
    # a POST of credentials to the admin's own login never checks a password there
    post = client.post("/admin/login/", {"username": "x", "password": "y"})
    assert post.status_code == 302


def test_staff_reach_the_admin_after_our_login(client):
    UserFactory(username="root", is_staff=True, is_superuser=True)

    response = client.post(f"{reverse('login')}?next=/admin/", {"username": "root", "password": PASSWORD})

    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_non_staff_user_is_told_the_admin_is_not_for_them(client, company, member):
    client.force_login(member(company, Role.SALES).user)

    response = client.get("/admin/login/?next=/admin/")

    assert response.status_code == 403
    assert "No access to the admin site" in response.content.decode()


def test_user_without_company_sees_a_clear_page(client):
    client.force_login(UserFactory(username="loner"))

    response = client.get(reverse("home"))

    assert response.status_code == 403
    assert "You are not in a company yet" in response.content.decode()
