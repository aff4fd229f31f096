"""``manage.py seed_demo``: the demo companies, teams and logins, and a second run that adds nothing."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

from suite.demo import DEMO_PASSWORD
from suite.models import Company, Membership, Role, Team

REQUIRED_LOGINS = {
    "admin": Role.ADMIN,
    "manager": Role.MANAGER,
    "sales1": Role.SALES,
    "sales2": Role.SALES,
    "sales3": Role.SALES,
    "service": Role.SERVICE,
    "marketing": Role.MARKETING,
    "finance": Role.FINANCE,
    "warehouse": Role.WAREHOUSE,
    "production": Role.PRODUCTION,
    "hr": Role.HR,
}


def row_counts() -> dict[str, int]:
    """Rows of every table in the database (not only the ones we think of)."""
    counts = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
    return counts


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_a_second_run_adds_nothing_to_any_table():
    first_output = seed()
    after_first = row_counts()
    second_output = seed()
    after_second = row_counts()

    assert "demo data: created" in first_output
    assert "demo data: already present" in second_output
    assert after_second == after_first
    assert after_first["auth_user"] >= 30


@pytest.mark.django_db
def test_every_documented_login_has_its_role_in_the_machinery_company():
    seed()
    ecm = Company.objects.get(code="ecm")

    roles = dict(Membership.objects.filter(company=ecm).values_list("user__username", "role"))

    for username, role in REQUIRED_LOGINS.items():
        assert roles[username] == role, username
        assert get_user_model().objects.get(username=username).check_password(DEMO_PASSWORD), username
    for role in Role.values:  # several users per role
        assert list(roles.values()).count(role) >= 2, role


@pytest.mark.django_db
def test_admin_is_a_superuser_and_administers_every_demo_company():
    seed()
    admin = get_user_model().objects.get(username="admin")

    assert admin.is_superuser and admin.is_staff
    assert set(admin.memberships.values_list("company__code", "role")) == {
        ("ecm", Role.ADMIN),
        ("sbev", Role.ADMIN),
        ("qihang", Role.ADMIN),
    }
    assert not get_user_model().objects.filter(is_superuser=True).exclude(username="admin").exists()


@pytest.mark.django_db
def test_companies_are_bilingual_and_teams_have_managers_of_their_company():
    seed()

    companies = {c.code: c for c in Company.objects.all()}
    assert companies["ecm"].name == "华东机械装备有限公司"
    assert companies["ecm"].name_en == "East China Machinery Equipment Co., Ltd."
    assert companies["sbev"].name == "南方饮料集团"
    east = Team.objects.get(company=companies["ecm"], name="华东销售一组")
    assert (east.name_en, east.manager.username, east.parent.name) == ("East China Sales Team 1", "manager", "销售部")
    assert Team.objects.get(company=companies["ecm"], name="华南销售组").manager.username == "manager2"
    for team in Team.objects.select_related("manager", "company"):
        assert team.name_en, team.name
        assert team.manager.memberships.filter(company=team.company).exists(), team.name
    assert set(
        Membership.objects.filter(company=companies["ecm"], teams__name="华东销售一组").values_list(
            "user__username", flat=True
        )
    ) == {"manager", "sales1", "sales2"}


@pytest.mark.django_db
def test_beverage_users_are_not_members_of_the_machinery_company():
    seed()

    sbev_users = set(Membership.objects.filter(company__code="sbev").values_list("user__username", flat=True))
    ecm_users = set(Membership.objects.filter(company__code="ecm").values_list("user__username", flat=True))

    assert "sbev.marketing" in sbev_users
    assert sbev_users & ecm_users == {"admin"}


@pytest.mark.django_db
def test_unknown_app_is_a_clear_error():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unknown app"):
        call_command("seed_demo", "--only", "nosuchapp", stdout=StringIO())
