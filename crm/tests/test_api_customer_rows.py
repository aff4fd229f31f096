"""The customer lists render ``.values()`` rows (``crm.api.rows``) and cache their exact count
(``suite.api.counting``): the JSON must be exactly what the output serializers give, and the count must follow
every write."""

import json
import time
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import RequestFactory
from django.utils import timezone
from rest_framework import serializers as drf_serializers
from rest_framework.renderers import JSONRenderer

from crm.api import rows
from crm.api.serializers import AccountSerializer, ContactSerializer
from crm.models import Account, Contact
from crm.selectors import accounts_visible_to, contacts_visible_to
from crm.services.custom_fields import custom_field_set_define
from crm.services.customers import account_update, customer_delete, customer_merge, customer_tags_set
from crm.tests import factories
from suite.api import counting
from suite.models import Role
from suite.policy import Actor

pytestmark = pytest.mark.django_db

ACCOUNTS = "/api/v1/crm/accounts/"
CONTACTS = "/api/v1/crm/contacts/"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


def _serializer_json(serializer_class, records, membership) -> list:
    request = RequestFactory().get("/")
    request.user = membership.user
    context = {"actor": Actor(membership), "request": request}
    data = serializer_class(records, many=True, context=context).data
    return json.loads(JSONRenderer().render(data))


@pytest.fixture
def customers(company, member, team):
    owner = member(company, Role.SALES, teams=[team], username="lisi")
    owner.user.first_name, owner.user.last_name = "四", "李"
    owner.user.save()
    nameless = member(company, Role.SALES, username="wangwu")
    group = factories.TagGroupFactory(company=company, name="客户等级", sort_order=2)
    first_group = factories.TagGroupFactory(company=company, name="兴趣", sort_order=1)
    vip = factories.TagFactory(company=company, name="VIP", group=group, color="#ff0000")
    golf = factories.TagFactory(company=company, name="高尔夫", group=first_group)
    loose = factories.TagFactory(company=company, name="未分组")
    custom_field_set_define(
        company=company,
        target="account",
        schema={
            "type": "object",
            "properties": {"level": {"type": "string"}, "regions": {"type": "array", "items": {"type": "string"}}},
        },
    )
    big = factories.AccountFactory(
        company=company,
        name="杭州明远机电有限公司",
        phone="13812345678",
        email="buy@mingyuan.example.com",
        credit_limit=Decimal("1200000.50"),
        custom={"level": "A", "regions": ["华东"]},
        owner=owner.user,
        team=team,
        lifecycle_stage="customer",
        source="referral",
        industry="manufacturing",
    )
    customer_tags_set(customer=big, tags=[loose, vip, golf], by=None)
    plain = factories.AccountFactory(company=company, name="无主客户", city="")
    other = factories.AccountFactory(company=company, name="王五贸易", owner=nameless.user)
    customer_merge(survivor=big, duplicate=factories.AccountFactory(company=company, name="明远重复"), by=None)
    contact = factories.ContactFactory(
        company=company, name="张伟", account=big, phone="13900001111", owner=owner.user, team=team
    )
    customer_tags_set(customer=contact, tags=[vip], by=None)
    factories.ContactFactory(company=company, name="散客")
    return {"accounts": [big, plain, other], "contact": contact, "owner": owner}


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.SALES])
@pytest.mark.parametrize("query", ["", "?include_merged=1", "?search=mingyuan", "?ordering=name"])
def test_account_list_is_what_the_serializer_renders(api_client, company, member, team, customers, role, query):
    # a salesperson sees their own records: the owner of the big account
    membership = customers["owner"] if role == Role.SALES else member(company, role, teams=[team])
    response = api_client(membership).get(ACCOUNTS + query)
    assert response.status_code == 200, response.content
    body = response.json()
    ids = [row["id"] for row in body["results"]]
    assert body["count"] == len(ids)
    assert ids, "the fixture's records must be visible to every role tested"
    expected = list(accounts_visible_to(Actor(membership), include_merged=True).filter(pk__in=ids))
    expected.sort(key=lambda record: ids.index(record.pk))
    assert body["results"] == _serializer_json(AccountSerializer, expected, membership)


@pytest.mark.parametrize("query", ["", "?has_account=true", "?search=zhangwei"])
def test_contact_list_is_what_the_serializer_renders(api_client, admin, customers, query):
    body = api_client(admin).get(CONTACTS + query).json()
    ids = [row["id"] for row in body["results"]]
    assert ids
    expected = list(contacts_visible_to(Actor(admin)).filter(pk__in=ids))
    expected.sort(key=lambda record: ids.index(record.pk))
    assert body["results"] == _serializer_json(ContactSerializer, expected, admin)


def test_tags_keep_their_order_and_the_merged_duplicate_shows_where_it_went(api_client, admin, customers):
    big = customers["accounts"][0]
    rows = {row["id"]: row for row in api_client(admin).get(ACCOUNTS + "?include_merged=1").json()["results"]}
    assert [tag["name"] for tag in rows[big.pk]["tags"]] == ["高尔夫", "VIP", "未分组"]
    merged = Account.objects.get(merged_into=big)
    assert rows[merged.pk]["merged_into"] == big.pk
    assert rows[big.pk]["credit_limit"] == "1200000.50"
    assert rows[big.pk]["owner"] == {"id": big.owner_id, "username": "lisi", "name": "四 李"}


def test_the_cached_count_follows_every_write(api_client, admin, company, customers):
    client = api_client(admin)

    def count(query=""):
        return client.get(ACCOUNTS + query).json()["count"]

    assert count() == 3
    assert count() == 3  # from the cache
    factories.AccountFactory(company=company, name="新客户")
    assert count() == 4
    customer_delete(customer=Account.objects.get(name="新客户"), by=None)
    assert count() == 3
    assert count("?lifecycle_stage=customer") == 1
    plain = customers["accounts"][1]
    account_update(account=plain, by=None, lifecycle_stage="customer")
    assert count("?lifecycle_stage=customer") == 2
    tag = factories.TagFactory(company=company, name="新标签")
    assert count(f"?tag={tag.pk}") == 0
    customer_tags_set(customer=plain, tags=[tag], by=None)
    assert count(f"?tag={tag.pk}") == 1
    Account.objects.filter(pk=plain.pk).update(updated_at=timezone.now(), lifecycle_stage="lead")  # a bulk write
    assert count("?lifecycle_stage=customer") == 1


def test_a_worker_keeps_the_counts_it_read_until_their_deadline(api_client, admin, company, customers, monkeypatch):
    """``suite.api.counting`` answers a count it has seen from process memory (no Redis round trip), under the same
    key (audit versions included), until ``COUNT_TTL`` after the count was taken; the memory stays bounded."""
    monkeypatch.setattr(counting, "_LOCAL_COUNTS", {})
    client = api_client(admin)

    def count(query=""):
        return client.get(ACCOUNTS + query).json()["count"]

    assert count() == 3
    assert len(counting._LOCAL_COUNTS) == 1
    cache.clear()
    assert count() == 3  # from memory: Redis no longer has it
    ((key, (value, deadline)),) = counting._LOCAL_COUNTS.items()
    assert cache.get(key) is None
    assert value == 3
    assert time.time() < deadline <= time.time() + counting.COUNT_TTL

    counting._LOCAL_COUNTS[key] = (777, deadline)
    assert count() == 777  # memory is asked first …
    counting._LOCAL_COUNTS[key] = (777, time.time() - 1)
    assert count() == 3  # … until the deadline; then counted again
    assert cache.get(key)[0] == 3

    factories.AccountFactory(company=company, name="新客户")
    assert count() == 4  # a write changes the key: a remembered count is never served after it

    monkeypatch.setattr(counting, "LOCAL_COUNTS_MAX", 4)
    for term in ("a", "b", "c", "d", "e", "f"):
        count(f"?search={term}")
    assert len(counting._LOCAL_COUNTS) <= 4


def test_the_cached_count_is_per_actor_scope(api_client, company, member, team, customers):
    sales = member(company, Role.SALES, teams=[team], username="zhaoliu")
    admin = member(company, Role.ADMIN, username="boss")
    assert api_client(admin).get(ACCOUNTS).json()["count"] == 3
    assert (
        api_client(sales).get(ACCOUNTS).json()["count"]
        == Account.objects.filter(pk__in=accounts_visible_to(Actor(sales)).values("pk")).count()
    )
    assert Contact.objects.count() == 2


def test_a_page_skips_only_the_representations_that_change_nothing():
    """``crm.api.rows`` copies a value as is only where DRF's field would return it unchanged."""

    class Shouting(drf_serializers.CharField):
        def to_representation(self, value):
            return str(value).upper()

    assert rows._shown_as_is(drf_serializers.CharField()) is str
    assert rows._shown_as_is(drf_serializers.EmailField()) is str
    assert rows._shown_as_is(drf_serializers.IntegerField()) is int
    assert rows._shown_as_is(drf_serializers.BooleanField()) is bool
    assert rows._shown_as_is(drf_serializers.JSONField()) is object
    assert rows._shown_as_is(None) is object  # a primary key: the id itself
    for field in (
        Shouting(),
        drf_serializers.JSONField(binary=True),
        drf_serializers.DecimalField(max_digits=8, decimal_places=2),
        drf_serializers.ChoiceField(choices=[("a", "A")]),
        drf_serializers.DateField(),
    ):
        assert rows._shown_as_is(field) is rows._AnyType
    assert bool is not int  # a bool in an IntegerField still goes through int()
