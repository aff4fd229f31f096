"""Reply templates (快捷回复): shared ones kept by managers and admins, one's own by anyone; inserted into a
ticket's reply with the placeholders filled in and the use counted; the policy decides who sees which."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm.models import ReplyTemplate
from crm.services.replies import reply_template_create, reply_template_delete, reply_template_update, reply_text
from crm.services.tickets import ticket_category_create
from crm.tests.factories import AccountFactory, ticket_for
from suite.models import Role
from suite.policy import Actor

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

REFUND = "{customer}您好，我是{agent}，关于工单 {ticket} 的退款已提交，3 个工作日内到账。——{company}"


@pytest.fixture
def agent(company, member):
    return member(company, Role.SERVICE, username="kefu01")


@pytest.fixture
def lead(company, member):
    return member(company, Role.MANAGER, username="kefu.lead")


def test_shared_and_own_templates_and_who_keeps_them(company, agent, lead, member):
    shared = reply_template_create(company=company, actor=Actor(lead), shared=True, title="退款", body=REFUND)
    mine = reply_template_create(company=company, actor=Actor(agent), title="  我的  开场白 ", body="您好！")
    assert (shared.owner_id, mine.owner_id, mine.title) == (None, agent.user.pk, "我的 开场白")
    with pytest.raises(ValidationError) as refused:  # an agent does not keep the company's replies
        reply_template_create(company=company, actor=Actor(agent), shared=True, title="群发", body="x")
    assert "shared" in refused.value.message_dict
    with pytest.raises(ValidationError):
        reply_template_update(template=shared, actor=Actor(agent), body="改掉")
    with pytest.raises(ValidationError) as twice:
        reply_template_create(company=company, actor=Actor(lead), shared=True, title="退款", body="again")
    assert "title" in twice.value.message_dict
    with pytest.raises(ValidationError) as empty:
        reply_template_create(company=company, actor=Actor(agent), title=" ", body="")
    assert {"title", "body"} <= set(empty.value.message_dict)

    from crm.selectors import reply_templates_visible_to

    other = member(company, Role.SERVICE, username="kefu02")
    assert set(reply_templates_visible_to(Actor(other))) == {shared}  # not someone else's own
    assert set(reply_templates_visible_to(Actor(agent))) == {shared, mine}
    reply_template_delete(template=mine, actor=Actor(agent))
    assert not ReplyTemplate.objects.filter(pk=mine.pk).exists()


def test_a_reply_is_filled_in_for_the_ticket_and_counted(company, agent, lead):
    account = AccountFactory(company=company, name="苏州精工机械有限公司")
    ticket = ticket_for(company, account=account)
    template = reply_template_create(company=company, actor=Actor(lead), shared=True, title="退款", body=REFUND)
    agent.user.last_name, agent.user.first_name = "王", "芳"
    text = reply_text(template=template, ticket=ticket, by=agent.user)
    assert (
        text
        == f"苏州精工机械有限公司您好，我是王芳，关于工单 #{ticket.pk} 的退款已提交，3 个工作日内到账。——{company.name}"
    )
    template.refresh_from_db()
    assert template.usage_count == 1 and template.last_used_at is not None
    odd = reply_template_create(company=company, actor=Actor(lead), shared=True, title="x", body="{customer!r} {0} {}")
    assert reply_text(template=odd, ticket=ticket, by=None) == "{customer!r} {0} {}"  # only the five names


@pytest.mark.usefixtures("crm_enabled")
def test_the_ticket_page_inserts_a_reply_after_what_was_typed(client, company, agent, lead):
    category = ticket_category_create(company=company, by=lead.user, name="售后退款")
    ticket = ticket_for(company, account=AccountFactory(company=company, name="苏州精工"), category=category)
    reply_template_create(company=company, actor=Actor(lead), shared=True, title="问候", body="您好")
    refund = reply_template_create(
        company=company, actor=Actor(lead), shared=True, title="退款", body=REFUND, category=category
    )
    client.force_login(agent.user)
    page = client.get(reverse("crm:ticket-detail", args=[ticket.pk]))
    assert [t.title for t in page.context["reply_templates"]] == ["退款", "问候"]  # its category's first
    filled = client.get(
        reverse("crm:ticket-reply-fill", args=[ticket.pk]), {"template": refund.pk, "body": "补充说明："}
    ).content.decode()
    assert filled.startswith('<textarea id="reply_body"') and "补充说明：\n\n苏州精工您好" in filled
    unknown = client.get(reverse("crm:ticket-reply-fill", args=[ticket.pk]), {"template": "x", "body": "原文"})
    assert "原文</textarea>" in unknown.content.decode()  # nothing chosen: what was typed stays


@pytest.mark.usefixtures("crm_enabled")
def test_the_templates_page_adds_edits_and_removes(client, company, agent, lead):
    client.force_login(agent.user)
    page = reverse("crm:reply-templates")
    assert "shared" not in client.get(page).context["form"].fields
    assert client.post(page, {"title": "开场白", "body": "您好，{customer}"}).status_code == 302
    mine = ReplyTemplate.objects.get(title="开场白")
    refused = client.post(page, {"title": "", "body": ""})
    assert refused.status_code == 200 and {"title", "body"} <= set(refused.context["form"].errors)
    client.post(f"{page}?edit={mine.pk}", {"title": "开场白", "body": "您好！"})
    mine.refresh_from_db()
    assert mine.body == "您好！"
    client.post(reverse("crm:reply-template-delete", args=[mine.pk]))
    assert not ReplyTemplate.objects.filter(pk=mine.pk).exists()

    client.force_login(lead.user)
    client.post(page, {"title": "退款", "body": REFUND, "shared": "on"})
    assert ReplyTemplate.objects.get(title="退款").owner_id is None


def test_the_api_keeps_and_renders_templates(api_client, company, agent, lead):
    ticket = ticket_for(company, account=AccountFactory(company=company, name="苏州精工"))
    staff, boss = api_client(agent), api_client(lead)
    refused = staff.post("/api/v1/crm/reply-templates/", {"title": "群发", "body": "x", "shared": True}, format="json")
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "shared"
    made = boss.post("/api/v1/crm/reply-templates/", {"title": "退款", "body": REFUND, "shared": True}, format="json")
    assert made.status_code == 201 and made.json()["shared"] is True
    pk = made.json()["id"]
    assert [row["id"] for row in staff.get("/api/v1/crm/reply-templates/").json()["results"]] == [pk]
    assert staff.patch(f"/api/v1/crm/reply-templates/{pk}/", {"body": "x"}, format="json").status_code == 400
    rendered = staff.post(f"/api/v1/crm/reply-templates/{pk}/render/", {"ticket": ticket.pk}, format="json")
    assert rendered.status_code == 200 and rendered.json()["body"].startswith("苏州精工您好")
    bad = staff.post(f"/api/v1/crm/reply-templates/{pk}/render/", {"ticket": 10**9}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "ticket"
    assert boss.delete(f"/api/v1/crm/reply-templates/{pk}/").status_code == 204
