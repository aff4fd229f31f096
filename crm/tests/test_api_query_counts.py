"""Every CRM list endpoint runs a fixed number of queries, however many rows it returns."""

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Account, Activity, Contact, CustomFieldSet, CustomFieldTarget, Opportunity
from crm.services.activities import activity_create
from crm.services.custom_fields import custom_field_set_define
from crm.services.customers import customer_tags_set
from crm.services.opportunities import opportunity_move, pipeline_create, pipeline_default_ensure
from crm.tests import factories
from suite.api.throttling import clear_throttles
from suite.testing import load_tenant_factories

pytestmark = pytest.mark.django_db

MAX_QUERIES = 12  # session, user, membership, scope, count, page, prefetches — never per row
_seq = itertools.count(1)


def _with_tags(model):
    def make(company):
        record = load_tenant_factories()[model](company)
        tags = [factories.TagFactory(company=company, name=f"标签{next(_seq)}") for _ in range(2)]
        customer_tags_set(customer=record, tags=tags, by=None)
        return record

    return make


def _pipeline(company):
    pipeline_default_ensure(company=company)
    return pipeline_create(
        company=company,
        name=f"流程{next(_seq)}",
        by=None,
        stages=[
            {"name": "开始", "probability": 10},
            {"name": "赢", "probability": 100, "is_won": True},
            {"name": "输", "probability": 0, "is_lost": True},
        ],
    )


def _custom_field_set(company):
    used = set(CustomFieldSet.objects.filter(company=company).values_list("target", flat=True))
    target = next(t for t in CustomFieldTarget.values if t not in used)
    return custom_field_set_define(company=company, target=target, schema={"type": "object", "properties": {}})


def _moved_opportunity(company):
    opportunity = load_tenant_factories()[Opportunity](company)
    later = opportunity.stage.pipeline.stages.order_by("sequence")[1]
    return opportunity_move(opportunity=opportunity, stage=later, by=None)


def _linked_activity(company):
    opportunity = load_tenant_factories()[Opportunity](company)
    contact = load_tenant_factories()[Contact](company)
    return activity_create(
        company=company, by=opportunity.owner, kind="call", subject="电话", opportunity=opportunity, contact=contact
    )


LISTS = {
    "accounts": _with_tags(Account),
    "contacts": _with_tags(Contact),
    "tags": None,
    "tag-groups": None,
    "custom-field-sets": _custom_field_set,
    "leads": None,
    "assignment-rules": None,
    "scoring-rules": None,
    "pipelines": _pipeline,
    "stages": _pipeline,
    "lost-reasons": None,
    "opportunities": _moved_opportunity,
    "activities": _linked_activity,
}


def _default_maker(path):
    from crm.api.urls import router

    viewset = next(viewset for prefix, viewset, _ in router.registry if prefix == path)
    return load_tenant_factories()[viewset.queryset.model]


def _count(client, url, params=None) -> tuple[int, dict]:
    clear_throttles()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, {"page_size": 100, **(params or {})})
    assert response.status_code == 200, response.json()
    return len(queries), response.json()


def _rows(body) -> int:
    return len(body["results"]) if isinstance(body, dict) and "results" in body else len(body)


@pytest.mark.parametrize("path", sorted(LISTS))
def test_list_query_count_does_not_grow(path, api_client, admin, company, django_assert_max_num_queries):
    make = LISTS[path] or _default_maker(path)
    limit = 3 if path == "custom-field-sets" else 2
    for _ in range(1 if path == "custom-field-sets" else 2):
        make(company)
    client = api_client(admin)
    url = f"/api/v1/crm/{path}/"
    few_queries, few = _count(client, url)
    for _ in range(limit if path == "custom-field-sets" else 8):
        make(company)
    with django_assert_max_num_queries(MAX_QUERIES):
        many_queries, many = _count(client, url)
    assert _rows(many) > _rows(few)
    assert many_queries == few_queries, (
        f"{url}: {few_queries} queries for {_rows(few)} rows, {many_queries} for {_rows(many)}"
    )


@pytest.mark.parametrize(
    "extra", ["activities/my-day/", "opportunities/forecast/", "opportunities/funnel/", "stage-history"]
)
def test_report_and_action_lists_have_fixed_query_counts(
    extra, api_client, admin, company, django_assert_max_num_queries
):
    client = api_client(admin)
    pipeline = pipeline_default_ensure(company=company)

    def grow(n):
        for _ in range(n):
            opportunity = _moved_opportunity(company)
            Opportunity.objects.filter(pk=opportunity.pk).update(owner=admin.user, expected_close_date="2027-01-15")
            activity_create(
                company=company,
                by=admin.user,
                kind="task",
                subject="今天",
                opportunity=opportunity,
                due_at=opportunity.created_at,
            )
        return opportunity

    def url(opportunity):
        if extra == "stage-history":
            return f"/api/v1/crm/opportunities/{opportunity.pk}/stage-history/"
        return f"/api/v1/crm/{extra}"

    params = {"pipeline": pipeline.pk} if extra.endswith("funnel/") else {}

    first = grow(2)
    few_queries, _ = _count(client, url(first), params)
    last = grow(6)
    if extra == "stage-history":
        for stage in last.stage.pipeline.stages.filter(is_won=False, is_lost=False).order_by("sequence")[2:]:
            opportunity_move(opportunity=last, stage=stage, by=admin.user)
        few_queries, _ = _count(client, url(first), params)
    with django_assert_max_num_queries(MAX_QUERIES):
        many_queries, _ = _count(client, url(last), params)
    assert many_queries == few_queries
    assert Activity.objects.count() == 8


# not below: the nested lists of one opportunity (its lines and buying committee: test_api_quotes.py,
# test_opportunity_committee.py) and one's own reminder preference (one row per person)
ELSEWHERE = {"reminder-preferences"}
# lists with few rows by nature (one SLA policy per priority): rows made before and after
FEW_ROWS = {"sla-policies": (1, 2)}


def _registered_lists() -> list[str]:
    from crm.api.urls import router

    return sorted(
        prefix
        for prefix, viewset, _ in router.registry
        if prefix not in LISTS and prefix not in ELSEWHERE and "(?P" not in prefix and "list" in dir(viewset)
    )


@pytest.mark.parametrize("path", _registered_lists())
def test_every_other_list_endpoint_has_a_fixed_query_count(path, api_client, admin, company):
    """The rest of the router (quotes, tickets, campaigns, the customer pool, reply templates …): their rows made
    by the tenant factories every API sweep uses; the count with 2 rows and with 6 is the same."""
    make = _default_maker(path)
    before, after = FEW_ROWS.get(path, (2, 4))
    for _ in range(before):
        make(company)
    client = api_client(admin)
    url = f"/api/v1/crm/{path}/"
    few_queries, few = _count(client, url)
    for _ in range(after):
        make(company)
    many_queries, many = _count(client, url)
    assert _rows(many) > _rows(few), f"{url}: the factory made no rows the admin sees"
    assert many_queries == few_queries <= MAX_QUERIES, (
        f"{url}: {few_queries} queries for {_rows(few)} rows, {many_queries} for {_rows(many)}"
    )
