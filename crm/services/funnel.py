"""The sales funnel's pre-aggregate (``crm.models.FunnelReach``, issue #7 speed), kept by the writes that change it.

A stage change is inserted by ``stage_change_record``: one statement inserts it and adds its rows (one per
threshold it reaches, with the month of the deal's previous change reaching it) — no extra round trip on the
moves, wins and creates. Every other write that changes a deal's team or owner or deletes a deal runs inside
``funnel_reach_kept(company_id=…, opportunity_ids=…)``: the deals' contributions to the aggregate are read before
and after (one SQL query each, over their own stage history) and the difference is added in one upsert, in key
order (so two writers of the same rows lock them in the same order). A change of a stage's sequence or activity
rebuilds the pipeline's rows (``funnel_reach_rebuild``), as do the migration that created the table and the bench
generator after its COPY. The same SQL (``_CONTRIBUTIONS``) computes a rebuild and a delta, so both agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date

from django.conf import settings
from django.db import connection

# (pipeline_id, threshold, team_id, owner_id, month, previous_month) → stage changes
Key = tuple[int, int, int | None, int | None, date, date | None]

# For each stage change to an active, not-lost stage: one row per threshold (a sequence of the pipeline's
# active, not-lost stages) it reaches, with the time of the same deal's previous change reaching it (lag over
# the deal's changes in (changed_at, id) order); counted per key with the deal's current team and owner.
_CONTRIBUTIONS = """
WITH st AS (
    SELECT id, pipeline_id, sequence FROM crm_stage WHERE company_id = %(company)s AND is_active AND NOT is_lost
), th AS (
    SELECT DISTINCT pipeline_id, sequence FROM st
), c AS (
    SELECT sc.id, sc.opportunity_id, sc.changed_at, st.pipeline_id, st.sequence
    FROM crm_opportunitystagechange sc JOIN st ON st.id = sc.to_stage_id
    WHERE sc.company_id = %(company)s{where}
), x AS (
    SELECT c.opportunity_id, c.pipeline_id, th.sequence AS threshold, c.changed_at,
           lag(c.changed_at) OVER (
               PARTITION BY c.opportunity_id, c.pipeline_id, th.sequence ORDER BY c.changed_at, c.id
           ) AS previous_at
    FROM c JOIN th ON th.pipeline_id = c.pipeline_id AND th.sequence <= c.sequence
)
SELECT x.pipeline_id, x.threshold, o.team_id, o.owner_id,
       date_trunc('month', x.changed_at AT TIME ZONE %(tz)s)::date AS month,
       date_trunc('month', x.previous_at AT TIME ZONE %(tz)s)::date AS previous_month,
       count(*) AS changes
FROM x JOIN crm_opportunity o ON o.id = x.opportunity_id
GROUP BY 1, 2, 3, 4, 5, 6
"""

_COLUMNS = "company_id, pipeline_id, threshold, team_id, owner_id, month, previous_month, changes"


def _contributions(company_id: int, opportunity_ids: list[int], *, without_change: int | None = None) -> dict[Key, int]:
    where = " AND sc.opportunity_id = ANY(%(ids)s)" + (" AND sc.id <> %(without)s" if without_change else "")
    with connection.cursor() as cursor:
        cursor.execute(
            _CONTRIBUTIONS.format(where=where),
            {"company": company_id, "ids": opportunity_ids, "tz": settings.TIME_ZONE, "without": without_change},
        )
        return {tuple(row[:6]): row[6] for row in cursor.fetchall()}


def _sort_key(key: Key):
    return tuple((value is None, value) for value in key)


def _apply(company_id: int, delta: dict[Key, int]) -> None:
    rows = sorted(((key, n) for key, n in delta.items() if n), key=lambda item: _sort_key(item[0]))
    if not rows:
        return
    columns = list(zip(*(key for key, _n in rows), strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO crm_funnelreach ({_COLUMNS}) SELECT %s, * FROM unnest(%s::bigint[], %s::integer[],"
            " %s::bigint[], %s::bigint[], %s::date[], %s::date[], %s::integer[]) ON CONFLICT ON CONSTRAINT"
            " crm_funnelreach_key DO UPDATE SET changes = crm_funnelreach.changes + EXCLUDED.changes",
            [company_id, *(list(column) for column in columns), [n for _key, n in rows]],
        )


@contextmanager
def funnel_reach_kept(*, company_id: int, opportunity_ids: Iterable[int]) -> Iterator[None]:
    """Keep ``FunnelReach`` right across the write in the block (which must lock the deals first): the deals'
    contributions before and after it, the difference added. Two queries, three when something changed.
    (A stage change appended to a deal's history uses ``stage_change_record`` instead: one statement.)"""
    ids = sorted(set(opportunity_ids))
    before = _contributions(company_id, ids) if ids else {}
    yield
    if not ids:
        return
    after = _contributions(company_id, ids)
    delta = {key: after.get(key, 0) - before.get(key, 0) for key in before.keys() | after.keys()}
    _apply(company_id, delta)


def funnel_reach_rebuild(*, company_id: int, pipeline_id: int | None = None) -> None:
    """Recompute a company's (or one pipeline's) ``FunnelReach`` rows from the stage history."""
    params = {"company": company_id, "tz": settings.TIME_ZONE, "pipeline": pipeline_id}
    where = " AND st.pipeline_id = %(pipeline)s" if pipeline_id else ""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM crm_funnelreach WHERE company_id = %(company)s"
            + (" AND pipeline_id = %(pipeline)s" if pipeline_id else ""),
            params,
        )
        cursor.execute(
            f"INSERT INTO crm_funnelreach ({_COLUMNS}) SELECT %(company)s, * FROM ("
            + _CONTRIBUTIONS.format(where=where)
            + ") contributions",
            params,
        )


# A stage change appended to a deal's history and its rows of the aggregate in one statement (the hot path: every
# move, win and create): the change's row per threshold it reaches, with the time of the deal's latest earlier
# change reaching it (the rows read before the insert: the statement does not see its own row) — unless the deal
# has a later change already (a back-dated insert), which the caller then handles with a recomputation.
_APPEND = f"""
WITH sc AS (
    INSERT INTO crm_opportunitystagechange (company_id, created_at, updated_at, opportunity_id, from_stage_id,
        to_stage_id, changed_at, changed_by_id, amount, probability, seconds_in_from_stage)
    VALUES (%(company)s, %(now)s, %(now)s, %(opportunity)s, %(from_stage)s, %(to_stage)s, %(changed_at)s, %(by)s,
        %(amount)s, %(probability)s, %(seconds)s)
    RETURNING id, opportunity_id, changed_at, to_stage_id
), c AS (
    SELECT sc.id, sc.opportunity_id, sc.changed_at, st.pipeline_id, st.sequence
    FROM sc JOIN crm_stage st ON st.id = sc.to_stage_id AND st.is_active AND NOT st.is_lost
    WHERE NOT EXISTS (
        SELECT 1 FROM crm_opportunitystagechange l
        WHERE l.opportunity_id = sc.opportunity_id AND l.changed_at >= sc.changed_at
    )
), th AS (
    SELECT DISTINCT t.sequence FROM crm_stage t JOIN c ON t.pipeline_id = c.pipeline_id
    WHERE t.is_active AND NOT t.is_lost AND t.sequence <= c.sequence
), fr AS (
    INSERT INTO crm_funnelreach ({_COLUMNS})
    SELECT o.company_id, c.pipeline_id, th.sequence, o.team_id, o.owner_id,
           date_trunc('month', c.changed_at AT TIME ZONE %(tz)s)::date,
           date_trunc('month', (
               SELECT max(p.changed_at) FROM crm_opportunitystagechange p
               JOIN crm_stage ps ON ps.id = p.to_stage_id
               WHERE p.opportunity_id = c.opportunity_id AND ps.pipeline_id = c.pipeline_id AND ps.is_active
                 AND NOT ps.is_lost AND ps.sequence >= th.sequence
           ) AT TIME ZONE %(tz)s)::date AS previous_month,
           1
    FROM c CROSS JOIN th JOIN crm_opportunity o ON o.id = c.opportunity_id
    ORDER BY th.sequence, previous_month NULLS LAST
    ON CONFLICT ON CONSTRAINT crm_funnelreach_key DO UPDATE SET changes = crm_funnelreach.changes + EXCLUDED.changes
    RETURNING 1
)
SELECT (SELECT id FROM sc), (SELECT count(*) FROM fr)
"""


def stage_change_record(
    *, opportunity, from_stage, to_stage, changed_at, by_id, amount, probability: int, seconds: int | None
) -> None:
    """Insert a deal's stage change and keep ``FunnelReach`` in the same statement (one round trip). ``to_stage``
    counts in the funnel when active and not lost; when the statement found a later change of the deal (a
    back-dated insert) it added nothing, and the deal's rows are recomputed (before: without the new change)."""
    params = {
        "company": opportunity.company_id,
        "now": changed_at,
        "opportunity": opportunity.pk,
        "from_stage": from_stage.pk if from_stage is not None else None,
        "to_stage": to_stage.pk,
        "changed_at": changed_at,
        "by": by_id,
        "amount": amount,
        "probability": probability,
        "seconds": seconds,
        "tz": settings.TIME_ZONE,
    }
    with connection.cursor() as cursor:
        cursor.execute(_APPEND, params)
        change_id, added = cursor.fetchone()
    if added or not to_stage.is_active or to_stage.is_lost:
        return
    ids = [opportunity.pk]
    before = _contributions(opportunity.company_id, ids, without_change=change_id)
    after = _contributions(opportunity.company_id, ids)
    _apply(
        opportunity.company_id, {key: after.get(key, 0) - before.get(key, 0) for key in before.keys() | after.keys()}
    )
