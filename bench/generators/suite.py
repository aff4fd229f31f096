"""Companies, teams and users at scale: the demo machinery company's shape (``suite/demo.py``) repeated.

Each bench company ``bench-0001`` … gets the demo's departments and sales teams (more sales teams as it
grows), a role mix like a machinery supplier's (mostly sales and production), and users that all share the
demo password. Written with ``bulk_create``; companies that exist already are reused, not duplicated.
"""

from __future__ import annotations

import math

from django.contrib.auth import get_user_model
from django.db import transaction

from bench.generators import GenerationContext, generator
from suite.demo import TEAMS
from suite.models import Company, Membership, Module, Role, Team

CODE_PREFIX = "bench-"

# Share of each role among a company's people (machinery supplier: sales and production heavy).
ROLE_MIX = {
    Role.ADMIN: 0.02,
    Role.MANAGER: 0.05,
    Role.SALES: 0.40,
    Role.SERVICE: 0.12,
    Role.MARKETING: 0.05,
    Role.FINANCE: 0.06,
    Role.WAREHOUSE: 0.08,
    Role.PRODUCTION: 0.18,
    Role.HR: 0.04,
    Role.PAYROLL: 0.01,
}
DEPARTMENT_OF_ROLE = {
    Role.SERVICE: "客服组",
    Role.MARKETING: "市场部",
    Role.FINANCE: "财务部",
    Role.WAREHOUSE: "仓储物流部",
    Role.PRODUCTION: "生产部",
    Role.HR: "人力资源部",
    Role.PAYROLL: "人力资源部",
}
SALES_PER_TEAM = 12
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "霞", "平", "刚",
         "桂英", "建华", "志强", "丽华", "晓东", "海燕", "文博", "思远", "雨桐", "子涵", "浩然", "欣怡"]  # fmt: skip


def role_counts(people: int) -> dict[str, int]:
    """People per role for a company of ``people`` (at least one of each role; the rest goes to sales)."""
    counts = {role: max(1, math.floor(people * share)) for role, share in ROLE_MIX.items()}
    counts[Role.SALES] += max(0, people - sum(counts.values()))
    return counts


def _load_existing(ctx: GenerationContext, company: Company) -> None:
    members: dict[str, list[Membership]] = {}
    for membership in Membership.objects.filter(company=company).select_related("user").order_by("id"):
        members.setdefault(membership.role, []).append(membership)
    ctx.members[company.id] = members
    ctx.teams[company.id] = list(Team.objects.filter(company=company).order_by("id"))


@generator(
    "suite.tenancy",
    order=0,
    sizes={
        "small": {"companies": 2, "users_per_company": 30},
        "default": {"companies": 5, "users_per_company": 200},
        "large": {"companies": 20, "users_per_company": 1000},
    },
)
def companies_teams_users(ctx: GenerationContext) -> dict[str, int]:
    User = get_user_model()
    rng = ctx.random("suite.tenancy")
    password = ctx.password_hash
    wanted = [f"{CODE_PREFIX}{n:04d}" for n in range(1, ctx.sizes["companies"] + 1)]
    existing = {c.code: c for c in Company.objects.filter(code__in=wanted)}
    written = {"suite.Company": 0, "auth.User": 0, "suite.Membership": 0, "suite.Team": 0, "suite.Membership_teams": 0}
    people = ctx.sizes["users_per_company"]

    for code in wanted:
        if code in existing:
            _load_existing(ctx, existing[code])
            ctx.companies.append(existing[code])
            continue
        with transaction.atomic():
            n = int(code.removeprefix(CODE_PREFIX))
            company = Company.objects.create(
                code=code,
                name=f"压测机械装备{n:04d}有限公司",
                name_en=f"Bench Machinery {n:04d} Co., Ltd.",
                enabled_modules=list(Module.values),
            )
            written["suite.Company"] += 1

            users, roles = [], []
            for role, count in role_counts(people).items():
                for k in range(1, count + 1):
                    users.append(
                        User(
                            username=f"{code}.{role}.{k:05d}",
                            first_name=rng.choice(GIVEN),
                            last_name=rng.choice(SURNAMES),
                            email=f"{role}{k}@{code}.bench.troika.example.com",
                            password=password,
                        )
                    )
                    roles.append(role)
            User.objects.bulk_create(users, batch_size=1000)
            memberships = Membership.objects.bulk_create(
                [Membership(user=u, company=company, role=r) for u, r in zip(users, roles, strict=True)],
                batch_size=1000,
            )
            written["auth.User"] += len(users)
            written["suite.Membership"] += len(memberships)
            by_role: dict[str, list[Membership]] = {}
            for membership in memberships:
                by_role.setdefault(membership.role, []).append(membership)

            # Departments (and the sales department) first, then the sales teams under it.
            shape = [spec for spec in TEAMS["ecm"] if spec.kind != Team.Kind.SALES]
            top = Team.objects.bulk_create(
                [
                    Team(
                        company=company,
                        name=spec.name,
                        name_en=spec.name_en,
                        kind=spec.kind,
                        manager=(by_role.get(_role_of_department(spec.name)) or by_role[Role.MANAGER])[0].user,
                    )
                    for spec in shape
                ]
            )
            sales_department = next(team for team in top if team.name == "销售部")
            managers = by_role[Role.MANAGER]
            sales_team_count = max(2, math.ceil(len(by_role[Role.SALES]) / SALES_PER_TEAM))
            sales_teams = Team.objects.bulk_create(
                [
                    Team(
                        company=company,
                        name=f"销售{k}组",
                        name_en=f"Sales Team {k}",
                        kind=Team.Kind.SALES,
                        parent=sales_department,
                        manager=managers[(k - 1) % len(managers)].user,
                    )
                    for k in range(1, sales_team_count + 1)
                ]
            )
            written["suite.Team"] += len(top) + len(sales_teams)

            department = {team.name: team for team in top}
            places = []
            for k, membership in enumerate(by_role[Role.SALES]):
                places.append((membership, sales_teams[k % len(sales_teams)]))
            for k, membership in enumerate(managers):
                places.append((membership, sales_department))
                places.append((membership, sales_teams[k % len(sales_teams)]))
            for role, name in DEPARTMENT_OF_ROLE.items():
                places.extend((membership, department[name]) for membership in by_role.get(role, []))
            through = Membership.teams.through
            through.objects.bulk_create([through(membership_id=m.id, team_id=t.id) for m, t in places], batch_size=5000)
            written["suite.Membership_teams"] += len(places)

        ctx.companies.append(company)
        ctx.members[company.id] = by_role
        ctx.teams[company.id] = [*top, *sales_teams]
    return written


def _role_of_department(name: str) -> str | None:
    for role, department in DEPARTMENT_OF_ROLE.items():
        if department == name:
            return role
    return None
