"""Who may see and do what with the platform's own models (registered with ``suite.policy`` at start-up).

* Every member sees their company, its teams and its members; only the company acted in, never another.
* The company's settings (``require_2fa``, modules) are changed by its admins.
* Teams are managed by admins and managers; memberships (roles, teams, deactivation) by admins.
* API tokens are personal: everyone sees, creates and revokes only their own, whatever their role.
* A member's e-mail address is visible to admins, managers and HR only.
"""

from suite.models import ApiToken, Company, Membership, Role, Team
from suite.policy import ALL_ROLES, CRUD, ModelPolicy, Scope, register

EVERYONE_COMPANY = dict.fromkeys(ALL_ROLES, Scope.COMPANY)
VIEW_ONLY = frozenset({"view"})

register(
    ModelPolicy(
        model=Company,
        scopes=EVERYONE_COMPANY,
        actions={**dict.fromkeys(ALL_ROLES, VIEW_ONLY), Role.ADMIN: {"view", "change"}},
        company_field="pk",
        owner_field=None,
        team_field=None,
    )
)

register(
    ModelPolicy(
        model=Team,
        scopes=EVERYONE_COMPANY,
        actions={**dict.fromkeys(ALL_ROLES, VIEW_ONLY), Role.ADMIN: CRUD | {"export"}, Role.MANAGER: CRUD | {"export"}},
        owner_field=None,
        team_field=None,
    )
)

register(
    ModelPolicy(
        model=Membership,
        scopes=EVERYONE_COMPANY,
        actions={
            **dict.fromkeys(ALL_ROLES, VIEW_ONLY),
            Role.ADMIN: CRUD | {"export"},
            Role.MANAGER: {"view", "export"},
            Role.HR: {"view", "export"},
        },
        sensitive_fields={"email": {Role.ADMIN, Role.MANAGER, Role.HR}},
        owner_field=None,
        team_field=None,
    )
)

register(
    ModelPolicy(
        model=ApiToken,
        scopes=dict.fromkeys(ALL_ROLES, Scope.OWN),
        actions=dict.fromkeys(ALL_ROLES, frozenset({"view", "add", "delete"})),
        company_field="membership__company",
        owner_field="membership__user",
        team_field=None,
    )
)

# Notifications are personal: everyone sees and marks read only their own, in the company acted in.
from suite.models import Notification  # noqa: E402

register(
    ModelPolicy(
        model=Notification,
        scopes=dict.fromkeys(ALL_ROLES, Scope.OWN),
        actions=dict.fromkeys(ALL_ROLES, frozenset({"view", "change"})),
        owner_field="recipient",
        team_field=None,
    )
)

# Outgoing webhooks (suite.events): company admins only; the delivery log is read-only.
from suite.models import WebhookDelivery, WebhookSubscription  # noqa: E402

register(
    ModelPolicy(
        model=WebhookSubscription,
        scopes={Role.ADMIN: Scope.COMPANY},
        actions={Role.ADMIN: CRUD},
        owner_field=None,
        team_field=None,
    )
)

register(
    ModelPolicy(
        model=WebhookDelivery,
        scopes={Role.ADMIN: Scope.COMPANY},
        actions={Role.ADMIN: VIEW_ONLY},
        company_field="subscription__company",
        owner_field=None,
        team_field=None,
    )
)

# Saved list views are personal preferences: everyone keeps their own; admins and managers may also share one
# with the whole company (``share``). A shared view is read by everyone through ``suite.selectors.saved_views_for``;
# admins may also change or delete a shared view that is not theirs (``manage_shared``;
# ``suite.services.saved_views.may_change`` asks it for the service and for the bar alike).
from suite.models import SavedView  # noqa: E402

register(
    ModelPolicy(
        model=SavedView,
        scopes=dict.fromkeys(ALL_ROLES, Scope.OWN),
        actions={
            **dict.fromkeys(ALL_ROLES, CRUD),
            Role.ADMIN: CRUD | {"share", "manage_shared"},
            Role.MANAGER: CRUD | {"share"},
        },
        team_field=None,
    )
)

# Follows are personal: everyone follows and unfollows for themselves (``suite.services.follows``).
from suite.models import Follow  # noqa: E402

register(
    ModelPolicy(
        model=Follow,
        scopes=dict.fromkeys(ALL_ROLES, Scope.OWN),
        actions=dict.fromkeys(ALL_ROLES, frozenset({"view", "add", "delete"})),
        owner_field="user",
        team_field=None,
    )
)
