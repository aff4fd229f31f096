"""One error format for every kind of API error (acceptance 5), and never a 500 for bad input."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import IntegrityError
from django.test import override_settings
from rest_framework.test import APIClient

from suite.api.errors import exception_handler
from suite.api.throttling import clear_throttles
from suite.models import Role
from suite.testing import TeamFactory, api_client_for, make_member

API = "/api/v1/suite"


def assert_error(response, status: int, code: str | None = None, field: str | None = "__any__") -> dict:
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"errors"} and body["errors"], body
    for error in body["errors"]:
        assert set(error) == {"field", "code", "message"} and error["message"]
    if code is not None:
        assert code in {error["code"] for error in body["errors"]}, body
    if field != "__any__":
        assert field in {error["field"] for error in body["errors"]}, body
    return body


@pytest.fixture
def admin(company):
    return api_client_for(make_member(company, Role.ADMIN))


@pytest.fixture(autouse=True)
def _fresh_throttles():
    clear_throttles()
    yield
    clear_throttles()


def test_field_validation_errors(admin):
    assert_error(admin.post(f"{API}/teams/", {}, format="json"), 400, "required", "name")
    body = assert_error(
        admin.post(f"{API}/teams/", {"name": ["list"], "kind": 5, "parent": "x", "manager": 10**30}, format="json"),
        400,
    )
    assert {e["field"] for e in body["errors"]} == {"name", "kind", "parent", "manager"}


@pytest.mark.urls("suite.tests.probe")
def test_nested_validation_errors_name_the_path(admin):
    body = {"customer": "x", "lines": [{"product": "ok", "quantity": "1"}, {"product": "p" * 20, "quantity": "-1"}]}
    errors = assert_error(admin.post("/api/v1/probe/nested/", body, format="json"), 400)["errors"]
    assert {(e["field"], e["code"]) for e in errors} == {
        ("customer", "invalid"),
        ("lines.1.product", "max_length"),
        ("lines.1.quantity", "min_value"),
    }
    assert_error(
        admin.post("/api/v1/probe/nested/", {"customer": 1, "lines": []}, format="json"), 400, "empty", "lines"
    )
    assert (
        admin.post(
            "/api/v1/probe/nested/", {"customer": 1, "lines": [{"product": "a", "quantity": "2"}]}, format="json"
        ).status_code
        == 204
    )


def test_service_validation_keeps_its_code(company, admin):
    TeamFactory(company=company, name="重复")
    assert_error(admin.post(f"{API}/teams/", {"name": "重复"}, format="json"), 400, "unique", "name")


def test_not_authenticated_is_401(db):
    response = APIClient().get(f"{API}/teams/")
    assert_error(response, 401, "not_authenticated", None)
    assert response["WWW-Authenticate"] == "Token"


def test_permission_denied_is_403(company):
    sales = api_client_for(make_member(company, Role.SALES))
    assert_error(sales.post(f"{API}/teams/", {"name": "x"}, format="json"), 403, "permission_denied", None)


def test_company_header_for_a_company_the_user_is_not_in_is_403(company, other_company, admin):
    for value in (str(other_company.pk), "abc", "99999999999999999999999"):
        admin.defaults["HTTP_X_TROIKA_COMPANY"] = value
        assert_error(admin.get(f"{API}/teams/"), 403, "permission_denied")


def test_not_found_from_drf_and_from_django(admin):
    assert_error(admin.get(f"{API}/teams/999999/"), 404, "not_found", None)
    assert_error(admin.get(f"{API}/teams/abc/"), 404, "not_found")
    assert_error(admin.get(f"{API}/teams/99999999999999999999999999/"), 404, "not_found")
    assert_error(admin.get("/api/v1/no-such-thing/"), 404, "not_found")
    assert_error(admin.post("/api/v2/whatever", {}, format="json"), 404, "not_found")
    assert_error(APIClient().get("/api/nothing/here/"), 404, "not_found")


def test_method_not_allowed_is_405(admin):
    response = admin.put(f"{API}/me/", {}, format="json")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_bad_bodies_are_4xx_never_500(admin):
    bad_json = admin.generic("POST", f"{API}/teams/", b'{"name": ', content_type="application/json")
    assert_error(bad_json, 400, "parse_error")
    assert_error(
        admin.generic("POST", f"{API}/teams/", b"name=x", content_type="text/plain"), 415, "unsupported_media_type"
    )
    assert_error(admin.post(f"{API}/teams/", ["not", "an", "object"], format="json"), 400)
    assert_error(admin.post(f"{API}/teams/", {"name": "a\x00b"}, format="json"), 400, None, "name")
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        assert_error(admin.post(f"{API}/teams/", {"name": "x" * 5000}, format="json"), 400)


def test_bad_query_parameters_are_4xx_never_500(admin):
    assert_error(admin.get(f"{API}/teams/", {"page": "99999999999999999999"}), 404, "not_found")
    assert_error(admin.get(f"{API}/teams/", {"page": "-1"}), 404)
    assert_error(admin.get(f"{API}/teams/", {"page": "abc"}), 404)
    assert admin.get(f"{API}/teams/", {"page_size": "abc"}).status_code == 200
    assert admin.get(f"{API}/teams/", {"page_size": "100000"}).status_code == 200
    assert_error(admin.get(f"{API}/teams/", {"ordering": "nope"}), 400, "invalid", "ordering")
    assert_error(admin.get(f"{API}/teams/", {"ordering": ","}), 400, "invalid", "ordering")
    assert_error(admin.get(f"{API}/teams/", {"search": "a\x00"}), 400, None, "search")
    assert_error(admin.get(f"{API}/teams/", {"search": "x" * 1000}), 400, None, "search")
    assert_error(admin.get(f"{API}/teams/", {"parent": "99999999999999999999999"}), 400, None, "parent")
    assert_error(admin.get(f"{API}/memberships/", {"team": "1e999"}), 400, None, "team")


@pytest.mark.urls("suite.tests.probe")
def test_a_crash_under_api_answers_500_in_the_error_format(admin):
    admin.raise_request_exception = False
    assert_error(admin.get("/api/v1/probe/boom/"), 500, "server_error", None)


def test_integrity_errors_map_to_409():
    response = exception_handler(IntegrityError("duplicate key"), {})
    assert response.status_code == 409
    assert response.data["errors"][0]["code"] == "conflict"


def test_throttled_is_429_with_retry_after(company):
    client = api_client_for(make_member(company, Role.SALES))
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "3/min"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        statuses = [client.get(f"{API}/me/").status_code for _ in range(3)]
        response = client.get(f"{API}/me/")
    assert statuses == [200, 200, 200]
    assert_error(response, 429, "throttled", None)
    assert 0 < int(response["Retry-After"]) <= 60


def test_anonymous_throttle_counts_per_ip(db):
    """Anonymous callers are throttled on what they may reach (the schema here; protected endpoints answer
    401 before any work is done)."""
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": "1/min"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        assert APIClient().get("/api/schema/").status_code == 200
        assert_error(APIClient().get("/api/schema/", HTTP_ACCEPT="application/json"), 429, "throttled")


def test_foreign_key_filters_do_not_reveal_other_companies_records(company, other_company, admin):
    """``?manager=<id>`` answers the same for a user of another company as for no user at all."""
    foreign_user = make_member(other_company, Role.ADMIN).user
    foreign_team = TeamFactory(company=other_company)
    own = TeamFactory(company=company, manager=make_member(company, Role.MANAGER).user)
    assert [r["id"] for r in admin.get(f"{API}/teams/", {"manager": own.manager_id}).json()["results"]] == [own.pk]
    for params in ({"manager": foreign_user.pk}, {"manager": 10**9}, {"parent": foreign_team.pk}, {"parent": 10**9}):
        assert_error(admin.get(f"{API}/teams/", params), 400, "invalid_choice", next(iter(params)))
