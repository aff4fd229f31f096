"""Demo data of the platform: the demo companies, their teams and their users — the base every app's demo
data builds on.

``manage.py seed_demo`` imports ``<app>.demo`` of every Troika app in ``INSTALLED_APPS`` order (suite first,
then crm, scrm, erp) and calls its ``seed(ctx)`` with one shared :class:`DemoContext`, inside one transaction.
Every ``seed`` must be idempotent: look records up by a natural key (a code, a number, a name within the
company) and create only what is missing, so a second run adds nothing (``suite/tests/test_seed_demo.py``
counts the rows of every table after two runs).

The stories (``/work/shared/seed``):

* 华东机械装备有限公司 (code ``ecm``, the main company): a machinery supplier selling few, large B2B deals with a
  long sales cycle (CRM), building the machines in its own factory (ERP: production scheduling, stock,
  purchasing, finance, HR). All the short demo logins (admin, manager, sales1 …) work here.
* 南方饮料集团 (``sbev``): a beverage brand with a WeChat "扫码赢红包" (scan the QR code to win a red packet)
  campaign and e-commerce flagship stores (SCRM). A second tenant, so isolation can be seen.
* 启航职业培训学校 (``qihang``): a training school following up leads from Douyin (SCRM).

All demo users share the password ``troika-demo``; ``admin`` is a Django superuser and an administrator of every
demo company (so the company switcher has something to switch).
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db.models import Model
from django.utils import timezone

from suite.models import Company, Membership, Module, Role, Team
from suite.services.tenancy import membership_create, membership_update, team_create

DEMO_PASSWORD = "troika-demo"  # noqa: S105 - the published password of the demo logins

User = get_user_model()


@dataclass
class DemoContext:
    """What the demo modules share: the records created so far and a per-module random source."""

    companies: dict[str, Company] = field(default_factory=dict)
    users: dict[str, Model] = field(default_factory=dict)
    teams: dict[tuple[str, str], Team] = field(default_factory=dict)
    memberships: dict[tuple[str, str], Membership] = field(default_factory=dict)
    created: Counter = field(default_factory=Counter)
    existing: Counter = field(default_factory=Counter)
    _password_hash: str = ""

    def random(self, name: str) -> random.Random:
        """A random source of its own for ``name`` (e.g. ``"crm.customers"``): the same numbers on every run,
        whatever other modules drew before."""
        return random.Random(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big"))

    def count(self, obj: Model, created: bool) -> None:
        """Record a get-or-create outcome for the summary the command prints."""
        (self.created if created else self.existing)[obj._meta.label] += 1

    def company(self, code: str) -> Company:
        return self.companies[code]

    def user(self, username: str):
        return self.users[username]

    def team(self, company_code: str, name: str) -> Team:
        return self.teams[(company_code, name)]

    def membership(self, company_code: str, username: str) -> Membership:
        return self.memberships[(company_code, username)]

    def members(self, company_code: str, role: str) -> list[Membership]:
        """The demo memberships of ``company_code`` with ``role``, in a stable order."""
        return [m for (code, _), m in sorted(self.memberships.items()) if code == company_code and m.role == role]

    @property
    def password_hash(self) -> str:
        # One PBKDF2 run for all demo users instead of one each (a second apiece at Django's iteration count).
        if not self._password_hash:
            self._password_hash = make_password(DEMO_PASSWORD)
        return self._password_hash


# --------------------------------------------------------------------------- the shapes


@dataclass(frozen=True)
class CompanySpec:
    code: str
    name: str
    name_en: str
    modules: tuple[str, ...]


@dataclass(frozen=True)
class TeamSpec:
    name: str
    name_en: str
    kind: str
    manager: str | None = None
    parent: str | None = None


@dataclass(frozen=True)
class PersonSpec:
    username: str
    last_name: str
    first_name: str
    role: str
    teams: tuple[str, ...] = ()
    title: str = ""


ALL_MODULES = tuple(Module.values)

COMPANIES = [
    CompanySpec("ecm", "华东机械装备有限公司", "East China Machinery Equipment Co., Ltd.", ALL_MODULES),
    CompanySpec("sbev", "南方饮料集团", "Southern Beverage Group", (Module.CRM, Module.SCRM, Module.ERP_FINANCE)),
    CompanySpec("qihang", "启航职业培训学校", "Qihang Vocational Training School", (Module.CRM, Module.SCRM)),
]

TEAMS: dict[str, list[TeamSpec]] = {
    "ecm": [
        TeamSpec("销售部", "Sales Department", Team.Kind.DEPARTMENT, manager="manager"),
        TeamSpec("华东销售一组", "East China Sales Team 1", Team.Kind.SALES, manager="manager", parent="销售部"),
        TeamSpec("华南销售组", "South China Sales Team", Team.Kind.SALES, manager="manager2", parent="销售部"),
        TeamSpec("客服组", "Customer Service Team", Team.Kind.SERVICE, manager="service"),
        TeamSpec("市场部", "Marketing Department", Team.Kind.DEPARTMENT, manager="marketing"),
        TeamSpec("财务部", "Finance Department", Team.Kind.DEPARTMENT, manager="finance"),
        TeamSpec("仓储物流部", "Warehouse and Logistics", Team.Kind.DEPARTMENT, manager="warehouse"),
        TeamSpec("生产部", "Production Department", Team.Kind.DEPARTMENT, manager="production"),
        TeamSpec("人力资源部", "Human Resources", Team.Kind.DEPARTMENT, manager="hr"),
    ],
    "sbev": [
        TeamSpec("品牌营销部", "Brand Marketing", Team.Kind.DEPARTMENT, manager="sbev.marketing"),
        TeamSpec("电商运营组", "E-commerce Operations", Team.Kind.SALES, manager="sbev.ecommerce", parent="品牌营销部"),
        TeamSpec("渠道销售组", "Channel Sales", Team.Kind.SALES, manager="sbev.sales"),
        TeamSpec("消费者服务中心", "Consumer Service Center", Team.Kind.SERVICE, manager="sbev.service"),
    ],
    "qihang": [
        TeamSpec("招生咨询组", "Admissions Advisers", Team.Kind.SALES, manager="qihang.manager"),
        TeamSpec("新媒体运营组", "Social Media Team", Team.Kind.DEPARTMENT, manager="qihang.marketing"),
        TeamSpec("学员服务组", "Student Services", Team.Kind.SERVICE, manager="qihang.service"),
    ],
}

PEOPLE: dict[str, list[PersonSpec]] = {
    "ecm": [
        PersonSpec("admin", "赵", "建国", Role.ADMIN, title="系统管理员 IT administrator"),
        PersonSpec("itadmin", "许", "文博", Role.ADMIN, title="信息化专员 IT specialist"),
        PersonSpec("manager", "钱", "志强", Role.MANAGER, ("销售部", "华东销售一组"), "销售总监 Sales director"),
        PersonSpec("manager2", "孙", "丽华", Role.MANAGER, ("华南销售组",), "华南区经理 South China manager"),
        PersonSpec("sales1", "李", "明", Role.SALES, ("华东销售一组",), "大客户经理 Key account manager"),
        PersonSpec("sales2", "周", "婷", Role.SALES, ("华东销售一组",), "销售工程师 Sales engineer"),
        PersonSpec("sales3", "吴", "磊", Role.SALES, ("华南销售组",), "销售工程师 Sales engineer"),
        PersonSpec("sales4", "郑", "浩", Role.SALES, ("华南销售组",), "销售代表 Sales representative"),
        PersonSpec("service", "王", "芳", Role.SERVICE, ("客服组",), "客服主管 Service lead"),
        PersonSpec("service2", "冯", "静", Role.SERVICE, ("客服组",), "售后工程师 Field service engineer"),
        PersonSpec("marketing", "陈", "晨", Role.MARKETING, ("市场部",), "市场经理 Marketing manager"),
        PersonSpec("marketing2", "褚", "思远", Role.MARKETING, ("市场部",), "展会专员 Trade show specialist"),
        PersonSpec("finance", "卫", "红", Role.FINANCE, ("财务部",), "财务经理 Finance manager"),
        PersonSpec("finance2", "蒋", "丹", Role.FINANCE, ("财务部",), "会计 Accountant"),
        PersonSpec("warehouse", "沈", "涛", Role.WAREHOUSE, ("仓储物流部",), "仓库主管 Warehouse lead"),
        PersonSpec("warehouse2", "韩", "刚", Role.WAREHOUSE, ("仓储物流部",), "物流专员 Logistics clerk"),
        PersonSpec("production", "杨", "强", Role.PRODUCTION, ("生产部",), "生产经理 Production manager"),
        PersonSpec("production2", "朱", "梅", Role.PRODUCTION, ("生产部",), "计划员 Production planner"),
        PersonSpec("hr", "秦", "洋", Role.HR, ("人力资源部",), "人事经理 HR manager"),
        PersonSpec("hr2", "尤", "佳", Role.HR, ("人力资源部",), "薪酬专员 Payroll specialist"),
        PersonSpec("payroll", "许", "敏", Role.PAYROLL, ("人力资源部",), "薪酬主管 Payroll lead"),
        PersonSpec("payroll2", "施", "雯", Role.PAYROLL, ("人力资源部",), "薪酬核算 Payroll accountant"),
    ],
    "sbev": [
        PersonSpec("sbev.admin", "何", "俊", Role.ADMIN, title="系统管理员 IT administrator"),
        PersonSpec("sbev.marketing", "吕", "欣", Role.MARKETING, ("品牌营销部",), "品牌经理 Brand manager"),
        PersonSpec("sbev.ecommerce", "施", "琪", Role.SALES, ("电商运营组",), "电商运营 E-commerce operator"),
        PersonSpec("sbev.sales", "张", "伟", Role.MANAGER, ("渠道销售组",), "渠道经理 Channel manager"),
        PersonSpec("sbev.sales2", "孔", "亮", Role.SALES, ("渠道销售组",), "渠道专员 Channel sales"),
        PersonSpec("sbev.service", "曹", "颖", Role.SERVICE, ("消费者服务中心",), "客服主管 Service lead"),
        PersonSpec("sbev.finance", "严", "敏", Role.FINANCE, title="财务 Finance"),
    ],
    "qihang": [
        PersonSpec("qihang.admin", "华", "宁", Role.ADMIN, title="校长助理 Principal's assistant"),
        PersonSpec("qihang.manager", "金", "燕", Role.MANAGER, ("招生咨询组",), "招生主管 Admissions lead"),
        PersonSpec("qihang.adviser1", "魏", "晓", Role.SALES, ("招生咨询组",), "课程顾问 Course adviser"),
        PersonSpec("qihang.adviser2", "陶", "然", Role.SALES, ("招生咨询组",), "课程顾问 Course adviser"),
        PersonSpec("qihang.marketing", "姜", "楠", Role.MARKETING, ("新媒体运营组",), "抖音运营 Douyin operator"),
        PersonSpec("qihang.service", "戚", "悦", Role.SERVICE, ("学员服务组",), "班主任 Class adviser"),
    ],
}

# The superuser administers every demo company, so switching companies (and isolation) can be shown.
CROSS_MEMBERSHIPS = [("sbev", "admin", Role.ADMIN), ("qihang", "admin", Role.ADMIN)]


@contextmanager
def demo_clock(at: datetime) -> Iterator[None]:
    """Replay history: inside the block, ``django.utils.timezone.now()`` — the clock every Troika service, model
    default and ``auto_now`` field reads — returns ``at``. For the demo seeders only (one thread, one
    transaction), so a year of deals, stage changes, SLA timers and surveys can be made through the services as
    they happened; the audit trail still records the real time of the seeding (PostgreSQL's own clock)."""
    real = timezone.now
    timezone.now = lambda: at
    try:
        yield
    finally:
        timezone.now = real


def demo_email(username: str) -> str:
    return f"{username.replace('.', '-')}@demo.troika.example.com"


# --------------------------------------------------------------------------- seeding


def _ensure_company(ctx: DemoContext, spec: CompanySpec) -> Company:
    company, created = Company.objects.get_or_create(
        code=spec.code,
        defaults={"name": spec.name, "name_en": spec.name_en, "currency": "CNY", "enabled_modules": list(spec.modules)},
    )
    ctx.count(company, created)
    ctx.companies[spec.code] = company
    return company


def _ensure_user(ctx: DemoContext, spec: PersonSpec):
    user, created = User.objects.get_or_create(
        username=spec.username,
        defaults={
            "first_name": spec.first_name,
            "last_name": spec.last_name,
            "email": demo_email(spec.username),
            "password": ctx.password_hash,
            "is_staff": spec.username == "admin",
            "is_superuser": spec.username == "admin",
        },
    )
    ctx.count(user, created)
    ctx.users[spec.username] = user
    return user


def _ensure_membership(ctx: DemoContext, company: Company, user, role: str) -> Membership:
    membership = Membership.objects.filter(user=user, company=company).first()
    created = membership is None
    if created:
        membership = membership_create(
            company=company,
            username=user.username,
            email=user.email,
            role=role,
            by=None,
            first_name=user.first_name,
            last_name=user.last_name,
        )
    ctx.count(membership, created)
    ctx.memberships[(company.code, user.username)] = membership
    return membership


def _ensure_team(ctx: DemoContext, company: Company, spec: TeamSpec) -> Team:
    team = Team.objects.filter(company=company, name=spec.name).first()
    created = team is None
    if created:
        team = team_create(
            company=company,
            name=spec.name,
            name_en=spec.name_en,
            kind=spec.kind,
            parent=ctx.teams[(company.code, spec.parent)] if spec.parent else None,
            manager=ctx.users[spec.manager] if spec.manager else None,
            by=None,
        )
    ctx.count(team, created)
    ctx.teams[(company.code, spec.name)] = team
    return team


def _ensure_team_places(ctx: DemoContext, company: Company, person: PersonSpec) -> None:
    membership = ctx.memberships[(company.code, person.username)]
    wanted = {ctx.teams[(company.code, name)].pk for name in person.teams}
    have = set(membership.teams.values_list("pk", flat=True))
    if not wanted <= have:
        membership_update(membership=membership, teams=list(Team.objects.filter(pk__in=wanted | have)), by=None)


def seed(ctx: DemoContext) -> None:
    """Companies, users, memberships (role + teams) and teams with their managers, through the tenancy services
    (users and companies, which have no service of their own, directly)."""
    for company_spec in COMPANIES:
        company = _ensure_company(ctx, company_spec)
        people = PEOPLE[company_spec.code]
        for person in people:
            _ensure_membership(ctx, company, _ensure_user(ctx, person), person.role)
        for team_spec in TEAMS[company_spec.code]:
            _ensure_team(ctx, company, team_spec)
        for person in people:
            _ensure_team_places(ctx, company, person)
    for code, username, role in CROSS_MEMBERSHIPS:
        _ensure_membership(ctx, ctx.companies[code], ctx.users[username], role)
