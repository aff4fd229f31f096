"""Group customers (上级客户 / 下属客户): an account's parent account, kept free of loops by the service and the
database, carried through merges, shown on the 360 page and served by the API and the list filters."""

import csv
import io

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from crm.models import Account
from crm.services.customers import MAX_GROUP_DEPTH, account_create, account_update, customer_merge
from crm.tests.factories import AccountFactory
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
    listing = client.get(reverse("crm:account-list"), {"parent": group.pk}).content.decode()
    assert "南方重工（佛山）液压" in listing and "广州南方重工集团</a>" not in listing
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
