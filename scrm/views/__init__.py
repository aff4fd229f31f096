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


def _register_relations_menu() -> None:
    """Communities, cadences and staff handover (scrmwecom)."""
    from scrm.models import Cadence, Community, HandoverJob

    menu.register(
        menu.MenuItem(
            "scrm",
            _("Communities"),
            "scrm:communities",
            module="scrm",
            order=40,
            check=lambda actor: policy.can(actor, "view", Community),
        ),
        menu.MenuItem(
            "scrm",
            _("Cadences"),
            "scrm:cadences",
            module="scrm",
            order=41,
            check=lambda actor: policy.can(actor, "view", Cadence),
        ),
        menu.MenuItem(
            "scrm",
            _("Staff handover"),
            "scrm:handovers",
            module="scrm",
            order=42,
            check=lambda actor: policy.can(actor, "view", HandoverJob),
        ),
    )


_register_relations_menu()


def _register_campaign_menu() -> None:  # scrmqr
    from scrm.models import QrCampaign, UgcPost

    menu.register(
        menu.MenuItem(
            "scrm",
            _("QR campaigns"),
            "scrm:qr-campaigns",
            module="scrm",
            order=40,
            check=lambda actor: policy.can(actor, "view", QrCampaign),
        ),
        menu.MenuItem(
            "scrm",
            _("UGC wall"),
            "scrm:ugc-wall",
            module="scrm",
            order=45,
            check=lambda actor: policy.can(actor, "view", UgcPost),
        ),
    )


_register_campaign_menu()


def _register_segments_menu() -> None:  # scrmseg
    from scrm.models import PushCampaign, Segment, TagRule

    menu.register(
        menu.MenuItem(
            "scrm",
            _("Segments"),
            "scrm:segments",
            module="scrm",
            order=20,
            check=lambda actor: policy.can(actor, "view", Segment),
        ),
        menu.MenuItem(
            "scrm",
            _("Auto-tag rules"),
            "scrm:rules",
            module="scrm",
            order=21,
            check=lambda actor: policy.can(actor, "view", TagRule),
        ),
        menu.MenuItem(
            "scrm",
            _("Push campaigns"),
            "scrm:pushes",
            module="scrm",
            order=22,
            check=lambda actor: policy.can(actor, "view", PushCampaign),
        ),
    )


_register_segments_menu()


def _register_coupons_menu() -> None:  # scrmseg2
    from scrm.models import Coupon

    menu.register(
        menu.MenuItem(
            "scrm",
            _("Coupons"),
            "scrm:coupons",
            module="scrm",
            order=46,
            check=lambda actor: policy.can(actor, "view", Coupon),
        ),
    )


_register_coupons_menu()
