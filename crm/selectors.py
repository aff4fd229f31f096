"""Every read of CRM data that other code needs: scoped by the policy layer, prefetched, typed.

Functions that take an ``actor`` return only what that actor may see (``suite.policy.scope``); functions that
take a ``company_id`` instead are for services and say why they look past the actor's scope.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from crm.models import (
    Account,
    Activity,
    AssignmentRule,
    Contact,
    CustomFieldSet,
    Lead,
    LeadScoringRule,
    LostReason,
    Opportunity,
    OpportunityStageChange,
    OpportunityStatus,
    Pipeline,
    Stage,
    Tag,
    TagGroup,
)
from crm.text import normalize_email, search_terms
from suite import policy
from suite.policy import Actor

# ---------------------------------------------------------------- search and custom fields


def search_filter(queryset: QuerySet, query: str) -> QuerySet:
    """Records whose ``search_text`` contains every term of ``query``.

    ``search_text`` is stored lower-case, so a case-sensitive ``LIKE '%term%'`` on it is what the trigram GIN
    index answers (Django's ``icontains`` would wrap the column in ``UPPER()`` and miss the index). Terms
    shorter than three characters (``张``, ``zw``) cannot use trigrams and fall back to scanning the rows the
    other filters left.
    """
    for term in search_terms(query):
        queryset = queryset.filter(search_text__contains=term)
    return queryset


def custom_schema_of(*, company_id: int, target: str) -> dict | None:
    """The JSON Schema of ``target``'s custom fields in the company, or ``None`` when none is defined."""
    return CustomFieldSet.objects.filter(company_id=company_id, target=target).values_list("schema", flat=True).first()


def custom_filter(queryset: QuerySet, *, company_id: int, target: str, values: dict[str, str]) -> QuerySet:
    """Records whose custom fields equal ``values`` (``{"level": "A"}``; for an array field: contain it).

    One JSONB containment test (``custom @> {...}``), answered by the ``jsonb_path_ops`` GIN index. Raises
    ``ValidationError`` for a field the company has not defined or a value of the wrong type.
    """
    from crm.services.custom_fields import custom_filter_value

    if not values:
        return queryset
    schema = custom_schema_of(company_id=company_id, target=target)
    wanted = {name: custom_filter_value(schema=schema, name=name, raw=raw) for name, raw in values.items()}
    return queryset.filter(custom__contains=wanted)


# ---------------------------------------------------------------- customers


def _tags_prefetch(through_related: str = "tags") -> Prefetch:
    return Prefetch(through_related, queryset=Tag.objects.select_related("group"))


def accounts_visible_to(
    actor: Actor | None,
    *,
    search: str = "",
    custom: dict[str, str] | None = None,
    include_merged: bool = False,
) -> QuerySet[Account]:
    """Accounts the actor may see, newest change first, optionally searched (name, pinyin, phone, email,
    WeChat ID, tax ID fragments) and filtered by custom fields. Merged duplicates are left out unless asked."""
    qs = policy.scope(actor, Account.objects.all())
    if not include_merged:
        qs = qs.filter(merged_into__isnull=True)
    if search:
        qs = search_filter(qs, search)
    if custom and actor is not None:
        qs = custom_filter(qs, company_id=actor.company_id, target="account", values=custom)
    return qs.select_related("owner", "team").prefetch_related(_tags_prefetch())


def contacts_visible_to(
    actor: Actor | None,
    *,
    search: str = "",
    custom: dict[str, str] | None = None,
    include_merged: bool = False,
) -> QuerySet[Contact]:
    """Contacts the actor may see, with their account; searched and filtered like ``accounts_visible_to``."""
    qs = policy.scope(actor, Contact.objects.all())
    if not include_merged:
        qs = qs.filter(merged_into__isnull=True)
    if search:
        qs = search_filter(qs, search)
    if custom and actor is not None:
        qs = custom_filter(qs, company_id=actor.company_id, target="contact", values=custom)
    return qs.select_related("owner", "team", "account").prefetch_related(_tags_prefetch())


def tags_visible_to(actor: Actor | None) -> QuerySet[Tag]:
    """The company's tags, grouped."""
    return policy.scope(actor, Tag.objects.all()).select_related("group")


def tag_groups_visible_to(actor: Actor | None) -> QuerySet[TagGroup]:
    return policy.scope(actor, TagGroup.objects.all())


def custom_field_sets_visible_to(actor: Actor | None) -> QuerySet[CustomFieldSet]:
    return policy.scope(actor, CustomFieldSet.objects.all())


# ---------------------------------------------------------------- duplicates


@dataclass(frozen=True)
class DuplicateCandidate:
    """An existing customer that looks like the one being written, and which identifying facts matched."""

    customer: Account | Contact
    matched_on: tuple[str, ...]


def _city_variants(city: str) -> list[str]:
    city = city.strip()
    base = city.removesuffix("市") or city
    return sorted({city, base, base + "市"})


def customer_duplicates_find(
    *,
    model: type[Account] | type[Contact],
    company_id: int,
    phone: str = "",
    email: str = "",
    unionid: str = "",
    tax_id: str = "",
    name: str = "",
    city: str = "",
    exclude_pk: int | None = None,
    limit: int = 20,
) -> list[DuplicateCandidate]:
    """Live (not merged) customers of the company matching any of: the normalised phone, the email, the WeChat
    unionid (contacts), the tax ID (accounts), or the same name in the same city.

    Deliberately company-wide, past the caller's own scope: a salesperson must not create a second record of a
    customer a colleague owns. Callers decide how much of a candidate they show. Expects ``phone`` already in
    E.164 (``crm.text.normalize_phone``). For contacts, name + city counts only when the city is known (a
    common name alone says little); for accounts, a blank city matches a blank city.
    """
    email = normalize_email(email)
    name = " ".join((name or "").split())
    conditions = Q()
    if phone:
        conditions |= Q(phone=phone)
    if email:
        conditions |= Q(email=email)
    if unionid and model is Contact:
        conditions |= Q(unionid=unionid)
    if tax_id and model is Account:
        conditions |= Q(tax_id=tax_id.strip().upper())
    city_variants = _city_variants(city) if city.strip() else [""]
    name_city_applies = bool(name) and (model is Account or bool(city.strip()))
    if name_city_applies:
        conditions |= Q(name__iexact=name, city__in=city_variants)
    if not conditions:
        return []
    qs = model.objects.filter(conditions, company_id=company_id, merged_into__isnull=True).select_related("owner")
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    candidates = []
    for customer in qs.order_by("pk")[:limit]:
        matched = []
        if phone and customer.phone == phone:
            matched.append("phone")
        if email and customer.email == email:
            matched.append("email")
        if unionid and getattr(customer, "unionid", "") == unionid:
            matched.append("unionid")
        if tax_id and getattr(customer, "tax_id", "") == tax_id.strip().upper():
            matched.append("tax_id")
        if name_city_applies and customer.name.casefold() == name.casefold() and customer.city in city_variants:
            matched.append("name_city")
        candidates.append(DuplicateCandidate(customer=customer, matched_on=tuple(matched)))
    return candidates


# ---------------------------------------------------------------- leads


def leads_visible_to(actor: Actor | None, *, search: str = "", custom: dict[str, str] | None = None) -> QuerySet[Lead]:
    """Leads the actor may see, newest first; searched like customers (names, company name, pinyin, phone,
    email) and filtered by custom fields."""
    qs = policy.scope(actor, Lead.objects.all())
    if search:
        qs = search_filter(qs, search)
    if custom and actor is not None:
        qs = custom_filter(qs, company_id=actor.company_id, target="lead", values=custom)
    return qs.select_related("owner", "team")


def assignment_rules_visible_to(actor: Actor | None) -> QuerySet[AssignmentRule]:
    return (
        policy.scope(actor, AssignmentRule.objects.all())
        .select_related("team", "last_assignee")
        .prefetch_related("assignees")
    )


def lead_scoring_rules_visible_to(actor: Actor | None) -> QuerySet[LeadScoringRule]:
    return policy.scope(actor, LeadScoringRule.objects.all())


# ---------------------------------------------------------------- pipelines and opportunities


def pipelines_visible_to(actor: Actor | None) -> QuerySet[Pipeline]:
    """The company's pipelines with their stages in order."""
    return policy.scope(actor, Pipeline.objects.all()).prefetch_related(
        Prefetch("stages", queryset=Stage.objects.order_by("sequence", "id"))
    )


def stages_visible_to(actor: Actor | None) -> QuerySet[Stage]:
    return policy.scope(actor, Stage.objects.all()).select_related("pipeline")


def lost_reasons_visible_to(actor: Actor | None) -> QuerySet[LostReason]:
    return policy.scope(actor, LostReason.objects.all())


def opportunities_visible_to(
    actor: Actor | None, *, search: str = "", custom: dict[str, str] | None = None
) -> QuerySet[Opportunity]:
    """Opportunities the actor may see, with stage, pipeline, customer, owner and team in the same query."""
    qs = policy.scope(actor, Opportunity.objects.all())
    if search:
        qs = search_filter(qs, search)
    if custom and actor is not None:
        qs = custom_filter(qs, company_id=actor.company_id, target="opportunity", values=custom)
    return qs.select_related("stage__pipeline", "account", "contact", "owner", "team", "lost_reason")


def stage_changes_visible_to(actor: Actor | None, *, opportunity: Opportunity | None = None) -> QuerySet:
    """Stage history rows of the opportunities the actor may see (optionally one opportunity's), oldest first."""
    qs = policy.scope(actor, OpportunityStageChange.objects.all())
    if opportunity is not None:
        qs = qs.filter(opportunity=opportunity)
    return qs.select_related("from_stage", "to_stage", "changed_by").order_by("changed_at", "id")


@dataclass(frozen=True)
class ForecastRow:
    """One owner's (or team's) month: open pipeline expected to close then, weighted by stage probability,
    and what was actually won in that month."""

    month: date
    group_id: int | None
    open_count: int
    open_amount: Decimal
    weighted_amount: Decimal
    won_count: int
    won_amount: Decimal


def opportunity_forecast(
    actor: Actor | None, *, group_by: str = "owner", date_from: date | None = None, date_to: date | None = None
) -> list[ForecastRow]:
    """The weighted forecast of the opportunities the actor may see, per ``group_by`` ("owner" or "team") and
    month: open opportunities by month of expected close date (amount × stage probability), won ones by
    month closed. Two aggregate queries whatever the data size; amounts in the opportunities' own currency
    (a company sells in one). Months without an expected close date are left out."""
    if group_by not in ("owner", "team"):
        raise ValueError("group_by is 'owner' or 'team'")
    key = f"{group_by}_id"
    visible = opportunities_visible_to(actor).order_by()
    weighted = ExpressionWrapper(
        F("amount") * F("stage__probability") / Decimal(100), output_field=DecimalField(max_digits=20, decimal_places=4)
    )
    open_qs = visible.filter(status=OpportunityStatus.OPEN, expected_close_date__isnull=False)
    won_qs = visible.filter(status=OpportunityStatus.WON)
    if date_from:
        open_qs = open_qs.filter(expected_close_date__gte=date_from)
        won_qs = won_qs.filter(closed_at__gte=_start_of_day(date_from))
    if date_to:
        open_qs = open_qs.filter(expected_close_date__lte=date_to)
        won_qs = won_qs.filter(closed_at__lt=_start_of_day(date_to) + timedelta(days=1))
    rows: dict[tuple, dict] = defaultdict(
        lambda: {"open_count": 0, "open_amount": Decimal(0), "weighted": Decimal(0), "won_count": 0, "won": Decimal(0)}
    )
    for row in (
        open_qs.annotate(month=TruncMonth("expected_close_date"))
        .values("month", key)
        .annotate(n=Count("id"), total=Sum("amount"), weighted=Sum(weighted))
    ):
        entry = rows[(_as_date(row["month"]), row[key])]
        entry.update(open_count=row["n"], open_amount=row["total"], weighted=row["weighted"])
    for row in (
        won_qs.annotate(month=TruncMonth("closed_at", tzinfo=timezone.get_current_timezone()))
        .values("month", key)
        .annotate(n=Count("id"), total=Sum("amount"))
    ):
        entry = rows[(_as_date(row["month"]), row[key])]
        entry.update(won_count=row["n"], won=row["total"])
    cent = Decimal("0.01")
    return [
        ForecastRow(
            month=month,
            group_id=group_id,
            open_count=v["open_count"],
            open_amount=Decimal(v["open_amount"]).quantize(cent),
            weighted_amount=Decimal(v["weighted"]).quantize(cent),
            won_count=v["won_count"],
            won_amount=Decimal(v["won"]).quantize(cent),
        )
        for (month, group_id), v in sorted(rows.items(), key=lambda item: (item[0][0], item[0][1] or 0))
    ]


def _start_of_day(day: date) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day))


def _as_date(value) -> date:
    return value.date() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class FunnelStep:
    stage: Stage
    reached: int  # opportunities that entered this stage (or a later one) in the period
    conversion_from_previous: Decimal | None  # share of the previous step's opportunities, in percent


def opportunity_funnel(
    actor: Actor | None, *, pipeline: Pipeline, since: datetime | None = None, until: datetime | None = None
) -> list[FunnelStep]:
    """How many of the visible opportunities of ``pipeline`` reached each open stage and the won stage, from the
    stage history: an opportunity that skipped a stage counts as having passed it. One aggregate query (the
    furthest stage per opportunity, counted per stage in the database)."""
    stages = [s for s in pipeline.stages.order_by("sequence", "id") if not s.is_lost]
    changes = stage_changes_visible_to(actor).filter(to_stage__in=stages)
    if since:
        changes = changes.filter(changed_at__gte=since)
    if until:
        changes = changes.filter(changed_at__lt=until)
    per_opportunity = changes.order_by().values("opportunity_id").annotate(furthest=Max("to_stage__sequence"))
    sql, params = per_opportunity.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT furthest, count(*) FROM ({sql}) AS per_opportunity GROUP BY furthest", params)
        counts = dict(cursor.fetchall())
    steps = []
    previous = None
    for stage in stages:
        reached = sum(n for sequence, n in counts.items() if sequence >= stage.sequence)
        conversion = None
        if previous:
            conversion = (Decimal(reached) * 100 / Decimal(previous)).quantize(Decimal("0.1"))
        steps.append(FunnelStep(stage=stage, reached=reached, conversion_from_previous=conversion))
        previous = reached
    return steps


# ---------------------------------------------------------------- activities


def activities_visible_to(
    actor: Actor | None,
    *,
    account: Account | None = None,
    contact: Contact | None = None,
    lead: Lead | None = None,
    opportunity: Opportunity | None = None,
    open_only: bool = False,
) -> QuerySet[Activity]:
    """Activities the actor may see, newest first, optionally of one record and/or still open."""
    qs = policy.scope(actor, Activity.objects.all())
    for name, record in (("account", account), ("contact", contact), ("lead", lead), ("opportunity", opportunity)):
        if record is not None:
            qs = qs.filter(**{name: record})
    if open_only:
        qs = qs.filter(done_at__isnull=True)
    return qs.select_related("owner", "team", "account", "contact", "lead", "opportunity")


def activities_due(actor: Actor | None, *, until: datetime | None = None) -> QuerySet[Activity]:
    """The actor's own open activities due before ``until`` (default: the end of today), most overdue first:
    the "my day" list."""
    if actor is None:
        return Activity.objects.none()
    if until is None:
        until = _start_of_day(timezone.localdate()) + timedelta(days=1)
    return (
        activities_visible_to(actor, open_only=True).filter(owner=actor.user, due_at__lt=until).order_by("due_at", "id")
    )
