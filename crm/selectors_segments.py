"""Segments: a boolean query over contacts, as JSON, validated and compiled to one SQL query.

Grammar (every node is an object with exactly one shape)::

    {"and": [node, ...]}   {"or": [node, ...]}   {"not": node}
    {"tag": 12}                                           carries CRM tag 12
    {"field": "province", "in": ["广东省", "浙江省"]}       also city, gender, lifecycle_stage, source
    {"field": "age", "min": 18, "max": 35}                 age band from the birthday (either bound optional)
    {"field": "spend", "gte": "1000.00"}                   paid spend at least / below ("lt")
    {"field": "last_interaction_days", "lte": 30}          interacted in the last N days / not ("gt")

Tags and behaviour facts are ``EXISTS`` semi-joins (index-only scans of ``crm_contacttag (tag_id, contact_id)``
and of the facts' indexes); PostgreSQL turns each into a hashed sub-plan built once per query, so a 5-term query
stays one pass over the company's contacts (figures in docs/performance.md). ``NOT`` keeps its plain meaning
for contacts without facts: "spend < 100" includes those who never bought.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Contact, ContactFacts, ContactTag, Gender, LifecycleStage, Source, Tag

MAX_TERMS = 50
MAX_DEPTH = 8
CHOICE_FIELDS = {
    "province": None,
    "city": None,
    "gender": set(Gender.values) | {""},
    "lifecycle_stage": set(LifecycleStage.values),
    "source": set(Source.values) | {""},
}
FIELDS = [*CHOICE_FIELDS, "age", "spend", "last_interaction_days"]


class SegmentQueryError(ValueError):
    """The query is not valid; ``errors`` lists what is wrong, with the path of each node."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def _int(value, *, minimum: int = 0, maximum: int = 200) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        return None
    return value


def _validate(node, path: str, depth: int, errors: list[str], tags: set[int], counter: list[int]) -> None:
    if depth > MAX_DEPTH:
        errors.append(_("%(path)s: nested too deep (at most %(max)d levels).") % {"path": path, "max": MAX_DEPTH})
        return
    if not isinstance(node, dict) or not node:
        errors.append(_("%(path)s: a condition must be an object.") % {"path": path})
        return
    if "and" in node or "or" in node:
        op = "and" if "and" in node else "or"
        children = node[op]
        if len(node) != 1 or not isinstance(children, list) or not children:
            errors.append(_("%(path)s: “%(op)s” takes a non-empty list and nothing else.") % {"path": path, "op": op})
            return
        for index, child in enumerate(children):
            _validate(child, f"{path}.{op}[{index}]", depth + 1, errors, tags, counter)
        return
    if "not" in node:
        if len(node) != 1:
            errors.append(_("%(path)s: “not” takes one condition and nothing else.") % {"path": path})
            return
        _validate(node["not"], f"{path}.not", depth + 1, errors, tags, counter)
        return
    counter[0] += 1
    if counter[0] > MAX_TERMS:
        if counter[0] == MAX_TERMS + 1:
            errors.append(_("A segment has at most %(max)d conditions.") % {"max": MAX_TERMS})
        return
    if "tag" in node:
        tag = node["tag"]
        if len(node) != 1 or isinstance(tag, bool) or not isinstance(tag, int) or tag not in tags:
            errors.append(_("%(path)s: unknown tag.") % {"path": path})
        return
    field = node.get("field")
    if field not in FIELDS:
        errors.append(
            _("%(path)s: unknown condition; use tag or field (%(fields)s).")
            % {"path": path, "fields": ", ".join(FIELDS)}
        )
        return
    keys = set(node) - {"field"}
    if field in CHOICE_FIELDS:
        values = node.get("in")
        allowed = CHOICE_FIELDS[field]
        if keys != {"in"} or not isinstance(values, list) or not values or len(values) > 100:
            errors.append(_("%(path)s: %(field)s takes “in”: a list of values.") % {"path": path, "field": field})
        elif any(not isinstance(v, str) or len(v) > 50 or (allowed is not None and v not in allowed) for v in values):
            errors.append(_("%(path)s: %(field)s has an invalid value.") % {"path": path, "field": field})
    elif field == "age":
        if not keys or keys - {"min", "max"} or any(_int(node[k]) is None for k in keys):
            errors.append(_("%(path)s: age takes “min” and/or “max”, whole years 0–200.") % {"path": path})
        elif "min" in keys and "max" in keys and node["min"] > node["max"]:
            errors.append(_("%(path)s: the minimum age is above the maximum.") % {"path": path})
    elif field == "spend":
        if len(keys) != 1 or keys - {"gte", "lt"}:
            errors.append(_("%(path)s: spend takes “gte” or “lt”: an amount.") % {"path": path})
            return
        try:
            amount = Decimal(str(node[keys.pop()]))
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or amount < 0 or amount >= Decimal("1e16"):
            errors.append(_("%(path)s: spend needs an amount of at least 0.") % {"path": path})
    elif field == "last_interaction_days" and (
        len(keys) != 1 or keys - {"lte", "gt"} or _int(node[next(iter(keys))], maximum=3650) is None
    ):
        errors.append(_("%(path)s: last_interaction_days takes “lte” or “gt”: days 0–3650.") % {"path": path})


def segment_query_errors(query, *, company_id: int) -> list[str]:
    """What is wrong with ``query`` (empty when valid). One query: the company's tag ids."""
    tags = set(Tag.objects.filter(company_id=company_id).values_list("pk", flat=True))
    errors: list[str] = []
    _validate(query, "query", 0, errors, tags, [0])
    return errors


def _years_ago(today: date, years: int) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def _has_any_tag(tag_ids: list[int]) -> Q:
    return Q(Exists(ContactTag.objects.filter(contact_id=OuterRef("pk"), tag_id__in=tag_ids)))


def _compile(node, today: date, now, company_id: int) -> Q:
    if "and" in node:
        # NOT tag a AND NOT tag b … is one anti-join: NOT EXISTS (tag IN (a, b …)).
        excluded = [c["not"]["tag"] for c in node["and"] if "not" in c and "tag" in c["not"]]
        q = ~_has_any_tag(excluded) if excluded else Q()
        for child in node["and"]:
            if not ("not" in child and "tag" in child["not"]):
                q &= _compile(child, today, now, company_id)
        return q
    if "or" in node:
        # tag a OR tag b … is one semi-join: EXISTS (tag IN (a, b …)).
        tags = [c["tag"] for c in node["or"] if "tag" in c]
        q = _has_any_tag(tags) if tags else None
        for child in node["or"]:
            if "tag" not in child:
                part = _compile(child, today, now, company_id)
                q = part if q is None else q | part
        return q
    if "not" in node:
        return ~_compile(node["not"], today, now, company_id)
    if "tag" in node:
        return _has_any_tag([node["tag"]])
    field = node["field"]
    if field in CHOICE_FIELDS:
        return Q(**{f"{field}__in": node["in"]})
    if field == "age":
        q = Q(birthday__isnull=False)
        if "min" in node:  # at least min years old: born on or before today − min years
            q &= Q(birthday__lte=_years_ago(today, node["min"]))
        if "max" in node:  # at most max years old: born after today − (max + 1) years
            q &= Q(birthday__gt=_years_ago(today, node["max"] + 1))
        return q
    facts = ContactFacts.objects.filter(company_id=company_id, contact_id=OuterRef("pk"))
    if field == "spend":
        amount = Decimal(str(node.get("gte", node.get("lt"))))
        spent = Q(Exists(facts.filter(spend__gte=amount)))
        return spent if "gte" in node else ~spent
    days = node.get("lte", node.get("gt"))
    recent = Q(Exists(facts.filter(last_interaction_at__gte=now - timedelta(days=days))))
    return recent if "lte" in node else ~recent


def customers_in_segment(*, company_id: int, query: dict) -> QuerySet[Contact]:
    """The live contacts of ``company_id`` matching the segment ``query`` — one SQL query (``.count()``,
    ``.values("pk")`` as a sub-query …). Raises ``SegmentQueryError`` for an invalid query."""
    errors = segment_query_errors(query, company_id=company_id)
    if errors:
        raise SegmentQueryError(errors)
    now = timezone.now()
    return Contact.objects.filter(company_id=company_id, merged_into__isnull=True).filter(
        _compile(query, timezone.localdate(now), now, company_id)
    )


def segment_count(*, company_id: int, query: dict) -> int:
    """How many live contacts match ``query`` — from the segment bitmaps (crm.selectors_segment_bitmaps): exact,
    the same number as ``segment_count_exact``, in milliseconds instead of seconds on 1M contacts."""
    from crm.selectors_segment_bitmaps import segment_count_bitmaps

    return segment_count_bitmaps(company_id=company_id, query=query)


def segment_count_exact(*, company_id: int, query: dict) -> int:
    """How many live contacts match ``query``, by the compiled SQL query (what a send uses)."""
    return customers_in_segment(company_id=company_id, query=query).count()


def contacts_personalisation(*, company_id: int, contact_ids) -> dict[int, dict[str, str]]:
    """What push texts may say about each contact (``name``, ``city``, ``province``), by id. One query."""
    rows = Contact.objects.filter(company_id=company_id, pk__in=list(contact_ids)).values(
        "pk", "name", "city", "province"
    )
    return {row["pk"]: {"name": row["name"], "city": row["city"], "province": row["province"]} for row in rows}


def contact_ids_of_account(*, company_id: int, account_id: int) -> list[int]:
    """The live contacts of an account (the people an account's purchase is attributed to)."""
    return list(
        Contact.objects.filter(company_id=company_id, account_id=account_id, merged_into__isnull=True).values_list(
            "pk", flat=True
        )
    )


def tag_changes_of(*, company_id: int, contact_id: int | None = None, limit: int = 100):
    """The tag history, newest first (of one contact if given), with tag and user joined."""
    from crm.models import TagChange

    qs = TagChange.objects.filter(company_id=company_id).select_related("tag", "by")
    if contact_id is not None:
        qs = qs.filter(contact_id=contact_id)
    return qs.order_by("-at", "-id")[:limit]


def company_tag_ids(*, company_id: int, tag_ids) -> set[int]:
    """Which of ``tag_ids`` are tags of the company."""
    return set(Tag.objects.filter(company_id=company_id, pk__in=list(tag_ids)).values_list("pk", flat=True))


def segment_fields() -> list[tuple[str, str]]:
    """The attribute conditions of the grammar and how they are written, for the segment editor's help."""
    return [
        ("province / city / source", '{"field": "province", "in": ["广东省"]}'),
        ("gender", '{"field": "gender", "in": ["female"]}'),
        ("lifecycle_stage", '{"field": "lifecycle_stage", "in": ["customer", "prospect"]}'),
        ("age", '{"field": "age", "min": 18, "max": 35}'),
        ("spend", '{"field": "spend", "gte": "1000"}'),
        ("last_interaction_days", '{"field": "last_interaction_days", "lte": 30}'),
        ("tag", '{"tag": 12}'),
        ("and / or / not", '{"and": [...]}, {"or": [...]}, {"not": {...}}'),
    ]


def campaign_exists(*, company_id: int, campaign_id: int) -> bool:
    """Whether ``campaign_id`` is a CRM campaign of the company (pushes attribute to it)."""
    from crm.models import Campaign

    return Campaign.objects.filter(company_id=company_id, pk=campaign_id).exists()
