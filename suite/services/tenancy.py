"""Writes of companies, teams and memberships. Views, API and admin call these; nothing else saves the models.

Every function is keyword-only and runs in one transaction. Changes are recorded by the audit triggers
(``suite.audit``) with the request's context, so no function writes history itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from suite.models import Company, Membership, Module, Role, Team

UNSET = object()
COMPANY_SETTINGS = ("name", "name_en", "require_2fa", "enabled_modules")


def lock_company(company_id: int) -> Company:
    """Lock the company row: serialises changes that must see every membership (the last-admin rule)."""
    return Company.objects.select_for_update(of=("self",)).get(pk=company_id)


def lock_team(team_id: int) -> Team:
    return Team.objects.select_for_update(of=("self",)).get(pk=team_id)


def lock_membership(membership_id: int) -> Membership:
    return Membership.objects.select_for_update(of=("self",)).get(pk=membership_id)


# ------------------------------------------------------------------ companies


@transaction.atomic
def company_update_settings(*, company: Company, by, **changes) -> Company:
    """Change the company's name and settings (``require_2fa``, ``enabled_modules``).

    Locks the company row. Unknown settings are refused; modules must be known ones.
    """
    unknown = set(changes) - set(COMPANY_SETTINGS)
    if unknown:
        raise ValidationError({name: _("This setting cannot be changed.") for name in sorted(unknown)})
    company = lock_company(company.pk)
    if "enabled_modules" in changes:
        modules = list(dict.fromkeys(changes["enabled_modules"] or []))
        invalid = [m for m in modules if m not in Module.values]
        if invalid:
            raise ValidationError({"enabled_modules": _("Unknown modules: %(m)s.") % {"m": ", ".join(invalid)}})
        changes["enabled_modules"] = modules
    if "name" in changes and not str(changes["name"]).strip():
        raise ValidationError({"name": _("A company needs a name.")})
    updated = [name for name, value in changes.items() if getattr(company, name) != value]
    for name in updated:
        setattr(company, name, changes[name])
    if updated:
        company.save(update_fields=updated)
    return company


# ------------------------------------------------------------------ teams


def _check_team_refs(*, company: Company, parent: Team | None, manager, team: Team | None = None) -> None:
    if parent is not None:
        if parent.company_id != company.pk:
            raise ValidationError({"parent": _("The parent team belongs to another company.")})
        if team is not None:
            ancestor, seen = parent, set()
            while ancestor is not None and ancestor.pk not in seen:
                if ancestor.pk == team.pk:
                    raise ValidationError({"parent": _("A team cannot be placed under itself or its sub-teams.")})
                seen.add(ancestor.pk)
                ancestor = ancestor.parent
    if manager is not None and not Membership.objects.filter(company=company, user=manager, is_active=True).exists():
        raise ValidationError({"manager": _("The manager must be an active member of the company.")})


def _save_team(team: Team, update_fields: list[str] | None = None) -> Team:
    try:
        with transaction.atomic():
            team.save(update_fields=update_fields)
    except IntegrityError:
        raise ValidationError(
            {"name": ValidationError(_("A team with this name exists already."), code="unique")}
        ) from None
    return team


@transaction.atomic
def team_create(
    *,
    company: Company,
    name: str,
    by,
    name_en: str = "",
    kind: str = Team.Kind.SALES,
    parent: Team | None = None,
    manager=None,
) -> Team:
    """Create a team (or department) in ``company``, optionally under ``parent`` and with a ``manager``.

    The name is unique per company (a DB constraint; a race loses with a field error, not a 500).
    """
    _check_team_refs(company=company, parent=parent, manager=manager)
    team = Team(company=company, name=name.strip(), name_en=name_en.strip(), kind=kind, parent=parent, manager=manager)
    team.full_clean(exclude=["company", "parent", "manager"], validate_unique=False, validate_constraints=False)
    return _save_team(team)


@transaction.atomic
def team_update(*, team: Team, by, **changes) -> Team:
    """Change a team's names, kind, parent or manager. Locks the team; refuses a parent cycle."""
    allowed = {"name", "name_en", "kind", "parent", "manager"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError({name: _("This field cannot be changed.") for name in sorted(unknown)})
    team = lock_team(team.pk)
    company = team.company
    _check_team_refs(
        company=company,
        parent=changes.get("parent", team.parent),
        manager=changes.get("manager", team.manager),
        team=team,
    )
    for name in ("name", "name_en"):
        if name in changes:
            changes[name] = (changes[name] or "").strip()
    updated = [name for name, value in changes.items() if getattr(team, name) != value]
    for name in updated:
        setattr(team, name, changes[name])
    if updated:
        team.full_clean(exclude=["company", "parent", "manager"], validate_unique=False, validate_constraints=False)
        _save_team(team, update_fields=updated)
    return team


@transaction.atomic
def team_delete(*, team: Team, by) -> None:
    """Delete a team: its sub-teams move up to no parent, its members stay in the company."""
    team = lock_team(team.pk)
    team.delete()


# ------------------------------------------------------------------ memberships


def _active_admins(company_id: int) -> int:
    return Membership.objects.filter(company_id=company_id, role=Role.ADMIN, is_active=True).count()


def _check_teams(company: Company, teams: Iterable[Team]) -> list[Team]:
    teams = list(teams)
    if any(team.company_id != company.pk for team in teams):
        raise ValidationError({"teams": _("Every team must belong to the company.")})
    return teams


@transaction.atomic
def membership_create(
    *,
    company: Company,
    username: str,
    email: str,
    role: str,
    by,
    teams: Iterable[Team] = (),
    first_name: str = "",
    last_name: str = "",
) -> Membership:
    """Add a person to ``company`` with ``role``: an existing user (same username and e-mail) or a new one
    without a usable password (they set it through password reset).

    Refuses a second membership in the same company and a username already used with another e-mail.
    """
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    teams = _check_teams(company, teams)
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User(username=username, email=email, first_name=first_name, last_name=last_name)
        user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save()
    elif user.email.lower() != email.lower():
        raise ValidationError({"username": _("This username belongs to someone with another e-mail address.")})
    lock_company(company.pk)
    if Membership.objects.filter(company=company, user=user).exists():
        raise ValidationError({"username": ValidationError(_("This person is a member already."), code="unique")})
    membership = Membership.objects.create(company=company, user=user, role=role)
    if teams:
        membership.teams.set(teams)
    return membership


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str, by) -> Membership:
    """Give the member another role. Locks the company; the last active admin cannot be demoted."""
    return membership_update(membership=membership, role=role, by=by)


@transaction.atomic
def membership_update(
    *, membership: Membership, by, role: str = UNSET, teams: Iterable[Team] = UNSET, is_active: bool = UNSET
) -> Membership:
    """Change a member's role, teams or activity. Locks the company so that two admins demoting each other
    at once cannot leave the company without an active admin."""
    company = lock_company(membership.company_id)
    membership = lock_membership(membership.pk)
    if role is not UNSET and role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    new_role = membership.role if role is UNSET else role
    new_active = membership.is_active if is_active is UNSET else bool(is_active)
    was_admin = membership.role == Role.ADMIN and membership.is_active
    if was_admin and not (new_role == Role.ADMIN and new_active) and _active_admins(company.pk) <= 1:
        raise ValidationError(
            {"role" if role is not UNSET else "is_active": _("The company's last active administrator must stay one.")}
        )
    updated = []
    if new_role != membership.role:
        membership.role = new_role
        updated.append("role")
    if new_active != membership.is_active:
        membership.is_active = new_active
        updated.append("is_active")
    if updated:
        membership.save(update_fields=updated)
    if teams is not UNSET:
        membership.teams.set(_check_teams(company, teams))
    return membership


@transaction.atomic
def membership_deactivate(*, membership: Membership, by) -> Membership:
    """Remove a person from the company: the membership is kept (history, ownership) but inactive, and their
    API tokens for this company stop working. The last active admin cannot be removed."""
    return membership_update(membership=membership, is_active=False, by=by)
