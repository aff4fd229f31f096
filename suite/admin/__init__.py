"""Django admin for the platform, one module per area."""

from . import tenancy  # noqa: F401
from . import notifications  # noqa: F401,E402
from . import events  # noqa: F401,E402
from . import webhooks  # noqa: F401,E402
