"""Who may see and do what in SCRM (registered with ``suite.policy``).

The social team — service and marketing — works the whole company's inbox; managers their teams'
conversations; a salesperson the conversations assigned to them, which is where the conversations of their own
CRM customers land (a matched identity's conversation is assigned to the customer's CRM owner when it opens;
a later change of CRM owner does not move it — reassign). Channels (credentials, webhooks) are configured by
admins and seen by marketing and service.
"""

from scrm.models import Channel, Conversation, Message, SocialIdentity
from suite.models import Role
from suite.policy import CRUD, ModelPolicy, Scope, register

ADMIN, MANAGER, SALES, SERVICE, MARKETING = Role.ADMIN, Role.MANAGER, Role.SALES, Role.SERVICE, Role.MARKETING

INBOX_SCOPES = {
    ADMIN: Scope.COMPANY,
    MANAGER: Scope.TEAM,
    SALES: Scope.OWN,
    SERVICE: Scope.COMPANY,
    MARKETING: Scope.COMPANY,
}
CONVERSATION_ACTIONS = {
    ADMIN: {"view", "reply", "assign"},
    MANAGER: {"view", "reply", "assign"},
    SALES: {"view", "reply"},
    SERVICE: {"view", "reply", "assign"},
    MARKETING: {"view", "reply"},
}

register(
    ModelPolicy(
        model=Channel,
        scopes={ADMIN: Scope.COMPANY, SERVICE: Scope.COMPANY, MARKETING: Scope.COMPANY},
        actions={ADMIN: CRUD - {"delete"}, SERVICE: {"view"}, MARKETING: {"view"}},
        owner_field=None,
        team_field=None,
    )
)
register(
    ModelPolicy(
        model=Conversation,
        scopes=INBOX_SCOPES,
        actions=CONVERSATION_ACTIONS,
        owner_field="assigned_to",
        team_field=None,
    )
)
register(
    ModelPolicy(
        model=Message,
        scopes=INBOX_SCOPES,
        actions={role: {"view"} for role in INBOX_SCOPES},
        owner_field="conversation__assigned_to",
        team_field=None,
    )
)
register(
    ModelPolicy(
        model=SocialIdentity,
        scopes=INBOX_SCOPES,
        actions={role: {"view"} for role in INBOX_SCOPES},
        owner_field="crm_owner_id",
        team_field=None,
    )
)
