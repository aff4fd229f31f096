"""Auto-tag rules, tag history and segments: rules fire in the inbox pipeline and in event handlers, the CRM
writes the tags through ``scrm.customer.tag_requested``; segment queries are validated and compiled to one
SQL query with the right AND/OR/NOT semantics."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm import selectors as crm_selectors
from crm.models import ContactFacts, ContactTag, TagChange
from crm.services.customers import customer_tags_set
from crm.services.segments import contact_tags_apply
from crm.tests.factories import ContactFactory, TagFactory, TagGroupFactory
from scrm.channels.base import InboundEvent
from scrm.models import Resolution, TagRule
from scrm.services.channels import deliveries_record
from scrm.services.inbox import deliveries_process
from scrm.services.segments import segment_create, tag_rule_create, tag_rules_fire_behaviour
from scrm.tests.factories import make_channel, make_identity
from suite import events
from suite.events.relay import relay_batch
from suite.models import OutboxEvent, Role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]  # the tests read English messages


def contact(company, **fields):
    return ContactFactory(company=company, **fields)


def count(company, query) -> int:
    return crm_selectors.segment_count(company_id=company.pk, query=query)


def ids(company, query) -> set[int]:
    return set(crm_selectors.customers_in_segment(company_id=company.pk, query=query).values_list("pk", flat=True))


@pytest.fixture
def people(company):
    """Five contacts with hand-picked tags and attributes; the expected answers are worked out by hand."""
    vip, new, sports = (TagFactory(company=company, name=n) for n in ("VIP", "新客", "运动"))
    today = timezone.localdate()
    a = contact(company, name="甲", province="广东省", city="深圳市", gender="female", lifecycle_stage="customer",
                birthday=today.replace(year=today.year - 25))  # fmt: skip
    b = contact(company, name="乙", province="广东省", city="广州市", gender="male", lifecycle_stage="lead",
                birthday=today.replace(year=today.year - 40))  # fmt: skip
    c = contact(company, name="丙", province="浙江省", city="杭州市", gender="female", lifecycle_stage="customer")
    d = contact(company, name="丁", province="浙江省", city="宁波市", gender="male", lifecycle_stage="prospect",
                birthday=today.replace(year=today.year - 18))  # fmt: skip
    e = contact(company, name="戊", province="上海市", city="上海市", gender="", lifecycle_stage="churned")
    for person, tags in ((a, [vip, sports]), (b, [vip]), (c, [new, sports]), (d, [sports]), (e, [])):
        customer_tags_set(customer=person, tags=tags, by=None)
    ContactFacts.objects.create(contact=a, company=company, spend=Decimal("1200.00"),
                                last_interaction_at=timezone.now() - timedelta(days=2))  # fmt: skip
    ContactFacts.objects.create(contact=c, company=company, spend=Decimal("99.99"),
                                last_interaction_at=timezone.now() - timedelta(days=90))  # fmt: skip
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "vip": vip, "new": new, "sports": sports}


def test_segment_boolean_queries_match_hand_worked_answers(company, people):
    p = people
    vip, new, sports = p["vip"].pk, p["new"].pk, p["sports"].pk
    who = lambda *names: {p[n].pk for n in names}  # noqa: E731
    assert ids(company, {"tag": vip}) == who("a", "b")
    assert ids(company, {"and": [{"tag": vip}, {"tag": sports}]}) == who("a")
    assert ids(company, {"or": [{"tag": vip}, {"tag": new}]}) == who("a", "b", "c")
    assert ids(company, {"not": {"tag": sports}}) == who("b", "e")
    assert ids(company, {"and": [{"tag": sports}, {"not": {"tag": vip}}]}) == who("c", "d")
    assert ids(company, {"field": "province", "in": ["广东省"]}) == who("a", "b")
    assert ids(company, {"field": "gender", "in": ["female"]}) == who("a", "c")
    assert ids(company, {"field": "age", "min": 18, "max": 30}) == who("a", "d")
    assert ids(company, {"field": "age", "min": 19}) == who("a", "b")  # no birthday: no age, never in a band
    assert ids(company, {"field": "spend", "gte": "100"}) == who("a")
    assert ids(company, {"field": "spend", "lt": "100"}) == who("b", "c", "d", "e")  # never bought: spent 0
    assert ids(company, {"field": "last_interaction_days", "lte": 30}) == who("a")
    assert ids(company, {"not": {"field": "last_interaction_days", "lte": 30}}) == who("b", "c", "d", "e")
    five_terms = {
        "and": [
            {"or": [{"tag": vip}, {"tag": new}]},
            {"not": {"field": "lifecycle_stage", "in": ["churned", "lead"]}},
            {"or": [{"field": "province", "in": ["广东省", "浙江省"]}, {"field": "spend", "gte": "1000"}]},
            {"field": "gender", "in": ["female"]},
        ]
    }
    assert ids(company, five_terms) == who("a", "c")
    assert count(company, five_terms) == 2


def test_segment_is_one_query_and_scoped_to_the_company(company, other_company, people, django_assert_num_queries):
    stranger = contact(other_company, name="外人", province="广东省")
    query = {"and": [{"tag": people["vip"].pk}, {"field": "province", "in": ["广东省"]}]}
    qs = crm_selectors.customers_in_segment(company_id=company.pk, query=query)  # validation reads the tags
    with django_assert_num_queries(1):
        assert qs.count() == 2
    assert stranger.pk not in ids(company, {"field": "province", "in": ["广东省"]})
    # another company's tag is unknown here
    other_tag = TagFactory(company=other_company, name="VIP")
    assert crm_selectors.segment_query_errors({"tag": other_tag.pk}, company_id=company.pk) == ["query: unknown tag."]


@pytest.mark.parametrize(
    "query, message",
    [
        ([], "query: a condition must be an object."),
        ({"and": []}, "query: “and” takes a non-empty list and nothing else."),
        ({"not": {"tag": 1}, "tag": 1}, "query: “not” takes one condition and nothing else."),
        ({"field": "salary", "gte": 1}, "query: unknown condition; use tag or field"),
        ({"field": "gender", "in": ["robot"]}, "query: gender has an invalid value."),
        ({"field": "age", "min": 40, "max": 30}, "query: the minimum age is above the maximum."),
        ({"field": "spend", "gte": "-1"}, "query: spend needs an amount of at least 0."),
        ({"field": "spend", "gte": "NaN"}, "query: spend needs an amount of at least 0."),
        ({"or": [{"field": "province", "in": "广东"}]}, "query.or[0]: province takes “in”: a list of values."),
    ],
)
def test_invalid_segment_queries_are_refused_with_the_node_path(company, query, message):
    errors = crm_selectors.segment_query_errors(query, company_id=company.pk)
    assert errors and errors[0].startswith(message)
    with pytest.raises(ValidationError) as error:
        segment_create(company=company, name="坏", query=query)
    assert error.value.message_dict["query"][0].startswith(message)


def test_too_deep_or_too_many_terms_is_refused(company):
    deep = {"tag": 1}
    for _ in range(10):
        deep = {"not": deep}
    assert "nested too deep" in crm_selectors.segment_query_errors(deep, company_id=company.pk)[0]
    wide = {"or": [{"field": "city", "in": ["x"]}] * 51}
    assert crm_selectors.segment_query_errors(wide, company_id=company.pk) == ["A segment has at most 50 conditions."]


# ---------------------------------------------------------------- tags: bulk apply, history, exclusivity


def test_bulk_tag_apply_records_history_and_keeps_exclusive_groups(company, member):
    sales_user = member(company, Role.SALES).user
    level = TagGroupFactory(company=company, name="客户等级", is_exclusive=True)
    gold, silver = (
        TagFactory(company=company, name="金卡", group=level),
        TagFactory(company=company, name="银卡", group=level),
    )
    people = [contact(company) for _ in range(3)]
    customer_tags_set(customer=people[0], tags=[silver], by=sales_user)

    result = contact_tags_apply(
        company_id=company.pk, contact_ids=[p.pk for p in people], add_tag_ids=[gold.pk], rule="scrm:1 大客户"
    )
    again = contact_tags_apply(company_id=company.pk, contact_ids=[p.pk for p in people], add_tag_ids=[gold.pk])

    assert (result.added, result.removed) == (3, 1)  # silver came off the first: one tag per exclusive group
    assert (again.added, again.removed) == (0, 0)
    assert set(ContactTag.objects.filter(contact__in=people).values_list("contact_id", "tag_id")) == {
        (p.pk, gold.pk) for p in people
    }
    history = list(
        TagChange.objects.filter(contact=people[0]).order_by("id").values_list("action", "source", "rule", "by")
    )
    assert history == [
        ("added", "manual", "", sales_user.pk),
        ("removed", "rule", "scrm:1 大客户", None),
        ("added", "rule", "scrm:1 大客户", None),
    ]


def test_keyword_rule_tags_matched_customers_from_the_inbox_through_the_crm(company, django_assert_max_num_queries):
    price = TagFactory(company=company, name="询价")
    rule = tag_rule_create(
        company=company, name="价格关键词", trigger="keyword", keywords=["价格", "多少钱"], add_tag_id=price.pk
    )
    channel = make_channel(company, "webhook")
    people = [contact(company, name=f"客{i}") for i in range(3)]
    for i, person in enumerate(people):
        make_identity(company, external_id=f"fan-{i}", crm_contact_id=person.pk, resolution=Resolution.AUTO)
    make_identity(company, external_id="fan-x")  # not matched: never tagged
    batch = [
        InboundEvent(external_id=f"m{i}", sender_id=f"fan-{i % 3}", text=text)
        for i, text in enumerate(["这个多少钱？", "你好", "价格表发我", "好的", "谢谢", "请问价格"])
    ] + [InboundEvent(external_id="mx", sender_id="fan-x", text="价格")]
    deliveries_record(channel=channel, events=batch)
    OutboxEvent.objects.all().delete()

    deliveries_process(channel_id=channel.pk)

    requested = OutboxEvent.objects.filter(name="scrm.customer.tag_requested")
    assert requested.count() == 1  # one event for the batch, not one per message
    assert requested.get().payload["contact_ids"] == sorted([people[0].pk, people[2].pk])
    interacted = OutboxEvent.objects.get(name="scrm.customers.interacted")
    assert set(interacted.payload["contacts"]) == {str(p.pk) for p in people}
    relay_batch()
    assert set(ContactTag.objects.filter(tag=price).values_list("contact_id", flat=True)) == {
        people[0].pk,
        people[2].pk,
    }
    assert TagChange.objects.filter(tag=price, source="rule", rule=rule.reference).count() == 2
    assert ContactFacts.objects.filter(contact__in=people, last_interaction_at__isnull=False).count() == 3
    assert count(company, {"field": "last_interaction_days", "lte": 1}) == 3


def test_behaviour_purchase_and_campaign_rules_fire_through_events(company):
    scanned, buyer, big = (TagFactory(company=company, name=n) for n in ("扫码用户", "已购", "大单"))
    prospect = TagFactory(company=company, name="潜客")
    tag_rule_create(company=company, name="扫码", trigger="behaviour", behaviour="scanned_qr", add_tag_id=scanned.pk)
    tag_rule_create(company=company, name="买了X", trigger="purchase", product_ids=[17], add_tag_id=buyer.pk,
                    remove_tag_id=prospect.pk)  # fmt: skip
    tag_rule_create(company=company, name="大单", trigger="purchase", min_amount=Decimal("10000"), add_tag_id=big.pk)
    from crm.tests.factories import AccountFactory

    account = AccountFactory(company=company)
    person = contact(company, account=account)
    customer_tags_set(customer=person, tags=[prospect], by=None)
    from django.db import transaction

    with transaction.atomic():
        tag_rules_fire_behaviour(company_id=company.pk, behaviour="scanned_qr", contact_ids={person.pk})
        events.publish(
            "erp.sales_order.confirmed",
            {
                "sales_order_id": 1,
                "number": "SO1",
                "crm_account_id": account.pk,
                "amount_total": "1130.00",
                "lines": [{"product_id": 17, "quantity": "1"}],
            },
            company_id=company.pk,
        )
    relay_batch()  # the ERP event → SCRM rules → tag_requested
    relay_batch()  # tag_requested → CRM
    tags = set(ContactTag.objects.filter(contact=person).values_list("tag__name", flat=True))
    assert tags == {"扫码用户", "已购"}  # 潜客 taken off, 大单 not reached (1130 < 10000)


def test_rule_validation(company, other_company):
    foreign = TagFactory(company=other_company)
    with pytest.raises(ValidationError) as error:
        tag_rule_create(company=company, name="x", trigger="keyword", keywords=[], add_tag_id=foreign.pk)
    assert set(error.value.message_dict) == {"keywords", "add_tag_id"}
    assert not TagRule.objects.exists()


def test_joining_a_community_fires_the_joined_community_rule(company):
    from django.db import transaction

    from scrm.services.communities import community_create, community_member_join

    member_tag = TagFactory(company=company, name="社群成员")
    tag_rule_create(
        company=company, name="入群", trigger="behaviour", behaviour="joined_community", add_tag_id=member_tag.pk
    )
    channel = make_channel(company, "wecom")
    person = contact(company)
    make_identity(company, kind="wecom", external_id="wmFAN1", crm_contact_id=person.pk, resolution=Resolution.AUTO)
    community = community_create(company=company, name="宝妈群", channel=channel)
    with transaction.atomic():
        community_member_join(community=community, member_id="wmFAN1", source_key="join-1")
        community_member_join(community=community, member_id="wmFAN1", source_key="join-1")  # redelivered
    assert OutboxEvent.objects.filter(name="scrm.customer.tag_requested").count() == 1
    relay_batch()
    assert list(ContactTag.objects.filter(contact=person).values_list("tag_id", flat=True)) == [member_tag.pk]


def test_rule_tags_and_interactions_of_one_relay_batch_are_applied_together_in_order(company):
    """Both CRM handlers are batch handlers: one relay batch of several inbox batches' events applies them in
    one call each, keeps the latest interaction per contact, and keeps the order of an add and a later remove."""
    vip = TagFactory(company=company, name="VIP")
    people = [contact(company, name=f"批{i}") for i in range(3)]
    earlier, later = timezone.now() - timedelta(hours=2), timezone.now() - timedelta(hours=1)
    OutboxEvent.objects.all().delete()
    with transaction.atomic():
        for ids, add, remove in (([people[0].pk], [vip.pk], []), ([people[1].pk], [vip.pk], [])):
            events.publish(
                "scrm.customer.tag_requested",
                {"contact_ids": ids, "add_tag_ids": add, "remove_tag_ids": remove, "rule": "r1"},
                company_id=company.pk,
            )
        events.publish(  # a later rule takes it off the first again: applied after the adds
            "scrm.customer.tag_requested",
            {"contact_ids": [people[0].pk], "add_tag_ids": [], "remove_tag_ids": [vip.pk], "rule": "r2"},
            company_id=company.pk,
        )
        for moment in (later, earlier):  # the earlier one arrives second: the latest wins
            events.publish(
                "scrm.customers.interacted",
                {"contacts": {str(p.pk): moment.isoformat() for p in people}},
                company_id=company.pk,
            )
    relay_batch()
    assert set(ContactTag.objects.filter(tag=vip).values_list("contact_id", flat=True)) == {people[1].pk}
    assert list(TagChange.objects.filter(tag=vip).order_by("pk").values_list("contact_id", "action", "rule")) == [
        (people[0].pk, "added", "r1"),
        (people[1].pk, "added", "r1"),
        (people[0].pk, "removed", "r2"),
    ]
    facts = ContactFacts.objects.filter(contact__in=people)
    assert {f.last_interaction_at for f in facts} == {later}
