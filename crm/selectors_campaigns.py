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

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
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
from suite.api.counting import audit_versions, remembered_count
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
#
# Set-based (issue #7 speed): the period's results (leads, opportunities, won deals, first wins) are read once,
# joined to the touches that may credit them (one equality join per touch column, UNION ALL), and the first (or
# last) touch of each result is kept with DISTINCT ON — no subquery per result. Touches belong to the company of
# the campaign and of the record they reach (``campaign_touch_record``), so they are narrowed by company too.

_TOUCHES = CampaignTouch._meta.db_table


def _bounds(date_from: date | None, date_to: date | None) -> tuple[datetime | None, datetime | None]:
    """The period as [start, end) instants, both days included, in the site's time zone."""
    start = timezone.make_aware(datetime.combine(date_from, time.min)) if date_from else None
    end = timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min)) if date_to else None
    return start, end


def _period_sql(column: str, date_from: date | None, date_to: date | None) -> tuple[str, list]:
    """``column`` set and within the period: an SQL condition and its parameters."""
    start, end = _bounds(date_from, date_to)
    sql, params = [f"{column} IS NOT NULL"], []
    if start is not None:
        sql.append(f"{column} >= %s")
        params.append(start)
    if end is not None:
        sql.append(f"{column} < %s")
        params.append(end)
    return " AND ".join(sql), params


def _attributed(
    results: str, params: list, targets: tuple[tuple[str, str], ...], *, model: str, company_id: int, select: str
) -> list[tuple]:
    """Run ``select`` over ``a(rid, campaign_id)`` — each result of ``results`` (an SQL query of ``rid``, ``moment``
    and the columns named in ``targets``) with the campaign of its first (``model="first"``) or last touch at or
    before its moment — and ``r`` (the results). ``targets``: (touch column, result column) pairs; a touch counts
    for a result when one of them is equal. Ties on the moment go to the lower (first) or higher (last) touch id.
    One query."""
    order = "" if model == "first" else " DESC"
    candidates = " UNION ALL ".join(
        f"SELECT r.rid, t.touched_at, t.id AS tid, t.campaign_id FROM r JOIN {_TOUCHES} t"
        f" ON t.{touch_column} = r.{result_column} AND t.touched_at <= r.moment WHERE t.company_id = %s"
        for touch_column, result_column in targets
    )
    sql = (
        f"WITH r AS MATERIALIZED ({results}), c AS ({candidates}),"
        f" a AS (SELECT DISTINCT ON (rid) rid, campaign_id FROM c ORDER BY rid, touched_at{order}, tid{order})"
        f" {select}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *([company_id] * len(targets))])
        return cursor.fetchall()


_COUNT_PER_CAMPAIGN = "SELECT campaign_id, COUNT(*) FROM a GROUP BY campaign_id"
_OPPORTUNITY_TARGETS = (("opportunity_id", "rid"), ("account_id", "account_id"), ("contact_id", "contact_id"))


def _counts(rows: list[tuple]) -> dict[int, dict]:
    return {campaign_id: {"n": n} for campaign_id, n in rows}


def lead_attribution(company_id: int, *, model: str, date_from=None, date_to=None) -> dict[int, dict]:
    """Leads created in the period per campaign: ``{campaign_id: {"n": count}}``. One query."""
    period, params = _period_sql("created_at", date_from, date_to)
    results = f"SELECT id AS rid, created_at AS moment FROM {Lead._meta.db_table} WHERE company_id = %s AND {period}"
    rows = _attributed(
        results, [company_id, *params], (("lead_id", "rid"),), model=model, company_id=company_id,
        select=_COUNT_PER_CAMPAIGN,
    )  # fmt: skip
    return _counts(rows)


def _opportunities_sql(moment: str, company_id: int, date_from, date_to, *, won: bool) -> tuple[str, list]:
    period, params = _period_sql(moment, date_from, date_to)
    status = " AND status = %s" if won else ""
    sql = (
        f"SELECT id AS rid, {moment} AS moment, account_id, contact_id, amount FROM {Opportunity._meta.db_table}"
        f" WHERE company_id = %s{status} AND {period}"
    )
    return sql, [company_id, *([OpportunityStatus.WON] if won else []), *params]


def opportunity_attribution(company_id: int, *, model: str, date_from=None, date_to=None) -> dict[int, dict]:
    """Opportunities created in the period per campaign (touches of the deal — carried over from its lead —, of
    its account and of its contact up to its creation): ``{campaign_id: {"n": count}}``. One query."""
    results, params = _opportunities_sql("created_at", company_id, date_from, date_to, won=False)
    rows = _attributed(
        results, params, _OPPORTUNITY_TARGETS, model=model, company_id=company_id, select=_COUNT_PER_CAMPAIGN
    )
    return _counts(rows)


def won_deals_attribution(company_id: int, *, model: str, date_from=None, date_to=None) -> dict[int, dict]:
    """Opportunities won in the period per campaign (touches up to the win): ``{campaign_id: {"n", "revenue",
    "ids"}}`` (won deals, Σ amount, and the won opportunity ids, for the money ERP booked on them). One query."""
    results, params = _opportunities_sql("closed_at", company_id, date_from, date_to, won=True)
    rows = _attributed(
        results, params, _OPPORTUNITY_TARGETS, model=model, company_id=company_id,
        select="SELECT a.campaign_id, a.rid, r.amount FROM a JOIN r ON r.rid = a.rid ORDER BY a.rid",
    )  # fmt: skip
    result: dict[int, dict] = {}
    for campaign_id, opportunity_id, amount in rows:
        won = result.setdefault(campaign_id, {"n": 0, "revenue": ZERO, "ids": []})
        won["n"] += 1
        won["revenue"] += amount
        won["ids"].append(opportunity_id)
    return result


def revenue_attribution(company_id: int, *, model: str, date_from=None, date_to=None) -> dict[int, dict]:
    """Opportunities won in the period per campaign: ``{campaign_id: {"n": won deals, "revenue": Σ amount}}``.
    One query."""
    return {
        campaign_id: {"n": won["n"], "revenue": won["revenue"]}
        for campaign_id, won in won_deals_attribution(
            company_id, model=model, date_from=date_from, date_to=date_to
        ).items()
    }


def customer_attribution(company_id: int, *, model: str, date_from=None, date_to=None) -> dict[int, dict]:
    """Customers won in the period (first won deal) per campaign: ``{campaign_id: {"n": count}}`` — accounts
    (not merged away), and contacts (not merged away) whose won deals have no account, each credited by its own
    touches (a contact's touches carry its account) up to its first win. Two queries."""
    opportunities = Opportunity._meta.db_table
    result: dict[int, dict] = {}
    for table, column, no_account in (
        (Account._meta.db_table, "account_id", ""),
        (Contact._meta.db_table, "contact_id", " AND account_id IS NULL"),
    ):
        period, params = _period_sql("f.moment", date_from, date_to)
        results = (
            f"SELECT x.id AS rid, f.moment FROM {table} x JOIN (SELECT {column}, MIN(closed_at) AS moment"
            f" FROM {opportunities} WHERE company_id = %s AND status = %s AND {column} IS NOT NULL{no_account}"
            f" GROUP BY {column}) f ON f.{column} = x.id"
            f" WHERE x.company_id = %s AND x.merged_into_id IS NULL AND {period}"
        )
        rows = _attributed(
            results, [company_id, OpportunityStatus.WON, company_id, *params], ((column, "rid"),), model=model,
            company_id=company_id, select=_COUNT_PER_CAMPAIGN,
        )  # fmt: skip
        for campaign_id, n in rows:
            result.setdefault(campaign_id, {"n": 0})["n"] += n
    return result


def _first_touch_attribution(company_id: int, *, date_from=None, date_to=None) -> dict[str, dict[int, dict]]:
    """First-touch attribution of the period's leads, opportunities, won deals and customers, in one query.

    The first touch of a record at or before a moment is the record's first touch at all when that one is not
    later than the moment (and there is none otherwise). So each record's first touch is taken once per touch
    column (DISTINCT ON over the company's touches) and joined to the results by equality; a result reached
    through several columns (an opportunity's own, its account's and its contact's touches) keeps the earliest
    of them, ties to the lower touch id — the same choice as ``ORDER BY touched_at, id`` over all its touches.
    Returns ``{"leads", "opportunities", "won", "customers"}`` shaped like ``lead_attribution``,
    ``opportunity_attribution``, ``won_deals_attribution`` and ``customer_attribution``."""
    opportunities, won = Opportunity._meta.db_table, OpportunityStatus.WON
    created, created_params = _period_sql("r.created_at", date_from, date_to)
    closed, closed_params = _period_sql("r.closed_at", date_from, date_to)
    first_won, first_won_params = _period_sql("f.moment", date_from, date_to)
    touch_columns = ("lead_id", "opportunity_id", "account_id", "contact_id")
    firsts = ", ".join(  # read in the order of crm_touch_first_<column> (index-only, no sort)
        f"f_{column} AS MATERIALIZED (SELECT DISTINCT ON ({column}) {column} AS k, touched_at AS at, id AS tid,"
        f" campaign_id FROM {_TOUCHES} WHERE {column} IS NOT NULL AND company_id = %s"
        f" ORDER BY {column}, touched_at, id)"
        for column in touch_columns
    )

    def pick(moment: str, targets: tuple[tuple[str, str], ...]) -> tuple[str, str]:
        """The joins of a result ``r`` to its targets' first touches at or before ``moment``, and the campaign of
        the earliest of them (NULL: none)."""
        joins = " ".join(
            f"LEFT JOIN f_{column} j{n} ON j{n}.k = r.{result_column} AND j{n}.at <= {moment}"
            for n, (column, result_column) in enumerate(targets)
        )
        if len(targets) == 1:
            return joins, "j0.campaign_id"
        cases = []
        for n in range(len(targets) - 1):
            earlier = " AND ".join(
                f"(j{m}.tid IS NULL OR (j{n}.at, j{n}.tid) < (j{m}.at, j{m}.tid))" for m in range(n + 1, len(targets))
            )
            cases.append(f"WHEN j{n}.tid IS NOT NULL AND {earlier} THEN j{n}.campaign_id")
        return joins, f"CASE {' '.join(cases)} ELSE j{len(targets) - 1}.campaign_id END"

    targets = (("opportunity_id", "id"), ("account_id", "account_id"), ("contact_id", "contact_id"))
    lead_joins, lead_campaign = pick("r.created_at", (("lead_id", "id"),))
    opp_joins, opp_campaign = pick("r.created_at", targets)
    won_joins, won_campaign = pick("r.closed_at", targets)
    customers = []
    for table, column, no_account in (
        (Account._meta.db_table, "account_id", ""),
        (Contact._meta.db_table, "contact_id", " AND account_id IS NULL"),
    ):
        joins, campaign = pick("r.moment", ((column, "rid"),))
        customers.append(
            f"SELECT {campaign} AS campaign_id FROM (SELECT x.id AS rid, f.moment FROM {table} x"
            f" JOIN (SELECT {column}, MIN(closed_at) AS moment FROM {opportunities} WHERE company_id = %s"
            f" AND status = %s AND {column} IS NOT NULL{no_account} GROUP BY {column}) f ON f.{column} = x.id"
            f" WHERE x.company_id = %s AND x.merged_into_id IS NULL AND {first_won}) r {joins}"
        )
    sql = (
        f"WITH {firsts}"
        f" SELECT 'leads', campaign_id, COUNT(*), NULL::bigint, NULL::numeric FROM (SELECT {lead_campaign}"
        f" AS campaign_id FROM {Lead._meta.db_table} r {lead_joins} WHERE r.company_id = %s AND {created}) a"
        f" WHERE campaign_id IS NOT NULL GROUP BY campaign_id"
        f" UNION ALL SELECT 'opportunities', campaign_id, COUNT(*), NULL, NULL FROM (SELECT {opp_campaign}"
        f" AS campaign_id FROM {opportunities} r {opp_joins} WHERE r.company_id = %s AND {created}) a"
        f" WHERE campaign_id IS NOT NULL GROUP BY campaign_id"
        f" UNION ALL SELECT 'customers', campaign_id, COUNT(*), NULL, NULL FROM ({customers[0]} UNION ALL"
        f" {customers[1]}) a WHERE campaign_id IS NOT NULL GROUP BY campaign_id"
        f" UNION ALL SELECT 'won', campaign_id, 1, id, amount FROM (SELECT {won_campaign} AS campaign_id, r.id,"
        f" r.amount FROM {opportunities} r {won_joins} WHERE r.company_id = %s AND r.status = %s AND {closed}) a"
        f" WHERE campaign_id IS NOT NULL"
    )
    params = [
        *([company_id] * len(touch_columns)),
        company_id, *created_params,
        company_id, *created_params,
        company_id, won, company_id, *first_won_params,
        company_id, won, company_id, *first_won_params,
        company_id, won, *closed_params,
    ]  # fmt: skip

    def attribute() -> dict[str, dict[int, dict]]:
        result: dict[str, dict[int, dict]] = {"leads": {}, "opportunities": {}, "won": {}, "customers": {}}
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for kind, campaign_id, n, opportunity_id, amount in cursor.fetchall():
                if kind != "won":
                    result[kind][campaign_id] = {"n": n}
                    continue
                deal = result["won"].setdefault(campaign_id, {"n": 0, "revenue": ZERO, "ids": []})
                deal["n"] += 1
                deal["revenue"] += amount
                deal["ids"].append(opportunity_id)
        return result

    # remembered until a touch, lead, deal or customer changes (``suite.api.counting``: keyed on the SQL — company
    # and period are in it — and the audit versions of the tables it reads): over the bench company's touches the
    # query takes ~0.3 s, and a manager re-sorting the comparison asks it again and again
    versions = audit_versions([CampaignTouch, Lead, Opportunity, Account, Contact])
    return remembered_count(CampaignTouch, sql, params, versions, attribute)


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
    A constant number of queries (eight for last touch, five for first touch — the attribution is one query —, and
    four more when deals were won), whatever the number of campaigns or records."""
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
    if model == "first":  # the dashboards' model: one query
        first = _first_touch_attribution(company_id, date_from=date_from, date_to=date_to)
        leads, opportunities, revenue, customers = (
            first["leads"],
            first["opportunities"],
            first["won"],
            first["customers"],
        )
    else:
        leads = lead_attribution(company_id, **period)
        opportunities = opportunity_attribution(company_id, **period)
        revenue = won_deals_attribution(company_id, **period)
        customers = customer_attribution(company_id, **period)
    won_ids = [pk for won in revenue.values() for pk in won["ids"]]
    booked = opportunity_financials(company_id=company_id, opportunity_ids=won_ids) if won_ids else {}
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
