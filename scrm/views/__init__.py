"""SCRM pages (server-rendered, htmx polling for the live inbox). Importing this package registers the SCRM
navigation entries with the shell (``suite.ui.menu``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from scrm.models import Conversation
from suite import policy
from suite.ui import menu

menu.register(
    menu.MenuItem(
        "scrm",
        _("Inbox"),
        "scrm:inbox",
        module="scrm",
        order=10,
        check=lambda actor: policy.can(actor, "view", Conversation),
    ),
)
