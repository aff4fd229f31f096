"""Test fixtures and factories for the platform, shared by every app's tests (a pytest plugin)."""

from __future__ import annotations

import importlib
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import factory
import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework.viewsets import ViewSetMixin

from suite import policy
from suite.api.permissions import ACTION_BY_VIEW_ACTION
from suite.models import ApiToken, Company, Membership, Role, Team
from suite.services.tokens import api_token_issue

_seq = itertools.count(1)


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"测试公司{n}")
    name_en = factory.Sequence(lambda n: f"Test Company {n}")
    code = factory.Sequence(lambda n: f"co{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw-Troika-123")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save(update_fields=["password"])


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    company = factory.SubFactory(CompanyFactory)
    name = factory.Sequence(lambda n: f"销售{n}组")


def make_member(company: Company, role: str = Role.SALES, *, teams=(), username: str | None = None, **user_fields):
    """A user with a membership of ``role`` in ``company`` (and in ``teams``)."""
    user = UserFactory(username=username or f"{role}{next(_seq)}", **user_fields)
    membership = Membership.objects.create(user=user, company=company, role=role)
    if teams:
        membership.teams.set(teams)
    return membership


@pytest.fixture
def english(settings):
    """Run the test in English: the default language (zh-Hans) would translate the messages a test reads.
    Pages requested through the test client and services called directly both answer in English."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def chains(monkeypatch):
    """Records, per request, whether it went through the lean middleware chain (``suite.api.lean``)."""
    from suite.api import lean

    seen = []
    call = lean.ApiTokenLeanMiddleware.__call__

    def spy(self, request):
        response = call(self, request)
        seen.append(getattr(request, "lean_chain", False))
        return response

    monkeypatch.setattr(lean.ApiTokenLeanMiddleware, "__call__", spy)
    return seen


@pytest.fixture
def company(db):
    return CompanyFactory(name="华东机械装备有限公司", name_en="East China Machinery", code="ecm")


@pytest.fixture
def other_company(db):
    return CompanyFactory(name="南方饮料集团", name_en="Southern Beverages", code="sbev")


@pytest.fixture
def member(db):
    """Factory fixture: ``member(company, role, teams=[...])`` → Membership."""
    return make_member


@pytest.fixture
def admin_membership(company):
    return make_member(company, Role.ADMIN)


@pytest.fixture
def actor_of():
    return policy.Actor


def web_client(membership: Membership, language: str = "en"):
    """A browser-like Django test client logged in as ``membership``'s user, reading pages in ``language``."""
    from django.test import Client

    client = Client()
    client.force_login(membership.user)
    client.cookies["django_language"] = language
    return client


def api_client_for(membership: Membership, *, token: bool = False) -> APIClient:
    """An API client acting as ``membership``'s user in its company (session, or an API token)."""
    client = APIClient()
    if token:
        issued = api_token_issue(membership=membership, name="tests")
        client.credentials(HTTP_AUTHORIZATION=f"Token {issued.secret}")
    else:
        client.force_login(membership.user)
        client.defaults["HTTP_X_TROIKA_COMPANY"] = str(membership.company_id)
    return client


@pytest.fixture
def api_client():
    """Factory fixture: ``api_client(membership, token=False)`` → APIClient."""
    return api_client_for


# ---------------------------------------------------------------- tenant factories (tests/test_tenant_isolation.py)
# Every model served by an API viewset needs here a way to make one of its records *in a given company*: the
# isolation test creates one in company B and checks that company A's admin can neither list, read, change nor
# delete it. Register with ``@tenant_factory(Model)`` in ``<app>/tests/factories.py`` (imported by
# ``load_tenant_factories``); an endpoint whose model has no factory makes that test fail.

TENANT_FACTORIES: dict[type, Callable[[Company], object]] = {}
FACTORY_MODULES = ("suite.tests.factories", "crm.tests.factories", "scrm.tests.factories", "erp.tests.factories")


def tenant_factory(model):
    """Decorator: ``fn(company) -> record of model`` that belongs to ``company``."""

    def register(fn):
        TENANT_FACTORIES[model] = fn
        return fn

    return register


def load_tenant_factories() -> dict[type, Callable[[Company], object]]:
    """Import every app's test factories (registering theirs) and return the registry."""
    for name in FACTORY_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name not in (name, name.rsplit(".", 1)[0]):
                raise
    return TENANT_FACTORIES


@tenant_factory(Company)
def _company_in(company: Company) -> Company:
    return company


@tenant_factory(Team)
def _team_in(company: Company) -> Team:
    return TeamFactory(company=company)


@tenant_factory(Membership)
def _membership_in(company: Company) -> Membership:
    return make_member(company, Role.SALES)


@tenant_factory(ApiToken)
def _api_token_in(company: Company) -> ApiToken:
    # A token of the company's admin: the widest role there, still invisible from any other company.
    return api_token_issue(membership=make_member(company, Role.ADMIN), name="isolation").token


# ---------------------------------------------------------------- API routes (the API-wide tests walk them)
# tests/test_tenant_isolation.py and tests/test_api_bad_input_*.py check every viewset served under /api/v1/, as
# they are added: the URL resolver is walked, not a list kept by hand.

API_PREFIX = "api/v1/"
ROUTE_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>[^)]*\)|<(?:\w+:)?(?P<conv>\w+)>")


@dataclass
class ViewsetRoutes:
    """A viewset's routes: the list (with its method → action map), detail routes, and list-level extras."""

    viewset: type
    list_route: str | None = None
    list_actions: dict = field(default_factory=dict)
    detail_routes: list[tuple[str, dict]] = field(default_factory=list)
    list_extra: list[tuple[str, dict]] = field(default_factory=list)

    @property
    def model(self):
        model = getattr(self.viewset, "policy_model", None)
        queryset = getattr(self.viewset, "queryset", None)
        return model or (queryset.model if queryset is not None else None)


def _clean(pattern: str) -> str:
    return pattern.replace("^", "").replace("$", "").replace("\\Z", "")


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + _clean(str(entry.pattern)))
        elif isinstance(entry, URLPattern):
            yield prefix + _clean(str(entry.pattern)), entry


def collect_viewsets() -> dict[str, ViewsetRoutes]:
    """Every DRF viewset served under ``/api/v1/``, by ``module.ClassName``, with its routes."""
    found: dict[str, ViewsetRoutes] = {}
    for route, entry in _walk(get_resolver().url_patterns):
        viewset = getattr(entry.callback, "cls", None)
        actions = getattr(entry.callback, "actions", None)
        if viewset is None or not issubclass(viewset, ViewSetMixin) or not route.startswith(API_PREFIX):
            continue
        names = [m.group("name") or m.group("conv") for m in ROUTE_GROUP.finditer(route)]
        if "format" in names:
            continue  # format-suffix duplicates of the same routes
        key = f"{viewset.__module__}.{viewset.__name__}"
        routes = found.setdefault(key, ViewsetRoutes(viewset=viewset))
        if names:
            routes.detail_routes.append((route, dict(actions)))
        elif "list" in actions.values():
            routes.list_route, routes.list_actions = route, dict(actions)
        else:
            routes.list_extra.append((route, dict(actions)))
    return found


def route_url(route: str, obj) -> str:
    """The path of ``route`` for the record ``obj`` (its id, a nested parent's id, or an attribute by name)."""

    def value(match):
        name = match.group("name") or match.group("conv")
        if name in ("pk", "id") or name == "lookup":
            return str(obj.pk)
        if name.endswith("_pk"):  # nested route: the parent's id from the record's foreign key
            return str(getattr(obj, f"{name[:-3]}_id"))
        return str(getattr(obj, name))

    return "/" + ROUTE_GROUP.sub(value, route)


def policy_action_of(viewset, view_action: str, method: str) -> str:
    """The policy action a viewset's ``view_action`` asks for (as ``PolicyPermission`` decides it)."""
    declared = getattr(viewset, "policy_actions", None) or {}
    if view_action in declared:
        return declared[view_action]
    if view_action in ACTION_BY_VIEW_ACTION:
        return ACTION_BY_VIEW_ACTION[view_action]
    return "view" if method in ("get", "head", "options") else "change"
