"""Policies of campaigns, web-to-lead forms, reminder preferences and stale-opportunity nudges (imported by
``crm.policies``).

Marketing plans and runs campaigns; admins too. Managers and sales see campaigns (to know where leads come
from); the comparison report (``report``) is for admins, managers, marketing and finance, who also see costs.
Web forms are configured by admins and marketing. Everyone chooses their own reminder e-mails; admins set the
company's default. A nudge is seen by the opportunity's owner (and managers, admins) like the opportunity.
"""

from crm import models as m
from suite.models import Role
from suite.policy import CRUD, ModelPolicy, Scope, register

ADMIN, MANAGER, SALES, SERVICE, MARKETING, FINANCE = (
    Role.ADMIN,
    Role.MANAGER,
    Role.SALES,
    Role.SERVICE,
    Role.MARKETING,
    Role.FINANCE,
)
MARKETING_ROLES = (ADMIN, MANAGER, SALES, MARKETING, FINANCE)

register(
    ModelPolicy(
        model=m.Campaign,
        scopes=dict.fromkeys(MARKETING_ROLES, Scope.COMPANY),
        # the campaign list's file (CSV / XLSX) for those who see the comparison report
        actions={
            ADMIN: CRUD | {"report", "export"},
            MARKETING: CRUD | {"report", "export"},
            MANAGER: {"view", "report", "export"},
            FINANCE: {"view", "report", "export"},
            SALES: {"view"},
        },
    )
)
for part in (m.CampaignMember, m.CampaignTouch):
    register(
        ModelPolicy(
            model=part,
            scopes=dict.fromkeys((ADMIN, MANAGER, MARKETING), Scope.COMPANY),
            actions={ADMIN: CRUD, MARKETING: CRUD, MANAGER: {"view"}},
            owner_field=None,
            team_field=None,
        )
    )
register(
    ModelPolicy(
        model=m.CampaignCost,
        scopes=dict.fromkeys((ADMIN, MANAGER, MARKETING, FINANCE), Scope.COMPANY),
        actions={ADMIN: CRUD, MARKETING: CRUD, MANAGER: {"view"}, FINANCE: {"view"}},
        owner_field=None,
        team_field=None,
    )
)
register(
    ModelPolicy(
        model=m.WebForm,
        scopes=dict.fromkeys((ADMIN, MARKETING), Scope.COMPANY),
        actions={ADMIN: CRUD, MARKETING: CRUD},
        owner_field=None,
        team_field=None,
    )
)
register(
    ModelPolicy(
        model=m.ReminderPreference,
        scopes={role: Scope.COMPANY if role == ADMIN else Scope.OWN for role in (*MARKETING_ROLES, SERVICE)},
        actions=dict.fromkeys((*MARKETING_ROLES, SERVICE), CRUD),
        owner_field="user",
        team_field=None,
    )
)
register(
    ModelPolicy(
        model=m.OpportunityNudge,
        scopes={ADMIN: Scope.COMPANY, MANAGER: Scope.TEAM, SALES: Scope.OWN},
        actions={ADMIN: {"view"}, MANAGER: {"view"}, SALES: {"view"}},
    )
)
