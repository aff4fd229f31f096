"""The token → membership lookup is cached (``suite.services.tokens``): a repeated token request reads no token
row, and every change that can affect it — revocation, membership deactivated or its role changed, user
deactivated, company changed, token deleted — takes effect on the very next request. A request that read the old
state just before a change cannot put it back into the cache (tombstone)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from suite.models import ApiToken, Role
from suite.services import tokens
from suite.services.tokens import api_token_authenticate, api_token_issue, api_token_revoke
from suite.testing import make_member

pytestmark = pytest.mark.django_db
ME = "/api/v1/suite/me/"


def _client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def _token_queries(client) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        status = client.get(ME).status_code
    return status, sum('FROM "suite_apitoken"' in q["sql"] for q in queries.captured_queries)


def test_a_repeated_token_request_reads_no_token_row(company):
    issued = api_token_issue(membership=make_member(company, Role.SALES), name="cache")
    client = _client(issued.secret)
    assert _token_queries(client) == (200, 1)  # first request: from the database, then cached
    assert _token_queries(client) == (200, 0)
    assert _token_queries(client) == (200, 0)


def test_the_secret_is_still_checked_against_the_cached_token(company):
    issued = api_token_issue(membership=make_member(company, Role.SALES), name="cache")
    assert _client(issued.secret).get(ME).status_code == 200
    prefix = issued.secret.partition(".")[0]
    assert _client(f"{prefix}.wrong-key").get(ME).status_code == 401
    assert api_token_authenticate(f"{prefix}.wrong-key") is None


def test_revocation_takes_effect_on_the_next_request(company):
    issued = api_token_issue(membership=make_member(company, Role.SALES), name="cache")
    client = _client(issued.secret)
    assert client.get(ME).status_code == 200 and client.get(ME).status_code == 200  # cached
    api_token_revoke(token=ApiToken.objects.get(pk=issued.token.pk))
    assert client.get(ME).status_code == 401


@pytest.mark.parametrize(
    "change",
    [
        "membership_inactive",
        "user_inactive",
        "token_deleted",
        "membership_deleted",
    ],
)
def test_changes_behind_the_token_take_effect_on_the_next_request(company, change):
    membership = make_member(company, Role.SALES)
    issued = api_token_issue(membership=membership, name="cache")
    client = _client(issued.secret)
    assert client.get(ME).status_code == 200 and client.get(ME).status_code == 200  # cached
    if change == "membership_inactive":
        membership.is_active = False
        membership.save()
    elif change == "user_inactive":
        membership.user.is_active = False
        membership.user.save()
    elif change == "token_deleted":
        ApiToken.objects.get(pk=issued.token.pk).delete()
    else:
        membership.delete()
    assert client.get(ME).status_code == 401


def test_a_role_or_company_change_is_seen_at_once(company):
    membership = make_member(company, Role.SALES)
    issued = api_token_issue(membership=membership, name="cache")
    client = _client(issued.secret)
    assert client.get(ME).json()["role"] == Role.SALES
    membership.role = Role.MANAGER
    membership.save()
    assert client.get(ME).json()["role"] == Role.MANAGER
    company.name = "改名后的公司"
    company.save()
    assert api_token_authenticate(issued.secret).membership.company.name == "改名后的公司"


def test_a_stale_read_cannot_refill_the_cache_after_a_change(company):
    membership = make_member(company, Role.SALES)
    issued = api_token_issue(membership=membership, name="cache")
    stale = api_token_authenticate(issued.secret)  # what a request read just before the change
    api_token_revoke(token=ApiToken.objects.get(pk=issued.token.pk))
    key = tokens._cache_key(stale.prefix)
    assert cache.get(key) == tokens.TOMBSTONE
    assert cache.add(key, stale, tokens.CACHE_TTL) is False  # what that request would try: refused
    assert api_token_authenticate(issued.secret) is None
    assert cache.get(key) == tokens.TOMBSTONE  # a refused token is not cached either


def test_last_used_at_is_still_written(company):
    issued = api_token_issue(membership=make_member(company, Role.SALES), name="cache")
    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at is None
    assert _client(issued.secret).get(ME).status_code == 200
    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at is not None
