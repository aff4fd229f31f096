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


# ---------------------------------------------------------------- QR campaigns, coupons, UGC (scrmqr)
# Marketing runs campaigns and coupons; service reads them (a customer asks about a prize) and redeems
# coupons at the counter; managers read. UGC is worked by marketing (feature, reward) and service (read).


def _register_campaigns() -> None:
    from scrm.models import Coupon, CouponTemplate, QrCampaign, QrClaim, QrCode, QrScan, UgcPost

    company_wide = {ADMIN: Scope.COMPANY, MANAGER: Scope.COMPANY, SERVICE: Scope.COMPANY, MARKETING: Scope.COMPANY}
    readers = {MANAGER: {"view"}, SERVICE: {"view"}}
    for model in (QrCampaign, CouponTemplate):
        register(
            ModelPolicy(
                model=model,
                scopes=company_wide,
                actions={ADMIN: CRUD - {"delete"}, MARKETING: CRUD - {"delete"}, **readers},
                owner_field=None,
                team_field=None,
            )
        )
    for model in (QrCode, QrScan, QrClaim):
        register(
            ModelPolicy(
                model=model,
                scopes=company_wide,
                actions={ADMIN: {"view", "add"}, MARKETING: {"view", "add"}, **readers},
                owner_field=None,
                team_field=None,
            )
        )
    register(
        ModelPolicy(
            model=Coupon,
            scopes=company_wide,
            actions={
                ADMIN: {"view", "add", "redeem"},
                MARKETING: {"view", "add", "redeem"},
                SERVICE: {"view", "redeem"},
                MANAGER: {"view"},
            },
            owner_field=None,
            team_field=None,
        )
    )
    register(
        ModelPolicy(
            model=UgcPost,
            scopes={**company_wide, SALES: Scope.COMPANY},
            actions={
                ADMIN: {"view", "add", "feature", "reward"},
                MARKETING: {"view", "add", "feature", "reward"},
                SERVICE: {"view", "add"},
                MANAGER: {"view"},
                SALES: {"view"},  # public posts: a salesperson sees their customers' on the 360 page
            },
            owner_field=None,
            team_field=None,
        )
    )


_register_campaigns()

from scrm import (  # noqa: E402
    policies_loop,  # noqa: F401  order status messages to customers (closed loop)
    policies_relations,  # noqa: F401  communities, cadences, QR codes, handover (scrmwecom)
    policies_segments,  # noqa: F401  auto-tag rules, segments, consents, pushes (scrmseg)
)
