"""The CRM's reply templates (快捷回复) in the SCRM inbox: an agent inserts one into a conversation's reply box,
filled in with the customer's and the agent's names, after what they typed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.services.replies import reply_template_create
from crm.tests.test_views_customers import browser
from scrm.tests.factories import make_channel, make_conversation, make_identity
from suite.models import Module, Role
from suite.policy import Actor

pytestmark = pytest.mark.django_db


def test_an_agent_inserts_a_reply_template_into_a_conversation(company, member):
    company.enabled_modules = [Module.CRM, Module.SCRM]
    company.save()
    agent = member(company, Role.SERVICE, username="kefu01", last_name="王", first_name="芳")
    lead = member(company, Role.MANAGER, username="kefu.lead")
    template = reply_template_create(
        company=company, actor=Actor(lead), shared=True, title="问候", body="{customer}您好，我是{agent}，{ticket}"
    )
    identity = make_identity(company, kind="wecom", display_name="王小明")
    channel = make_channel(company, "wecom")
    conversation = make_conversation(company, channel=channel, identity=identity, assigned_to=agent.user)
    client = browser(agent)

    page = client.get(reverse("scrm:conversation", args=[conversation.pk]))
    assert [t.title for t in page.context["reply_templates"]] == ["问候"]
    filled = client.get(
        reverse("scrm:conversation-reply-fill", args=[conversation.pk]), {"template": template.pk, "text": "稍等"}
    ).content.decode()
    assert filled.startswith('<textarea id="reply-text"') and "稍等\n\n王小明您好，我是王芳，</textarea>" in filled
