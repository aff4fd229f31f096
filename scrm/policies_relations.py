"""Who may see and do what with communities, cadences, channel QR codes and staff handover jobs (imported by
``scrm.policies``).

Marketing runs communities, cadences and QR codes; service answers in communities; managers see all of it
and start handovers with admins; salespeople see the communities they own and the cadence enrolments of
their own leads (and may stop them)."""

from scrm.models import (
    Cadence,
    CadenceEnrollment,
    CadenceStep,
    Community,
    CommunityMember,
    CommunityPost,
    ContactWay,
    HandoverJob,
)
from suite.models import Role
from suite.policy import CRUD, ModelPolicy, Scope, register

ADMIN, MANAGER, SALES, SERVICE, MARKETING = Role.ADMIN, Role.MANAGER, Role.SALES, Role.SERVICE, Role.MARKETING
EDIT = CRUD - {"delete"}

COMMUNITY_SCOPES = {
    ADMIN: Scope.COMPANY,
    MANAGER: Scope.COMPANY,
    MARKETING: Scope.COMPANY,
    SERVICE: Scope.COMPANY,
    SALES: Scope.OWN,
}


def _register() -> None:
    register(
        ModelPolicy(
            model=Community,
            scopes=COMMUNITY_SCOPES,
            actions={
                ADMIN: EDIT | {"assign"},
                MARKETING: EDIT | {"assign"},
                MANAGER: {"view"},
                SERVICE: {"view"},
                SALES: {"view"},
            },
            owner_field="owner",
            team_field=None,
        )
    )
    register(
        ModelPolicy(
            model=CommunityPost,
            scopes=COMMUNITY_SCOPES,
            actions={
                ADMIN: {"view", "add"},
                MARKETING: {"view", "add"},
                SERVICE: {"view", "add"},
                MANAGER: {"view", "add"},
                SALES: {"view"},
            },
            owner_field="community__owner",
            team_field=None,
        )
    )
    register(  # a community's members: seen by who sees the community (a post names the member it answers)
        ModelPolicy(
            model=CommunityMember,
            scopes=COMMUNITY_SCOPES,
            actions={role: {"view"} for role in (ADMIN, MARKETING, SERVICE, MANAGER, SALES)},
            owner_field="community__owner",
            team_field=None,
        )
    )
    for model in (Cadence, CadenceStep):
        register(
            ModelPolicy(
                model=model,
                scopes={ADMIN: Scope.COMPANY, MARKETING: Scope.COMPANY, MANAGER: Scope.COMPANY, SALES: Scope.COMPANY},
                actions={ADMIN: EDIT, MARKETING: EDIT, MANAGER: {"view"}, SALES: {"view"}},
                owner_field=None,
                team_field=None,
            )
        )
    register(
        ModelPolicy(
            model=CadenceEnrollment,
            scopes={ADMIN: Scope.COMPANY, MARKETING: Scope.COMPANY, MANAGER: Scope.COMPANY, SALES: Scope.OWN},
            actions={role: {"view", "stop"} for role in (ADMIN, MARKETING, MANAGER, SALES)},
            owner_field="owner",
            team_field=None,
        )
    )
    register(
        ModelPolicy(
            model=ContactWay,
            scopes={ADMIN: Scope.COMPANY, MARKETING: Scope.COMPANY, MANAGER: Scope.COMPANY, SALES: Scope.OWN},
            actions={
                ADMIN: {"view", "add", "assign"},
                MARKETING: {"view", "add", "assign"},
                MANAGER: {"view"},
                SALES: {"view"},
            },
            owner_field="owner",
            team_field=None,
        )
    )
    register(
        ModelPolicy(
            model=HandoverJob,
            scopes={ADMIN: Scope.COMPANY, MANAGER: Scope.COMPANY},
            actions={ADMIN: {"view", "add", "advance"}, MANAGER: {"view", "add", "advance"}},
            owner_field=None,
            team_field=None,
        )
    )


_register()
