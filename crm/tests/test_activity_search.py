"""Activity search: subject, details and outcome, any case, every word; two-character terms through the index of
character pairs (migration crm/0035), other lengths by ``icontains`` — the same answers either way."""

import pytest
from django.db import connection, transaction

from crm.models import Activity
from crm.selectors_activities import ActivityFilters, activities_filtered, activity_text_contains
from crm.services.activities import activity_complete, activity_create
from crm.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_words_in_subject_details_or_outcome_of_any_case_and_length(company, sales_user, sales_actor):
    account = AccountFactory(company=company, by=sales_user, name="苏州精工")
    made = {}
    for subject, body in (("催款电话", "客户关心交期"), ("CK6140 报价", "含安装 100 台"), ("内部备注", "折扣 10%")):
        made[subject] = activity_create(
            company=company, by=sales_user, kind="task", subject=subject, body=body, account=account
        )
    activity_complete(activity=made["内部备注"], by=sales_user, outcome="客户满意")

    def found(query):
        rows = activities_filtered(sales_actor, ActivityFilters(query=query, state="all"))
        return {activity.subject for activity in rows}

    assert found("交期") == {"催款电话"}  # two characters: the pair index
    assert found("关心交期") == {"催款电话"}  # longer: icontains
    assert found("ck6140") == {"CK6140 报价"}  # any case
    assert found("满意") == {"内部备注"}  # the outcome
    assert found("催款 交期") == {"催款电话"} and found("催款 满意") == set()  # every word
    assert found("款") == {"催款电话"}  # one character: a scan, same answer
    assert found("10%") == {"内部备注"} and found("0%") == {"内部备注"}  # a pair with a LIKE wildcard in it
    assert found("1_0") == set() and found("_0") == set()
    assert found("没有这个") == set()


def test_the_search_condition_is_the_bigram_index_expression():
    """The condition written as the index was built (a different expression would leave the index unused)."""
    query = Activity.objects.filter(activity_text_contains("交期")).values("id")
    sql, params = query.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")  # leave the planner only bitmap scans of indexes
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "crm_activity_search_bigrams" in plan, plan
