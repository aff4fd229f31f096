"""E-mailing a customer from the CRM: the mail goes to the person with the salesperson as reply-to and is on the
record's timeline as a done e-mail (the 360 page's "last contact" counts it) — or, on bad input or a mail server
that refuses, nothing is logged and the form or the API says why."""

from __future__ import annotations

import socket

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm import selectors
from crm.models import Activity, ReplyTemplate
from crm.services.activities import activity_reopen
from crm.services.customer_mail import customer_email
from crm.services.customers import contact_create
from crm.services.mail import MailRefused
from crm.services.opportunities import opportunity_create
from crm.services.replies import reply_template_create
from crm.tests.factories import AccountFactory
from suite.models import Notification, Role
from suite.policy import Actor
from suite.testing import web_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("crm_enabled")]


@pytest.fixture
def seller(sales):
    sales.user.email = "zhangsan@troika.example.cn"
    sales.user.first_name, sales.user.last_name = "三", "张"
    sales.user.save()
    return sales


@pytest.fixture
def contact(company, seller):
    account = AccountFactory(company=company, by=seller.user, name="常州恒力液压件厂", email="info@hengli.example.cn")
    return contact_create(
        company=company, by=seller.user, name="郭先生", account=account, email="guo@hengli.example.cn"
    )


@pytest.fixture
def unreachable_mail_server(settings):
    with socket.socket() as probe:  # a port nothing listens on: the real SMTP client fails to connect
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5


def test_an_email_goes_to_the_person_and_is_logged_on_the_customer(company, seller, contact, member):
    colleague = member(company, Role.SALES, first_name="伟", last_name="王")

    activity = customer_email(
        company=company,
        by=seller.user,
        record=contact,
        to="guo@hengli.example.cn",
        cc="boss@hengli.example.cn; buyer@hengli.example.cn",
        subject="  设备  交付 安排 ",
        message="郭先生您好：\n下周二发货。@王伟 请准备单据。",
    )

    (sent,) = mail.outbox
    assert (sent.to, sent.cc, sent.reply_to, sent.subject) == (
        ["guo@hengli.example.cn"],
        ["boss@hengli.example.cn", "buyer@hengli.example.cn"],
        ["zhangsan@troika.example.cn"],
        "设备 交付 安排",
    )
    assert "下周二发货" in sent.body
    activity.refresh_from_db()
    assert (activity.kind, activity.owner, activity.contact, activity.account) == (
        "email",
        seller.user,
        contact,
        contact.account,
    )
    assert activity.done_at is not None and activity.subject == "设备 交付 安排"
    assert (activity.email_to, activity.email_cc) == (
        "guo@hengli.example.cn",
        "boss@hengli.example.cn, buyer@hengli.example.cn",
    )
    # the text is the customer's: an "@name" in it tells no colleague
    assert not Notification.objects.filter(recipient=colleague.user).exists()
    # a sent e-mail stays sent
    with pytest.raises(ValidationError):
        activity_reopen(activity=activity, by=seller.user)


@pytest.mark.parametrize(
    "fields,errors",
    [
        ({"to": "guo@, not-an-address"}, {"to"}),
        ({"to": ""}, {"to"}),
        ({"cc": ",".join(f"p{n}@example.cn" for n in range(11))}, {"cc"}),
        ({"subject": "  "}, {"subject"}),
        ({"message": " "}, {"message"}),
        ({"to": "x", "subject": ""}, {"to", "subject"}),
    ],
)
def test_bad_input_is_a_field_error_and_nothing_is_sent_or_logged(company, seller, contact, fields, errors):
    arguments = {"to": "guo@hengli.example.cn", "cc": "", "subject": "交付", "message": "您好", **fields}

    with pytest.raises(ValidationError) as error:
        customer_email(company=company, by=seller.user, record=contact, **arguments)

    assert set(error.value.message_dict) == errors
    assert not mail.outbox and not Activity.objects.filter(kind="email").exists()


def test_a_mail_server_that_cannot_be_reached_logs_nothing(company, seller, contact, unreachable_mail_server):
    with pytest.raises(MailRefused):
        customer_email(
            company=company, by=seller.user, record=contact, to="guo@hengli.example.cn", subject="交付", message="您好"
        )

    assert not Activity.objects.filter(kind="email").exists()


def test_the_email_counts_as_the_last_contact_and_shows_on_the_timeline(company, seller, contact):
    customer_email(
        company=company, by=seller.user, record=contact, to="guo@hengli.example.cn", subject="交付", message="您好"
    )
    actor = Actor(seller)

    view = selectors.customer_360(actor, contact.account)

    assert view.figures.last_contact_at is not None
    entry = next(entry for entry in view.timeline.entries if entry.title == "交付")
    assert "guo@hengli.example.cn" in entry.detail


def test_the_page_fills_the_address_and_a_greeting_and_sends(company, seller, contact, member, english):
    client = web_client(seller, language="en")
    url = f"{reverse('crm:customer-email')}?contact={contact.pk}"

    form = client.get(url).content.decode()
    assert 'value="guo@hengli.example.cn"' in form and "Dear 郭先生," in form and "张三" in form
    detail = client.get(reverse("crm:contact-detail", args=[contact.pk])).content.decode()
    assert url in detail  # the contact's page offers it

    page = client.post(
        url,
        {"to": "guo@hengli.example.cn", "cc": "", "subject": "交付", "message": "您好", "contact": contact.pk},
        follow=True,
    )
    assert "E-mail sent to guo@hengli.example.cn." in page.content.decode()
    assert page.redirect_chain[-1][0] == reverse("crm:contact-detail", args=[contact.pk])
    assert len(mail.outbox) == 1

    again = client.post(url, {"to": "nobody", "subject": "交付", "message": "您好"}).content.decode()
    assert "Not an e-mail address: nobody" in again and len(mail.outbox) == 1

    # another salesperson's customer does not exist for a colleague
    stranger = web_client(member(company, Role.SALES), language="en")
    assert stranger.get(url).status_code == 404


def test_a_deals_email_goes_to_its_contact(company, seller, contact, english):
    deal = opportunity_create(
        company=company, by=seller.user, name="液压站改造", account=contact.account, contact=contact
    )
    form = web_client(seller).get(f"{reverse('crm:customer-email')}?opportunity={deal.pk}").content.decode()
    assert 'value="guo@hengli.example.cn"' in form and 'value="液压站改造"' in form


def test_the_api_sends_and_logs_or_says_what_is_wrong(
    company, seller, contact, api_client, other_company, member, unreachable_mail_server, settings
):
    client = api_client(seller)
    body = {"to": "guo@hengli.example.cn", "subject": "交付", "message": "您好", "contact": contact.pk}

    refused = client.post("/api/v1/crm/activities/email/", body, format="json")
    assert refused.status_code == 503 and refused.json()["errors"][0]["code"] == "mail_refused"
    assert not Activity.objects.filter(kind="email").exists()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    sent = client.post("/api/v1/crm/activities/email/", body, format="json")
    assert sent.status_code == 201, sent.content
    assert (sent.json()["kind"], sent.json()["email_to"]) == ("email", "guo@hengli.example.cn")
    assert len(mail.outbox) == 1

    two = client.post("/api/v1/crm/activities/email/", {**body, "account": contact.account_id}, format="json")
    none = client.post(
        "/api/v1/crm/activities/email/", {k: v for k, v in body.items() if k != "contact"}, format="json"
    )
    bad = client.post("/api/v1/crm/activities/email/", {**body, "to": "x"}, format="json")
    foreign = AccountFactory(company=other_company, by=member(other_company, Role.SALES).user)
    elsewhere = client.post(
        "/api/v1/crm/activities/email/",
        {k: v for k, v in {**body, "account": foreign.pk}.items() if k != "contact"},
        format="json",
    )
    for response, field in ((two, "account"), (none, "account"), (bad, "to"), (elsewhere, "account")):
        assert response.status_code == 400, response.content
        assert [error["field"] for error in response.json()["errors"]] == [field], response.content
    assert len(mail.outbox) == 1 and Activity.objects.filter(kind="email").count() == 1


def test_a_reply_template_is_filled_in_for_the_customer(company, seller, contact, english):
    template = reply_template_create(
        company=company,
        actor=Actor(seller),
        shared=False,
        title="报价跟进",
        body="{contact}您好，{customer}的报价请查收。{agent}",
    )
    client = web_client(seller, language="en")
    form = client.get(f"{reverse('crm:customer-email')}?contact={contact.pk}").content.decode()
    assert 'data-testid="email-template"' in form and "报价跟进" in form

    box = client.get(
        reverse("crm:customer-email-fill"), {"contact": contact.pk, "template": template.pk, "message": "早上好"}
    ).content.decode()
    assert box.startswith("<textarea") and 'name="message"' in box and 'id="id_message"' in box
    assert "早上好\n\n郭先生您好，常州恒力液压件厂的报价请查收。张三" in box
    assert ReplyTemplate.objects.get(pk=template.pk).usage_count == 1

    sent = client.post(
        f"{reverse('crm:customer-email')}?contact={contact.pk}",
        {"to": "guo@hengli.example.cn", "subject": "报价", "message": "您好", "template": template.pk},
    )
    assert sent.status_code == 302 and len(mail.outbox) == 1
