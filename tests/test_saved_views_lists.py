"""Saved list views beyond the CRM: the ERP's sales orders, invoices, purchase orders, production orders and
employees, and the SCRM inbox keep views, open with one's default and show the bar (suite.ui.saved_views)."""

import pytest
from django.urls import reverse

from suite.models import Module, Role
from suite.policy import Actor
from suite.services.saved_views import saved_view_create
from suite.testing import web_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "list_key,query",
    [
        ("erp:sales-order-list", "state=confirmed"),
        ("erp:invoice-list", "kind=customer"),
        ("erp:purchase-order-list", "state=draft"),
        ("erp:production-order-list", "state=released"),
        ("erp:hr-employee-list", "q=%E5%BC%A0"),
        ("scrm:inbox", "status=open&mine=1"),
    ],
)
def test_erp_and_scrm_lists_keep_views_and_open_with_the_default(company, member, list_key, query):
    company.enabled_modules = list(Module.values)
    company.save()
    admin = member(company, Role.ADMIN)
    view = saved_view_create(actor=Actor(admin), list_key=list_key, name="我的视图", query=query, make_default=True)
    client = web_client(admin)

    opened = client.get(reverse(list_key))
    assert opened.status_code == 302
    assert opened["Location"] == f"{reverse(list_key)}?{query}&view={view.pk}"
    page = client.get(opened["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="saved-views"' in html and "<strong>我的视图</strong>" in html
    assert client.get(f"{reverse(list_key)}?view=all").status_code == 200
