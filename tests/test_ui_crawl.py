"""Every page the demo logins can reach, crawled from the start page by its links: no page answers 500, not even
with nonsense in its query string (a bad page number, a NUL byte in the search, an unknown sort or state, the
30th of February), and no form does when every field of it is filled with the wrong kind of value, or with
values out of range (past bigint, the year 1, 10,001 characters, a superscript digit for an id). The brief's
"UI → a message on the form", never a crash, across the whole UI — and the form shown again escapes what was typed.

The demo data (``seed_demo``, then the relay as the worker would run it) gives every page something to show.
Each login follows the links of the pages it sees, once per URL name (``crm:account-detail`` is visited for one
account, not for all); the nonsense query is sent once per URL name. A page that is a file (PDF, CSV, XLSX) is
fetched like any other. The POST forms found on the way are sent last (once per form action), so a form that
succeeds cannot hide pages from the crawl.
"""

from __future__ import annotations

import re
import traceback
from collections import deque
from html.parser import HTMLParser
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import Resolver404, resolve

from tests.loop_support import relay_all

LOGINS = (
    "admin",
    "manager",
    "sales1",
    "service",
    "marketing",
    "finance",
    "warehouse",
    "production",
    "hr",
    "payroll",
    "sbev.marketing",
    "qihang.adviser1",
)
START = ("/", "/apps/crm/", "/apps/scrm/", "/apps/erp/")
NOT_FOLLOWED = ("/static/", "/media/", "/admin/", "/api/", "/logout", "/i18n/", "/metrics", "/healthz", "/__")
HREF = re.compile(r"""href=["'](/[^"'#\s]*)""")
NONSENSE = "page=abc&q=a%00b&search=%25_%5C&sort=-no_such_field&ordering=-no_such_field&state=nope&status=nope" \
           "&date_from=2026-02-30&date_to=x&year=99999999999999999999&month=13&owner=x&account=-1"  # fmt: skip


def _url_name(path: str) -> str | None:
    """The page's URL name, with its non-numeric arguments (``app-landing:erp``): one visit per kind of page,
    not per record."""
    try:
        match = resolve(path)
    except Resolver404:
        return None
    words = [str(value) for value in match.kwargs.values() if not str(value).isdigit()]
    return ":".join([match.view_name or match.route, *words])


# per input type: the wrong kind of value (text fields get plain text, so the other fields' checks are reached;
# a NUL byte is refused before any view, suite/tests/test_ui_shell.py)
BAD_INPUT = {
    "number": "x",
    "date": "2026-02-30",
    "datetime-local": "2026-02-30T25:61",
    "time": "25:61",
    "email": "not-an-email",
    "checkbox": "on",
    "radio": "no-such-choice",
    "select": "no-such-choice",
    "textarea": "长" * 10_001,
    "password": "x",
}
# a second submission: values of the right kind but out of range (a superscript digit passes str.isdigit()
# and fails int())
OUT_OF_RANGE = {
    "number": "99999999999999999999",
    "date": "0001-01-01",
    "datetime-local": "9999-12-31T23:59",
    "email": "a" * 300 + "@example.com",
    "checkbox": "on",
    "radio": "²",
    "select": "²",
    "textarea": "x",
    "password": "x",
}
KEPT = ("hidden", "submit", "button", "csrfmiddlewaretoken")
# what text fields get: markup that a page re-showing the form (or the record) must escape
MARKUP = '"><i data-crawl-xss>x</i>'


class _Forms(HTMLParser):
    """The POST forms of a page: ``[(action, {field name: input type})]``."""

    def __init__(self):
        super().__init__()
        self.forms: list[tuple[str, dict, dict]] = []
        self._current = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "get").lower() == "post":
            self._current = (attrs.get("action") or attrs.get("hx-post") or "", {}, {})
            self.forms.append(self._current)
        elif self._current is not None and tag in ("input", "select", "textarea") and attrs.get("name"):
            kind = (attrs.get("type") or "text").lower() if tag == "input" else tag
            self._current[1][attrs["name"]] = kind
            if kind in KEPT:
                self._current[2][attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def bad_submission(fields: dict, kept: dict, values: dict) -> dict:
    data = {}
    for name, kind in fields.items():
        if kind in KEPT:
            data[name] = kept.get(name, "")
        elif kind == "file":
            data[name] = SimpleUploadedFile("bad.csv", b"\xff\xfe\x00not,a\x00,file\n", "text/csv")
        else:
            data[name] = values.get(kind, MARKUP if values is BAD_INPUT else "长" * 10_001)
    return data


def _raised(response) -> str:
    """The exception behind a 500, with the innermost line of our code it came through."""
    exc_info = getattr(response, "exc_info", None)
    if not exc_info:
        return ""
    ours = [f for f in traceback.extract_tb(exc_info[2]) if "site-packages" not in f.filename]
    where = f" at {ours[-1].filename.rsplit('/', 2)[-2:]}:{ours[-1].lineno}" if ours else ""
    return f" ({exc_info[0].__name__}: {str(exc_info[1])[:200]}{where})"


def crawl(client: Client, visited_names: set, failures: list, login: str, forms: dict) -> int:
    """Breadth-first over the links ``client`` sees, collecting its POST forms into ``forms``; returns how many
    pages it fetched."""
    queue = deque(START)
    seen_names: set = set()
    fetched = 0
    while queue:
        path = queue.popleft()
        name = _url_name(urlsplit(path).path)
        if name is None or name in seen_names:
            continue
        seen_names.add(name)
        response = client.get(path)
        fetched += 1
        if response.status_code >= 500:
            failures.append(f"{login}: GET {path} → {response.status_code}{_raised(response)}")
            continue
        if name not in visited_names:
            visited_names.add(name)
            bad = client.get(f"{urlsplit(path).path}?{NONSENSE}")
            fetched += 1
            if bad.status_code >= 500:
                failures.append(f"{login}: GET {urlsplit(path).path}?<nonsense> → {bad.status_code}{_raised(bad)}")
        if response.status_code != 200 or not response.get("Content-Type", "").startswith("text/html"):
            continue
        html = response.content.decode("utf-8", "replace")
        parser = _Forms()
        parser.feed(html)
        for action, fields, kept in parser.forms:
            target = action.replace("&amp;", "&") or path
            key = _url_name(urlsplit(target).path)
            if target.startswith("/") and not target.startswith(NOT_FOLLOWED) and key and key not in forms:
                forms[key] = (target, fields, kept)
        for href in HREF.findall(html):
            href = href.replace("&amp;", "&")
            if not href.startswith(NOT_FOLLOWED) and _url_name(urlsplit(href).path) not in seen_names:
                queue.append(href)
    return fetched


@pytest.mark.slow
@pytest.mark.django_db
def test_no_page_a_demo_login_reaches_answers_500():
    call_command("seed_demo", stdout=StringIO())
    relay_all()  # what the worker does after the seed: the won deal's ERP sales order and delivery, the tickets
    users = get_user_model().objects.in_bulk(LOGINS, field_name="username")
    assert set(users) == set(LOGINS)
    visited_names: set = set()
    failures: list[str] = []
    fetched = 0
    sent_forms: set = set()
    shown_escaped = 0  # forms shown again with what was typed (escaped): the markup check has something to see
    for login in LOGINS:
        client = Client(raise_request_exception=False)
        client.force_login(users[login])
        forms: dict = {}
        fetched += crawl(client, visited_names, failures, login, forms)
        for key, (target, fields, kept) in forms.items():
            if key in sent_forms:
                continue
            sent_forms.add(key)
            for values in (BAD_INPUT, OUT_OF_RANGE):
                response = client.post(target, bad_submission(fields, kept, values))
                if response.status_code >= 500:
                    what = "every field bad" if values is BAD_INPUT else "every field out of range"
                    failures.append(f"{login}: POST {target} ({what}) → {response.status_code}{_raised(response)}")
                elif b"<i data-crawl-xss>" in response.content:
                    failures.append(f"{login}: POST {target} shows the submitted markup unescaped")
                elif b"&lt;i data-crawl-xss&gt;" in response.content:
                    shown_escaped += 1
    assert not failures, "\n".join(failures)
    assert len(sent_forms) >= 80, sorted(sent_forms)  # 102 forms today
    assert shown_escaped >= 20  # 45 today
    assert len(visited_names) >= 140, sorted(visited_names)  # the crawl reached the UI (163 kinds of page today)
    assert fetched > 2 * len(LOGINS)
