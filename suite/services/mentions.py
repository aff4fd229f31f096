"""@mentions in notes: the colleagues named after an "@" are told, if they may see the record the note is on."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Model
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from suite.models import Company
from suite.selectors import members_mentioned, who_may_see
from suite.services.notifications import notification_send
from suite.templatetags.troika import person_name


@dataclass(frozen=True)
class Mentions:
    """What became of the "@" names of a note: who was told, who was named but may not see the record (not told:
    a mention never shows a record to someone the policy hides it from), and names that fit several people."""

    told: list = field(default_factory=list)
    cannot_see: list = field(default_factory=list)
    unclear: list[str] = field(default_factory=list)


def mentions_notify(*, company: Company, by, text: str, record: Model, link: str, before: str = "") -> Mentions:
    """Tell the members named in ``text`` (``suite.selectors.members_mentioned``) that ``by`` mentioned them on
    ``record``: one notification each, linking to ``link``, with the start of the text. The writer is never told
    about themselves, nor — for an edited note — those ``before`` (the note's earlier text) named already. Each
    one's access to the record is checked through the policy layer. No locks; call it in the transaction that
    writes the note. Publishes nothing."""
    people, unclear = members_mentioned(company.pk, text)
    if people and before:
        named_before = {person.pk for person in members_mentioned(company.pk, before)[0]}
        people = [person for person in people if person.pk not in named_before]
    told, cannot_see = who_may_see(record, [person for person in people if by is None or person.pk != by.pk])
    if told:
        notification_send(
            recipients=told,
            company=company,
            title=lambda: (
                _("%(person)s mentioned you on %(record)s")
                % {"person": person_name(by) if by else _("Someone"), "record": record}
            ),
            body=Truncator(" ".join(text.split())).chars(300),
            link=link,
        )
    return Mentions(told=told, cannot_see=cannot_see, unclear=unclear)
