"""Every CRM page that lists things runs a fixed number of queries however many rows it shows, and none of them
carries inline script or style (CSP)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.services.activities import activity_create
from crm.services.leads import lead_create
from crm.services.opportunities import opportunity_create
from crm.services.tickets import ticket_reply, ticket_resolve
from crm.tests.factories import AccountFactory, ContactFactory, TagFactory, ticket_for
from crm.tests.test_views_customers import assert_csp_clean, browser
from suite.models import Module

pytestmark = pytest.mark.django_db

PAGES = ["account-list", "contact-list", "lead-list", "opportunity-list", "board", "ticket-list", "my-day"]


@pytest.mark.parametrize("name", PAGES)
def test_list_pages_have_fixed_query_counts(name, company, admin, django_assert_max_num_queries):
    company.enabled_modules = [Module.CRM]
    company.save()
    user = admin.user
    seq = iter(range(10_000))

    def grow(n):
        for _ in range(n):
            i = next(seq)
            account = AccountFactory(company=company, by=user, tags=[TagFactory(company=company)])
            contact = ContactFactory(company=company, by=user, account=account, tags=[TagFactory(company=company)])
            opportunity = opportunity_create(company=company, by=user, name=f"商机{i}", account=account, amount=i)
            lead_create(company=company, by=user, name=f"线索{i}", company_name=f"公司{i}")
            activity_create(
                company=company,
                by=user,
                kind="task",
                subject=f"任务{i}",
                opportunity=opportunity,
                due_at=timezone.now() - timedelta(hours=i % 3),
            )
            ticket = ticket_for(company, account=account, contact=contact, assigned_agent=user)
            ticket_reply(ticket=ticket, by=user, body="好的")
            if i % 2:
                ticket_resolve(ticket=ticket, by=user)

    client = browser(admin)
    url = reverse(f"crm:{name}")
    grow(2)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        response = client.get(url)
    assert response.status_code == 200
    baseline = len(few)  # now: the captured queries are read from the connection's log, which the next request clears
    grow(8)
    client.get(url)  # warm as above: a list's count is remembered until its table changes (suite.api.counting)
    with django_assert_max_num_queries(baseline) as many:
        response = client.get(url)
    assert response.status_code == 200
    assert len(many) == baseline
    assert_csp_clean(response.content.decode())
