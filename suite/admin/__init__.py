"""Django admin for the platform, one module per area."""

from . import (
    events,  # noqa: F401
    notifications,  # noqa: F401
    tenancy,  # noqa: F401
    webhooks,  # noqa: F401
)
