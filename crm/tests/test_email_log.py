"""E-mails logged by a Bcc copy (邮件归档): the mail gateway posts the copy a salesperson's mail program sent to the
company's logging address; it lands on the customers' timelines as a done e-mail of its sender — once, only on
customers the sender may see — and anything else is a clear 4xx."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from django.test import Client

from crm import selectors
from crm.models import Activity
from crm.services.customers import contact_create
from crm.services.tickets import inbound_token_issue
from crm.tests.factories import AccountFactory
from suite.models import Notification, Role
from suite.policy import Actor

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("crm_enabled")]

URL = "/api/v1/crm/activities/inbound-email/"


@pytest.fixture
def people(company, member, team):
    seller = member(company, Role.SALES, teams=[team], username="seller", first_name="芳", last_name="王")
    seller.user.email = "Wang.Fang@troika.example.com"
    seller.user.save()
    other = member(company, Role.SALES, username="other", first_name="伟", last_name="张")
    other.user.email = "zhang.wei@troika.example.com"
    other.user.save()
    return seller, other


@pytest.fixture
def token(company):
    return inbound_token_issue(company=company, name="mail gateway", by=None).secret


def copy(*, to: str, cc: str = "", sender: str = "王芳 <wang.fang@troika.example.com>", message_id="<a1@mail.troika>"):
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = "液压站报价 @张伟"
    message["Date"] = "Mon, 30 Nov 2026 09:15:00 +0800"
    if message_id:
        message["Message-ID"] = message_id
    message.set_content("郭先生您好：\n报价见附件。")
    message.add_alternative("<p>郭先生您好：<br>报价见附件。</p>", subtype="html")
    return message.as_bytes()


def post(raw: bytes, token: str):
    return Client().post(URL, raw, content_type="message/rfc822", HTTP_X_TROIKA_INBOUND_TOKEN=token)


def test_a_bcc_copy_is_logged_on_each_customer_the_sender_may_see(company, people, token, other_company, member):
    seller, other = people
    account = AccountFactory(company=company, by=seller.user, name="常州恒力液压件厂", email="info@hengli.example.com")
    guo = contact_create(
        company=company, by=seller.user, name="郭先生", account=account, email="guo@hengli.example.com"
    )
    theirs = contact_create(company=company, by=other.user, name="李工", email="li@other.example.com")  # not hers
    foreign = AccountFactory(company=other_company, by=member(other_company, Role.SALES).user, email="x@y.example.com")

    response = post(
        copy(
            to="郭先生 <GUO@hengli.example.com>, info@hengli.example.com",
            cc="li@other.example.com, x@y.example.com, 张伟 <zhang.wei@troika.example.com>, stranger@example.com",
        ),
        token,
    )

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["duplicate"] is False
    assert data["unknown"] == ["li@other.example.com", "x@y.example.com", "stranger@example.com"]  # not a colleague
    on_contact, on_account = Activity.objects.filter(pk__in=data["activities"]).order_by("pk")
    assert (on_contact.contact, on_contact.account, on_account.account, on_account.contact) == (
        guo,
        account,
        account,
        None,
    )
    assert (on_contact.kind, on_contact.owner, on_contact.subject) == ("email", seller.user, "液压站报价 @张伟")
    assert on_contact.body == "郭先生您好：\n报价见附件。"  # the plain part
    assert on_contact.done_at.isoformat() == "2026-11-30T01:15:00+00:00"  # the Date header
    assert on_contact.email_to == "guo@hengli.example.com, info@hengli.example.com"
    assert "zhang.wei@troika.example.com" in on_contact.email_cc
    assert (
        not Activity.objects.filter(contact=theirs).exists() and not Activity.objects.filter(account=foreign).exists()
    )
    assert not Notification.objects.exists()  # an "@name" in an e-mail tells no colleague
    assert selectors.customer_360(Actor(seller), account).figures.last_contact_at == on_contact.done_at


def test_a_copy_delivered_twice_is_logged_once(company, people, token):
    seller, _other = people
    contact_create(company=company, by=seller.user, name="郭先生", email="guo@hengli.example.com")

    first = post(copy(to="guo@hengli.example.com"), token)
    again = post(copy(to="guo@hengli.example.com"), token)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {**first.json(), "duplicate": True, "unknown": []}
    assert Activity.objects.filter(kind="email").count() == 1


@pytest.mark.parametrize(
    "raw,field",
    [
        (lambda: copy(to="guo@hengli.example.com", sender="someone@elsewhere.example.com"), "from"),
        (lambda: copy(to="zhang.wei@troika.example.com"), "to"),  # only colleagues
        (lambda: copy(to="undisclosed-recipients:;"), "to"),
        (lambda: b"From: wang.fang@troika.example.com\r\nTo: guo@hengli.example.com\r\n\r\n", "message"),
    ],
)
def test_what_cannot_be_logged_is_a_field_error_and_logs_nothing(company, people, token, raw, field, english):
    response = post(raw(), token)

    assert response.status_code == 400, response.content
    assert [error["field"] for error in response.json()["errors"]] == [field]
    assert not Activity.objects.exists()


def test_without_the_companys_token_nothing_is_read(company, people, token):
    raw = copy(to="guo@hengli.example.com")

    assert Client().post(URL, raw, content_type="message/rfc822").status_code == 401
    assert post(raw, "tin_wrong").status_code == 401
    assert post(b"  ", token).status_code == 400
    assert not Activity.objects.exists()
