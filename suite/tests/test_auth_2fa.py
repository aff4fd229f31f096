"""TOTP two-factor login (django-otp): setup with a QR code, the code step at login, backup codes, and the
company rule that admins and finance must use it."""

import base64
import time

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from suite.auth.services import backup_codes_issue
from suite.models import Role

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Troika-123"


def code_for(device: TOTPDevice, *, ahead: int = 0) -> str:
    """The code an authenticator app shows now (``ahead`` steps later: django-otp refuses a code twice)."""
    device.refresh_from_db()
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift + ahead):06d}"


def with_authenticator(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


@pytest.fixture
def client():
    client = Client()
    client.cookies["django_language"] = "en"
    return client


@pytest.fixture
def strict_company(company):
    company.require_2fa = True
    company.save()
    return company


def test_setup_shows_a_local_qr_code_and_turns_two_factor_on(client, company, member):
    user = member(company, Role.SALES).user
    client.force_login(user)

    page = client.get(reverse("two-factor-setup"))
    html = page.content.decode()
    device = TOTPDevice.objects.get(user=user)
    assert page.status_code == 200
    assert not device.confirmed
    assert 'src="data:image/svg+xml;base64,' in html  # rendered here, no external QR service
    svg = base64.b64decode(html.split('src="data:image/svg+xml;base64,')[1].split('"')[0])
    assert svg.startswith(b"<?xml") and b"<svg" in svg
    assert base64.b32encode(device.bin_key).decode() in html

    wrong = client.post(reverse("two-factor-setup"), {"token": "000000"})
    assert "This code is not valid" in wrong.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    time.sleep(1.1)  # django-otp throttles: after a wrong code the next try waits a second

    done = client.post(reverse("two-factor-setup"), {"token": code_for(device)})
    device.refresh_from_db()
    assert done.status_code == 200
    assert device.confirmed
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id  # this session is verified
    codes = done.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(code in done.content.decode() for code in codes)
    assert StaticToken.objects.filter(device__user=user).count() == 10


def test_reloading_setup_keeps_the_same_pending_secret(client, company, member):
    user = member(company, Role.SALES).user
    client.force_login(user)

    client.get(reverse("two-factor-setup"))
    client.get(reverse("two-factor-setup"))

    assert TOTPDevice.objects.filter(user=user).count() == 1


def test_login_with_an_authenticator_asks_for_the_code(client, company, member):
    user = member(company, Role.SALES, username="otp.user").user
    device = with_authenticator(user)

    step1 = client.post(reverse("login"), {"username": "otp.user", "password": PASSWORD, "next": "/directory/"})
    assert step1.status_code == 302 and step1["Location"] == reverse("login-verify")
    assert SESSION_KEY not in client.session  # not logged in before the second factor
    assert client.get(reverse("home")).status_code == 302

    wrong = client.post(reverse("login-verify"), {"token": "123456"})
    assert "This code is not valid" in wrong.content.decode()
    assert SESSION_KEY not in client.session
    time.sleep(1.1)  # django-otp throttles: after a wrong code the next try waits a second

    right = client.post(reverse("login-verify"), {"token": code_for(device)})
    assert right.status_code == 302 and right["Location"] == "/directory/"
    assert int(client.session[SESSION_KEY]) == user.pk
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id


def test_a_wrong_code_counts_as_a_failed_login(client, company, member):
    user = member(company, Role.SALES, username="counted").user
    with_authenticator(user)
    client.post(reverse("login"), {"username": "counted", "password": PASSWORD})

    client.post(reverse("login-verify"), {"token": "111111"})
    client.post(reverse("login-verify"), {"token": "222222"})

    assert sum(AccessAttempt.objects.filter(username="counted").values_list("failures_since_start", flat=True)) == 2


def test_guessing_codes_locks_the_account(client, company, member):
    user = member(company, Role.SALES, username="guessed").user
    device = with_authenticator(user)
    client.post(reverse("login"), {"username": "guessed", "password": PASSWORD})

    responses = [client.post(reverse("login-verify"), {"token": f"{n:06d}"}) for n in range(5)]

    assert [r.status_code for r in responses] == [200, 200, 200, 200, 429]
    assert "Account locked" in responses[-1].content.decode()
    relogin = client.post(reverse("login"), {"username": "guessed", "password": PASSWORD})
    assert relogin.status_code == 429  # the right password is refused now
    assert client.post(reverse("login-verify"), {"token": code_for(device)}).status_code == 302  # no pending login
    assert SESSION_KEY not in client.session


def test_a_backup_code_works_once(client, company, member):
    user = member(company, Role.SALES, username="backup.user").user
    with_authenticator(user)
    code = backup_codes_issue(user=user)[0]

    client.post(reverse("login"), {"username": "backup.user", "password": PASSWORD})
    first = client.post(reverse("login-verify"), {"token": code})
    assert first.status_code == 302 and int(client.session[SESSION_KEY]) == user.pk

    client.post(reverse("logout"))
    client.post(reverse("login"), {"username": "backup.user", "password": PASSWORD})
    second = client.post(reverse("login-verify"), {"token": code})
    assert second.status_code == 200
    assert SESSION_KEY not in client.session
    assert StaticToken.objects.filter(device__user=user).count() == 9


def test_the_code_step_without_a_password_step_goes_back_to_login(client):
    response = client.post(reverse("login-verify"), {"token": "123456"})

    assert response.status_code == 302 and response["Location"] == reverse("login")


@pytest.mark.parametrize("role", [Role.ADMIN, Role.FINANCE])
def test_company_rule_sends_admins_and_finance_to_setup(client, strict_company, member, role):
    client.force_login(member(strict_company, role).user)

    for path in (reverse("home"), reverse("directory"), reverse("api-tokens")):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == f"{reverse('two-factor-setup')}?next={path.replace('/', '%2F')}"
    assert client.get(reverse("two-factor-setup")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302


def test_company_rule_does_not_touch_other_roles(client, strict_company, member):
    client.force_login(member(strict_company, Role.SALES).user)

    assert client.get(reverse("home")).status_code == 200


def test_rule_applies_to_the_api_with_a_session(strict_company, member):
    client = Client()
    membership = member(strict_company, Role.FINANCE)
    client.force_login(membership.user)

    response = client.get("/api/v1/suite/notifications/")

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "otp_required"


def test_rule_applies_to_the_admin_site(client, strict_company, member):
    membership = member(strict_company, Role.ADMIN, is_staff=True, is_superuser=True)
    client.force_login(membership.user)

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("two-factor-setup"))


def test_after_setup_the_required_user_gets_in(client, strict_company, member):
    user = member(strict_company, Role.ADMIN, is_staff=True).user
    client.force_login(user)
    client.get(reverse("two-factor-setup"))
    device = TOTPDevice.objects.get(user=user)

    client.post(reverse("two-factor-setup"), {"token": code_for(device)})

    assert client.get(reverse("home")).status_code == 200
    assert client.get("/admin/").status_code == 200


def test_a_required_user_with_a_device_verifies_the_open_session(client, strict_company, member):
    user = member(strict_company, Role.FINANCE).user
    device = with_authenticator(user)
    client.force_login(user)  # e.g. a session from before the company turned the rule on

    response = client.get(reverse("directory"))
    assert response["Location"] == f"{reverse('login-verify')}?next=%2Fdirectory%2F"
    verify = client.post(f"{reverse('login-verify')}?next=/directory/", {"token": code_for(device)})

    assert verify.status_code == 302 and verify["Location"] == "/directory/"
    assert client.get(reverse("directory")).status_code == 200


def test_full_login_of_a_required_user_with_authenticator(client, strict_company, member):
    user = member(strict_company, Role.ADMIN, username="boss").user
    device = with_authenticator(user)

    client.post(reverse("login"), {"username": "boss", "password": PASSWORD})
    client.post(reverse("login-verify"), {"token": code_for(device)})

    assert client.get(reverse("home")).status_code == 200


def test_security_page_reports_the_state(client, company, member):
    user = member(company, Role.SALES).user
    with_authenticator(user)
    backup_codes_issue(user=user)
    client.force_login(user)

    html = client.get(reverse("security")).content.decode()

    assert "10 unused backup codes left." in html
    assert "This session is not verified yet." in html
