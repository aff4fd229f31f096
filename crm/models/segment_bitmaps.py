"""The bitmap layer behind live segment counts (docs/decisions.md, "Segment counts: bitmaps").

Each company has one bitmap per *key* — a tag (``t:12``), an attribute value (``province:广东省``,
``gender:female``, ``lifecycle_stage:customer``, ``source:wechat``, ``city:…``), a birth year / month
(``by:1990``, ``bm:1990-05``), a spend bucket (``sp:07``), a last-interaction month / day (``lim:2026-11``,
``lid:2026-11-27``) and ``live`` (contacts not merged away) — cut into chunks of 65,536 contact ids: bit
``id & 65535`` of chunk ``id >> 16``. A count combines them with ``&``/``|``/``~`` and ``bit_count`` in one
SQL statement (``crm.selectors_segment_bitmaps``).

They are kept by PostgreSQL triggers on ``crm_contacttag``, ``crm_contact`` and ``crm_contactfacts`` (every path
— services, bulk statements, imports, raw SQL — is covered), which append to :class:`SegmentBitDelta` in the
writer's own transaction: no lock on a shared bitmap row, so concurrent taggers never wait for each other. A
count reads the bitmaps *and* the pending deltas of its keys in one snapshot, so it is exact at once; the deltas
are folded into the bitmaps by ``crm.services.segment_bitmaps.segment_bitmaps_compact`` (beat, every 5 s).

Not business records: no API or admin; written only by the triggers and the compaction / rebuild functions.
"""

from __future__ import annotations

from django.db import models

CHUNK_BITS = 65536
CHUNK_SHIFT = 16


class BitVaryingField(models.Field):
    """PostgreSQL ``bit varying``: never read through the ORM (the SQL functions combine them)."""

    def db_type(self, connection) -> str:
        return "bit varying"


class SegmentBitmap(models.Model):
    company = models.ForeignKey("suite.Company", on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.TextField()
    chunk = models.IntegerField()
    bits = BitVaryingField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "key", "chunk"], name="crm_segmentbitmap_unique")]

    def __str__(self) -> str:
        return f"{self.company_id} {self.key} #{self.chunk}"


class SegmentBitDelta(models.Model):
    """One pending change of one bit: ``op`` true sets, false clears; for one (key, contact) the highest id wins."""

    company = models.ForeignKey("suite.Company", on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.TextField()
    contact_id = models.BigIntegerField()
    op = models.BooleanField()

    class Meta:
        indexes = [models.Index(fields=["company", "key"], name="crm_segmentbitdelta_key")]

    def __str__(self) -> str:
        return f"{self.company_id} {self.key} {self.contact_id} {'+' if self.op else '-'}"
