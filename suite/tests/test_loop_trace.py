"""Loop visibility: the trace of a correlation id (selector, API, page) — issue #7."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from suite import events
from suite.events.relay import relay_batch
from suite.models import Role
from suite.tests import event_handlers_for_tests as handlers

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(company):
    handlers.create_effect_table()
    with transaction.atomic():
        started = events.publish("tests.chain.started", {}, company_id=company.id)
    relay_batch()  # runs tests.chain → publishes tests.chain.continued with the same correlation id
    relay_batch()
    return started


def test_trace_lists_every_event_of_the_correlation_with_its_handler_runs(company, other_company, chain):
    with transaction.atomic():
        events.publish("tests.chain.started", {}, company_id=company.id)  # another correlation: left out

    found = events.selectors.trace(chain.correlation_id, company=company)

    assert [e.name for e in found] == ["tests.chain.started", "tests.chain.continued"]
    assert {e.correlation_id for e in found} == {chain.uuid}
    assert found[0].created_at <= found[1].created_at
    first = found[0]
    assert first.state == "done" and first.lag_ms is not None and first.app == "tests"
    runs = {run.handler: run for run in first.runs}
    assert runs["tests.chain"].status == "done" and runs["tests.chain"].ok
    assert runs["tests.chain"].started_at <= runs["tests.chain"].finished_at
    assert runs["tests.chain"].duration_ms >= 0 and runs["tests.chain"].attempts == 1
    assert events.selectors.trace(chain.correlation_id, company=other_company) == []
    assert events.selectors.trace(uuid.uuid4(), company=company) == []
    assert events.selectors.trace("not-a-uuid", company=company) == []


def test_trace_shows_a_failed_run_with_its_error_and_pending_handlers(company, tmp_path):
    handlers.create_effect_table()
    fail_file = tmp_path / "fail"
    fail_file.touch()
    with transaction.atomic():
        event = events.publish("tests.flaky.happened", {"fail_file": str(fail_file)}, company_id=company.id)
    before = events.selectors.trace(event.correlation_id, company=company)
    assert {run.status for run in before[0].runs} == {"pending"}

    relay_batch()

    runs = {run.handler: run for run in events.selectors.trace(event.correlation_id, company=company)[0].runs}
    assert runs["tests.fail_while_file_exists"].status == "failed"
    assert "failing on purpose" in runs["tests.fail_while_file_exists"].error
    assert not runs["tests.fail_while_file_exists"].ok


def test_trace_selector_takes_two_queries(company, chain, django_assert_num_queries):
    with django_assert_num_queries(2):
        events.selectors.trace(chain.correlation_id, company=company.id)


def test_trace_api_is_for_admins_and_managers_of_the_company(company, other_company, member, api_client, chain):
    url = reverse("events-trace", kwargs={"correlation_id": chain.correlation_id})

    for role in (Role.ADMIN, Role.MANAGER):
        response = api_client(member(company, role)).get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["count"] == 2
        assert [e["name"] for e in body["events"]] == ["tests.chain.started", "tests.chain.continued"]
        assert body["events"][0]["runs"][0]["status"] == "done"
        assert "duration_ms" in body["events"][0]["runs"][0]
    assert api_client(member(company, Role.SALES)).get(url).status_code == 403
    assert api_client(member(other_company, Role.ADMIN)).get(url).status_code == 404
    missing = reverse("events-trace", kwargs={"correlation_id": uuid.uuid4()})
    assert api_client(member(company, Role.ADMIN)).get(missing).status_code == 404
    assert Client().get(url).status_code in (401, 403)


def test_trace_page_shows_the_chain_to_managers_only(company, other_company, member, chain):
    url = reverse("ops-trace", kwargs={"correlation_id": chain.correlation_id})

    def client_for(membership):
        client = Client()
        client.force_login(membership.user)
        return client

    html = client_for(member(company, Role.MANAGER)).get(url).content.decode()
    assert "tests.chain.started" in html and "tests.chain.continued" in html and "tests.chain" in html
    assert str(chain.correlation_id) in html
    assert client_for(member(company, Role.SALES)).get(url).status_code == 404
    assert client_for(member(other_company, Role.ADMIN)).get(url).status_code == 404
