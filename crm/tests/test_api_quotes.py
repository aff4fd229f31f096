"""The nested opportunity lines endpoint and the quotes endpoint: field-level errors, price override permission,
live availability, PDF download, state conflicts, query counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import OpportunityLine, Quote
from crm.services.opportunities import opportunity_create
from crm.services.quotes import opportunity_line_add, quote_create, quote_send
from crm.tests.factories import AccountFactory
from erp.tests.catalogue import catalogue_product
from suite.models import Role
from suite.models.outbox import OutboxEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]  # the tests read English messages


@pytest.fixture
def opportunity(company, sales_user):
    account = AccountFactory(company=company, by=sales_user, name="宁波港机设备有限公司")
    return opportunity_create(company=company, by=sales_user, name="门座起重机配件", account=account)


@pytest.fixture
def product(company):
    return catalogue_product(company, sku="GEAR-9", name="减速机 Gearbox", list_price="2500.00", on_hand="4")


@pytest.fixture
def client(api_client, sales):
    return api_client(sales)


def lines_url(opportunity) -> str:
    return f"/api/v1/crm/opportunities/{opportunity.pk}/lines/"


def test_add_a_line_shows_price_and_live_availability(client, opportunity, product):
    response = client.post(
        lines_url(opportunity), {"product_id": product.pk, "quantity": "6", "discount_percent": "10"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["sku"], body["unit_price"], body["price_source"]) == ("GEAR-9", "2500.0000", "list_price")
    assert (body["net_amount"], body["tax_amount"], body["line_total"]) == ("13500.00", "1755.00", "15255.00")
    assert body["availability"]["available_now"] == "4.0000"
    assert body["availability"]["earliest_date"] is None  # 6 wanted, 4 free and nothing expected
    assert client.get(f"/api/v1/crm/opportunities/{opportunity.pk}/").json()["amount"] == "15255.00"

    patched = client.patch(f"{lines_url(opportunity)}{body['id']}/", {"quantity": "3"}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["availability"]["earliest_date"] == timezone.localdate().isoformat()
    assert patched.json()["line_total"] == "7627.50"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"product_id": 987654321, "quantity": "1"}, "product_id"),
        ({"quantity": "-2"}, "quantity"),
        ({"quantity": "1", "discount_percent": "120"}, "discount_percent"),
        ({"quantity": "1", "discount_percent": "1000"}, "discount_percent"),
        ({"quantity": "abc"}, "quantity"),
        ({}, "quantity"),
    ],
)
def test_bad_line_input_is_a_400_naming_the_field(client, opportunity, product, payload, field):
    response = client.post(lines_url(opportunity), {"product_id": product.pk, **payload}, format="json")
    assert response.status_code == 400, response.content
    assert field in {error["field"] for error in response.json()["errors"]}
    assert not OpportunityLine.objects.exists()


def test_setting_the_price_by_hand_needs_the_permission(
    api_client, client, company, member, team, opportunity, product
):
    payload = {"product_id": product.pk, "quantity": "1", "unit_price": "1999.00"}
    refused = client.post(lines_url(opportunity), payload, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {"field": "unit_price", "code": "forbidden", "message": "Your role may not set prices by hand."}
    ]
    manager = api_client(member(company, Role.MANAGER, teams=[team]))
    allowed = manager.post(lines_url(opportunity), payload, format="json")
    assert allowed.status_code == 201, allowed.content
    assert (allowed.json()["unit_price"], allowed.json()["price_source"]) == ("1999.0000", "manual")


def test_another_salespersons_opportunity_lines_are_404(api_client, company, member, opportunity, product):
    other = api_client(member(company, Role.SALES))
    assert other.get(lines_url(opportunity)).status_code == 404
    assert other.post(lines_url(opportunity), {"product_id": product.pk, "quantity": "1"}).status_code == 404


def test_delete_and_reprice(client, opportunity, product, sales_user):
    line = opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=product.pk, quantity="1")
    repriced = client.post(f"{lines_url(opportunity)}reprice/")
    assert repriced.status_code == 200
    assert [row["id"] for row in repriced.json()] == [line.pk]
    assert client.delete(f"{lines_url(opportunity)}{line.pk}/").status_code == 204
    assert not OpportunityLine.objects.exists()


def test_lines_list_query_count_does_not_grow(client, company, opportunity, sales_user, django_assert_max_num_queries):
    for _ in range(3):
        product = catalogue_product(company, on_hand="2")
        opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=product.pk, quantity="1")
    with django_assert_max_num_queries(13) as few:
        assert client.get(lines_url(opportunity)).json()["count"] == 3
    for _ in range(12):
        product = catalogue_product(company, on_hand="2")
        opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=product.pk, quantity="1")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(lines_url(opportunity)).json()["count"] == 15


# ---------------------------------------------------------------- quotes


@pytest.fixture
def quote(opportunity, product, sales_user):
    opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=product.pk, quantity="2")
    return quote_create(opportunity=opportunity, by=sales_user)


def test_generate_send_accept_a_quote(client, opportunity, product, sales_user):
    opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=product.pk, quantity="2")
    created = client.post("/api/v1/crm/quotes/", {"opportunity": opportunity.pk, "terms": "含税含运费"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["state"], body["version"], body["total"]) == ("draft", 1, "5650.00")
    assert [line["sku"] for line in body["lines"]] == ["GEAR-9"]

    url = f"/api/v1/crm/quotes/{body['id']}/"
    assert client.post(f"{url}accept/").json()["errors"][0]["code"] == "quote_state"
    assert client.post(f"{url}send/").json()["state"] == "sent"
    assert client.post(f"{url}accept/").json()["state"] == "accepted"
    assert client.post(f"{url}accept/").status_code == 200
    assert OutboxEvent.objects.filter(name="crm.quote.accepted").count() == 1


def test_quote_needs_lines_and_a_visible_opportunity(client, api_client, company, member, opportunity):
    response = client.post("/api/v1/crm/quotes/", {"opportunity": opportunity.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "lines"
    stranger = api_client(member(company, Role.SALES))
    response = stranger.post("/api/v1/crm/quotes/", {"opportunity": opportunity.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "opportunity"


def test_expired_quote_accept_is_409(client, quote, sales_user):
    quote_send(quote=quote, by=sales_user)
    Quote.objects.filter(pk=quote.pk).update(valid_until=timezone.localdate() - dt.timedelta(days=1))
    response = client.post(f"/api/v1/crm/quotes/{quote.pk}/accept/")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "quote_expired"


def test_pdf_download(client, quote):
    response = client.get(f"/api/v1/crm/quotes/{quote.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert quote.number.encode() in response.content
    assert client.get("/api/v1/crm/quotes/999999/pdf/").json()["errors"][0]["code"] == "not_found"


def test_finance_sees_quotes_but_cannot_accept(api_client, company, member, quote):
    finance = api_client(member(company, Role.FINANCE))
    assert finance.get(f"/api/v1/crm/quotes/{quote.pk}/").status_code == 200
    assert finance.post(f"/api/v1/crm/quotes/{quote.pk}/send/").status_code == 403


def test_quote_list_query_count_does_not_grow(client, company, sales_user, django_assert_max_num_queries):
    def make_quotes(n):
        for index in range(n):
            account = AccountFactory(company=company, by=sales_user)
            deal = opportunity_create(company=company, by=sales_user, name=f"商机{index}", account=account)
            for _ in range(2):
                product = catalogue_product(company)
                opportunity_line_add(opportunity=deal, by=sales_user, product_id=product.pk, quantity="1")
            quote_create(opportunity=deal, by=sales_user)

    make_quotes(2)
    with django_assert_max_num_queries(10) as few:
        assert client.get("/api/v1/crm/quotes/").json()["count"] == 2
    make_quotes(6)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get("/api/v1/crm/quotes/").json()["count"] == 8
    assert Decimal(client.get("/api/v1/crm/quotes/").json()["results"][0]["total"]) == Decimal("226.00")
