"""Opportunity lines priced from ERP's price lists, live availability, and quotes generated from the lines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm import selectors
from crm.errors import CrmConflict, QuoteExpiredError, QuoteStateError
from crm.models import Opportunity, OpportunityLine, PriceSource, Quote, QuoteState
from crm.quote_pdf import render_quote_pdf
from crm.services.custom_fields import custom_field_set_define
from crm.services.customers import account_update
from crm.services.opportunities import opportunity_create, opportunity_update, opportunity_win
from crm.services.quotes import (
    line_amounts,
    opportunity_line_add,
    opportunity_line_delete,
    opportunity_line_update,
    opportunity_lines_reprice,
    quote_accept,
    quote_create,
    quote_reject,
    quote_send,
    quotes_expire,
)
from crm.tests.factories import AccountFactory
from erp.tests.catalogue import catalogue_product, expect_supply, price_list
from suite.models.outbox import OutboxEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]  # the tests read English messages
D = Decimal


@pytest.fixture
def account(company, sales_user):
    return AccountFactory(company=company, by=sales_user, name="苏州精工机械有限公司")


@pytest.fixture
def opportunity(company, sales_user, account):
    return opportunity_create(company=company, by=sales_user, name="数控车床采购", account=account)


@pytest.fixture
def lathe(company):
    return catalogue_product(company, sku="CNC-6140", name="数控车床 CK6140", list_price="128000.00")


def test_line_amounts_round_half_up_to_the_cent():
    # 3 × 33.3333 = 99.9999; −12.5 % → 87.4999125 → 87.50; 13 % tax 11.375 → 11.38
    assert line_amounts(quantity=D("3"), unit_price=D("33.3333"), discount_percent=D("12.5"), tax_rate=D("13")) == (
        D("87.50"),
        D("11.38"),
        D("98.88"),
    )


def test_line_without_price_list_takes_the_list_price_and_the_amount_follows(opportunity, lathe, sales_user):
    line = opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=lathe.pk, quantity="2")

    assert (line.sku, line.product_name, line.uom) == ("CNC-6140", "数控车床 CK6140", "pcs")
    assert line.unit_price == D("128000.0000")
    assert line.price_source == PriceSource.LIST_PRICE
    assert (line.net_amount, line.tax_amount, line.line_total) == (D("256000.00"), D("33280.00"), D("289280.00"))
    opportunity.refresh_from_db()
    assert opportunity.amount == D("289280.00")


def test_price_list_for_the_customer_group_with_quantity_breaks_and_validity(
    company, opportunity, account, lathe, sales_user
):
    today = timezone.localdate()
    price_list(company, tiers={lathe: [(0, "120000"), (5, "110000")]})
    price_list(company, tiers={lathe: [(0, "115000"), (3, "105000")]}, customer_group="key_account")
    price_list(
        company,
        tiers={lathe: [(0, "90000")]},
        customer_group="key_account",
        valid_from=today - dt.timedelta(days=30),
        valid_to=today - dt.timedelta(days=1),  # expired yesterday
    )
    general = opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=lathe.pk, quantity="5")
    assert (general.unit_price, general.price_source) == (D("110000.0000"), PriceSource.PRICE_LIST)

    custom_field_set_define(
        company=company,
        target="account",
        schema={"type": "object", "properties": {"price_group": {"type": "string", "title": "价格组"}}},
    )
    account_update(account=account, by=sales_user, custom={"price_group": "key_account"})
    opportunity.refresh_from_db()
    small = opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=lathe.pk, quantity="2")
    big = opportunity_line_update(line=small, by=sales_user, quantity="3")
    assert big.unit_price == D("105000.0000")
    assert opportunity_line_update(line=big, by=sales_user, quantity="1").unit_price == D("115000.0000")


def test_manual_price_stays_until_reset_and_reprice_refreshes_the_others(company, opportunity, lathe, sales_user):
    line = opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=lathe.pk, quantity="1")
    manual = opportunity_line_update(line=line, by=sales_user, unit_price="99999.99")
    assert manual.price_source == PriceSource.MANUAL
    assert opportunity_line_update(line=manual, by=sales_user, quantity="2").unit_price == D("99999.9900")

    other = catalogue_product(company, list_price="10")
    cheap = opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=other.pk, quantity="4")
    price_list(company, tiers={other: [(0, "8.5")]})
    assert opportunity_lines_reprice(opportunity=opportunity, by=sales_user) == 1
    cheap.refresh_from_db()
    manual.refresh_from_db()
    assert (cheap.unit_price, manual.unit_price) == (D("8.5000"), D("99999.9900"))

    reset = opportunity_line_update(line=manual, by=sales_user, reset_price=True)
    assert (reset.unit_price, reset.price_source) == (D("128000.0000"), PriceSource.LIST_PRICE)
    opportunity.refresh_from_db()
    assert opportunity.amount == reset.line_total + cheap.line_total


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"product_id": 999999999, "quantity": "1"}, "product_id"),
        ({"product_id": "abc", "quantity": "1"}, "product_id"),
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "1", "discount_percent": "100.01"}, "discount_percent"),
        ({"quantity": "1", "discount_percent": "-5"}, "discount_percent"),
        ({"quantity": "1", "tax_rate": "abc"}, "tax_rate"),
        ({"quantity": "1", "unit_price": "-3"}, "unit_price"),
    ],
)
def test_bad_line_input_is_a_field_error_and_nothing_is_written(opportunity, lathe, sales_user, values, field):
    values = {"product_id": lathe.pk, **values}
    with pytest.raises(ValidationError) as error:
        opportunity_line_add(opportunity=opportunity, by=sales_user, **values)
    assert field in error.value.message_dict
    assert not OpportunityLine.objects.exists()


def test_another_companys_or_inactive_product_is_unknown(opportunity, other_company, sales_user, company):
    foreign = catalogue_product(other_company)
    retired = catalogue_product(company, is_active=False)
    for product in (foreign, retired):
        with pytest.raises(ValidationError) as error:
            opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=product.pk, quantity="1")
        assert error.value.message_dict == {"product_id": ["Unknown product."]}


def test_database_refuses_a_non_positive_quantity_and_a_discount_above_100(opportunity, lathe, sales_user):
    line = opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=lathe.pk, quantity="1")
    for field, value in (("quantity", D("0")), ("discount_percent", D("100.5")), ("line_total", D("1"))):
        with pytest.raises(IntegrityError), transaction.atomic():
            OpportunityLine.objects.filter(pk=line.pk).update(**{field: value})


def test_amount_follows_lines_and_cannot_be_set_by_hand(opportunity, lathe, sales_user):
    line = opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=lathe.pk, quantity="1")
    with pytest.raises(ValidationError) as error:
        opportunity_update(opportunity=opportunity, by=sales_user, amount="5.00")
    assert "amount" in error.value.message_dict
    opportunity_line_delete(line=line, by=sales_user)
    opportunity.refresh_from_db()
    assert opportunity.amount == D("144640.00")  # the last line removed: the amount stays until edited
    assert opportunity_update(opportunity=opportunity, by=sales_user, amount="5.00").amount == D("5.00")


def test_won_opportunity_lines_are_final_and_ride_on_the_won_event(opportunity, lathe, sales_user):
    opportunity_line_add(
        opportunity=opportunity, by=sales_user, product_id=lathe.pk, quantity="2", discount_percent="5"
    )
    opportunity_win(opportunity=opportunity, by=sales_user)
    [line_data] = OutboxEvent.objects.get(name="crm.opportunity.won").payload["lines"]
    assert line_data["product_id"] == lathe.pk
    assert (line_data["quantity"], line_data["discount"], line_data["line_total"]) == ("2.0000", "5.00", "274816.00")
    with pytest.raises(CrmConflict):
        opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=lathe.pk, quantity="1")


def test_availability_is_read_live_from_erp(company, opportunity, sales_user):
    today = timezone.localdate()
    product = catalogue_product(company, list_price="50", on_hand="5")
    expect_supply(product, quantity="10", on=today + dt.timedelta(days=7))
    line = opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=product.pk, quantity="12")
    small = opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=product.pk, quantity="5")
    huge = opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=product.pk, quantity="500")
    service = catalogue_product(company, list_price="800", is_stockable=False)
    install = opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=service.pk, quantity="2")

    availability = selectors.lines_availability(opportunity=opportunity, lines=[line, small, huge, install])

    assert availability[line.pk].available_now == D("5")
    assert availability[line.pk].earliest_date == today + dt.timedelta(days=7)
    assert availability[small.pk].earliest_date == today
    assert availability[huge.pk].earliest_date is None
    assert availability[line.pk].current_price == D("50.0000")
    assert (availability[install.pk].is_stockable, availability[install.pk].earliest_date) == (False, today)


# ---------------------------------------------------------------- quotes


@pytest.fixture
def quoted(company, opportunity, lathe, sales_user):
    opportunity_line_add(
        opportunity=opportunity,
        by=sales_user,
        product_id=lathe.pk,
        quantity="3",
        discount_percent="7.5",
        tax_rate="13",
    )
    spindle = catalogue_product(company, sku="SP-01", name="主轴 Spindle", list_price="333.33")
    opportunity_line_add(
        opportunity=opportunity, by=sales_user, product_id=spindle.pk, quantity="7", discount_percent="2.5"
    )
    return quote_create(opportunity=opportunity, by=sales_user, terms="付款：30% 预付，70% 发货前")


def test_quote_totals_with_tax_and_discount_are_exact_to_the_cent(quoted):
    # 3 × 128000 × 0.925 = 355200.00, tax 46176.00; 7 × 333.33 × 0.975 = 2274.977… → 2274.98, tax 295.75
    lines = list(quoted.lines.order_by("sequence"))
    assert [(line.net_amount, line.tax_amount, line.line_total) for line in lines] == [
        (D("355200.00"), D("46176.00"), D("401376.00")),
        (D("2274.98"), D("295.75"), D("2570.73")),
    ]
    assert (quoted.subtotal, quoted.tax_total, quoted.total) == (D("357474.98"), D("46471.75"), D("403946.73"))
    assert quoted.opportunity.amount == quoted.total


def test_quote_numbers_per_company_and_versions_per_opportunity(company, other_company, quoted, sales_user, lathe):
    year = timezone.localdate().year
    assert (quoted.number, quoted.version, quoted.state) == (f"Q{year}-0001", 1, QuoteState.DRAFT)
    again = quote_create(opportunity=quoted.opportunity, by=sales_user)
    assert (again.number, again.version, again.display_number) == (f"Q{year}-0001", 2, f"Q{year}-0001-v2")

    second = opportunity_create(company=company, by=sales_user, name="第二个", account=quoted.opportunity.account)
    opportunity_line_add(opportunity=second, by=sales_user, product_id=lathe.pk, quantity="1")
    assert quote_create(opportunity=second, by=sales_user).number == f"Q{year}-0002"

    from crm.tests.factories import line_in

    foreign = line_in(other_company)
    assert quote_create(opportunity=foreign.opportunity, by=None).number == f"Q{year}-0001"


def test_quote_is_a_snapshot(quoted, sales_user):
    line = quoted.opportunity.lines.order_by("sequence").first()
    opportunity_line_update(line=line, by=sales_user, quantity="10")
    quoted.refresh_from_db()
    assert quoted.lines.order_by("sequence").first().quantity == D("3.0000")
    assert quoted.total == D("403946.73")


def test_quote_needs_lines_and_a_future_validity(opportunity, lathe, sales_user):
    with pytest.raises(ValidationError) as error:
        quote_create(opportunity=opportunity, by=sales_user)
    assert "lines" in error.value.message_dict
    opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=lathe.pk, quantity="1")
    with pytest.raises(ValidationError) as error:
        quote_create(opportunity=opportunity, by=sales_user, valid_until=timezone.localdate() - dt.timedelta(days=1))
    assert "valid_until" in error.value.message_dict
    assert not Quote.objects.exists()


def test_send_accept_publishes_once_and_accepting_twice_changes_nothing(quoted, sales_user):
    with pytest.raises(QuoteStateError):
        quote_accept(quote=quoted, by=sales_user)  # a draft was never seen by the customer
    sent = quote_send(quote=quoted, by=sales_user)
    assert sent.state == QuoteState.SENT and sent.sent_at is not None
    assert quote_send(quote=sent, by=sales_user).sent_at == sent.sent_at

    accepted = quote_accept(quote=sent, by=sales_user)
    assert accepted.state == QuoteState.ACCEPTED
    again = quote_accept(quote=accepted, by=sales_user)
    assert (again.state, again.decided_at, again.updated_at) == (
        QuoteState.ACCEPTED,
        accepted.decided_at,
        accepted.updated_at,
    )
    [event] = OutboxEvent.objects.filter(name="crm.quote.accepted")
    assert event.version == 1
    assert event.payload["quote_id"] == quoted.pk
    assert event.payload["total"] == "403946.73"
    assert event.payload["valid_until"] == quoted.valid_until.isoformat()
    assert [line["quantity"] for line in event.payload["lines"]] == ["3.0000", "7.0000"]
    with pytest.raises(QuoteStateError):
        quote_reject(quote=accepted, by=sales_user)


def test_expired_quote_cannot_be_accepted(quoted, sales_user):
    quote_send(quote=quoted, by=sales_user)
    Quote.objects.filter(pk=quoted.pk).update(valid_until=timezone.localdate() - dt.timedelta(days=1))
    with pytest.raises(QuoteExpiredError):
        quote_accept(quote=quoted, by=sales_user)

    assert quotes_expire() == 1
    quoted.refresh_from_db()
    assert quoted.state == QuoteState.EXPIRED
    with pytest.raises(QuoteExpiredError):
        quote_accept(quote=quoted, by=sales_user)
    assert not OutboxEvent.objects.filter(name="crm.quote.accepted").exists()
    assert quotes_expire() == 0


def test_only_one_version_is_accepted(quoted, sales_user):
    second = quote_create(opportunity=quoted.opportunity, by=sales_user)
    for quote in (quoted, second):
        quote_send(quote=quote, by=sales_user)
    quote_accept(quote=quoted, by=sales_user)
    with pytest.raises(QuoteStateError):
        quote_accept(quote=second, by=sales_user)
    assert quote_reject(quote=second, by=sales_user).state == QuoteState.REJECTED


def test_quotes_only_for_open_opportunities(quoted, sales_user):
    opportunity_win(opportunity=quoted.opportunity, by=sales_user)
    with pytest.raises(CrmConflict):
        quote_create(opportunity=Opportunity.objects.get(pk=quoted.opportunity_id), by=sales_user)


def test_pdf_starts_with_pdf_and_names_the_quote(quoted):
    pdf = render_quote_pdf(Quote.objects.select_related("company").get(pk=quoted.pk))
    assert pdf.startswith(b"%PDF")
    assert quoted.number.encode() in pdf
    assert b"STSong-Light" in pdf  # the Chinese text is set in the built-in CID font
