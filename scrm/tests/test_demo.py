"""The SCRM demo data of the seed stories, made once (a second run adds nothing: suite/tests/test_seed_demo.py
counts every table), and the SCRM pages a demo login opens showing it."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from crm import selectors as crm_selectors
from crm.tests.factories import TagFactory
from scrm import demo
from scrm.models import (
    Channel,
    ChannelKind,
    Consent,
    Conversation,
    Coupon,
    CouponTemplate,
    Delivery,
    Message,
    QrCampaign,
    QrClaim,
    QrCode,
    QrScan,
    Resolution,
    Segment,
    Sentiment,
    SocialIdentity,
    TagRule,
    UgcPost,
)
from suite.models import Company, Membership, OutboxEvent
from suite.templatetags.troika import format_money

pytestmark = pytest.mark.django_db

SCRM_MODELS = (
    Channel,
    SocialIdentity,
    Conversation,
    Message,
    Delivery,
    QrCampaign,
    QrCode,
    QrScan,
    QrClaim,
    Coupon,
    UgcPost,
    Consent,
    Segment,
    TagRule,
    OutboxEvent,
)


def seed() -> None:
    call_command("seed_demo", stdout=StringIO())


def counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in SCRM_MODELS}


def identity(company: str, channel: str, name: str) -> SocialIdentity:
    return SocialIdentity.objects.get(
        company__code=company,
        display_name=name,
        conversations__channel__name=channel,
    )


def contact(company: str, name: str):
    return crm_selectors.Contact.objects.get(company__code=company, name=name)


def test_seeding_twice_makes_the_social_stories_once():
    seed()
    first = counts()
    seed()

    assert counts() == first
    assert set(Channel.objects.filter(company__code="sbev").values_list("name", "kind")) == {
        (demo.SBEV_OA, ChannelKind.WECHAT_OA),
        (demo.SBEV_WECOM, ChannelKind.SIMULATOR),
        (demo.SBEV_TMALL, ChannelKind.SIMULATOR),
    }
    simulated = Channel.objects.filter(kind=ChannelKind.SIMULATOR)
    assert simulated.count() == 4 and all(c.config == {"batch": 0} for c in simulated)
    assert not Delivery.objects.filter(processed_at__isnull=True).exists()  # processed in-process, no worker


def test_the_scan_to_win_campaign_has_codes_scans_and_prizes():
    seed()
    seed()

    campaign = QrCampaign.objects.get(company__code="sbev", name=demo.QR_CAMPAIGN)
    assert campaign.status == "active" and campaign.oauth_channel.kind == ChannelKind.WECHAT_OA
    assert QrCode.objects.filter(campaign=campaign).count() == 48
    assert QrScan.objects.filter(campaign=campaign).count() == len(demo.SCANS) + len(demo.FANS)
    claims = QrClaim.objects.filter(campaign=campaign)
    assert claims.count() == 6
    assert campaign.prizes_granted == 6 and campaign.spent == Decimal("11.28")  # 6 × 1.88
    assert set(claims.values_list("payout_status", flat=True)) == {QrClaim.Payout.PENDING}  # finance pays
    assert Coupon.objects.filter(template=campaign.reward_template).count() == 6
    # 阿杰 scanned the code 李思雨 had won with: the scan is recorded, the prize is not granted twice
    won = QrClaim.objects.get(campaign=campaign, scan__nickname="李思雨")
    assert list(won.code.scans.values_list("nickname", flat=True).order_by("id")) == ["李思雨", "阿杰"]
    assert not claims.filter(scanner_key="wx:oOA-ajie").exists()
    assert QrScan.objects.filter(campaign=campaign, phone="13600001234", source="browser").count() == 1


def test_inbox_senders_are_matched_onto_the_crm_demo_contacts():
    seed()
    seed()

    lisiyu = identity("sbev", demo.SBEV_WECOM, "李思雨")
    assert (lisiyu.resolution, lisiyu.crm_contact_id) == (Resolution.AUTO, contact("sbev", "李思雨").pk)
    conversation = Conversation.objects.get(identity=lisiyu)
    assert conversation.assigned_to.username == "sbev.ecommerce"  # the contact's CRM owner
    assert list(conversation.messages.order_by("sent_at").values_list("direction", "kind")) == [
        ("in", "event"),
        ("in", "message"),
        ("out", "message"),  # answered within minutes (the demo clock), then again after her second message
        ("in", "message"),
        ("out", "message"),
    ]
    first_message = conversation.messages.filter(direction="in", kind="message").earliest("sent_at")
    assert timedelta(0) < conversation.first_response_at - first_message.sent_at < timedelta(minutes=15)
    unknown = identity("sbev", demo.SBEV_WECOM, "阿杰")
    assert unknown.resolution == Resolution.NONE
    assert Conversation.objects.get(identity=unknown).assigned_to.username == "sbev.service"  # the channel's
    assert Conversation.objects.filter(channel__name=demo.SBEV_WECOM).count() == 3
    assert Conversation.objects.filter(channel__name=demo.SBEV_TMALL).count() == 3

    sunyue = identity("qihang", demo.QIHANG_DOUYIN, "孙悦")
    assert (sunyue.resolution, sunyue.crm_contact_id) == (Resolution.AUTO, contact("qihang", "孙悦").pk)
    wufan = identity("qihang", demo.QIHANG_DOUYIN, "吴凡")  # phone not verified by Douyin: a suggestion
    assert (wufan.resolution, wufan.crm_contact_id) == (Resolution.SUGGESTED, contact("qihang", "吴凡").pk)
    assert identity("qihang", demo.QIHANG_DOUYIN, "小杨").phone == "17712345616"  # the lead's phone
    assert Conversation.objects.filter(company__code="qihang").count() == 6

    ecm = Conversation.objects.filter(channel__name=demo.ECM_WECOM).select_related("assigned_to", "identity")
    assert {(c.identity.display_name, c.assigned_to.username) for c in ecm} == {
        ("王建华", "sales1"),
        ("赵敏", "sales1"),
    }
    assert OutboxEvent.objects.filter(name="scrm.identity.resolved").count() == 6  # 3 sbev, 1 qihang, 2 ecm


def test_reviews_and_comments_are_ugc_and_the_negative_ones_reach_the_crm():
    seed()
    seed()

    sbev = Company.objects.get(code="sbev")
    featured = UgcPost.objects.get(company=sbev, is_featured=True)
    assert (featured.rating, featured.sentiment, featured.author_name) == (5, Sentiment.POSITIVE, "张浩然")
    negative = UgcPost.objects.get(company=sbev, sentiment=Sentiment.NEGATIVE)
    assert negative.rating == 1 and "漏液" in negative.text
    assert UgcPost.objects.filter(company__code="qihang", sentiment=Sentiment.NEGATIVE).count() == 1
    assert OutboxEvent.objects.filter(name="scrm.ugc.negative").count() == 2


def test_consents_and_segments():
    seed()
    seed()

    sbev = Company.objects.get(code="sbev")
    consumers = {contact("sbev", "李思雨").pk, contact("sbev", "张浩然").pk}
    assert set(Consent.objects.filter(company=sbev).values_list("crm_contact_id", "channel_kind")) == {
        (pk, kind) for pk in consumers for kind in (ChannelKind.SIMULATOR, ChannelKind.WECHAT_OA)
    }
    segment = Segment.objects.get(company=sbev, name="扫码活动消费者（微信来源）")
    assert segment.last_count == 2 and segment.created_by.username == "sbev.marketing"
    assert Segment.objects.get(company__code="qihang").last_count == 2


def test_auto_tag_rules_are_made_when_the_crm_has_their_tags():
    call_command("seed_demo", "--only", "suite", stdout=StringIO())  # the companies, before any message
    sbev = Company.objects.get(code="sbev")
    complaint = TagFactory(company=sbev, name="质量投诉")
    scanned = TagFactory(company=sbev, name="扫码参与")

    seed()
    seed()

    rules = {rule.name: rule for rule in TagRule.objects.filter(company=sbev)}
    assert rules["瓶盖漏液投诉"].add_tag_id == complaint.pk and "漏液" in rules["瓶盖漏液投诉"].keywords
    assert rules["扫码参与者"].add_tag_id == scanned.pk
    requested = OutboxEvent.objects.filter(name="scrm.customer.tag_requested", company=sbev)
    assert [event.payload["contact_ids"] for event in requested] == [[contact("sbev", "李思雨").pk]]


@pytest.fixture
def client_of():
    def make(username: str) -> Client:
        client = Client()
        client.force_login(Membership.objects.get(user__username=username).user)
        return client

    return make


def test_the_marketing_login_of_the_beverage_brand_sees_the_demo(client_of):
    seed()
    client = client_of("sbev.marketing")
    campaign = QrCampaign.objects.get(name=demo.QR_CAMPAIGN)
    conversation = Conversation.objects.get(identity=identity("sbev", demo.SBEV_WECOM, "李思雨"))

    pages = {
        "inbox": (reverse("scrm:inbox"), ["李思雨", "张浩然", "阿杰"]),
        "conversation": (reverse("scrm:conversation", args=[conversation.pk]), ["瓶盖漏液"]),
        "campaigns": (reverse("scrm:qr-campaigns"), [demo.QR_CAMPAIGN]),
        "campaign": (reverse("scrm:qr-campaign", args=[campaign.pk]), [demo.QR_CAMPAIGN, "深圳市", "柠檬不萌"]),
        "ugc": (reverse("scrm:ugc-wall"), ["瓶盖漏液", "会回购"]),
        "segments": (reverse("scrm:segments"), ["扫码活动消费者（微信来源）"]),
        "coupons": (reverse("scrm:coupons"), [demo.COUPON_TEMPLATE]),
    }
    for page, (url, names) in pages.items():
        response = client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, page
        for name in names:
            assert name in html, (page, name)
    assert "孙悦" not in client.get(reverse("scrm:inbox")).content.decode()  # the school's inbox is not theirs


def test_the_school_and_the_machinery_company_see_their_inboxes(client_of):
    seed()

    school = client_of("qihang.marketing").get(reverse("scrm:inbox")).content.decode()
    assert all(name in school for name in ("孙悦", "吴凡", "小杨", "刘同学"))
    assert "李思雨" not in school
    key_accounts = client_of("sales1").get(reverse("scrm:inbox")).content.decode()
    assert "王建华" in key_accounts and "赵敏" in key_accounts


def test_the_crm_demo_tags_get_their_auto_tag_rules():
    seed()

    names = set(TagRule.objects.filter(company__code__in=["sbev", "qihang"]).values_list("name", flat=True))

    assert names == {"瓶盖漏液投诉", "扫码参与者", "咨询学费"}  # the CRM demo made 质量投诉, 扫码参与 and 意向学员


def test_the_qr_campaign_pages_show_money_as_money(client_of):
    seed()
    client = client_of("sbev.marketing")
    campaign = QrCampaign.objects.get(name=demo.QR_CAMPAIGN)

    listing = client.get(reverse("scrm:qr-campaigns")).content.decode()
    detail = client.get(reverse("scrm:qr-campaign", args=[campaign.pk])).content.decode()

    assert format_money(campaign.budget) in listing and format_money(campaign.budget) in detail
    assert format_money(campaign.prize_amount) in detail  # the red envelope per prize, with its currency
    assert f">{campaign.budget}<" not in detail  # not the bare Decimal
    template = CouponTemplate.objects.get(name=demo.COUPON_TEMPLATE)
    coupons = client.get(reverse("scrm:coupons")).content.decode()
    assert format_money(template.value) in coupons and format_money(template.min_spend) in coupons
