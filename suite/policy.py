"""The policy layer: the one place that decides what a user may see and do.

UI views, API viewsets, exports, search and admin all ask this module; none of them filters by company or
owner by itself. Each app declares a ``ModelPolicy`` per model in its ``policies.py`` (imported when the app is
ready) and this module answers three questions for an ``Actor`` (a user acting in one company):

* ``scope(actor, queryset)`` — the records the actor may see: always only their company's, then own / team /
  company by role;
* ``can(actor, action, model_or_obj)`` — whether the actor may ``view`` / ``add`` / ``change`` / ``delete``
  (or an app's own action such as ``post`` or ``export``);
* ``hidden_fields(actor, model)`` — sensitive fields (salary, ID number) the actor's role must not see.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from django.db.models import Model, Q, QuerySet
from django.http import Http404

from suite.models import Company, Membership, Role

ALL_ROLES = frozenset(Role.values)
CRUD = frozenset({"view", "add", "change", "delete"})


class Scope(enum.StrEnum):
    NONE = "none"
    OWN = "own"
    TEAM = "team"
    COMPANY = "company"


@dataclass(frozen=True)
class Actor:
    """A user acting in one company with the role of their membership there."""

    membership: Membership

    @property
    def user(self):
        return self.membership.user

    @property
    def company(self) -> Company:
        return self.membership.company

    @property
    def company_id(self) -> int:
        return self.membership.company_id

    @property
    def role(self) -> str:
        return self.membership.role

    @cached_property
    def team_ids(self) -> frozenset[int]:
        """Teams the actor belongs to or manages, with every team below those they manage."""
        from suite.models import Team

        direct = set(self.membership.teams.values_list("id", flat=True))
        managed = set(Team.objects.filter(company_id=self.company_id, manager=self.user).values_list("id", flat=True))
        frontier = set(managed)
        while frontier:
            frontier = set(Team.objects.filter(parent_id__in=frontier).values_list("id", flat=True)) - managed
            managed |= frontier
        return frozenset(direct | managed)

    @cached_property
    def teammate_ids(self) -> frozenset[int]:
        """Users who share one of the actor's teams (including the actor)."""
        ids = set(
            Membership.objects.filter(company_id=self.company_id, teams__in=self.team_ids, is_active=True).values_list(
                "user_id", flat=True
            )
        )
        return frozenset(ids | {self.user.pk})


@dataclass
class ModelPolicy:
    """Who may see and do what with one model.

    ``scopes`` maps a role to its record scope (roles not named see nothing); ``actions`` maps a role to the
    actions it may take (default: ``view`` for every role that has a scope); ``sensitive_fields`` maps a field
    name to the roles that may see it. ``company_field`` is the path to the owning company
    (``"company"`` or e.g. ``"order__company"`` for a line), ``owner_field``/``team_field`` the paths used for
    own / team scope, or ``None`` when the model has no owner (then own / team fall back to company scope).
    """

    model: type[Model]
    scopes: dict[str, Scope]
    actions: dict[str, Iterable[str]] = field(default_factory=dict)
    sensitive_fields: dict[str, Iterable[str]] = field(default_factory=dict)
    company_field: str = "company"
    owner_field: str | None = "owner"
    team_field: str | None = "team"

    def scope_for(self, role: str) -> Scope:
        return self.scopes.get(role, Scope.NONE)

    def actions_for(self, role: str) -> frozenset[str]:
        if role in self.actions:
            return frozenset(self.actions[role])
        return frozenset({"view"}) if self.scope_for(role) is not Scope.NONE else frozenset()


_registry: dict[type[Model], ModelPolicy] = {}


def register(policy: ModelPolicy) -> ModelPolicy:
    """Declare the policy of a model (called from each app's ``policies.py``)."""
    _registry[policy.model] = policy
    return policy


def policy_for(model: type[Model]) -> ModelPolicy:
    """The model's policy; a proxy model without one of its own has its concrete model's (a proxy with its own
    policy is another way of showing the same rows: the CRM's customer pool)."""
    if model._meta.proxy and model not in _registry:
        model = model._meta.concrete_model
    try:
        return _registry[model]
    except KeyError:
        raise LookupError(f"{model._meta.label} has no policy; register one in its app's policies.py") from None


def registered_models() -> list[type[Model]]:
    return list(_registry)


def scope(actor: Actor | None, queryset: QuerySet) -> QuerySet:
    """Narrow ``queryset`` to the records ``actor`` may see. No actor, no records."""
    if actor is None:
        return queryset.none()
    policy = policy_for(queryset.model)
    record_scope = policy.scope_for(actor.role)
    if record_scope is Scope.NONE:
        return queryset.none()
    queryset = queryset.filter(**{policy.company_field: actor.company_id})
    if record_scope is Scope.COMPANY or policy.owner_field is None:
        return queryset
    if record_scope is Scope.OWN:
        return queryset.filter(**{policy.owner_field: actor.user.pk})
    condition = Q(**{f"{policy.owner_field}__in": actor.teammate_ids})
    if policy.team_field:
        condition |= Q(**{f"{policy.team_field}__in": actor.team_ids})
    return queryset.filter(condition)


@dataclass(frozen=True)
class _PlaceholderUser:
    pk: int


@dataclass(frozen=True)
class PlaceholderActor:
    """An ``Actor`` look-alike whose ids are placeholders (negative numbers no row has), so that a query built
    with ``scope(placeholder, …)`` can be compiled to SQL once and run for every actor of the same shape with
    the real ids bound in its place (``ScopeRendering.bind``)."""

    role: str
    company_id: int
    user: _PlaceholderUser
    teammate_ids: frozenset[int]
    team_ids: frozenset[int]


@dataclass(frozen=True)
class ScopeRendering:
    """What ``scope_rendering`` answers: ``shape`` (hashable: a query compiled with ``placeholder`` serves every
    actor with the same shape), ``placeholder`` (pass it where the actor goes) and ``values`` (placeholder id →
    the actor's id)."""

    shape: tuple
    placeholder: PlaceholderActor
    values: dict[int, int]

    def bind(self, params) -> list:
        """The compiled query's parameters with the actor's ids in place of the placeholders."""
        values = self.values
        return [values.get(value, value) if type(value) is int else value for value in params]


_COMPANY_MARK, _USER_MARK, _TEAMMATE_MARK, _TEAM_MARK = -910_000_001, -910_000_002, -920_000_000, -930_000_000


def scope_rendering(actor: Actor, model: type[Model]) -> ScopeRendering | None:
    """``scope(actor, model.objects.all())`` as a compiled-once query: build the query with ``placeholder``
    instead of the actor (through ``scope`` itself, so every rule of this module applies), compile it once per
    ``shape`` — the model, the actor's role and record scope, how many teammates and teams the rule names — and
    bind the actor's ids for each request. ``None`` when the actor sees nothing (no scope: nothing to compile).

    For hot API paths that run precompiled SQL (``crm.api.fast``); the scope is still decided here."""
    if actor is None:
        return None
    model_policy = policy_for(model)
    record_scope = model_policy.scope_for(actor.role)
    if record_scope is Scope.NONE:
        return None
    teamish = record_scope is Scope.TEAM and model_policy.owner_field is not None
    teammates = sorted(actor.teammate_ids) if teamish else []
    teams = sorted(actor.team_ids) if teamish and model_policy.team_field else []
    teammate_marks = [_TEAMMATE_MARK - k for k in range(len(teammates))]
    team_marks = [_TEAM_MARK - k for k in range(len(teams))]
    placeholder = PlaceholderActor(
        role=actor.role,
        company_id=_COMPANY_MARK,
        user=_PlaceholderUser(_USER_MARK),
        teammate_ids=frozenset(teammate_marks),
        team_ids=frozenset(team_marks),
    )
    values = {_COMPANY_MARK: actor.company_id, _USER_MARK: actor.user.pk}
    values.update(zip(teammate_marks, teammates, strict=True))
    values.update(zip(team_marks, teams, strict=True))
    shape = (model, actor.role, record_scope, len(teammates), len(teams))
    return ScopeRendering(shape=shape, placeholder=placeholder, values=values)


def can(actor: Actor | None, action: str, target: type[Model] | Model) -> bool:
    """May ``actor`` take ``action`` on a model (class) or on one record (instance, also checked for scope)?"""
    if actor is None:
        return False
    model = target if isinstance(target, type) else type(target)
    policy = policy_for(model)
    if action not in policy.actions_for(actor.role):
        return False
    if isinstance(target, Model) and target.pk is not None:
        return scope(actor, model._default_manager.filter(pk=target.pk)).exists()
    return True


def get_visible_or_404(actor: Actor | None, queryset: QuerySet, **lookup) -> Model:
    """The one record matching ``lookup`` that the actor may see; 404 (never 403) for anything else, so a
    record of another company is indistinguishable from one that does not exist."""
    try:
        return scope(actor, queryset).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def hidden_fields(actor: Actor | None, model: type[Model]) -> frozenset[str]:
    """Names of the model's sensitive fields that ``actor`` must not see."""
    policy = policy_for(model)
    role = actor.role if actor else None
    return frozenset(name for name, roles in policy.sensitive_fields.items() if role not in set(roles))


def actor_for(user, company: Company | int | None = None) -> Actor | None:
    """The actor for ``user`` in ``company`` (or their first active company); ``None`` without a membership."""
    if user is None or not user.is_authenticated:
        return None
    memberships = Membership.objects.select_related("company", "user").filter(user=user, is_active=True)
    if company is not None:
        memberships = memberships.filter(company=company)
    membership = memberships.order_by("company_id").first()
    return Actor(membership) if membership else None
