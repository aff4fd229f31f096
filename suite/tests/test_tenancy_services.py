"""Tenancy services: the rules they hold, including under two concurrent admins."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from suite.models import Membership, Role
from suite.services import tenancy as services
from suite.testing import TeamFactory, make_member


def test_team_references_must_stay_in_the_company(company, other_company):
    admin = make_member(company, Role.ADMIN).user
    foreign_team = TeamFactory(company=other_company)
    stranger = make_member(other_company, Role.MANAGER).user
    with pytest.raises(ValidationError) as error:
        services.team_create(company=company, name="甲", parent=foreign_team, by=admin)
    assert set(error.value.message_dict) == {"parent"}
    with pytest.raises(ValidationError) as error:
        services.team_create(company=company, name="甲", manager=stranger, by=admin)
    assert set(error.value.message_dict) == {"manager"}


def test_team_cannot_become_its_own_ancestor(company):
    admin = make_member(company, Role.ADMIN).user
    top = services.team_create(company=company, name="总部", by=admin)
    middle = services.team_create(company=company, name="华东", parent=top, by=admin)
    bottom = services.team_create(company=company, name="上海", parent=middle, by=admin)
    for new_parent in (top, bottom):  # itself, and its own grandchild
        with pytest.raises(ValidationError) as error:
            services.team_update(team=top, parent=new_parent, by=admin)
        assert set(error.value.message_dict) == {"parent"}
    services.team_update(team=bottom, parent=top, by=admin)
    bottom.refresh_from_db()
    assert bottom.parent_id == top.pk


def test_company_settings_refuse_unknown_settings_and_modules(company):
    admin = make_member(company, Role.ADMIN).user
    with pytest.raises(ValidationError):
        services.company_update_settings(company=company, code="x", by=admin)
    with pytest.raises(ValidationError):
        services.company_update_settings(company=company, enabled_modules=["crm", "mining"], by=admin)
    services.company_update_settings(company=company, enabled_modules=["crm", "erp_hr"], require_2fa=True, by=admin)
    company.refresh_from_db()
    assert (company.enabled_modules, company.require_2fa) == (["crm", "erp_hr"], True)


def test_membership_create_does_not_take_over_someone_elses_username(company, other_company):
    admin = make_member(company, Role.ADMIN).user
    existing = make_member(other_company, Role.SALES, email="wang@example.com")
    with pytest.raises(ValidationError) as error:
        services.membership_create(
            company=company, username=existing.user.username, email="attacker@example.com", role="admin", by=admin
        )
    assert set(error.value.message_dict) == {"username"}
    joined = services.membership_create(
        company=company, username=existing.user.username, email="WANG@example.com", role="sales", by=admin
    )
    assert joined.user_id == existing.user_id and joined.company_id == company.pk


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(company):
    admin = make_member(company, Role.ADMIN)
    with pytest.raises(ValidationError):
        services.membership_set_role(membership=admin, role=Role.SALES, by=admin.user)
    with pytest.raises(ValidationError):
        services.membership_deactivate(membership=admin, by=admin.user)
    second = make_member(company, Role.ADMIN)
    services.membership_set_role(membership=admin, role=Role.SALES, by=second.user)
    admin.refresh_from_db()
    assert admin.role == Role.SALES


@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin(company):
    first, second = make_member(company, Role.ADMIN), make_member(company, Role.ADMIN)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(target, by):
        try:
            barrier.wait(timeout=10)
            services.membership_set_role(membership=target, role=Role.SALES, by=by.user)
            outcomes.append("demoted")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=demote, args=pair) for pair in ((first, second), (second, first))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["demoted", "refused"]
    assert Membership.objects.filter(company=company, role=Role.ADMIN, is_active=True).count() == 1
