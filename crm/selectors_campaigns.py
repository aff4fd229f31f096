"""Reads of campaigns, their members, costs and touches, web forms, reminder preferences and nudges — and
campaign attribution and ROI (the comparison report).

Attribution (first touch or last touch, chosen per report): each result is credited to the campaign of its
first (or last) touch that happened no later than the moment that counts —

* a **lead**: the moment it was created (the touch of the campaign it was created for is at that moment);
* an **opportunity**: the moment it was created — touches of the lead it came from (carried over on
  conversion), of its account and of its contact;
* **won revenue** (and won deals): the moment it was won, same touches;
* a **customer** (an account, or a contact without an account, with at least one won opportunity): the
  moment of its first win — touches of the account (a contact's touches carry its account) or the contact.

A result with no touch before that moment is not credited to any campaign. Counts are of the period's
results (created, won, first won between ``date_from`` and ``date_to``); costs are the cost lines dated in
the period. ROI = (won revenue − cost) / cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from crm.models import (
    Account,
    Activity,
    Campaign,
    CampaignCost,
    CampaignMember,
    CampaignMemberStatus,
    CampaignTouch,
    Contact,
    Lead,
    Opportunity,
    OpportunityNudge,
    OpportunityStatus,
    ReminderPreference,
    WebForm,
)
from erp.selectors.fulfilment import opportunity_financials
from suite import policy
from suite.policy import Actor

ATTRIBUTION_MODELS = ("first", "last")
ZERO = Decimal("0.00")


def campaigns_visible_to(actor: Actor | None, *, status: str | None = None) -> QuerySet[Campaign]:
    qs = policy.scope(actor, Campaign.objects.all()).select_related("owner", "team").prefetch_related("target_tags")
    if status:
        qs = qs.filter(status=status)
    return qs


def campaign_members_visible_to(actor: Actor | None, *, campaign: Campaign | None = None) -> QuerySet:
    qs = policy.scope(actor, CampaignMember.objects.all()).select_related("campaign", "account", "contact", "lead")
    return qs.filter(campaign=campaign) if campaign is not None else qs


def campaign_costs_visible_to(actor: Actor | None, *, campaign: Campaign | None = None) -> QuerySet:
    qs = policy.scope(actor, CampaignCost.objects.all()).select_related("campaign", "created_by")
    return qs.filter(campaign=campaign) if campaign is not None else qs


def campaign_touches_visible_to(actor: Actor | None, *, campaign: Campaign | None = None) -> QuerySet:
    qs = policy.scope(actor, CampaignTouch.objects.all()).select_related(
        "campaign", "lead", "contact", "account", "opportunity"
    )
    return qs.filter(campaign=campaign) if campaign is not None else qs


def web_forms_visible_to(actor: Actor | None) -> QuerySet[WebForm]:
    return policy.scope(actor, WebForm.objects.all()).select_related("campaign")


def web_form_by_key(key: str) -> WebForm | None:
    """The active form published under ``key`` (no login: the key is the address)."""
    if not key or len(key) > 64:
        return None
    return WebForm.objects.select_related("company", "campaign").filter(key=key, is_active=True).first()


def reminder_preferences_visible_to(actor: Actor | None) -> QuerySet[ReminderPreference]:
    return policy.scope(actor, ReminderPreference.objects.all()).select_related("user")


def nudges_visible_to(actor: Actor | None) -> QuerySet[OpportunityNudge]:
    return policy.scope(actor, OpportunityNudge.objects.all()).select_related("opportunity", "owner")


def open_nudges_for(actor: Actor | None, *, limit: int = 20) -> list[OpportunityNudge]:
    """The actor's stale-opportunity nudges still to act on (for "my day"): the latest nudge of each of their
    open opportunities from the last 30 days, unless an activity was logged on it since. One query."""
    if actor is None:
        return []
    since = timezone.now() - timedelta(days=30)
    later = OpportunityNudge.objects.filter(
        opportunity_id=OuterRef("opportunity_id"), nudged_at__gt=OuterRef("nudged_at")
    )
    acted = Activity.objects.filter(opportunity_id=OuterRef("opportunity_id"), created_at__gt=OuterRef("nudged_at"))
    return list(
        nudges_visible_to(actor)
        .filter(owner=actor.user, nudged_at__gte=since, opportunity__status=OpportunityStatus.OPEN)
        .filter(~Exists(later), ~Exists(acted))
        .select_related("opportunity__account", "opportunity__contact")
        .order_by("last_activity_at", "id")[:limit]
    )


# ---------------------------------------------------------------- attribution


def _first_or_last(touches: QuerySet, model: str) -> Subquery:
    order = ("touched_at", "id") if model == "first" else ("-touched_at", "-id")
    return Subquery(touches.order_by(*order).values("campaign_id")[:1])


def _in_period(date_from: date | None, date_to: date | None) -> Q:
    """``moment`` (an annotation) within the period, both days included, in the site's time zone."""
    q = Q()
    if date_from:
        q &= Q(moment__gte=timezone.make_aware(datetime.combine(date_from, time.min)))
    if date_to:
        q &= Q(moment__lt=timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min)))
    return q


def _per_campaign(rows: QuerySet, **aggregates) -> dict[int, dict]:
    grouped = rows.filter(attributed__isnull=False).values("attributed").annotate(**aggregates).order_by()
    return {row.pop("attributed"): row for row in grouped}


def lead_attribution(company_id: int, *, model: str, date_from=None, date_to=None) -> dict[int, dict]:
    """Leads created in the period per campaign: ``{campaign_id: {"n": count}}``. One query."""
    touches = CampaignTouch.objects.filter(lead_id=OuterRef("pk"), touched_at__lte=OuterRef("created_at"))
    rows = (
        Lead.objects.filter(company_id=company_id)
        .annotate(moment=F("created_at"))
        .filter(_in_period(date_from, date_to))
        .annotate(attributed=_first_or_last(touches, model))
    )
    return _per_campaign(rows, n=Count("id"))


def _opportunity_touches(moment: str) -> QuerySet:
    return CampaignTouch.objects.filter(
        Q(opportunity_id=OuterRef("pk")) | Q(account_id=OuterRef("account_id")) | Q(contact_id=OuterRef("contact_id")),
        touched_at__lte=OuterRef(moment),
    )


def opportunity_attribution(company_id: int, *, model: str, date_from=None, date_to=None) -> dict[int, dict]:
    """Opportunities created in the period per campaign: ``{campaign_id: {"n": count}}``. One query."""
    rows = (
        Opportunity.objects.filter(company_id=company_id)
        .annotate(moment=F("created_at"))
        .filter(_in_period(date_from, date_to))
        .annotate(attributed=_first_or_last(_opportunity_touches("created_at"), model))
    )
    return _per_campaign(rows, n=Count("id"))


def revenue_attribution(company_id: int, *, model: str, date_from=None, date_to=None) -> dict[int, dict]:
    """Opportunities won in the period per campaign: ``{campaign_id: {"n": won deals, "revenue": Σ amount}}``.
    One query."""
    rows = (
        Opportunity.objects.filter(company_id=company_id, status=OpportunityStatus.WON)
        .annotate(moment=F("closed_at"))
        .filter(_in_period(date_from, date_to))
        .annotate(attributed=_first_or_last(_opportunity_touches("closed_at"), model))
    )
    return _per_campaign(rows, n=Count("id"), revenue=Sum("amount"))


def won_deals_attribution(company_id: int, *, model: str, date_from=None, date_to=None) -> dict[int, dict]:
    """``revenue_attribution`` with the deals themselves: ``{campaign_id: {"n", "revenue", "ids"}}`` (the won
    opportunity ids, for the money ERP booked on them). One query."""
    rows = (
        Opportunity.objects.filter(company_id=company_id, status=OpportunityStatus.WON)
        .annotate(moment=F("closed_at"))
        .filter(_in_period(date_from, date_to))
        .annotate(attributed=_first_or_last(_opportunity_touches("closed_at"), model))
        .filter(attributed__isnull=False)
        .values_list("attributed", "id", "amount")
    )
    result: dict[int, dict] = {}
    for campaign_id, opportunity_id, amount in rows:
        won = result.setdefault(campaign_id, {"n": 0, "revenue": ZERO, "ids": []})
        won["n"] += 1
        won["revenue"] += amount
        won["ids"].append(opportunity_id)
    return result


def customer_attribution(company_id: int, *, model: str, date_from=None, date_to=None) -> dict[int, dict]:
    """Customers won in the period (first won deal) per campaign: ``{campaign_id: {"n": count}}`` — accounts,
    and contacts whose won deals have no account. Two queries."""
    won = Opportunity.objects.filter(status=OpportunityStatus.WON)
    accounts = (
        Account.objects.filter(company_id=company_id, merged_into__isnull=True)
        .annotate(
            moment=Subquery(
                won.filter(account_id=OuterRef("pk"))
                .values("account_id")
                .annotate(first=Min("closed_at"))
                .values("first")[:1]
            )
        )
        .filter(moment__isnull=False)
        .filter(_in_period(date_from, date_to))
        .annotate(
            attributed=_first_or_last(
                CampaignTouch.objects.filter(account_id=OuterRef("pk"), touched_at__lte=OuterRef("moment")), model
            )
        )
    )
    contacts = (
        Contact.objects.filter(company_id=company_id, merged_into__isnull=True)
        .annotate(
            moment=Subquery(
                won.filter(contact_id=OuterRef("pk"), account__isnull=True)
                .values("contact_id")
                .annotate(first=Min("closed_at"))
                .values("first")[:1]
            )
        )
        .filter(moment__isnull=False)
        .filter(_in_period(date_from, date_to))
        .annotate(
            attributed=_first_or_last(
                CampaignTouch.objects.filter(contact_id=OuterRef("pk"), touched_at__lte=OuterRef("moment")), model
            )
        )
    )
    result = _per_campaign(accounts, n=Count("id"))
    for campaign_id, row in _per_campaign(contacts, n=Count("id")).items():
        result.setdefault(campaign_id, {"n": 0})["n"] += row["n"]
    return result


@dataclass(frozen=True)
class CampaignResult:
    """One campaign's row of the comparison (money as Decimal; ``roi`` a ratio, 1.5 = 150 %)."""

    campaign: Campaign
    members: int
    responses: int
    leads: int
    opportunities: int
    customers: int
    won_deals: int
    won_revenue: Decimal
    cost: Decimal
    roi: Decimal | None
    cost_per_lead: Decimal | None
    cost_per_customer: Decimal | None
    # Money actually earned (closed loop, flow 6): what ERP invoiced for the won deals (net of credit notes,
    # untaxed), the gross margin after the cost of the goods shipped, and the ROI on that margin.
    booked_revenue: Decimal = ZERO
    gross_margin: Decimal = ZERO
    margin_roi: Decimal | None = None


SORT_KEYS = (
    "name",
    "members",
    "responses",
    "leads",
    "opportunities",
    "customers",
    "won_deals",
    "won_revenue",
    "cost",
    "roi",
    "cost_per_lead",
    "cost_per_customer",
    "booked_revenue",
    "gross_margin",
    "margin_roi",
)


def _ratio(numerator: Decimal, denominator) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.01"))


def campaign_comparison(
    actor: Actor | None,
    *,
    model: str = "first",
    date_from: date | None = None,
    date_to: date | None = None,
    status: str | None = None,
    sort: str = "-customers",
) -> list[CampaignResult]:
    """Which campaign brought the most customers and what each cost: per campaign the members and responses,
    the leads, opportunities, customers, won deals and won revenue credited to it under ``model`` ("first" or
    "last" touch), its cost in the period, ROI, cost per lead and per customer; and the money ERP booked for the
    won deals — revenue invoiced, gross margin after COGS, ROI on the margin (``erp.selectors.fulfilment.
    opportunity_financials``). Sorted by ``sort`` (one of ``SORT_KEYS``, ``-`` for descending; empty values last).
    A constant number of queries (eight, and four more when deals were won), whatever the number of campaigns
    or records."""
    if actor is None or model not in ATTRIBUTION_MODELS:
        return []
    company_id = actor.company_id
    campaigns = list(
        campaigns_visible_to(actor, status=status)
        .annotate(
            n_members=Count("members", distinct=True),
            n_responses=Count(
                "members",
                filter=Q(members__status__in=[CampaignMemberStatus.RESPONDED, CampaignMemberStatus.CONVERTED]),
                distinct=True,
            ),
        )
        .order_by("name", "id")
    )
    costs_q = CampaignCost.objects.filter(company_id=company_id)
    if date_from:
        costs_q = costs_q.filter(incurred_on__gte=date_from)
    if date_to:
        costs_q = costs_q.filter(incurred_on__lte=date_to)
    costs = dict(
        costs_q.values("campaign_id").annotate(total=Sum("amount")).order_by().values_list("campaign_id", "total")
    )
    period = {"model": model, "date_from": date_from, "date_to": date_to}
    leads = lead_attribution(company_id, **period)
    opportunities = opportunity_attribution(company_id, **period)
    revenue = won_deals_attribution(company_id, **period)
    won_ids = [pk for won in revenue.values() for pk in won["ids"]]
    booked = opportunity_financials(company_id=company_id, opportunity_ids=won_ids) if won_ids else {}
    customers = customer_attribution(company_id, **period)
    rows = []
    for campaign in campaigns:
        cost = costs.get(campaign.pk) or ZERO
        n_leads = leads.get(campaign.pk, {}).get("n", 0)
        n_customers = customers.get(campaign.pk, {}).get("n", 0)
        won = revenue.get(campaign.pk, {})
        won_revenue = won.get("revenue") or ZERO
        money = [booked[pk] for pk in won.get("ids", ()) if pk in booked]
        booked_revenue = sum((m["revenue"] for m in money), ZERO)
        gross_margin = sum((m["margin"] for m in money), ZERO)
        rows.append(
            CampaignResult(
                campaign=campaign,
                members=campaign.n_members,
                responses=campaign.n_responses,
                leads=n_leads,
                opportunities=opportunities.get(campaign.pk, {}).get("n", 0),
                customers=n_customers,
                won_deals=won.get("n", 0),
                won_revenue=won_revenue,
                cost=cost,
                roi=_ratio(won_revenue - cost, cost),
                cost_per_lead=_ratio(cost, n_leads) if cost else None,
                cost_per_customer=_ratio(cost, n_customers) if cost else None,
                booked_revenue=booked_revenue,
                gross_margin=gross_margin,
                margin_roi=_ratio(gross_margin - cost, cost),
            )
        )
    key = sort.lstrip("-") if sort.lstrip("-") in SORT_KEYS else "customers"
    descending = sort.startswith("-") if key == sort.lstrip("-") and sort.lstrip("-") in SORT_KEYS else True

    def value(row: CampaignResult):
        return row.campaign.name if key == "name" else getattr(row, key)

    present = [row for row in rows if value(row) is not None]
    missing = [row for row in rows if value(row) is None]
    present.sort(key=lambda row: (value(row), row.campaign.pk), reverse=descending)
    return present + missing
