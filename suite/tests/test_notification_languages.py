"""Notifications in the reader's language: the site remembers the language each person logs in and switches to,
and a notification written as a function is written once per language, each recipient reading theirs."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from suite.models import Membership, Notification, Role
from suite.services.notifications import COUNT, notification_send, notifications_coalesce, notifications_send_each
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


def test_send_each_writes_functions_once_per_language_in_its_one_membership_check(
    company, member, django_assert_num_queries
):
    english, chinese, unknown = member(company), member(company), member(company)
    Membership.objects.filter(pk=english.pk).update(language="en")
    Membership.objects.filter(pk=chinese.pk).update(language="zh-hans")
    people = (english, chinese, unknown)
    written_in = []

    def title():  # one function for every item: written once per language, not once per item
        written_in.append(translation.get_language())
        return _("Notifications")

    with translation.override("en"), django_assert_num_queries(2):  # plain text: the membership check, the insert
        notifications_send_each(company=company, items=[{"recipient_id": m.user_id, "title": "纯文本"} for m in people])
    functions = [{"recipient_id": m.user_id, "title": title, "body": lambda: _("Following")} for m in people]
    with translation.override("en"), django_assert_num_queries(2):  # functions: the same two — the check reads
        assert notifications_send_each(company=company, items=functions) == 3  # the languages

    assert sorted(written_in) == ["en", "zh-hans"]
    assert set(Notification.objects.filter(body__gt="").values_list("recipient_id", "title", "body")) == {
        (english.user_id, "Notifications", "Following"),
        (chinese.user_id, "通知", "我的关注"),
        (unknown.user_id, "Notifications", "Following"),  # never used the site: the sender's language
    }
    assert set(Notification.objects.filter(body="").values_list("title", flat=True)) == {"纯文本"}


def test_coalesce_writes_each_language_and_keeps_the_count_where_the_translation_puts_it(
    company, member, django_assert_num_queries
):
    english, chinese = member(company), member(company)
    Membership.objects.filter(pk=english.pk).update(language="en")
    Membership.objects.filter(pk=chinese.pk).update(language="zh-hans")

    def many():  # the count's sentinel goes through the translation, then becomes the marker
        return (_("%(count)d new messages from %(name)s") % {"count": 987654321, "name": "李娜"}).replace(
            "987654321", COUNT, 1
        )

    def alerts(key: str, count: int = 1) -> list[dict]:
        return [
            {
                "recipient_id": m.user_id,
                "key": key,
                "count": count,
                "title": lambda: _("New message from %(name)s") % {"name": "李娜"},
                "title_many": many,
                "body": "你好",
            }
            for m in (english, chinese)
        ]

    def titles(key: str) -> dict:
        return dict(Notification.objects.filter(key=key).values_list("recipient_id", "title"))

    plain = [{**alert, "title": "新消息", "title_many": f"{COUNT} 条新消息"} for alert in alerts("plain")]
    with django_assert_num_queries(3):  # plain text: the membership check, the UPDATE, the INSERT
        assert notifications_coalesce(company=company, items=plain) == 2
    with translation.override("zh-hans"), django_assert_num_queries(3):  # functions: the same three
        assert notifications_coalesce(company=company, items=alerts("a")) == 2
    assert titles("a") == {english.user_id: "New message from 李娜", chinese.user_id: "来自 李娜 的新消息"}
    with translation.override("en"):
        notifications_coalesce(company=company, items=alerts("a", count=2))  # updated in place (SQL writes the count)
        notifications_coalesce(company=company, items=alerts("b") + alerts("b"))  # inserted with count 2
    assert titles("a") == {english.user_id: "3 new messages from 李娜", chinese.user_id: "来自 李娜 的 3 条新消息"}
    assert titles("b") == {english.user_id: "2 new messages from 李娜", chinese.user_id: "来自 李娜 的 2 条新消息"}
    assert titles("plain") == {english.user_id: "新消息", chinese.user_id: "新消息"}
