"""Batch lookups of more than 100 keys stay on their partial indexes (``suite.lookups.present_in``).

PostgreSQL proves ``NOT col = ''`` from ``col IN (…)`` only for lists of at most 100 constants, so a plain
``__in`` of a big batch could not use ``UNIQUE (…, external_id) WHERE NOT external_id = ''`` and scanned the table
instead — in the ingestion bench a parallel seq scan of 550k UGC posts per batch, the latency growing with the
data. Each test looks up 150 keys through the real code path and checks the plan of the statement it ran, on
tables with enough rows (and statistics) that the partial index is the plan of choice when it is allowed.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm import selectors as crm_selectors
from crm.models import Contact
from crm.services.social_batches import UGC_SOURCE_PREFIX, tickets_for_negative_ugc
from scrm.channels.base import InboundEvent
from scrm.models import UgcPost
from scrm.services.channels import deliveries_record
from scrm.services.inbox import deliveries_process
from scrm.tests.factories import make_channel
from suite.lookups import present_in
from suite.models import Role
from suite.testing import make_member

KEYS = 150  # more than the planner's 100-constant limit for proving a partial index's predicate


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # rolled back with the test's transaction
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def _analyze(*tables: str) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {table}")


def _statement(queries, start: str) -> str:
    (sql,) = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(start)]
    return sql


def test_present_in_drops_blanks_and_says_the_predicate():
    condition = present_in("external_id", ["a", "", "b"])
    assert str(condition) == "(AND: ('external_id__in', ['a', 'b']), (NOT (AND: ('external_id', ''))))"


@pytest.mark.django_db
def test_the_inbox_batch_reads_captured_ugc_and_crm_contacts_through_their_partial_indexes(company):
    agent = make_member(company, Role.SERVICE)
    channel = make_channel(company, "webhook", default_assignee=agent.user)
    now = timezone.now()
    UgcPost.objects.bulk_create(
        [
            UgcPost(
                company=company,
                channel=channel,
                kind="comment",
                external_id=f"old-{n}",
                text="好评",
                posted_at=now,
                sentiment_score=0,
            )
            for n in range(3000)
        ]
    )
    Contact.objects.bulk_create(
        [Contact(company=company, name=f"客户{n}", unionid=f"u-old-{n}") for n in range(3000)]
        + [Contact(company=company, name=f"粉丝{n}", unionid=f"u-{n}") for n in range(KEYS)]
    )
    _analyze("scrm_ugcpost", "crm_contact")
    events = [
        InboundEvent(
            external_id=f"c-{n}",
            sender_id=f"fan-{n}",
            sender_name=f"粉丝{n}",
            unionid=f"u-{n}",
            kind="comment",
            text="包装破损了，想申请退换货。",
        )
        for n in range(KEYS)
    ]
    assert deliveries_record(channel=channel, events=events) == KEYS
    with CaptureQueriesContext(connection) as queries:
        result = deliveries_process(channel_id=channel.pk)
    assert result.messages == KEYS
    assert UgcPost.objects.filter(channel=channel, external_id__startswith="c-").count() == KEYS
    assert Contact.objects.filter(company=company, unionid__startswith="u-").count() == 3000 + KEYS

    captured = _statement(queries, 'SELECT "scrm_ugcpost"."external_id"')
    assert captured.count("'c-") == KEYS
    assert "scrm_ugc_unique_external" in _plan(captured)
    matched = _statement(queries, 'SELECT "crm_contact"')
    assert matched.count("'u-") == KEYS
    assert "crm_contact_unionid_unique_live" in _plan(matched)


@pytest.mark.django_db
def test_the_negative_ugc_ticket_batch_reads_existing_source_keys_through_the_partial_index(company):
    from crm.models import Ticket

    Ticket.objects.bulk_create(
        [
            Ticket(company=company, number=900_000 + n, subject="旧工单", source_message_id=f"old-{n}")
            for n in range(3000)
        ]
    )
    _analyze("crm_ticket")
    items = [
        {
            "ugc_id": 10_000 + n,
            "kind": "comment",
            "channel_kind": "webhook",
            "author_name": f"粉丝{n}",
            "text": "包装破损了，想申请退换货。",
            "url": "",
            "rating": None,
            "sentiment_score": "-0.800",
            "keywords": ["破损"],
            "identity_id": None,
            "crm_contact_id": None,
            "crm_account_id": None,
            "crm_owner_id": None,
            "posted_at": timezone.now().isoformat(),
        }
        for n in range(KEYS)
    ]
    with CaptureQueriesContext(connection) as queries:
        created = tickets_for_negative_ugc(company_id=company.pk, items=items)
    assert len(created) == KEYS
    assert Ticket.objects.filter(company=company, source_message_id__startswith=UGC_SOURCE_PREFIX).count() == KEYS
    existing = _statement(queries, 'SELECT "crm_ticket"."source_message_id"')
    assert existing.count(f"'{UGC_SOURCE_PREFIX}") == KEYS
    assert "crm_ticket_source_message_unique" in _plan(existing)


@pytest.mark.django_db
def test_the_duplicate_finder_matches_phones_and_emails_through_their_partial_indexes(company):
    Contact.objects.bulk_create(
        [
            Contact(company=company, name=f"客户{n}", phone=f"+86139{n:08d}", email=f"c{n}@example.com")
            for n in range(3000)
        ]
    )
    _analyze("crm_contact")
    facts = [
        crm_selectors.DuplicateFacts(phone=f"+86139{n:08d}", email=f"c{n}@example.com") for n in range(0, 3000, 20)
    ]
    assert len(facts) == KEYS
    with CaptureQueriesContext(connection) as queries:
        found = crm_selectors.duplicates_find_many(model=Contact, company_id=company.pk, facts=facts)
    assert all(len(matches) == 1 for matches in found)
    plan = _plan(_statement(queries, 'SELECT "crm_contact"'))
    assert "crm_contact_company_phone" in plan and "crm_contact_company_email" in plan, plan
