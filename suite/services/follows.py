"""Following records: follow, unfollow, and tell a record's followers what happened to it.

An app declares which of its models can be followed (``register_followable`` in its ``ready()``) and calls
``followers_notify`` where something worth telling happens (a deal won, a customer's reply on a ticket). A follower
is told only while the policy lets them see the record: following never shows what the policy hides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, Q
from django.utils.translation import gettext_lazy as _

from suite import policy
from suite.models import Follow
from suite.selectors import who_may_see
from suite.services.notifications import Text, notification_send


@dataclass(frozen=True)
class Followable:
    """How a followable model shows on the Following page: ``summary(record)`` its state in a few words (the
    deal's stage and amount, the ticket's status), reading only the record and its ``related`` (select_related)."""

    summary: Callable[[Model], str] | None = None
    related: tuple[str, ...] = ()


_followable: dict[type[Model], Followable] = {}


def register_followable(
    model: type[Model], *, summary: Callable[[Model], str] | None = None, related: Sequence[str] = ()
) -> None:
    """Let people follow records of ``model`` (it must have a policy and ``get_absolute_url``); ``summary`` and
    ``related``: how it shows on the Following page (``Followable``)."""
    _followable[model] = Followable(summary=summary, related=tuple(related))


def is_followable(model: type[Model]) -> bool:
    return model in _followable


def followable(model: type[Model]) -> Followable:
    """How records of ``model`` show on the Following page (an empty ``Followable`` for others)."""
    return _followable.get(model) or Followable()


def _key(record: Model) -> dict:
    return {"content_type": ContentType.objects.get_for_model(record), "object_id": str(record.pk)}


def record_follow(*, actor: policy.Actor, record: Model) -> Follow:
    """Follow ``record`` (one the actor may see, of a followable model). Following twice changes nothing. No locks.
    Publishes nothing."""
    if not is_followable(type(record)):
        raise ValidationError({"record": _("Records of this kind cannot be followed.")})
    if not policy.can(actor, "view", record):
        raise PermissionDenied(_("You may not see this record."))
    follow, _created = Follow.objects.get_or_create(
        user=actor.user, **_key(record), defaults={"company_id": actor.company_id}
    )
    return follow


def record_unfollow(*, actor: policy.Actor, record: Model) -> None:
    """Stop following ``record`` (nothing happens if one did not follow it). No locks. Publishes nothing."""
    Follow.objects.filter(user=actor.user, **_key(record)).delete()


def follows_carry(*, users: Sequence, to_record: Model) -> int:
    """``users`` (who followed a record that became ``to_record``, e.g. a lead converted into a deal) follow
    ``to_record`` from now on — if it can be followed; the caller passes only people who may see it. Those who
    follow it already are left as they are. One INSERT. Publishes nothing. How many new follows."""
    if not users or not is_followable(type(to_record)):
        return 0
    key = _key(to_record)
    created = Follow.objects.bulk_create(
        [Follow(company_id=to_record.company_id, user_id=getattr(user, "pk", user), **key) for user in users],
        ignore_conflicts=True,
    )
    return len(created)


def followers_notify(
    *,
    records: Sequence[Model],
    about: Model,
    by,
    title: Text,
    body: Text = "",
    link: str = "",
    skip: Sequence[int] = (),
) -> list:
    """Tell the followers of any of ``records`` (e.g. a deal and its account) about ``about``: one notification
    each, linking to ``link`` (default: ``about``'s page). Not the one who did it (``by``) nor those told already
    (``skip``: user ids), nobody twice, and only those the policy still lets see ``about``. One query when nobody
    follows. No locks; call it in the transaction that made the change. Publishes nothing. Returns the people told."""
    keys = Q()
    for record in records:
        if record is not None and record.pk is not None:
            keys |= Q(**_key(record))
    if not keys:
        return []
    follows = Follow.objects.filter(keys, company_id=about.company_id).select_related("user")
    skipped = {pk for pk in (*skip, getattr(by, "pk", None)) if pk}
    if skipped:
        follows = follows.exclude(user_id__in=skipped)
    people = {follow.user_id: follow.user for follow in follows}
    told, _hidden = who_may_see(about, people.values())
    if told:
        notification_send(
            recipients=told,
            company=about.company,
            title=title,
            body=body,
            link=link or about.get_absolute_url(),
        )
    return told
