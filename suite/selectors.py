"""Reads of the platform's models: scoped by the policy, with the joins their pages and endpoints need."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Model, Prefetch, Q, QuerySet

from suite import policy
from suite.models import ApiToken, Company, DefaultView, Follow, Membership, Role, SavedView, Team
from suite.templatetags.troika import person_name


def is_company_admin(company_id: int, user) -> bool:
    """Whether ``user`` is an active administrator of the company (a service's privileged step)."""
    return Membership.objects.filter(company_id=company_id, user=user, role=Role.ADMIN, is_active=True).exists()


def memberships_of_user(user) -> QuerySet[Membership]:
    """The companies ``user`` belongs to (active memberships), with the company joined — for "me" and the
    company switcher."""
    return Membership.objects.filter(user=user, is_active=True).select_related("company").order_by("company__name")


def companies_visible_to(actor: policy.Actor | None) -> QuerySet[Company]:
    """The company the actor acts in (a user never sees another company through the API)."""
    return policy.scope(actor, Company.objects.all())


def teams_visible_to(actor: policy.Actor | None, *, search: str = "") -> QuerySet[Team]:
    """The actor's company's teams with their manager and member count (one query for a page)."""
    queryset = policy.scope(actor, Team.objects.all())
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(name_en__icontains=search))
    return team_list_queryset(queryset)


def team_list_queryset(queryset: QuerySet[Team]) -> QuerySet[Team]:
    return queryset.select_related("manager", "parent").annotate(
        member_count=Count("memberships", filter=Q(memberships__is_active=True), distinct=True)
    )


def memberships_visible_to(actor: policy.Actor | None) -> QuerySet[Membership]:
    """The members of the actor's company with user and team ids (two queries for a page)."""
    return membership_list_queryset(policy.scope(actor, Membership.objects.all()))


def membership_list_queryset(queryset: QuerySet[Membership]) -> QuerySet[Membership]:
    return queryset.select_related("user", "company").prefetch_related(
        Prefetch("teams", queryset=Team.objects.only("id", "company_id"))
    )


def api_tokens_of(actor: policy.Actor | None) -> QuerySet[ApiToken]:
    """The actor's own API tokens in the company they act in (revoked ones too)."""
    return policy.scope(actor, ApiToken.objects.select_related("membership"))


def saved_views_for(actor: policy.Actor, list_key: str) -> QuerySet[SavedView]:
    """The views of one list the actor may open: their own (the policy's scope) and those shared with their
    company, by name, with the owner joined."""
    shared = SavedView.objects.filter(company_id=actor.company_id, shared=True)
    return (
        (policy.scope(actor, SavedView.objects.all()) | shared)
        .filter(list_key=list_key)
        .select_related("owner")
        .order_by("name", "id")
    )


def default_view_of(actor: policy.Actor, list_key: str) -> SavedView | None:
    """The view the actor's list opens with, while they may still open it (a view unshared since is not)."""
    chosen = DefaultView.objects.filter(company_id=actor.company_id, user=actor.user, list_key=list_key)
    return saved_views_for(actor, list_key).filter(pk__in=chosen.values("view_id")).first()


# An "@" that starts a mention: not inside an e-mail address (``li@ecm.cn``); the full-width ＠ of Chinese input too.
_MENTION_AT = re.compile(r"(?<![A-Za-z0-9._%+\-])[@\uff20]")


def _member_names(company_id: int) -> dict[str, set]:
    """Each name an active member of the company goes by (username, shown name), casefolded, with who has it."""
    names: dict[str, set] = {}
    for membership in Membership.objects.filter(company_id=company_id, is_active=True).select_related("user"):
        user = membership.user
        for name in {user.get_username(), person_name(user)}:
            if name:
                names.setdefault(name.casefold(), set()).add(user)
    return names


def members_to_mention(actor: policy.Actor, typed: str, *, limit: int = 8) -> list[dict]:
    """The colleagues an "@" being typed may mean: active members of the actor's company (not the actor) whose
    username starts with, or shown name holds, ``typed`` — each with what to insert: the shown name, or the
    username when several members share that name. One query."""
    typed = typed.strip().casefold()[:30]
    names = _member_names(actor.company_id)
    found = {}
    for people in names.values():
        for person in people:
            if person.pk == actor.user.pk or person.pk in found:
                continue
            shown = person_name(person)
            if not typed or person.get_username().casefold().startswith(typed) or typed in shown.casefold():
                found[person.pk] = person
    rows = []
    for person in sorted(found.values(), key=lambda person: (person_name(person).casefold(), person.pk))[:limit]:
        shown = person_name(person)
        unique = len(names.get(shown.casefold(), ())) == 1
        rows.append(
            {"name": shown, "username": person.get_username(), "insert": shown if unique else person.get_username()}
        )
    return rows


def members_mentioned(company_id: int, text: str) -> tuple[list, list[str]]:
    """The active members of the company named after an "@" in ``text`` — by the name the shell shows (``@张伟``,
    ``@Wei Zhang``: family name first for Chinese, no space needed after it) or by username (``@zhangwei``) —
    and the names that fit several members (to be written as a username). The longest name wins (``@张伟明``
    is 张伟明, not 张伟); a Latin name must end at a word's end. One query, none when there is no "@"."""
    starts = [match.end() for match in _MENTION_AT.finditer(text or "")]
    if not starts:
        return [], []
    names = _member_names(company_id)
    longest_first = sorted(names, key=len, reverse=True)
    found: dict[int, object] = {}
    unclear: list[str] = []
    for start in starts:
        following = text[start : start + 160].casefold()
        for name in longest_first:
            end = len(name)
            if not following.startswith(name):
                continue
            if (
                name[-1].isascii()
                and name[-1].isalnum()
                and end < len(following)
                and (following[end].isalnum() or following[end] == "_")
            ):
                continue  # "@ann" in "@annabel": not Ann
            people = names[name]
            if len(people) == 1:
                person = next(iter(people))
                found.setdefault(person.pk, person)
            elif text[start : start + end] not in unclear:
                unclear.append(text[start : start + end])
            break
    return list(found.values()), unclear


def who_may_see(record: Model, people) -> tuple[list, list]:
    """Of ``people`` (users), those the policy lets see ``record`` acting in its company, and the others (a
    mention or a follow never tells someone about a record hidden from them). Two queries a person."""
    may, may_not = [], []
    for person in people:
        (may if policy.can(policy.actor_for(person, record.company_id), "view", record) else may_not).append(person)
    return may, may_not


def followers_who_may_see(records, *, skip=()) -> dict:
    """The followers of any of ``records`` (of one model, in one company) who may still see them, each with the
    records they follow and see, in the order given: ``{user: [record, …]}``. Not the users whose ids are in
    ``skip``. One query for the follows (all it costs when nobody follows), then two per follower (their
    membership, the policy's scope of what they follow) — not two per follower and record as ``who_may_see``."""
    records = [record for record in records if record is not None and record.pk is not None]
    if not records:
        return {}
    model, company_id = type(records[0]), records[0].company_id
    by_key = {str(record.pk): record for record in records}
    follows = Follow.objects.filter(
        content_type=ContentType.objects.get_for_model(model), object_id__in=list(by_key), company_id=company_id
    ).select_related("user")
    skipped = {pk for pk in skip if pk}
    if skipped:
        follows = follows.exclude(user_id__in=skipped)
    followed: dict[int, tuple] = {}
    for follow in follows:
        followed.setdefault(follow.user_id, (follow.user, set()))[1].add(follow.object_id)
    seen = {}
    for user, keys in followed.values():
        actor = policy.actor_for(user, company_id)
        if actor is None or not policy.can(actor, "view", model):
            continue
        scoped = policy.scope(actor, model._default_manager.filter(pk__in=keys))
        visible = {str(pk) for pk in scoped.values_list("pk", flat=True)}
        if visible:
            seen[user] = [record for key, record in by_key.items() if key in visible]
    return seen


def follower_ids(model: type[Model], pk) -> set[int]:
    """The ids of the users who follow the record ``model``/``pk`` (one query; no policy check: for leaving
    people out of a notification, e.g. those told already through another record)."""
    return set(
        Follow.objects.filter(content_type=ContentType.objects.get_for_model(model), object_id=str(pk)).values_list(
            "user_id", flat=True
        )
    )


def follow_state(actor: policy.Actor, record: Model) -> tuple[bool, int]:
    """Whether the actor follows ``record``, and how many people do (one query)."""
    state = Follow.objects.filter(
        content_type=ContentType.objects.get_for_model(record), object_id=str(record.pk)
    ).aggregate(count=Count("id"), mine=Count("id", filter=Q(user_id=actor.user.pk)))
    return bool(state["mine"]), state["count"]


def records_followed_by(
    actor: policy.Actor, *, related: Callable[[type[Model]], Sequence[str]] | None = None
) -> list[tuple[Model, datetime]]:
    """The records the actor follows in their company and may still see, with when they began to follow each,
    latest followed first: one query for the follows, one per kind of record (``related(model)``: what to
    select_related with it)."""
    follows = list(Follow.objects.filter(company_id=actor.company_id, user=actor.user).select_related("content_type"))
    ids_by_model: dict[type[Model], list[str]] = {}
    for follow in follows:
        model = follow.content_type.model_class()
        if model is not None:
            ids_by_model.setdefault(model, []).append(follow.object_id)
    visible: dict[tuple[type[Model], str], Model] = {}
    for model, ids in ids_by_model.items():
        records = model._default_manager.filter(pk__in=ids)
        if related is not None and (names := related(model)):
            records = records.select_related(*names)
        for record in policy.scope(actor, records):
            visible[(model, str(record.pk))] = record
    return [
        (visible[key], follow.created_at)
        for follow in follows
        if (key := (follow.content_type.model_class(), follow.object_id)) in visible
    ]
