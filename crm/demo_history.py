"""A year of sales and service history for the machinery supplier (华东机械, ``ecm``), so the demo's dashboards,
forecast, funnel, win rates and sales cycles have something to show and each salesperson's day has work in it.

Part of ``crm/demo.py`` (the contract is in ``suite/demo.py``). What it adds:

* 18 more key and regular accounts across East and South China, each with its main contact;
* their deals over the last twelve months: older ones won or lost (with a lost reason), recent ones open at
  every stage, each with the calls and visits that moved it along (done, at the time they happened);
* the next step of every open deal as a task of its owner: some overdue, some today, some this week;
* a dozen leads of the last six weeks from the trade show, the website, referrals and cold calls, assigned by the
  company's rules and scored, some already contacted, qualified or disqualified;
* service tickets of the last two months: most answered, resolved and rated, two still open, one past its SLA;
* monthly sales targets of the two sales teams, so the forecast has a line to reach.

History is replayed through the CRM services with the demo clock (``suite.demo.demo_clock``) set to the moment
each step happened, so every timestamp, stage history row, SLA timer and the funnel's pre-aggregate agree as
if the year had been lived. The deals carry amounts by hand, not product lines: ERP makes no sales order from
a won deal without lines, so the history does not reserve today's stock for deals delivered long ago. The plan
is drawn from a random source of its own (``ctx.random``), the same on every run; every record is looked up by
its natural key (a name, a subject) before it is made, so a second run adds nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone
from pypinyin import lazy_pinyin

from crm.models import (
    Account,
    Activity,
    ActivityKind,
    Contact,
    Lead,
    LeadStatus,
    LifecycleStage,
    LostReason,
    Opportunity,
    SalesTarget,
    Ticket,
    TicketCategory,
)
from crm.services.activities import activity_complete, activity_create
from crm.services.customers import account_create, contact_create
from crm.services.leads import lead_create, lead_status_set
from crm.services.opportunities import (
    opportunity_create,
    opportunity_lose,
    opportunity_move,
    opportunity_win,
    pipeline_default_ensure,
)
from crm.services.pool import account_release, pool_rule_set
from crm.services.targets import sales_target_set
from crm.services.tickets import csat_submit, ticket_open, ticket_reply, ticket_resolve
from suite.demo import demo_clock

COMPANY = "ecm"

# name, English name, short name (for deal names), owner, province, city, industry, size, source,
# main contact (name, title, mobile)
ACCOUNTS = [
    ("无锡恒通机电有限公司", "Wuxi Hengtong Electromechanical", "无锡恒通", "sales1", "江苏省", "无锡市",
     "manufacturing", "200-999", "exhibition", ("张国栋", "设备科长", "13962340001")),
    ("常州天宇精密制造有限公司", "Changzhou Tianyu Precision", "常州天宇", "sales2", "江苏省", "常州市",
     "manufacturing", "50-199", "website", ("许文斌", "采购经理", "13962340002")),
    ("南京江北重型机械厂", "Nanjing Jiangbei Heavy Machinery", "江北重机", "sales1", "江苏省", "南京市",
     "manufacturing", "1000+", "referral", ("沈立新", "副厂长", "13962340003")),
    ("杭州新锐汽配有限公司", "Hangzhou Xinrui Auto Parts", "杭州新锐", "sales2", "浙江省", "杭州市",
     "manufacturing", "200-999", "advertising", ("方晓东", "生产经理", "13962340004")),
    ("温州瓯江阀门集团", "Wenzhou Oujiang Valve Group", "瓯江阀门", "sales2", "浙江省", "温州市",
     "manufacturing", "1000+", "exhibition", ("叶成林", "采购总监", "13962340005")),
    ("上海浦江电梯配件有限公司", "Shanghai Pujiang Elevator Parts", "浦江电梯", "sales1", "上海市", "上海市",
     "manufacturing", "200-999", "website", ("顾佳怡", "技术部经理", "13962340006")),
    ("芜湖长江船舶配套有限公司", "Wuhu Changjiang Marine Fittings", "长江船配", "sales1", "安徽省", "芜湖市",
     "manufacturing", "50-199", "cold_call", ("陶志远", "总经理", "13962340007")),
    ("青岛海瑞工程机械有限公司", "Qingdao Hairui Construction Machinery", "青岛海瑞", "sales2", "山东省",
     "青岛市", "manufacturing", "200-999", "exhibition", ("孔祥宇", "设备部部长", "13962340008")),
    ("苏州工业园区智能装备研究院", "Suzhou SIP Intelligent Equipment Institute", "苏州智装院", "sales1", "江苏省",
     "苏州市", "services", "50-199", "referral", ("钱雨桐", "实验室主任", "13962340009")),
    ("嘉兴华达物流装备有限公司", "Jiaxing Huada Logistics Equipment", "嘉兴华达", "sales2", "浙江省", "嘉兴市",
     "logistics", "50-199", "website", ("褚建明", "厂长", "13962340010")),
    ("深圳宏图精密五金有限公司", "Shenzhen Hongtu Precision Hardware", "深圳宏图", "sales3", "广东省", "深圳市",
     "manufacturing", "200-999", "exhibition", ("卫俊杰", "采购经理", "13962340011")),
    ("佛山顺联铝型材有限公司", "Foshan Shunlian Aluminium", "佛山顺联", "sales4", "广东省", "佛山市",
     "manufacturing", "200-999", "referral", ("蒋丽萍", "生产副总", "13962340012")),
    ("中山华美灯饰制造厂", "Zhongshan Huamei Lighting", "中山华美", "sales4", "广东省", "中山市",
     "manufacturing", "50-199", "cold_call", ("韩志勇", "老板", "13962340013")),
    ("珠海格锐模具有限公司", "Zhuhai Gerui Moulds", "珠海格锐", "sales3", "广东省", "珠海市",
     "manufacturing", "50-199", "website", ("杨晓军", "技术总监", "13962340014")),
    ("南宁桂盛农机有限公司", "Nanning Guisheng Agricultural Machinery", "桂盛农机", "sales3", "广西壮族自治区",
     "南宁市", "manufacturing", "200-999", "exhibition", ("朱海波", "采购部长", "13962340015")),
    ("厦门鹭岛电子设备有限公司", "Xiamen Ludao Electronic Equipment", "鹭岛电子", "sales4", "福建省", "厦门市",
     "manufacturing", "50-199", "advertising", ("秦雅琴", "设备主管", "13962340016")),
    ("惠州比亚新能源配件有限公司", "Huizhou Biya New Energy Parts", "惠州比亚", "sales3", "广东省", "惠州市",
     "energy", "1000+", "referral", ("尤振华", "项目经理", "13962340017")),
    ("长沙中联泵业有限公司", "Changsha Zhonglian Pumps", "中联泵业", "sales4", "湖南省", "长沙市",
     "manufacturing", "200-999", "website", ("何思远", "设备科长", "13962340018")),
]  # fmt: skip
# what a deal buys, and its amount range in CNY
DEAL_KINDS = [
    ("数控车床采购", 300_000, 1_200_000),
    ("立式加工中心采购", 500_000, 1_800_000),
    ("减速机年度采购", 150_000, 600_000),
    ("产线自动化改造", 800_000, 3_000_000),
    ("主轴备件年度协议", 80_000, 300_000),
    ("设备维保服务合同", 60_000, 240_000),
    ("老旧机床更新", 400_000, 1_500_000),
]
# the steps that move a deal from one stage to the next: (kind, what was done)
STEPS = [
    (ActivityKind.CALL, "需求沟通电话"),
    (ActivityKind.MEETING, "上门拜访与现场勘查"),
    (ActivityKind.MEETING, "技术方案交流"),
    (ActivityKind.CALL, "商务条款谈判"),
]
NEXT_STEPS = ["确认技术参数", "发送报价单", "约技术交流会", "跟进合同审批", "安排试切演示", "确认付款方式"]
# the open deals' next steps fall due these many days from today, in turn: overdue, today, this week
NEXT_STEP_DUE = [-2, 0, 1, 0, 3, -1, 5, 2]
# company name, person, province, source, phone, what they asked, days ago, status reached
LEADS = [
    ("扬州恒泰液压件厂", "邵先生", "江苏省", "exhibition", "18962340101", "机床展留资：询问CK6140交期", 3, ""),
    ("绍兴越达纺机厂", "姜经理", "浙江省", "website", "18962340102", "官网询价：两台立式加工中心", 5, "contacted"),
    ("", "谢工", "上海市", "website", "18962340103", "官网咨询：旧机床数控化改造", 8, ""),
    ("东莞力拓五金制品厂", "潘总", "广东省", "exhibition", "18962340104", "展会名片：减速机替换进口", 11, "qualified"),
    ("汕头潮兴玩具机械厂", "罗先生", "广东省", "cold_call", "", "电话陌拜：暂无采购计划", 14, "disqualified"),
    ("合肥鼎新机电公司", "戴经理", "安徽省", "referral", "18962340106", "老客户介绍：主轴备件", 17, "contacted"),
    ("济南重工锻压机床厂", "贾工", "山东省", "exhibition", "18962340107", "机床展留资：卧式加工中心", 21, ""),
    ("", "史女士", "江苏省", "advertising", "18962340108", "百度推广表单：要产品目录", 24, ""),
    ("江门新会五金厂", "莫老板", "广东省", "website", "18962340109", "官网询价：数控车床二手回收", 28, "disqualified"),
    ("宁波北仑港机公司", "汤经理", "浙江省", "referral", "18962340110", "宁波港机介绍：减速机框架", 33, "qualified"),
    ("昆山精锐机械有限公司", "殷先生", "江苏省", "exhibition", "18962340111", "机床展留资：产线改造", 38, "contacted"),
    ("", "龚工", "广东省", "cold_call", "18962340112", "电话陌拜：下季度有设备预算", 42, ""),
]  # fmt: skip
DISQUALIFIED_BECAUSE = "暂无采购需求"
# subject, priority, channel, category, days ago, outcome: (CSAT score, comment) | "open" | "breached"
TICKETS = [
    ("数控车床刀塔换刀卡顿", "high", "phone", "设备故障", 58, (5, "工程师第二天就到了")),
    ("加工中心安装验收预约", "normal", "email", "安装调试", 52, (4, "")),
    ("减速机漏油", "high", "phone", "设备故障", 45, (3, "来得有点晚，但修好了")),
    ("发票金额与合同不符", "normal", "email", "发票与账务", 40, (5, "")),
    ("主轴温升过高报警", "urgent", "phone", "设备故障", 33, (4, "处理专业")),
    ("新机床操作培训申请", "low", "web", "安装调试", 26, (5, "培训很细致")),
    ("数控系统参数丢失", "high", "phone", "设备故障", 19, (2, "停机两天，影响生产")),
    ("备件到货数量短缺", "normal", "email", "发票与账务", 12, (4, "")),
    ("导轨润滑泵异响", "normal", "phone", "设备故障", 4, "open"),
    ("加工精度超差，急需上门", "high", "phone", "设备故障", 2, "breached"),
]  # fmt: skip
REPLIES = {
    "设备故障": "您好，已收到报修，售后工程师将电话联系您确认故障现象并安排上门。",
    "安装调试": "您好，已为您预约工程师，时间确认后短信通知。",
    "发票与账务": "您好，财务正在核对，今天内回复您处理方案。",
}
# monthly targets of the sales teams, CNY
TARGETS = {"华东销售一组": Decimal("500000.00"), "华南销售组": Decimal("300000.00")}


@dataclass
class DealPlan:
    name: str
    account: str
    owner: str
    amount: Decimal
    created: dt.datetime
    stages: list[dt.datetime] = field(default_factory=list)  # when it reached open stage 1, 2, …
    outcome: str = "open"  # "won" | "lost" | "open"
    closed: dt.datetime | None = None
    expected_close: dt.date | None = None
    lost_reason: int = 0


def demo_email(name: str) -> str:
    """A business contact's address in the demo: the name's pinyin at a reserved example domain (RFC 2606), so
    *Send e-mail* has someone to write to and no real mailbox is ever reached."""
    return f"{''.join(lazy_pinyin(name))}@customers.example.com"


def _plan_deals(ctx, now: dt.datetime) -> list[DealPlan]:
    """Every account's deals, drawn once from the history's own random source (the same plan on every run)."""
    rng = ctx.random("crm.history")
    plans = []
    for index, row in enumerate(ACCOUNTS):
        name, _, short, owner = row[:4]
        kinds = rng.sample(DEAL_KINDS, k=1 + rng.randint(0, 2))
        for number, (what, low, high) in enumerate(kinds):
            age = rng.randint(15, 70) if number == 0 and index % 3 == 0 else rng.randint(20, 350)
            created = (now - dt.timedelta(days=age)).replace(hour=9 + rng.randint(0, 8), minute=rng.randint(0, 59))
            plan = DealPlan(
                name=f"{short} {what}",
                account=name,
                owner=owner,
                amount=Decimal(rng.randint(low // 1000, high // 1000) * 1000),
                created=created,
            )
            if age <= 75:  # recent: still open, at some stage, expected to close in the coming months
                reached = rng.randint(0, 3)
                step = max(1, age // (reached + 1))
                plan.stages = [created + dt.timedelta(days=step * (n + 1)) for n in range(reached)]
                plan.expected_close = (now + dt.timedelta(days=rng.randint(10, 110))).date()
            else:
                cycle = rng.randint(25, min(120, age - 2))
                plan.outcome = "won" if rng.random() < 0.55 else "lost"
                reached = 3 if plan.outcome == "won" else rng.randint(0, 3)
                plan.stages = [created + dt.timedelta(days=cycle * (n + 1) // (reached + 1)) for n in range(reached)]
                plan.closed = created + dt.timedelta(days=cycle)
                plan.expected_close = plan.closed.date()
                plan.lost_reason = rng.randint(0, 4)
            plans.append(plan)
    return plans


def _accounts(ctx, company, plans: list[DealPlan]) -> None:
    for name, name_en, _short, owner, province, city, industry, size, source, person in ACCOUNTS:
        user = ctx.user(owner)
        # in the CRM since a week before its first deal
        since = min(plan.created for plan in plans if plan.account == name) - dt.timedelta(days=7)
        account = Account.objects.filter(company=company, name=name, merged_into__isnull=True).first()
        created = account is None
        if created:
            with demo_clock(since):
                account = account_create(
                    company=company,
                    by=user,
                    force=True,
                    name=name,
                    name_en=name_en,
                    owner=user,
                    province=province,
                    city=city,
                    industry=industry,
                    size=size,
                    source=source,
                    lifecycle_stage=LifecycleStage.PROSPECT,  # in talks; a won deal makes it a customer
                )
        ctx.count(account, created)
        contact_name, title, phone = person
        contact = Contact.objects.filter(company=company, name=contact_name, merged_into__isnull=True).first()
        ctx.count(contact or Contact(company=company), contact is None)
        if contact is None:
            with demo_clock(since):
                contact_create(
                    company=company,
                    by=user,
                    force=True,
                    name=contact_name,
                    account=account,
                    owner=user,
                    phone=phone,
                    email=demo_email(contact_name),
                    title=title,
                    province=province,
                    city=city,
                    source=source,
                    lifecycle_stage=LifecycleStage.PROSPECT,
                )


def _done_activity(ctx, company, *, subject: str, kind: str, owner, at: dt.datetime, **about) -> None:
    if Activity.objects.filter(company=company, subject=subject).exists():
        return
    with demo_clock(at - dt.timedelta(days=1)):
        activity = activity_create(company=company, by=owner, kind=kind, subject=subject, due_at=at, **about)
    with demo_clock(at):
        activity_complete(activity=activity, by=owner, outcome="已完成", done_at=at)
    ctx.count(activity, True)


def _deal(ctx, company, plan: DealPlan, pipeline, open_stages, lost_reasons) -> Opportunity:
    user = ctx.user(plan.owner)
    account = Account.objects.get(company=company, name=plan.account, merged_into__isnull=True)
    with demo_clock(plan.created):
        opportunity = opportunity_create(
            company=company,
            by=user,
            name=plan.name,
            account=account,
            contact=account.contacts.order_by("pk").first(),
            owner=user,
            amount=plan.amount,
            expected_close_date=plan.expected_close,
            pipeline=pipeline,
        )
    for number, at in enumerate(plan.stages):
        kind, what = STEPS[number]
        _done_activity(
            ctx, company, subject=f"{plan.name}：{what}", kind=kind, owner=user, at=at, opportunity=opportunity
        )
        with demo_clock(at):
            opportunity = opportunity_move(opportunity=opportunity, stage=open_stages[number + 1], by=user)
    if plan.outcome == "won":
        _done_activity(
            ctx, company, subject=f"{plan.name}：合同签订", kind=ActivityKind.MEETING, owner=user, at=plan.closed,
            opportunity=opportunity,
        )  # fmt: skip
        with demo_clock(plan.closed):
            opportunity = opportunity_win(opportunity=opportunity, by=user)
    elif plan.outcome == "lost":
        with demo_clock(plan.closed):
            opportunity = opportunity_lose(
                opportunity=opportunity, reason=lost_reasons[plan.lost_reason], by=user, note="客户最终未采购"
            )
    return opportunity


def _deals(ctx, company, now: dt.datetime, plans: list[DealPlan]) -> None:
    pipeline = pipeline_default_ensure(company=company)
    open_stages = list(pipeline.stages.filter(is_won=False, is_lost=False).order_by("sequence", "id"))
    lost_reasons = list(LostReason.objects.filter(company=company).order_by("sort_order", "pk"))
    due = iter(NEXT_STEP_DUE * 10)
    for number, plan in enumerate(plans):
        opportunity = Opportunity.objects.filter(company=company, name=plan.name).first()
        created = opportunity is None
        if created:
            opportunity = _deal(ctx, company, plan, pipeline, open_stages, lost_reasons)
        ctx.count(opportunity, created)
        if plan.outcome != "open":
            continue
        days = next(due)  # drawn for every open deal, so the same deal gets the same day on every run
        subject = f"{plan.name}：{NEXT_STEPS[number % len(NEXT_STEPS)]}"
        if not Activity.objects.filter(company=company, subject=subject).exists():
            user = ctx.user(plan.owner)
            at = now.replace(hour=10, minute=0, second=0, microsecond=0) + dt.timedelta(days=days)
            activity = activity_create(
                company=company,
                by=user,
                kind=ActivityKind.TASK if number % 2 else ActivityKind.CALL,
                subject=subject,
                due_at=at,
                opportunity=opportunity,
                contact=opportunity.contact,
            )
            ctx.count(activity, True)


def _leads(ctx, company, now: dt.datetime) -> None:
    for company_name, person, province, source, phone, notes, days, status in LEADS:
        lead = Lead.objects.filter(company=company, name=person, notes=notes).first()
        ctx.count(lead or Lead(company=company), lead is None)
        if lead is not None:
            continue
        at = (now - dt.timedelta(days=days)).replace(hour=14, minute=30)
        with demo_clock(at):  # no owner given: the company's assignment rules pick one, the scoring rules score
            lead = lead_create(
                company=company,
                by=None,
                name=person,
                company_name=company_name,
                province=province,
                phone=phone,
                source=source,
                notes=notes,
            )
        if status:
            with demo_clock(at + dt.timedelta(days=1)):
                reason = DISQUALIFIED_BECAUSE if status == LeadStatus.DISQUALIFIED else ""
                lead_status_set(lead=lead, status=status, by=lead.owner, reason=reason)


def _tickets(ctx, company, now: dt.datetime, plans: list[DealPlan]) -> None:
    bought = sorted((plan for plan in plans if plan.outcome == "won"), key=lambda plan: plan.closed)
    for number, (subject, priority, channel, category, days, outcome) in enumerate(TICKETS):
        ticket = Ticket.objects.filter(company=company, subject=subject).first()
        ctx.count(ticket or Ticket(company=company), ticket is None)
        if ticket is not None:
            continue
        # the breached one was opened just past its resolution target; the others some hours into the day
        opened = now - dt.timedelta(days=days, hours=3 if outcome == "breached" else 0)
        # from a customer who bought from us at least a month before (the plan is the same on every run)
        customers = [plan.account for plan in bought if plan.closed < opened - dt.timedelta(days=30)]
        account_name = customers[number * 7 % len(customers)]
        account = Account.objects.get(company=company, name=account_name, merged_into__isnull=True)
        with demo_clock(opened):
            ticket = ticket_open(
                company=company,
                by=None,
                subject=subject,
                description=subject,
                account=account,
                contact=account.contacts.order_by("pk").first(),
                priority=priority,
                channel=channel,
                category=TicketCategory.objects.get(company=company, name=category),
            )
        if outcome == "breached":
            continue  # nobody answered: the SLA timer has run out
        agent = ticket.assigned_agent
        with demo_clock(opened + dt.timedelta(minutes=40)):
            ticket_reply(ticket=ticket, by=agent, body=REPLIES[category])
        if outcome == "open":
            continue
        score, comment = outcome
        # the satisfied customers' tickets were resolved well within the target, the others after it
        resolved = opened + (ticket.resolution_due_at - opened) * (0.6 if score >= 4 else 1.6)
        with demo_clock(resolved):
            done = ticket_resolve(ticket=ticket, by=agent, resolution="已上门处理，设备恢复正常")
        visit = done.follow_up
        if visit is not None and visit.due_at and visit.due_at < now:  # the follow-up call (回访) was made
            with demo_clock(visit.due_at):
                activity_complete(activity=visit, by=visit.owner, outcome=f"客户评价 {score} 分", done_at=visit.due_at)
        with demo_clock(resolved + dt.timedelta(hours=2)):
            csat_submit(token=done.survey.token, score=score, comment=comment)


def _targets(ctx, company, now: dt.datetime) -> None:
    if SalesTarget.objects.filter(company=company).exists():
        return  # set once (a later run in another month adds no months)
    first = now.date().replace(day=1)
    for team_name, amount in TARGETS.items():
        team = ctx.team(COMPANY, team_name)
        for back in range(-11, 3):
            month = _month(first, back)
            target = sales_target_set(company_id=company.pk, team=team, month=month, amount=amount)
            ctx.count(target, True)


def _month(first: dt.date, months: int) -> dt.date:
    index = first.year * 12 + first.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


# The customer pool (客户公海), with the company's rule on (60 days without follow-up): name, English name, city,
# who had it (None: never owned), days since it came into the CRM, days since its last call, and how it went —
# a note: released by hand; "idle": the rule returns it when the seed ends (``crm.demo._beat_caught_up``);
# "keep": still its owner's, back to the pool in a few days unless someone calls (My day says so).
POOL = [
    ("宁波北仑港机配件厂", "Ningbo Beilun Port Parts", "宁波市", "sales2", 150, 100, "暂无采购计划，明年再说"),
    ("绍兴柯桥纺机维修中心", "Shaoxing Keqiao Textile Machinery Service", "绍兴市", "sales1", 120, 90, "idle"),
    ("金华永康五金机械城", "Jinhua Yongkang Hardware Machinery", "金华市", None, 40, None, ""),
    ("江阴澄星液压件厂", "Jiangyin Chengxing Hydraulics", "无锡市", "sales1", 80, 55, "keep"),
]  # fmt: skip
POOL_RULE = {"is_active": True, "idle_days": 60, "max_owned": 200, "reclaim_after_days": 7}


def _pool(ctx, company, now: dt.datetime) -> None:
    from crm.models import PoolRule

    if not PoolRule.objects.filter(company=company).exists():
        rule = pool_rule_set(company=company, by=ctx.user("admin"), **POOL_RULE)
        ctx.count(rule, True)
    for name, name_en, city, owner, since_days, call_days, how in POOL:
        account = Account.objects.filter(company=company, name=name, merged_into__isnull=True).first()
        ctx.count(account or Account(company=company), account is None)
        if account is not None:
            continue
        user = ctx.user(owner) if owner else None
        with demo_clock(now - dt.timedelta(days=since_days)):
            account = account_create(
                company=company,
                by=user or ctx.user("marketing"),
                force=True,
                name=name,
                name_en=name_en,
                owner=user,  # None: a trade-show list nobody took up
                province="浙江省" if city != "无锡市" else "江苏省",
                city=city,
                industry="manufacturing",
                size="50-199",
                source="exhibition",
                lifecycle_stage=LifecycleStage.PROSPECT if user else LifecycleStage.LEAD,
            )
        if call_days is not None:
            _done_activity(
                ctx, company, subject=f"{name} 首次电话沟通", kind="call", owner=user, account=account,
                at=now - dt.timedelta(days=call_days),
            )  # fmt: skip
        if user and how not in ("idle", "keep"):
            with demo_clock(now - dt.timedelta(days=20)):
                account_release(account=account, by=user, note=how)


def seed(ctx) -> None:
    company = ctx.company(COMPANY)
    now = timezone.localtime()  # the company's working hours are local
    plans = _plan_deals(ctx, now)
    _accounts(ctx, company, plans)
    _deals(ctx, company, now, plans)
    _leads(ctx, company, now)
    _tickets(ctx, company, now, plans)
    _targets(ctx, company, now)
    _pool(ctx, company, now)
