"""The CRM's pages (server-rendered, htmx for partial updates). Importing this package registers the CRM's
navigation entries and global-search providers with the shell (``suite.ui.menu`` / ``suite.ui.search``)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from crm import selectors
from crm.models import Account, Activity, Contact, Lead, Opportunity, PoolAccount, ReplyTemplate, Ticket
from suite import policy
from suite.ui import menu, search


def _can_view_quotes(actor) -> bool:
    from crm.models import Quote

    return policy.can(actor, "view", Quote)


def _can(action: str, model):
    return lambda actor: policy.can(actor, action, model)


menu.register(
    menu.MenuItem("crm", _("My day"), "crm:my-day", module="crm", order=5),
    menu.MenuItem("crm", _("Activities"), "crm:activity-list", module="crm", order=7, check=_can("view", Activity)),
    menu.MenuItem("crm", _("Calendar"), "crm:activity-calendar", module="crm", order=8, check=_can("view", Activity)),
    menu.MenuItem("crm", _("Accounts"), "crm:account-list", module="crm", order=10, check=_can("view", Account)),
    menu.MenuItem("crm", _("Contacts"), "crm:contact-list", module="crm", order=15, check=_can("view", Contact)),
    menu.MenuItem("crm", _("Customer pool"), "crm:pool", module="crm", order=17, check=_can("view", PoolAccount)),
    menu.MenuItem("crm", _("Leads"), "crm:lead-list", module="crm", order=20, check=_can("view", Lead)),
    menu.MenuItem("crm", _("Pipeline board"), "crm:board", module="crm", order=30, check=_can("view", Opportunity)),
    menu.MenuItem(
        "crm", _("Opportunities"), "crm:opportunity-list", module="crm", order=35, check=_can("view", Opportunity)
    ),
    menu.MenuItem(
        "crm", _("Quotes"), "crm:quote-list", module="crm", order=37, check=lambda actor: _can_view_quotes(actor)
    ),
    menu.MenuItem("crm", _("Tickets"), "crm:ticket-list", module="crm", order=40, check=_can("view", Ticket)),
    menu.MenuItem(
        "crm", _("Service report"), "crm:ticket-report", module="crm", order=45, check=_can("report", Ticket)
    ),
    menu.MenuItem(
        "crm", _("Reply templates"), "crm:reply-templates", module="crm", order=46, check=_can("view", ReplyTemplate)
    ),
)

menu.register(
    menu.MenuItem(
        "crm",
        _("Imports"),
        "crm:import-list",
        module="crm",
        order=90,
        check=lambda actor: any(policy.can(actor, "import", model) for model in (Account, Contact, Lead)),
    ),
)


@search.provider("crm.customers", _("Customers"), module="crm")
def search_customers(actor, query: str, limit: int) -> list[search.SearchResult]:
    """Accounts and contacts by part of a Chinese name, pinyin (full or initials), phone or e-mail fragment."""
    results = []
    for account in selectors.accounts_visible_to(actor, search=query).order_by("-updated_at")[:limit]:
        subtitle = " · ".join(part for part in (account.name_en, account.city, account.phone) if part)
        results.append(search.SearchResult(account.name, reverse("crm:account-detail", args=[account.pk]), subtitle))
    for contact in selectors.contacts_visible_to(actor, search=query).order_by("-updated_at")[: limit - len(results)]:
        subtitle = " · ".join(
            part for part in (contact.account.name if contact.account_id else "", contact.phone, contact.email) if part
        )
        results.append(search.SearchResult(contact.name, reverse("crm:contact-detail", args=[contact.pk]), subtitle))
    return results


@search.provider("crm.leads", _("Leads"), module="crm")
def search_leads(actor, query: str, limit: int) -> list[search.SearchResult]:
    if not policy.can(actor, "view", Lead):
        return []
    results = []
    for lead in selectors.leads_visible_to(actor, search=query)[:limit]:
        url = f"{reverse('crm:lead-list')}?{urlencode({'q': lead.name or lead.company_name, 'status': 'all'})}"
        results.append(search.SearchResult(str(lead), url, str(lead.get_status_display())))
    return results


@search.provider("crm.tickets", _("Tickets"), module="crm")
def search_tickets(actor, query: str, limit: int) -> list[search.SearchResult]:
    if not policy.can(actor, "view", Ticket):
        return []
    return [
        search.SearchResult(str(ticket), reverse("crm:ticket-detail", args=[ticket.pk]), ticket.get_status_display())
        for ticket in selectors.tickets_visible_to(actor, search=query)[:limit]
    ]
