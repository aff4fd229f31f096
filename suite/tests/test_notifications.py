"""Notifications: sending, marking read, the bell, the list page and the API — always only one's own."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from suite.models import Membership, Notification, Role
from suite.services.notifications import notification_mark_read, notification_send, notifications_send_each

pytestmark = pytest.mark.django_db

API = "/api/v1/suite/notifications/"


def test_send_creates_one_unread_notification_per_member(company, member):
    a, b = member(company, Role.SALES), member(company, Role.FINANCE)

    sent = notification_send(
        recipients=[a.user, b.user.pk, a.user], company=company, title="  月结提醒  ", body="请核对", link="/erp/"
    )

    assert len(sent) == 2
    assert set(Notification.objects.values_list("recipient_id", "title", "read_at")) == {
        (a.user.pk, "月结提醒", None),
        (b.user.pk, "月结提醒", None),
    }


def test_send_refuses_non_members_bad_links_and_empty_titles(company, other_company, member):
    insider = member(company, Role.SALES)
    outsider = member(other_company, Role.SALES)

    with pytest.raises(ValidationError) as error:
        notification_send(recipients=[insider.user, outsider.user], company=company, title="t")
    assert "recipients" in error.value.message_dict
    with pytest.raises(ValidationError):
        notification_send(recipients=[insider.user], company=company, title="   ")
    with pytest.raises(ValidationError):
        notification_send(recipients=[insider.user], company=company, title="t", level="shout")
    assert Notification.objects.count() == 0


def test_inactive_members_are_not_recipients(company, member):
    gone = member(company, Role.SALES)
    Membership.objects.filter(pk=gone.pk).update(is_active=False)

    with pytest.raises(ValidationError):
        notification_send(recipients=[gone.user], company=company, title="t")


def test_send_each_can_leave_out_non_members_in_its_one_membership_check(
    company, other_company, member, django_assert_num_queries
):
    insider = member(company, Role.SALES)
    outsider = member(other_company, Role.SALES)
    gone = member(company, Role.SALES)
    Membership.objects.filter(pk=gone.pk).update(is_active=False)
    items = [{"recipient_id": m.user_id, "title": "订单已确认"} for m in (insider, outsider, gone)]

    with pytest.raises(ValidationError):
        notifications_send_each(company=company, items=items)
    assert Notification.objects.count() == 0
    with django_assert_num_queries(2):  # the membership check, the insert
        assert notifications_send_each(company=company, items=items, skip_non_members=True) == 1
    assert list(Notification.objects.values_list("recipient_id", "company_id")) == [(insider.user_id, company.pk)]
    with django_assert_num_queries(1):  # nobody left: nothing inserted
        assert notifications_send_each(company=company, items=items[1:], skip_non_members=True) == 0
    assert Notification.objects.count() == 1


def test_mark_read_touches_only_my_notifications_in_that_company(company, other_company, member):
    me, colleague = member(company, Role.SALES), member(company, Role.SALES)
    Membership.objects.create(user=me.user, company=other_company, role=Role.SALES)
    mine = notification_send(recipients=[me.user], company=company, title="mine")[0]
    other_company_mine = notification_send(recipients=[me.user], company=other_company, title="elsewhere")[0]
    theirs = notification_send(recipients=[colleague.user], company=company, title="theirs")[0]

    assert notification_mark_read(user=me.user, company=company, ids=[mine.pk, theirs.pk]) == 1
    assert notification_mark_read(user=me.user, company=company, ids=[mine.pk]) == 0  # already read
    assert notification_mark_read(user=me.user, company=company) == 0
    assert notification_mark_read(user=me.user, company=company, ids=[]) == 0

    read = dict(Notification.objects.values_list("pk", "read_at"))
    assert read[mine.pk] is not None
    assert read[theirs.pk] is None and read[other_company_mine.pk] is None


def test_bell_counts_unread_and_the_list_marks_read(company, member):
    me = member(company, Role.SALES)
    first, _ = (notification_send(recipients=[me.user], company=company, title=t)[0] for t in ("one", "two"))
    client = Client()
    client.cookies["django_language"] = "en"
    client.force_login(me.user)

    bell = client.get(reverse("notifications-bell"), HTTP_HX_REQUEST="true")
    assert bell.status_code == 200
    assert 'aria-label="Notifications, 2 unread"' in bell.content.decode()
    assert bell["Cache-Control"].startswith("max-age=0")

    partial = client.post(reverse("notification-read", args=[first.pk]), HTTP_HX_REQUEST="true")
    html = partial.content.decode()
    assert f'id="notification-{first.pk}"' in html
    assert 'hx-swap-oob="true"' in html and "Notifications, 1 unread" in html

    assert client.post(reverse("notifications-read-all")).status_code == 302
    assert Notification.objects.filter(read_at__isnull=True).count() == 0
    listing = client.get(reverse("notifications")).content.decode()
    assert "one" in listing and "two" in listing


def test_open_marks_read_and_follows_the_link(company, member):
    me = member(company, Role.SALES)
    notification = notification_send(recipients=[me.user], company=company, title="t", link="/directory/?q=x")[0]
    client = Client()
    client.force_login(me.user)

    response = client.post(reverse("notification-read", args=[notification.pk]), {"open": "1"})

    assert response["Location"] == "/directory/?q=x"
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_someone_elses_notification_is_a_404_in_the_ui(company, member):
    me, colleague = member(company, Role.SALES), member(company, Role.SALES)
    theirs = notification_send(recipients=[colleague.user], company=company, title="private")[0]
    client = Client()
    client.force_login(me.user)

    assert client.post(reverse("notification-read", args=[theirs.pk])).status_code == 404
    assert "private" not in client.get(reverse("notifications")).content.decode()


def test_list_page_paginates(company, member, django_assert_max_num_queries):
    me = member(company, Role.SALES)
    for index in range(30):
        notification_send(recipients=[me.user], company=company, title=f"n{index:02d}")
    client = Client()
    client.force_login(me.user)
    client.get(reverse("notifications"))

    with django_assert_max_num_queries(9):
        first = client.get(reverse("notifications")).content.decode()
    second = client.get(reverse("notifications"), {"page": 2}).content.decode()

    assert "n29" in first and "n00" not in first
    assert "n00" in second


# ---------------------------------------------------------------- API


def test_api_lists_only_my_notifications_in_the_company_acted_in(company, other_company, member, api_client):
    me, colleague = member(company, Role.SALES), member(company, Role.ADMIN)
    Membership.objects.create(user=me.user, company=other_company, role=Role.SALES)
    notification_send(recipients=[me.user], company=company, title="mine")
    notification_send(recipients=[me.user], company=other_company, title="elsewhere")
    notification_send(recipients=[colleague.user], company=company, title="theirs")

    for token in (False, True):
        response = api_client(me, token=token).get(API)
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 1
        assert [row["title"] for row in body["results"]] == ["mine"]
        assert set(body["results"][0]) == {"id", "title", "body", "link", "level", "created_at", "read_at", "is_read"}


def test_api_filters_unread_and_marks_read(company, member, api_client):
    me = member(company, Role.SALES)
    first, second, _ = (notification_send(recipients=[me.user], company=company, title=t)[0] for t in ("a", "b", "c"))
    client = api_client(me)

    one = client.post(f"{API}{first.pk}/read/")
    assert one.status_code == 200 and one.json()["is_read"] is True
    assert client.get(API, {"unread": "true"}).json()["count"] == 2
    some = client.post(f"{API}read/", {"ids": [second.pk]}, format="json")
    assert some.json() == {"marked": 1}
    rest = client.post(f"{API}read/", {}, format="json")
    assert rest.json() == {"marked": 1}
    assert client.get(API, {"unread": "true"}).json()["count"] == 0


def test_api_refuses_others_notifications_and_writes(company, other_company, member, api_client):
    me, colleague = member(company, Role.SALES), member(company, Role.ADMIN)
    theirs = notification_send(recipients=[colleague.user], company=company, title="theirs")[0]
    foreign_admin = member(other_company, Role.ADMIN)
    client = api_client(me)

    assert client.get(f"{API}{theirs.pk}/").status_code == 404
    assert client.post(f"{API}{theirs.pk}/read/").status_code == 404
    assert api_client(foreign_admin).get(f"{API}{theirs.pk}/").status_code == 404
    assert client.post(API, {"title": "forged", "recipient": me.user.pk}, format="json").status_code == 405
    assert client.delete(f"{API}{theirs.pk}/").status_code == 405
    bad = client.post(f"{API}read/", {"ids": ["x"]}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "ids.0"
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_api_needs_authentication(db):
    assert Client().get(API).status_code in (401, 403)
