"""@mentions are read from a note's text: by the name the shell shows or by username, the longest name first,
never inside an e-mail address, only among the company's active members."""

import pytest

from suite.models import Role
from suite.selectors import members_mentioned

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(company, member):
    return {
        "zhangwei": member(company, Role.SALES, username="zhangwei", first_name="伟", last_name="张").user,
        "zhangweiming": member(company, Role.SALES, username="zwm", first_name="伟明", last_name="张").user,
        "ann": member(company, Role.SERVICE, username="ann.lee", first_name="Ann", last_name="Lee").user,
        "anna": member(company, Role.SERVICE, username="anna", first_name="Anna", last_name="Berg").user,
    }


@pytest.mark.parametrize(
    "text,expected",
    [
        ("@张伟 请跟进这个客户", ["zhangwei"]),
        ("请@张伟明看一下", ["zhangweiming"]),  # the longest name, no space needed after a Chinese name
        ("＠张伟明 和 @zhangwei 都看看", ["zhangweiming", "zhangwei"]),  # full-width ＠ of Chinese input
        ("ask @Ann Lee and @ANNA Berg.", ["ann", "anna"]),
        ("cc @ann.lee, please", ["ann"]),
        ("@annabel is nobody here", []),  # a Latin name ends at a word's end
        ("mail zhangwei@ecm.cn or anna@ecm.cn", []),  # an e-mail address is no mention
        ("@张伟 @张伟 @zhangwei", ["zhangwei"]),  # once each
        ("no mention at all", []),
    ],
)
def test_members_are_found_by_their_name_or_username(company, people, text, expected):
    found, unclear = members_mentioned(company.pk, text)

    assert found == [people[key] for key in expected]
    assert unclear == []


def test_a_name_that_fits_several_members_is_named_back_not_guessed(company, member, people):
    member(company, Role.MANAGER, username="zhangwei2", first_name="伟", last_name="张")

    found, unclear = members_mentioned(company.pk, "@张伟 和 @zhangwei2 看看")

    assert [user.username for user in found] == ["zhangwei2"]
    assert unclear == ["张伟"]


def test_only_active_members_of_the_company_are_found(company, other_company, member, people):
    outsider = member(other_company, Role.ADMIN, username="wangfang", first_name="芳", last_name="王")
    people["anna"].memberships.filter(company=company).update(is_active=False)

    found, _unclear = members_mentioned(company.pk, "@王芳 @anna @wangfang @zhangwei")

    assert found == [people["zhangwei"]]
    assert outsider.user not in found


def test_no_query_without_an_at_sign(company, people, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert members_mentioned(company.pk, "张伟 请跟进") == ([], [])
