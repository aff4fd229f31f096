"""The customer list reads its page in two steps (``crm.api.rows.TwoStepPage``: the page's ids, then their rows)
and builds only the filters a request names (``suite.api.filters``): same pages, same order, same errors as
before, on every ordering, page, filter and scope."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.api import rows
from crm.api.rows import TwoStepPage
from crm.models import Account
from crm.selectors import accounts_visible_to
from crm.services.customers import customer_tags_set
from crm.tests import factories
from crm.text import SEARCH_TEXT_MAX_BYTES, build_search_text
from suite.models import Role
from suite.policy import Actor

pytestmark = pytest.mark.django_db

ACCOUNTS = "/api/v1/crm/accounts/"
COLUMNS = ["pk", "id", "name", "lifecycle_stage", "owner__username", "updated_at"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


@pytest.fixture
def many(company, member, team):
    owner = member(company, Role.SALES, teams=[team], username="lisi")
    tag = factories.TagFactory(company=company, name="VIP")
    stamp = factories.AccountFactory(company=company, name="基准").updated_at
    accounts = []
    for k in range(23):
        account = factories.AccountFactory(
            company=company,
            name=f"明远{k:02d}" if k % 3 else f"恒达{k:02d}",
            lifecycle_stage="customer" if k % 2 else "lead",
            owner=owner.user if k % 4 == 0 else None,
            team=team if k % 4 == 0 else None,
            city="杭州" if k % 5 else "上海",
        )
        accounts.append(account)
        if k % 6 == 0:
            customer_tags_set(customer=account, tags=[tag], by=None)
    # ties on updated_at: the id breaks them, in both steps
    Account.objects.filter(pk__in=[a.pk for a in accounts[:8]]).update(updated_at=stamp)
    return {"owner": owner, "tag": tag}


@pytest.mark.parametrize(
    "ordering",
    [None, ("-updated_at", "pk"), ("name", "pk"), ("-credit_limit", "city", "pk"), ("owner__username", "pk")],
)
@pytest.mark.parametrize("window", [slice(0, 5), slice(5, 10), slice(20, 30), slice(0, 50)])
def test_two_steps_give_the_same_rows_as_one(admin, many, ordering, window):
    queryset = accounts_visible_to(Actor(admin))
    if ordering:
        queryset = queryset.order_by(*ordering)
    one_step = list(queryset.prefetch_related(None).values(*COLUMNS)[window])
    assert TwoStepPage(queryset, COLUMNS)[window] == one_step


def test_the_default_page_is_one_query_with_the_ids_first(api_client, admin, many):
    client = api_client(admin)
    client.get(ACCOUNTS)  # the count is cached from now on
    with CaptureQueriesContext(connection) as queries:
        response = client.get(ACCOUNTS + "?lifecycle_stage=customer&search=mingyuan")
    assert response.status_code == 200
    page = [q["sql"] for q in queries.captured_queries if '"crm_account"."id" AS "pk"' in q["sql"]]
    assert len(page) == 1
    assert 'WHERE "crm_account"."id" IN (SELECT "crm_account"."id" AS "pk"' in page[0]
    assert ") ORDER BY" in page[0].split("LIMIT", 1)[1]  # the LIMIT is the inner query's


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?page=2&page_size=5",
        "?lifecycle_stage=customer",
        "?lifecycle_stage=customer&lifecycle_stage=lead&ordering=name",
        "?search=mingyuan&ordering=-credit_limit,city",
        "?city=杭州&page_size=4&page=3",
        "?page_size=7&page=4",
        "?tag={tag}",  # DISTINCT over the tag links: read in one step
        "?tag={tag}&lifecycle_stage=lead",
    ],
)
@pytest.mark.parametrize("role", [Role.ADMIN, Role.SALES])
def test_pages_through_the_api_are_those_of_one_step(api_client, company, member, many, query, role, monkeypatch):
    membership = many["owner"] if role == Role.SALES else member(company, Role.ADMIN, username="boss")
    url = ACCOUNTS + query.format(tag=many["tag"].pk)
    two_steps = api_client(membership).get(url)
    assert two_steps.status_code in (200, 404), two_steps.content  # 404: a salesperson sees fewer pages

    def one_step(queryset, plan):
        return queryset.prefetch_related(None).values(*plan.columns)

    monkeypatch.setattr(rows, "customer_values", one_step)
    one = api_client(membership).get(url)
    assert (one.status_code, one.json()) == (two_steps.status_code, two_steps.json())


def test_filters_not_in_the_request_are_not_built_but_bad_values_are_still_400(api_client, admin, many):
    client = api_client(admin)
    bad = client.get(ACCOUNTS + "?lifecycle_stage=nonsense")
    assert bad.status_code == 400
    assert [error["field"] for error in bad.json()["errors"]] == ["lifecycle_stage"]
    assert client.get(ACCOUNTS + "?industry=nonsense&lifecycle_stage=customer").status_code == 400
    assert client.get(ACCOUNTS + "?unknown_param=1").status_code == 200
    both = client.get(ACCOUNTS + "?lifecycle_stage=customer&city=上海").json()["results"]
    assert {(row["lifecycle_stage"], row["city"]) for row in both} <= {("customer", "上海")}


def test_a_search_key_is_cut_below_the_index_entry_limit():
    key = build_search_text(names=["张" * 200 + "伟" * 200, "x" * 200], others=["a" * 254])
    assert len(key.encode()) <= SEARCH_TEXT_MAX_BYTES
    assert key.startswith("张" * 200)
    assert len(build_search_text(names=["张伟" * 50])) < SEARCH_TEXT_MAX_BYTES  # ordinary keys are not cut
