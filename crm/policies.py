"""Who may see and do what in the CRM (registered with ``suite.policy``).

Sales people work their own records, managers their teams' (and the teams below), admins the whole company.
Service, marketing and finance staff see customers company-wide because they serve, target and bill any of
them, but change only what their work needs. Configuration (tags, custom fields, pipelines, rules) is seen by
everyone in the CRM and changed by admins (tags also by managers and marketing).
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
CRM_ROLES = (ADMIN, MANAGER, SALES, SERVICE, MARKETING, FINANCE)

CUSTOMER_SCOPES = {
    ADMIN: Scope.COMPANY,
    MANAGER: Scope.TEAM,
    SALES: Scope.OWN,
    SERVICE: Scope.COMPANY,
    MARKETING: Scope.COMPANY,
    FINANCE: Scope.COMPANY,
}
CUSTOMER_ACTIONS = {
    ADMIN: CRUD | {"merge", "assign", "export", "import"},
    MANAGER: CRUD | {"merge", "assign", "export", "import"},
    SALES: {"view", "add", "change", "export"},
    SERVICE: {"view", "add", "change"},
    MARKETING: {"view", "add", "export", "import"},
    FINANCE: {"view", "change"},
}
CONFIG_SCOPES = dict.fromkeys(CRM_ROLES, Scope.COMPANY)
VIEW_ONLY = {role: {"view"} for role in CRM_ROLES}

# who sells may also release an account of theirs to the customer pool (客户公海)
ACCOUNT_ACTIONS = {role: set(actions) | ({"release"} if role in (ADMIN, MANAGER, SALES) else set())
                   for role, actions in CUSTOMER_ACTIONS.items()}  # fmt: skip
register(ModelPolicy(model=m.Account, scopes=CUSTOMER_SCOPES, actions=ACCOUNT_ACTIONS))
register(ModelPolicy(model=m.Contact, scopes=CUSTOMER_SCOPES, actions=CUSTOMER_ACTIONS))

# The customer pool (客户公海): accounts nobody owns, seen company-wide by those who sell, who may claim them;
# managers and admins also hand them to a salesperson. The pool's selector adds "nobody owns it".
SELLERS_COMPANY_WIDE = {ADMIN: Scope.COMPANY, MANAGER: Scope.COMPANY, SALES: Scope.COMPANY}
register(
    ModelPolicy(
        model=m.PoolAccount,
        scopes=SELLERS_COMPANY_WIDE,
        actions={ADMIN: {"view", "claim", "assign"}, MANAGER: {"view", "claim", "assign"}, SALES: {"view", "claim"}},
    )
)
# the company's CRM rules (the pool's, quote approval's): those who sell see them, admins set them
for rule_model in (m.PoolRule, m.QuoteApprovalRule):
    register(
        ModelPolicy(
            model=rule_model,
            scopes=SELLERS_COMPANY_WIDE,
            actions={ADMIN: {"view", "add", "change"}, MANAGER: {"view"}, SALES: {"view"}},
            owner_field=None,
            team_field=None,
        )
    )
register(
    ModelPolicy(
        model=m.PoolMove,
        scopes=SELLERS_COMPANY_WIDE,
        actions={ADMIN: {"view"}, MANAGER: {"view"}, SALES: {"view"}},
        owner_field=None,
        team_field=None,
    )
)

# Reply templates (快捷回复): the company's shared ones and one's own (the selector adds "shared or mine");
# managers and admins keep the shared ones (action "share", checked by the service).
REPLY_WORK = {"view", "add", "change", "delete"}
register(
    ModelPolicy(
        model=m.ReplyTemplate,
        scopes=dict.fromkeys((ADMIN, MANAGER, SALES, SERVICE), Scope.COMPANY),
        actions={
            ADMIN: REPLY_WORK | {"share"},
            MANAGER: REPLY_WORK | {"share"},
            SALES: REPLY_WORK,
            SERVICE: REPLY_WORK,
        },
        owner_field=None,
        team_field=None,
    )
)

register(
    ModelPolicy(
        model=m.Tag,
        scopes=CONFIG_SCOPES,
        actions={**VIEW_ONLY, ADMIN: CRUD, MANAGER: CRUD, MARKETING: CRUD},
        owner_field=None,
        team_field=None,
    )
)
register(
    ModelPolicy(
        model=m.TagGroup,
        scopes=CONFIG_SCOPES,
        actions={**VIEW_ONLY, ADMIN: CRUD, MARKETING: CRUD},
        owner_field=None,
        team_field=None,
    )
)
register(
    ModelPolicy(
        model=m.CustomFieldSet,
        scopes=CONFIG_SCOPES,
        actions={**VIEW_ONLY, ADMIN: CRUD},
        owner_field=None,
        team_field=None,
    )
)

# Leads, opportunities and activities are worked like customers: own / team / company.
register(
    ModelPolicy(
        model=m.Lead,
        scopes={ADMIN: Scope.COMPANY, MANAGER: Scope.TEAM, SALES: Scope.OWN, MARKETING: Scope.COMPANY},
        actions={
            ADMIN: CRUD | {"convert", "assign", "export", "import"},
            MANAGER: CRUD | {"convert", "assign", "export", "import"},
            SALES: {"view", "add", "change", "convert", "export"},
            MARKETING: {"view", "add", "change", "assign", "export", "import"},
        },
    )
)
# Who sees which deals; the sales funnel's pre-aggregate (FunnelReach, below) is scoped the same way.
OPPORTUNITY_SCOPES = {
    ADMIN: Scope.COMPANY,
    MANAGER: Scope.TEAM,
    SALES: Scope.OWN,
    FINANCE: Scope.COMPANY,
    SERVICE: Scope.COMPANY,
}
register(
    ModelPolicy(
        model=m.Opportunity,
        scopes=OPPORTUNITY_SCOPES,
        actions={
            ADMIN: CRUD | {"assign", "export"},
            MANAGER: CRUD | {"assign", "export"},
            SALES: {"view", "add", "change", "export"},
            FINANCE: {"view", "export"},
            SERVICE: {"view"},
        },
    )
)
register(
    ModelPolicy(
        model=m.OpportunityStageChange,
        scopes={ADMIN: Scope.COMPANY, MANAGER: Scope.TEAM, SALES: Scope.OWN, FINANCE: Scope.COMPANY},
        actions={ADMIN: {"view"}, MANAGER: {"view"}, SALES: {"view"}, FINANCE: {"view"}},
        owner_field="opportunity__owner",
        team_field="opportunity__team",
    )
)
register(
    ModelPolicy(
        # the sales funnel's pre-aggregate: its rows carry their deals' team and owner and are scoped as the
        # deals are (the funnel narrows the stage changes to the deals the actor may see)
        model=m.FunnelReach,
        scopes=OPPORTUNITY_SCOPES,
        actions={role: {"view"} for role in OPPORTUNITY_SCOPES},
        owner_field="owner_id",
        team_field="team_id",
    )
)
register(
    ModelPolicy(
        model=m.Activity,
        scopes={
            ADMIN: Scope.COMPANY,
            MANAGER: Scope.TEAM,
            SALES: Scope.OWN,
            SERVICE: Scope.OWN,
            MARKETING: Scope.OWN,
        },
        actions={
            ADMIN: CRUD | {"assign", "export"},
            MANAGER: CRUD | {"assign", "export"},
            SALES: CRUD | {"export"},
            SERVICE: CRUD,
            MARKETING: CRUD,
        },
    )
)
for config_model in (m.Pipeline, m.Stage, m.LostReason, m.AssignmentRule, m.LeadScoringRule):
    register(
        ModelPolicy(
            model=config_model,
            scopes=CONFIG_SCOPES,
            actions={**VIEW_ONLY, ADMIN: CRUD},
            owner_field=None,
            team_field=None,
        )
    )

# Service tickets: the service role works every ticket of the company; a salesperson sees (and notes on) the
# tickets of their own customers (a ticket's owner is its customer's owner); managers their teams'. Ticket
# configuration (categories, SLA targets) is changed by admins and managers, inbound e-mail tokens by admins.
TICKET_WORK = {"view", "add", "change", "reply", "note", "resolve", "escalate", "assign", "close", "report"}
register(
    ModelPolicy(
        model=m.Ticket,
        scopes={ADMIN: Scope.COMPANY, MANAGER: Scope.TEAM, SERVICE: Scope.COMPANY, SALES: Scope.OWN},
        actions={
            ADMIN: TICKET_WORK | {"export"},
            MANAGER: TICKET_WORK | {"export"},
            SERVICE: TICKET_WORK | {"export"},
            SALES: {"view", "add", "note"},
        },
    )
)
for through_ticket in (m.TicketMessage, m.CsatSurvey):
    register(
        ModelPolicy(
            model=through_ticket,
            scopes={ADMIN: Scope.COMPANY, MANAGER: Scope.TEAM, SERVICE: Scope.COMPANY, SALES: Scope.OWN},
            actions={role: {"view"} for role in (ADMIN, MANAGER, SERVICE, SALES)},
            owner_field="ticket__owner",
            team_field="ticket__team",
        )
    )
for ticket_config in (m.TicketCategory, m.SlaPolicy):
    register(
        ModelPolicy(
            model=ticket_config,
            scopes=CONFIG_SCOPES,
            actions={**VIEW_ONLY, ADMIN: CRUD, MANAGER: CRUD},
            owner_field=None,
            team_field=None,
        )
    )
# Imports: a job is seen by who uploaded it, their managers and the admins; whether the rows may be imported at
# all is the target model's "import" action (checked by the views and the API). Exports are the "export" action
# of each list's model; a salesperson exports what they see (their own records), managers their teams'.
register(
    ModelPolicy(
        model=m.ImportJob,
        scopes={ADMIN: Scope.COMPANY, MANAGER: Scope.TEAM, MARKETING: Scope.OWN},
        actions={role: {"view", "add", "change"} for role in (ADMIN, MANAGER, MARKETING)},
    )
)
register(
    ModelPolicy(
        model=m.TicketInboundToken,
        scopes={ADMIN: Scope.COMPANY},
        actions={ADMIN: {"view", "add", "delete"}},
        owner_field=None,
        team_field=None,
    )
)

# Opportunity lines and quotes follow their opportunity: who sees the deal sees its products and quotes. Prices
# set by hand instead of ERP's price list ("override_price") are for managers and admins; sales people quote,
# send and record the customer's answer on their own deals.
DEAL_SCOPES = {
    ADMIN: Scope.COMPANY,
    MANAGER: Scope.TEAM,
    SALES: Scope.OWN,
    FINANCE: Scope.COMPANY,
    SERVICE: Scope.COMPANY,
}
register(
    ModelPolicy(
        model=m.OpportunityLine,
        scopes=DEAL_SCOPES,
        actions={
            ADMIN: CRUD | {"override_price"},
            MANAGER: CRUD | {"override_price"},
            SALES: CRUD,
            FINANCE: {"view"},
            SERVICE: {"view"},
        },
        owner_field="opportunity__owner",
        team_field="opportunity__team",
    )
)
# The buying committee of a deal (who decides, who pays, who evaluates) is part of the deal: the same scopes, and
# the deal's people edit it.
register(
    ModelPolicy(
        model=m.OpportunityContactRole,
        scopes=DEAL_SCOPES,
        actions={ADMIN: CRUD, MANAGER: CRUD, SALES: CRUD, FINANCE: {"view"}, SERVICE: {"view"}},
        owner_field="opportunity__owner",
        team_field="opportunity__team",
    )
)
QUOTE_WORK = {"view", "add", "send", "accept", "reject"}
register(
    ModelPolicy(
        model=m.Quote,
        scopes=DEAL_SCOPES,
        # the quote list's file (CSV / XLSX) for those who may export the deals the quotes are of
        actions={
            ADMIN: QUOTE_WORK | {"export", "approve"},
            MANAGER: QUOTE_WORK | {"export", "approve"},  # quotes beyond the discount limit (报价审批)
            SALES: QUOTE_WORK | {"export"},
            FINANCE: {"view", "export"},
            SERVICE: {"view"},
        },
        owner_field="opportunity__owner",
        team_field="opportunity__team",
    )
)
register(
    ModelPolicy(
        model=m.QuoteLine,
        scopes=DEAL_SCOPES,
        actions={role: {"view"} for role in DEAL_SCOPES},
        owner_field="quote__opportunity__owner",
        team_field="quote__opportunity__team",
    )
)

from crm import policies_campaigns  # noqa: E402,F401  campaigns, web forms, reminders, nudges

# Customer finance facts (closed loop, flow 4): seen by whoever sees the account; written only by the handlers of
# ERP's receivable events.
register(
    ModelPolicy(
        model=m.CustomerFinance,
        scopes=CUSTOMER_SCOPES,
        actions={role: {"view"} for role in CRM_ROLES},
        owner_field="account__owner",
        team_field="account__team",
    )
)

# Owner handovers (closed loop, flow 11): made by the handler of HR's employee deactivation; admins and managers
# follow them company-wide (who left, who took over, what moved). Nobody edits them.
register(
    ModelPolicy(
        model=m.OwnerHandover,
        scopes={ADMIN: Scope.COMPANY, MANAGER: Scope.COMPANY},
        actions={ADMIN: {"view"}, MANAGER: {"view"}},
        owner_field=None,
        team_field=None,
    )
)
from crm import policies_targets  # noqa: E402,F401  sales targets (dashboards)
