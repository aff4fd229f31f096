"""The sales funnel's pre-aggregate (``FunnelReach``, issue #7 speed) against the stage history itself.

Deals are written through the services at chosen moments (``timezone.now`` patched) with the edge cases of the
funnel: moves back and forth, a lost deal reopened, changes at the same instant, changes on both sides of a month
boundary in the company's time zone, changes dated after the period's end in its last month, a deal reassigned to
another team and owner (by hand and by an owner handover), a deal deleted, a stage reordered and retired. For
every period, actor and filter the funnel read from the aggregate equals the funnel read from the history, and the
rows kept write by write equal a rebuild from scratch."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm import selectors_dashboards as data
from crm.models import FunnelReach
from crm.services.funnel import funnel_reach_rebuild, stage_change_record
from crm.services.handovers import owner_handover_start
from crm.services.opportunities import (
    lost_reason_create,
    opportunity_create,
    opportunity_delete,
    opportunity_lose,
    opportunity_move,
    opportunity_update,
    opportunity_win,
    pipeline_default_ensure,
    stage_update,
)
from crm.tests.factories import AccountFactory
from suite import dashboards
from suite.models import Role
from suite.policy import Actor
from suite.testing import TeamFactory, make_member


def _local(*args) -> datetime:
    return timezone.make_aware(datetime(*args))


class Clock:
    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch

    def at(self, moment: datetime):
        self.monkeypatch.setattr(timezone, "now", lambda: moment)


class World:
    pass


@pytest.fixture
def world(company, monkeypatch):
    clock = Clock(monkeypatch)
    w = World()
    w.pipeline = pipeline_default_ensure(company=company)
    w.stage = {s.name_en: s for s in w.pipeline.stages.all()}
    w.team_a, w.team_b = TeamFactory(company=company, name="A组"), TeamFactory(company=company, name="B组")
    w.admin = make_member(company, Role.ADMIN)
    w.manager_a = make_member(company, Role.MANAGER, teams=[w.team_a])
    w.manager_b = make_member(company, Role.MANAGER, teams=[w.team_b])
    w.sales_a = make_member(company, Role.SALES, teams=[w.team_a])
    w.sales_a2 = make_member(company, Role.SALES, teams=[w.team_a])
    w.sales_b = make_member(company, Role.SALES, teams=[w.team_b])
    reason = lost_reason_create(company=company, by=None, name="价格")

    def deal(name, member, team, created: datetime):
        clock.at(created)
        return opportunity_create(
            company=company,
            by=member.user,
            name=name,
            account=AccountFactory(company=company, by=member.user),
            amount="100.00",
            owner=member.user,
            team=team,
        )

    def move(opp, stage_name, moment: datetime):
        clock.at(moment)
        stage = w.stage[stage_name]
        if stage.is_won:
            return opportunity_win(opportunity=opp, by=None)
        if stage.is_lost:
            return opportunity_lose(opportunity=opp, reason=reason, by=None)
        return opportunity_move(opportunity=opp, stage=stage, by=None)

    # forward, then back, then forward again, across the January / February boundary in the company's zone
    d1 = deal("d1", w.sales_a, w.team_a, _local(2026, 1, 31, 23, 30))
    d1 = move(d1, "Negotiation", _local(2026, 2, 1, 0, 10))
    d1 = move(d1, "Needs analysis", _local(2026, 2, 15, 9))
    d1 = move(d1, "Proposal / quote", _local(2026, 3, 3, 9))
    # started before the periods, lost, reopened at midnight on the 1st, won one second before the next month
    d2 = deal("d2", w.sales_a2, w.team_a, _local(2025, 12, 15, 10))
    d2 = move(d2, "Needs analysis", _local(2026, 1, 5, 10))
    d2 = move(d2, "Lost", _local(2026, 2, 2, 10))
    d2 = move(d2, "Needs analysis", _local(2026, 3, 1, 0, 0))
    d2 = move(d2, "Won", _local(2026, 3, 31, 23, 59, 59))
    # two changes at the same instant, then moved to another team and owner
    d3 = deal("d3", w.sales_a, w.team_a, _local(2026, 2, 10, 12))
    d3 = move(d3, "Proposal / quote", _local(2026, 2, 10, 12))
    d3 = move(d3, "Needs analysis", _local(2026, 4, 20, 12))  # after the mid-April period ends
    clock.at(_local(2026, 4, 21, 12))
    opportunity_update(opportunity=d3, by=None, owner=w.sales_b.user, team=w.team_b)
    # deleted after its history counted
    d4 = deal("d4", w.sales_b, w.team_b, _local(2026, 1, 10, 12))
    d4 = move(d4, "Negotiation", _local(2026, 3, 10, 12))
    opportunity_delete(opportunity=d4, by=None)
    # only in team B, reaching the top in the last days of April (after a mid-April end)
    d5 = deal("d5", w.sales_b, w.team_b, _local(2026, 4, 1, 0, 0))
    d5 = move(d5, "Negotiation", _local(2026, 4, 29, 8))
    # a team-less deal of a sales person of team A, handed over to the other sales person of team A
    d6 = deal("d6", w.sales_a, None, _local(2026, 3, 31, 16, 30))  # 08:30 UTC: the 31st everywhere
    d6 = move(d6, "Proposal / quote", _local(2026, 4, 1, 1))  # 17:00 UTC on the 31st
    clock.at(_local(2026, 4, 22, 9))
    owner_handover_start(
        company_id=company.pk, from_user_id=w.sales_a.user_id, to_user_id=w.sales_a2.user_id, source_key="t-1"
    )
    w.deals = [d1, d2, d3, d5, d6]
    return w


PERIODS = [
    (date(2026, 1, 1), date(2026, 1, 31)),
    (date(2026, 2, 1), date(2026, 2, 28)),
    (date(2026, 2, 1), date(2026, 2, 14)),  # ends mid-month: the rest of February is subtracted
    (date(2026, 1, 1), date(2026, 3, 31)),
    (date(2026, 3, 1), date(2026, 3, 31)),
    (date(2026, 3, 1), date(2026, 4, 15)),
    (date(2026, 4, 1), date(2026, 4, 28)),
    (date(2026, 4, 1), date(2026, 4, 30)),
    (date(2025, 12, 1), date(2026, 11, 30)),
    (date(2026, 5, 1), date(2026, 5, 31)),  # nothing
]


def _reached(filters, *, aggregate: bool) -> dict[int, int]:
    pipeline = data.default_pipeline(filters.actor)
    stages = [s for s in pipeline.stages.filter(is_active=True).order_by("sequence", "id") if not s.is_lost]
    if aggregate:
        found = data._funnel_reached_from_aggregate(filters, pipeline, stages)
    else:
        found = data._funnel_reached_from_history(filters, stages)
    return {stage.sequence: found.get(stage.sequence, 0) for stage in stages}


def _rows(company) -> set[tuple]:
    return set(
        FunnelReach.objects.filter(company=company)
        .exclude(changes=0)
        .values_list("pipeline_id", "threshold", "team_id", "owner_id", "month", "previous_month", "changes")
    )


def _check_everything(w, company):
    members = (w.admin, w.manager_a, w.manager_b, w.sales_a, w.sales_a2, w.sales_b)
    narrowings = ({}, {"team_id": w.team_a.pk}, {"team_id": w.team_b.pk}, {"owner_id": w.sales_b.user_id})
    compared = 0
    for member in members:
        actor = Actor(member)
        for date_from, date_to in PERIODS:
            for narrowing in narrowings:
                filters = dashboards.Filters(
                    company=company, actor=actor, date_from=date_from, date_to=date_to, **narrowing
                )
                assert data._funnel_reach_applies(filters)
                assert _reached(filters, aggregate=True) == _reached(filters, aggregate=False), (
                    member.role,
                    date_from,
                    date_to,
                    narrowing,
                )
                compared += 1
    return compared


def test_the_aggregate_kept_by_the_writes_equals_a_rebuild_and_the_history(world, company):
    kept = _rows(company)
    assert kept  # the writes kept it
    funnel_reach_rebuild(company_id=company.pk)
    assert _rows(company) == kept
    assert _check_everything(world, company) == 6 * len(PERIODS) * 4


def test_the_figures_themselves(world, company):
    """Spot checks by hand (sequences 10 new, 20 needs analysis, 30 proposal, 40 negotiation, 50 won)."""
    actor = Actor(world.admin)
    february = dashboards.Filters(company=company, actor=actor, date_from=date(2026, 2, 1), date_to=date(2026, 2, 28))
    # d1 (negotiation on 1 Feb 00:10, back on the 15th), d3 (new + proposal on the 10th); d2's lost is no stage
    assert _reached(february, aggregate=True) == {10: 2, 20: 2, 30: 2, 40: 1, 50: 0}
    january = february.with_(date_from=date(2026, 1, 1), date_to=date(2026, 1, 31))
    # d1 created on 31 Jan 23:30 local, d2 needs analysis on 5 Jan (d4 was deleted)
    assert _reached(january, aggregate=True) == {10: 2, 20: 1, 30: 0, 40: 0, 50: 0}
    manager_b = dashboards.Filters(
        company=company, actor=Actor(world.manager_b), date_from=date(2026, 4, 1), date_to=date(2026, 4, 28)
    )
    # team B now: d3 (moved to B, needs analysis on 20 Apr) and d5 (new on 1 Apr; negotiation on the 29th: out)
    assert _reached(manager_b, aggregate=True) == {10: 2, 20: 1, 30: 0, 40: 0, 50: 0}


def test_a_reordered_and_a_retired_stage_rebuild_the_pipeline(world, company):
    stage_update(stage=world.stage["Needs analysis"], by=None, sequence=35)
    assert _check_everything(world, company)
    stage_update(stage=world.stage["Proposal / quote"], by=None, is_active=False)
    assert _check_everything(world, company)
    kept = _rows(company)
    funnel_reach_rebuild(company_id=company.pk)
    assert _rows(company) == kept


def test_periods_the_aggregate_cannot_answer_read_the_history(world, company):
    actor = Actor(world.admin)
    filters = dashboards.Filters(company=company, actor=actor, date_from=date(2026, 2, 1), date_to=date(2026, 2, 28))
    assert data._funnel_reach_applies(filters)
    assert not data._funnel_reach_applies(filters.with_(date_from=date(2026, 2, 2)))  # not the 1st
    assert not data._funnel_reach_applies(filters.with_(product_id=1))  # the deals offering a product
    with timezone.override("UTC"):  # months of another zone
        assert settings.TIME_ZONE != "UTC"
        assert not data._funnel_reach_applies(filters)
    mid = filters.with_(date_from=date(2026, 2, 2))
    assert [s.reached for s in data.sales_funnel(mid)] == list(_reached(mid, aggregate=False).values())


def test_the_scoped_funnel_reads_the_aggregate_in_few_queries(world, company):
    filters = dashboards.Filters(
        company=company, actor=Actor(world.manager_a), date_from=date(2026, 1, 1), date_to=date(2026, 3, 31)
    )
    data.sales_funnel(filters)  # the actor's teams and teammates, read once per actor
    with CaptureQueriesContext(connection) as captured:
        funnel = data.sales_funnel(filters)
    assert len(captured) == 3  # pipeline, stages, aggregate (the period ends with its month: nothing to subtract)
    assert "crm_opportunitystagechange" not in captured.captured_queries[-1]["sql"]
    assert [step.reached for step in funnel] == list(_reached(filters, aggregate=False).values())
    with CaptureQueriesContext(connection) as captured:
        data.sales_funnel(filters.with_(date_to=date(2026, 3, 20)))
    assert len(captured) == 4  # + the changes of 21–31 March


def test_a_stage_change_adds_to_few_rows(world, company):
    d1 = world.deals[0]  # the fixture's clock stays on 22 April
    before = {row[:6]: row[6] for row in _rows(company)}
    with CaptureQueriesContext(connection) as captured:
        opportunity_move(opportunity=d1, stage=world.stage["Negotiation"], by=None)
    funnel_sql = [q["sql"] for q in captured.captured_queries if "crm_funnelreach" in q["sql"]]
    assert len(funnel_sql) == 1  # the change and its rows: one statement
    after = {row[:6]: row[6] for row in _rows(company)}
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    assert len(changed) <= 4  # one row per threshold the move reaches (needs analysis … negotiation)
    assert all(key[4] == date(2026, 4, 1) for key in changed)
    kept = _rows(company)
    funnel_reach_rebuild(company_id=company.pk)
    assert _rows(company) == kept


def test_a_back_dated_change_recomputes_its_deal(world, company):
    """A change inserted before the deal's latest one (imports, corrections) shifts the previous-change month of
    the later ones: the deal is recomputed, and the rows still equal a rebuild and the history."""
    d1 = world.deals[0]
    stage_change_record(
        opportunity=d1,
        from_stage=None,
        to_stage=world.stage["Negotiation"],
        changed_at=_local(2026, 2, 20, 9),  # between its back-move (15 Feb) and its proposal (3 Mar)
        by_id=None,
        amount="100.00",
        probability=70,
        seconds=None,
    )
    kept = _rows(company)
    funnel_reach_rebuild(company_id=company.pk)
    assert _rows(company) == kept
    assert _check_everything(world, company)
