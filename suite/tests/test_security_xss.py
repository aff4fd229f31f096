"""XSS corpus: classic payloads stored as team names, people's names and notification text come out escaped —
on the shell's pages and in the Django admin's change lists and change forms."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from suite.models import Membership, Notification, Role, Team
from suite.services.notifications import notification_send
from suite.testing import UserFactory

pytestmark = pytest.mark.django_db

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "</textarea><script>alert(document.cookie)</script>",
    '<a href="javascript:alert(1)">click</a>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '" onmouseover="alert(1)" x="',
    "<ScRiPt>alert(String.fromCharCode(88,83,83))</ScRiPt>",
    "<body onload=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
]
TEMPLATE_INJECTIONS = ["{{7*7}}", "{% debug %}", "${7*7}", "#{7*7}"]
DANGEROUS = re.compile(
    r"<script>alert|<img src=x|<svg onload|<iframe src=\"javascript|onmouseover=\"alert|<ScRiPt|<body onload|"
    r"href=\"javascript:|src=\"javascript:|<math><mtext>",
)


def assert_clean(html: str, where: str) -> None:
    match = DANGEROUS.search(html)
    assert match is None, f"{where}: unescaped payload near {html[max(0, match.start() - 80) : match.end() + 80]!r}"


@pytest.fixture
def poisoned(company, member):
    """A company whose users, teams and notifications carry the payloads."""
    viewer = member(company, Role.ADMIN, username="viewer", first_name=PAYLOADS[0], last_name=PAYLOADS[1])
    teams = []
    for index, payload in enumerate(PAYLOADS + TEMPLATE_INJECTIONS):
        teams.append(
            Team.objects.create(company=company, name=f"{payload} #{index}", name_en=payload, manager=viewer.user)
        )
        user = UserFactory(username=f"evil{index}", first_name=payload[:150], last_name=payload[:150])
        membership = Membership.objects.create(user=user, company=company, role=Role.SALES)
        membership.teams.set([teams[-1]])
        viewer.teams.add(teams[-1])
        notification_send(recipients=[viewer.user], company=company, title=payload[:200], body=payload, link="/")
    return viewer, teams


def test_shell_pages_escape_stored_payloads(poisoned):
    viewer, teams = poisoned
    client = Client()
    client.force_login(viewer.user)
    Team.objects.filter(pk=teams[0].pk).update(name=PAYLOADS[4])  # history shows old and new values
    pages = {
        "home": reverse("home"),
        "directory": reverse("directory"),
        "notifications": reverse("notifications"),
        "team": reverse("team-page", args=[teams[0].pk]),
        "history": reverse("record-history", args=["suite.team", teams[0].pk]),
        "search teams": reverse("search") + "?q=%23",
        "search people": reverse("search") + "?q=evil",
        "bell": reverse("notifications-bell"),
    }
    for name, path in pages.items():
        response = client.get(path)
        assert response.status_code == 200, name
        assert_clean(response.content.decode(), name)

    home = client.get(reverse("home")).content.decode()
    assert escape(PAYLOADS[0]) in home  # shown as text, not dropped
    assert "{{7*7}}" in client.get(reverse("directory")).content.decode()  # not evaluated


def test_reflected_search_query_is_escaped(company, member):
    client = Client()
    client.force_login(member(company, Role.SALES).user)

    for payload in PAYLOADS:
        html = client.get(reverse("search"), {"q": payload}).content.decode()
        assert_clean(html, payload)


def test_admin_change_lists_and_forms_escape_stored_payloads(poisoned, admin_client):
    viewer, teams = poisoned
    notification = Notification.objects.filter(recipient=viewer.user).first()
    pages = {
        "team list": reverse("admin:suite_team_changelist"),
        "team search": reverse("admin:suite_team_changelist") + "?q=script",
        "team form": reverse("admin:suite_team_change", args=[teams[0].pk]),
        "membership list": reverse("admin:suite_membership_changelist"),
        "membership form": reverse("admin:suite_membership_change", args=[viewer.pk]),
        "notification list": reverse("admin:suite_notification_changelist"),
        "notification form": reverse("admin:suite_notification_change", args=[notification.pk]),
        "user list": reverse("admin:auth_user_changelist"),
        "user form": reverse("admin:auth_user_change", args=[viewer.user.pk]),
        "team events": reverse("admin:pghistory_events_changelist") + f"?method=tracks&obj=suite.team:{teams[0].pk}",
    }
    for name, path in pages.items():
        response = admin_client.get(path)
        assert response.status_code == 200, name
        assert_clean(response.content.decode(), name)


def test_notification_links_cannot_carry_script_urls(company, member):
    viewer = member(company, Role.SALES)
    for link in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", "//evil.example/", "https://evil.example/", "/\\evil"):
        with pytest.raises(Exception) as error:
            notification_send(recipients=[viewer.user], company=company, title="t", link=link)
        assert "link" in str(error.value)

    # a bad link written around the service is still never followed
    forged = Notification.objects.create(recipient=viewer.user, company=company, title="x", link="javascript:alert(1)")
    client = Client()
    client.force_login(viewer.user)
    response = client.post(reverse("notification-read", args=[forged.pk]), {"open": "1"})
    assert response["Location"] == reverse("notifications")
