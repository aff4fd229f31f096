"""The shape of a pipeline (``crm.services.stages``): stages added, moved, retired and removed keep the won and lost
stages last, the sequences 10, 20, …, the funnel pre-aggregate equal to a rebuild, and two admins at once both
land."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import translation

from crm.errors import CrmConflict
from crm.models import FunnelReach, Stage
from crm.services.funnel import funnel_reach_rebuild
from crm.services.opportunities import opportunity_create, opportunity_move, pipeline_default_ensure
from crm.services.stages import stage_create, stage_delete, stage_move, stage_retire
from crm.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def _order(pipeline) -> list[tuple[str, int]]:
    return list(pipeline.stages.order_by("sequence", "id").values_list("name", "sequence"))


def _funnel_rows(company) -> set[tuple]:
    return set(
        FunnelReach.objects.filter(company=company)
        .exclude(changes=0)
        .values_list("pipeline_id", "threshold", "team_id", "owner_id", "month", "previous_month", "changes")
    )


def test_the_funnel_rows_follow_the_new_shape(company, sales_user):
    pipeline = pipeline_default_ensure(company=company)
    account = AccountFactory(company=company, by=sales_user)
    deal = opportunity_create(company=company, by=sales_user, name="液压站", account=account)
    opportunity_move(opportunity=deal, stage=pipeline.stages.get(name="方案报价"), by=sales_user)
    before = _funnel_rows(company)

    stage_move(stage=pipeline.stages.get(name="方案报价"), direction="up", by=None)
    moved = _funnel_rows(company)
    assert moved != before  # the deal now reached the stage after it as well: the thresholds changed
    funnel_reach_rebuild(company_id=company.pk)
    assert _funnel_rows(company) == moved

    stage_create(pipeline=pipeline, name="试用", probability=40, position=1, by=None)
    added = _funnel_rows(company)
    funnel_reach_rebuild(company_id=company.pk)
    assert _funnel_rows(company) == added

    stage_retire(stage=pipeline.stages.get(name="试用"), by=None)
    stage_delete(stage=pipeline.stages.get(name="试用"), by=None)
    gone = _funnel_rows(company)
    funnel_reach_rebuild(company_id=company.pk)
    assert _funnel_rows(company) == gone
    assert _order(pipeline) == [
        ("初步接洽", 10),
        ("方案报价", 30),
        ("需求确认", 40),
        ("商务谈判", 50),
        ("赢单", 60),
        ("输单", 70),
    ]  # removing leaves a gap; the next change of the order renumbers


def test_bad_input_and_refusals(company):
    pipeline = pipeline_default_ensure(company=company)
    before = _order(pipeline)
    with translation.override("en"):
        for kwargs, field in (
            ({"name": " ", "probability": 10}, "name"),
            ({"name": "x" * 101, "probability": 10}, "name"),
            ({"name": "需求确认", "probability": 10}, "name"),
            ({"name": "新", "probability": 101}, "probability"),
            ({"name": "新", "probability": True}, "probability"),
            ({"name": "新", "probability": "50"}, "probability"),
        ):
            with pytest.raises(ValidationError) as caught:
                stage_create(pipeline=pipeline, by=None, **kwargs)
            assert field in caught.value.message_dict, kwargs
        won = pipeline.stages.get(is_won=True)
        with pytest.raises(ValidationError):
            stage_move(stage=won, direction="up", by=None)
        with pytest.raises(CrmConflict) as retired:
            stage_retire(stage=won, by=None)
        assert "stay in use" in str(retired.value.message)
        with pytest.raises(CrmConflict):
            stage_delete(stage=pipeline.stages.get(is_lost=True), by=None)
    assert _order(pipeline) == before


@pytest.mark.django_db(transaction=True)
def test_two_admins_adding_stages_at_once_both_land_in_order(company):
    pipeline = pipeline_default_ensure(company=company)
    barrier = threading.Barrier(2)
    failures = []

    def add(name):
        barrier.wait(5)
        try:
            stage_create(pipeline=pipeline, name=name, probability=80, by=None)
        except Exception as error:  # reported below
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(name,)) for name in ("验收", "回款")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert failures == []
    names = [name for name, _sequence in _order(pipeline)]
    assert sorted(names[4:6]) == ["回款", "验收"] and names[6:] == ["赢单", "输单"]
    sequences = [sequence for _name, sequence in _order(pipeline)]
    assert sequences == [10, 20, 30, 40, 50, 60, 70, 80]
    assert Stage.objects.filter(pipeline=pipeline).count() == 8
