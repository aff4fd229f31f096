"""The platform's models, one module per aggregate."""

from .tenancy import Company, Membership, Module, OwnedModel, Role, Team, TenantModel

__all__ = ["Company", "Membership", "Module", "OwnedModel", "Role", "Team", "TenantModel"]
from .tokens import ApiToken

__all__ += ["ApiToken"]
from .notifications import Notification  # noqa: E402
from .uploads import Attachment  # noqa: E402

__all__ += ["Attachment", "Notification"]
from .idempotency import IdempotencyKey  # noqa: E402

__all__ += ["IdempotencyKey"]
from .outbox import HandlerRun, OutboxEvent  # noqa: E402
from .webhooks import WebhookDelivery, WebhookSubscription  # noqa: E402

__all__ += ["HandlerRun", "OutboxEvent", "WebhookDelivery", "WebhookSubscription"]
from .digests import DashboardDigestSent, DashboardDigestSetting  # noqa: E402  weekly dashboard digest

__all__ += ["DashboardDigestSent", "DashboardDigestSetting"]
from .saved_views import DefaultView, SavedView  # noqa: E402  saved list views

__all__ += ["DefaultView", "SavedView"]
from .follows import Follow  # noqa: E402  following a record

__all__ += ["Follow"]
