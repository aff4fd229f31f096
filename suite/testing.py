"""Test fixtures and factories for the platform, shared by every app's tests (a pytest plugin)."""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable

import factory
import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from suite import policy
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
