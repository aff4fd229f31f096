"""The customer 360° pages run a fixed number of queries however much a customer has: deals, activities, stage
changes, tickets and contacts — for an account and for a contact, and for a manager (team scope, whose scope
needs the teams) as for an administrator. The figures on 100k customers are in docs/performance.md."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.services.activities import activity_create
from crm.services.opportunities import opportunity_create
from crm.tests.factories import AccountFactory, ContactFactory
from crm.tests.test_views_customers import _grow_customer, browser
from suite.models import Module, Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def crm_enabled(company):
    company.enabled_modules = [Module.CRM]
    company.save()


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER])
def test_account_360_query_count_is_the_same_for_a_small_and_a_big_customer(
    role, company, member, sales_user, django_assert_max_num_queries
):
    viewer = member(company, role)
    owner = sales_user if role == Role.ADMIN else viewer.user
    small = AccountFactory(company=company, by=owner, name="小客户")
    big = AccountFactory(company=company, by=owner, name="大客户")
    _grow_customer(company, small, owner, 1)
    _grow_customer(company, big, owner, 12)
    for _ in range(55):  # more contacts than the page lists
        ContactFactory(company=company, by=owner, account=big)
    client = browser(viewer)
    client.get(reverse("crm:account-detail", args=[small.pk]))  # warm caches (content types, session)

    few = _queries(client, reverse("crm:account-detail", args=[small.pk]))
    with django_assert_max_num_queries(few):
        response = client.get(reverse("crm:account-detail", args=[big.pk]))

    assert response.status_code == 200
    assert "大客户" in response.content.decode()


def test_contact_360_query_count_is_the_same_for_a_small_and_a_big_customer(
    company, admin, sales_user, django_assert_max_num_queries
):
    account = AccountFactory(company=company, by=sales_user)
    small = ContactFactory(company=company, by=sales_user, account=account, name="小联系人")
    big = ContactFactory(company=company, by=sales_user, account=account, name="大联系人")
    for contact, n in ((small, 1), (big, 12)):
        for i in range(n):
            opportunity_create(company=company, by=sales_user, name=f"商机{i}", contact=contact, amount="10.00")
            activity_create(company=company, by=sales_user, kind="call", subject=f"电话{i}", contact=contact)
    client = browser(admin)
    client.get(reverse("crm:contact-detail", args=[small.pk]))

    few = _queries(client, reverse("crm:contact-detail", args=[small.pk]))
    with django_assert_max_num_queries(few):
        response = client.get(reverse("crm:contact-detail", args=[big.pk]))

    assert response.status_code == 200
    assert "大联系人" in response.content.decode()
