"""UGC: capture by hand and from connectors (deduped), sentiment, the negative-post event, featuring and
rewards."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from scrm.channels.base import InboundEvent
from scrm.models import Coupon, Message, UgcPost
from scrm.services.channels import deliveries_record
from scrm.services.inbox import deliveries_process
from scrm.services.ugc import ugc_capture, ugc_feature, ugc_reward
from scrm.tests.factories import make_channel, make_identity
from scrm.tests.factories_campaigns import make_coupon_template, make_ugc
from suite.models import OutboxEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]  # the tests read English messages


def test_capture_scores_and_dedupes_on_the_external_id(company):
    channel = make_channel(company, "webhook")
    post, created = ugc_capture(
        company=company, kind="review", text="面霜很好用，推荐！", channel=channel, external_id="r-1", rating=5
    )
    again, created_again = ugc_capture(
        company=company, kind="review", text="改过的", channel=channel, external_id="r-1"
    )
    assert (created, created_again, again.pk) == (True, False, post.pk)
    assert (post.sentiment, post.language, post.rating) == ("positive", "zh", 5)
    assert "好用" in post.keywords
    assert not OutboxEvent.objects.filter(name="scrm.ugc.negative").exists()


def test_capture_refuses_bad_input_per_field(company, other_company):
    foreign = make_channel(other_company, "webhook")
    with pytest.raises(ValidationError) as caught:
        ugc_capture(company=company, kind="rumour", text=" ", rating=9, channel=foreign)
    assert set(caught.value.message_dict) == {"kind", "text", "rating", "channel"}
    assert not UgcPost.objects.exists()


def test_negative_post_publishes_an_event_with_the_crm_customer(company):
    identity = make_identity(company, crm_contact_id=7, crm_account_id=3)
    post = make_ugc(company, text="质量太差了，收到就破损，要退货", identity=identity, kind="buyer_show")
    event = OutboxEvent.objects.get(name="scrm.ugc.negative")
    assert event.version == 1
    assert event.payload["ugc_id"] == post.pk
    assert (event.payload["crm_contact_id"], event.payload["crm_account_id"]) == (7, 3)
    assert event.payload["kind"] == "buyer_show"
    assert "破损" in event.payload["keywords"]


def test_comments_from_connectors_become_ugc_once(company):
    channel = make_channel(company, "simulator")
    comment = InboundEvent(external_id="c-1", sender_id="fan-9", sender_name="小李", kind="comment", text="垃圾，差评")
    note = InboundEvent(
        external_id="n-1", sender_id="fan-9", kind="message", text="买家秀来了，很好看", ugc_kind="buyer_show", rating=5
    )
    dm = InboundEvent(external_id="m-1", sender_id="fan-9", kind="message", text="在吗")
    for _ in range(3):  # delivered three times
        deliveries_record(channel=channel, events=[comment, note, dm])
    deliveries_process(channel_id=channel.pk)
    posts = {p.external_id: p for p in UgcPost.objects.filter(channel=channel)}
    assert set(posts) == {"c-1", "n-1"}
    assert (posts["c-1"].kind, posts["c-1"].sentiment, posts["c-1"].author_name) == ("comment", "negative", "小李")
    assert (posts["n-1"].kind, posts["n-1"].rating) == ("buyer_show", 5)
    assert posts["c-1"].identity.external_id == "fan-9"
    assert Message.objects.filter(channel=channel).count() == 3
    assert OutboxEvent.objects.filter(name="scrm.ugc.negative").count() == 1


def test_feature_and_reward(company):
    identity = make_identity(company, crm_contact_id=11)
    post = make_ugc(company, identity=identity)
    template = make_coupon_template(company)
    assert ugc_feature(post=post).is_featured
    rewarded = ugc_reward(post=post, template=template)
    coupon = Coupon.objects.get(pk=rewarded.reward_coupon_id)
    assert (coupon.identity, coupon.crm_contact_id, coupon.reason) == (identity, 11, "ugc_reward")
    with pytest.raises(ValidationError, match="rewarded already"):
        ugc_reward(post=post, template=template)
    assert not ugc_feature(post=post, featured=False).is_featured


def test_negative_and_anonymous_posts_are_not_featured_or_rewarded(company):
    template = make_coupon_template(company)
    negative = make_ugc(company, text="太差了，失望", identity=make_identity(company))
    with pytest.raises(ValidationError):
        ugc_feature(post=negative)
    with pytest.raises(ValidationError):
        ugc_reward(post=negative, template=template)
    anonymous = make_ugc(company)
    with pytest.raises(ValidationError, match="not known"):
        ugc_reward(post=anonymous, template=template)
    assert not Coupon.objects.exists()
