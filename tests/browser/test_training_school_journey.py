"""The training school's story (启航培训; the seed: 「培训机构在抖音分享课程片段，用SCRM系统跟进留资用户」): a visitor
leaves contact details on the school's Douyin home page (a real signed webhook over HTTP); the adviser who owns the
Douyin channel finds the 留资 in the inbox, the lead on the CRM lead list with its score explained and the
cadence's first call task on it; a second person who only chatted is made a lead from the conversation
(「转线索」). The worker's part (inbox pipeline, outbox relay, cadence sweep) runs in the test, as the worker would.

Screenshots go to /tmp/troika-school-*.png."""

import hashlib
import json
import urllib.request

import pytest
from playwright.sync_api import expect

from crm.models import Lead, Source
from crm.services.leads import lead_scoring_rule_create
from scrm.services.cadences import cadence_create, cadence_steps_run_due
from scrm.services.channels import channel_create
from scrm.services.inbox import deliveries_process
from suite.models import Membership, Module, Role
from suite.testing import CompanyFactory, UserFactory
from tests.browser.test_crm_journey import log_in
from tests.loop_support import relay_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "dy-school-secret"


def _douyin_push(base: str, channel, payload: dict, msg_id: str) -> None:
    """What Douyin's servers do: POST the event, signed with SHA1(client_secret + body), to the channel's URL."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/scrm/channels/{channel.pk}/webhook/",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Douyin-Signature": hashlib.sha1(SECRET.encode() + body).hexdigest(),  # noqa: S324  Douyin's scheme
            "Msg-Id": msg_id,
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    deliveries_process(channel_id=channel.pk)
    relay_all()


def test_a_douyin_lead_is_followed_up_and_a_chat_becomes_a_lead(live_server, browser):
    company = CompanyFactory(name="启航职业培训", code="qihang-journey", enabled_modules=[Module.CRM, Module.SCRM])
    adviser = UserFactory(username="qh.adviser", first_name="老师", last_name="王")
    Membership.objects.create(user=adviser, company=company, role=Role.SALES)
    channel = channel_create(
        company=company,
        kind="douyin",
        name="抖音 · 启航职业培训",
        credentials={"client_secret": SECRET},
        default_assignee=adviser,
    )
    lead_scoring_rule_create(
        company=company, by=None, name="抖音留资", field="source", operator="equals", value="douyin", points=30
    )
    cadence_create(
        company=company,
        name="抖音留资跟进",
        trigger_source=Source.DOUYIN,
        channel=channel,
        steps=[{"kind": "task", "delay_minutes": 0, "subject": "电话回访：介绍电工证课程"}],
    )
    base = live_server.url

    # 小杨 watches a course clip and leaves her phone on the school's Douyin home page.
    _douyin_push(
        base,
        channel,
        {
            "event": "personal_tab_contact",
            "from_user_id": "dy-open-yang",
            "content": {"telephone": "17712345616", "name": "小杨", "remark": "想学电工证，周末班"},
        },
        "dy-lead-yang",
    )
    cadence_steps_run_due()
    relay_all()

    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    try:
        log_in(page, base, "qh.adviser")
        page.goto(f"{base}/scrm/inbox/")
        page.get_by_role("link", name="小杨").first.click()
        expect(page.get_by_text("Left contact details on the Douyin home page")).to_be_visible()
        expect(page.get_by_text("想学电工证，周末班")).to_be_visible()
        page.screenshot(path="/tmp/troika-school-inbox.png", full_page=True)

        # The lead is hers, explained, and the cadence's first call is on it.
        page.goto(f"{base}/crm/leads/")
        page.get_by_role("link", name="小杨").first.click()
        expect(page.get_by_text("抖音留资").first).to_be_visible()
        expect(page.get_by_text("电话回访：介绍电工证课程").first).to_be_visible()
        expect(page.get_by_text("想学电工证，周末班").first).to_be_visible()
        page.screenshot(path="/tmp/troika-school-lead.png", full_page=True)
        lead = Lead.objects.get(company=company, name="小杨")
        assert (lead.owner_id, lead.source, lead.phone, lead.score) == (adviser.pk, Source.DOUYIN, "+8617712345616", 30)

        # 周同学 only asks in a private message; the adviser makes him a lead from the conversation.
        _douyin_push(
            base,
            channel,
            {
                "event": "im_receive_msg",
                "from_user_id": "dy-open-zhou",
                "content": {
                    "text": "电工证周末班多少钱？",
                    "user_infos": [{"open_id": "dy-open-zhou", "nick_name": "周同学", "avatar": ""}],
                },
            },
            "dy-msg-zhou",
        )
        page.goto(f"{base}/scrm/inbox/")
        page.get_by_role("link", name="周同学").first.click()
        page.get_by_role("button", name="Make a lead").click()
        expect(page.get_by_text("A lead is being made in the CRM")).to_be_visible()
        relay_all()
        page.goto(f"{base}/crm/leads/")
        expect(page.get_by_role("link", name="周同学", exact=True)).to_be_visible()
        made = Lead.objects.get(company=company, social_ref="douyin:dy-open-zhou")
        assert made.owner_id == adviser.pk and "电工证周末班多少钱" in made.notes
        page.screenshot(path="/tmp/troika-school-leads.png", full_page=True)
    finally:
        context.close()
