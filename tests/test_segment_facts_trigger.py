"""The ``crm_contactfacts`` UPDATE trigger (crm 0020) skips rows whose segment keys cannot change: the SCRM inbox
moving a customer's last interaction within the same UTC day writes no bitmap delta; a new day or a new spend
bucket writes exactly the deltas the full comparison wrote, and counts stay equal to SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from crm.selectors_segment_bitmaps import segment_count_bitmaps
from crm.selectors_segments import segment_count_exact
from crm.services.segments import contact_facts_interacted
from crm.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def deltas(contact_ids) -> list[tuple[str, int, bool]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key, contact_id, op FROM crm_segmentbitdelta WHERE contact_id = ANY(%s) ORDER BY id",
            [list(contact_ids)],
        )
        return cursor.fetchall()


def test_same_day_interactions_write_no_delta_and_a_new_day_does(company):
    contacts = [ContactFactory(company=company) for _ in range(3)]
    ids = [c.pk for c in contacts]
    morning = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
    contact_facts_interacted(company_id=company.pk, last_at=dict.fromkeys(ids, morning))
    before = deltas(ids)
    assert {key for key, _id, op in before if op} >= {"lid:2026-11-27", "lim:2026-11", "sp:00"}

    contact_facts_interacted(company_id=company.pk, last_at={pk: morning + timedelta(hours=20) for pk in ids})
    assert deltas(ids) == before  # same UTC day: nothing to change in any bitmap

    next_day = morning + timedelta(days=1)
    contact_facts_interacted(company_id=company.pk, last_at={ids[0]: next_day})
    new = deltas(ids)[len(before) :]
    assert sorted(new) == [("lid:2026-11-27", ids[0], False), ("lid:2026-11-28", ids[0], True)]

    query = {"field": "last_interaction_days", "lte": 3650}
    assert segment_count_bitmaps(company_id=company.pk, query=query) == segment_count_exact(
        company_id=company.pk, query=query
    )


def test_a_spend_change_still_writes_its_bucket_delta(company):
    contact = ContactFactory(company=company)
    contact_facts_interacted(company_id=company.pk, last_at={contact.pk: datetime(2026, 11, 27, tzinfo=UTC)})
    before = deltas([contact.pk])
    with connection.cursor() as cursor:  # any write path: the trigger sees the row change
        cursor.execute("UPDATE crm_contactfacts SET spend = 600 WHERE contact_id = %s", [contact.pk])
    new = deltas([contact.pk])[len(before) :]
    assert ("sp:00", contact.pk, False) in new
    assert [key for key, _id, op in new if op] == [f"sp:{_bucket(600)}"]


def _bucket(spend) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT lpad(crm_seg_spend_bucket(%s)::text, 2, '0')", [spend])
        return cursor.fetchone()[0]
