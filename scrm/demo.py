"""Demo data of SCRM for the seed stories (``/work/shared/seed``; contract in ``suite/demo.py``).

* 南方饮料 (``sbev``): the WeChat "扫码赢红包" campaign on the iced lemon tea — bottle-cap codes per sales channel,
  scans from WeChat (signed in through the Official Account) and from a phone form, prizes (a red envelope and a
  coupon each, "to pay" by finance: the demo Official Account has no WeChat Pay), one scan refused because the
  code had already won; the consumer-service WeCom inbox and the Tmall flagship store's customer service, whose
  matched senders are the CRM demo consumers (李思雨, 张浩然: phone verified by the platform → matched
  automatically); a 1-star review about leaking caps (negative UGC → the CRM opens a service ticket when the
  outbox is relayed) and a 5-star one featured on the UGC wall; consent records and a segment.
* 启航培训 (``qihang``): the school's Douyin account — private messages and video comments of the CRM demo
  contacts (孙悦 matched automatically, 吴凡 as a suggested match) and leads (小杨, 陈女士, 刘同学: their
  identities carry the phone they left, which is what a cadence finds a lead's identity by; the inbox matches
  contacts only), an adviser's reply, a negative comment; a segment.
* 华东机械 (``ecm``): the key-account managers' WeCom, with two customers of 李明 (sales1) asking about their deals.

Every write goes through the SCRM services: channels through ``channel_create``; inbound messages are stored as
deliveries (``deliveries_record``) and processed by the inbox pipeline in-process (``deliveries_process``:
identity, CRM match, conversation, message, alert, UGC, auto-tag rules), so nothing waits for a worker. CRM
records are only read, through ``crm.selectors``. The social channels are simulator channels (no network: a
reply is recorded, not sent) configured to draw nothing from the simulator's own stream (``batch`` 0), so the
beat poller adds no made-up traffic to the story; the Official Account (kind ``wechat_oa``) is only the QR
campaign's sign-in account and is never called by the seed.

Idempotent: channels, campaigns, templates, segments and rules are looked up by name, codes by their channel
label, scans by code and scanner, messages by their external id (the deliveries' dedupe), consents by contact
and channel kind (``consent_record`` returns a live one unchanged). Runs after the CRM demo (``DEMO_AFTER``):
the inbox matches senders onto its contacts.
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

from django.utils import timezone

from crm import selectors as crm_selectors
from scrm.channels.base import InboundEvent
from scrm.models import (
    Channel,
    ChannelKind,
    Consent,
    Conversation,
    CouponTemplate,
    LawfulBasis,
    Message,
    QrCampaign,
    QrCampaignKind,
    QrCampaignStatus,
    QrScan,
    Resolution,
    RuleTrigger,
    Segment,
    SocialIdentity,
    TagRule,
    UgcPost,
)
from scrm.services import campaigns as campaign_services
from scrm.services.channels import channel_create, deliveries_record
from scrm.services.consent import consent_record
from scrm.services.coupons import coupon_template_create
from scrm.services.inbox import conversation_reply, deliveries_process
from scrm.services.segments import segment_count_refresh, segment_create, tag_rule_create
from scrm.services.ugc import ugc_feature
from suite import policy
from suite.demo import demo_clock

DEMO_AFTER = ("crm",)

# The simulator's own endless stream is someone else's shop (face cream, lipstick): the demo channels take none of
# it, so a running beat poller leaves the story as it is.
SIMULATED = {"batch": 0}

SBEV_OA = "南方饮料 微信公众号"
SBEV_WECOM = "企业微信 · 消费者服务（模拟）"
SBEV_TMALL = "天猫旗舰店 · 客服（模拟）"
QIHANG_DOUYIN = "抖音 · 启航职业培训（模拟）"
ECM_WECOM = "企业微信 · 大客户经理（模拟）"
# how each platform's ids of people start (WeCom external_userid wm…, Taobao nick, Douyin open_id)
SENDER_PREFIX = {SBEV_WECOM: "wm", SBEV_TMALL: "tb", QIHANG_DOUYIN: "dy", ECM_WECOM: "wm"}

# company, name, kind, default assignee, config
CHANNELS = [
    ("sbev", SBEV_OA, ChannelKind.WECHAT_OA, "sbev.marketing", {"app_id": "wx5bev0demo0000001"}),
    ("sbev", SBEV_WECOM, ChannelKind.SIMULATOR, "sbev.service", SIMULATED),
    ("sbev", SBEV_TMALL, ChannelKind.SIMULATOR, "sbev.ecommerce", SIMULATED),
    ("qihang", QIHANG_DOUYIN, ChannelKind.SIMULATOR, "qihang.marketing", SIMULATED),
    ("ecm", ECM_WECOM, ChannelKind.SIMULATOR, "manager", SIMULATED),
]

# The people who write to the companies: key → (display name, phone, phone verified by the platform, unionid).
# The WeChat unionid is the same person on WeCom and on the Official Account (the QR campaign's sign-in).
PEOPLE = {
    "lisiyu": ("李思雨", "13212345609", True, "o6_bmLiSiYu2kq9Xv3cT0dW8zRnA"),
    "zhanghaoran": ("张浩然", "13112345610", True, "o6_bmZhangHR7pL4sYw1eQ5uKjB"),
    "ajie": ("阿杰", "", False, "o6_bmAJie0sN3fG8hM2vR6tYqPc"),
    "xiaolu": ("tb_小鹿爱喝茶", "", False, ""),
    "chen88": ("tb_陈小姐88", "", False, ""),
    "sunyue": ("孙悦", "15012345611", True, ""),
    "wufan": ("吴凡", "15112345612", False, ""),
    "xiaoyang": ("小杨", "17712345616", False, ""),
    "chennvshi": ("陈女士", "17612345617", False, ""),
    "liutongxue": ("刘同学", "17512345618", False, ""),
    "kaoshi": ("考证路上的小王", "", False, ""),
    "wangjianhua": ("王建华", "13912345601", True, ""),
    "zhaomin": ("赵敏", "13712345604", True, ""),
}

# channel, external id, person, kind, text, minutes before now, extra event fields
# kind: "message" | "comment" | "event" (a WeCom relationship event); a review is a comment with ugc_kind.
INBOUND = [
    (SBEV_WECOM, "wecom-sbev-0001", "lisiyu", "event", "", 6 * 1440, {"event": "add_external_contact"}),
    (
        SBEV_WECOM,
        "wecom-sbev-0002",
        "lisiyu",
        "message",
        "你好，我扫了柠檬茶瓶盖上的码，中了1.88元红包，但是微信里还没收到",
        6 * 1440 - 3,
        {},
    ),
    (
        SBEV_WECOM,
        "wecom-sbev-0003",
        "lisiyu",
        "message",
        "还有，上周买的那箱柠檬茶有三瓶瓶盖漏液，箱子里都黏糊糊的，能换吗？",
        2 * 1440,
        {},
    ),
    (SBEV_WECOM, "wecom-sbev-0004", "zhanghaoran", "message", "请问扫码赢红包活动到什么时候结束？", 3 * 1440, {}),
    (SBEV_WECOM, "wecom-sbev-0005", "zhanghaoran", "message", "一个人最多能中几次红包？", 3 * 1440 - 1, {}),
    (
        SBEV_WECOM,
        "wecom-sbev-0006",
        "ajie",
        "message",
        "便利店买的柠檬茶，扫码提示“该二维码已被使用”，是不是买到假货了？",
        1440 + 120,
        {},
    ),
    (
        SBEV_TMALL,
        "tmall-sbev-0001",
        "xiaolu",
        "message",
        "双十一柠檬茶整箱有满减吗？能和扫码红包一起用吗？",
        4 * 1440,
        {},
    ),
    (
        SBEV_TMALL,
        "tmall-sbev-0002",
        "zhanghaoran",
        "comment",
        "冰爽柠檬茶很好喝，酸甜刚好，扫码还中了红包，会回购！",
        5 * 1440,
        {"ugc_kind": "review", "rating": 5, "url": "https://detail.tmall.com/item.htm?id=700000000001"},
    ),
    (
        SBEV_TMALL,
        "tmall-sbev-0003",
        "chen88",
        "comment",
        "收到的柠檬茶瓶盖漏液，整箱都湿了，包装太差，非常失望，要求退货",
        20 * 60,
        {"ugc_kind": "review", "rating": 1, "url": "https://detail.tmall.com/item.htm?id=700000000001"},
    ),
    (
        QIHANG_DOUYIN,
        "douyin-qh-0001",
        "sunyue",
        "message",
        "老师好，电工证周末班下个月几号开班？需要带什么材料？",
        2 * 1440,
        {},
    ),
    (QIHANG_DOUYIN, "douyin-qh-0002", "wufan", "comment", "会计实操课学完能推荐就业吗？", 4 * 1440, {}),
    (
        QIHANG_DOUYIN,
        "douyin-qh-0003",
        "xiaoyang",
        "message",
        "直播间留了电话，想学电工证，零基础可以吗？",
        1440 - 30,
        {},
    ),
    (QIHANG_DOUYIN, "douyin-qh-0004", "chennvshi", "comment", "会计实操课多少钱？在哪里上课？", 5 * 1440, {}),
    (QIHANG_DOUYIN, "douyin-qh-0005", "liutongxue", "message", "周末班学费多少？可以分期吗？", 180, {}),
    (QIHANG_DOUYIN, "douyin-qh-0006", "kaoshi", "comment", "上次试听课老师迟到半小时，体验很差，不推荐", 3 * 1440, {}),
    (ECM_WECOM, "wecom-ecm-0001", "wangjianhua", "event", "", 9 * 1440, {"event": "add_external_contact"}),
    (
        ECM_WECOM,
        "wecom-ecm-0002",
        "wangjianhua",
        "message",
        "李经理，二期车间的6台CK6140交期能不能提前到下个月？我们产线排产比较紧。",
        1440 + 60,
        {},
    ),
    (
        ECM_WECOM,
        "wecom-ecm-0003",
        "zhaomin",
        "message",
        "加工中心安装调试需要我们提前准备什么？车间地基和电源有什么要求？",
        3 * 1440,
        {},
    ),
]

# Staff replies (recorded through the simulator, not sent anywhere), made a few minutes after the message they
# answer (the demo clock: the social dashboard's first-response times are the story's): channel, person, by,
# text, minutes before now
REPLIES = [
    (SBEV_WECOM, "lisiyu", "sbev.service", "您好，红包一般1个工作日内到账，我帮您查一下发放记录。", 6 * 1440 - 12),
    (
        SBEV_WECOM,
        "lisiyu",
        "sbev.service",
        "您好，红包会在1个工作日内发到您的微信零钱；漏液的问题已登记，请拍一下瓶身的生产批次，我们给您换新。",
        2 * 1440 - 20,
    ),
    (SBEV_WECOM, "zhanghaoran", "sbev.service", "活动到本月底结束，每人每天最多可以中3次红包哦。", 3 * 1440 - 15),
    (SBEV_TMALL, "xiaolu", "sbev.ecommerce", "亲，整箱满99减15，可以和扫码红包同时使用哦～", 4 * 1440 - 30),
    (
        QIHANG_DOUYIN,
        "sunyue",
        "qihang.adviser1",
        "孙悦你好，下月第一个周六开班，带身份证复印件和两张一寸照片就可以。",
        2 * 1440 - 25,
    ),
    (ECM_WECOM, "wangjianhua", "sales1", "王总您好，我跟生产部确认一下排产，明天下午给您答复。", 1440 + 15),
]

COUPON_TEMPLATE = "柠檬茶 满30减5元券"
QR_CAMPAIGN = "扫码赢红包 · 冰爽柠檬茶"
# channel label of a batch of bottle-cap codes, how many
CODE_BATCHES = [("华南连锁超市 · 柠檬茶瓶盖", 24), ("天猫旗舰店 · 柠檬茶瓶盖", 12), ("福建闽运经销 · 柠檬茶瓶盖", 12)]
# scanner: person key (WeChat) or phone (form), batch, code number in the batch, province, city, source, claims
SCANS = [
    ("lisiyu", 0, 0, "广东省", "深圳市", "wechat", True),
    ("zhanghaoran", 1, 0, "广东省", "广州市", "wechat", True),
    ("ajie", 0, 0, "广东省", "深圳市", "wechat", True),  # the code 李思雨 won with: refused, one prize per code
    ("ajie", 0, 3, "广东省", "深圳市", "wechat", False),
    ("tel:13600001234", 0, 5, "广东省", "东莞市", "browser", True),
    ("tel:13800005678", 2, 1, "福建省", "厦门市", "browser", False),
]
# WeChat scanners with only a nickname (consumers the CRM does not know), scanning the other codes
FANS = ["柠檬不萌", "小太阳☀", "阿文", "Kiki", "奔跑的蜗牛", "一杯冰茶", "林林", "大鹏"]
FAN_PLACES = [
    ("广东省", "深圳市"),
    ("广东省", "广州市"),
    ("广东省", "佛山市"),
    ("福建省", "厦门市"),
    ("福建省", "福州市"),
    ("广西壮族自治区", "南宁市"),
]

# company, name, description, query
SEGMENTS = [
    ("sbev", "扫码活动消费者（微信来源）", "从微信扫码赢红包活动来的消费者", {"field": "source", "in": ["wechat"]}),
    ("qihang", "抖音来源学员", "从抖音留资、已成为学员的联系人", {"field": "source", "in": ["douyin"]}),
]
# Auto-tag rules, made when the CRM has the tag (tags are the CRM's: SCRM names them by id and does not create
# them): company, rule name, tag name, trigger, keywords or behaviour
TAG_RULES = [
    ("sbev", "瓶盖漏液投诉", "质量投诉", RuleTrigger.KEYWORD, ["漏液", "漏水", "退货"]),
    ("sbev", "扫码参与者", "扫码参与", RuleTrigger.BEHAVIOUR, "scanned_qr"),
    ("qihang", "咨询学费", "意向学员", RuleTrigger.KEYWORD, ["学费", "多少钱", "分期"]),
]
# company, channel kind, source, days ago: the lawful basis of pushes to the matched consumers
CONSENTS = [
    ("sbev", ChannelKind.SIMULATOR, "企业微信添加好友时同意接收活动消息", 6),
    ("sbev", ChannelKind.WECHAT_OA, "扫码赢红包活动页勾选《个人信息授权》", 6),
]


def _count(ctx, label: str, created: int, existing: int = 0) -> None:
    if created:
        ctx.created[label] += created
    if existing:
        ctx.existing[label] += existing


def _channels(ctx) -> dict[str, Channel]:
    channels = {}
    for code, name, kind, assignee, config in CHANNELS:
        company = ctx.company(code)
        channel = Channel.objects.filter(company=company, name=name).first()
        created = channel is None
        if created:
            # Nobody posts to the demo webhooks: a random secret, not a published one.
            credentials = {"secret": secrets.token_urlsafe(24)} if kind == ChannelKind.SIMULATOR else {}
            channel = channel_create(
                company=company,
                kind=kind,
                name=name,
                credentials=credentials,
                config=dict(config),
                default_assignee=ctx.user(assignee),
            )
        ctx.count(channel, created)
        channels[name] = channel
    return channels


def _inbox(ctx, channels: dict[str, Channel]) -> None:
    """The inbound messages, as the platforms would deliver them, through the inbox pipeline."""
    now = timezone.now()
    by_channel: dict[str, list[InboundEvent]] = {}
    for channel_name, external_id, person, kind, text, minutes_ago, extra in INBOUND:
        name, phone, verified, unionid = PEOPLE[person]
        fields = dict(extra)
        by_channel.setdefault(channel_name, []).append(
            InboundEvent(
                external_id=external_id,
                sender_id=f"{SENDER_PREFIX[channel_name]}-{person}",
                kind=kind,
                event=fields.pop("event", ""),
                text=text,
                sender_name=name,
                unionid=unionid if SENDER_PREFIX[channel_name] == "wm" else "",  # WeChat's id: WeCom has it
                phone=phone,
                phone_verified=verified,
                sent_at=(now - dt.timedelta(minutes=minutes_ago)).isoformat(),
                **fields,
            )
        )
    for channel_name, events in by_channel.items():
        channel = channels[channel_name]
        new = deliveries_record(channel=channel, events=events)  # ON CONFLICT DO NOTHING: a second run stores none
        if new:
            deliveries_process(channel_id=channel.pk)
        _count(ctx, "scrm.Message", new, len(events) - new)


def _identity(company, channel: Channel, person: str) -> SocialIdentity:
    return SocialIdentity.objects.get(
        company=company, channel_kind=channel.kind, external_id=f"{SENDER_PREFIX[channel.name]}-{person}"
    )


def _replies(ctx, channels: dict[str, Channel]) -> None:
    now = timezone.now()
    for channel_name, person, username, text, minutes_ago in REPLIES:
        channel = channels[channel_name]
        conversation = Conversation.objects.get(channel=channel, identity=_identity(channel.company, channel, person))
        user = ctx.user(username)
        done = Message.objects.filter(
            conversation=conversation, direction=Message.Direction.OUT, author=user, text=text
        ).exists()
        if not done:
            with demo_clock(now - dt.timedelta(minutes=minutes_ago)):
                conversation_reply(conversation=conversation, text=text, by=user)
        _count(ctx, "scrm.Message", int(not done), int(done))


def _ugc(ctx, channels: dict[str, Channel]) -> None:
    """The 5-star review goes on the UGC wall."""
    channel = channels[SBEV_TMALL]
    post = UgcPost.objects.get(company=channel.company, channel=channel, external_id="tmall-sbev-0002")
    if not post.is_featured:
        ugc_feature(post=post)


def _qr_campaign(ctx, channels: dict[str, Channel]) -> QrCampaign:
    company = ctx.company("sbev")
    now = timezone.now()
    template = CouponTemplate.objects.filter(company=company, name=COUPON_TEMPLATE).first()
    created = template is None
    if created:
        template = coupon_template_create(
            company=company,
            name=COUPON_TEMPLATE,
            value=Decimal("5.00"),
            min_spend=Decimal("30.00"),
            valid_days=30,
            total_quantity=2000,
        )
    ctx.count(template, created)
    campaign = QrCampaign.objects.filter(company=company, name=QR_CAMPAIGN).first()
    created = campaign is None
    if created:
        campaign = campaign_services.qr_campaign_create(
            company=company,
            name=QR_CAMPAIGN,
            kind=QrCampaignKind.RED_ENVELOPE,
            status=QrCampaignStatus.ACTIVE,
            landing_title="扫码赢红包",
            landing_text="打开瓶盖扫一扫，最高赢 8.88 元微信红包，再送一张满30减5元的柠檬茶券。",
            starts_at=now - dt.timedelta(days=20),
            ends_at=now + dt.timedelta(days=40),
            prize_amount=Decimal("1.88"),
            budget=Decimal("50000.00"),
            per_person_limit=3,
            per_person_daily_limit=1,
            daily_prize_limit=5000,
            reward_template=template,
            oauth_channel=channels[SBEV_OA],
        )
    ctx.count(campaign, created)
    return campaign


def _codes(ctx, campaign: QrCampaign) -> list[list]:
    batches = []
    for label, count in CODE_BATCHES:
        codes = list(campaign.codes.filter(channel_label=label).order_by("id"))
        if not codes:
            codes = campaign_services.qr_codes_generate(campaign=campaign, count=count, channel_label=label)
            _count(ctx, "scrm.QrCode", len(codes))
        else:
            _count(ctx, "scrm.QrCode", 0, len(codes))
        batches.append(codes)
    return batches


def _scan(ctx, code, scanner: campaign_services.Scanner, source: str, claim: bool) -> None:
    if QrScan.objects.filter(code=code, scanner_key=scanner.key).exists():
        _count(ctx, "scrm.QrScan", 0, 1)
        return
    scan = campaign_services.qr_scan_record(code=code, scanner=scanner, source=source)
    _count(ctx, "scrm.QrScan", 1)
    if claim:
        result = campaign_services.qr_prize_claim(scan=scan)
        _count(ctx, "scrm.QrClaim", int(result.granted))


def _scans(ctx, campaign: QrCampaign, batches: list[list]) -> None:
    """Scans of the story's people, then of fans drawn (the same on every run) over the codes not yet used."""
    rng = ctx.random("scrm.demo")
    for who, batch, number, province, city, source, claim in SCANS:
        if who.startswith("tel:"):
            scanner = campaign_services.Scanner(phone=who[4:], province=province, city=city)
        else:
            name, _phone, _verified, unionid = PEOPLE[who]
            scanner = campaign_services.Scanner(
                openid=f"oOA-{who}", unionid=unionid, nickname=name, province=province, city=city
            )
        _scan(ctx, batches[batch][number], scanner, source, claim)
    used = {(batch, number) for _who, batch, number, *_rest in SCANS}
    free = [(b, n) for b, codes in enumerate(batches) for n in range(len(codes)) if (b, n) not in used]
    for index, nickname in enumerate(FANS):
        batch, number = free[rng.randrange(len(free))]
        free.remove((batch, number))
        province, city = FAN_PLACES[rng.randrange(len(FAN_PLACES))]
        scanner = campaign_services.Scanner(
            openid=f"oOA-fan{index:02d}", nickname=nickname, province=province, city=city
        )
        _scan(ctx, batches[batch][number], scanner, "wechat", claim=index % 3 == 0)


def _consents(ctx) -> None:
    now = timezone.now()
    for code, channel_kind, source, days_ago in CONSENTS:
        company = ctx.company(code)
        contact_ids = sorted(
            set(
                SocialIdentity.objects.filter(
                    company=company, resolution=Resolution.AUTO, crm_contact_id__isnull=False
                ).values_list("crm_contact_id", flat=True)
            )
        )
        for contact_id in contact_ids:
            live = Consent.objects.filter(
                company=company, crm_contact_id=contact_id, channel_kind=channel_kind, withdrawn_at__isnull=True
            ).first()
            if live is not None:
                ctx.count(live, False)
                continue
            consent = consent_record(
                company_id=company.pk,
                crm_contact_id=contact_id,
                channel_kind=channel_kind,
                lawful_basis=LawfulBasis.CONSENT,
                source=source,
                granted_at=now - dt.timedelta(days=days_ago),
            )
            ctx.count(consent, True)


def _tag_rules(ctx) -> None:
    """The auto-tag rules whose CRM tag exists (looked up by name through ``crm.selectors``)."""
    for code, name, tag_name, trigger, what in TAG_RULES:
        company = ctx.company(code)
        rule = TagRule.objects.filter(company=company, name=name).first()
        if rule is not None:
            ctx.count(rule, False)
            continue
        marketing = ctx.membership(code, f"{code}.marketing")
        actor = policy.actor_for(marketing.user, company)
        tag = crm_selectors.tags_visible_to(actor).filter(name=tag_name).order_by("pk").first()
        if tag is None:
            continue
        fields = {"keywords": what} if trigger == RuleTrigger.KEYWORD else {"behaviour": what}
        rule = tag_rule_create(company=company, name=name, trigger=trigger, add_tag_id=tag.pk, **fields)
        ctx.count(rule, True)


def _segments(ctx) -> None:
    for code, name, description, query in SEGMENTS:
        company = ctx.company(code)
        segment = Segment.objects.filter(company=company, name=name).first()
        created = segment is None
        if created:
            segment = segment_create(
                company=company,
                name=name,
                description=description,
                query=query,
                by=ctx.user(f"{code}.marketing"),
            )
            segment_count_refresh(segment=segment)
        ctx.count(segment, created)


def seed(ctx) -> None:
    """Channels, the inbox (identities matched onto the CRM demo's contacts, conversations, messages, replies,
    UGC), the sbev QR campaign with codes, scans and prizes, consents, segments and — when the CRM has their tags —
    auto-tag rules."""
    channels = _channels(ctx)
    _tag_rules(ctx)  # before the messages, so keyword rules see them
    _inbox(ctx, channels)
    _replies(ctx, channels)
    _ugc(ctx, channels)
    campaign = _qr_campaign(ctx, channels)
    _scans(ctx, campaign, _codes(ctx, campaign))
    _consents(ctx)
    _segments(ctx)
