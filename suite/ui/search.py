"""The global search box: apps register providers, the shell asks each one and shows the groups.

A provider is a function ``(actor, query, limit) -> list[SearchResult]`` that reads through the policy layer
(``policy.scope``) — the registry never sees a queryset, so a provider cannot return what the actor may not
see unless it bypasses the policy itself. Register one at import time (e.g. in the app's ``selectors.py``)::

    from suite.ui import search

    @search.provider("crm.customers", _("Customers"), module="crm")
    def customers(actor, query, limit):
        return [search.SearchResult(c.name, reverse("crm:customer", args=[c.pk])) for c in ...[:limit]]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Q
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from suite import modules, policy
from suite.models import Membership, Team
from suite.templatetags.troika import person_name

MAX_QUERY_LENGTH = 100


@dataclass(frozen=True)
class SearchResult:
    title: str
    url: str
    subtitle: str = ""


@dataclass(frozen=True)
class Provider:
    key: str
    label: str | Promise
    func: Callable
    module: str | None = None  # asked only when the company has enabled this module
    roles: frozenset[str] | None = None

    def applies_to(self, actor) -> bool:
        if self.roles is not None and actor.role not in self.roles:
            return False
        return modules.company_has(actor.company, self.module)  # empty enabled_modules: every module


@dataclass(frozen=True)
class ResultGroup:
    provider: Provider
    results: list[SearchResult]


_providers: dict[str, Provider] = {}


def provider(key: str, label, *, module: str | None = None, roles=None):
    """Decorator: register ``func(actor, query, limit)`` as the search provider ``key``."""

    def decorate(func: Callable) -> Callable:
        _providers[key] = Provider(key, label, func, module, frozenset(roles) if roles else None)
        return func

    return decorate


def providers() -> list[Provider]:
    return list(_providers.values())


def normalize(query: str) -> str:
    """A search as typed: whitespace collapsed, cut to ``MAX_QUERY_LENGTH``."""
    return " ".join((query or "").split())[:MAX_QUERY_LENGTH]


def search(actor, query: str, *, limit: int = 8) -> list[ResultGroup]:
    """Ask every provider that applies to ``actor``; groups without results are left out."""
    query = normalize(query)
    if actor is None or not query:
        return []
    groups = []
    for registered in _providers.values():
        if not registered.applies_to(actor):
            continue
        results = list(registered.func(actor, query, limit))[:limit]
        if results:
            groups.append(ResultGroup(registered, results))
    return groups


# ---------------------------------------------------------------- the platform's own providers


@provider("suite.teams", _("Teams"))
def search_teams(actor, query: str, limit: int) -> list[SearchResult]:
    teams = policy.scope(actor, Team.objects.all()).filter(Q(name__icontains=query) | Q(name_en__icontains=query))
    return [
        SearchResult(team.name, reverse("team-page", args=[team.pk]), team.name_en or team.get_kind_display())
        for team in teams.order_by("name")[:limit]
    ]


@provider("suite.members", _("Members"))
def search_members(actor, query: str, limit: int) -> list[SearchResult]:
    show_email = "email" not in policy.hidden_fields(actor, Membership)
    condition = (
        Q(user__username__icontains=query) | Q(user__first_name__icontains=query) | Q(user__last_name__icontains=query)
    )
    if show_email:
        condition |= Q(user__email__icontains=query)
    memberships = (
        policy.scope(actor, Membership.objects.filter(is_active=True))
        .filter(condition)
        .select_related("user")
        .order_by("user__username")[:limit]
    )
    results = []
    for membership in memberships:
        user = membership.user
        name = person_name(user)
        subtitle = membership.get_role_display()
        if show_email and user.email:
            subtitle = f"{subtitle} · {user.email}"
        results.append(
            SearchResult(name, f"{reverse('directory')}?{urlencode({'q': user.get_username()})}", str(subtitle))
        )
    return results
