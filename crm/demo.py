"""Demo data of the CRM for the three seed stories (``/work/shared/seed``; contract in ``suite/demo.py``).

* 华东机械 (``ecm``): a machinery supplier with few, large B2B deals and a long cycle — key accounts with a
  price group, deals with lines from ERP's demo catalogue (lathes, machining centres, gearboxes), quotes sent
  and accepted, site visits, installation tickets.
* 南方饮料 (``sbev``): a beverage brand selling through e-commerce and distributors — distributor accounts,
  consumers who came through the WeChat QR campaign, a distributor order with case lines, consumer complaints.
* 启航培训 (``qihang``): a training school following up Douyin leads — leads from Douyin, advisers' calls,
  course enrolment deals (one won), a student-service ticket.

Each company has its marketing campaigns with costs and the customers they reached (the CIMT trade show and
Baidu search ads, the scan-to-win QR campaign, Douyin feed ads), so the campaign comparison has results to
compare; 合肥汽车零部件's deal (quote accepted) is won — the CRM half of the closed loop.

Runs after ERP's demo (``DEMO_AFTER``: the lines name its products). Idempotent: every record is looked up by
a natural key (a name within the company, a subject) before it is created through the CRM services.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from crm import demo_history
from crm.demo_history import demo_email
from crm.models import (
    Account,
    Activity,
    ActivityKind,
    AssignmentRule,
    Campaign,
    Contact,
    CustomFieldSet,
    Lead,
    LeadScoringRule,
    Opportunity,
    OpportunityContactRole,
    OpportunityStatus,
    Quote,
    QuoteApprovalRule,
    QuoteState,
    SlaPolicy,
    Tag,
    TagGroup,
    Ticket,
    TicketCategory,
)
from crm.models.tickets import ACTIVE_STATUSES
from crm.services import campaigns as campaign_services
from crm.services import quote_approvals
from crm.services import quotes as quote_services
from crm.services.activities import activity_create
from crm.services.custom_fields import custom_field_set_define
from crm.services.customers import account_create, account_update, contact_create, contact_update
from crm.services.leads import assignment_rule_create, lead_create, lead_rescore, lead_scoring_rule_create
from crm.services.opportunities import (
    opportunity_create,
    opportunity_move,
    opportunity_win,
    pipeline_default_ensure,
)
from crm.services.opportunity_roles import contact_role_set
from crm.services.pool import pool_sweep
from crm.services.tags import tag_create, tag_group_create
from crm.services.tickets import (
    csat_submit,
    sla_policy_set,
    ticket_assign,
    ticket_category_create,
    ticket_open,
    ticket_reply,
    ticket_resolve,
    tickets_check_sla,
)
from erp.selectors import inventory as erp_inventory

DEMO_AFTER = ("erp",)

# name, English name, owner, province, city, industry, size, source, price group
ACCOUNTS = {
    "ecm": [
        (
            "苏州精工机械有限公司",
            "Suzhou Precision Machinery",
            "sales1",
            "江苏省",
            "苏州市",
            "manufacturing",
            "200-999",
            "exhibition",
            "key_account",
        ),
        (
            "宁波港机设备有限公司",
            "Ningbo Port Machinery",
            "sales2",
            "浙江省",
            "宁波市",
            "manufacturing",
            "50-199",
            "referral",
            "",
        ),
        (
            "合肥汽车零部件有限公司",
            "Hefei Auto Parts",
            "sales1",
            "安徽省",
            "合肥市",
            "manufacturing",
            "200-999",
            "website",
            "key_account",
        ),
        (
            "广州南方重工集团",
            "Guangzhou Southern Heavy Industry",
            "sales3",
            "广东省",
            "广州市",
            "manufacturing",
            "1000+",
            "exhibition",
            "",
        ),
        (
            "东莞精密模具厂",
            "Dongguan Precision Moulds",
            "sales4",
            "广东省",
            "东莞市",
            "manufacturing",
            "10-49",
            "cold_call",
            "",
        ),
        (
            "南方重工（佛山）液压设备有限公司",
            "Southern Heavy Industry (Foshan) Hydraulics",
            "sales3",
            "广东省",
            "佛山市",
            "manufacturing",
            "200-999",
            "referral",
            "",
        ),
    ],
    "sbev": [
        (
            "华南连锁超市有限公司",
            "South China Supermarkets",
            "sbev.sales2",
            "广东省",
            "深圳市",
            "retail",
            "200-999",
            "partner",
            "distributor",
        ),
        (
            "福建闽运食品经销部",
            "Fujian Minyun Food Distribution",
            "sbev.sales2",
            "福建省",
            "厦门市",
            "retail",
            "10-49",
            "referral",
            "distributor",
        ),
    ],
    "qihang": [],
}
# Group customers: subsidiary → its parent account (上级客户)
PARENTS = {("ecm", "南方重工（佛山）液压设备有限公司"): "广州南方重工集团"}
# Tags (shared with SCRM: its auto-tag rules name them): company → [(group, English group, exclusive,
# [(tag, English tag, colour)])]; then who carries which tags (company, "account" | "contact", name, [tags])
TAGS = {
    "ecm": [
        (
            "客户等级",
            "Customer tier",
            True,
            [("战略客户", "Key account", "#b45309"), ("重点客户", "Major", "#2563eb"), ("普通客户", "Standard", "")],
        ),
        ("关注点", "Interests", False, [("关注交期", "Delivery time", "#0f766e"), ("关注价格", "Price", "#be123c")]),
    ],
    "sbev": [
        ("渠道", "Channel", False, [("重点渠道", "Key channel", "#2563eb")]),
        (
            "消费者",
            "Consumers",
            False,
            [("扫码参与", "Scanned a QR code", "#16a34a"), ("质量投诉", "Quality complaint", "#dc2626")],
        ),
    ],
    "qihang": [("学员", "Students", True, [("意向学员", "Prospective", "#f59e0b"), ("已报名", "Enrolled", "#16a34a")])],
}
TAGGED = [
    ("ecm", "account", "苏州精工机械有限公司", ["战略客户", "关注交期"]),
    ("ecm", "account", "合肥汽车零部件有限公司", ["战略客户"]),
    ("ecm", "account", "广州南方重工集团", ["重点客户", "关注交期"]),
    ("ecm", "account", "宁波港机设备有限公司", ["普通客户", "关注价格"]),
    ("ecm", "account", "东莞精密模具厂", ["普通客户", "关注价格"]),
    ("sbev", "account", "华南连锁超市有限公司", ["重点渠道"]),
    ("sbev", "contact", "李思雨", ["扫码参与", "质量投诉"]),
    ("sbev", "contact", "张浩然", ["扫码参与"]),
    ("qihang", "contact", "孙悦", ["已报名"]),
    ("qihang", "contact", "吴凡", ["意向学员"]),
]
# company, name, account (or None: B2C), owner, phone, title, source
CONTACTS = [
    ("ecm", "王建华", "苏州精工机械有限公司", "sales1", "13912345601", "采购总监", "exhibition"),
    ("ecm", "陈晓燕", "苏州精工机械有限公司", "sales1", "13912345602", "设备工程师", "exhibition"),
    ("ecm", "刘海涛", "宁波港机设备有限公司", "sales2", "13812345603", "总经理", "referral"),
    ("ecm", "赵敏", "合肥汽车零部件有限公司", "sales1", "13712345604", "生产副总", "website"),
    ("ecm", "黄志明", "广州南方重工集团", "sales3", "13612345605", "设备部部长", "exhibition"),
    ("ecm", "林小峰", "东莞精密模具厂", "sales4", "13512345606", "老板", "cold_call"),
    ("sbev", "周丽", "华南连锁超市有限公司", "sbev.sales2", "13412345607", "采购经理", "partner"),
    ("sbev", "陈伟", "福建闽运食品经销部", "sbev.sales2", "13312345608", "店主", "referral"),
    ("sbev", "李思雨", None, "sbev.ecommerce", "13212345609", "", "wechat"),
    ("sbev", "张浩然", None, "sbev.ecommerce", "13112345610", "", "wechat"),
    ("qihang", "孙悦", None, "qihang.adviser1", "15012345611", "", "douyin"),
    ("qihang", "吴凡", None, "qihang.adviser2", "15112345612", "", "douyin"),
]
# Lead scoring (company, name, field, operator, value, points): each demo lead's score and its explanation
SCORING_RULES = [
    ("ecm", "展会留资 Trade-show contact", "source", "equals", "exhibition", 35),
    ("ecm", "官网询价 Website enquiry", "source", "equals", "website", 25),
    ("ecm", "留了公司名 Company given", "company_name", "is_set", "", 10),
    ("ecm", "留了电话 Phone given", "phone", "is_set", "", 10),
    ("sbev", "扫码活动咨询 From the QR campaign", "source", "equals", "wechat", 30),
    ("sbev", "门店/经销商 A shop or distributor", "company_name", "is_set", "", 15),
    ("sbev", "留了电话 Phone given", "phone", "is_set", "", 10),
    ("qihang", "抖音留资 Douyin lead", "source", "equals", "douyin", 30),
    ("qihang", "留了电话 Phone given", "phone", "is_set", "", 20),
]
# Lead assignment (company, name, kind, matches, assignees, team, priority): tried by priority, round robin
ASSIGNMENT_RULES = [
    ("ecm", "华南客户归华南组", "by_province", ["广东", "广西", "海南"], ["sales3", "sales4"], "华南销售组", 10),
    ("ecm", "展会线索轮转", "by_source", ["exhibition"], ["sales1", "sales2"], "华东销售一组", 20),
    ("ecm", "其余线索轮转", "round_robin", [], ["sales1", "sales2", "sales3", "sales4"], None, 100),
    ("sbev", "扫码线索给电商组", "by_source", ["wechat"], ["sbev.ecommerce"], "电商运营组", 10),
    ("sbev", "其余线索给渠道组", "round_robin", [], ["sbev.sales2"], "渠道销售组", 100),
    ("qihang", "课程顾问轮转", "round_robin", [], ["qihang.adviser1", "qihang.adviser2"], "招生咨询组", 100),
]
# company, name, company name, owner, phone, source, notes
LEADS = [
    ("ecm", "郭先生", "常州恒力液压件厂", "sales2", "18912345613", "exhibition", "上海机床展留资：需要两台数控车床"),
    ("ecm", "马工", "佛山顺德家电配件厂", "sales4", "18812345614", "website", "官网询价：立式加工中心"),
    ("sbev", "何店长", "深圳便利蜂门店", "sbev.sales2", "18712345615", "wechat", "扫码赢红包活动后咨询进货"),
    ("qihang", "小杨", "", "qihang.adviser1", "17712345616", "douyin", "抖音直播间留资：想学电工证"),
    ("qihang", "陈女士", "", "qihang.adviser2", "17612345617", "douyin", "抖音短视频评论：咨询会计实操课"),
    ("qihang", "刘同学", "", "qihang.adviser1", "17512345618", "douyin", "抖音私信：周末班学费多少"),
]
# company, name, account, contact (B2C), owner, stage index (0 = first open stage), amount by hand, close in days,
# lines [(sku, quantity, discount %)], quote: "" | "draft" | "sent" | "accepted"
OPPORTUNITIES = [
    (
        "ecm",
        "苏州精工 二期车间数控车床采购",
        "苏州精工机械有限公司",
        None,
        "sales1",
        2,
        None,
        60,
        [("CNC-CK6140", 6, "5"), ("SRV-INST", 6, "0")],
        "sent",
    ),
    (
        "ecm",
        "合肥汽车零部件 加工中心扩产",
        "合肥汽车零部件有限公司",
        None,
        "sales1",
        3,
        None,
        35,
        [("VMC-850", 2, "3"), ("SPN-6140", 2, "0")],
        "accepted",
    ),
    ("ecm", "宁波港机 减速机年度框架", "宁波港机设备有限公司", None, "sales2", 1, None, 90, [("GBX-R97", 40, "8")], ""),
    ("ecm", "南方重工 产线改造项目", "广州南方重工集团", None, "sales3", 0, "2800000.00", 180, [], ""),
    ("ecm", "东莞模具厂 主轴备件", "东莞精密模具厂", None, "sales4", 2, None, 20, [("SPN-6140", 1, "0")], "draft"),
    (
        "sbev",
        "华南连锁 夏季柠檬茶铺货",
        "华南连锁超市有限公司",
        None,
        "sbev.sales2",
        2,
        None,
        30,
        [("BEV-TEA-500", 800, "0"), ("BEV-WTR-550", 1200, "2")],
        "sent",
    ),
    (
        "sbev",
        "闽运经销 首批进货",
        "福建闽运食品经销部",
        None,
        "sbev.sales2",
        1,
        None,
        15,
        [("BEV-JCE-1L", 120, "0")],
        "",
    ),
    ("qihang", "孙悦 电工证周末班报名", None, "孙悦", "qihang.adviser1", 1, "3980.00", 10, [], ""),
    ("qihang", "吴凡 会计实操就业班", None, "吴凡", "qihang.adviser2", 2, "6800.00", 14, [], ""),
]
# The buying committee (决策链) of the big lathe deal: company, deal, person, role, stance, note
COMMITTEE = [
    ("ecm", "苏州精工 二期车间数控车床采购", "王建华", "procurement", "neutral", "比价三家，关心付款条件"),
    ("ecm", "苏州精工 二期车间数控车床采购", "陈晓燕", "technical", "supporter", "试切过CK6140，认可精度"),
]
# company, subject, kind, owner, opportunity or account or contact name, due in days (None: done note), body
ACTIVITIES = [
    (
        "ecm",
        "拜访苏州精工：二期车间现场勘查",
        ActivityKind.MEETING,
        "sales1",
        "苏州精工 二期车间数控车床采购",
        3,
        "带技术工程师，确认车间承重与电源",
    ),
    ("ecm", "电话跟进合肥汽车零部件报价反馈", ActivityKind.CALL, "sales1", "合肥汽车零部件 加工中心扩产", 1, ""),
    (
        "ecm",
        "整理宁波港机历年采购量",
        ActivityKind.TASK,
        "sales2",
        "宁波港机 减速机年度框架",
        -2,
        "逾期：框架协议谈判前需要",
    ),
    (
        "ecm",
        "南方重工技术交流会纪要",
        ActivityKind.NOTE,
        "sales3",
        "南方重工 产线改造项目",
        None,
        "客户关心交期与售后响应时间",
    ),
    ("sbev", "华南连锁 陈列方案确认", ActivityKind.MEETING, "sbev.sales2", "华南连锁 夏季柠檬茶铺货", 5, ""),
    ("qihang", "回访孙悦：确认开班时间", ActivityKind.CALL, "qihang.adviser1", "孙悦 电工证周末班报名", 0, ""),
    ("qihang", "给吴凡发送课程大纲和优惠", ActivityKind.TASK, "qihang.adviser2", "吴凡 会计实操就业班", 1, ""),
]
# company, subject, account, contact, priority, channel, description
TICKETS = [
    (
        "ecm",
        "CK6140 安装后主轴异响",
        "苏州精工机械有限公司",
        "陈晓燕",
        "high",
        "phone",
        "新装车床高速运转时主轴有异响，客户要求48小时内上门",
    ),
    ("ecm", "减速机备件发票抬头错误", "宁波港机设备有限公司", "刘海涛", "normal", "email", "请重开发票"),
    ("sbev", "柠檬茶瓶盖漏液投诉", None, "李思雨", "high", "social", "小红书笔记反映瓶盖漏液，批次待确认"),
    ("qihang", "周末班调课申请", None, "孙悦", "low", "phone", "学员本周六加班，申请调到下周"),
]
# Service set-up: SLA targets in minutes (first response, resolution) per priority, and ticket categories
# (name, English name, default team: its agents take the category's tickets in turn)
SLA_TARGETS = {
    "ecm": {"urgent": (30, 240), "high": (60, 480), "normal": (240, 1440), "low": (480, 4320)},
    "sbev": {"urgent": (15, 120), "high": (30, 240), "normal": (120, 1440), "low": (480, 2880)},
    "qihang": {"high": (60, 480), "normal": (240, 1440), "low": (480, 2880)},
}
TICKET_CATEGORIES = {
    "ecm": [
        ("安装调试", "Installation", "客服组"),
        ("设备故障", "Machine fault", "客服组"),
        ("发票与账务", "Invoices and billing", "客服组"),
    ],
    "sbev": [("产品质量投诉", "Product quality", "消费者服务中心"), ("物流配送", "Delivery", "消费者服务中心")],
    "qihang": [("课程与排课", "Courses and timetable", "学员服务组")],
}
TICKET_CATEGORY_OF = {
    "CK6140 安装后主轴异响": "设备故障",
    "减速机备件发票抬头错误": "发票与账务",
    "柠檬茶瓶盖漏液投诉": "产品质量投诉",
    "周末班调课申请": "课程与排课",
}
# A ticket the demo has answered, resolved and had rated: subject, agent, reply, resolution, CSAT score, comment
RESOLVED_TICKET = (
    "ecm",
    "减速机备件发票抬头错误",
    "service",
    "您好，已核对抬头，新发票今天寄出。",
    "作废原发票，按正确抬头重开并快递",
    5,
    "处理很快，谢谢！",
)

# Marketing campaigns with their results: company, code, name, English name, channel, owner, status, budget,
# (start, end) in days from today, costs [(days from today, what, amount)],
# members [(kind, name, status, days from today)] — kind "account" | "contact" | "lead", the day the campaign
# reached it (before the leads and deals it is credited with were created)
CAMPAIGNS = [
    (
        "ecm",
        "cimt-2026",
        "2026 中国国际机床展览会（CIMT）",
        "CIMT 2026 machine tool show",
        "exhibition",
        "marketing2",
        "done",
        "180000.00",
        (-120, -115),
        [
            (-150, "展位费（特装 72㎡）", "85000.00"),
            (-118, "展台搭建与设备运输", "42000.00"),
            (-114, "展会差旅", "18600.00"),
        ],
        [
            ("account", "苏州精工机械有限公司", "converted", -118),
            ("account", "广州南方重工集团", "responded", -117),
            ("account", "合肥汽车零部件有限公司", "sent", -116),
            ("lead", "郭先生", "responded", -117),
        ],
    ),
    (
        "ecm",
        "baidu-sem-q4",
        "百度搜索推广 · 第四季度",
        "Baidu search ads, Q4",
        "search_ads",
        "marketing",
        "active",
        "30000.00",
        (-75, 15),
        [(-45, "10月 点击费用", "8450.00"), (-15, "11月 点击费用", "9800.00")],
        [
            ("account", "合肥汽车零部件有限公司", "converted", -70),
            ("account", "东莞精密模具厂", "responded", -40),
            ("lead", "马工", "responded", -12),
        ],
    ),
    (
        "sbev",
        "qr-lemon-tea",
        "扫码赢红包 · 夏季冰爽柠檬茶",
        "Scan to win: summer iced lemon tea",
        "wechat",
        "sbev.marketing",
        "done",
        "150000.00",
        (-150, -60),
        [(-155, "瓶盖二维码印刷", "28000.00"), (-100, "红包奖金池", "50000.00"), (-95, "朋友圈广告", "36000.00")],
        [
            ("contact", "李思雨", "responded", -120),
            ("contact", "张浩然", "responded", -98),
            ("lead", "何店长", "responded", -70),
            ("account", "华南连锁超市有限公司", "sent", -140),
        ],
    ),
    (
        "qihang",
        "douyin-autumn",
        "抖音信息流 · 秋季招生",
        "Douyin feed ads: autumn enrolment",
        "douyin",
        "qihang.marketing",
        "active",
        "20000.00",
        (-40, 20),
        [(-38, "巨量引擎充值", "12000.00"), (-30, "招生短视频拍摄剪辑", "3500.00")],
        [
            ("contact", "孙悦", "converted", -35),
            ("contact", "吴凡", "responded", -28),
            ("lead", "小杨", "responded", -9),
            ("lead", "陈女士", "responded", -6),
            ("lead", "刘同学", "responded", -3),
        ],
    ),
]
# deals the demo has won (the campaign comparison credits them; ERP turns each win into a sales order)
WON = [("ecm", "合肥汽车零部件 加工中心扩产", "sales1"), ("qihang", "孙悦 电工证周末班报名", "qihang.adviser1")]


def _user(ctx, username: str):
    return ctx.users.get(username)


def _price_groups(ctx, company) -> None:
    """The account custom field ``price_group``: which ERP price list (customer group) applies."""
    field_set = CustomFieldSet.objects.filter(company=company, target="account").first()
    properties = dict((field_set.schema or {}).get("properties", {})) if field_set else {}
    if "price_group" in properties:
        return
    properties["price_group"] = {
        "type": "string",
        "title": "价格组 Price group",
        "description": "ERP price list customer group",
    }
    schema = {**(field_set.schema if field_set else {"type": "object"}), "properties": properties}
    schema.pop("additionalProperties", None)
    custom_field_set_define(company=company, target="account", schema=schema)


def _accounts(ctx) -> None:
    for code, rows in ACCOUNTS.items():
        company = ctx.company(code)
        if rows:
            _price_groups(ctx, company)
        for name, name_en, owner, province, city, industry, size, source, group in rows:
            account = Account.objects.filter(company=company, name=name, merged_into__isnull=True).first()
            created = account is None
            if created:
                parent = PARENTS.get((code, name))
                account = account_create(
                    company=company,
                    by=_user(ctx, owner),
                    force=True,
                    parent=Account.objects.get(company=company, name=parent) if parent else None,
                    custom={"price_group": group} if group else None,
                    name=name,
                    name_en=name_en,
                    owner=_user(ctx, owner),
                    province=province,
                    city=city,
                    industry=industry,
                    size=size,
                    source=source,
                )
            ctx.count(account, created)


def _contacts(ctx) -> None:
    for code, name, account_name, owner, phone, title, source in CONTACTS:
        company = ctx.company(code)
        contact = Contact.objects.filter(company=company, name=name, merged_into__isnull=True).first()
        created = contact is None
        if created:
            account = Account.objects.get(company=company, name=account_name) if account_name else None
            contact = contact_create(
                company=company,
                by=_user(ctx, owner),
                force=True,
                name=name,
                account=account,
                owner=_user(ctx, owner),
                phone=phone,
                email=demo_email(name) if account_name else "",
                title=title,
                source=source,
            )
        ctx.count(contact, created)


def _tags(ctx) -> None:
    for code, groups in TAGS.items():
        company = ctx.company(code)
        for order, (group_name, group_en, exclusive, tags) in enumerate(groups):
            group = TagGroup.objects.filter(company=company, name=group_name).first()
            ctx.count(group or TagGroup(company=company), group is None)
            if group is None:
                group = tag_group_create(
                    company=company,
                    by=None,
                    name=group_name,
                    name_en=group_en,
                    is_exclusive=exclusive,
                    sort_order=order,
                )
            for name, name_en, color in tags:
                tag = Tag.objects.filter(company=company, name=name).order_by("pk").first()
                ctx.count(tag or Tag(company=company), tag is None)
                if tag is None:
                    tag_create(company=company, by=None, group=group, name=name, name_en=name_en, color=color)
    for code, kind, name, tag_names in TAGGED:
        company = ctx.company(code)
        model, update = (Account, account_update) if kind == "account" else (Contact, contact_update)
        record = model.objects.get(company=company, name=name, merged_into__isnull=True)
        if record.tags.exists():
            continue  # tagged already (by an earlier run, or by a user since)
        tags = [Tag.objects.filter(company=company, name=tag).order_by("pk").first() for tag in tag_names]
        update(**{kind: record}, by=_user(ctx, "admin"), tags=tags)


def _lead_rules(ctx) -> None:
    for code, name, field, operator, value, points in SCORING_RULES:
        company = ctx.company(code)
        rule = LeadScoringRule.objects.filter(company=company, name=name).first()
        ctx.count(rule or LeadScoringRule(company=company), rule is None)
        if rule is None:
            lead_scoring_rule_create(
                company=company, by=None, name=name, field=field, operator=operator, value=value, points=points
            )
    for code, name, kind, matches, assignees, team, priority in ASSIGNMENT_RULES:
        company = ctx.company(code)
        rule = AssignmentRule.objects.filter(company=company, name=name).first()
        ctx.count(rule or AssignmentRule(company=company), rule is None)
        if rule is None:
            assignment_rule_create(
                company=company,
                by=None,
                name=name,
                kind=kind,
                match_values=matches,
                assignees=[_user(ctx, username) for username in assignees],
                team=ctx.team(code, team) if team else None,
                priority=priority,
            )


def _leads(ctx) -> None:
    for code, name, company_name, owner, phone, source, notes in LEADS:
        company = ctx.company(code)
        lead = Lead.objects.filter(company=company, name=name, notes=notes).first()
        created = lead is None
        if created:
            lead = lead_create(
                company=company,
                by=_user(ctx, owner),
                owner=_user(ctx, owner),
                name=name,
                company_name=company_name,
                phone=phone,
                source=source,
                notes=notes,
            )
        elif lead.score == 0:  # a demo database seeded before the scoring rules: score its leads once
            lead_rescore(lead=lead)
        ctx.count(lead, created)


def _product_id(company, sku: str) -> int:
    [product] = [p for p in erp_inventory.products_for_sale(company=company, search=sku, limit=5) if p.sku == sku]
    return product.pk


def _opportunities(ctx) -> None:
    today = timezone.localdate()
    for code, name, account_name, contact_name, owner, stage_index, amount, days, lines, quote in OPPORTUNITIES:
        company = ctx.company(code)
        user = _user(ctx, owner)
        opportunity = Opportunity.objects.filter(company=company, name=name).first()
        created = opportunity is None
        if created:
            pipeline = pipeline_default_ensure(company=company)
            opportunity = opportunity_create(
                company=company,
                by=user,
                name=name,
                account=Account.objects.get(company=company, name=account_name) if account_name else None,
                contact=Contact.objects.get(company=company, name=contact_name) if contact_name else None,
                owner=user,
                amount=amount or Decimal("0"),
                expected_close_date=today + dt.timedelta(days=days),
                pipeline=pipeline,
            )
            for sku, quantity, discount in lines:
                quote_services.opportunity_line_add(
                    opportunity=opportunity,
                    by=user,
                    product_id=_product_id(company, sku),
                    quantity=Decimal(quantity),
                    discount_percent=Decimal(discount),
                )
            open_stages = list(pipeline.stages.filter(is_won=False, is_lost=False).order_by("sequence", "id"))
            if stage_index:
                opportunity = opportunity_move(opportunity=opportunity, stage=open_stages[stage_index], by=user)
        ctx.count(opportunity, created)
        if quote and not Quote.objects.filter(opportunity=opportunity).exists():
            made = quote_services.quote_create(
                opportunity=opportunity,
                by=user,
                terms="付款方式：合同签订后预付30%，发货前付清余款。\n交货地点：客户工厂，含运输与安装调试。",
            )
            ctx.count(made, True)
            if quote in (QuoteState.SENT, QuoteState.ACCEPTED):
                made = quote_services.quote_send(quote=made, by=user)
            if quote == QuoteState.ACCEPTED:
                quote_services.quote_accept(quote=made, by=user)


def _committee(ctx) -> None:
    for code, deal, person, role, stance, note in COMMITTEE:
        company = ctx.company(code)
        opportunity = Opportunity.objects.get(company=company, name=deal)
        contact = Contact.objects.get(company=company, name=person, merged_into__isnull=True)
        seated = OpportunityContactRole.objects.filter(opportunity=opportunity, contact=contact).first()
        if seated is None:
            seated = contact_role_set(
                opportunity=opportunity, contact=contact, role=role, stance=stance, note=note, by=opportunity.owner
            )
            ctx.count(seated, True)
        else:
            ctx.count(seated, False)


def _activities(ctx) -> None:
    # due in the working day (2 p.m. local), not at whatever minute the seed ran
    afternoon = timezone.localtime().replace(hour=14, minute=0, second=0, microsecond=0)
    for code, subject, kind, owner, opportunity_name, due_days, body in ACTIVITIES:
        company = ctx.company(code)
        activity = Activity.objects.filter(company=company, subject=subject).first()
        created = activity is None
        if created:
            opportunity = Opportunity.objects.get(company=company, name=opportunity_name)
            fields = {"due_at": afternoon + dt.timedelta(days=due_days)} if due_days is not None else {}
            activity = activity_create(
                company=company,
                by=_user(ctx, owner),
                kind=kind,
                subject=subject,
                body=body,
                opportunity=opportunity,
                contact=opportunity.contact,
                **fields,
            )
        ctx.count(activity, created)


def _service(ctx) -> None:
    for code, targets in SLA_TARGETS.items():
        company = ctx.company(code)
        for priority, (first_response, resolution) in targets.items():
            policy = SlaPolicy.objects.filter(company=company, priority=priority).first()
            ctx.count(policy or SlaPolicy(company=company), policy is None)
            if policy is None:
                sla_policy_set(
                    company=company,
                    by=None,
                    priority=priority,
                    first_response_minutes=first_response,
                    resolution_minutes=resolution,
                )
    for code, categories in TICKET_CATEGORIES.items():
        company = ctx.company(code)
        for order, (name, name_en, team) in enumerate(categories):
            category = TicketCategory.objects.filter(company=company, name=name).first()
            ctx.count(category or TicketCategory(company=company), category is None)
            if category is None:
                ticket_category_create(
                    company=company,
                    by=None,
                    name=name,
                    name_en=name_en,
                    default_team=ctx.team(code, team),
                    sort_order=order,
                )


def _tickets(ctx) -> None:
    for code, subject, account_name, contact_name, priority, channel, description in TICKETS:
        company = ctx.company(code)
        ticket = Ticket.objects.filter(company=company, subject=subject).first()
        created = ticket is None
        if created:
            ticket = ticket_open(
                company=company,
                by=None,
                subject=subject,
                description=description,
                account=Account.objects.get(company=company, name=account_name) if account_name else None,
                contact=Contact.objects.get(company=company, name=contact_name) if contact_name else None,
                priority=priority,
                channel=channel,
                category=TicketCategory.objects.get(company=company, name=TICKET_CATEGORY_OF[subject]),
            )
        ctx.count(ticket, created)
    code, subject, agent, reply, resolution, score, comment = RESOLVED_TICKET
    ticket = Ticket.objects.get(company=ctx.company(code), subject=subject)
    if ticket.status in ACTIVE_STATUSES:
        user = _user(ctx, agent)
        ticket_assign(ticket=ticket, by=user, agent=user)
        ticket_reply(ticket=ticket, by=user, body=reply)
        done = ticket_resolve(ticket=ticket, by=user, resolution=resolution)
        csat_submit(token=done.survey.token, score=score, comment=comment)


def _campaigns(ctx) -> None:
    today = timezone.localdate()
    now = timezone.now()
    for code, key, name, name_en, channel, owner, status, budget, (start, end), costs, members in CAMPAIGNS:
        company = ctx.company(code)
        campaign = Campaign.objects.filter(company=company, code=key).first()
        ctx.count(campaign or Campaign(company=company), campaign is None)
        if campaign is not None:
            continue
        user = _user(ctx, owner)
        campaign = campaign_services.campaign_create(
            company=company,
            by=user,
            name=name,
            name_en=name_en,
            code=key,
            channel=channel,
            status=status,
            budget=Decimal(budget),
            currency="CNY",
            start_date=today + dt.timedelta(days=start),
            end_date=today + dt.timedelta(days=end),
            owner=user,
        )
        for days, what, amount in costs:
            campaign_services.campaign_cost_add(
                campaign=campaign,
                by=user,
                incurred_on=today + dt.timedelta(days=days),
                description=what,
                amount=Decimal(amount),
            )
        for kind, record_name, member_status, days in members:
            model = {"account": Account, "contact": Contact, "lead": Lead}[kind]
            record = model.objects.get(company=company, name=record_name)
            campaign_services.campaign_member_add(
                campaign=campaign,
                by=user,
                status=member_status,
                at=now + dt.timedelta(days=days),
                **{kind: record},
            )


def _wins(ctx) -> None:
    for code, name, owner in WON:
        opportunity = Opportunity.objects.get(company=ctx.company(code), name=name)
        if opportunity.status != OpportunityStatus.WON:
            opportunity_win(opportunity=opportunity, by=_user(ctx, owner))


QUOTE_APPROVAL_RULE = {
    "is_active": True,
    "max_discount_percent": Decimal("6"),
    "admin_discount_percent": Decimal("12"),  # beyond it the sales manager's yes goes on to an admin
    "max_total": Decimal("3000000"),
}
APPROVAL_WAITS = ("ecm", "宁波港机 减速机年度框架", "sales2", "年度框架，量大；对手报价低 5%")


def _quote_approval(ctx) -> None:
    """华东机械 asks a manager's yes for discounts beyond 6 % (set after the other demo quotes, which stay as they
    are); the 宁波港机 framework quote (8 % off) waits for the sales manager's approval on their My day."""
    code, deal_name, owner, note = APPROVAL_WAITS
    company = ctx.company(code)
    if not QuoteApprovalRule.objects.filter(company=company).exists():
        ctx.count(
            quote_approvals.approval_rule_set(company=company, by=_user(ctx, "admin"), **QUOTE_APPROVAL_RULE), True
        )
    deal = Opportunity.objects.get(company=company, name=deal_name)
    if not Quote.objects.filter(opportunity=deal).exists():
        quote = quote_services.quote_create(opportunity=deal, by=_user(ctx, owner), terms="付款：月结 60 天")
        ctx.count(quote, True)
        if quote.approval == "required":
            quote_approvals.quote_approval_request(quote=quote, by=_user(ctx, owner), note=note)


# the machinery supplier's service desk: shared replies (快捷回复) its agents insert into tickets
REPLY_TEMPLATES = [
    ("安装预约", "{customer}您好，我是售后{agent}。设备安装已排期，工程师会提前一天电话确认到场时间。工单 {ticket}。"),
    ("备件发货", "{customer}您好，工单 {ticket} 所需备件已从苏州仓发出，顺丰单号稍后短信通知，预计 2 天到达。"),
    ("回访问候", "{contact}您好，我是{agent}。上次的问题处理后设备运行是否正常？有任何情况请直接回复本消息。"),
]  # fmt: skip


def _reply_templates(ctx) -> None:
    from crm.models import ReplyTemplate
    from crm.services.replies import reply_template_create
    from suite.policy import Actor

    company = ctx.company("ecm")
    admin = Actor(ctx.membership("ecm", "admin"))
    for title, body in REPLY_TEMPLATES:
        made = ReplyTemplate.objects.filter(company=company, owner__isnull=True, title=title).first()
        ctx.count(made or ReplyTemplate(company=company), made is None)
        if made is None:
            reply_template_create(company=company, actor=admin, shared=True, title=title, body=body)


def _views_and_follows(ctx) -> None:
    """The sales manager shares a saved view of the accounts list (manufacturing customers) with the company and
    follows the 宁波港机 framework deal whose quote waits for them."""
    from suite.models import Follow, SavedView
    from suite.policy import Actor
    from suite.services.follows import record_follow
    from suite.services.saved_views import saved_view_create

    company = ctx.company("ecm")
    manager = Actor(ctx.membership("ecm", "manager"))
    made = SavedView.objects.filter(company=company, owner=manager.user, name="制造业客户").first()
    ctx.count(made or SavedView(company=company), made is None)
    if made is None:
        saved_view_create(
            actor=manager,
            list_key="crm:account-list",
            name="制造业客户",
            query="stage=customer&industry=manufacturing",
            shared=True,
        )
    deal = Opportunity.objects.get(company=company, name=APPROVAL_WAITS[1])
    followed = Follow.objects.filter(company=company, user=manager.user).exists()
    ctx.count(Follow(company=company), not followed)
    if not followed:
        record_follow(actor=manager, record=deal)


def _beat_caught_up(ctx) -> None:
    """What beat's every-minute SLA sweep (``crm.tasks.tickets_check_sla``) would have done by now, so a freshly
    started suite does not begin with a burst of writes: the overdue tickets marked breached and their people
    alerted — and its hourly customer-pool sweep (``crm.tasks.pool_sweep``): accounts nobody followed up go back."""
    tickets_check_sla()
    pool_sweep()


def seed(ctx) -> None:
    """Accounts, contacts, leads, opportunities with lines and quotes, activities, tickets, marketing campaigns
    with costs and members, and two won deals of the three demo companies; then the machinery supplier's year
    of history (``crm/demo_history.py``)."""
    _accounts(ctx)
    _contacts(ctx)
    _tags(ctx)
    _lead_rules(ctx)
    _leads(ctx)
    _opportunities(ctx)
    _committee(ctx)
    _activities(ctx)
    _service(ctx)
    _tickets(ctx)
    _campaigns(ctx)
    _wins(ctx)
    _quote_approval(ctx)
    _reply_templates(ctx)
    _views_and_follows(ctx)
    demo_history.seed(ctx)
    _beat_caught_up(ctx)
