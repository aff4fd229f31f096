"""Who may see and do what with auto-tag rules, segments, consents and pushes: marketing (and admins) run them
company-wide, managers look on; service records and withdraws consents for the customers they talk to.
Consents carry no owner: the company's social team shares them."""

from scrm.models import Consent, PushCampaign, PushMessage, Segment, TagRule
from suite.models import Role
from suite.policy import CRUD, ModelPolicy, Scope, register

ADMIN, MANAGER, SERVICE, MARKETING = Role.ADMIN, Role.MANAGER, Role.SERVICE, Role.MARKETING
COMPANY = {ADMIN: Scope.COMPANY, MANAGER: Scope.COMPANY, MARKETING: Scope.COMPANY}

for model in (TagRule, Segment):
    register(
        ModelPolicy(
            model=model,
            scopes=COMPANY,
            actions={ADMIN: CRUD, MARKETING: CRUD, MANAGER: {"view"}},
            owner_field=None,
            team_field=None,
        )
    )
register(
    ModelPolicy(
        model=PushCampaign,
        scopes=COMPANY,
        actions={ADMIN: CRUD - {"delete"}, MARKETING: CRUD - {"delete"}, MANAGER: {"view"}},
        owner_field=None,
        team_field=None,
    )
)
register(
    ModelPolicy(
        model=PushMessage,
        scopes=COMPANY,
        actions={role: {"view"} for role in COMPANY},
        owner_field=None,
        team_field=None,
    )
)
register(
    ModelPolicy(
        model=Consent,
        scopes={**COMPANY, SERVICE: Scope.COMPANY},
        actions={
            ADMIN: {"view", "add", "change"},
            MARKETING: {"view", "add", "change"},
            SERVICE: {"view", "add", "change"},
            MANAGER: {"view"},
        },
        owner_field=None,
        team_field=None,
    )
)
