import pytest

from suite.models import Role
from suite.policy import Actor
from suite.testing import TeamFactory


@pytest.fixture
def team(company):
    return TeamFactory(company=company, name="华东销售一组")


@pytest.fixture
def sales(company, member, team):
    return member(company, Role.SALES, teams=[team], username="zhangsan")


@pytest.fixture
def sales_user(sales):
    return sales.user


@pytest.fixture
def sales_actor(sales):
    return Actor(sales)


@pytest.fixture
def admin(company, member):
    return member(company, Role.ADMIN, username="admin_ecm")


@pytest.fixture
def admin_actor(admin):
    return Actor(admin)


@pytest.fixture
def crm_enabled(company):
    """The company with the CRM module on (its pages answer 404 otherwise)."""
    from suite.models import Module

    company.enabled_modules = [Module.CRM]
    company.save()
    return company
