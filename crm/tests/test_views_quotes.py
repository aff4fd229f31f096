"""The lines editor on the opportunity page (htmx), quote generation and steps, the PDF, the quotes page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import OpportunityLine, Quote, QuoteState
from crm.services.opportunities import opportunity_create
from crm.services.quotes import opportunity_line_add, quote_create
from crm.tests.factories import AccountFactory
from erp.tests.catalogue import catalogue_product
from suite.models import Role

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def opportunity(company, sales_user):
    account = AccountFactory(company=company, by=sales_user, name="常州恒力液压件厂")
    return opportunity_create(company=company, by=sales_user, name="液压站改造", account=account)


@pytest.fixture
def product(company):
    return catalogue_product(company, sku="PUMP-32", name="柱塞泵 A10VSO", list_price="5200", on_hand="10")


@pytest.fixture
def browser(client, sales):
    client.cookies["django_language"] = "en"  # the assertions read English messages
    client.force_login(sales.user)
    return client


def test_search_preview_add_and_edit_a_line(browser, opportunity, product):
    found = browser.get(reverse("crm:opportunity-product-search", args=[opportunity.pk]), {"q": "柱塞"}, **HTMX)
    assert "PUMP-32" in found.content.decode()
    preview = browser.get(
        reverse("crm:opportunity-line-preview", args=[opportunity.pk]),
        {"product_id": product.pk, "quantity": "4"},
        **HTMX,
    )
    assert "5,200.00" in preview.content.decode() or "5200" in preview.content.decode()

    added = browser.post(
        reverse("crm:opportunity-line-add", args=[opportunity.pk]),
        {"product_id": product.pk, "quantity": "4", "discount_percent": "0", "tax_rate": "13"},
        **HTMX,
    )
    assert added.status_code == 200
    page = added.content.decode()
    assert 'id="opportunity-lines"' in page and "柱塞泵 A10VSO" in page
    line = OpportunityLine.objects.get()
    assert str(line.line_total) == "23504.00"

    edited = browser.post(
        reverse("crm:opportunity-line-edit", args=[opportunity.pk, line.pk]),
        {"quantity": "12", "discount_percent": "0", "tax_rate": "13", "unit_price": "5200"},
        **HTMX,
    )
    assert edited.status_code == 200
    line.refresh_from_db()
    assert str(line.quantity) == "12.0000"
    assert "not before" in edited.content.decode()  # 12 wanted, 10 in stock, nothing expected


def test_bad_quantity_shows_next_to_the_field(browser, opportunity, product):
    response = browser.post(
        reverse("crm:opportunity-line-add", args=[opportunity.pk]),
        {"product_id": product.pk, "quantity": "-3", "discount_percent": "0", "tax_rate": "13"},
        **HTMX,
    )
    assert response.status_code == 200
    assert "The quantity must be greater than zero." in response.content.decode()
    assert not OpportunityLine.objects.exists()


def test_salesperson_cannot_set_a_price_by_hand(browser, opportunity, product):
    response = browser.post(
        reverse("crm:opportunity-line-add", args=[opportunity.pk]),
        {"product_id": product.pk, "quantity": "1", "discount_percent": "0", "tax_rate": "13", "unit_price": "1"},
        **HTMX,
    )
    assert "Your role may not set prices by hand." in response.content.decode()
    assert not OpportunityLine.objects.exists()


def test_quote_from_the_page_and_its_pdf(browser, opportunity, product, sales_user):
    opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=product.pk, quantity="2")
    response = browser.post(
        reverse("crm:quote-create", args=[opportunity.pk]), {"valid_until": "2099-01-31", "terms": "含税"}
    )
    assert response.status_code == 302
    quote = Quote.objects.get()
    page = browser.get(reverse("crm:opportunity-detail", args=[opportunity.pk])).content.decode()
    assert quote.number in page and "Download PDF" in page
    pdf = browser.get(reverse("crm:quote-pdf", args=[quote.pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    browser.post(reverse("crm:quote-step", args=[quote.pk, "send"]))
    browser.post(reverse("crm:quote-step", args=[quote.pk, "accept"]))
    quote.refresh_from_db()
    assert quote.state == QuoteState.ACCEPTED


def test_another_salesperson_cannot_reach_the_lines(client, company, member, opportunity, product):
    client.force_login(member(company, Role.SALES).user)
    assert client.get(reverse("crm:opportunity-product-search", args=[opportunity.pk]), {"q": "P"}).status_code == 404
    response = client.post(
        reverse("crm:opportunity-line-add", args=[opportunity.pk]), {"product_id": product.pk, "quantity": "1"}
    )
    assert response.status_code == 404


def test_opportunity_page_and_quote_list_query_counts(
    browser, company, opportunity, sales_user, django_assert_max_num_queries
):
    def grow(n):
        for _ in range(n):
            product = catalogue_product(company, on_hand="3")
            opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=product.pk, quantity="1")
        quote_create(opportunity=opportunity, by=sales_user)

    grow(2)
    url = reverse("crm:opportunity-detail", args=[opportunity.pk])
    with django_assert_max_num_queries(60) as few:
        assert browser.get(url).status_code == 200
    with django_assert_max_num_queries(60) as few_quotes:
        assert browser.get(reverse("crm:quote-list")).status_code == 200
    grow(8)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert browser.get(url).status_code == 200
    with django_assert_max_num_queries(len(few_quotes.captured_queries)):
        assert browser.get(reverse("crm:quote-list")).status_code == 200
