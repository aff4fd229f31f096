"""The public support form (a web form of kind "ticket"): the customer's request becomes a ticket on the web
channel, matched to the contact by e-mail or phone, with the same spam checks as the web-to-lead form."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm.models import Ticket, TicketChannel, WebForm
from crm.services.customers import contact_create
from crm.services.tickets import ticket_category_create
from crm.services.webforms import form_token_issue, web_form_create
from crm.tests.factories import AccountFactory
from crm.tests.test_views_customers import browser
from suite.models import Module, Role

pytestmark = pytest.mark.django_db
IP = "203.0.113.9"


@pytest.fixture
def category(company):
    return ticket_category_create(company=company, by=None, name="设备故障")


@pytest.fixture
def support_form(company, category):
    form = web_form_create(
        company=company,
        by=None,
        kind="ticket",
        name="售后报修",
        title="设备报修",
        fields=["name", "email", "phone", "company_name", "subject", "description"],
        required_fields=["subject", "description"],
        ticket_category=category,
    )
    cache.delete(f"crm:webform:{form.pk}:{IP}")
    return form


def _post(client, form, *, age=10, **fields):
    data = {
        "name": "刘工",
        "email": "Liu@Mingyuan.example",
        "phone": "",
        "company_name": "",
        "subject": "冷库压缩机报警",
        "description": "E3 报警，温度升到 -5℃",
        "website_url": "",
        "form_token": form_token_issue(form, now=time.time() - age),
        **fields,
    }
    return client.post(reverse("crm:web-form", args=[form.key]), data, REMOTE_ADDR=IP)


def test_a_customers_request_becomes_a_ticket_of_their_contact(client, company, member, support_form, category):
    sales = member(company, Role.SALES)
    account = AccountFactory(company=company, by=sales.user, name="明远科技")
    contact = contact_create(
        company=company, by=sales.user, name="刘工", email="liu@mingyuan.example", account=account, force=True
    )
    page = client.get(reverse("crm:web-form", args=[support_form.key])).content.decode()
    assert 'name="subject"' in page and 'name="description"' in page and 'name="website_url"' in page

    response = _post(client, support_form)
    assert response.status_code == 200
    ticket = Ticket.objects.get(company=company)
    assert f"#{ticket.number}" in response.content.decode()  # the receipt
    assert (ticket.channel, ticket.subject, ticket.category_id) == (TicketChannel.WEB, "冷库压缩机报警", category.pk)
    assert (ticket.contact_id, ticket.account_id, ticket.requester_email) == (
        contact.pk,
        account.pk,
        "liu@mingyuan.example",
    )
    assert "E3 报警" in ticket.description


def test_an_unknown_sender_by_phone_keeps_phone_and_company_in_the_description(client, company, support_form):
    response = _post(client, support_form, email="", phone="139 0000 1234", company_name="新客户有限公司")
    assert response.status_code == 200
    ticket = Ticket.objects.get(company=company)
    assert ticket.contact_id is None
    assert "+8613900001234" in ticket.description and "新客户有限公司" in ticket.description


def test_bad_input_and_spam_make_no_ticket(client, company, support_form, english):
    cases = [
        ({"subject": ""}, 400),
        ({"email": "", "phone": ""}, 400),  # nowhere to answer
        ({"email": "", "phone": "12345"}, 400),  # a phone that is not one
        ({"age": 0}, 400),  # faster than a person
        ({"form_token": "forged"}, 400),
    ]
    for fields, status in cases:
        age = fields.pop("age", 10)
        assert _post(client, support_form, age=age, **fields).status_code == status, fields
    assert _post(client, support_form, website_url="http://spam.example").status_code == 200  # honeypot: thanked
    assert not Ticket.objects.filter(company=company).exists()
    for _ in range(5):  # the per-IP limit counts every checked submission
        _post(client, support_form)
    assert _post(client, support_form).status_code == 429


def test_a_support_form_must_ask_the_subject_and_a_way_to_answer(company):
    with pytest.raises(ValidationError) as caught:
        web_form_create(company=company, by=None, kind="ticket", name="x", title="x", fields=["name", "subject"])
    assert "fields" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        web_form_create(company=company, by=None, kind="ticket", name="y", title="y", fields=["industry", "email"])
    assert "fields" in caught.value.message_dict


def test_an_admin_configures_a_support_form_in_the_browser(company, member, category):
    company.enabled_modules = [Module.CRM]
    company.save()
    admin = browser(member(company, Role.ADMIN, username="admin_forms"))
    data = {
        "name": "售后报修",
        "kind": "ticket",
        "title": "设备报修",
        "fields": ["name", "email", "subject", "description"],
        "required_fields": ["subject"],
        "source": "website",
        "ticket_category": category.pk,
        "is_active": "on",
    }
    response = admin.post(reverse("crm:web-form-create"), data)
    assert response.status_code == 302
    form = WebForm.objects.get(company=company, name="售后报修")
    assert (form.kind, form.ticket_category_id, form.fields) == ("ticket", category.pk, data["fields"])
