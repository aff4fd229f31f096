"""Tenant isolation across every registered API endpoint (acceptance 3).

The URL resolver is walked for every DRF viewset route under ``/api/v1/`` — the platform's and every app's, as
they are added. For each viewset a record of its model is made in company B with the factory registered in
``suite.testing`` (``@tenant_factory(Model)``); then an admin of company A (the widest role):

* never sees it in the list, and the list's export (if any) holds exactly the rows of A's list;
* gets 404 for every detail route and method (read, update, partial update, delete, detail actions) — or 403
  where the policy refuses A's role that action outright, which says nothing about B's record either;
* with ``X-Troika-Company: <B>`` (not a member there) is refused with 403, and with an API token of company A
  the detail is still 404.

A sanity check first proves the record is really visible to someone in B through the same route, so a broken
factory cannot make the test pass by accident. A viewset whose model has no factory fails here.
"""

from __future__ import annotations

import csv
import io

import pytest

from suite import policy
from suite.api.throttling import clear_throttles
from suite.models import Membership, Role
from suite.testing import (
    api_client_for,
    collect_viewsets,
    load_tenant_factories,
    make_member,
    policy_action_of,
    route_url,
)

VIEWSETS = collect_viewsets()


def _ids(response) -> list:
    body = response.json()
    rows = body["results"] if isinstance(body, dict) and "results" in body else body
    return [row.get("id") for row in rows]


def _viewer_in(company, model, obj) -> Membership | None:
    """A member of ``company`` who may see ``obj`` (to prove the route serves it at all)."""
    make_member(company, Role.ADMIN)
    for membership in Membership.objects.filter(company=company, is_active=True).select_related("user", "company"):
        actor = policy.Actor(membership)
        if policy.can(actor, "view", model) and policy.scope(actor, model._default_manager.filter(pk=obj.pk)).exists():
            return membership
    return None


def test_the_api_has_viewsets_to_check():
    teams = VIEWSETS["suite.api.tenancy.TeamViewSet"]
    assert teams.list_route == "api/v1/suite/teams/"
    [(detail_route, detail_actions)] = teams.detail_routes
    assert set(detail_actions) >= {"get", "put", "patch", "delete"}
    assert route_url(detail_route, type("Record", (), {"pk": 7})()) == "/api/v1/suite/teams/7/"
    assert all(routes.model is not None for routes in VIEWSETS.values()), [
        key for key, routes in VIEWSETS.items() if routes.model is None
    ]


@pytest.fixture(autouse=True)
def _no_throttle_counts():
    clear_throttles()


@pytest.mark.parametrize("key", sorted(VIEWSETS))
def test_company_a_cannot_reach_company_b_records(key, company, other_company):
    routes = VIEWSETS[key]
    model = routes.model
    factories = load_tenant_factories()
    assert model in factories, (
        f"{key} serves {model._meta.label} but no tenant factory is registered for it: add "
        f"@tenant_factory({model.__name__}) in {model._meta.app_label}/tests/factories.py (see suite/testing.py)"
    )
    record_b = factories[model](other_company)
    viewer_b = _viewer_in(other_company, model, record_b)
    assert viewer_b is not None, f"the factory of {model._meta.label} made a record nobody in company B may see"

    admin_a = make_member(company, Role.ADMIN)
    actor_a = policy.Actor(admin_a)
    client_a = api_client_for(admin_a)
    client_b = api_client_for(viewer_b)

    if routes.list_route:
        list_url = route_url(routes.list_route, record_b)
        assert record_b.pk in _ids(client_b.get(list_url, {"page_size": 500})), "B's own list must show the record"
        response = client_a.get(list_url, {"page_size": 500})
        if policy.can(actor_a, "view", model):
            assert response.status_code == 200, response.content
            assert record_b.pk not in _ids(response)
            visible_count = response.json().get("count") if isinstance(response.json(), dict) else None
        else:
            assert response.status_code == 403
            visible_count = None
        for route, actions in routes.list_extra:
            if actions.get("get") == "export" and visible_count is not None:
                exported = client_a.get(route_url(route, record_b), {"format": "csv"})
                if not policy.can(actor_a, "export", model):
                    assert exported.status_code == 403
                    continue
                assert exported.status_code == 200, exported
                text = b"".join(exported.streaming_content).decode("utf-8-sig")
                rows = list(csv.reader(io.StringIO(text)))
                assert len(rows) - 1 == visible_count, "the export must hold exactly the rows of A's list"

    for route, actions in routes.detail_routes:
        url = route_url(route, record_b)
        if "get" in actions:
            assert client_b.get(url).status_code in (200, 204), f"B must reach its own record at {url}"
        for method, view_action in actions.items():
            if method in ("head", "options"):
                continue
            response = getattr(client_a, method)(url, {}, format="json")
            if method not in routes.viewset.http_method_names:
                # the viewset refuses this method to everybody (import jobs change only through actions): the
                # permission check (403, or 404 where a role may not know the model's ids: payroll for an admin)
                # or the method check (405) answers first, neither reaches a record
                refused = {403, 405} if policy.can(actor_a, "view", model) else {403, 404, 405}
                assert response.status_code in refused, f"{method.upper()} {url}: {response.status_code}"
                continue
            allowed = policy.can(actor_a, policy_action_of(routes.viewset, view_action, method), model)
            expected = {404} if allowed else {403, 404}
            assert response.status_code in expected, f"{method.upper()} {url} as A's admin: {response.status_code}"
            assert response.json()["errors"][0]["code"] in ("not_found", "permission_denied")
        record_b.refresh_from_db()  # nothing A sent reached B's record (it still exists, untouched by deletes)

        if "get" in actions:
            token_client = api_client_for(admin_a, token=True)
            assert token_client.get(url).status_code == 404
            intruder = api_client_for(admin_a)
            intruder.defaults["HTTP_X_TROIKA_COMPANY"] = str(other_company.pk)
            response = intruder.get(url)
            assert response.status_code == 403
            assert response.json()["errors"][0]["code"] == "permission_denied"
