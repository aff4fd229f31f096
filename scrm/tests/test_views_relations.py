"""Pages of communities (figures, Q&A), the cadence editor and the handover job page with its progress."""

from __future__ import annotations

import pytest
from django.test import Client

from scrm.models import Cadence, CommunityPost, HandoverItem, HandoverJob
from scrm.services.communities import community_member_join, community_post_create
from scrm.tests.factories import make_channel
from scrm.tests.factories_relations import make_cadence, make_community, make_enrollment, make_handover_job
from suite.models import Role
from suite.policy import Actor
from suite.ui import menu

pytestmark = pytest.mark.django_db


@pytest.fixture
def login(company):
    company.enabled_modules = ["scrm"]
    company.save(update_fields=["enabled_modules"])

    def make(membership) -> Client:
        client = Client()
        client.force_login(membership.user)
        return client

    return make


def test_communities_list_and_detail_with_figures_and_answers(company, member, login, django_assert_max_num_queries):
    marketer = member(company, Role.MARKETING)
    client = login(marketer)
    for _ in range(5):
        community = make_community(company)
        for n in range(3):
            community_member_join(community=community, member_id=f"wm{community.pk}x{n}", source_key=str(n))
    question = community_post_create(community=community, kind="question", text="几点开课？")
    with django_assert_max_num_queries(20):
        page = client.get("/scrm/communities/")
    assert page.status_code == 200 and page.content.decode().count('class="community-row"') == 5
    with django_assert_max_num_queries(25):
        detail = client.get(f"/scrm/communities/{community.pk}/")
    html = detail.content.decode()
    assert 'id="fig-members">3<' in html and 'id="fig-answer-rate">0.0%' in html
    answered = client.post(f"/scrm/communities/{community.pk}/", {"parent": question.pk, "text": "周六 10 点"})
    assert answered.status_code == 302
    question.refresh_from_db()
    assert question.answered
    empty = client.post(f"/scrm/communities/{community.pk}/", {"kind": "post", "text": ""})
    assert empty.status_code == 200 and 'class="field has-error"' in empty.content.decode()
    assert CommunityPost.objects.filter(community=community).count() == 2
    links = {link.url for section in menu.menu_for(Actor(marketer)) for link in section.links}
    assert {"/scrm/communities/", "/scrm/cadences/"} <= links and "/scrm/handover/" not in links


def test_cadence_editor_creates_edits_and_shows_step_errors(company, member, login, django_assert_max_num_queries):
    client = login(member(company, Role.MARKETING))
    channel = make_channel(company, "simulator")
    form = {
        "name": "抖音留资跟进",
        "trigger_source": "douyin",
        "channel": channel.pk,
        "stop_keywords": "退订,TD",
        "is_active": "on",
        "step_count": "3",
        "step-0-kind": "task",
        "step-0-delay": "0",
        "step-0-unit": "minutes",
        "step-0-subject": "电话回访 {name}",
        "step-1-kind": "push",
        "step-1-delay": "1",
        "step-1-unit": "days",
        "step-1-message": "{name}，试听课周六开始",
        "step-2-kind": "",
    }
    created = client.post("/scrm/cadences/new/", form)
    assert created.status_code == 302, created.content.decode()[:2000]
    cadence = Cadence.objects.get(company=company)
    assert list(cadence.steps.values_list("kind", "delay_minutes")) == [("task", 0), ("push", 1440)]
    bad = client.post(
        f"/scrm/cadences/{cadence.pk}/", {**form, "step-1-message": "", "step-2-kind": "task", "step-2-subject": ""}
    )
    html = bad.content.decode()
    assert bad.status_code == 200 and html.count('class="step-row has-error"') == 2
    assert list(cadence.steps.values_list("kind", flat=True)) == ["task", "push"]  # nothing half-written
    for _ in range(5):
        make_enrollment(company, cadence=make_cadence(company))
    with django_assert_max_num_queries(20):
        listing = client.get("/scrm/cadences/")
    assert listing.content.decode().count('class="cadence-row"') == 6
    with django_assert_max_num_queries(25):
        assert client.get(f"/scrm/cadences/{cadence.pk}/").status_code == 200


def test_handover_pages_show_progress_and_refuse_sales(company, member, login, django_assert_max_num_queries):
    admin = member(company, Role.ADMIN)
    client = login(admin)
    for _ in range(4):
        make_handover_job(company)
    job = make_handover_job(company, status=HandoverJob.Status.WAITING)
    HandoverItem.objects.bulk_create(
        [
            HandoverItem(company=company, job=job, kind="customer", external_id=f"wm{n}", status=status)
            for n, status in enumerate(["transferred", "transferred", "waiting", "failed"])
        ]
    )
    with django_assert_max_num_queries(20):
        listing = client.get("/scrm/handover/")
    assert listing.content.decode().count('class="handover-row"') == 5
    detail = client.get(f"/scrm/handover/{job.pk}/").content.decode()
    assert 'id="handover-transferred">2<' in detail and 'value="75"' in detail and 'hx-trigger="every 5s"' in detail
    partial = client.get(f"/scrm/handover/{job.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert partial.startswith('<div id="handover-progress"')

    wecom = make_channel(company, "wecom")
    leaving = member(company, Role.SALES)
    refused = client.post(
        "/scrm/handover/",
        {
            "channel": wecom.pk,
            "kind": "resigned",
            "from_user": leaving.user_id,
            "handover_staff_id": "same",
            "to_user": leaving.user_id,
            "takeover_staff_id": "same",
        },
    )
    assert refused.status_code == 200 and "has-error" in refused.content.decode()
    assert HandoverJob.objects.count() == 5
    assert login(member(company, Role.SALES)).get("/scrm/handover/").status_code == 403
