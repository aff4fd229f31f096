"""What the followers of a deal, a ticket, a lead or an account are told (``suite.services.follows``), and what an
account's new owner is told.

A deal's news reaches those who follow the deal or its account; a ticket's those who follow the ticket or its
account; a new deal those who follow its account; a lead's those who follow the lead; an account's new owner
those who follow the account. Each is told only while they may see the record the news is about, in the language
they use the site in (titles and bodies are functions: ``suite.services.notifications.Text``), never about what
they did themselves, and nobody twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm.models import Account, Lead, Opportunity, Ticket
from crm.templatetags.crm_ui import local_name
from suite.selectors import follower_ids, followers_who_may_see
from suite.services.follows import followers_notify
from suite.services.notifications import Text, notification_send
from suite.templatetags.troika import format_money, person_name

__all__ = [
    "FOLLOWED_ONE_BY_ONE",
    "deal_amount",
    "local_name",
    "tell_account_followers_of_new_deal",
    "tell_account_owner_changes",
    "tell_deal_followers",
    "tell_lead_followers",
    "tell_ticket_followers",
]

# A follower told of more of their accounts changing owner at once (a bulk reassignment) gets one line for all
FOLLOWED_ONE_BY_ONE = 3


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


# ---------------------------------------------------------------- the Following page (``register_followable``)


def deal_state(opportunity: Opportunity) -> str:
    """A deal's stage (or won/lost) and amount."""
    status = local_name(opportunity.stage) if opportunity.status == "open" else opportunity.get_status_display()
    return f"{status} · {deal_amount(opportunity)}"


def ticket_state(ticket: Ticket) -> str:
    return f"{ticket.get_status_display()} · {ticket.get_priority_display()}"


def account_state(account: Account) -> str:
    """An account's lifecycle stage and owner (the pool's when nobody owns it)."""
    owner = person_name(account.owner) if account.owner_id else _("In the customer pool")
    return f"{account.get_lifecycle_stage_display()} · {owner}"


def lead_state(lead: Lead) -> str:
    return _("%(status)s · score %(score)s") % {"status": lead.get_status_display(), "score": lead.score}


def deal_amount(opportunity: Opportunity) -> str:
    return format_money(opportunity.amount, opportunity.currency)


def tell_account_followers_of_new_deal(opportunity: Opportunity, *, by) -> list:
    """Those who follow the deal's account, and may see the deal, are told of it (not the one who made it; not
    those who follow the lead it came from: its conversion told them, ``crm.services.leads.lead_convert``)."""
    account, amount = opportunity.account, deal_amount(opportunity)
    return followers_notify(
        records=[account],
        about=opportunity,
        by=by,
        skip=follower_ids(Lead, opportunity.lead_id) if opportunity.lead_id else (),
        title=lambda: _("New deal for %(account)s: %(deal)s") % {"account": account.name, "deal": opportunity.name},
        body=_with_doer(lambda: _("Amount: %(amount)s.") % {"amount": amount}, by),
    )


def tell_lead_followers(lead: Lead, *, by, title: Text, body: Text = "", about=None, skip=()) -> list:
    """Those who follow the lead are told (not ``skip``: user ids told otherwise); ``about`` (default: the lead)
    is the record the notification links to and that they must be allowed to see — the deal or customer a
    converted lead became."""
    return followers_notify(
        records=[lead], about=about or lead, by=by, skip=skip, title=title, body=_with_doer(body, by)
    )


def tell_account_owner_changes(changes: Sequence[tuple[Account, int | None]], *, by, skip: Sequence[int] = ()) -> None:
    """Accounts changed owner (``(account as saved, previous owner id)``, e.g. one edit or a bulk reassignment):

    - each new owner is told once per call — "张伟 assigned you the account 宁波港机", or "… assigned you 12
      accounts" linking to their accounts — unless they did it themselves;
    - the accounts' followers who may still see them are told (not the doer, not a new owner told already, not
      ``skip``: people told otherwise, e.g. the previous owners of accounts the pool's sweep took back):
      one notification per account, or, for a follower of more than ``FOLLOWED_ONE_BY_ONE`` of them, one for
      all (a bulk reassignment of 40 key accounts is one line in a manager's bell, not 40).

    No locks; call it in the transaction that made the change. One query when nobody follows and the doer is the
    new owner; publishes nothing."""
    changes = [(account, before) for account, before in changes if account.owner_id != before]
    if not changes:
        return
    doer = getattr(by, "pk", None)
    by_owner: dict[int, list[Account]] = {}
    for account, _before in changes:
        if account.owner_id is not None and account.owner_id != doer:
            by_owner.setdefault(account.owner_id, []).append(account)
    followers = followers_who_may_see([account for account, _before in changes], skip=[doer, *by_owner, *skip])
    if not by_owner and not followers:
        return
    company = changes[0][0].company
    for owner_id, accounts in by_owner.items():
        _tell_new_owner(owner_id, accounts, company=company, by=by)
    one_by_one: dict[Account, list] = {}
    for follower, accounts in followers.items():
        if len(accounts) > FOLLOWED_ONE_BY_ONE:
            count = len(accounts)
            notification_send(
                recipients=[follower],
                company=company,
                title=lambda count=count: (
                    ngettext(
                        "%(count)d account you follow has a new owner",
                        "%(count)d accounts you follow have a new owner",
                        count,
                    )
                    % {"count": count}
                ),
                body=_with_doer("", by),
                link=reverse("following"),
            )
        else:
            for account in accounts:
                one_by_one.setdefault(account, []).append(follower)
    for account, people in one_by_one.items():
        notification_send(
            recipients=people,
            company=company,
            title=_owner_news(account),
            body=_with_doer("", by),
            link=account.get_absolute_url(),
        )


def _owner_news(account: Account) -> Text:
    if account.owner_id is None:
        return lambda: _("%(account)s went back to the customer pool") % {"account": account.name}
    owner = person_name(account.owner)
    return lambda: _("%(account)s now belongs to %(person)s") % {"account": account.name, "person": owner}


def _tell_new_owner(owner_id: int, accounts: list[Account], *, company, by) -> None:
    doer = person_name(by) if by is not None else ""
    if len(accounts) == 1:
        name, link = accounts[0].name, accounts[0].get_absolute_url()
        if doer:
            title = lambda: _("%(person)s assigned you the account %(account)s") % {"person": doer, "account": name}  # noqa: E731
        else:
            title = lambda: _("The account %(account)s is now yours") % {"account": name}  # noqa: E731
    else:
        count, link = len(accounts), f"{reverse('crm:account-list')}?owner=me"
        if doer:
            title = lambda: (  # noqa: E731
                ngettext(
                    "%(person)s assigned you %(count)d account", "%(person)s assigned you %(count)d accounts", count
                )
                % {"person": doer, "count": count}
            )
        else:
            title = lambda: (  # noqa: E731
                ngettext("%(count)d account is now yours", "%(count)d accounts are now yours", count) % {"count": count}
            )
    notification_send(recipients=[owner_id], company=company, title=title, link=link)
