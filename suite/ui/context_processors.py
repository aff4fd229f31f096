"""What every page of the shell needs: the actor, their companies, the menu, the unread notification count.

Everything is computed lazily, once per request, so a page that does not show a part pays nothing for it.
"""

from __future__ import annotations

from functools import cached_property

from django.conf import settings

from suite import policy
from suite.models import Membership, Notification
from suite.ui import menu


class Shell:
    def __init__(self, request):
        self.request = request
        self.user = request.user

    @cached_property
    def actor(self):
        if not self.user.is_authenticated or not hasattr(self.request, "get_actor"):
            return None
        return self.request.get_actor()

    @cached_property
    def memberships(self) -> list[Membership]:
        """The user's companies, for the company switcher (only shown when there is more than one)."""
        if not self.user.is_authenticated:
            return []
        return list(
            Membership.objects.filter(user=self.user, is_active=True)
            .select_related("company")
            .order_by("company__name")
        )

    @cached_property
    def menu(self) -> list[menu.SectionView]:
        if not self.user.is_authenticated:
            return []
        return menu.menu_for(self.actor, path=self.request.path, user=self.user)

    @cached_property
    def unread_count(self) -> int:
        if self.actor is None:
            return 0
        return policy.scope(self.actor, Notification.objects.filter(read_at__isnull=True)).count()

    @property
    def currency(self) -> str:
        return self.actor.company.currency if self.actor else settings.TROIKA_DEFAULT_CURRENCY


def shell(request):
    return {"shell": Shell(request)}
