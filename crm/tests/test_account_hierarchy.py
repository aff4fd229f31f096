"""Group customers (上级客户 / 下属客户): an account's parent account, kept free of loops by the service and the
database, carried through merges, shown on the 360 page and served by the API and the list filters."""

import csv
import io

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from crm.models import Account, CustomerFinance
from crm.services.customers import MAX_GROUP_DEPTH, account_create, account_update, customer_merge
from crm.services.opportunities import opportunity_create, opportunity_win
from crm.tests.factories import AccountFactory, ticket_for
from suite.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(company, sales_user):
    return AccountFactory(company=company, by=sales_user, name="广州南方重工集团", city="广州")


def _error(call) -> dict:
    with pytest.raises(ValidationError) as error:
        call()
    return error.value.message_dict


def test_a_company_belongs_to_its_group_and_loops_are_refused(company, other_company, group, sales_user):
    foshan = account_create(company=company, by=sales_user, name="南方重工（佛山）液压", parent=group)
    assert foshan.parent == group and list(group.subsidiaries.all()) == [foshan]

    assert "parent" in _error(lambda: account_update(account=group, by=sales_user, parent=foshan))  # a loop
    assert "parent" in _error(lambda: account_update(account=group, by=sales_user, parent=group))  # itself
    stranger = AccountFactory(company=other_company, name="别家的集团")
    assert "parent" in _error(lambda: account_update(account=foshan, by=sales_user, parent=stranger))
    group.refresh_from_db()
    assert group.parent_id is None

    chain = [group]
    for level in range(MAX_GROUP_DEPTH - 1):
        chain.append(account_create(company=company, by=sales_user, name=f"第{level}级公司", parent=chain[-1]))
    too_deep = _error(lambda: account_create(company=company, by=sales_user, name="太深了", parent=chain[-1]))
    assert "parent" in too_deep
    assert not Account.objects.filter(name="太深了").exists()  # nothing half-written

    with pytest.raises(IntegrityError), transaction.atomic():  # the database refuses the shortest loop too
        Account.objects.filter(pk=group.pk).update(parent=group)


def test_a_merge_keeps_the_group_whole_and_never_makes_a_loop(company, group, sales_user):
    survivor = account_create(company=company, by=sales_user, name="南方重工", parent=group)  # under the duplicate's
    duplicate = group  # the group turns out to be the same company as its subsidiary
    plant = account_create(company=company, by=sales_user, name="南方重工二厂", parent=duplicate)

    customer_merge(survivor=survivor, duplicate=duplicate, by=sales_user)

    survivor.refresh_from_db()
    plant.refresh_from_db()
    assert survivor.parent_id is None  # not its own parent
    assert plant.parent_id == survivor.pk  # the duplicate's companies moved under the survivor

    # a loop through the moved companies: the survivor sits under a company that sits under the duplicate
    holding = AccountFactory(company=company, by=sales_user, name="控股公司")
    branch = account_create(company=company, by=sales_user, name="分公司", parent=holding)
    other = account_create(company=company, by=sales_user, name="控股公司（重复）", parent=branch)
    customer_merge(survivor=other, duplicate=holding, by=sales_user)
    other.refresh_from_db()
    branch.refresh_from_db()
    assert branch.parent_id == other.pk and other.parent_id is None


def test_a_merge_that_would_make_the_group_too_deep_leaves_the_survivor_without_a_group(company, group, sales_user):
    """The duplicate's subsidiaries move under the survivor; when that makes the survivor's group deeper than
    ``MAX_GROUP_DEPTH``, the survivor leaves its group and keeps the moved companies (nothing is cut below it)."""
    chain = [group]
    for name in ("华南区域公司", "佛山片区", "佛山工厂"):  # levels 2, 3, 4
        chain.append(account_create(company=company, by=sales_user, name=name, parent=chain[-1]))
    survivor = chain[-1]
    duplicate = AccountFactory(company=company, by=sales_user, name="佛山工厂（重复）")
    workshop = account_create(company=company, by=sales_user, name="一车间", parent=duplicate)
    team = account_create(company=company, by=sales_user, name="一车间班组", parent=workshop)

    customer_merge(survivor=survivor, duplicate=duplicate, by=sales_user)  # levels 5 and 6 under the group

    survivor.refresh_from_db()
    workshop.refresh_from_db()
    team.refresh_from_db()
    assert survivor.parent_id is None
    assert workshop.parent_id == survivor.pk and team.parent_id == workshop.pk

    # one level less fits: the survivor stays where it is
    near = account_create(company=company, by=sales_user, name="佛山二厂", parent=chain[2])  # level 4
    twin = AccountFactory(company=company, by=sales_user, name="佛山二厂（重复）")
    account_create(company=company, by=sales_user, name="二厂车间", parent=twin)
    customer_merge(survivor=near, duplicate=twin, by=sales_user)  # its workshop at level 5: allowed
    near.refresh_from_db()
    assert near.parent_id == chain[2].pk


@pytest.mark.usefixtures("crm_enabled")
def test_the_360_page_shows_the_group_and_its_companies_the_reader_may_see(
    client, company, member, group, sales_user, english
):
    foshan = account_create(company=company, by=sales_user, name="南方重工（佛山）液压", parent=group)
    colleague = member(company, Role.SALES, username="lisi")  # not in the owner's team
    hidden = account_create(company=company, by=colleague.user, name="南方重工（湛江）", parent=group)
    client.force_login(sales_user)

    group_page = client.get(reverse("crm:account-detail", args=[group.pk])).content.decode()
    company_page = client.get(reverse("crm:account-detail", args=[foshan.pk])).content.decode()

    assert "Subsidiaries" in group_page and "南方重工（佛山）液压" in group_page
    assert hidden.name not in group_page  # the policy layer decides, as everywhere
    assert "Parent account" in company_page and "广州南方重工集团" in company_page
    listing = client.get(reverse("crm:account-list"), {"parent": group.pk})
    assert [account.name for account in listing.context["page"].object_list] == ["南方重工（佛山）液压"]
    assert 'data-testid="group-filter"' in listing.content.decode()  # the list says whose companies it shows
    exported = client.get(reverse("crm:account-list"), {"parent": group.pk, "export": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode("utf-8-sig"))))
    assert [(row["name"], row["parent account"]) for row in rows] == [("南方重工（佛山）液压", "广州南方重工集团")]

    edit = client.post(
        reverse("crm:account-edit", args=[group.pk]),
        {"name": group.name, "lifecycle_stage": "lead", "parent": foshan.pk},
    )
    assert edit.status_code == 200 and "that would make a loop" in edit.content.decode()
    group.refresh_from_db()
    assert group.parent_id is None


def test_the_api_sets_filters_and_refuses_a_loop(api_client, sales, company, other_company, group):
    client = api_client(sales)
    created = client.post("/api/v1/crm/accounts/", {"name": "南方重工（佛山）", "parent": group.pk}, format="json")
    assert created.status_code == 201, created.content
    child = created.json()
    assert child["parent"] == group.pk

    listed = client.get("/api/v1/crm/accounts/", {"parent": group.pk}).json()
    assert [row["id"] for row in listed["results"]] == [child["id"]]
    loop = client.patch(f"/api/v1/crm/accounts/{group.pk}/", {"parent": child["id"]}, format="json")
    assert loop.status_code == 400 and [e["field"] for e in loop.json()["errors"]] == ["parent"]
    stranger = AccountFactory(company=other_company)
    foreign = client.patch(f"/api/v1/crm/accounts/{child['id']}/", {"parent": stranger.pk}, format="json")
    assert foreign.status_code == 400 and [e["field"] for e in foreign.json()["errors"]] == ["parent"]
    assert (
        client.patch(f"/api/v1/crm/accounts/{child['id']}/", {"parent": None}, format="json").json()["parent"] is None
    )


def test_a_company_with_subsidiaries_cannot_make_the_group_too_deep(company, group, sales_user):
    """The depth counts the levels under the account that moves, not only the ones above its new parent."""
    region = account_create(company=company, by=sales_user, name="华南区域公司", parent=group)  # level 2
    plant = AccountFactory(company=company, by=sales_user, name="南方重工（佛山）")
    workshop = account_create(company=company, by=sales_user, name="佛山一车间", parent=plant)
    account_create(company=company, by=sales_user, name="佛山一车间班组", parent=workshop)  # plant + 2 levels

    account_update(account=plant, by=sales_user, parent=region)  # levels 3, 4, 5: the most a group may have
    plant.refresh_from_db()
    assert plant.parent_id == region.pk

    holding = AccountFactory(company=company, by=sales_user, name="南方控股")
    assert "parent" in _error(lambda: account_update(account=group, by=sales_user, parent=holding))  # 6 levels
    group.refresh_from_db()
    assert group.parent_id is None


@pytest.mark.usefixtures("crm_enabled")
def test_a_groups_page_adds_up_every_company_under_it_as_the_reader_may_see_them(
    client, company, member, group, sales_user, english, django_assert_max_num_queries
):
    region = account_create(company=company, by=sales_user, name="华南区域公司", parent=group)
    plant = account_create(company=company, by=sales_user, name="南方重工（佛山）", parent=region)
    colleague = member(company, Role.SALES, username="lisi")  # not in the owner's team
    hidden = account_create(company=company, by=colleague.user, name="南方重工（湛江）", parent=group)
    for account, amount in ((group, "100000.00"), (region, "20000.00"), (plant, "3000.00")):
        opportunity_create(company=company, by=sales_user, name=f"{account.name} 采购", account=account, amount=amount)
    won = opportunity_create(company=company, by=sales_user, name="佛山 续约", account=plant, amount="50000.00")
    opportunity_win(opportunity=won, by=sales_user)
    opportunity_create(company=company, by=colleague.user, name="湛江 机床", account=hidden, amount="7000.00")
    ticket_for(company, account=plant, customer_owner=sales_user)
    now = timezone.now()
    for account, revenue, open_, overdue in ((group, "80000.00", "5000.00", "0.00"), (plant, "12000.00", "3000.00",
                                                                                    "1000.00"),
                                             (hidden, "99999.00", "99999.00", "99999.00")):  # fmt: skip
        CustomerFinance.objects.create(
            account=account, company=company, lifetime_revenue=revenue, outstanding=open_, overdue=overdue,
            refreshed_at=now,
        )  # fmt: skip
    client.force_login(sales_user)

    page = client.get(reverse("crm:account-detail", args=[group.pk]))
    html = page.content.decode()
    figures = page.context["profile"].group
    assert (figures.companies, figures.open_deals, str(figures.open_amount)) == (3, 3, "123000.00")
    assert (str(figures.won_revenue), figures.open_tickets) == ("50000.00", 1)
    assert (str(figures.lifetime_revenue), str(figures.outstanding), str(figures.overdue)) == (
        "92000.00", "8000.00", "1000.00",
    )  # fmt: skip
    assert 'data-testid="group-figures"' in html and f"?group={group.pk}" in html
    assert "99,999" not in html  # the company the reader may not see adds nothing
    # a company without subsidiaries has no group card; one inside a group shows its own part of it
    assert client.get(reverse("crm:account-detail", args=[plant.pk])).context["profile"].group is None
    assert client.get(reverse("crm:account-detail", args=[region.pk])).context["profile"].group.companies == 2

    # the group's size does not change the page's queries
    with django_assert_max_num_queries(60) as small:
        client.get(reverse("crm:account-detail", args=[group.pk]))
    for number in range(6):
        account_create(company=company, by=sales_user, name=f"南方重工 {number} 厂", parent=plant)
    with django_assert_max_num_queries(len(small.captured_queries)):
        client.get(reverse("crm:account-detail", args=[group.pk]))

    listing = client.get(reverse("crm:account-list"), {"group": group.pk})
    names = {account.name for account in listing.context["page"].object_list}
    assert {"广州南方重工集团", "华南区域公司", "南方重工（佛山）", "南方重工 5 厂"} <= names
    assert hidden.name not in names
    assert 'data-testid="group-filter"' in listing.content.decode()


def test_the_api_lists_a_whole_group(api_client, sales, company, group):
    client = api_client(sales)
    child = client.post("/api/v1/crm/accounts/", {"name": "华南区域公司", "parent": group.pk}, format="json").json()
    grandchild = client.post("/api/v1/crm/accounts/", {"name": "佛山厂", "parent": child["id"]}, format="json").json()
    AccountFactory(company=company, name="不相干的公司")

    listed = client.get("/api/v1/crm/accounts/", {"group": group.pk, "ordering": "created_at"}).json()
    assert [row["id"] for row in listed["results"]] == [group.pk, child["id"], grandchild["id"]]
    assert client.get("/api/v1/crm/accounts/", {"group": "x"}).status_code == 400
