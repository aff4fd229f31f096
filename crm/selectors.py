"""Every read of CRM data that other code needs: scoped by the policy layer, prefetched, typed.

Functions that take an ``actor`` return only what that actor may see (``suite.policy.scope``); functions that
take a ``company_id`` instead are for services and say why they look past the actor's scope.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    Avg,
    Case,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    Max,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncMonth, Upper
from django.utils import timezone

from crm.models import (
    Account,
    Activity,
    AssignmentRule,
    Contact,
    ContactRole,
    CsatSurvey,
    CustomFieldSet,
    ImportJob,
    ImportRowIssue,
    Lead,
    LeadScoringRule,
    LostReason,
    Opportunity,
    OpportunityContactRole,
    OpportunityStageChange,
    OpportunityStatus,
    Pipeline,
    SlaPolicy,
    Stage,
    Tag,
    TagGroup,
    Ticket,
    TicketCategory,
    TicketInboundToken,
    TicketMessage,
)
from crm.text import normalize_email, search_terms
from suite import policy
from suite.api.counting import audit_versions, remembered_count
from suite.lookups import present_in
from suite.models import Role
from suite.policy import Actor
from suite.prepared import PreparedRead

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


GROUP_TREE_LEVELS = 10  # how far down a group is followed: deeper than the service allows, and an end to any loop


def _group_tree_sql(select: str) -> str:
    """A recursive walk down from the account ``%s`` (level 0) through the accounts whose parent it is, not
    merged, at most ``GROUP_TREE_LEVELS`` deep; ``select`` reads the ``tree(id, level)`` it makes."""
    table = Account._meta.db_table
    return (
        f"WITH RECURSIVE tree(id, level) AS (SELECT id, 0 FROM {table} WHERE id = %s"
        f" UNION ALL SELECT a.id, tree.level + 1 FROM {table} a JOIN tree ON a.parent_id = tree.id"
        f" WHERE tree.level < {GROUP_TREE_LEVELS} AND a.merged_into_id IS NULL) SELECT {select} FROM tree"
    )


def in_account_group(queryset: QuerySet, group_id: int) -> QuerySet:
    """``queryset`` (of accounts) cut to the group ``group_id``: that account and every account under it, at any
    depth (集团及其下属公司) — one recursive subquery, whatever the group's size. Scope is the queryset's."""
    tree = RawSQL(_group_tree_sql("id"), (group_id,))  # noqa: S611 - our own table name; the id is a parameter
    return queryset.filter(pk__in=tree)


def group_height(account_id: int) -> int:
    """How many levels hang under the account: 0 for a company without subsidiaries, 1 when it has some, 2 when
    one of those has its own … (one query; for the service's depth check when an account moves)."""
    with connection.cursor() as cursor:
        cursor.execute(_group_tree_sql("max(level)"), (account_id,))
        return cursor.fetchone()[0] or 0


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


def assignable_users(actor: Actor | None) -> QuerySet:
    """The people a record of the actor's company may be given to (owner, agent): its active members."""
    if actor is None:
        return get_user_model().objects.none()
    return (
        get_user_model()
        .objects.filter(memberships__company_id=actor.company_id, memberships__is_active=True, is_active=True)
        .order_by("username")
    )


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


@dataclass(frozen=True)
class DuplicateFacts:
    """The identifying facts of one record being written (already normalised: phone in E.164)."""

    phone: str = ""
    email: str = ""
    unionid: str = ""
    tax_id: str = ""
    name: str = ""
    city: str = ""


def _duplicate_matches(model, facts: DuplicateFacts, record) -> tuple[str, ...]:
    """Which of ``customer_duplicates_find``'s rules ``record`` meets for ``facts`` (empty: none)."""
    matched = []
    if facts.phone and record.phone == facts.phone:
        matched.append("phone")
    if facts.email and record.email == normalize_email(facts.email):
        matched.append("email")
    if facts.unionid and model is not Account and getattr(record, "unionid", "") == facts.unionid:
        matched.append("unionid")
    if facts.tax_id and model is Account and record.tax_id == facts.tax_id.strip().upper():
        matched.append("tax_id")
    name = " ".join((facts.name or "").split())
    if name and (model is Account or facts.city.strip()):
        variants = _city_variants(facts.city) if facts.city.strip() else [""]
        if record.name.casefold() == name.casefold() and record.city in variants:
            matched.append("name_city")
    return tuple(matched)


def duplicates_find_many(
    *, model: type[Account] | type[Contact] | type[Lead], company_id: int, facts: list[DuplicateFacts]
) -> list[list[DuplicateCandidate]]:
    """``customer_duplicates_find`` for many records at once (an import chunk): one query for all of them,
    the same rules per record. For each entry of ``facts`` the live records that match, strongest-first by pk.

    For leads the same rules apply to open leads (not converted or disqualified), so a re-imported list does
    not double them. Company-wide, past any actor's scope, like ``customer_duplicates_find``.
    """
    phones = {f.phone for f in facts if f.phone}
    emails = {normalize_email(f.email) for f in facts if f.email}
    unionids = {f.unionid for f in facts if f.unionid}
    tax_ids = {f.tax_id.strip().upper() for f in facts if f.tax_id}
    names = {" ".join(f.name.split()).upper() for f in facts if f.name.strip() and (model is Account or f.city.strip())}
    conditions = Q()
    if phones:
        conditions |= present_in("phone", phones)
    if emails:
        conditions |= present_in("email", emails)
    if unionids and model is not Account:
        conditions |= present_in("unionid", unionids)
    if tax_ids and model is Account:
        conditions |= present_in("tax_id", tax_ids)
    if names:
        conditions |= Q(upper_name__in=names)
    if not conditions:
        return [[] for _ in facts]
    qs = model.objects.alias(upper_name=Upper("name")).filter(conditions, company_id=company_id)
    live = ~Q(status__in=["converted", "disqualified"]) if model is Lead else Q(merged_into__isnull=True)
    qs = qs.filter(live)
    records = list(qs.order_by("pk"))
    by_phone: dict[str, list] = defaultdict(list)
    by_email: dict[str, list] = defaultdict(list)
    by_other: dict[str, list] = defaultdict(list)
    for record in records:
        if record.phone:
            by_phone[record.phone].append(record)
        if record.email:
            by_email[record.email].append(record)
        by_other[record.name.casefold()].append(record)
        for key in (getattr(record, "unionid", ""), getattr(record, "tax_id", "")):
            if key:
                by_other["\x00" + key].append(record)
    result = []
    for fact in facts:
        pool = {
            r.pk: r
            for r in (
                by_phone.get(fact.phone, [])
                + by_email.get(normalize_email(fact.email), [])
                + by_other.get(" ".join(fact.name.split()).casefold(), [])
                + by_other.get("\x00" + fact.unionid, [])
                + by_other.get("\x00" + fact.tax_id.strip().upper(), [])
            )
        }
        found = []
        for pk in sorted(pool):
            matched = _duplicate_matches(model, fact, pool[pk])
            if matched:
                found.append(DuplicateCandidate(customer=pool[pk], matched_on=matched))
        result.append(found)
    return result


def import_jobs_visible_to(actor: Actor | None) -> QuerySet[ImportJob]:
    """Import jobs the actor may see (their own; managers their teams'; admins all), newest first."""
    return policy.scope(actor, ImportJob.objects.all()).select_related("owner").order_by("-created_at", "-id")


def import_issues_of(job: ImportJob) -> QuerySet[ImportRowIssue]:
    """The per-row report of a job (the caller has checked the job is visible), in file order."""
    return ImportRowIssue.objects.filter(job=job).order_by("row_number", "id")


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


_BIGINT = 2**63 - 1
_VISIBLE_OPPORTUNITY = PreparedRead()
_PK_MARK = -940_000_001  # the placeholder of the primary key (the actor's ids: policy.scope_rendering)


def opportunity_visible_to(actor: Actor | None, pk: int) -> Opportunity | None:
    """The opportunity ``pk`` if the actor may see it (else ``None``), with what ``opportunities_visible_to``
    joins: the row ``opportunities_visible_to(actor).filter(pk=pk).first()`` gives, read by that queryset's own
    SQL compiled once per process and scope shape, and planned once per connection (``suite.prepared``: the
    detail read of every win request, issue #7 figure)."""
    rendering = policy.scope_rendering(actor, Opportunity) if actor is not None else None
    if rendering is None or not -_BIGINT <= pk <= _BIGINT:
        return None
    found = _VISIBLE_OPPORTUNITY.fetch(
        ("opportunity_visible_to", rendering.shape),
        lambda: opportunities_visible_to(rendering.placeholder).filter(pk=_PK_MARK).order_by(),
        {**rendering.values, _PK_MARK: pk},
    )
    return found[0] if found else None


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
    ticket: Ticket | None = None,
    open_only: bool = False,
) -> QuerySet[Activity]:
    """Activities the actor may see, newest first, optionally of one record and/or still open."""
    qs = policy.scope(actor, Activity.objects.all())
    links = (("account", account), ("contact", contact), ("lead", lead), ("opportunity", opportunity))
    for name, record in (*links, ("ticket", ticket)):
        if record is not None:
            qs = qs.filter(**{name: record})
    if open_only:
        qs = qs.filter(done_at__isnull=True)
    return qs.select_related("owner", "team", "account", "contact", "lead", "opportunity", "ticket")


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


# ---------------------------------------------------------------- service tickets


def _ticket_base(actor: Actor | None) -> QuerySet[Ticket]:
    return policy.scope(actor, Ticket.objects.all()).select_related(
        "account", "contact", "category", "assigned_agent", "team", "owner", "sla_policy", "follow_up_activity", "csat"
    )


def tickets_visible_to(
    actor: Actor | None,
    *,
    search: str = "",
    status: str | list[str] | None = None,
    assigned_to=None,
    breached: bool | None = None,
) -> QuerySet[Ticket]:
    """Tickets the actor may see (service: all of the company; sales: their customers'), newest first, with
    customer, category, agent, team, SLA policy, follow-up task and survey in the same query.

    ``search`` matches the number (``123`` or ``#123``) or a part of the subject or requester; ``status`` one
    status or a list; ``assigned_to`` a user; ``breached`` tickets that missed (or met) an SLA target."""
    qs = _ticket_base(actor)
    query = " ".join((search or "").split())
    if query:
        number = query.lstrip("#")
        condition = Q(subject__icontains=query) | Q(requester_name__icontains=query) | Q(requester_email=query.lower())
        if number.isdigit() and len(number) <= 9:
            condition |= Q(number=int(number))
        qs = qs.filter(condition)
    if status:
        qs = qs.filter(status__in=[status] if isinstance(status, str) else list(status))
    if assigned_to is not None:
        qs = qs.filter(assigned_agent=assigned_to)
    if breached is not None:
        breach = Q(first_response_breached_at__isnull=False) | Q(resolution_breached_at__isnull=False)
        qs = qs.filter(breach) if breached else qs.exclude(breach)
    return qs


def ticket_messages_visible_to(actor: Actor | None, *, ticket: Ticket) -> QuerySet[TicketMessage]:
    """The thread of a ticket the actor may see, oldest first, with authors."""
    return (
        policy.scope(actor, TicketMessage.objects.filter(ticket=ticket))
        .select_related("author")
        .order_by("created_at", "id")
    )


def ticket_categories_visible_to(actor: Actor | None) -> QuerySet[TicketCategory]:
    return policy.scope(actor, TicketCategory.objects.all()).select_related("default_team")


def sla_policies_visible_to(actor: Actor | None) -> QuerySet[SlaPolicy]:
    return policy.scope(actor, SlaPolicy.objects.all())


def inbound_tokens_visible_to(actor: Actor | None) -> QuerySet[TicketInboundToken]:
    return policy.scope(actor, TicketInboundToken.objects.all()).select_related("created_by")


def ticket_for_email(ticket_id: int) -> Ticket | None:
    """A ticket with its contact and survey, for the e-mail task (a worker has no actor: it sends what a
    service already decided to send)."""
    return Ticket.objects.select_related("contact", "csat", "company").filter(pk=ticket_id).first()


def csat_survey_by_token(token: str) -> CsatSurvey | None:
    """The survey of a public link (no actor: the customer holds the token), with its ticket and company."""
    if not token or len(token) > 64:
        return None
    return CsatSurvey.objects.select_related("ticket", "company").filter(token=token).first()


@dataclass(frozen=True)
class TicketReportRow:
    """Tickets opened in a period for one category or agent (``key`` None: none set; ``label`` "" for the
    total row): volume, how many were resolved, SLA attainment and satisfaction."""

    key: int | None
    label: str
    volume: int
    resolved: int
    first_response_met: int
    first_response_due: int  # tickets whose first-response target has been decided (answered, or overdue)
    resolution_met: int
    resolution_due: int
    csat_count: int
    csat_average: Decimal | None

    @staticmethod
    def _percent(part: int, whole: int) -> Decimal | None:
        return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1")) if whole else None

    @property
    def first_response_attainment(self) -> Decimal | None:
        return self._percent(self.first_response_met, self.first_response_due)

    @property
    def resolution_attainment(self) -> Decimal | None:
        return self._percent(self.resolution_met, self.resolution_due)


def ticket_report_row(values: dict, key_value, label: str) -> TicketReportRow:
    """One row of a ticket report from its aggregated ``values`` (the ticket report and the service dashboard)."""
    average = values["csat_average"]
    return TicketReportRow(
        key=key_value,
        label=label,
        volume=values["volume"],
        resolved=values["resolved"],
        first_response_met=values["first_response_met"],
        first_response_due=values["first_response_due"],
        resolution_met=values["resolution_met"],
        resolution_due=values["resolution_due"],
        csat_count=values["csat_count"],
        csat_average=Decimal(str(average)).quantize(Decimal("0.01")) if average is not None else None,
    )


def ticket_report(
    actor: Actor | None,
    *,
    group_by: str = "category",
    date_from: date | None = None,
    date_to: date | None = None,
    now: datetime | None = None,
) -> list[TicketReportRow]:
    """Volume, SLA attainment (first response and resolution: met within target / targets decided) and CSAT
    (answers, average score) of the tickets the actor may see, opened between ``date_from`` and ``date_to``
    (inclusive), per ``group_by`` ("category" or "agent"), largest volume first, then a total row. Two queries
    (one aggregate, one for the labels) whatever the data size."""
    if group_by not in ("category", "agent"):
        raise ValueError("group_by is 'category' or 'agent'")
    now = now or timezone.now()
    key = "category_id" if group_by == "category" else "assigned_agent_id"
    qs = policy.scope(actor, Ticket.objects.all())
    if date_from:
        qs = qs.filter(created_at__gte=_start_of_day(date_from))
    if date_to:
        qs = qs.filter(created_at__lt=_start_of_day(date_to) + timedelta(days=1))
    response_decided = Q(first_response_due_at__isnull=False) & (
        Q(first_responded_at__isnull=False) | Q(first_response_due_at__lt=now)
    )
    resolution_decided = Q(resolution_due_at__isnull=False) & (
        Q(resolved_at__isnull=False) | Q(resolution_due_at__lt=now)
    )
    measures = {
        "volume": Count("id"),
        "resolved": Count("id", filter=Q(resolved_at__isnull=False)),
        "first_response_met": Count("id", filter=Q(first_responded_at__lte=F("first_response_due_at"))),
        "first_response_due": Count("id", filter=response_decided),
        "resolution_met": Count("id", filter=Q(resolved_at__lte=F("resolution_due_at"))),
        "resolution_due": Count("id", filter=resolution_decided),
        "csat_count": Count("csat__score"),
        "csat_average": Avg("csat__score"),
    }
    grouped = list(qs.order_by().values(key).annotate(**measures))
    ids = [row[key] for row in grouped if row[key] is not None]
    if group_by == "category":
        labels = dict(TicketCategory.objects.filter(pk__in=ids).values_list("pk", "name"))
    else:
        from suite.templatetags.troika import person_name

        labels = {user.pk: person_name(user) for user in get_user_model().objects.filter(pk__in=ids)}

    rows = [ticket_report_row(row, row[key], labels.get(row[key], "")) for row in grouped]
    rows.sort(key=lambda r: (-r.volume, r.label))
    totals = {name: sum(row[name] for row in grouped) for name in measures if name != "csat_average"}
    scored = sum((row["csat_average"] or 0) * row["csat_count"] for row in grouped)
    totals["csat_average"] = (Decimal(str(scored)) / totals["csat_count"]) if totals.get("csat_count") else None
    rows.append(ticket_report_row(totals, None, ""))
    return rows


# ---------------------------------------------------------------- UI pages: customer 360, kanban board, my day


# The customer 360 page lives in crm/selectors_customer360.py (it also reads ERP and SCRM selectors).
from crm.selectors_customer360 import (  # noqa: E402, F401 (re-exported)
    CONTACT_KINDS,
    Customer360,
    CustomerFigures,
    TimelineEntry,
    TimelinePage,
    customer_360,
    customer_timeline,
)


@dataclass(frozen=True)
class BoardColumn:
    stage: Stage
    cards: list[Opportunity]
    count: int
    amount: Decimal

    @property
    def more(self) -> int:
        return self.count - len(self.cards)


BOARD_CARDS = 20  # per column at first; "Show more" adds as many (a column of 300 took most of the page's time)


def _board_deals(actor, *, pipeline: Pipeline, search: str, owner, closed_since: datetime | None):
    """The board's stages and the deals it shows on them: open ones, and those closed since ``closed_since``
    (default 90 days), as the actor may see them."""
    # from the start of a day: the board's totals are remembered under their SQL, which a moment would change
    closed_since = closed_since or _start_of_day(timezone.localdate() - timedelta(days=90))
    stages = list(pipeline.stages.filter(is_active=True).order_by("sequence", "id"))
    scoped = opportunities_visible_to(actor, search=search).filter(stage_id__in=[stage.pk for stage in stages])
    if owner is not None:
        scoped = scoped.filter(owner=owner)
    open_deals = scoped.filter(status=OpportunityStatus.OPEN)
    closed_deals = scoped.exclude(status=OpportunityStatus.OPEN).filter(closed_at__gte=closed_since)
    return stages, open_deals, closed_deals


def opportunity_board(
    actor: Actor | None,
    *,
    pipeline: Pipeline,
    search: str = "",
    owner=None,
    closed_since: datetime | None = None,
    per_column: int = BOARD_CARDS,
) -> list[BoardColumn]:
    """The kanban board of a pipeline: one column per active stage (in order), each with its count and total
    amount and its most recently changed ``per_column`` opportunities (``opportunity_board_cards`` reads the
    next ones). Won and lost columns show deals closed since ``closed_since`` (default: 90 days). Four queries
    whatever the number of deals.

    The cards are found column by column — one ``UNION ALL`` of "the stage's latest ``per_column``", each an
    index walk (``crm_opportunity_stage``) — and only then read with their customer, owner and team: a window
    function over the whole pipeline joined every deal to its customer first (1.5 s for the 155k open and recent
    deals of the bench company)."""
    stages, open_deals, closed_deals = _board_deals(
        actor, pipeline=pipeline, search=search, owner=owner, closed_since=closed_since
    )
    qs = open_deals | closed_deals
    # count and amount per column: the open deals and the recently closed ones apart, each read from its covering
    # index (crm_opportunity_open_cover, crm_opportunity_closed_cover) instead of one scan of the table for an OR —
    # and remembered until an opportunity changes (``suite.api.counting``: over a company's 155k open deals the
    # sums take ~85 ms, most of the database's share of the board)
    totals: dict[int, dict] = defaultdict(lambda: {"n": 0, "total": Decimal("0.00")})
    per_stage = [
        part.order_by().values("stage_id").annotate(n=Count("id"), total=Sum("amount"))
        for part in (open_deals, closed_deals)
    ]
    both = per_stage[0].union(per_stage[1], all=True)
    sql, params = both.query.get_compiler(both.db).as_sql()
    versions = audit_versions([Opportunity], using=both.db)
    for row in remembered_count(Opportunity, sql, params, versions, lambda: list(both), using=both.db):
        totals[row["stage_id"]]["n"] += row["n"]
        totals[row["stage_id"]]["total"] += row["total"] or 0
    latest = [
        qs.select_related(None).filter(stage_id=stage.pk).order_by("-updated_at", "-id").values_list("pk")[:per_column]
        for stage in stages
    ]
    ids = [pk for (pk,) in latest[0].union(*latest[1:], all=True)] if latest else []
    cards: dict[int, list[Opportunity]] = defaultdict(list)
    for opportunity in qs.filter(pk__in=ids).order_by("-updated_at", "-id"):
        cards[opportunity.stage_id].append(opportunity)
    return [
        BoardColumn(
            stage=stage,
            cards=cards.get(stage.pk, []),
            count=totals.get(stage.pk, {}).get("n", 0),
            amount=totals.get(stage.pk, {}).get("total") or Decimal("0.00"),
        )
        for stage in stages
    ]


def opportunity_board_cards(
    actor: Actor | None,
    *,
    pipeline: Pipeline,
    stage: Stage,
    search: str = "",
    owner=None,
    closed_since: datetime | None = None,
    offset: int = 0,
    limit: int = BOARD_CARDS,
) -> tuple[list[Opportunity], bool]:
    """One board column's cards after the first ``offset`` (the column's "Show more"), in the board's order,
    and whether more follow: the stage's index walk for the ids, then those rows with their customer, owner and
    team (two queries besides the stages)."""
    stages, open_deals, closed_deals = _board_deals(
        actor, pipeline=pipeline, search=search, owner=owner, closed_since=closed_since
    )
    if stage not in stages:
        return [], False
    qs = (open_deals | closed_deals).filter(stage_id=stage.pk)
    walk = qs.select_related(None).order_by("-updated_at", "-id").values_list("pk", flat=True)
    ids = list(walk[offset : offset + limit + 1])
    return list(qs.filter(pk__in=ids[:limit]).order_by("-updated_at", "-id")), len(ids) > limit


@dataclass(frozen=True)
class MyDay:
    overdue: list[Activity]
    today: list[Activity]
    upcoming: list[Activity]
    hot_leads: list[Lead]
    tickets: list[Ticket]


HOT_LEAD_SCORE = 50
OPEN_LEAD_STATUSES = ("new", "contacted", "qualified")


def my_day(actor: Actor | None, *, hot_score: int = HOT_LEAD_SCORE) -> MyDay:
    """A salesperson's (or agent's) day: their open activities overdue and due today, the next week's, their
    hottest open leads (score ≥ ``hot_score``, best first) and the unresolved tickets assigned to them. At most
    nine queries (ten with tickets), whatever the number of activities."""
    if actor is None:
        return MyDay([], [], [], [], [])
    start = _start_of_day(timezone.localdate())
    # The linked records (account, contact, lead, deal, ticket) in five reads for both lists rather than five
    # joins in each: eight joins cost PostgreSQL tens of ms of planning per list (docs/performance.md, "Activity
    # list"), more than reading 200 activities.
    lean = ("owner", "team")
    due = list(activities_due(actor).select_related(None).select_related(*lean)[:200])
    upcoming = list(
        activities_visible_to(actor, open_only=True)
        .select_related(None)
        .select_related(*lean)
        .filter(owner=actor.user, due_at__gte=start + timedelta(days=1), due_at__lt=start + timedelta(days=8))
        .order_by("due_at", "id")[:20]
    )
    prefetch_related_objects([*due, *upcoming], "account", "contact", "lead", "opportunity", "ticket")
    hot = list(
        leads_visible_to(actor)
        .filter(owner=actor.user, status__in=OPEN_LEAD_STATUSES, score__gte=hot_score)
        .order_by("-score", "-created_at")[:10]
    )
    tickets = []
    if policy.can(actor, "view", Ticket):
        tickets = list(
            tickets_visible_to(actor, status=["new", "open", "pending"], assigned_to=actor.user).order_by(
                F("resolution_due_at").asc(nulls_last=True), "id"
            )[:20]
        )
    return MyDay(
        overdue=[a for a in due if a.due_at < start],
        today=[a for a in due if a.due_at >= start],
        upcoming=upcoming,
        hot_leads=hot,
        tickets=tickets,
    )


# ---------------------------------------------------------------- opportunity lines and quotes (ERP catalogue)

from crm.models import OpportunityLine, Quote, QuoteApprovalDecision, QuoteApprovalLevel, QuoteLine  # noqa: E402
from erp.selectors import inventory as erp_inventory  # noqa: E402
from erp.selectors import promise as erp_promise  # noqa: E402

PROMISE_HORIZON_DAYS = 180


def opportunity_lines_visible_to(actor: Actor | None, *, opportunity: Opportunity) -> QuerySet[OpportunityLine]:
    """The lines of ``opportunity`` the actor may see (those of a deal they may see), in their order."""
    return policy.scope(actor, OpportunityLine.objects.filter(opportunity=opportunity)).order_by("sequence", "id")


def opportunity_contact_roles_visible_to(
    actor: Actor | None, *, opportunity: Opportunity
) -> QuerySet[OpportunityContactRole]:
    """The buying committee of ``opportunity`` the actor may see (that of a deal they may see), decision makers
    first, with each person and their account."""
    order = Case(*(When(role=role, then=Value(rank)) for rank, role in enumerate(ContactRole.values)))
    return (
        policy.scope(actor, OpportunityContactRole.objects.filter(opportunity=opportunity))
        .select_related("contact", "contact__account")
        .order_by(order, "contact__name", "id")
    )


def committee_candidates_visible_to(actor: Actor | None, *, opportunity: Opportunity) -> QuerySet[Contact]:
    """The people who can sit in the deal's buying committee: the live contacts of its account the actor may
    see, and its main contact (a B2C deal has only that one)."""
    people = Q(pk=opportunity.contact_id) if opportunity.contact_id else Q(pk__in=[])
    if opportunity.account_id:
        people |= Q(account_id=opportunity.account_id)
    return contacts_visible_to(actor).filter(people)


@dataclass(frozen=True)
class LineAvailability:
    """What ERP says about a line now: its current price for the customer (``None``: no price), free stock
    over all warehouses, and the earliest date the line's quantity can be delivered (``None``: the known
    supply does not cover it; ``horizon_end`` is what the page names then)."""

    current_price: Decimal | None
    price_source: str
    available_now: Decimal
    earliest_date: date | None
    horizon_end: date
    is_stockable: bool = True


def lines_availability(*, opportunity: Opportunity, lines) -> dict[int, LineAvailability]:
    """Live price and promise of each line (by line id), read synchronously from ERP's selectors — nothing is
    copied: the price from ``prices_for_many``; free stock and the earliest delivery date from the explained
    promise (``erp.selectors.promise.explain_promises``: free stock, purchase receipts, then production by its
    finite-capacity schedule — the same answer as ``/api/v1/erp/promise/``, less other deals' accepted quotes).
    Seven queries whatever the number of lines."""
    from crm.services.quotes import price_group_of

    lines = list(lines)
    if not lines:
        return {}
    items = [(line.product_id, line.quantity) for line in lines]
    prices = erp_inventory.prices_for_many(
        company=opportunity.company_id,
        items=items,
        customer_group=price_group_of(opportunity) or None,
        currency=opportunity.currency,
    )
    promises = erp_promise.explain_promises(company=opportunity.company_id, items=items, for_opportunity=opportunity.pk)
    horizon_end = timezone.localdate() + timedelta(days=PROMISE_HORIZON_DAYS - 1)
    result = {}
    for line, key in zip(lines, items, strict=True):
        price, promise = prices.get(key), promises[key]
        result[line.pk] = LineAvailability(
            current_price=price.unit_price if price else None,
            price_source=price.source if price else "",
            available_now=promise.free_now,
            earliest_date=promise.promised_date,
            horizon_end=horizon_end,
            is_stockable=promise.is_stockable,
        )
    return result


def quotes_visible_to(actor: Actor | None, *, opportunity: Opportunity | None = None) -> QuerySet[Quote]:
    """Quotes of the deals the actor may see, newest first, with their opportunity and customer joined and
    their lines and approval trail prefetched (three queries for a page)."""
    qs = policy.scope(actor, Quote.objects.all())
    if opportunity is not None:
        qs = qs.filter(opportunity=opportunity)
    return qs.select_related(
        "opportunity", "opportunity__account", "opportunity__contact", "company", "created_by", "approval_decided_by"
    ).prefetch_related(
        Prefetch("lines", queryset=QuoteLine.objects.order_by("sequence", "id")),
        Prefetch("approval_decisions", queryset=QuoteApprovalDecision.objects.select_related("decided_by")),
    )


def quotes_awaiting_approval(actor: Actor | None, *, limit: int = 20) -> list[Quote]:
    """The quotes waiting for the actor's yes (报价审批): pending, of deals the actor may see, not their own, oldest
    request first — for a manager those waiting for the team's manager, for an admin every one (an admin may
    decide at either level) — for those who may approve (one query; none for the others)."""
    if not policy.can(actor, "approve", Quote):
        return []
    waiting = Quote.objects.filter(approval="pending")
    if actor.role != Role.ADMIN:
        waiting = waiting.filter(approval_level=QuoteApprovalLevel.MANAGER)
    return list(
        policy.scope(actor, waiting)
        .exclude(created_by=actor.user)
        .select_related("opportunity", "created_by")
        .order_by("approval_requested_at", "id")[:limit]
    )


# Segments (SCRM's saved queries over CRM contacts): the compiler lives in its own module.
# ---------------------------------------------------------------- reply templates (快捷回复)
from crm.models import ReplyTemplate  # noqa: E402
from crm.selectors_segments import (  # noqa: E402,F401
    SegmentQueryError,
    campaign_exists,
    company_tag_ids,
    contact_ids_of_account,
    contacts_personalisation,
    customers_in_segment,
    segment_count,
    segment_count_exact,
    segment_fields,
    segment_query_errors,
    tag_changes_of,
)

_REPLY_PLACEHOLDER = re.compile(r"\{(customer|contact|agent|ticket|company)\}")


def reply_filled(template: ReplyTemplate, values: dict[str, str]) -> str:
    """The template's text with its placeholders ({customer}, {contact}, {agent}, {ticket}, {company}) filled
    from ``values`` (missing ones empty); nothing else in braces is touched. For the CRM's tickets and the SCRM
    inbox's replies."""
    return _REPLY_PLACEHOLDER.sub(lambda match: values.get(match.group(1), ""), template.body)


def reply_templates_visible_to(actor: Actor | None, *, ticket: Ticket | None = None) -> QuerySet[ReplyTemplate]:
    """The company's shared reply templates and the actor's own; for a ticket, those of its category first, then
    the most used."""
    if actor is None:
        return ReplyTemplate.objects.none()
    qs = policy.scope(actor, ReplyTemplate.objects.filter(Q(owner__isnull=True) | Q(owner=actor.user)))
    if ticket is not None and ticket.category_id:
        return qs.order_by(
            Case(When(category_id=ticket.category_id, then=Value(0)), default=Value(1)), "-usage_count", "title"
        )
    return qs.select_related("category").order_by("-usage_count", "title")
