"""Module packages per company size (issue #7, acceptance 3): a startup runs CRM + SCRM only.

Disabled modules disappear from navigation, API (404), UI pages (404) and the admin site, their event handlers stay
idle (recorded as skipped), and enabling a module later shows the data that was there.
"""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from suite import events, modules, policy
from suite.events.relay import relay_batch
from suite.models import HandlerRun, Module, Role
from suite.tests import event_handlers_for_tests as handlers
from suite.ui import menu

pytestmark = pytest.mark.django_db

STARTUP = [Module.CRM, Module.SCRM]


@events.handler("tests.modules.happened", name="tests.modules.erp_supply_handler", module=modules.ERP_SUPPLY)
def erp_supply_handler(event: events.Event) -> None:
    handlers.record(event, "tests.modules.erp_supply_handler")


@events.handler("tests.modules.happened", name="tests.modules.crm_handler", module=modules.CRM)
def crm_handler(event: events.Event) -> None:
    handlers.record(event, "tests.modules.crm_handler")


@pytest.fixture
def startup(company):
    company.enabled_modules = STARTUP
    company.save(update_fields=["enabled_modules"])
    return company


def client_for(membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


def _plain_routes(resolver: URLResolver, prefix: str = "") -> list[str]:
    """Every route of ``resolver`` without a path parameter (list pages and collection endpoints)."""
    found = []
    for entry in resolver.url_patterns:
        route = str(entry.pattern)
        if route.startswith("^"):  # a router's regex route: keep the plain ones ("^products/$")
            route = route[1:].removesuffix("$")
        if any(mark in route for mark in ("<", "(", "[", "\\", "?", "*", "+")):
            continue
        if isinstance(entry, URLResolver):
            found.extend(_plain_routes(entry, prefix + route))
        elif isinstance(entry, URLPattern):
            found.append(prefix + route)
    return found


def _sub_resolver(prefix: str) -> URLResolver:
    root = get_resolver()
    for entry in root.url_patterns:
        if isinstance(entry, URLResolver) and str(entry.pattern) == prefix:
            return entry
    raise LookupError(prefix)


def _api_routes(app: str) -> list[str]:
    api = _sub_resolver("api/v1/")
    sub = next(e for e in api.url_patterns if isinstance(e, URLResolver) and str(e.pattern) == f"{app}/")
    return [f"/api/v1/{app}/{route}" for route in _plain_routes(sub)]


def test_module_of_maps_code_to_its_module():
    assert modules.module_of("crm.views.customers") == "crm"
    assert modules.module_of("scrm.api.inbox") == "scrm"
    assert modules.module_of("erp.api.hr") == "erp_hr"
    assert modules.module_of("erp.views.sales") == "erp_supply"
    assert modules.module_of("erp.events_hr") == "erp_hr"
    assert modules.module_of("erp.api.invoicing") == "erp_finance"
    assert modules.module_of("erp.handlers_loop") == modules.ERP_ANY
    assert modules.module_of("suite.api.tenancy") is None
    assert modules.module_of("troika_shop.connector") is None
    # An empty list (companies from before module packages) means every module.
    assert modules.is_enabled([], "erp_hr") and modules.is_enabled(None, modules.ERP_ANY)
    assert not modules.is_enabled(STARTUP, modules.ERP_ANY)
    assert modules.is_enabled(["erp_hr"], modules.ERP_ANY)


def test_startup_navigation_has_no_erp(startup, member):
    manager = member(startup, Role.MANAGER)
    sections = {view.key for view in menu.menu_for(policy.Actor(manager))}

    assert {"crm", "scrm"} <= sections
    assert "erp" not in sections
    html = client_for(manager).get(reverse("home")).content.decode()
    assert reverse("app-landing", kwargs={"app": "erp"}) not in html
    assert client_for(manager).get(reverse("app-landing", kwargs={"app": "erp"})).status_code == 404


def test_every_erp_api_route_is_a_404_for_a_startup(startup, member, api_client):
    routes = _api_routes("erp")
    assert len(routes) > 20
    for token in (False, True):
        client = api_client(member(startup, Role.ADMIN), token=token)
        answers = {route: client.get(route).status_code for route in routes}
        assert {route: code for route, code in answers.items() if code != 404} == {}
        assert client.get("/api/v1/crm/accounts/").status_code == 200
        assert client.get("/api/v1/suite/me/").status_code == 200


def test_every_erp_page_is_a_404_for_a_startup(startup, member):
    admin = client_for(member(startup, Role.ADMIN))
    pages = [f"/erp/{route}" for route in _plain_routes(_sub_resolver("erp/"))]
    assert pages
    answers = {page: admin.get(page).status_code for page in pages}
    assert {page: code for page, code in answers.items() if code != 404} == {}


def test_erp_models_leave_the_admin_site_of_the_startups_staff(startup, member):
    staff = member(startup, Role.ADMIN)
    staff.user.is_staff = True
    staff.user.save(update_fields=["is_staff"])
    from django.contrib.auth.models import Permission

    for app_label, codename in (("erp", "view_product"), ("crm", "view_account")):
        staff.user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client = client_for(staff)

    index = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:crm_account_changelist") in index
    assert reverse("admin:erp_product_changelist") not in index
    assert client.get(reverse("admin:erp_product_changelist")).status_code == 404
    assert client.get(reverse("admin:app_list", kwargs={"app_label": "erp"})).status_code == 404
    assert client.get(reverse("admin:crm_account_changelist")).status_code == 200


def test_erp_handlers_are_idle_for_a_startup_and_recorded_as_skipped(startup, other_company):
    handlers.create_effect_table()
    with transaction.atomic():
        mine = events.publish("tests.modules.happened", {}, company_id=startup.id)
        full = events.publish("tests.modules.happened", {}, company_id=other_company.id)  # empty list: all on

    result = relay_batch()

    assert (result.claimed, result.done, result.retrying) == (2, 2, 0)
    assert sorted((event_id, h) for event_id, h, *_ in handlers.effects() if h.startswith("tests.modules")) == sorted(
        [
            (mine.id, "tests.modules.crm_handler"),
            (full.id, "tests.modules.crm_handler"),
            (full.id, "tests.modules.erp_supply_handler"),
        ]
    )
    idle = HandlerRun.objects.get(event=mine, handler="tests.modules.erp_supply_handler")
    assert idle.status == "skipped"
    trace = events.selectors.trace(mine.correlation_id, company=startup)
    runs = {run.handler: run for run in trace[0].runs}
    assert runs["tests.modules.erp_supply_handler"].status == "skipped" and runs["tests.modules.erp_supply_handler"].ok
    # Delivered again (retry): the skipped run is neither called nor turned into a failure.
    from suite.services.events import event_retry

    event_retry(event=mine)
    assert relay_batch().claimed == 0  # a delivered event is left alone
    assert HandlerRun.objects.get(event=mine, handler="tests.modules.erp_supply_handler").status == "skipped"


def test_disable_keeps_the_data_and_enable_shows_it_again(company, member, api_client):
    from erp.tests.factories import _product_in

    product = _product_in(company)
    admin = member(company, Role.ADMIN)
    client = api_client(admin)
    url = "/api/v1/erp/inventory/products/"
    assert product.pk in [row["id"] for row in client.get(url).json()["results"]]

    settings_page = client_for(admin)
    response = settings_page.post(reverse("company-settings"), {"enabled_modules": ["crm", "scrm"]})
    assert response.status_code == 302
    company.refresh_from_db()
    assert company.enabled_modules == ["crm", "scrm"]
    assert client.get(url).status_code == 404
    assert type(product).objects.filter(pk=product.pk).exists()

    settings_page.post(reverse("company-settings"), {"enabled_modules": ["crm", "scrm", "erp_supply"]})
    assert product.pk in [row["id"] for row in client.get(url).json()["results"]]


def test_settings_page_is_for_company_admins_and_needs_one_module(company, member):
    admin = client_for(member(company, Role.ADMIN))
    page = admin.get(reverse("company-settings")).content.decode()
    assert 'value="erp_hr"' in page and "checked" in page  # an empty list shows every module ticked

    response = admin.post(reverse("company-settings"), {})
    assert response.status_code == 200 and 'class="field has-error"' in response.content.decode()
    company.refresh_from_db()
    assert company.enabled_modules == []
    assert client_for(member(company, Role.MANAGER)).get(reverse("company-settings")).status_code == 404
