"""Notifications: send to members of a company, mark read. The shell's bell and the API read them."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from suite.models import Company, Membership, Notification


def safe_link(link: str) -> str:
    """A notification's link must be a path on this site (``/crm/...``): no other host, no ``javascript:``."""
    link = (link or "").strip()
    if not link:
        return ""
    if (
        not link.startswith("/")
        or link.startswith("//")
        or "\\" in link
        or any(ord(char) < 32 or ord(char) == 127 for char in link)
    ):
        raise ValidationError({"link": _("A notification link must be a path on this site, starting with /.")})
    return link


# A notification's title or body: text, or a function that writes it — called in each recipient's language
Text = str | Callable[[], str]


def _written(text: Text) -> str:
    return (text() if callable(text) else text) or ""


class _Languages:
    """Writes the texts of a batch of notifications in their recipients' languages: plain text as it is; each
    function once per language (memoised, so a function shared by many items is called once per language), under
    ``translation.override`` — grouped by language, so a batch switches language once per language, not per item.
    ``want`` the texts first, ``write`` them, then read them with ``text``. ``languages`` is recipient id →
    ``Membership.language`` as read by the caller's membership check ("" — never used the site: the language
    active now)."""

    def __init__(self, languages: dict[int, str]):
        self.languages = languages
        self.unknown = translation.get_language() or settings.LANGUAGE_CODE
        self.wanted: dict[str, dict[Callable[[], str], None]] = {}
        self.written: dict[tuple[Callable[[], str], str], str] = {}

    def language(self, recipient_id: int) -> str:
        return self.languages.get(recipient_id) or self.unknown

    def want(self, text: Text, recipient_id: int) -> None:
        if callable(text):
            self.wanted.setdefault(self.language(recipient_id), {})[text] = None

    def write(self) -> None:
        for language, functions in self.wanted.items():
            with translation.override(language):
                for function in functions:
                    self.written[(function, language)] = function() or ""
        self.wanted.clear()

    def text(self, text: Text, recipient_id: int) -> str:
        if callable(text):
            return self.written[(text, self.language(recipient_id))]
        return text or ""


@transaction.atomic
def notification_send(
    *,
    recipients: Iterable,
    company: Company,
    title: Text,
    body: Text = "",
    link: str = "",
    level: str = Notification.Level.INFO,
) -> list[Notification]:
    """Create one unread notification per recipient (users or user ids), all in ``company``.

    ``title`` and ``body`` may be functions that write the text (``lambda: _("%(deal)s was won") % …``): they are
    called once per language, in the language each recipient last logged in or switched to (``Membership.language``;
    for someone who never did, the language active now), so everyone reads notifications in their own. Plain text
    is stored as it is (in the language of whoever wrote it).

    Every recipient must be an active member of ``company`` (else ``ValidationError``): a notification never
    tells a user about a company they cannot see. Duplicated recipients get one notification. No locks; one
    bulk insert. Publishes nothing.
    """
    user_ids = {getattr(recipient, "pk", recipient) for recipient in recipients}
    if not _written(title).strip():
        raise ValidationError({"title": _("A notification needs a title.")})
    if level not in Notification.Level.values:
        raise ValidationError({"level": _("Unknown level.")})
    link = safe_link(link)
    if not user_ids:
        return []
    languages = dict(
        Membership.objects.filter(company=company, user_id__in=user_ids, is_active=True).values_list(
            "user_id", "language"
        )
    )
    strangers = user_ids - set(languages)
    if strangers:
        raise ValidationError({"recipients": _("Some recipients are not members of this company.")})
    texts: dict[str, tuple[str, str]] = {}
    unknown = translation.get_language() or settings.LANGUAGE_CODE  # who never used the site: as it is written
    for language in set(languages.values()):
        if callable(title) or callable(body):
            with translation.override(language or unknown):
                texts[language] = (_written(title).strip(), _written(body))
        else:
            texts[language] = (title.strip(), body or "")
    notifications = [
        Notification(
            recipient_id=user_id,
            company=company,
            title=texts[languages[user_id]][0][:200],
            body=texts[languages[user_id]][1],
            link=link,
            level=level,
        )
        for user_id in sorted(user_ids)
    ]
    return Notification.objects.bulk_create(notifications)


def notifications_send_each(*, company: Company, items: Iterable[dict], skip_non_members: bool = False) -> int:
    """Many notifications, each with its own recipient, title, body, link and level (dicts with those keys),
    in one membership check and one INSERT — for pipelines that alert hundreds of conversations at once. Returns
    how many were written. Every recipient must be an active member of ``company`` (else ``ValidationError``,
    nothing written) — or, with ``skip_non_members``, the items of recipients who are not are left out (an owner
    who left the company is not notified).

    ``title`` and ``body`` may be text (stored as it is) or functions that write it (``Text``, as for
    ``notification_send``): each is written in its recipient's language (``Membership.language``, read by the
    membership check itself — no query more; for someone who never used the site, the language active now),
    each function once per language, and the batch switches language once per language, not per item. Runs in
    the caller's transaction (or autocommit); no locks; publishes nothing."""
    items = list(items)
    if not items:
        return 0
    user_ids = {int(item["recipient_id"]) for item in items}
    languages = dict(
        Membership.objects.filter(company=company, user_id__in=user_ids, is_active=True).values_list(
            "user_id", "language"
        )
    )
    if user_ids - languages.keys():
        if not skip_non_members:
            raise ValidationError({"recipients": _("Some recipients are not members of this company.")})
        items = [item for item in items if int(item["recipient_id"]) in languages]
        if not items:
            return 0
    recipients = [int(item["recipient_id"]) for item in items]
    texts = _Languages(languages)
    for item, recipient_id in zip(items, recipients, strict=True):
        texts.want(item.get("title"), recipient_id)
        texts.want(item.get("body"), recipient_id)
    texts.write()
    columns: tuple[list, ...] = ([], [], [], [], [])
    levels = set(Notification.Level.values)
    for item, recipient_id in zip(items, recipients, strict=True):
        title = texts.text(item.get("title"), recipient_id).strip()
        if not title:
            raise ValidationError({"title": _("A notification needs a title.")})
        level = item.get("level") or Notification.Level.INFO
        if level not in levels:
            raise ValidationError({"level": _("Unknown level.")})
        body = texts.text(item.get("body"), recipient_id)
        for column, value in zip(
            columns,
            (recipient_id, title[:200], body, safe_link(item.get("link") or ""), level),
            strict=True,
        ):
            column.append(value)
    # One INSERT … SELECT FROM unnest: hundreds of rows without building a model instance for each.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO suite_notification (recipient_id, company_id, title, body, link, level, read_at, created_at) "
            "SELECT r, %s, t, b, l, v, NULL, %s "
            "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[]) AS n(r, t, b, l, v)",
            [getattr(company, "pk", company), timezone.now(), *columns],
        )
        return cursor.rowcount


COUNT = "{{count}}"  # where ``notifications_coalesce`` writes a coalesced notification's count in its title
_COUNT_SENTINEL = 987654321  # stands for the count in a translated title until the count is known


def counted(write: Callable[[int], str]) -> Callable[[], str]:
    """A coalesced notification's ``title_many`` as a function: ``write(n)`` (e.g. an ``ngettext``) is called with
    a sentinel number in the reader's language — the translation may move the number — and the sentinel then
    becomes ``COUNT``, where the coalesced count goes."""
    return lambda: write(_COUNT_SENTINEL).replace(str(_COUNT_SENTINEL), COUNT, 1)


def notifications_coalesce(*, company: Company, items: Iterable[dict]) -> int:
    """Alerts that coalesce: each item (``recipient_id``, ``key``, ``count``, ``title``, ``title_many``, ``body``,
    ``link``, ``link_many``, ``level``) updates the recipient's *unread* notification of the same ``key`` in place
    — its ``count`` grows by the item's, its title becomes ``title_many`` with ``COUNT`` replaced by the new total,
    its link ``link_many`` (default: ``link``; e.g. the list of new leads rather than the last one), body/level
    are the item's, ``created_at`` moves to now (the bell lists it first again) — or, when the recipient has none
    unread, inserts one (``title`` and ``link`` when the count is 1). So a busy conversation is one "12 new
    messages from …" line, not twelve. An item with an empty key is inserted as is.

    ``title``, ``title_many`` and ``body`` may be text or functions that write it (``Text``): written in each
    recipient's language as ``notifications_send_each`` does (languages read by the membership check, each
    function once per language, only for the items that survive coalescing). A ``title_many`` function must
    keep ``COUNT`` in the text it writes (``counted``).

    One membership check, then two statements whatever the number of items (one UPDATE … FROM unnest, one
    INSERT … FROM unnest); the partial unique constraint ``notification_unread_key`` keeps one unread row per key
    (callers that may race on the same key serialise on a row of their own first — the inbox locks the
    conversations). Every recipient must be an active member of ``company`` (else ``ValidationError``, nothing
    written). Runs in the caller's transaction; publishes nothing. Returns how many notifications were inserted
    or updated."""
    merged: dict[tuple[int, str], dict] = {}
    plain: list[dict] = []
    levels = set(Notification.Level.values)
    for item in items:
        level = item.get("level") or Notification.Level.INFO
        if level not in levels:
            raise ValidationError({"level": _("Unknown level.")})
        title = item.get("title")
        if not callable(title):  # a function's text is checked once written
            title = (title or "").strip()
            if not title:
                raise ValidationError({"title": _("A notification needs a title.")})
        row = {
            "recipient_id": int(item["recipient_id"]),
            "key": (item.get("key") or "")[:100],
            "count": max(1, int(item.get("count") or 1)),
            "title": title,
            "title_many": item.get("title_many") or title,
            "body": item.get("body") or "",
            "link": safe_link(item.get("link") or ""),
            "level": level,
        }
        row["link_many"] = safe_link(item.get("link_many") or "") or row["link"]
        if not row["key"]:
            plain.append(row)
            continue
        earlier = merged.get((row["recipient_id"], row["key"]))
        if earlier is not None:
            row["count"] += earlier["count"]
        merged[(row["recipient_id"], row["key"])] = row
    rows = [*merged.values(), *plain]
    if not rows:
        return 0
    user_ids = {row["recipient_id"] for row in rows}
    languages = dict(
        Membership.objects.filter(company=company, user_id__in=user_ids, is_active=True).values_list(
            "user_id", "language"
        )
    )
    if user_ids - languages.keys():
        raise ValidationError({"recipients": _("Some recipients are not members of this company.")})
    texts = _Languages(languages)
    for row in rows:
        for name in ("title", "title_many", "body"):
            texts.want(row[name], row["recipient_id"])
    texts.write()
    for row in rows:
        recipient_id = row["recipient_id"]
        row["title"] = texts.text(row["title"], recipient_id).strip()
        if not row["title"]:
            raise ValidationError({"title": _("A notification needs a title.")})
        row["title_many"] = texts.text(row["title_many"], recipient_id).strip()
        row["body"] = texts.text(row["body"], recipient_id)
    company_id = getattr(company, "pk", company)
    now = timezone.now()
    updated: set[tuple[int, str]] = set()
    keyed = list(merged.values())
    with connection.cursor() as cursor:
        if keyed:
            cursor.execute(
                # Each row's id is found first, through the partial unique index, in a materialized CTE; the
                # UPDATE then reads those rows by primary key (``n.id = ANY(…)``: an index scan of the pkey) and
                # joins them to their items. Joining the table to the lookup in one step let the planner, on a
                # table analyzed while (nearly) empty — a fresh install's first burst — put a seq scan of the
                # notifications *outside* the per-item lookups: rows × items index walks, a statement seen
                # running 18 minutes; and a plain join on the id let it hash-join a seq scan of every unread
                # notification (45 ms per batch at 53k unread). Now the cost follows the items, not the table.
                "WITH u AS MATERIALIZED (SELECT (SELECT x.id FROM suite_notification x WHERE x.recipient_id = v.r "
                "AND x.company_id = %s AND x.key = v.k AND x.read_at IS NULL AND NOT x.key = '' LIMIT 1) AS id, "
                "v.c, v.tm, v.b, v.l, v.lv "
                "FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::text[], %s::text[], %s::text[], %s::text[]) "
                "AS v(r, k, c, tm, b, l, lv)) "
                "UPDATE suite_notification AS n SET count = n.count + u.c, "
                "title = left(replace(u.tm, %s, (n.count + u.c)::text), 200), body = u.b, link = u.l, level = u.lv, "
                "created_at = %s "
                "FROM u WHERE n.id = u.id AND n.id = ANY(ARRAY(SELECT id FROM u)) AND n.read_at IS NULL "
                "RETURNING n.recipient_id, n.key",
                [
                    company_id,
                    [row["recipient_id"] for row in keyed],
                    [row["key"] for row in keyed],
                    [row["count"] for row in keyed],
                    [row["title_many"] for row in keyed],
                    [row["body"] for row in keyed],
                    [row["link_many"] for row in keyed],
                    [row["level"] for row in keyed],
                    COUNT,
                    now,
                ],
            )
            updated = {(recipient, key) for recipient, key in cursor.fetchall()}
        new = [row for row in rows if (row["recipient_id"], row["key"]) not in updated or not row["key"]]
        inserted = 0
        if new:
            titles = [
                (row["title"] if row["count"] == 1 else row["title_many"].replace(COUNT, str(row["count"])))[:200]
                for row in new
            ]
            cursor.execute(
                "INSERT INTO suite_notification "
                "(recipient_id, company_id, title, body, link, level, read_at, created_at, key, count) "
                "SELECT r, %s, t, b, l, lv, NULL, %s, k, c "
                "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::int[]) "
                "AS v(r, t, b, l, lv, k, c) ON CONFLICT DO NOTHING",
                [
                    company_id,
                    now,
                    [row["recipient_id"] for row in new],
                    titles,
                    [row["body"] for row in new],
                    [row["link"] if row["count"] == 1 else row["link_many"] for row in new],
                    [row["level"] for row in new],
                    [row["key"] for row in new],
                    [row["count"] for row in new],
                ],
            )
            inserted = cursor.rowcount
    return len(updated) + inserted


def notification_mark_read(*, user, company: Company | int, ids: Iterable[int] | None = None) -> int:
    """Mark ``user``'s unread notifications in ``company`` read: the given ``ids``, or all of them.

    Ids of other users' notifications are ignored (never an error that would reveal they exist). One UPDATE,
    so two concurrent calls cannot double-count; returns how many changed. Publishes nothing.
    """
    queryset = Notification.objects.filter(recipient=user, company=company, read_at__isnull=True)
    if ids is not None:
        ids = [int(pk) for pk in ids]
        if not ids:
            return 0
        queryset = queryset.filter(pk__in=ids)
    return queryset.update(read_at=timezone.now())
