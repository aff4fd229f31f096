"""E-mailing a quote from the deal's page: the PDF goes to the customer, the quote becomes sent and the deal gets
a note — or, on bad input or a mail server that refuses, nothing changes and the form says why."""

from __future__ import annotations

import socket

import pytest
from django.core import mail
from django.urls import reverse

from crm.models import Activity, Quote, QuoteState
from crm.services.customers import contact_create
from crm.services.opportunities import opportunity_create
from crm.services.quotes import opportunity_line_add, quote_create, quote_reject, quote_send
from crm.tests.factories import AccountFactory
from erp.tests.catalogue import catalogue_product
from suite.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def quote(company, sales_user):
    account = AccountFactory(company=company, by=sales_user, name="常州恒力液压件厂")
    contact = contact_create(
        company=company, by=sales_user, name="郭先生", account=account, email="guo@hengli.example.cn"
    )
    opportunity = opportunity_create(
        company=company, by=sales_user, name="液压站改造", account=account, contact=contact
    )
    product = catalogue_product(company, sku="PUMP-32", name="柱塞泵 A10VSO", list_price="5200", on_hand="10")
    opportunity_line_add(opportunity=opportunity, by=sales_user, product_id=product.pk, quantity="2")
    return quote_create(opportunity=opportunity, by=sales_user)


@pytest.fixture
def browser(client, sales):
    sales.user.email = "zhangsan@troika.example.cn"
    sales.user.save()
    client.cookies["django_language"] = "en"
    client.force_login(sales.user)
    return client


def _post(browser, quote, **fields):
    data = {"to": "guo@hengli.example.cn", "cc": "", "subject": "报价单", "message": "请查收。", **fields}
    return browser.post(reverse("crm:quote-email", args=[quote.pk]), data, follow=True)


def test_the_form_is_filled_in_and_sending_mails_the_pdf(browser, quote):
    form = browser.get(reverse("crm:quote-email", args=[quote.pk])).content.decode()
    assert 'value="guo@hengli.example.cn"' in form and quote.display_number in form and "郭先生" in form
    for page_url in (reverse("crm:opportunity-detail", args=[quote.opportunity_id]), reverse("crm:quote-list")):
        assert reverse("crm:quote-email", args=[quote.pk]) in browser.get(page_url).content.decode()

    response = _post(browser, quote, cc="boss@hengli.example.cn; buyer@hengli.example.cn")
    assert f"Quote {quote.display_number} was e-mailed" in response.content.decode()
    (sent,) = mail.outbox
    assert (sent.to, sent.cc, sent.reply_to, sent.subject) == (
        ["guo@hengli.example.cn"],
        ["boss@hengli.example.cn", "buyer@hengli.example.cn"],
        ["zhangsan@troika.example.cn"],
        "报价单",
    )
    ((name, content, mimetype),) = sent.attachments
    assert (name, mimetype) == (f"{quote.display_number}.pdf", "application/pdf") and content.startswith(b"%PDF")
    quote.refresh_from_db()
    assert quote.state == QuoteState.SENT and quote.sent_at is not None
    note = Activity.objects.get(opportunity=quote.opportunity)
    assert "guo@hengli.example.cn" in note.subject and "请查收" in note.body and note.done_at is not None
    assert (note.kind, note.email_to, note.email_cc) == (
        "email",
        "guo@hengli.example.cn",
        "boss@hengli.example.cn, buyer@hengli.example.cn",
    )

    # A sent quote may be sent again (a reminder): a second mail, still sent.
    _post(browser, quote, to="guo@hengli.example.cn")
    assert len(mail.outbox) == 2


def test_bad_addresses_and_an_empty_subject_change_nothing(browser, quote):
    page = _post(browser, quote, to="guo@, not-an-address", cc="ok@example.cn").content.decode()
    assert "Not an e-mail address: guo@, not-an-address" in page
    assert "This field is required." in _post(browser, quote, subject="  ").content.decode()
    assert _post(browser, quote, to="").status_code == 200
    assert not mail.outbox and not Activity.objects.exists()
    assert Quote.objects.get(pk=quote.pk).state == QuoteState.DRAFT


def test_a_mail_server_that_cannot_be_reached_rolls_everything_back(browser, quote, settings):
    with socket.socket() as probe:  # a port nothing listens on: the real SMTP client fails to connect
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    page = _post(browser, quote).content.decode()
    assert "The mail server did not take the e-mail" in page
    assert Quote.objects.get(pk=quote.pk).state == QuoteState.DRAFT and Quote.objects.get(pk=quote.pk).sent_at is None
    assert not Activity.objects.exists()


def test_a_decided_quote_is_refused_and_others_cannot_see_it(
    browser, quote, sales_user, company, member, other_company
):
    quote_send(quote=quote, by=sales_user)
    quote_reject(quote=quote, by=sales_user)
    assert "Only a draft quote can be sent" in _post(browser, quote).content.decode()
    assert not mail.outbox

    outsider = member(company, Role.SALES, username="lisi")  # another salesperson, not in the deal's team
    browser.force_login(outsider.user)
    assert browser.get(reverse("crm:quote-email", args=[quote.pk])).status_code == 404
    stranger = member(other_company, Role.ADMIN, username="wang.other")
    browser.force_login(stranger.user)
    assert browser.post(reverse("crm:quote-email", args=[quote.pk]), {"to": "x@example.cn"}).status_code == 404
    assert not mail.outbox


def test_the_api_emails_a_quote_with_field_errors_and_a_503_when_the_server_refuses(quote, sales, api_client, settings):
    client = api_client(sales)
    url = f"/api/v1/crm/quotes/{quote.pk}/email/"
    bad = client.post(url, {"to": "guo@", "subject": ""}, format="json")
    assert bad.status_code == 400
    assert {e["field"] for e in bad.json()["errors"]} == {"subject"}
    bad_address = client.post(url, {"to": "guo@", "subject": "报价单"}, format="json")
    assert bad_address.status_code == 400 and bad_address.json()["errors"][0]["field"] == "to"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    refused = client.post(url, {"to": "guo@hengli.example.cn", "subject": "报价单"}, format="json")
    assert refused.status_code == 503 and refused.json()["errors"][0]["code"] == "mail_refused"
    assert Quote.objects.get(pk=quote.pk).state == QuoteState.DRAFT

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sent = client.post(url, {"to": "guo@hengli.example.cn", "subject": "报价单", "message": "请查收"}, format="json")
    assert sent.status_code == 200 and sent.json()["state"] == "sent"
    assert mail.outbox[0].to == ["guo@hengli.example.cn"] and len(mail.outbox[0].attachments) == 1
