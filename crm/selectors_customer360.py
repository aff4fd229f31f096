"""The customer 360° page: key figures and one timeline of everything about an account or a contact.

CRM's own records (activities, deal stage changes, tickets, campaign touches) are read here; ERP's orders,
invoices and payments come through ``erp.selectors`` and social messages and UGC through ``scrm.selectors`` —
never their tables. Every source is one query cut to what the page shows, so the query count does not depend
on how much history a customer has (``crm/tests/test_views_360_query_counts.py``).

The timeline is paged: page ``offset`` shows entries ``offset … offset + size`` of the merged stream, newest
first; each source reads its newest ``offset + size + 1`` rows (one more tells whether there is a next page).
A deeper page costs more rows, not more queries, and stops at ``MAX_TIMELINE_OFFSET``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Case, Count, DateTimeField, ExpressionWrapper, F, Q, Sum, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from crm.models import (
    CONTACT_KINDS,
    Account,
    Activity,
    ActivityKind,
    CampaignTouch,
    Contact,
    Opportunity,
    OpportunityContactRole,
    OpportunityStageChange,
    OpportunityStatus,
    Ticket,
    TicketChannel,
    TicketStatus,
    TouchKind,
)
from erp.selectors import receivables as erp_receivables
from erp.selectors import sales as erp_sales
from scrm import selectors as scrm_selectors
from suite import policy
from suite.policy import Actor

TIMELINE_PAGE = 20
MAX_TIMELINE_OFFSET = 400
SIDE_LIST = 10
OPEN_TICKET_STATUSES = ("new", "open", "pending")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class CustomerFigures:
    """The key figures at the top of a customer's 360° page (CRM figures over what the actor may see; ERP
    figures of the account's ERP customer, in the company currency)."""

    open_deals: int
    open_amount: Decimal
    won_deals: int
    won_revenue: Decimal
    open_tickets: int
    last_contact_at: datetime | None
    erp_known: bool = False  # ERP has a customer mirroring this account
    lifetime_revenue: Decimal = Decimal("0.00")  # posted invoices less credit notes, untaxed
    outstanding: Decimal = Decimal("0.00")
    overdue: Decimal = Decimal("0.00")
    last_payment_date: date | None = None
    last_payment_amount: Decimal | None = None
    currency: str = ""


@dataclass(frozen=True)
class GroupFigures:
    """A group's figures on its 360° page (集团汇总): the account and every company under it, at any depth, as
    far as the reader may see them — CRM deals and tickets, and the receivables ERP last reported for each."""

    companies: int  # the group's companies the reader may see, the group itself included
    open_deals: int
    open_amount: Decimal
    won_revenue: Decimal
    open_tickets: int | None  # None when the reader may not see tickets
    lifetime_revenue: Decimal
    outstanding: Decimal
    overdue: Decimal


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the timeline, ready to show: no template lookups, URL reversing or translation per line."""

    kind: str  # activity | stage | ticket | touch | order | invoice | credit_note | payment | refund | message | ugc
    at: datetime
    key: int  # the record's id in its source (ties on ``at`` are broken by kind and key)
    label: str  # what it is ("Call", "Invoice", "WeChat message" …)
    title: str
    url: str = ""
    status: str = ""
    status_class: str = ""
    detail: str = ""
    body: str = ""
    amount: Decimal | None = None
    currency: str = ""
    date_only: bool = False  # ERP documents carry a date, not a time: shown without one, first thing that day


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    offset: int
    next_offset: int | None


@dataclass(frozen=True)
class Customer360:
    customer: Account | Contact
    figures: CustomerFigures
    timeline: TimelinePage
    opportunities: list[Opportunity]
    tickets: list[TimelineEntry]
    open_activities: list[Activity]
    contacts: list[Contact]
    extra: dict = field(default_factory=dict)
    committee_seats: list[OpportunityContactRole] = field(default_factory=list)  # a contact's, with the deal
    parent: Account | None = None  # an account's group, when the reader may see it
    subsidiaries: list[Account] = field(default_factory=list)
    group: GroupFigures | None = None  # when the account has subsidiaries the reader may see


def _person(first: str | None, last: str | None, username: str | None) -> str:
    first, last = (first or "").strip(), (last or "").strip()
    if not first and not last:
        return username or ""
    if _CJK.search(first + last):
        return f"{last}{first}"
    return f"{first} {last}".strip()


def _local(name: str, name_en: str, english: bool) -> str:
    return name_en if english and name_en else name


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _url_maker(name: str):
    """``reverse`` once, then fill the id in: 20 lines cost one reverse, not 20."""
    marker = 999999937
    pattern = reverse(name, args=[marker])
    head, tail = pattern.split(str(marker), 1)
    return lambda pk: f"{head}{pk}{tail}"


def _where(customer: Account | Contact) -> dict:
    return {"account": customer} if isinstance(customer, Account) else {"contact": customer}


# ---------------------------------------------------------------- timeline sources: newest ``limit`` rows each


def _activities(actor, customer, limit: int) -> list[TimelineEntry]:
    kinds = dict(ActivityKind.choices)
    rows = (
        policy.scope(actor, Activity.objects.filter(**_where(customer)))
        .order_by("-created_at", "-id")
        .values_list(
            "id", "kind", "subject", "body", "created_at", "done_at", "due_at", "outcome", "email_to",
            "owner__first_name", "owner__last_name", "owner__username",
        )[:limit]
    )  # fmt: skip
    done, due = _("done"), _("due")
    entries = []
    for pk, kind, subject, body, created_at, done_at, due_at, outcome, email_to, first, last, username in rows:
        detail = _person(first, last, username)
        if email_to:
            detail = _("%(person)s to %(addresses)s") % {"person": detail, "addresses": email_to}
        if outcome:
            detail = f"{detail} · {outcome}"
        status = done if done_at else ""
        if not done_at and due_at:
            status = f"{due} {timezone.localtime(due_at):%Y-%m-%d %H:%M}"
        entries.append(
            TimelineEntry(
                "activity", created_at, pk, str(kinds.get(kind, kind)), subject,
                status=status, status_class="success" if done_at else "muted", detail=detail,
                body=body[:300] + ("…" if len(body) > 300 else ""),
            )
        )  # fmt: skip
    return entries


def _stage_changes(actor, customer, limit: int, english: bool) -> list[TimelineEntry]:
    deals = Opportunity.objects.filter(company_id=customer.company_id, **_where(customer)).values("id")
    rows = (
        policy.scope(actor, OpportunityStageChange.objects.filter(opportunity_id__in=deals))
        # sorted on an expression on purpose: sorted on the column, PostgreSQL walks the company's whole
        # history backwards on (company, changed_at) looking for this customer's deals (140 ms on the bench's
        # biggest account); this way it reads the customer's deals' changes by opportunity and sorts them
        .order_by(ExpressionWrapper(F("changed_at") + timedelta(0), output_field=DateTimeField()).desc(), "-id")
        .values_list(
            "id", "changed_at", "opportunity_id", "opportunity__name", "opportunity__currency", "amount",
            "from_stage__name", "from_stage__name_en", "to_stage__name", "to_stage__name_en",
            "to_stage__is_won", "to_stage__is_lost",
            "changed_by__first_name", "changed_by__last_name", "changed_by__username",
            "opportunity__promised_date", "opportunity__erp_order_number",
        )[:limit]
    )  # fmt: skip
    url = _url_maker("crm:opportunity-detail")
    label, won, lost, created_in = _("Opportunity"), _("won"), _("lost"), _("created in")
    entries = []
    for (pk, at, deal_id, deal, currency, amount, from_name, from_en, to_name, to_en, is_won, is_lost,
         first, last, username, promised, erp_number) in rows:  # fmt: skip
        to_stage = _local(to_name, to_en, english)
        move = f"{_local(from_name, from_en, english)} → {to_stage}" if from_name else f"{created_in} {to_stage}"
        if is_won and erp_number:  # the closed loop: what ERP promised for the won deal
            move += " · " + (
                _("%(order)s promised %(date)s") % {"order": erp_number, "date": promised.isoformat()}
                if promised
                else str(erp_number)
            )
        entries.append(
            TimelineEntry(
                "stage", at, pk, str(label), deal, url=url(deal_id),
                status=won if is_won else (lost if is_lost else ""),
                status_class="success" if is_won else ("error" if is_lost else ""),
                detail=" · ".join(filter(None, [move, _person(first, last, username)])),
                amount=amount, currency=currency,
            )
        )  # fmt: skip
    return entries


def _tickets(actor, customer, limit: int) -> list[TimelineEntry]:
    if not policy.can(actor, "view", Ticket):
        return []
    statuses, channels = dict(TicketStatus.choices), dict(TicketChannel.choices)
    rows = (
        policy.scope(actor, Ticket.objects.filter(**_where(customer)))
        .order_by("-created_at", "-id")
        .values_list(
            "id", "number", "subject", "status", "channel", "created_at",
            "assigned_agent__first_name", "assigned_agent__last_name", "assigned_agent__username",
        )[:limit]
    )  # fmt: skip
    url = _url_maker("crm:ticket-detail")
    label = _("Ticket")
    classes = {"new": "role", "open": "warning", "resolved": "success"}
    entries = []
    for pk, number, subject, status, channel, created_at, first, last, username in rows:
        agent = _person(first, last, username)
        entries.append(
            TimelineEntry(
                "ticket", created_at, pk, str(label), f"#{number} {subject}", url=url(pk),
                status=str(statuses.get(status, status)), status_class=classes.get(status, ""),
                detail=" · ".join(filter(None, [str(channels.get(channel, channel)), agent])),
            )
        )  # fmt: skip
    return entries


def _touches(actor, customer, limit: int) -> list[TimelineEntry]:
    kinds = dict(TouchKind.choices)
    rows = (
        policy.scope(actor, CampaignTouch.objects.filter(**_where(customer)))
        .order_by("-touched_at", "-id")
        .values_list("id", "touched_at", "kind", "campaign_id", "campaign__name")[:limit]
    )
    url = _url_maker("crm:campaign-detail")
    label = _("Campaign")
    return [
        TimelineEntry("touch", at, pk, str(label), name, url=url(campaign_id), status=str(kinds.get(kind, kind)))
        for pk, at, kind, campaign_id, name in rows
    ]


def _erp_documents(customer, limit: int) -> list[TimelineEntry]:
    """Orders, invoices, credit notes and payments of the account's ERP customer (accounts only: ERP mirrors
    accounts, not contacts). Dates without a time sit at the start of their day."""
    if not isinstance(customer, Account):
        return []
    entries = []
    order_url, invoice_url = _url_maker("erp:sales-order-detail"), _url_maker("erp:invoice-detail")
    order_label = _("Sales order")
    for order in erp_sales.customer_orders(company_id=customer.company_id, crm_account_id=customer.pk, limit=limit):
        entries.append(
            TimelineEntry(
                "order", _day_start(order.order_date), order.id, str(order_label), order.number,
                url=order_url(order.id), status=order.state, amount=order.amount_total, currency=order.currency,
                date_only=True,
                detail=_("promised %(date)s") % {"date": order.promised_date} if order.promised_date else "",
            )
        )  # fmt: skip
    labels = {
        "invoice": _("Invoice"),
        "credit_note": _("Credit note"),
        "payment": _("Payment received"),
        "refund": _("Payment refunded"),
    }
    paid_classes = {"paid": "success", "partial": "warning", "not_paid": "warning", "reversed": "error"}
    documents = erp_receivables.customer_finance_documents(
        company_id=customer.company_id, crm_account_id=customer.pk, limit=limit
    )
    for doc in documents:
        is_invoice = doc["type"] in ("invoice", "credit_note")
        status = doc["payment_state"] if is_invoice and doc["state"] == "posted" else doc["state"]
        detail = ""
        if is_invoice and doc["amount_residual"] and doc["state"] == "posted":
            detail = _("open %(amount)s, due %(date)s") % {"amount": doc["amount_residual"], "date": doc["due_date"]}
        entries.append(
            TimelineEntry(
                doc["type"], _day_start(doc["date"]), doc["id"], str(labels.get(doc["type"], doc["type"])),
                doc["number"] or _("(draft)"), url=invoice_url(doc["id"]) if is_invoice else "",
                status=status or "", status_class=paid_classes.get(status or "", ""),
                detail=detail, amount=doc["amount"], currency=doc["currency"], date_only=True,
            )
        )  # fmt: skip
    return entries


def _social(actor, customer, limit: int) -> list[TimelineEntry]:
    ids = {"crm_account_id": customer.pk} if isinstance(customer, Account) else {"crm_contact_id": customer.pk}
    items = scrm_selectors.customer_social_messages(actor, limit=limit, **ids)
    items += scrm_selectors.customer_ugc(actor, limit=limit, **ids)
    url = _url_maker("scrm:conversation")
    inbound, outbound, ugc = _("Message from the customer"), _("Our reply"), _("Post by the customer")
    entries = []
    for item in items:
        label = ugc if item.kind == "ugc" else (inbound if item.direction == "in" else outbound)
        entries.append(
            TimelineEntry(
                item.kind, item.at, item.id, str(label), item.channel_name,
                url=url(item.conversation_id) if item.conversation_id else "",
                detail=item.sender, body=item.text[:300] + ("…" if len(item.text) > 300 else ""),
            )
        )  # fmt: skip
    return entries


_SOURCE_ORDER = {"ticket": 0, "stage": 1, "activity": 2, "touch": 3, "message": 4, "ugc": 5}


def customer_timeline(
    actor: Actor | None, customer: Account | Contact, *, offset: int = 0, size: int = TIMELINE_PAGE
) -> TimelinePage:
    """One page of the customer's timeline — activities, deal stage changes, tickets, campaign touches, ERP
    orders / invoices / credit notes / payments (accounts) and social messages and UGC — newest first, what the
    actor may see. Eight queries at most, whatever the history."""
    return _timeline(actor, customer, offset=offset, size=size)[0]


def _timeline(actor, customer, *, offset: int, size: int, erp_known: bool = True) -> tuple[TimelinePage, dict]:
    offset = max(0, min(int(offset), MAX_TIMELINE_OFFSET))
    limit = offset + size + 1
    english = not (get_language() or "").startswith("zh")
    tickets = _tickets(actor, customer, limit)
    social = _social(actor, customer, limit)
    merged = (
        _activities(actor, customer, limit)
        + _stage_changes(actor, customer, limit, english)
        + tickets
        + _touches(actor, customer, limit)
        + (_erp_documents(customer, limit) if erp_known else [])
        + social
    )
    merged.sort(key=lambda e: (e.at, -_SOURCE_ORDER.get(e.kind, 9), e.key), reverse=True)
    more = len(merged) > offset + size and offset + size <= MAX_TIMELINE_OFFSET
    page = TimelinePage(merged[offset : offset + size], offset, offset + size if more else None)
    last_social = max((e.at for e in social if e.kind == "message"), default=None)
    return page, {"tickets": tickets, "last_social_at": last_social}


# ---------------------------------------------------------------- the page


def customer_360(actor: Actor | None, customer: Account | Contact, *, size: int = TIMELINE_PAGE) -> Customer360:
    """Everything the actor may see about one account (with its contacts) or contact, for its 360° page: key
    figures (open deals and amount, won revenue, open tickets, last contact — a done call or meeting or a social
    message —, and from ERP lifetime revenue, outstanding and overdue balance, last payment), the first page of
    the timeline, its deals, latest tickets, open activities, (for an account) contacts and (for a contact) the
    buying committees they sit in.

    A fixed number of queries however much history the customer has (each list is one query cut to what is
    shown, each figure group one aggregate)."""
    where = _where(customer)
    summary = None
    if isinstance(customer, Account):
        summary = erp_receivables.customer_finance_summary(company_id=customer.company_id, crm_account_id=customer.pk)
    # a customer ERP does not know has no ERP orders or invoices: three queries fewer for most customers
    erp_known = summary is not None and summary["partner_id"] is not None
    timeline, extra = _timeline(actor, customer, offset=0, size=size, erp_known=erp_known)
    opportunities = policy.scope(actor, Opportunity.objects.filter(**where))
    deal_figures = opportunities.order_by().aggregate(
        open_deals=Count("id", filter=Q(status=OpportunityStatus.OPEN)),
        open_amount=Sum("amount", filter=Q(status=OpportunityStatus.OPEN)),
        won_deals=Count("id", filter=Q(status=OpportunityStatus.WON)),
        won_revenue=Sum("amount", filter=Q(status=OpportunityStatus.WON)),
    )
    open_first = Case(When(status=OpportunityStatus.OPEN, then=Value(0)), default=Value(1))
    deals = list(
        opportunities.select_related("stage")
        .only(
            "id",
            "name",
            "status",
            "amount",
            "currency",
            "updated_at",
            "stage__name",
            "stage__name_en",
            "promised_date",
            "erp_order_state",
            "fulfilment_status",
        )
        .order_by(open_first, "-updated_at", "-id")[:SIDE_LIST]
    )
    activities = policy.scope(actor, Activity.objects.filter(**where))
    last_call = (
        activities.filter(kind__in=CONTACT_KINDS, done_at__isnull=False)
        .order_by(F("done_at").desc())
        .values_list("done_at", flat=True)
        .first()
    )
    last_contact = max(filter(None, [last_call, extra["last_social_at"]]), default=None)
    open_activities = list(
        activities.filter(done_at__isnull=True)
        .only("id", "kind", "subject", "due_at", "done_at")
        .order_by(F("due_at").asc(nulls_last=True), "id")[:SIDE_LIST]
    )
    open_tickets = 0
    if policy.can(actor, "view", Ticket):
        open_tickets = (
            policy.scope(actor, Ticket.objects.filter(**where)).filter(status__in=OPEN_TICKET_STATUSES).count()
        )
    contacts, seats = [], []
    if isinstance(customer, Contact):  # the deals whose buying committee the person sits in, with their role
        seats = list(
            policy.scope(actor, OpportunityContactRole.objects.filter(contact=customer))
            .select_related("opportunity__stage")
            .order_by("-opportunity__updated_at", "-id")[:SIDE_LIST]
        )
    parent, subsidiaries = None, []
    if isinstance(customer, Account):  # its group and the group's companies under it (上级 / 下属客户)
        shown = ("id", "name", "name_en", "city", "lifecycle_stage")
        if customer.parent_id:
            parent = policy.scope(actor, Account.objects.filter(pk=customer.parent_id)).only(*shown).first()
        subsidiaries = list(
            policy.scope(actor, Account.objects.filter(parent=customer, merged_into__isnull=True))
            .only(*shown)
            .order_by("name", "id")[:SIDE_LIST]
        )
    group = group_figures(actor, customer) if subsidiaries else None
    if isinstance(customer, Account):
        contacts = list(
            policy.scope(actor, Contact.objects.filter(account=customer, merged_into__isnull=True))
            .only("id", "name", "title", "phone")
            .order_by("name", "id")[:50]
        )
    zero = Decimal("0.00")
    erp = {}
    if summary is not None:
        erp = {
            "erp_known": erp_known,
            "lifetime_revenue": summary["lifetime_revenue"],
            "outstanding": summary["outstanding"],
            "overdue": summary["overdue"],
            "last_payment_date": summary["last_payment_date"],
            "last_payment_amount": summary["last_payment_amount"],
            "currency": summary["currency"],
        }
    figures = CustomerFigures(
        open_deals=deal_figures["open_deals"],
        open_amount=deal_figures["open_amount"] or zero,
        won_deals=deal_figures["won_deals"],
        won_revenue=deal_figures["won_revenue"] or zero,
        open_tickets=open_tickets,
        last_contact_at=last_contact,
        **erp,
    )
    deal_url, contact_url = _url_maker("crm:opportunity-detail"), _url_maker("crm:contact-detail")
    for deal in deals:
        deal.detail_url = deal_url(deal.pk)
    for contact in contacts:
        contact.detail_url = contact_url(contact.pk)
    return Customer360(
        customer=customer,
        figures=figures,
        timeline=timeline,
        opportunities=deals,
        tickets=extra["tickets"][:SIDE_LIST],
        open_activities=open_activities,
        contacts=contacts,
        committee_seats=seats,
        parent=parent,
        subsidiaries=subsidiaries,
        group=group,
    )


def group_figures(actor: Actor | None, account: Account) -> GroupFigures:
    """The figures of ``account``'s group — the account and its subsidiaries at every level — over the companies,
    deals and tickets the actor may see. Three queries whatever the group's size (the group is one recursive
    subquery in each); the ERP figures are the ``CustomerFinance`` facts the CRM keeps per account."""
    from crm.selectors import in_account_group

    zero = Decimal("0.00")
    companies = in_account_group(
        policy.scope(actor, Account.objects.filter(company_id=account.company_id, merged_into__isnull=True)),
        account.pk,
    )
    money = companies.order_by().aggregate(
        companies=Count("id"),
        lifetime_revenue=Sum("finance__lifetime_revenue"),
        outstanding=Sum("finance__outstanding"),
        overdue=Sum("finance__overdue"),
    )
    members = in_account_group(Account.objects.filter(company_id=account.company_id), account.pk).values("id")
    deals = (
        policy.scope(actor, Opportunity.objects.filter(account_id__in=members))
        .order_by()
        .aggregate(
            open_deals=Count("id", filter=Q(status=OpportunityStatus.OPEN)),
            open_amount=Sum("amount", filter=Q(status=OpportunityStatus.OPEN)),
            won_revenue=Sum("amount", filter=Q(status=OpportunityStatus.WON)),
        )
    )
    open_tickets = None
    if policy.can(actor, "view", Ticket):
        open_tickets = (
            policy.scope(actor, Ticket.objects.filter(account_id__in=members))
            .filter(status__in=OPEN_TICKET_STATUSES)
            .count()
        )
    return GroupFigures(
        companies=money["companies"],
        open_deals=deals["open_deals"],
        open_amount=deals["open_amount"] or zero,
        won_revenue=deals["won_revenue"] or zero,
        open_tickets=open_tickets,
        lifetime_revenue=money["lifetime_revenue"] or zero,
        outstanding=money["outstanding"] or zero,
        overdue=money["overdue"] or zero,
    )
