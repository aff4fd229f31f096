"""Leads routed in bulk by the assignment rules (imports): the same owners as one by one, in a fixed number of
queries, and the beat schedule names the stalled-import sweep."""

from __future__ import annotations

import pytest

from crm.models import AssignmentRule, Lead
from crm.services.leads import assignment_rule_create, lead_create, leads_assign_bulk
from suite.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def reps(company, member):
    return [member(company, Role.SALES, username=f"bulkrep{i}").user for i in range(3)]


def test_bulk_routing_matches_rules_and_round_robin_in_fixed_queries(
    company, admin, reps, member, django_assert_max_num_queries
):
    south = member(company, Role.SALES, username="bulk_south").user
    assignment_rule_create(company=company, by=admin.user, name="轮询", kind="round_robin", assignees=reps, priority=90)
    assignment_rule_create(
        company=company, by=admin.user, name="华南", kind="by_province", match_values=["广东"], assignees=[south],
        priority=10,
    )  # fmt: skip
    leads = [lead_create(company=company, by=admin.user, name=f"导入{i}", owner=admin.user) for i in range(5)]
    leads.append(lead_create(company=company, by=admin.user, name="广东客户", province="广东省", owner=admin.user))
    unsaved = [Lead(company=company, name=f"未保存{i}", status="new") for i in range(2)]

    with django_assert_max_num_queries(8):
        routed = leads_assign_bulk(company_id=company.pk, leads=leads + unsaved)

    assert routed == 8
    stored = {lead.name: lead.owner_id for lead in Lead.objects.filter(company=company)}
    assert [stored[f"导入{i}"] for i in range(5)] == [reps[0].pk, reps[1].pk, reps[2].pk, reps[0].pk, reps[1].pk]
    assert stored["广东客户"] == south.pk
    assert [lead.owner_id for lead in unsaved] == [reps[2].pk, reps[0].pk]  # in memory, for the caller's insert
    assert AssignmentRule.objects.get(name="轮询").last_assignee_id == reps[0].pk


def test_without_rules_nothing_changes(company, admin):
    lead = lead_create(company=company, by=admin.user, name="无规则", owner=admin.user)

    assert leads_assign_bulk(company_id=company.pk, leads=[lead]) == 0
    lead.refresh_from_db()
    assert lead.owner_id == admin.user.pk


def test_the_stalled_import_sweep_is_scheduled_and_names_a_registered_task():
    from suite.celery import app

    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    app.loader.import_default_modules()

    assert "crm.import_jobs_fail_stalled" in tasks
    assert "crm.import_jobs_fail_stalled" in app.tasks
    assert all(name in app.tasks for name in tasks if name.startswith("crm."))


def test_imported_leads_are_routed_by_the_assignment_rules_per_chunk(company, admin, reps, member):
    from crm.tests.test_services_imports import csv_upload, run_import

    south = member(company, Role.SALES, username="import_south").user
    assignment_rule_create(company=company, by=admin.user, name="轮询", kind="round_robin", assignees=reps, priority=90)
    assignment_rule_create(
        company=company, by=admin.user, name="华南", kind="by_province", match_values=["广东"], assignees=[south],
        priority=10,
    )  # fmt: skip
    rows = "".join(f"线索{i},公司{i},1380000{i:04d},{'广东' if i == 4 else '北京'}\n" for i in range(5))

    job = run_import(company, admin.user, csv_upload("姓名,公司名称,手机号码,省份\n" + rows), target="lead", chunk=2)

    owners = dict(Lead.objects.filter(company=company).values_list("name", "owner_id"))
    assert job.created_count == 5
    assert [owners[f"线索{i}"] for i in range(4)] == [reps[0].pk, reps[1].pk, reps[2].pk, reps[0].pk]
    assert owners["线索4"] == south.pk
    assert Lead.objects.filter(company=company, assignment_rule__isnull=False).count() == 5
