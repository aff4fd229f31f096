"""@mentions are read from a note's text: by the name the shell shows or by username, the longest name first,
never inside an e-mail address, only among the company's active members; the note boxes suggest the colleagues an
"@" being typed may mean."""

import pytest
from django.urls import reverse

from suite.models import Role
from suite.policy import Actor
from suite.selectors import members_mentioned, members_to_mention
from suite.testing import web_client

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


def test_the_note_box_suggests_colleagues_by_name_or_username(company, other_company, member, people):
    writer = member(company, Role.SERVICE, username="zhaoli", first_name="丽", last_name="赵")
    member(other_company, Role.SALES, username="zhangsan", first_name="三", last_name="张")
    client = web_client(writer)

    by_name = client.get(reverse("mention-suggest"), {"q": "张伟"}).json()["people"]
    by_username = client.get(reverse("mention-suggest"), {"q": "ANN"}).json()["people"]
    nobody = client.get(reverse("mention-suggest"), {"q": "赵"}).json()["people"]  # not oneself

    assert by_name == [
        {"name": "张伟", "username": "zhangwei", "insert": "张伟"},
        {"name": "张伟明", "username": "zwm", "insert": "张伟明"},
    ]
    assert [person["username"] for person in by_username] == ["ann.lee", "anna"]
    assert nobody == []


def test_a_shared_name_is_inserted_as_the_username(company, member, people, django_assert_num_queries):
    writer = member(company, Role.SERVICE)
    member(company, Role.MANAGER, username="zhangwei2", first_name="伟", last_name="张")

    with django_assert_num_queries(1):
        found = members_to_mention(Actor(writer), "zhangwei")

    assert [(person["username"], person["insert"]) for person in found] == [
        ("zhangwei", "zhangwei"),
        ("zhangwei2", "zhangwei2"),
    ]
