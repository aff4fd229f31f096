"""``suite.prepared.PreparedRead``: Django's own SQL compiled once per shape, run as a prepared statement, giving
the instances the ORM gives."""

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from suite.models import Membership, Role
from suite.prepared import PreparedRead

pytestmark = pytest.mark.django_db

PK = -950_000_001


def _build(counter):
    def build():
        counter.append(1)
        return (
            Membership.objects.select_related("company", "user").annotate(company_code=F("company__code")).filter(pk=PK)
        )

    return build


def test_a_prepared_read_gives_the_instances_of_the_orm_and_compiles_once(company, member):
    first, second = member(company, Role.SALES, username="lisi"), member(company, Role.ADMIN, username="wangwu")
    read, builds = PreparedRead(), []
    for membership in (first, second, first):
        [found] = read.fetch("membership", _build(builds), {PK: membership.pk})
        expected = (
            Membership.objects.select_related("company", "user")
            .annotate(company_code=F("company__code"))
            .get(pk=membership.pk)
        )
        assert type(found) is Membership and found.pk == membership.pk and not found._state.adding
        for field in Membership._meta.concrete_fields:
            assert getattr(found, field.attname) == getattr(expected, field.attname)
        assert found.company_code == "ecm"
        # the joined rows are cached on the instance like select_related's
        with CaptureQueriesContext(connection) as queries:
            assert found.company.code == "ecm" and found.user.username == membership.user.username
        assert len(queries) == 0
    assert builds == [1]  # one shape: built and compiled once


def test_a_prepared_read_is_logged_and_counted_like_any_query(company, member):
    membership = member(company, Role.SALES, username="zhaoliu")
    read = PreparedRead()
    with CaptureQueriesContext(connection) as queries:
        read.fetch("membership", _build([]), {PK: membership.pk})
        read.fetch("membership", _build([]), {PK: membership.pk})
    assert len(queries) == 2
    assert all('FROM "suite_membership"' in query["sql"] for query in queries.captured_queries)


def test_nothing_found_is_an_empty_list_and_another_shape_is_compiled_apart(company, member):
    membership = member(company, Role.SALES, username="sunqi")
    read, builds = PreparedRead(), []
    assert read.fetch("membership", _build(builds), {PK: membership.pk + 1000}) == []
    [by_user] = read.fetch(
        "by user", lambda: builds.append(2) or Membership.objects.filter(user_id=PK), {PK: membership.user_id}
    )
    assert by_user.pk == membership.pk and builds == [1, 2]


def test_a_locking_read_locks_inside_the_transaction(company, member):
    membership = member(company, Role.SALES, username="zhouba")
    read = PreparedRead()
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            [locked] = read.fetch(
                "lock",
                lambda: Membership.objects.select_for_update(of=("self",)).select_related("user").filter(pk=PK),
                {PK: membership.pk},
            )
        assert locked.user.username == "zhouba" and "FOR UPDATE" in queries.captured_queries[0]["sql"]


def test_a_placeholder_inside_a_list_parameter_is_refused(company):
    read = PreparedRead()
    with pytest.raises(ValueError, match="list parameter"):
        read.fetch("in", lambda: Membership.objects.extra(where=["id = ANY(%s)"], params=[[PK]]), {PK: 1})
