"""Segment counts from the bitmap layer (crm.models.segment_bitmaps): one SQL statement, exact.

A validated segment tree (crm.selectors_segments) becomes one bitmap expression. Each leaf is a *term*: the OR
of some keys' bitmaps (exact keys, or key ranges such as "birth months 1990-05 … 2007-10"), plus, where a bound
falls inside a bucket, a *slice*: the ids of the few contacts in that partial bucket, read by an index and turned
into bits in the same statement (age bounds inside a month, a spend bound between buckets, a last-interaction
bound inside a day). ``AND``/``OR``/``NOT`` become ``&``/``|``/``~`` per 65,536-id chunk, ANDed with ``live``
(contacts not merged away), and ``bit_count`` sums them. Pending deltas (changes not yet folded into the
bitmaps) are applied on the fly, so the count equals the exact SQL query's (``customers_in_segment``) at every
moment — ``tests/test_segment_bitmaps.py`` compares both on random queries.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from crm.selectors_segments import CHOICE_FIELDS, SegmentQueryError, _years_ago, segment_query_errors

HIGH = "~"  # sorts after every digit: "by:~" is the end of all "by:" keys
SPEND_STEPS = (1, 2, 5)


def spend_bucket(amount: Decimal) -> int:
    """The spend bucket of ``amount`` (as ``crm_seg_spend_bucket`` in SQL): 0 below 1, then 1, 2, 5, 10, 20 …"""
    if amount < 1:
        return 0
    digits = str(int(amount))
    lead = int(digits[0])
    return 1 + 3 * (len(digits) - 1) + (lead >= 2) + (lead >= 5)


def spend_bucket_floor(bucket: int) -> Decimal:
    """The lowest amount of ``bucket`` (≥ 1)."""
    exponent, step = divmod(bucket - 1, 3)
    return Decimal(SPEND_STEPS[step]) * (Decimal(10) ** exponent)


class _Builder:
    """Collects the terms of one count: key conditions and slices, with their SQL parameters."""

    def __init__(self, company_id: int):
        self.params: dict[str, object] = {"c": company_id}
        self.terms: list[tuple[list[str], list[str]]] = []  # per term: key conditions, slice SQL

    def param(self, value) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"

    def keys(self, keys) -> str:
        return f"key = ANY({self.param(list(keys))})"

    def key_range(self, low: str, high: str) -> str:
        return f"(key >= {self.param(low)} AND key < {self.param(high)})"

    def term(self, conditions: list[str], slices: list[str] | None = None) -> str:
        self.terms.append((conditions, slices or []))
        return f"coalesce(t{len(self.terms) - 1}, crm_seg_zero())"


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month_start(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _birthday_term(b: _Builder, low: date | None, high: date | None) -> str:
    """Contacts born on a day in [low, high) (either end open): year and month keys, partial months as slices."""
    conditions: list[str] = []
    slices: list[tuple[date, date]] = []
    if low is not None and high is not None and low >= high:
        return b.term([])
    low_m = None if low is None else _month_index(low) + (low.day != 1)
    high_m = None if high is None else _month_index(high)
    if low_m is not None and high_m is not None and low_m > high_m:  # both ends inside one month
        slices.append((low, high))
    else:
        if low is not None and low.day != 1:
            slices.append((low, _month_start(low_m)))
        if high is not None and high.day != 1:
            slices.append((_month_start(high_m), high))
        first_year = None if low_m is None else -(-low_m // 12)
        end_year = None if high_m is None else high_m // 12

        def month_key(index: int | None, default: str) -> str:
            return default if index is None else f"bm:{index // 12:04d}-{index % 12 + 1:02d}"

        if first_year is None or end_year is None or first_year < end_year:
            years_low = "by:" if first_year is None else f"by:{first_year:04d}"
            years_high = "by:" + HIGH if end_year is None else f"by:{end_year:04d}"
            conditions.append(b.key_range(years_low, years_high))
            if low_m is not None and low_m < first_year * 12:
                conditions.append(b.key_range(month_key(low_m, ""), month_key(first_year * 12, "")))
            if high_m is not None and end_year * 12 < high_m:
                conditions.append(b.key_range(month_key(end_year * 12, ""), month_key(high_m, "")))
        elif low_m < high_m:
            conditions.append(b.key_range(month_key(low_m, ""), month_key(high_m, "")))
    sql = [
        "SELECT id FROM crm_contact WHERE company_id = %(c)s AND birthday >= "
        f"{b.param(start)} AND birthday < {b.param(end)}"
        for start, end in slices
    ]
    return b.term(conditions, sql)


def _spend_term(b: _Builder, amount: Decimal) -> str:
    """Contacts with facts and spend ≥ ``amount``: whole buckets above it, the bucket it falls in as a slice."""
    bucket = spend_bucket(amount)
    if bucket >= 1 and spend_bucket_floor(bucket) == amount:
        return b.term([b.key_range(f"sp:{bucket:02d}", "sp:" + HIGH)])
    ceiling = spend_bucket_floor(bucket + 1)
    sql = (
        "SELECT contact_id FROM crm_contactfacts WHERE company_id = %(c)s"
        f" AND spend >= {b.param(amount)} AND spend < {b.param(ceiling)}"
    )
    return b.term([b.key_range(f"sp:{bucket + 1:02d}", "sp:" + HIGH)], [sql])


def _seen_since_term(b: _Builder, cutoff: datetime) -> str:
    """Contacts whose last interaction is at or after ``cutoff``: day and month keys (UTC), the cutoff's day as a
    slice."""
    cutoff = cutoff.astimezone(UTC)
    day = cutoff.date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    conditions, sql = [], []
    if cutoff > midnight:
        next_midnight = midnight + timedelta(days=1)
        sql.append(
            "SELECT contact_id FROM crm_contactfacts WHERE company_id = %(c)s"
            f" AND last_interaction_at >= {b.param(cutoff)} AND last_interaction_at < {b.param(next_midnight)}"
        )
        day += timedelta(days=1)
    next_month = _month_start(_month_index(day) + 1)
    if day.day != 1:
        conditions.append(b.key_range(f"lid:{day.isoformat()}", f"lid:{next_month.isoformat()}"))
        first_month = next_month
    else:
        first_month = day
    conditions.append(b.key_range(f"lim:{first_month.year:04d}-{first_month.month:02d}", "lim:" + HIGH))
    return b.term(conditions, sql)


def _compile(b: _Builder, node, today: date, now: datetime) -> str:
    if "and" in node:
        return "(" + " & ".join(_compile(b, child, today, now) for child in node["and"]) + ")"
    if "or" in node:
        return "(" + " | ".join(_compile(b, child, today, now) for child in node["or"]) + ")"
    if "not" in node:
        return f"(~ {_compile(b, node['not'], today, now)})"
    if "tag" in node:
        return b.term([b.keys([f"t:{node['tag']}"])])
    field = node["field"]
    if field in CHOICE_FIELDS:
        return b.term([b.keys(f"{field}:{value}" for value in node["in"])])
    if field == "age":  # as the SQL path: born after today − (max + 1) years, on or before today − min years
        low = _years_ago(today, node["max"] + 1) + timedelta(days=1) if "max" in node else None
        high = _years_ago(today, node["min"]) + timedelta(days=1) if "min" in node else None
        return _birthday_term(b, low, high)
    if field == "spend":
        term = _spend_term(b, Decimal(str(node.get("gte", node.get("lt")))))
        return term if "gte" in node else f"(~ {term})"
    days = node.get("lte", node.get("gt"))
    term = _seen_since_term(b, now - timedelta(days=days))
    return term if "lte" in node else f"(~ {term})"


def segment_count_sql(*, company_id: int, query: dict) -> tuple[str, dict]:
    """The one statement that counts ``query`` (already validated) from the bitmaps, with its parameters."""
    now = timezone.now()
    b = _Builder(company_id)
    expression = _compile(b, query, timezone.localdate(now), now)
    key_filter = " OR ".join(["key = 'live'", *(c for conditions, _s in b.terms for c in conditions)])
    slices = [
        f"SELECT '#{index}'::text, (id >> 16)::int, crm_seg_bits(array_agg((id & 65535)::int))"
        f" FROM ({sql}) s{index}_{n}(id) GROUP BY 2"
        for index, (_c, sqls) in enumerate(b.terms)
        for n, sql in enumerate(sqls)
    ]
    filters = []
    for index, (conditions, sqls) in enumerate(b.terms):
        parts = [*conditions, *([f"key = '#{index}'"] if sqls else [])]
        filters.append(f"bit_or(bits) FILTER (WHERE {' OR '.join(parts) or 'false'}) AS t{index}")
    sql = f"""
WITH pend AS (
  SELECT DISTINCT ON (key, contact_id) key, contact_id, op FROM crm_segmentbitdelta
  WHERE company_id = %(c)s AND ({key_filter}) ORDER BY key, contact_id, id DESC
), dk AS (
  SELECT key, (contact_id >> 16)::int AS chunk,
    crm_seg_bits(array_agg((contact_id & 65535)::int) FILTER (WHERE op)) AS a,
    crm_seg_bits(array_agg((contact_id & 65535)::int) FILTER (WHERE NOT op)) AS r
  FROM pend GROUP BY 1, 2
), cur AS (
  SELECT key, chunk, bits FROM crm_segmentbitmap b
  WHERE company_id = %(c)s AND ({key_filter})
    AND NOT EXISTS (SELECT 1 FROM dk WHERE dk.key = b.key AND dk.chunk = b.chunk)
  UNION ALL
  SELECT dk.key, dk.chunk, (coalesce(b.bits, crm_seg_zero()) | dk.a) & ~ dk.r
  FROM dk LEFT JOIN crm_segmentbitmap b ON b.company_id = %(c)s AND b.key = dk.key AND b.chunk = dk.chunk
  {"".join(" UNION ALL " + s for s in slices)}
), terms AS (
  SELECT chunk, bit_or(bits) FILTER (WHERE key = 'live') AS u{"".join(", " + f for f in filters)}
  FROM cur GROUP BY chunk
)
SELECT coalesce(sum(bit_count(u & {expression})), 0)::bigint FROM terms WHERE u IS NOT NULL"""
    return sql, b.params


def segment_count_bitmaps(*, company_id: int, query: dict) -> int:
    """How many live contacts of ``company_id`` match ``query``, from the bitmaps: the tag-id validation query
    plus one counting statement. Raises ``SegmentQueryError`` for an invalid query."""
    errors = segment_query_errors(query, company_id=company_id)
    if errors:
        raise SegmentQueryError(errors)
    sql, params = segment_count_sql(company_id=company_id, query=query)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def segment_bitmaps_pending(*, company_id: int) -> int:
    """How many bit changes of the company wait to be folded into its bitmaps."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM crm_segmentbitdelta WHERE company_id = %s", [company_id])
        return cursor.fetchone()[0]
