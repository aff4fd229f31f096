"""Communities: WeCom customer-group callbacks (``change_external_chat``) through the real webhook endpoint and
pipeline into communities and members; posts/Q&A and the engagement figures."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from scrm.channels.wecom import WeComCrypto
from scrm.models import Community, CommunityMember, CommunityMemberChange, CommunityPost, Delivery, Message
from scrm.selectors_communities import community_figures
from scrm.services.communities import (
    community_create,
    community_member_join,
    community_member_leave,
    community_post_create,
)
from scrm.services.inbox import deliveries_process
from scrm.tests.factories import WECOM_CORP_ID, WECOM_CREDENTIALS, make_channel, make_identity

pytestmark = pytest.mark.django_db


def wecom_post(client, channel, xml: str):
    crypto = WeComCrypto(
        token=WECOM_CREDENTIALS["token"],
        encoding_aes_key=WECOM_CREDENTIALS["encoding_aes_key"],
        receive_id=WECOM_CORP_ID,
    )
    timestamp = str(int(time.time()))
    nonce = uuid.uuid4().hex[:10]  # a nonce is accepted once
    encrypted = crypto.encrypt(xml)
    envelope = (
        f"<xml><ToUserName><![CDATA[{WECOM_CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    )
    query = f"msg_signature={crypto.sign(timestamp, nonce, encrypted)}&timestamp={timestamp}&nonce={nonce}"
    return client.post(
        f"/api/v1/scrm/channels/{channel.pk}/webhook/?{query}", data=envelope.encode(), content_type="text/xml"
    )


def chat_xml(change: str, created: int, *, detail: str = "", members: tuple[str, ...] = (), scene: str = "") -> str:
    items = "".join(f"<Item><![CDATA[{m}]]></Item>" for m in members)
    return (
        f"<xml><ToUserName><![CDATA[{WECOM_CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA]]></ChatId>"
        f"<ChangeType><![CDATA[{change}]]></ChangeType><UpdateDetail><![CDATA[{detail}]]></UpdateDetail>"
        f"<JoinScene>{scene}</JoinScene><MemChangeCnt>{len(members)}</MemChangeCnt>"
        f"<MemChangeList>{items}</MemChangeList><CurMemVer>v{created}</CurMemVer></xml>"
    )


def test_wecom_group_callbacks_build_the_community_once(client, company):
    channel = make_channel(company, "wecom")
    customer = make_identity(company, kind="wecom", external_id="wmCustomerA", display_name="李雷", crm_contact_id=77)
    now = int(time.time())
    for xml in (
        chat_xml("create", now - 300),
        chat_xml(
            "update", now - 200, detail="add_member", members=("wmCustomerA", "wmCustomerB", "zhangsan"), scene="3"
        ),
        chat_xml("update", now - 100, detail="del_member", members=("wmCustomerB",)),
    ):
        for _ in range(3):  # WeCom retries: stored once
            assert wecom_post(client, channel, xml).status_code == 200
    assert Delivery.objects.filter(channel=channel).count() == 3
    while deliveries_process(channel_id=channel.pk).deliveries:
        pass

    community = Community.objects.get(channel=channel)
    assert (community.external_id, community.status, community.company_id) == (
        "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA",
        "active",
        company.pk,
    )
    members = {m.member_id: m for m in CommunityMember.objects.filter(community=community)}
    assert set(members) == {"wmCustomerA", "wmCustomerB", "zhangsan"}
    assert members["wmCustomerA"].identity == customer  # the CRM customer through the identity
    assert members["wmCustomerA"].identity.crm_contact_id == 77
    assert (members["wmCustomerA"].is_staff, members["zhangsan"].is_staff) == (False, True)
    assert members["wmCustomerA"].join_scene == 3
    assert members["wmCustomerB"].left_at is not None and members["wmCustomerA"].left_at is None
    assert CommunityMemberChange.objects.filter(community=community).count() == 4
    assert not Message.objects.filter(channel=channel).exists()  # group changes are not inbox messages

    assert wecom_post(client, channel, chat_xml("dismiss", now)).status_code == 200
    deliveries_process(channel_id=channel.pk)
    community.refresh_from_db()
    assert community.status == "dismissed" and community.dismissed_at is not None


def test_posts_answers_and_figures(company):
    community = community_create(company=company, name="瑜伽训练营 3 群")
    now = timezone.now()
    a = community_member_join(community=community, member_id="wmA", at=now - timedelta(days=20), source_key="1")
    b = community_member_join(community=community, member_id="wmB", at=now - timedelta(days=10), source_key="2")
    community_member_join(community=community, member_id="wmC", at=now - timedelta(days=3), source_key="3")
    community_member_leave(community=community, member_id="wmC", at=now - timedelta(days=1), source_key="4")
    # the same join delivered again changes nothing
    community_member_join(community=community, member_id="wmA", at=now - timedelta(days=20), source_key="1")

    question = community_post_create(
        community=community, member=a, kind="question", text="周末有课吗？", posted_at=now - timedelta(days=12)
    )
    community_post_create(
        community=community, member=b, kind="question", text="怎么退款", posted_at=now - timedelta(days=2)
    )
    community_post_create(community=community, member=b, text="打卡第 5 天", posted_at=now - timedelta(days=1))
    answer = community_post_create(community=community, kind="answer", parent=question, text="周六上午 10 点")
    question.refresh_from_db()
    assert question.answered and question.answered_at == answer.posted_at

    figures = community_figures(community, as_of=now)
    assert (figures.members, figures.active_7d, figures.active_30d) == (2, 1, 2)
    assert (figures.posts_30d, figures.questions, figures.answered, figures.answer_rate) == (4, 2, 1, Decimal("50.0"))
    assert len(figures.weeks) == 8
    assert sum(w.joins for w in figures.weeks) == 3 and sum(w.leaves for w in figures.weeks) == 1


def test_post_validation(company):
    community = community_create(company=company, name="VIP 群")
    other = community_create(company=company, name="Other")
    question = community_post_create(community=other, kind="question", text="?")
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        community_post_create(community=community, kind="answer", parent=question, text="x")
    assert "parent" in error.value.message_dict
    with pytest.raises(ValidationError):
        community_post_create(community=community, text="   ")
    channel = make_channel(company, "wecom")
    community_create(company=company, name="企微群", channel=channel, external_id="wrX")
    with pytest.raises(ValidationError) as error:
        community_create(company=company, name="企微群 2", channel=channel, external_id="wrX")
    assert "external_id" in error.value.message_dict
    assert CommunityPost.objects.filter(community=community).count() == 0
