"""Issue 4, acceptance 4: a social message from the simulator appears in the assigned agent's inbox without
a page reload (htmx polling every 2 s), the agent replies from the conversation page, and the reply is
recorded as sent through the channel (the simulator channel POSTs it to a local fake platform).

Screenshots go to /tmp/troika-scrm-*.png."""

import json

import pytest
from playwright.sync_api import expect
from werkzeug import Response

from scrm.channels.simulator import simulated_item
from scrm.models import Message
from scrm.services.channels import channel_create, deliveries_record
from scrm.services.inbox import deliveries_process
from suite.models import Membership, Module, Role
from suite.testing import CompanyFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Troika-123"


def test_simulated_message_appears_live_and_the_reply_goes_out(live_server, browser, settings, httpserver):
    settings.TROIKA_OUTBOUND_ALLOW = [f"{httpserver.host}:{httpserver.port}"]
    sent = []

    def platform(request):
        sent.append(json.loads(request.get_data()))
        return Response("ok")

    httpserver.expect_request("/send", method="POST").respond_with_handler(platform)
    company = CompanyFactory(name="花漾美妆", code="scrm-journey", enabled_modules=[Module.SCRM])
    agent = UserFactory(username="zhao.service", first_name="敏", last_name="赵")
    Membership.objects.create(user=agent, company=company, role=Role.SERVICE)
    channel = channel_create(
        company=company,
        kind="simulator",
        name="演示渠道",
        credentials={"secret": "sim"},
        config={"outbound_url": httpserver.url_for("/send")},
        default_assignee=agent,
    )

    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login/")
        page.get_by_role("button", name="English").click()
        page.get_by_label("Username or email").fill("zhao.service")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("navigation", name="Main navigation")).to_be_visible()
        page.goto(f"{live_server.url}/scrm/inbox/")
        expect(page.get_by_text("No conversations here.")).to_be_visible()

        # A fan writes on the simulator channel; the pipeline runs (as the worker would) — no reload here.
        item = simulated_item(channel.pk, 1)
        deliveries_record(channel=channel, events=[item])
        deliveries_process(channel_id=channel.pk)
        expect(page.get_by_role("link", name=item.sender_name)).to_be_visible(timeout=5000)
        page.screenshot(path="/tmp/troika-scrm-inbox.png", full_page=True)

        page.get_by_role("link", name=item.sender_name).click()
        expect(page.get_by_text(item.text)).to_be_visible()
        page.get_by_label("Reply").fill("您好，已为您查询，今天发货 / Shipping today!")
        page.get_by_role("button", name="Send reply").click()
        expect(page.locator("#thread").get_by_text("您好，已为您查询，今天发货 / Shipping today!")).to_be_visible()
        page.screenshot(path="/tmp/troika-scrm-conversation.png", full_page=True)
    finally:
        context.close()

    reply = Message.objects.get(direction="out")
    assert reply.author == agent
    assert sent == [{"id": reply.external_id.removeprefix("out:"), "recipient": item.sender_id, "text": reply.text}]
