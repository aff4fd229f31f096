"""The customer pool (客户公海): releasing an account, claiming and assigning it, the company's rule (limit,
waiting time, idle days), the hourly sweep, the policy, and the pages."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from crm.errors import CrmConflict
from crm.models import Account, Activity, PoolMove, PoolRule
from crm.selectors_pool import pool_accounts_visible_to, pool_returning_soon
from crm.services.activities import activity_create
from crm.services.opportunities import opportunity_create, opportunity_win
from crm.services.pool import account_claim, account_pool_assign, account_release, pool_rule_set, pool_sweep
from crm.tasks import pool_sweep as pool_sweep_task
from crm.tests.factories import AccountFactory, ContactFactory
from suite.models import Notification, Role
from suite.policy import Actor
from suite.testing import TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def colleague(company, member):
    """A salesperson of another team: the owner's accounts are not theirs to see."""
    return member(company, Role.SALES, teams=[TeamFactory(company=company, name="华南销售组")], username="lisi")


def _age(account: Account, days: int) -> None:
    Account.objects.filter(pk=account.pk).update(created_at=timezone.now() - timedelta(days=days))


def test_an_account_released_is_claimed_by_someone_else_and_every_move_is_logged(
    company, sales_user, colleague, team, member
):
    account = AccountFactory(company=company, by=sales_user, name="宁波港机配件", phone="13812345678")
    assert account.team == team
    buyer = ContactFactory(company=company, by=sales_user, account=account, name="采购 王工")
    third = member(company, Role.SALES, username="wangwu").user
    engineer = ContactFactory(company=company, by=third, account=account, name="设备 李工")  # someone else's

    account_release(account=account, by=sales_user, note="  客户 多次 拒绝  ")
    account.refresh_from_db()
    assert (account.owner_id, account.team_id) == (None, None)
    assert [a.pk for a in pool_accounts_visible_to(Actor(colleague))] == [account.pk]
    with pytest.raises(CrmConflict):  # in the pool already
        account_release(account=account, by=sales_user)

    buyer.refresh_from_db()
    assert buyer.owner_id is None  # the people at the account go with it
    account_claim(account=account, by=colleague.user)
    account.refresh_from_db()
    assert account.owner == colleague.user and account.team.name == "华南销售组"
    buyer.refresh_from_db()
    engineer.refresh_from_db()
    assert (buyer.owner, engineer.owner) == (colleague.user, third)  # the claimer can reach them; others keep theirs
    moves = list(PoolMove.objects.filter(account=account).order_by("id").values_list("kind", "note", "previous_owner"))
    assert moves == [("released", "客户 多次 拒绝", sales_user.pk), ("claimed", "", None)]
    assert not pool_accounts_visible_to(Actor(colleague)).exists()
    with pytest.raises(CrmConflict):  # nobody takes an owned account from the pool
        account_claim(account=account, by=sales_user)


def test_an_account_with_an_open_deal_is_not_released(company, sales_user):
    account = AccountFactory(company=company, by=sales_user, name="苏州精工")
    deal = opportunity_create(company=company, by=sales_user, name="数控车床", account=account, amount="50000.00")
    with pytest.raises(CrmConflict):
        account_release(account=account, by=sales_user)
    account.refresh_from_db()
    assert account.owner == sales_user and not PoolMove.objects.exists()
    opportunity_win(opportunity=deal, by=sales_user)
    account_release(account=account, by=sales_user)  # a closed deal does not hold it


def test_the_limit_and_the_wait_before_taking_an_account_back(company, sales_user, colleague, english):
    pool_rule_set(company=company, by=None, max_owned=2, reclaim_after_days=7)
    mine = AccountFactory(company=company, by=sales_user, name="杭州云栖")
    account_release(account=mine, by=sales_user)
    with pytest.raises(ValidationError) as waited:
        account_claim(account=mine, by=sales_user)
    assert "claim it again from" in waited.value.messages[0]

    AccountFactory(company=company, by=colleague.user, name="厦门海辰")
    AccountFactory(company=company, by=colleague.user, name="福州闽江")  # holds 2: the limit
    with pytest.raises(ValidationError) as limited:
        account_claim(account=mine, by=colleague.user)
    assert "the company's limit is 2" in limited.value.messages[0]
    with pytest.raises(ValidationError) as given:  # a manager's hand-out honours it too, on the person
        account_pool_assign(account=mine, to_user=colleague.user, by=None)
    assert list(given.value.message_dict) == ["user"]
    assert Account.objects.get(pk=mine.pk).owner_id is None

    PoolMove.objects.filter(account=mine).update(created_at=timezone.now() - timedelta(days=8))
    account_claim(account=mine, by=sales_user)  # a week later it may come back
    assert Account.objects.get(pk=mine.pk).owner == sales_user


def test_the_rule_refuses_bad_values(company):
    with pytest.raises(ValidationError) as error:
        pool_rule_set(company=company, by=None, idle_days=0, stages=[])
    assert {"idle_days", "stages"} & set(error.value.message_dict)
    with pytest.raises(ValidationError):
        pool_rule_set(company=company, by=None, stages=["lead", "boss"])
    rule = pool_rule_set(company=company, by=None, is_active=True, idle_days=15, stages=["prospect", "prospect"])
    assert (rule.idle_days, rule.stages) == (15, ["prospect"])
    assert pool_rule_set(company=company, by=None, idle_days=20).pk == rule.pk  # one rule per company


@pytest.mark.django_db(transaction=True)
def test_two_people_claiming_the_same_account_at_once_make_one_owner(company, sales_user, colleague):
    account = AccountFactory(company=company, by=sales_user, name="并发公司")
    account_release(account=account, by=sales_user)
    PoolMove.objects.update(created_at=timezone.now() - timedelta(days=30))  # past the wait
    barrier = threading.Barrier(2)
    outcomes = []

    def claim(user):
        barrier.wait(5)
        try:
            account_claim(account=account, by=user)
            outcomes.append("claimed")
        except CrmConflict:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(user,)) for user in (sales_user, colleague.user)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(outcomes) == ["claimed", "refused"]
    assert PoolMove.objects.filter(account=account, kind="claimed").count() == 1


def test_the_sweep_returns_only_accounts_nobody_followed_up(company, other_company, sales_user, member, english):
    pool_rule_set(company=company, by=None, is_active=True, idle_days=30)
    idle = AccountFactory(company=company, by=sales_user, name="闲置客户", lifecycle_stage="prospect")
    called = AccountFactory(company=company, by=sales_user, name="刚打过电话", lifecycle_stage="prospect")
    bought = AccountFactory(company=company, by=sales_user, name="老客户", lifecycle_stage="customer")
    dealing = AccountFactory(company=company, by=sales_user, name="在谈客户", lifecycle_stage="lead")
    young = AccountFactory(company=company, by=sales_user, name="新客户", lifecycle_stage="lead")
    elsewhere = AccountFactory(company=other_company, by=member(other_company, Role.SALES).user, name="别家的")
    for account in (idle, called, bought, dealing, elsewhere):
        _age(account, 40)
    _age(young, 10)
    old_call = activity_create(company=company, by=sales_user, kind="call", subject="上月的电话", account=idle)
    Activity.objects.filter(pk=old_call.pk).update(created_at=timezone.now() - timedelta(days=35))
    activity_create(company=company, by=sales_user, kind="call", subject="回访", account=called)
    opportunity_create(company=company, by=sales_user, name="在谈", account=dealing, amount="1000.00")

    assert [r.account.name for r in pool_returning_soon(Actor(sales_user.memberships.get()))] == ["闲置客户"]
    assert pool_sweep_task() == 1  # the beat task, through the service
    assert set(Account.objects.filter(owner__isnull=True).values_list("name", flat=True)) == {"闲置客户"}
    move = PoolMove.objects.get()
    assert (move.account_id, move.reason, move.previous_owner_id, move.user_id) == (
        idle.pk,
        "idle",
        sales_user.pk,
        None,
    )
    note = Notification.objects.get(recipient=sales_user)
    assert "went back to the customer pool" in note.title and "30 days" in note.body
    assert pool_sweep() == 0  # a second run finds nothing more


def test_my_day_warns_of_accounts_going_back_soon(client, company, sales, sales_user, crm_enabled, english):
    pool_rule_set(company=company, by=None, is_active=True, idle_days=30)
    soon = AccountFactory(company=company, by=sales_user, name="快要回公海", lifecycle_stage="prospect")
    _age(soon, 26)
    AccountFactory(company=company, by=sales_user, name="刚建的", lifecycle_stage="prospect")
    client.force_login(sales_user)

    page = client.get(reverse("crm:my-day"))
    returning = page.context["returning"]
    assert [r.account.name for r in returning] == ["快要回公海"]
    assert timezone.localdate(returning[0].returns_on) == timezone.localdate() + timedelta(days=4)
    assert 'data-testid="pool-returning"' in page.content.decode()


@pytest.mark.usefixtures("crm_enabled")
def test_the_pool_page_claim_and_assign_as_the_policy_allows(
    client, company, other_company, sales_user, colleague, member, english
):
    account = AccountFactory(company=company, by=sales_user, name="无人跟进公司", phone="13900001111", city="宁波")
    account_release(account=account, by=sales_user)
    PoolMove.objects.update(created_at=timezone.now() - timedelta(days=30))
    AccountFactory(company=other_company, by=None, name="别家公海客户")  # another company's pool
    client.force_login(colleague.user)

    listing = client.get(reverse("crm:pool"))
    html = listing.content.decode()
    assert [a.name for a in listing.context["page"].object_list] == ["无人跟进公司"]
    assert "宁波" in html and "139" not in html  # where, not how to reach them, until claimed
    assert client.get(reverse("crm:pool"), {"q": "wurengenjin"}).context["page"].object_list  # pinyin search
    assert client.get(reverse("crm:pool"), {"city": "宁波市", "reason": "manual"}).context["page"].object_list
    assert not client.get(reverse("crm:pool"), {"reason": "idle"}).context["page"].object_list
    assert not client.get(reverse("crm:pool"), {"stage": "customer"}).context["page"].object_list
    assert client.post(reverse("crm:pool-assign", args=[account.pk]), {"user": colleague.user.pk}).status_code == 403

    claimed = client.post(reverse("crm:pool-claim", args=[account.pk]))
    assert claimed.status_code == 302 and claimed.url == reverse("crm:account-detail", args=[account.pk])
    assert Account.objects.get(pk=account.pk).owner == colleague.user
    again = client.post(reverse("crm:pool-claim", args=[account.pk]), follow=True)
    assert again.status_code == 404  # not in the pool any more

    # the new owner lets it go from the 360 page; a manager hands it to someone
    page = client.get(reverse("crm:account-detail", args=[account.pk])).content.decode()
    assert 'data-testid="release"' in page
    released = client.post(reverse("crm:account-release", args=[account.pk]), {"note": "不需要了"})
    assert released.status_code == 302 and Account.objects.get(pk=account.pk).owner_id is None
    manager = member(company, Role.MANAGER, username="wangjingli")
    client.force_login(manager.user)
    assert client.post(reverse("crm:pool-assign", args=[account.pk]), {"user": ""}).status_code == 302
    assert Account.objects.get(pk=account.pk).owner_id is None  # nobody chosen: a message, nothing changed
    client.post(reverse("crm:pool-assign", args=[account.pk]), {"user": sales_user.pk})
    assert Account.objects.get(pk=account.pk).owner == sales_user
    assert list(PoolMove.objects.filter(account=account).values_list("kind", flat=True).order_by("id")) == [
        "released", "claimed", "released", "assigned",
    ]  # fmt: skip

    service = member(company, Role.SERVICE, username="kefu")
    client.force_login(service.user)
    assert client.get(reverse("crm:pool")).status_code == 403  # the pool is for those who sell
    assert 'data-testid="release"' not in client.get(reverse("crm:account-detail", args=[account.pk])).content.decode()
    assert client.post(reverse("crm:account-release", args=[account.pk])).status_code == 403


@pytest.mark.usefixtures("crm_enabled")
def test_the_rule_is_an_admins_setting(client, company, admin, sales_user, english):
    client.force_login(admin.user)
    refused = client.post(reverse("crm:settings-pool"), {"idle_days": "0", "stages": ["lead"], "reclaim_after_days": 7})
    assert refused.status_code == 200 and "idle_days" in refused.context["form"].errors
    saved = client.post(
        reverse("crm:settings-pool"),
        {"is_active": "on", "idle_days": "45", "stages": ["lead", "prospect"], "max_owned": "200",
         "reclaim_after_days": "14", "warn_days": "5"},
    )  # fmt: skip
    assert saved.status_code == 302
    rule = PoolRule.objects.get(company=company)
    assert (rule.is_active, rule.idle_days, rule.max_owned, rule.reclaim_after_days) == (True, 45, 200, 14)

    client.force_login(sales_user)
    page = client.get(reverse("crm:settings-pool"))
    assert page.status_code == 200 and page.context["form"] is None  # seen, not changed
    assert client.post(reverse("crm:settings-pool"), {"idle_days": "1"}).status_code == 403
    assert PoolRule.objects.get(company=company).idle_days == 45


def test_the_api_lists_claims_assigns_and_releases(api_client, company, sales, sales_user, colleague, member, english):
    account = AccountFactory(company=company, by=sales_user, name="无人跟进公司", phone="13900001111")
    deal_account = AccountFactory(company=company, by=sales_user, name="在谈客户")
    opportunity_create(company=company, by=sales_user, name="在谈", account=deal_account, amount="1000.00")
    owner_client = api_client(sales)

    busy = owner_client.post(f"/api/v1/crm/accounts/{deal_account.pk}/release/", {}, format="json")
    assert busy.status_code == 409 and busy.json()["errors"][0]["message"]
    released = owner_client.post(f"/api/v1/crm/accounts/{account.pk}/release/", {"note": "x" * 201}, format="json")
    assert released.status_code == 400 and released.json()["errors"][0]["field"] == "note"
    released = owner_client.post(f"/api/v1/crm/accounts/{account.pk}/release/", {"note": "不做了"}, format="json")
    assert released.status_code == 200 and released.json()["owner"] is None
    assert owner_client.get(f"/api/v1/crm/accounts/{account.pk}/").status_code == 404  # not theirs any more

    client = api_client(colleague)
    listed = client.get("/api/v1/crm/pool/").json()
    assert [row["id"] for row in listed["results"]] == [account.pk]
    assert "phone" not in listed["results"][0] and listed["results"][0]["released_reason"] == "manual"
    assert client.get("/api/v1/crm/pool/", {"search": "wurengenjin"}).json()["count"] == 1
    assert (
        client.post(f"/api/v1/crm/pool/{account.pk}/assign/", {"user": sales_user.pk}, format="json").status_code == 403
    )

    claimed = client.post(f"/api/v1/crm/pool/{account.pk}/claim/", {}, format="json")
    assert claimed.status_code == 200 and claimed.json()["owner"]["id"] == colleague.user.pk
    assert claimed.json()["phone"] == "+8613900001111"  # theirs now: all of it
    assert client.post(f"/api/v1/crm/pool/{account.pk}/claim/", {}, format="json").status_code == 404

    client.post(f"/api/v1/crm/accounts/{account.pk}/release/", {}, format="json")
    manager = api_client(member(company, Role.MANAGER, username="wangjingli"))
    bad = manager.post(f"/api/v1/crm/pool/{account.pk}/assign/", {"user": 10**9}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "user"
    given = manager.post(f"/api/v1/crm/pool/{account.pk}/assign/", {"user": sales_user.pk}, format="json")
    assert given.status_code == 200 and given.json()["owner"]["id"] == sales_user.pk
    service = api_client(member(company, Role.SERVICE, username="kefu"))
    assert service.get("/api/v1/crm/pool/").status_code == 403


def test_a_salesperson_claims_at_most_the_days_limit(company, sales_user, colleague, english):
    pool_rule_set(company=company, by=None, max_claims_per_day=2)
    released = []
    for name in ("甲公司", "乙公司", "丙公司"):
        released.append(
            account_release(account=AccountFactory(company=company, by=sales_user, name=name), by=sales_user)
        )
    account_claim(account=released[0], by=colleague.user)
    account_claim(account=released[1], by=colleague.user)
    with pytest.raises(ValidationError) as limited:
        account_claim(account=released[2], by=colleague.user)
    assert "You claimed 2 accounts today: the company's limit is 2 a day." in limited.value.messages
    PoolMove.objects.filter(kind="claimed").update(created_at=timezone.now() - timedelta(days=1))
    account_claim(account=released[2], by=colleague.user)  # a new day


@pytest.mark.usefixtures("crm_enabled")
def test_an_admin_sees_on_the_page_that_an_account_is_in_the_pool_and_hands_it_out(
    client, company, admin, sales_user, english
):
    account = AccountFactory(company=company, by=sales_user, name="宁波港机配件")
    account_release(account=account, by=sales_user, note="不做了")
    client.force_login(admin.user)
    page = client.get(reverse("crm:account-detail", args=[account.pk]))
    assert page.context["in_pool"]["released_reason"] == "manual"
    assert 'data-testid="in-pool"' in page.content.decode()
    client.post(reverse("crm:pool-assign", args=[account.pk]), {"user": sales_user.pk})
    assert client.get(reverse("crm:account-detail", args=[account.pk])).context["in_pool"] is None


@pytest.mark.usefixtures("crm_enabled")
def test_with_team_pools_each_team_claims_from_its_own(
    client, api_client, company, team, sales, sales_user, colleague, member, admin, english
):
    """部门公海: with the rule's team pools on, an account let go (by hand or by the sweep) stays in its team's
    pool: that team's people and their managers see and claim it, another team's do not, admins see every pool;
    an account never owned is in the company's pool, which everyone sees."""
    pool_rule_set(company=company, by=None, is_active=True, idle_days=30, by_team=True)
    teammate = member(company, Role.SALES, teams=[team], username="zhaoliu")
    boss = member(company, Role.MANAGER, username="huadong.boss")
    team.manager = boss.user
    team.save()
    let_go = AccountFactory(company=company, by=sales_user, name="华东放弃的客户")
    idle = AccountFactory(company=company, by=sales_user, name="华东闲置客户", lifecycle_stage="prospect")
    _age(idle, 40)
    nobodys = AccountFactory(company=company, by=None, name="无主客户")  # never owned: the company's pool

    account_release(account=let_go, by=sales_user)
    assert pool_sweep() == 1
    let_go.refresh_from_db()
    idle.refresh_from_db()
    assert (let_go.pool_team_id, idle.pool_team_id, nobodys.pool_team_id) == (team.pk, team.pk, None)
    assert (let_go.team_id, idle.team_id) == (None, None)  # the pool's, not the team's records: contacts stay hidden

    def seen(membership):
        return {a.name for a in pool_accounts_visible_to(Actor(membership))}

    assert seen(teammate) == seen(boss) == seen(admin) == {"华东放弃的客户", "华东闲置客户", "无主客户"}
    assert seen(colleague) == {"无主客户"}  # another team sees only the company's pool
    with pytest.raises(CrmConflict):  # nor can it take one by going round the page
        account_claim(account=let_go, by=colleague.user)
    with pytest.raises(ValidationError) as outsider:  # the team's manager hands it to the team only
        account_pool_assign(account=let_go, to_user=colleague.user, by=boss.user)
    assert "user" in outsider.value.message_dict

    client.force_login(colleague.user)
    assert client.post(reverse("crm:pool-claim", args=[let_go.pk])).status_code == 404
    assert api_client(colleague).post(f"/api/v1/crm/pool/{let_go.pk}/claim/", {}, format="json").status_code == 404
    client.force_login(teammate.user)
    listing = client.get(reverse("crm:pool"), {"pool": team.pk})
    assert {a.name for a in listing.context["page"].object_list} == {"华东放弃的客户", "华东闲置客户"}
    assert "华东销售一组" in listing.content.decode()
    company_pool = client.get(reverse("crm:pool"), {"pool": "company"}).context["page"].object_list
    assert [a.name for a in company_pool] == ["无主客户"]
    claimed = client.post(reverse("crm:pool-claim", args=[let_go.pk]))
    assert claimed.status_code == 302
    let_go.refresh_from_db()
    assert (let_go.owner, let_go.pool_team_id) == (teammate.user, None)

    account_pool_assign(account=idle, to_user=colleague.user, by=admin.user)  # an admin may move it across teams
    idle.refresh_from_db()
    assert idle.owner == colleague.user and idle.pool_team_id is None

    pool_rule_set(company=company, by=None, by_team=False)  # one company pool again: everyone sees everything
    account_release(account=idle, by=colleague.user)
    assert Account.objects.get(pk=idle.pk).pool_team_id is None
    assert api_client(colleague).get("/api/v1/crm/pool/").json()["count"] == 2


def test_owners_are_warned_once_before_their_accounts_go_back(company, sales_user, colleague, english):
    """The hourly task warns an owner ``warn_days`` before the sweep takes their idle accounts — one
    notification per run, each account once per idle spell; a follow-up starts a new spell."""
    pool_rule_set(company=company, by=None, is_active=True, idle_days=30, warn_days=3)
    soon = AccountFactory(company=company, by=sales_user, name="两天后回公海", lifecycle_stage="prospect")
    later = AccountFactory(company=company, by=sales_user, name="还早", lifecycle_stage="prospect")
    theirs = AccountFactory(company=company, by=colleague.user, name="同事的", lifecycle_stage="lead")
    _age(soon, 28)
    _age(later, 20)
    _age(theirs, 29)

    assert pool_sweep_task() == 0  # nothing goes back yet; the warnings go out

    def warnings():
        return Notification.objects.filter(title__contains="within 3 days")

    assert {(n.recipient_id, n.title) for n in warnings()} == {
        (sales_user.pk, "1 of your accounts goes back to the customer pool within 3 days"),
        (colleague.user.pk, "1 of your accounts goes back to the customer pool within 3 days"),
    }
    assert warnings().get(recipient=sales_user).link == reverse("crm:my-day")
    assert pool_sweep_task() == 0 and warnings().count() == 2  # the next hour: no second warning

    call = activity_create(company=company, by=sales_user, kind="call", subject="问候", account=soon)
    Activity.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(days=28))  # long ago too
    Account.objects.filter(pk=soon.pk).update(pool_warned_at=timezone.now() - timedelta(days=29))
    assert pool_sweep_task() == 0  # followed up after the warning: a new spell, warned again
    assert warnings().filter(recipient=sales_user).count() == 2

    with pytest.raises(ValidationError) as late:  # a warning after the idle days would come too late
        pool_rule_set(company=company, by=None, idle_days=3, warn_days=3)
    assert "warn_days" in late.value.message_dict
    pool_rule_set(company=company, by=None, warn_days=0)  # off
    Account.objects.update(pool_warned_at=None)
    assert pool_sweep_task() == 0 and warnings().count() == 3
