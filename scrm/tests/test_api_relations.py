"""The API of communities, cadences, channel QR codes and handover jobs: writes through the services, field
errors as 4xx, roles, and query counts of the lists."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from scrm.channels import connector_for
from scrm.models import Cadence, ContactWay, HandoverJob
from scrm.services.communities import community_member_join, community_post_create
from scrm.tests import fake_wecom
from scrm.tests.factories import WECOM_CORP_ID, make_channel
from scrm.tests.factories_relations import make_cadence, make_community, make_enrollment, make_handover_job
from suite.models import Role

pytestmark = pytest.mark.django_db

wecom_fake = fake_wecom.wecom_fake  # the fake WeCom server (fixture)


def fields_of(response) -> set[str]:
    return {error.get("field") for error in response.json()["errors"]}


def test_community_posts_answers_and_figures(company, member, api_client):
    client = api_client(member(company, Role.MARKETING))
    created = client.post("/api/v1/scrm/communities/", {"name": "宝妈交流群", "kind": "wechat_group"}, format="json")
    assert created.status_code == 201, created.content
    community_id = created.json()["id"]
    question = client.post(
        "/api/v1/scrm/community-posts/",
        {"community": community_id, "kind": "question", "text": "奶粉怎么冲？"},
        format="json",
    )
    assert question.status_code == 201, question.content
    answer = client.post(
        "/api/v1/scrm/community-posts/",
        {"community": community_id, "kind": "answer", "parent": question.json()["id"], "text": "70 度水"},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    figures = client.get(f"/api/v1/scrm/communities/{community_id}/figures/").json()
    assert (figures["questions"], figures["answered"], figures["answer_rate"]) == (1, 1, "100.0")
    bad = client.post(
        "/api/v1/scrm/community-posts/", {"community": community_id, "kind": "answer", "text": "x"}, format="json"
    )
    assert bad.status_code == 400 and "parent" in fields_of(bad)
    empty = client.post("/api/v1/scrm/communities/", {"name": ""}, format="json")
    assert empty.status_code == 400 and fields_of(empty) == {"name"}


def test_community_list_and_members_query_counts(company, member, api_client, django_assert_max_num_queries):
    client = api_client(member(company, Role.SERVICE))
    for _ in range(6):
        community = make_community(company)
        for n in range(4):
            community_member_join(community=community, member_id=f"wm{community.pk}-{n}", source_key=str(n))
        community_post_create(community=community, text="hello")
    with django_assert_max_num_queries(12):
        body = client.get("/api/v1/scrm/communities/").json()
    assert body["count"] == 6 and {row["member_count"] for row in body["results"]} == {4}
    with django_assert_max_num_queries(12):
        members = client.get(f"/api/v1/scrm/communities/{community.pk}/members/").json()
    assert members["count"] == 4
    with django_assert_max_num_queries(12):
        assert client.get("/api/v1/scrm/community-posts/").json()["count"] == 6


def test_cadence_api_create_update_and_errors(company, member, api_client, django_assert_max_num_queries):
    client = api_client(member(company, Role.MARKETING))
    channel = make_channel(company, "simulator")
    payload = {
        "name": "抖音留资 7 天跟进",
        "trigger_source": "douyin",
        "channel": channel.pk,
        "steps": [
            {"kind": "task", "delay_minutes": 0, "subject": "电话回访"},
            {"kind": "push", "delay_minutes": 1440, "message": "{name} 您好，试听课周六开始"},
        ],
    }
    created = client.post("/api/v1/scrm/cadences/", payload, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert [s["kind"] for s in body["steps"]] == ["task", "push"] and body["active_enrollments"] == 0
    changed = client.patch(
        f"/api/v1/scrm/cadences/{body['id']}/",
        {"steps": [{"kind": "wait", "delay_minutes": 10}, {"kind": "task", "subject": "再次回访"}]},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert [(s["position"], s["kind"]) for s in changed.json()["steps"]] == [(1, "wait"), (2, "task")]

    bad = client.post(
        "/api/v1/scrm/cadences/",
        {"name": "坏", "steps": [{"kind": "push", "delay_minutes": 0, "message": "hi"}]},
        format="json",
    )
    assert bad.status_code == 400 and fields_of(bad) == {"steps[1]"}
    negative = client.post(
        "/api/v1/scrm/cadences/", {"name": "坏", "steps": [{"kind": "wait", "delay_minutes": -1}]}, format="json"
    )
    assert negative.status_code == 400
    assert Cadence.objects.filter(company=company).count() == 1

    for _ in range(5):
        make_enrollment(company, cadence=make_cadence(company))
    with django_assert_max_num_queries(12):
        assert client.get("/api/v1/scrm/cadences/").json()["count"] == 6
    with django_assert_max_num_queries(12):
        assert client.get("/api/v1/scrm/cadence-enrollments/").json()["count"] == 5
    enrollment_id = client.get("/api/v1/scrm/cadence-enrollments/").json()["results"][0]["id"]
    stopped = client.post(f"/api/v1/scrm/cadence-enrollments/{enrollment_id}/stop/")
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"


def test_sales_sees_only_their_enrolments_and_no_handover(company, member, api_client):
    sales = member(company, Role.SALES)
    mine = make_enrollment(company, owner_id=sales.user_id)
    make_enrollment(company)
    make_handover_job(company)
    client = api_client(sales)
    assert [row["id"] for row in client.get("/api/v1/scrm/cadence-enrollments/").json()["results"]] == [mine.pk]
    assert client.get("/api/v1/scrm/handover-jobs/").status_code == 403
    assert client.post("/api/v1/scrm/cadences/", {"name": "x", "steps": []}, format="json").status_code == 403


def test_contact_way_state_is_validated_before_wecom(company, member, api_client, wecom_fake):
    client = api_client(member(company, Role.MARKETING))
    channel = make_channel(company, "wecom", config={"corp_id": WECOM_CORP_ID, "api_base": wecom_fake.base})
    cache.delete(connector_for(channel).api().cache_key)
    too_long = client.post(
        "/api/v1/scrm/contact-ways/",
        {"channel": channel.pk, "name": "门店码", "state": "x" * 31, "staff_ids": ["lisi"]},
        format="json",
    )
    assert too_long.status_code == 400 and fields_of(too_long) == {"state"}
    assert wecom_fake.calls == []
    created = client.post(
        "/api/v1/scrm/contact-ways/",
        {"channel": channel.pk, "name": "门店码", "state": "store-bj-01", "staff_ids": ["lisi", "wangwu"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["qr_code"].endswith("store-bj-01.png")
    assert wecom_fake.calls[0][1]["type"] == 2  # several staff: a multi-person code
    assert ContactWay.objects.count() == 1


def test_handover_job_api_progress(company, member, api_client, wecom_fake, django_assert_max_num_queries):
    admin = member(company, Role.ADMIN)
    client = api_client(admin)
    channel = make_channel(company, "wecom", config={"corp_id": WECOM_CORP_ID, "api_base": wecom_fake.base})
    cache.delete(connector_for(channel).api().cache_key)
    leaving = member(company, Role.SALES)
    successor = member(company, Role.SALES)
    leaving.is_active = False
    leaving.save(update_fields=["is_active"])
    wecom_fake.results = {"wmA": 1}
    created = client.post(
        "/api/v1/scrm/handover-jobs/",
        {
            "channel": channel.pk,
            "kind": "resigned",
            "handover_staff_id": "leaver",
            "takeover_staff_id": "successor",
            "from_user": leaving.user_id,
            "to_user": successor.user_id,
            "customers": ["wmA", "wmB"],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    job = created.json()
    assert (job["customers_total"], job["status"]) == (2, "pending")
    same_person = client.post(
        "/api/v1/scrm/handover-jobs/",
        {
            "channel": channel.pk,
            "kind": "resigned",
            "handover_staff_id": "x",
            "takeover_staff_id": "x",
            "from_user": successor.user_id,
            "to_user": successor.user_id,
        },
        format="json",
    )
    assert same_person.status_code == 400 and {"takeover_staff_id", "to_user"} <= fields_of(same_person)
    from scrm.services.wecom_relations import handover_job_advance

    handover_job_advance(job_id=job["id"])
    detail = client.get(f"/api/v1/scrm/handover-jobs/{job['id']}/").json()
    assert (detail["customers_transferred"], detail["customers_waiting"], detail["status"]) == (1, 1, "waiting")
    items = client.get(f"/api/v1/scrm/handover-jobs/{job['id']}/items/?status=transferred").json()
    assert [i["external_id"] for i in items["results"]] == ["wmA"]
    for _ in range(4):
        make_handover_job(company)
    with django_assert_max_num_queries(12):
        assert client.get("/api/v1/scrm/handover-jobs/").json()["count"] == 5
    assert HandoverJob.objects.count() == 5
