"""Notifications in the reader's language: the site remembers the language each person logs in and switches to,
and a notification written as a function is written once per language, each recipient reading theirs."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from suite.models import Membership, Notification, Role
from suite.services.notifications import notification_send
from suite.testing import web_client

pytestmark = pytest.mark.django_db


def test_the_language_one_logs_in_and_switches_to_is_remembered_on_every_membership(company, other_company, member):
    person = member(company, Role.SALES, username="li.sales")
    person.user.set_password("troika-demo-1")
    person.user.save()
    Membership.objects.create(user=person.user, company=other_company, role=Role.ADMIN)
    client = Client()
    client.cookies["django_language"] = "en"

    client.post(reverse("login"), {"username": "li.sales", "password": "troika-demo-1"})
    assert set(Membership.objects.filter(user=person.user).values_list("language", flat=True)) == {"en"}
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert set(Membership.objects.filter(user=person.user).values_list("language", flat=True)) == {"zh-hans"}
    client.post(reverse("set_language"), {"language": "xx", "next": "/"})  # not a language of the site
    assert set(Membership.objects.filter(user=person.user).values_list("language", flat=True)) == {"zh-hans"}


def test_a_language_change_is_not_an_audited_change_of_the_membership(company, member):
    import pghistory.models

    person = member(company, Role.SALES)
    before = pghistory.models.Events.objects.tracks(person).count()

    web_client(person).post(reverse("set_language"), {"language": "en", "next": "/"})

    assert Membership.objects.get(pk=person.pk).language == "en"
    assert pghistory.models.Events.objects.tracks(person).count() == before


def test_each_recipient_reads_a_written_function_in_their_language(company, member):
    english, chinese, unknown = member(company), member(company), member(company)
    Membership.objects.filter(pk=english.pk).update(language="en")
    Membership.objects.filter(pk=chinese.pk).update(language="zh-hans")

    with translation.override("en"):  # the writer works in English
        notification_send(
            recipients=[english.user, chinese.user, unknown.user],
            company=company,
            title=lambda: _("Notifications"),
            body=lambda: _("Following"),
        )
        notification_send(recipients=[chinese.user], company=company, title=_("Notifications"))  # plain text

    titles = dict(Notification.objects.filter(body__gt="").values_list("recipient_id", "title"))
    assert titles == {english.user.pk: "Notifications", chinese.user.pk: "通知", unknown.user.pk: "Notifications"}
    assert Notification.objects.get(recipient=chinese.user, body="我的关注").title == "通知"
    assert Notification.objects.filter(recipient=chinese.user, body="").get().title == "Notifications"
