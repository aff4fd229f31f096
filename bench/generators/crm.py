"""CRM at scale: accounts, contacts, opportunities (with their stage history) and activities, written with COPY.

Fills the first generated company (``bench-0001``, from ``suite.tenancy``): every record is owned by one of its
salespeople and carries that person's sales team, as the services would set it. Related records follow a
skewed distribution (an account drawn as ``n × r²``): most customers have a handful of deals and activities,
the first few hundreds or thousands — the big customers a 360° page must still show in a fixed time.

Values are in the services' shapes (E.164 phones, lower-case emails, ``search_text`` with the names, their full
and initial pinyin, the phone's national form and the email), built from cached pinyin of the name parts rather
than one pypinyin call per row (a call per row alone would take minutes at 100k customers).

The audit triggers are switched off for this session only (``session_replication_role = replica``, which also
skips foreign-key triggers: the rows are built consistent) — 1.6M trigger calls, each catching exceptions in a
subtransaction, would take several times the COPY — and the ``insert`` events they would have written are then
added in one ``INSERT … SELECT`` per table, so the audit tables (read by every record page's history panel) have
their production size. Running it again reuses what exists: a table already holding at least the wanted number
of rows for the company is left alone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache

from django.db import connection, transaction

from bench.generators import GenerationContext, generator
from suite.models import Membership, Role

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 2 * 365 * 24 * 3600

CITIES = [
    ("广东省", "深圳市"), ("广东省", "广州市"), ("浙江省", "杭州市"), ("江苏省", "苏州市"), ("上海市", "上海市"),
    ("北京市", "北京市"), ("四川省", "成都市"), ("湖北省", "武汉市"), ("山东省", "青岛市"), ("福建省", "厦门市"),
    ("天津市", "天津市"), ("重庆市", "重庆市"), ("河南省", "郑州市"), ("湖南省", "长沙市"), ("陕西省", "西安市"),
    ("辽宁省", "沈阳市"), ("安徽省", "合肥市"), ("江苏省", "南京市"), ("浙江省", "宁波市"), ("广东省", "东莞市"),
]  # fmt: skip
BRANDS = [
    "明远",
    "华信",
    "恒达",
    "金石",
    "宏图",
    "天成",
    "瑞丰",
    "博通",
    "新元",
    "永泰",
    "德力",
    "海川",
    "中联",
    "飞鸿",
    "国泰",
    "长城",
    "东方",
    "光华",
    "盛世",
    "远航",
    "信达",
    "安康",
    "和美",
    "启明",
    "嘉禾",
    "凯旋",
    "汇通",
    "鼎盛",
    "锦程",
    "万象",
    "正大",
    "广源",
    "立邦",
    "智远",
    "同创",
    "科瑞",
    "华美",
    "晨光",
    "力拓",
    "云帆",
]
TRADES = ["机械", "电子", "科技", "精密", "重工", "自动化", "材料", "模具", "液压", "电气", "仪器", "包装"]
SUFFIXES = ["有限公司", "股份有限公司", "制造有限公司", "实业有限公司"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "磊",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
    "刚",
    "桂英",
    "建华",
    "志强",
    "丽华",
    "晓东",
    "海燕",
    "文博",
    "思远",
    "雨桐",
    "子涵",
    "浩然",
    "欣怡",
]
PRODUCTS = [
    "数控机床",
    "注塑机",
    "激光切割机",
    "空压机",
    "输送线",
    "工业机器人",
    "检测设备",
    "备件",
    "改造项目",
    "年度维保",
]
TITLES = ["采购经理", "总经理", "设备部主管", "工程师", "财务总监", "厂长", "技术总监"]
INDUSTRIES = ["manufacturing", "manufacturing", "manufacturing", "energy", "logistics", "retail", "it"]
SIZES = ["1-9", "10-49", "50-199", "200-999", "1000+"]
SOURCES = ["website", "referral", "exhibition", "cold_call", "advertising", "wechat", "partner", "import"]
STAGES_OF_LIFE = ["lead", "prospect", "customer", "customer", "customer", "churned"]
ACTIVITY_SUBJECTS = {
    "call": ["电话回访", "报价跟进电话", "需求确认电话", "催款电话"],
    "meeting": ["上门拜访", "技术交流会", "方案汇报", "合同谈判"],
    "task": ["发送报价单", "准备技术方案", "安排样机演示", "确认交期"],
    "note": ["客户反馈", "竞品情况", "拜访纪要", "内部备注"],
}


@cache
def _pinyin(part: str) -> tuple[str, str]:
    """Full pinyin and initials of one name part, computed once per distinct part."""
    from pypinyin import Style, lazy_pinyin

    full = "".join(s.lower() for s in lazy_pinyin(part))
    initials = "".join(s[:1].lower() for s in lazy_pinyin(part, style=Style.FIRST_LETTER))
    return full, initials


def _name_keys(parts: list[str]) -> list[str]:
    """``build_search_text``'s keys of a name made of ``parts``: the name, its full pinyin, its initials."""
    pinyins = [_pinyin(p) for p in parts]
    return ["".join(parts), "".join(p[0] for p in pinyins), "".join(p[1] for p in pinyins)]


def _search_text(*keys: str) -> str:
    seen: set[str] = set()
    return " ".join(k for k in keys if k and not (k in seen or seen.add(k))).lower()


def _at(rng, *, after: datetime | None = None, within: int = SPAN_SECONDS) -> datetime:
    start = after or EPOCH
    return start + timedelta(seconds=rng.randrange(max(1, within)))


def _skewed(rng, n: int) -> int:
    """An index in [0, n) drawn so that low indexes are much more likely (the big customers)."""
    return min(n - 1, int(n * rng.random() ** 2))


def _existing(table: str, company_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE company_id = %s", [company_id])
        return cursor.fetchone()[0]


def _defaults_not_given(table: str, columns: list[str]) -> tuple[list[str], tuple]:
    """The model's NOT NULL columns that ``columns`` leaves out, with their Django defaults. Django keeps
    defaults in Python, not in the table, so a COPY that names only some columns would write NULL into a field
    added later (``Opportunity.at_risk``…): the generator then follows the model without being edited."""
    from django.apps import apps
    from django.db.models.fields import NOT_PROVIDED

    model = next(m for m in apps.get_models() if m._meta.db_table == table)
    names, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.null or field.column in columns:
            continue
        default = field.get_default()  # "" for a blank text field without a default
        if default is None and field.default is NOT_PROVIDED:
            continue  # no default: the rows must name it, and COPY says so if they do not
        names.append(field.column)
        values.append(field.get_db_prep_save(default, connection))
    return names, tuple(values)


def _copy(table: str, columns: list[str], rows) -> int:
    """COPY ``rows`` (tuples in ``columns`` order) into ``table`` on Django's connection; the number written.
    Columns the rows do not name get the model's defaults."""
    extra_columns, extra_values = _defaults_not_given(table, columns)
    n = 0
    raw = connection.connection
    names = ", ".join(columns + extra_columns)
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row + extra_values if extra_values else row)
            n += 1
    return n


def _ids(table: str, company_id: int, *columns: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id{''.join(', ' + c for c in columns)} FROM {table} WHERE company_id = %s ORDER BY id",
            [company_id],
        )
        return cursor.fetchall()


def _sales_people(company_id: int) -> list[tuple[int, int | None]]:
    """(user id, sales team id) of the company's salespeople."""
    through = Membership.teams.through
    team_of = dict(
        through.objects.filter(membership__company_id=company_id, membership__role=Role.SALES).values_list(
            "membership__user_id", "team_id"
        )
    )
    users = Membership.objects.filter(company_id=company_id, role=Role.SALES).order_by("id")
    users = users.values_list("user_id", flat=True)
    return [(user_id, team_of.get(user_id)) for user_id in users]


TRACKED = {
    "crm_account": "crm.AccountEvent",
    "crm_contact": "crm.ContactEvent",
    "crm_opportunity": "crm.OpportunityEvent",
    "crm_opportunitystagechange": "crm.OpportunityStageChangeEvent",
    "crm_activity": "crm.ActivityEvent",
}


def _columns(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = %s",
        [table],
    )
    return [row[0] for row in cursor.fetchall()]


def _insert_events(table: str, company_id: int) -> int:
    """The ``insert`` audit event of every row of ``table`` in the company that has none yet, as pghistory's
    trigger writes it (the row's tracked columns, ``pgh_obj_id``, ``pgh_label``, ``pgh_created_at``)."""
    events = f"{table}event"
    with connection.cursor() as cursor:
        tracked = [c for c in _columns(cursor, events) if not c.startswith("pgh_")]
        present = set(_columns(cursor, table))
        columns = [c for c in tracked if c in present]
        names = ", ".join(f'"{c}"' for c in columns)
        values = ", ".join(f't."{c}"' for c in columns)
        cursor.execute(
            f"INSERT INTO {events} ({names}, pgh_created_at, pgh_label, pgh_obj_id) "
            f"SELECT {values}, t.created_at, 'insert', t.id FROM {table} t WHERE t.company_id = %s "
            f"AND NOT EXISTS (SELECT 1 FROM {events} e WHERE e.pgh_obj_id = t.id AND e.pgh_label = 'insert')",
            [company_id],
        )
        return cursor.rowcount


@generator(
    "crm.customers",
    order=20,
    sizes={
        "small": {"crm_accounts": 1_000, "crm_contacts": 3_000, "crm_opportunities": 2_000, "crm_activities": 10_000},
        "default": {
            "crm_accounts": 10_000,
            "crm_contacts": 30_000,
            "crm_opportunities": 20_000,
            "crm_activities": 100_000,
        },
        "large": {
            "crm_accounts": 100_000,
            "crm_contacts": 300_000,
            "crm_opportunities": 200_000,
            "crm_activities": 1_000_000,
        },
    },
)
def crm_customers(ctx: GenerationContext) -> dict[str, int]:
    from crm.models import LostReason
    from crm.services.opportunities import pipeline_default_ensure

    company = ctx.companies[0]
    rng = ctx.random("crm.customers")
    sizes = ctx.sizes
    people = _sales_people(company.id)
    written = {
        "crm.Account": 0,
        "crm.Contact": 0,
        "crm.Opportunity": 0,
        "crm.OpportunityStageChange": 0,
        "crm.Activity": 0,
    }
    with transaction.atomic():
        pipeline = pipeline_default_ensure(company=company)
    stages = list(pipeline.stages.order_by("sequence", "id"))
    open_stages = [s for s in stages if not (s.is_won or s.is_lost)]
    won = next(s for s in stages if s.is_won)
    lost = next(s for s in stages if s.is_lost)
    reason_ids = list(LostReason.objects.filter(company=company).values_list("id", flat=True))
    empty = json.dumps({})
    cid = company.id

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("SET LOCAL synchronous_commit = off")

        # ---- accounts
        have = _existing("crm_account", cid)
        if have < sizes["crm_accounts"]:

            def account_rows():
                for k in range(have, sizes["crm_accounts"]):
                    province, city = CITIES[rng.randrange(len(CITIES))]
                    parts = [city.removesuffix("市"), rng.choice(BRANDS), rng.choice(TRADES), rng.choice(SUFFIXES)]
                    name = "".join(parts[:3]) + f"{k % 97 or ''}" + parts[3]
                    keys = _name_keys(parts[:3])
                    phone_national = f"1{rng.choice('3589')}{k:09d}"
                    email = f"sales{k}@acct{k}.example.com"
                    owner, team = people[k % len(people)]
                    created = _at(rng)
                    yield (
                        cid, created, _at(rng, after=created, within=3600 * 24 * 90), owner, team, name, "",
                        "+86" + phone_national, email, "", province, city, "", f"{city}工业园{k % 300}号",
                        rng.choice(SOURCES),
                        rng.choice(STAGES_OF_LIFE), Decimal(rng.randrange(0, 500)) * 1000, empty,
                        _search_text(name.lower(), *keys[1:], "+86" + phone_national, phone_national, email),
                        rng.choice(INDUSTRIES), rng.choice(SIZES), "", "",
                    )  # fmt: skip

            written["crm.Account"] = _copy(
                "crm_account",
                ["company_id", "created_at", "updated_at", "owner_id", "team_id", "name", "name_en", "phone", "email",
                 "wechat_id", "province", "city", "district", "address", "source", "lifecycle_stage", "credit_limit",
                 "custom", "search_text", "industry", "size", "website", "tax_id"],
                account_rows(),
            )  # fmt: skip
        accounts = _ids("crm_account", cid, "owner_id", "team_id", "name")

        # ---- contacts (90 % at an account, the rest B2C)
        have = _existing("crm_contact", cid)
        if have < sizes["crm_contacts"]:

            def contact_rows():
                for k in range(have, sizes["crm_contacts"]):
                    surname, given = rng.choice(SURNAMES), rng.choice(GIVEN)
                    name = surname + given
                    keys = _name_keys([surname, given])
                    phone_national = f"1{rng.choice('67')}{k:09d}"
                    email = f"c{k}@people.example.com"
                    if rng.random() < 0.9:
                        account_id, owner, team, _ = accounts[_skewed(rng, len(accounts))]
                    else:
                        account_id, (owner, team) = None, people[k % len(people)]
                    province, city = CITIES[rng.randrange(len(CITIES))]
                    created = _at(rng)
                    yield (
                        cid, created, _at(rng, after=created, within=3600 * 24 * 90), owner, team, name, "",
                        "+86" + phone_national, email, "", province, city, "", "", rng.choice(SOURCES),
                        rng.choice(STAGES_OF_LIFE), Decimal(0), empty,
                        _search_text(*keys, "+86" + phone_national, phone_national, email),
                        account_id, "", rng.choice(TITLES), "", "",
                    )  # fmt: skip

            written["crm.Contact"] = _copy(
                "crm_contact",
                ["company_id", "created_at", "updated_at", "owner_id", "team_id", "name", "name_en", "phone", "email",
                 "wechat_id", "province", "city", "district", "address", "source", "lifecycle_stage", "credit_limit",
                 "custom", "search_text", "account_id", "gender", "title", "department", "unionid"],
                contact_rows(),
            )  # fmt: skip
        contacts = _ids("crm_contact", cid, "account_id", "owner_id", "team_id")

        # ---- opportunities (80 % of an account, 20 % of a contact), their first stage row and the closing one
        have = _existing("crm_opportunity", cid)
        if have < sizes["crm_opportunities"]:
            history: list[tuple] = []

            def opportunity_rows():
                for k in range(have, sizes["crm_opportunities"]):
                    product = rng.choice(PRODUCTS)
                    if rng.random() < 0.8:
                        account_id, owner, team, account_name = accounts[_skewed(rng, len(accounts))]
                        contact_id = None
                        customer_key = account_name.lower()
                    else:
                        contact_id, account_id, owner, team = contacts[_skewed(rng, len(contacts))]
                        customer_key = ""
                    name = f"{product}{k}"
                    created = _at(rng)
                    roll = rng.random()
                    if roll < 0.6:
                        stage, status, closed, reason = rng.choice(open_stages), "open", None, None
                    elif roll < 0.85:
                        stage, status, reason = won, "won", None
                        closed = _at(rng, after=created, within=3600 * 24 * 120)
                    else:
                        stage, status, reason = lost, "lost", rng.choice(reason_ids)
                        closed = _at(rng, after=created, within=3600 * 24 * 120)
                    entered = closed or _at(rng, after=created, within=3600 * 24 * 30)
                    amount = Decimal(rng.randrange(10, 50_000)) * 100
                    history.append((created, open_stages[0].id, stage.id, amount, stage.probability, owner, entered))
                    keys = _name_keys([product])
                    yield (
                        cid, created, entered, owner, team, name, stage.id, status, account_id, contact_id, None,
                        amount, "CNY", (created + timedelta(days=rng.randrange(10, 200))).date(), entered, closed,
                        reason, "", "", empty, _search_text(name, keys[1] + str(k), customer_key),
                    )  # fmt: skip

            written["crm.Opportunity"] = _copy(
                "crm_opportunity",
                ["company_id", "created_at", "updated_at", "owner_id", "team_id", "name", "stage_id", "status",
                 "account_id", "contact_id", "lead_id", "amount", "currency", "expected_close_date",
                 "stage_entered_at", "closed_at", "lost_reason_id", "lost_note", "description", "custom",
                 "search_text"],
                opportunity_rows(),
            )  # fmt: skip
            new_ids = [row[0] for row in _ids("crm_opportunity", cid)][have:]

            first_probability = open_stages[0].probability

            def change_rows():
                for opportunity_id, (created, first, last, amount, probability, owner, entered) in zip(
                    new_ids, history, strict=True
                ):
                    yield (cid, created, created, opportunity_id, None, first, created, owner, amount,
                           first_probability, None)  # fmt: skip
                    if last != first:
                        seconds = int((entered - created).total_seconds())
                        yield (cid, entered, entered, opportunity_id, first, last, entered, owner, amount, probability,
                               seconds)  # fmt: skip

            written["crm.OpportunityStageChange"] = _copy(
                "crm_opportunitystagechange",
                ["company_id", "created_at", "updated_at", "opportunity_id", "from_stage_id", "to_stage_id",
                 "changed_at", "changed_by_id", "amount", "probability", "seconds_in_from_stage"],
                change_rows(),
            )  # fmt: skip
            # the sales funnel's pre-aggregate, which the services keep per write: rebuilt from the history
            from crm.services.funnel import funnel_reach_rebuild

            funnel_reach_rebuild(company_id=cid)
        opportunities = _ids("crm_opportunity", cid, "account_id", "contact_id", "owner_id", "team_id")

        # ---- activities: half on an account, a quarter on a contact (and its account), a quarter on a deal
        have = _existing("crm_activity", cid)
        if have < sizes["crm_activities"]:
            now = datetime.now(UTC)

            def activity_rows():
                kinds = list(ACTIVITY_SUBJECTS)
                for _k in range(have, sizes["crm_activities"]):
                    roll = rng.random()
                    opportunity_id = contact_id = None
                    if roll < 0.5:
                        account_id, owner, team, _ = accounts[_skewed(rng, len(accounts))]
                    elif roll < 0.75:
                        contact_id, account_id, owner, team = contacts[_skewed(rng, len(contacts))]
                    else:
                        opportunity_id, account_id, contact_id, owner, team = opportunities[
                            _skewed(rng, len(opportunities))
                        ]
                    kind = kinds[rng.randrange(4)]
                    created = _at(rng)
                    due = done = None
                    if kind == "note":
                        done = created
                    elif kind == "task" and rng.random() < 0.3:
                        due = now + timedelta(hours=rng.randrange(-24 * 14, 24 * 30))
                    else:
                        due = created + timedelta(days=rng.randrange(0, 7))
                        done = due if due < now else None
                    yield (
                        cid, created, done or created, owner, team, kind, rng.choice(ACTIVITY_SUBJECTS[kind]), "",
                        due, done, 30 if kind in ("call", "meeting") else None, "", "", account_id, contact_id, None,
                        opportunity_id,
                    )  # fmt: skip

            written["crm.Activity"] = _copy(
                "crm_activity",
                ["company_id", "created_at", "updated_at", "owner_id", "team_id", "kind", "subject", "body", "due_at",
                 "done_at", "duration_minutes", "location", "outcome", "account_id", "contact_id", "lead_id",
                 "opportunity_id"],
                activity_rows(),
            )  # fmt: skip
        # ---- the audit rows the insert triggers would have written, set-based (one INSERT … SELECT per table)
        if any(written.values()):
            for table, label in TRACKED.items():
                written[label] = _insert_events(table, cid)
    if any(written.values()):
        with connection.cursor() as cursor:
            for table in TRACKED:
                cursor.execute(f"ANALYZE {table}")
    ctx.shared["crm.customers"] = {"company": company, "pipeline": pipeline}
    return written
