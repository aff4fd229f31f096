"""E-mailing a customer in real Chromium: a salesperson opens a contact, *Send e-mail* has the address and a
greeting filled in, a reply template is inserted filled in for the customer (htmx), a bad address is named on the
form, and once sent the e-mail is on the customer's timeline."""

import pytest
from django.core import mail
from playwright.sync_api import expect

from crm.services.customers import account_create, contact_create
from crm.services.replies import reply_template_create
from suite.models import Membership, Module, Role
from suite.policy import Actor
from suite.testing import CompanyFactory, UserFactory
from tests.browser.test_crm_journey import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_salesperson_emails_a_contact_with_a_reply_template(live_server, browser):
    company = CompanyFactory(name="华东机械装备有限公司", code="mailing", enabled_modules=[Module.CRM])
    seller = UserFactory(username="wang.sales", first_name="芳", last_name="王", email="wangfang@troika.example.com")
    membership = Membership.objects.create(user=seller, company=company, role=Role.SALES)
    account = account_create(company=company, by=seller, name="常州恒力液压件厂", city="常州")
    contact = contact_create(company=company, by=seller, name="郭先生", account=account, email="guo@hengli.example.com")
    reply_template_create(
        company=company, actor=Actor(membership), title="报价跟进", body="{customer}的报价已发出，请查收。"
    )

    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    try:
        log_in(page, live_server.url, "wang.sales")
        page.goto(f"{live_server.url}/crm/contacts/{contact.pk}/")
        page.get_by_role("link", name="Send e-mail").click()
        expect(page.get_by_label("To", exact=True)).to_have_value("guo@hengli.example.com")
        message = page.get_by_label("Message")
        expect(message).to_have_value("Dear 郭先生,\n\n\n\nKind regards,\n王芳")

        page.get_by_label("Subject").fill("液压站报价")
        # htmx: the template's text goes between the greeting and the signature, filled in for the customer
        page.get_by_test_id("email-template").select_option(label="报价跟进")
        expect(page.get_by_label("Message")).to_have_value(
            "Dear 郭先生,\n\n常州恒力液压件厂的报价已发出，请查收。\n\nKind regards,\n王芳"
        )
        page.get_by_label("Cc", exact=True).fill("boss@, buyer@hengli.example.com")
        page.get_by_role("button", name="Send").click()
        expect(page.get_by_text("Not an e-mail address: boss@")).to_be_visible()  # nothing sent, the text kept
        expect(page.get_by_label("Message")).to_contain_text("的报价已发出")
        assert mail.outbox == []

        page.get_by_label("Cc", exact=True).fill("buyer@hengli.example.com")
        page.get_by_role("button", name="Send").click()
        expect(page.get_by_text("E-mail sent to guo@hengli.example.com.")).to_be_visible()
        expect(page.get_by_text("王芳 to guo@hengli.example.com")).to_be_visible()  # on the customer's timeline
        page.screenshot(path="/tmp/troika-crm-email.png", full_page=True)
    finally:
        context.close()
    (sent,) = mail.outbox
    assert (sent.to, sent.cc, sent.reply_to, sent.subject) == (
        ["guo@hengli.example.com"],
        ["buyer@hengli.example.com"],
        ["wangfang@troika.example.com"],
        "液压站报价",
    )
    assert "常州恒力液压件厂的报价已发出" in sent.body
