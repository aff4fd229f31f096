"""Segment counts from the bitmap layer equal the exact SQL counts — on random boolean queries (property style),
with deltas pending, after folding, after a rebuild — and stay current through every write path: manual tags,
bulk tag rules, imports, queryset updates and deletes, merges, facts upserts, raw SQL in replica mode."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from crm.models import Contact, ContactFacts, ContactTag, DuplicatePolicy
from crm.selectors_segment_bitmaps import segment_bitmaps_pending, segment_count_bitmaps, spend_bucket
from crm.selectors_segments import _years_ago, segment_count_exact
from crm.services.customers import customer_tags_set
from crm.services.imports import import_job_create, import_job_run, import_job_start
from crm.services.segment_bitmaps import segment_bitmaps_compact, segment_bitmaps_rebuild
from crm.services.segments import contact_facts_interacted, contact_tags_apply
from crm.tests.factories import ContactFactory, TagFactory
from suite.models import Role

pytestmark = pytest.mark.django_db

PROVINCES = ["广东省", "浙江省", "上海市", ""]
CITIES = ["深圳市", "广州市", "杭州市", "上海市", ""]
SPENDS = ["0", "0.50", "1", "99.99", "100", "499.99", "500", "500.01", "1000", "1234.56", "5000", "20000"]


def both(company, query) -> tuple[int, int]:
    return (
        segment_count_bitmaps(company_id=company.pk, query=query),
        segment_count_exact(company_id=company.pk, query=query),
    )


def random_leaf(rng: random.Random, tags: list[int]) -> dict:
    kind = rng.choice(["tag", "tag", "tag", "province", "city", "gender", "stage", "age", "spend", "seen"])
    if kind == "tag":
        return {"tag": rng.choice(tags)}
    if kind == "province":
        return {"field": "province", "in": rng.sample(PROVINCES, rng.randint(1, 2))}
    if kind == "city":
        return {"field": "city", "in": rng.sample(CITIES, rng.randint(1, 2))}
    if kind == "gender":
        return {"field": "gender", "in": rng.sample(["female", "male", ""], rng.randint(1, 2))}
    if kind == "stage":
        return {"field": "lifecycle_stage", "in": rng.sample(["lead", "prospect", "customer", "churned"], 2)}
    if kind == "age":
        bounds = rng.choice([("min",), ("max",), ("min", "max")])
        low = rng.randint(0, 60)
        node = {"field": "age"}
        if "min" in bounds:
            node["min"] = low
        if "max" in bounds:
            node["max"] = low + rng.randint(0, 30)
        return node
    if kind == "spend":
        return {"field": "spend", rng.choice(["gte", "lt"]): rng.choice([*SPENDS, "750", "3", "0.2"])}
    return {"field": "last_interaction_days", rng.choice(["lte", "gt"]): rng.choice([0, 1, 7, 30, 45, 400])}


def random_query(rng: random.Random, tags: list[int], depth: int = 0) -> dict:
    if depth >= 3 or rng.random() < 0.35:
        return random_leaf(rng, tags)
    op = rng.choice(["and", "or", "not"])
    if op == "not":
        return {"not": random_query(rng, tags, depth + 1)}
    return {op: [random_query(rng, tags, depth + 1) for _ in range(rng.randint(2, 3))]}


@pytest.fixture
def crowd(company):
    """60 contacts with random attributes, birthdays on and around age boundaries, tags and facts at and around
    the spend buckets' edges and the last-interaction days' edges."""
    rng = random.Random(7)
    today = timezone.localdate()
    now = timezone.now()
    tags = [TagFactory(company=company, name=f"标签{i}") for i in range(6)]
    people = []
    for i in range(60):
        years = rng.randint(0, 70)
        birthday = rng.choice(
            [None, _years_ago(today, years), _years_ago(today, years) + timedelta(days=rng.choice([-1, 1, 17]))]
        )
        person = ContactFactory(
            company=company,
            name=f"客户{i}",
            province=rng.choice(PROVINCES),
            city=rng.choice(CITIES),
            gender=rng.choice(["female", "male", ""]),
            lifecycle_stage=rng.choice(["lead", "prospect", "customer", "churned"]),
            birthday=birthday,
        )
        people.append(person)
        customer_tags_set(customer=person, tags=rng.sample(tags, rng.randint(0, 4)), by=None)
        if rng.random() < 0.7:
            days = rng.choice([0, 1, 7, 30, 45, 400])
            seen = now - timedelta(days=days, seconds=rng.choice([-30, 30, 3600]))
            ContactFacts.objects.create(
                contact=person, company=company, spend=Decimal(rng.choice(SPENDS)), last_interaction_at=seen
            )
    return {"tags": [t.pk for t in tags], "people": people, "rng": rng}


def assert_random_queries_agree(company, tags, *, seed: int, n: int = 40) -> None:
    rng = random.Random(seed)
    counts = set()
    for _ in range(n):
        query = random_query(rng, tags)
        fast, exact = both(company, query)
        assert fast == exact, query
        counts.add(fast)
    assert len(counts) >= n // 5  # the queries tell contacts apart: not all empty, not all everyone


def test_random_boolean_queries_count_the_same_as_sql(company, crowd):
    assert segment_bitmaps_pending(company_id=company.pk) > 0  # nothing folded yet: counts read the deltas
    assert_random_queries_agree(company, crowd["tags"], seed=1)
    segment_bitmaps_compact(company_id=company.pk)
    assert segment_bitmaps_pending(company_id=company.pk) == 0
    assert_random_queries_agree(company, crowd["tags"], seed=2)
    segment_bitmaps_rebuild(company_id=company.pk)
    assert_random_queries_agree(company, crowd["tags"], seed=3)


def test_the_benchmark_shape_counts_the_same(company, crowd):
    a, b, c = crowd["tags"][:3]
    for attribute in (
        {"field": "province", "in": ["广东省"]},
        {"field": "age", "min": 18, "max": 35},
        {"field": "lifecycle_stage", "in": ["customer", "prospect"]},
    ):
        for fact in ({"field": "spend", "gte": "500"}, {"field": "last_interaction_days", "lte": 30}):
            query = {
                "and": [
                    {"or": [{"tag": a}, {"tag": b}]},
                    {"not": {"tag": c}},
                    attribute,
                    {"or": [fact, {"field": "city", "in": ["深圳市"]}]},
                ]
            }
            fast, exact = both(company, query)
            assert fast == exact and fast >= 0


def test_every_write_path_keeps_counts_current(company, crowd, member):
    rng, tags, people = crowd["rng"], crowd["tags"], crowd["people"]
    segment_bitmaps_compact(company_id=company.pk)

    def check(seed):
        assert_random_queries_agree(company, tags, seed=seed, n=15)

    # Bulk tag rule: one statement adds a tag to 30 contacts and takes another off.
    contact_tags_apply(
        company_id=company.pk, contact_ids=[p.pk for p in people[:30]], add_tag_ids=[tags[0]], remove_tag_ids=[tags[1]]
    )
    assert both(company, {"tag": tags[0]})[0] == both(company, {"tag": tags[0]})[1]
    check(10)
    # Queryset update of attributes (a bulk edit), and one contact's birthday moved.
    Contact.objects.filter(pk__in=[p.pk for p in people[::3]]).update(province="浙江省", lifecycle_stage="customer")
    Contact.objects.filter(pk=people[1].pk).update(birthday=timezone.localdate() - timedelta(days=365 * 20 + 3))
    check(11)
    # Facts: the interaction handler's upsert, a purchase-like update, a delete.
    contact_facts_interacted(company_id=company.pk, last_at={p.pk: timezone.now() for p in people[40:50]})
    ContactFacts.objects.filter(contact__in=people[:10]).update(spend=Decimal("777.77"))
    ContactFacts.objects.filter(contact__in=people[50:55]).delete()
    check(12)
    segment_bitmaps_compact(company_id=company.pk)
    check(13)
    # Merged away (no longer live) and deleted contacts.
    Contact.objects.filter(pk=people[2].pk).update(merged_into=people[3], merged_at=timezone.now())
    ContactTag.objects.filter(contact=people[4]).delete()
    people[5].delete()
    check(14)
    # Raw SQL in a bulk-load session (session_replication_role = replica turns ordinary triggers off).
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(
                "INSERT INTO crm_contacttag (contact_id, tag_id) SELECT id, %s FROM crm_contact"
                " WHERE company_id = %s ON CONFLICT DO NOTHING",
                [tags[5], company.pk],
            )
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
    fast, exact = both(company, {"tag": tags[5]})
    assert fast == exact == Contact.objects.filter(company=company, merged_into__isnull=True).count()
    check(15)
    # The import path: contacts created from a CSV file.
    manager = member(company, Role.MANAGER, username="importer")
    upload = SimpleUploadedFile(
        "c.csv",
        "姓名,手机,省份,城市,性别\n王芳,13912345678,广东省,深圳市,女\n李雷,13912345679,浙江省,杭州市,男\n".encode(),
    )
    job = import_job_create(company=company, by=manager.user, target="contact", upload=upload)
    job = import_job_start(job=job, by=manager.user, mapping=job.mapping, duplicate_policy=DuplicatePolicy.SKIP)
    job = import_job_run(job_id=job.pk)
    assert job.created_count == 2
    assert (
        both(company, {"field": "city", "in": ["深圳市"]})[0] == both(company, {"field": "city", "in": ["深圳市"]})[1]
    )
    check(16)
    segment_bitmaps_compact(company_id=company.pk)
    assert segment_bitmaps_pending(company_id=company.pk) == 0
    check(17)
    assert rng  # the crowd's generator is shared so the fixture's draws stay reproducible


def test_other_companies_bits_never_count(company, other_company, crowd):
    tag = TagFactory(company=other_company, name="别家")
    stranger = ContactFactory(company=other_company, name="外人", province="广东省")
    customer_tags_set(customer=stranger, tags=[tag], by=None)
    query = {"field": "province", "in": ["广东省"]}
    assert both(company, query)[0] == both(company, query)[1]
    assert both(other_company, query) == (1, 1)
    assert both(other_company, {"tag": tag.pk}) == (1, 1)


def test_spend_buckets_match_sql():
    with connection.cursor() as cursor:
        for text in ["0", "0.99", "1", "1.99", "2", "4.99", "5", "9.99", "10", "19.5", "20", "50", "99.99", "100",
                     "499.99", "500", "999.99", "1000", "123456789.12"]:  # fmt: skip
            cursor.execute("SELECT crm_seg_spend_bucket(%s::numeric)", [text])
            assert cursor.fetchone()[0] == spend_bucket(Decimal(text)), text


def test_compaction_runs_from_beat():
    from suite.celery import app

    assert "crm.segment_bitmaps_compact" in {entry["task"] for entry in app.conf.beat_schedule.values()}


@pytest.mark.django_db(transaction=True)
def test_concurrent_taggers_never_wait_for_each_other(company):
    """Two transactions put the same tag on different contacts at once: the second does not wait for the first
    (the triggers append deltas; no shared bitmap row is locked), and both changes count once committed."""
    import threading

    from django.db import connections, transaction

    tag = TagFactory(company=company, name="并发")
    first, second = (ContactFactory(company=company, name=n) for n in ("甲", "乙"))
    inserted, release = threading.Event(), threading.Event()

    def hold_open_transaction():
        try:
            with transaction.atomic():
                ContactTag.objects.create(contact=first, tag=tag)
                inserted.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold_open_transaction)
    thread.start()
    try:
        assert inserted.wait(10)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '2s'")
            ContactTag.objects.create(contact=second, tag=tag)  # would time out if it queued behind the first
        segment_bitmaps_compact(company_id=company.pk)  # folds the committed delta; the open one stays pending
    finally:
        release.set()
        thread.join()
    assert both(company, {"tag": tag.pk}) == (2, 2)
    segment_bitmaps_compact(company_id=company.pk)
    assert both(company, {"tag": tag.pk}) == (2, 2)
