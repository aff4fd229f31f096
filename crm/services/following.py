"""What the followers of a deal, a ticket or their account are told (``suite.services.follows``).

A deal's news reaches those who follow the deal or its account; a ticket's those who follow the ticket or its
account. Each is told only while they may see the deal or ticket, in the language they use the site in (titles
and bodies are functions: ``suite.services.notifications.Text``).
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from crm.models import Opportunity, Ticket
from crm.templatetags.crm_ui import local_name
from suite.services.follows import followers_notify
from suite.services.notifications import Text
from suite.templatetags.troika import format_money, person_name

__all__ = ["deal_amount", "local_name", "tell_deal_followers", "tell_ticket_followers"]


def _done_by(by) -> str:
    return _("By %(person)s.") % {"person": person_name(by)} if by is not None else ""


def _with_doer(body: Text, by) -> Text:
    """The body, then who did it — written when the notification is (in each reader's language)."""
    return lambda: " ".join(part for part in ((body() if callable(body) else body), _done_by(by)) if part)


def tell_deal_followers(opportunity: Opportunity, *, by, title: Text, body: Text = "") -> list:
    return followers_notify(
        records=[opportunity, opportunity.account if opportunity.account_id else None],
        about=opportunity,
        by=by,
        title=title,
        body=_with_doer(body, by),
    )


def tell_ticket_followers(ticket: Ticket, *, by, title: Text, body: Text = "", skip=()) -> list:
    return followers_notify(
        records=[ticket, ticket.account if ticket.account_id else None],
        about=ticket,
        by=by,
        skip=skip,
        title=title,
        body=_with_doer(body, by),
    )


def deal_amount(opportunity: Opportunity) -> str:
    return format_money(opportunity.amount, opportunity.currency)
