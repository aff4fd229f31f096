"""The customer 360° pages run a fixed number of queries however much a customer has: deals, activities, stage
changes, tickets, contacts, ERP orders / invoices / payments and SCRM messages and UGC — for an account and for
a contact, and for a manager (team scope, whose scope needs the teams) as for an administrator. The timeline
pages ("Load more") without repeating or skipping entries. The figures on 100k customers are in docs/performance.md."""

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


# ---------------------------------------------------------------- ERP documents and SCRM messages on the 360 page


def _erp_and_social(company, account, n):
    """``n`` ERP orders of the account's ERP customer, each invoiced, every other one paid; ``n`` inbound and
    ``n`` outbound messages and ``n`` UGC posts of an identity matched to the account."""
    from erp.tests.crm360_support import customer_documents
    from scrm.tests.crm360_support import customer_social

    customer_documents(company, crm_account_id=account.pk, name=account.name, orders=n)
    customer_social(company, crm_account_id=account.pk, messages=n)


def test_account_360_with_erp_documents_and_social_messages_runs_the_same_queries_small_or_big(
    company, admin, sales_user, django_assert_max_num_queries
):
    small = AccountFactory(company=company, by=sales_user, name="小客户")
    big = AccountFactory(company=company, by=sales_user, name="大客户")
    _erp_and_social(company, small, 1)
    _erp_and_social(company, big, 6)
    _grow_customer(company, big, sales_user, 3)
    client = browser(admin)
    client.get(reverse("crm:account-detail", args=[small.pk]))

    few = _queries(client, reverse("crm:account-detail", args=[small.pk]))
    with django_assert_max_num_queries(few):
        response = client.get(reverse("crm:account-detail", args=[big.pk]))

    html = response.content.decode()
    timeline = html + "".join(
        client.get(reverse("crm:account-timeline", args=[big.pk]), {"offset": offset}).content.decode()
        for offset in (20, 40, 60)
    )
    assert response.status_code == 200
    assert "客户来信5" in html and "我们的回复5" in html and "买家秀5" in html  # the newest first
    assert timeline.count('class="timeline-item kind-order"') == 6
    assert timeline.count('class="timeline-item kind-invoice"') == 6
    assert timeline.count('class="timeline-item kind-payment"') == 3
    assert timeline.count('class="timeline-item kind-message"') == 12
    assert timeline.count('class="timeline-item kind-ugc"') == 6
    assert 'id="figure-lifetime-revenue">CN¥600.00<' in html  # 6 orders × 100.00 untaxed
    assert 'id="figure-outstanding">CN¥339.00<' in html  # 3 of 6 invoices (113.00 each) unpaid


def test_the_360_timeline_pages_with_load_more_without_repeating_entries(company, admin, sales_user):
    account = AccountFactory(company=company, by=sales_user, name="翻页客户")
    for i in range(45):
        activity_create(company=company, by=sales_user, kind="note", subject=f"记录{i:02d}", account=account)
    client = browser(admin)

    first = client.get(reverse("crm:account-detail", args=[account.pk])).content.decode()
    second = client.get(reverse("crm:account-timeline", args=[account.pk]), {"offset": 20}).content.decode()
    third = client.get(reverse("crm:account-timeline", args=[account.pk]), {"offset": 40}).content.decode()

    assert first.count('class="timeline-item kind-activity"') == 20 and "记录44" in first and "记录24" not in first
    assert second.count('class="timeline-item kind-activity"') == 20 and "记录24" in second and "记录05" in second
    assert "<html" not in second and 'hx-get="/crm/accounts/' in second  # another "Load more"
    assert third.count('class="timeline-item kind-activity"') == 5 and "记录00" in third
    assert "Load more" not in third


def test_a_salesperson_sees_no_timeline_of_another_salespersons_customer(company, member, sales, sales_user):
    colleague = member(company, Role.SALES).user
    theirs = AccountFactory(company=company, by=colleague)

    response = browser(sales).get(reverse("crm:account-timeline", args=[theirs.pk]), {"offset": 20})

    assert response.status_code == 404
