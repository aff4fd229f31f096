"""Django admin for the platform, one module per area."""

from . import (
    digests,  # noqa: F401  weekly dashboard digest
    events,  # noqa: F401
    notifications,  # noqa: F401
    saved_views,  # noqa: F401  saved list views
    tenancy,  # noqa: F401
    webhooks,  # noqa: F401
)
