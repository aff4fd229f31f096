"""The set-based campaign attribution (issue #7 speed) gives the same figures as the correlated-subquery queries
it replaced — kept here as the reference — on a small data set full of edge cases: touches through the lead, the
opportunity, the account and the contact; touches after the moment; ties on the moment (lower touch id wins first,
higher last); a contact's own customers (won deals without account); a merged account; results outside the
period; another company's records."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, F, Min, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from crm.models import Account, CampaignTouch, Contact, Lead, Opportunity, OpportunityStatus
from crm.selectors_campaigns import (
    _first_touch_attribution,
    campaign_comparison,
    customer_attribution,
    lead_attribution,
    opportunity_attribution,
    won_deals_attribution,
)
from crm.services.customers import account_create
from crm.services.leads import lead_create
from crm.services.opportunities import opportunity_create
from crm.tests.factories_campaigns import make_campaign, make_contact
from suite.models import Role
from suite.policy import Actor

pytestmark = pytest.mark.django_db

# ---------------------------------------------------------------- reference: the queries before the speed work


def _first_or_last(touches, model):
    order = ("touched_at", "id") if model == "first" else ("-touched_at", "-id")
    return Subquery(touches.order_by(*order).values("campaign_id")[:1])


def _in_period(date_from, date_to):
    q = Q()
    if date_from:
        q &= Q(moment__gte=timezone.make_aware(datetime.combine(date_from, time.min)))
    if date_to:
        q &= Q(moment__lt=timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min)))
    return q


def _per_campaign(rows, **aggregates):
    grouped = rows.filter(attributed__isnull=False).values("attributed").annotate(**aggregates).order_by()
    return {row.pop("attributed"): row for row in grouped}


def _opportunity_touches(moment):
    return CampaignTouch.objects.filter(
        Q(opportunity_id=OuterRef("pk")) | Q(account_id=OuterRef("account_id")) | Q(contact_id=OuterRef("contact_id")),
        touched_at__lte=OuterRef(moment),
    )


def old_leads(company_id, *, model, date_from=None, date_to=None):
    touches = CampaignTouch.objects.filter(lead_id=OuterRef("pk"), touched_at__lte=OuterRef("created_at"))
    rows = (
        Lead.objects.filter(company_id=company_id)
        .annotate(moment=F("created_at"))
        .filter(_in_period(date_from, date_to))
        .annotate(attributed=_first_or_last(touches, model))
    )
    return _per_campaign(rows, n=Count("id"))


def old_opportunities(company_id, *, model, date_from=None, date_to=None):
    rows = (
        Opportunity.objects.filter(company_id=company_id)
        .annotate(moment=F("created_at"))
        .filter(_in_period(date_from, date_to))
        .annotate(attributed=_first_or_last(_opportunity_touches("created_at"), model))
    )
    return _per_campaign(rows, n=Count("id"))


def old_won(company_id, *, model, date_from=None, date_to=None):
    rows = (
        Opportunity.objects.filter(company_id=company_id, status=OpportunityStatus.WON)
        .annotate(moment=F("closed_at"))
        .filter(_in_period(date_from, date_to))
        .annotate(attributed=_first_or_last(_opportunity_touches("closed_at"), model))
    )
    won = _per_campaign(rows, n=Count("id"), revenue=Sum("amount"))
    ids = (
        rows.filter(attributed__isnull=False).values_list("attributed", "id").order_by("id")
    )  # the deals behind the money
    for campaign_id, pk in ids:
        won[campaign_id].setdefault("ids", []).append(pk)
    return won


def old_customers(company_id, *, model, date_from=None, date_to=None):
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


# ---------------------------------------------------------------- the data set


def _world(company, user, rng: random.Random, *, size: int = 1):
    """Campaigns, accounts, contacts (some without account), leads, opportunities (some won, some without
    account) with moments spread over two years, and touches of every kind, with ties."""
    base = timezone.make_aware(datetime(2025, 3, 1, 12, 0))
    campaigns = [make_campaign(company, name=f"活动{n}", code=f"c{n}-{company.pk}") for n in range(4)]
    accounts = [
        account_create(company=company, by=user, force=True, name=f"公司{company.pk}-{n}") for n in range(8 * size)
    ]
    contacts = [make_contact(company, account=rng.choice([*accounts, None, None])) for _ in range(10 * size)]
    leads = [lead_create(company=company, by=user, name=f"线索{n}") for n in range(6 * size)]
    opportunities = []
    for n in range(30 * size):
        contact = rng.choice([*contacts, None])
        account = contact.account if contact is not None and contact.account_id else rng.choice([*accounts, None])
        if account is None and contact is None:
            account = rng.choice(accounts)
        opportunities.append(
            opportunity_create(
                company=company,
                by=user,
                name=f"商机{n}",
                account=account,
                contact=contact,
                amount=f"{rng.randint(1, 90)}00.00",
            )
        )
    moments = [base + timedelta(days=rng.randint(0, 600), hours=rng.randint(0, 23)) for _ in range(40)]
    for lead in leads:
        Lead.objects.filter(pk=lead.pk).update(created_at=rng.choice(moments))
    for opportunity in opportunities:
        created = rng.choice(moments)
        fields = {"created_at": created}
        if rng.random() < 0.6:
            fields |= {
                "status": OpportunityStatus.WON,
                "closed_at": created + timedelta(days=rng.choice([0, 5, 40, 200])),
            }
        Opportunity.objects.filter(pk=opportunity.pk).update(**fields)
    # a merged account: its deals count for nobody as a customer
    Account.objects.filter(pk=accounts[-1].pk).update(merged_into=accounts[0], merged_at=timezone.now())
    targets = (
        [("lead", lead) for lead in leads]
        + [("account", account) for account in accounts]
        + [("contact", contact) for contact in contacts]
        + [("opportunity", opportunity) for opportunity in opportunities]
    )
    for _ in range(120 * size):
        kind, record = rng.choice(targets)
        fields = {kind: record}
        if kind == "contact" and record.account_id and rng.random() < 0.7:
            fields["account_id"] = record.account_id  # a contact's touch carries its account
        if kind == "opportunity":
            fields["lead"] = rng.choice(leads)  # a lead's touch carried over to the deal it became
        CampaignTouch.objects.create(
            company=company,
            campaign=rng.choice(campaigns),
            kind="sent",
            touched_at=rng.choice(moments) - timedelta(hours=rng.choice([0, 0, 1, 24])),  # ties on purpose
            **fields,
        )
    return campaigns


@pytest.fixture
def world(company, other_company, member):
    user = member(company, Role.SALES, username="attr-sales").user
    _world(company, user, random.Random(11))
    other = member(other_company, Role.SALES, username="attr-sales-2").user
    _world(other_company, other, random.Random(12))
    return company


PERIODS = [
    (None, None),
    (date(2025, 6, 1), date(2026, 3, 31)),
    (date(2025, 3, 1), date(2025, 9, 30)),
    (date(2026, 1, 1), None),
    (None, date(2025, 12, 31)),
]


def _ids_sorted(won: dict) -> dict:
    return {k: {**v, "ids": sorted(v["ids"])} for k, v in won.items()}


@pytest.mark.parametrize("model", ["first", "last"])
def test_set_based_attribution_equals_the_correlated_reference(world, model):
    company_id = world.pk
    checked = 0
    for date_from, date_to in PERIODS:
        period = {"model": model, "date_from": date_from, "date_to": date_to}
        expected = {
            "leads": old_leads(company_id, **period),
            "opportunities": old_opportunities(company_id, **period),
            "won": _ids_sorted(old_won(company_id, **period)),
            "customers": old_customers(company_id, **period),
        }
        assert lead_attribution(company_id, **period) == expected["leads"]
        assert opportunity_attribution(company_id, **period) == expected["opportunities"]
        assert _ids_sorted(won_deals_attribution(company_id, **period)) == expected["won"]
        assert customer_attribution(company_id, **period) == expected["customers"]
        if model == "first":
            first = _first_touch_attribution(company_id, date_from=date_from, date_to=date_to)
            first["won"] = _ids_sorted(first["won"])
            assert first == expected
        checked += sum(row["n"] for part in expected.values() for row in part.values())
    assert checked > 50  # the data set credits plenty of results


def test_comparison_rows_equal_both_ways(world, member):
    actor = Actor(member(world, Role.MARKETING, username="attr-mkt"))
    first = campaign_comparison(actor, model="first", date_from=date(2025, 6, 1), date_to=date(2026, 6, 30))
    assert sum(row.won_revenue for row in first) > Decimal("0")
    expected = old_won(world.pk, model="first", date_from=date(2025, 6, 1), date_to=date(2026, 6, 30))
    assert {row.campaign.pk: row.won_deals for row in first if row.won_deals} == {
        k: v["n"] for k, v in expected.items()
    }


def test_the_first_touch_attribution_is_remembered_until_a_touch_changes(world):
    """Asked again with nothing changed, the comparison's attribution is not read again; a new touch (or lead,
    deal, customer) is counted at once."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.models import CampaignTouch
    from suite.api import counting

    counting._LOCAL_COUNTS.clear()
    cache.clear()
    period = {"date_from": date(2025, 6, 1), "date_to": date(2026, 6, 30)}
    with CaptureQueriesContext(connection) as cold:
        first = _first_touch_attribution(world.pk, **period)
    with CaptureQueriesContext(connection) as warm:
        again = _first_touch_attribution(world.pk, **period)
    assert again == first
    assert any("DISTINCT ON" in q["sql"] for q in cold) and not any("DISTINCT ON" in q["sql"] for q in warm)

    touch = CampaignTouch.objects.filter(company=world, lead__isnull=False).order_by("touched_at").first()
    other = CampaignTouch.objects.filter(company=world).exclude(campaign=touch.campaign).first().campaign
    CampaignTouch.objects.filter(pk=touch.pk).update(campaign=other)  # a write: the audit version moves
    with CaptureQueriesContext(connection) as after:
        changed = _first_touch_attribution(world.pk, **period)
    assert any("DISTINCT ON" in q["sql"] for q in after)  # read again
    assert changed["leads"] == old_leads(world.pk, model="first", **period)  # and right
