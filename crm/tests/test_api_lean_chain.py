"""Token-authenticated API requests take the lean middleware chain (``suite.api.lean``): same answers, same
security headers, same audit context, Idempotency-Key still honoured; session requests keep the full chain."""

import pghistory.models
import pytest
from django.test import Client

from crm.models import Account
from crm.tests import factories
from suite.api import lean
from suite.models import Role
from suite.services.tokens import api_token_issue

pytestmark = pytest.mark.django_db

ACCOUNTS = "/api/v1/crm/accounts/"


def test_the_lean_chain_keeps_what_matters_and_drops_the_session_middlewares():
    paths = lean.lean_middleware_paths()
    for kept in (
        "suite.middleware.CompanyMiddleware",
        "suite.audit.AuditContextMiddleware",
        "suite.api.idempotency.IdempotencyMiddleware",
        "django.middleware.locale.LocaleMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "csp.middleware.CSPMiddleware",
    ):
        assert kept in paths
    assert not set(paths) & lean.SKIPPED_FOR_TOKEN_REQUESTS


def test_a_token_request_answers_like_a_session_request(api_client, admin, company, chains):
    factories.AccountFactory(company=company, name="杭州明远机电")
    by_token = api_client(admin, token=True).get(ACCOUNTS + "?search=mingyuan")
    by_session = api_client(admin).get(ACCOUNTS + "?search=mingyuan")
    assert chains == [True, False]
    assert by_token.status_code == by_session.status_code == 200
    assert by_token.json() == by_session.json()
    for header in ("X-Frame-Options", "Content-Security-Policy", "X-Content-Type-Options", "X-Request-ID"):
        assert by_token.has_header(header), header
    assert by_token["Content-Language"] == by_session["Content-Language"]
    assert not by_token.cookies  # no session, no CSRF cookie


def test_a_bad_token_is_a_401_in_the_one_error_format(chains):
    response = Client().get(ACCOUNTS, HTTP_AUTHORIZATION="Token nope.nope")
    assert chains == [True]
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_failed"


def test_login_endpoints_and_requests_without_a_token_keep_the_full_chain(chains):
    Client().get(ACCOUNTS)
    Client().post("/api/v1/suite/auth/token/", {}, HTTP_AUTHORIZATION="Token x.y")
    assert chains == [False, False]


def test_a_token_write_is_audited_with_its_user_source_and_request_id(company, member, chains):
    admin = member(company, Role.ADMIN, username="token-admin")
    secret = api_token_issue(membership=admin, name="t").secret
    response = Client().post(
        ACCOUNTS,
        {"name": "审计客户", "phone": "13812345678"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {secret}",
        HTTP_X_REQUEST_ID="lean-chain-audit-1",
    )
    assert response.status_code == 201, response.content
    assert chains == [True]
    event = pghistory.models.Events.objects.tracks(Account.objects.get(pk=response.json()["id"])).get()
    assert event.pgh_context["user"] == admin.user_id
    assert event.pgh_context["source"] == "api"
    assert event.pgh_context["request_id"] == "lean-chain-audit-1"


def test_idempotency_keys_still_replay_on_the_lean_chain(company, member, chains):
    admin = member(company, Role.ADMIN, username="token-admin")
    secret = api_token_issue(membership=admin, name="t").secret
    headers = {"HTTP_AUTHORIZATION": f"Token {secret}", "HTTP_IDEMPOTENCY_KEY": "lean-1"}
    first = Client().post(ACCOUNTS, {"name": "幂等客户"}, content_type="application/json", **headers)
    second = Client().post(ACCOUNTS, {"name": "幂等客户"}, content_type="application/json", **headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert Account.objects.filter(name="幂等客户").count() == 1
    assert chains == [True, True]
