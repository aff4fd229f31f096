"""The opportunity of a detail route read by ``selectors.opportunity_visible_to`` (compiled and planned once,
``suite.prepared``): the same row, joins and scope as ``opportunities_visible_to``, the same 404s."""

import pytest

from crm import selectors
from crm.models import OpportunityStatus
from crm.services.opportunities import opportunity_create, opportunity_win
from crm.tests.factories import AccountFactory
from suite.api.throttling import clear_throttles
from suite.models import Role
from suite.policy import Actor

pytestmark = pytest.mark.django_db

OPPORTUNITIES = "/api/v1/crm/opportunities/"
JOINED = ("stage", "account", "contact", "owner", "team", "lost_reason")


@pytest.fixture(autouse=True)
def _no_throttle():
    clear_throttles()


@pytest.fixture
def people(company, member, team):
    other_team = team.__class__.objects.create(company=company, name="华南销售组")
    return {
        "sales": member(company, Role.SALES, teams=[team], username="xs_sales"),
        "teammate": member(company, Role.SALES, teams=[team], username="xs_teammate"),
        "stranger": member(company, Role.SALES, teams=[other_team], username="xs_stranger"),
        "manager": member(company, Role.MANAGER, teams=[team], username="xs_manager"),
        "admin": member(company, Role.ADMIN, username="xs_admin"),
    }


def _deal(company, owner, name):
    account = AccountFactory(company=company, by=owner.user, name=f"{name}客户有限公司")
    return opportunity_create(company=company, by=owner.user, name=name, account=account, amount="1200.50")


def test_the_prepared_read_is_the_scoped_querysets_row_for_every_role(company, other_company, member, people):
    deals = [_deal(company, people[who], f"商机{who}") for who in ("sales", "teammate", "stranger")]
    elsewhere = _deal(other_company, member(other_company, Role.ADMIN, username="xs_elsewhere"), "别家商机")
    for membership in people.values():
        actor = Actor(membership)
        for deal in [*deals, elsewhere]:
            expected = selectors.opportunities_visible_to(actor).filter(pk=deal.pk).first()
            found = selectors.opportunity_visible_to(actor, deal.pk)
            if expected is None:
                assert found is None, (membership.user.username, deal.name)
                continue
            assert found is not None, (membership.user.username, deal.name)
            for field in type(expected)._meta.concrete_fields:
                assert getattr(found, field.attname) == getattr(expected, field.attname)
            for name in JOINED:
                assert getattr(found, name) == getattr(expected, name)
            assert found.stage.pipeline == expected.stage.pipeline
    # the sales person sees their own deal only; the manager their team's; the admin the company's
    visible = {
        who: {d.name for d in [*deals, elsewhere] if selectors.opportunity_visible_to(Actor(m), d.pk)}
        for who, m in people.items()
    }
    assert visible["sales"] == {"商机sales"} and visible["stranger"] == {"商机stranger"}
    assert visible["manager"] == {"商机sales", "商机teammate"}
    assert visible["admin"] == {"商机sales", "商机teammate", "商机stranger"}
    assert selectors.opportunity_visible_to(None, deals[0].pk) is None
    assert selectors.opportunity_visible_to(Actor(people["admin"]), 2**63) is None


def test_the_win_route_reads_through_the_scope_and_answers_404_outside_it(api_client, company, people):
    mine, theirs = _deal(company, people["sales"], "我的商机"), _deal(company, people["stranger"], "别人的商机")
    client = api_client(people["sales"], token=True)
    assert client.post(f"{OPPORTUNITIES}{theirs.pk}/win/").status_code == 404
    assert client.post(f"{OPPORTUNITIES}abc/win/").status_code == 404
    assert client.post(f"{OPPORTUNITIES}{2**64}/win/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == OpportunityStatus.OPEN
    response = client.post(f"{OPPORTUNITIES}{mine.pk}/win/")
    assert response.status_code == 200 and response.json()["status"] == "won"
    assert response.json()["account"]["name"] == "我的商机客户有限公司" and response.json()["stage"]["is_won"] is True
    # the same answer as a retrieve (DRF's path with a query parameter)
    assert client.get(f"{OPPORTUNITIES}{mine.pk}/?x=1").json() == client.get(f"{OPPORTUNITIES}{mine.pk}/").json()


def test_a_query_parameter_takes_drfs_path_with_its_filters(api_client, company, people):
    deal = _deal(company, people["sales"], "过滤商机")
    client = api_client(people["sales"], token=True)
    assert client.get(f"{OPPORTUNITIES}{deal.pk}/").status_code == 200
    assert client.get(f"{OPPORTUNITIES}{deal.pk}/?status=won").status_code == 404  # DRF's filter backends
    assert client.get(f"{OPPORTUNITIES}{deal.pk}/?status=open").status_code == 200


def test_the_win_locks_with_the_prepared_read_and_publishes_the_lines(company, people):
    from suite.models.outbox import OutboxEvent

    deal = _deal(company, people["sales"], "锁定商机")
    won = opportunity_win(opportunity=deal, by=people["sales"].user)
    assert won.status == OpportunityStatus.WON and won.stage.is_won and won.account.name == "锁定商机客户有限公司"
    again = opportunity_win(opportunity=deal, by=people["sales"].user)  # changes and publishes nothing
    assert again.status == OpportunityStatus.WON
    [event] = OutboxEvent.objects.filter(name="crm.opportunity.won", payload__opportunity_id=deal.pk)
    assert event.payload["lines"] == [] and event.payload["account_name"] == "锁定商机客户有限公司"
