"""Upkeep of the segment bitmaps (crm.models.segment_bitmaps): fold pending deltas, rebuild a company's bitmaps.

The triggers keep every change exact at once (a count applies pending deltas itself); folding only keeps the
delta table short so counts stay fast. ``segment_bitmaps_compact`` runs from beat every 5 seconds
(``crm.segment_bitmaps_compact``); ``segment_bitmaps_rebuild`` is for a first fill or a repair
(``manage.py shell``, the bench after a bulk load).
"""

from __future__ import annotations

from django.db import connection, transaction

BATCH = 200_000


def segment_bitmaps_compact(*, company_id: int | None = None, batch: int = BATCH) -> int:
    """Fold the pending deltas (of one company, or of every company that has some) into the bitmaps, ``batch``
    at a time per transaction. Returns how many were folded."""
    with connection.cursor() as cursor:
        if company_id is None:
            cursor.execute("SELECT DISTINCT company_id FROM crm_segmentbitdelta")
            companies = [row[0] for row in cursor.fetchall()]
        else:
            companies = [company_id]
    folded = 0
    for company in companies:
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT crm_seg_compact(%s, %s)", [company, batch])
                done = cursor.fetchone()[0]
            folded += done
            if done < batch:
                break
    return folded


def segment_bitmaps_rebuild(*, company_id: int) -> int:
    """Rebuild the company's bitmaps from the contact, tag and facts tables (one transaction). Returns the number
    of bitmap chunks written."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT crm_seg_rebuild(%s)", [company_id])
        return cursor.fetchone()[0]
