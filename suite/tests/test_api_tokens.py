"""API tokens (shown once, stored hashed, revocable, bound to one company) and the password login that issues
them (django-axes lock-out, the strict login throttle, TOTP for roles that need it)."""

from __future__ import annotations

import hashlib
import threading

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from suite.api.throttling import clear_throttles
from suite.models import ApiToken, Membership, Role
from suite.testing import TeamFactory, api_client_for, make_member

API = "/api/v1/suite"
PASSWORD = "pw-Troika-123"


@pytest.fixture(autouse=True)
def _fresh_throttles():
    clear_throttles()
    yield
    clear_throttles()


def token_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def test_token_secret_is_shown_once_and_stored_hashed(company):
    membership = make_member(company, Role.SALES)
    client = api_client_for(membership)
    response = client.post(f"{API}/tokens/", {"name": "ERP 同步"}, format="json")
    assert response.status_code == 201
    body = response.json()
    secret = body["secret"]
    prefix, _, key = secret.partition(".")
    assert body["prefix"] == prefix and len(key) >= 40

    token = ApiToken.objects.get(pk=body["id"])
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM suite_apitoken WHERE key_hash = %s OR prefix = %s", [key, secret])
        assert cursor.fetchone()[0] == 0

    listed = client.get(f"{API}/tokens/").json()["results"]
    assert [row["id"] for row in listed] == [token.pk]
    assert "secret" not in listed[0] and "key_hash" not in listed[0]
    assert "secret" not in client.get(f"{API}/tokens/{token.pk}/").json()

    me = token_client(secret).get(f"{API}/me/").json()
    assert me["auth"] == "token" and me["user"]["id"] == membership.user_id


def test_revoked_token_is_refused(company):
    membership = make_member(company, Role.SALES)
    secret = api_client_for(membership).post(f"{API}/tokens/", {"name": "ci"}, format="json").json()["secret"]
    client = token_client(secret)
    assert client.get(f"{API}/teams/").status_code == 200
    token_id = ApiToken.objects.get(membership=membership).pk
    assert client.delete(f"{API}/tokens/{token_id}/").status_code == 204
    response = client.get(f"{API}/teams/")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"] == "Token"
    assert ApiToken.objects.get(pk=token_id).revoked_at is not None


@pytest.mark.parametrize(
    "header", ["Token", "Token a b", "Token nodot", "Token abc.wrong", "Token \u00e9\u00e9.x", "Token ..."]
)
def test_malformed_or_unknown_tokens_are_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(f"{API}/me/")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_failed"


def test_token_of_company_a_cannot_act_in_company_b_even_with_the_header(company, other_company):
    membership = make_member(company, Role.ADMIN)
    Membership.objects.create(user=membership.user, company=other_company, role=Role.ADMIN)
    team_b = TeamFactory(company=other_company, name="B 团队")
    client = api_client_for(membership, token=True)
    client.defaults["HTTP_X_TROIKA_COMPANY"] = str(other_company.pk)

    assert client.get(f"{API}/me/").json()["company"]["id"] == company.pk
    assert client.get(f"{API}/teams/{team_b.pk}/").status_code == 404
    assert team_b.pk not in [row["id"] for row in client.get(f"{API}/teams/").json()["results"]]
    assert client.patch(f"{API}/teams/{team_b.pk}/", {"name": "x"}, format="json").status_code == 404
    response = client.post(f"{API}/teams/", {"name": "由 A 令牌创建"}, format="json")
    assert response.status_code == 201
    assert response.json()["id"] in set(company.teams.values_list("id", flat=True))


def test_users_see_and_revoke_only_their_own_tokens(company):
    alice, bob = make_member(company, Role.ADMIN), make_member(company, Role.SALES)
    bob_token = api_client_for(bob).post(f"{API}/tokens/", {"name": "bob"}, format="json").json()
    alice_client = api_client_for(alice)
    assert alice_client.get(f"{API}/tokens/").json()["count"] == 0
    assert alice_client.delete(f"{API}/tokens/{bob_token['id']}/").status_code == 404
    assert ApiToken.objects.get(pk=bob_token["id"]).revoked_at is None


def test_token_stops_working_when_the_membership_is_deactivated(company):
    admin = make_member(company, Role.ADMIN)
    member = make_member(company, Role.SALES)
    client = api_client_for(member, token=True)
    assert client.get(f"{API}/me/").status_code == 200
    assert api_client_for(admin).delete(f"{API}/memberships/{member.pk}/").status_code == 204
    assert client.get(f"{API}/me/").status_code == 401


# ------------------------------------------------------------------ password login → token


def login(client: APIClient, username: str, password: str = PASSWORD, **extra):
    return client.post(f"{API}/auth/token/", {"username": username, "password": password, **extra}, format="json")


def test_login_issues_a_token_for_the_chosen_company(company, other_company):
    membership = make_member(company, Role.SALES)
    Membership.objects.create(user=membership.user, company=other_company, role=Role.SERVICE)
    response = login(APIClient(), membership.user.username, company=other_company.pk)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["company"] == other_company.pk
    assert token_client(body["secret"]).get(f"{API}/me/").json()["role"] == "service"

    response = login(APIClient(), membership.user.username, company=999999)
    assert response.status_code == 403


def test_login_with_wrong_password_is_401_in_the_error_format(company):
    membership = make_member(company, Role.SALES)
    response = login(APIClient(), membership.user.username, "wrong")
    assert response.status_code == 401
    assert response.json()["errors"] == [
        {"field": None, "code": "invalid_credentials", "message": response.json()["errors"][0]["message"]}
    ]
    response = APIClient().post(f"{API}/auth/token/", {"username": ["x"], "password": 5}, format="json")
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"username"}


def test_axes_locks_the_api_login_after_repeated_failures(company):
    membership = make_member(company, Role.SALES)
    client = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, membership.user.username, "wrong")
    response = login(client, membership.user.username)  # the right password, too late
    assert response.status_code == 429
    assert response.json()["errors"][0]["code"] == "locked_out"
    assert not ApiToken.objects.filter(membership=membership).exists()


@pytest.mark.django_db(transaction=True)
def test_axes_lock_holds_under_concurrent_attempts(company):
    membership = make_member(company, Role.SALES)
    username = membership.user.username
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def attack():
        try:
            barrier.wait(timeout=30)
            for _ in range(3):
                statuses.append(login(APIClient(), username, "wrong").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attack) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(statuses) == 24 and set(statuses) <= {401, 429}
    # checked one at a time per account: the limit's last failure already answers "locked out"
    assert statuses.count(401) == settings.AXES_FAILURE_LIMIT - 1
    response = login(APIClient(), username)
    assert response.status_code == 429
    assert not ApiToken.objects.filter(membership=membership).exists()


def test_admin_of_a_company_requiring_2fa_needs_a_totp_code(company):
    company.require_2fa = True
    company.save(update_fields=["require_2fa"])
    admin = make_member(company, Role.ADMIN)
    device = TOTPDevice.objects.create(user=admin.user, name="phone", confirmed=True)
    response = login(APIClient(), admin.user.username)
    assert response.status_code == 401 and response.json()["errors"][0]["code"] == "otp_required"
    current = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    response = login(APIClient(), admin.user.username, otp=f"{current:06d}")
    assert response.status_code == 201, response.content
    # a wrong code (django-otp then also throttles the device) is refused
    response = login(APIClient(), admin.user.username, otp=f"{(current + 500000) % 10**6:06d}")
    assert response.status_code == 401 and response.json()["errors"][0]["code"] == "otp_invalid"
    # sales staff of the same company need no second factor
    sales = make_member(company, Role.SALES)
    assert login(APIClient(), sales.user.username).status_code == 201


def test_login_throttle_is_strict_and_answers_429_in_the_error_format(company):
    membership = make_member(company, Role.SALES)
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login": "3/min"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        statuses = [login(APIClient(), membership.user.username).status_code for _ in range(3)]
        response = login(APIClient(), membership.user.username)
    assert statuses == [201, 201, 201]
    assert response.status_code == 429
    error = response.json()["errors"][0]
    assert error["code"] == "throttled" and error["field"] is None
    assert int(response["Retry-After"]) > 0
