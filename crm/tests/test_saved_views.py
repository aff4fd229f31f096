"""Saved list views (suite.ui.saved_views) on the CRM lists: a person keeps a list's filters under a name, opens
the list with it, shares it (admins and managers); a shared view shows each colleague only their own scope."""

import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from crm.tests.factories import AccountFactory
from suite.models import DefaultView, Role, SavedView
from suite.policy import Actor
from suite.selectors import saved_views_for
from suite.services.saved_views import (
    clean_query,
    default_view_set,
    same_filters,
    saved_view_create,
    saved_view_delete,
    saved_view_update,
)
from suite.testing import web_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("crm_enabled")]

ACCOUNTS = "crm:account-list"


def test_a_view_keeps_the_filters_without_the_page_and_one_off_parameters(sales_actor):
    view = saved_view_create(
        actor=sales_actor,
        list_key=ACCOUNTS,
        name="  My   Shanghai  customers ",
        query="?city=上海&page=3&export=csv&q=&stage=customer",
    )

    assert view.name == "My Shanghai customers"
    assert view.query == "city=%E4%B8%8A%E6%B5%B7&stage=customer"
    assert clean_query("view=4&sort=-name&owner=me") == "sort=-name&owner=me"
    assert not view.shared


@pytest.mark.parametrize(
    "fields,error_field",
    [
        ({"list_key": "crm:nowhere-list", "name": "x"}, "list_key"),
        ({"name": "   "}, "name"),
        ({"name": "长" * 81}, "name"),
        ({"name": "x", "query": "q=" + "a" * 1001}, "query"),
        ({"name": "x", "shared": True}, "shared"),
    ],
)
def test_bad_views_are_refused_with_a_field_error_and_nothing_kept(sales_actor, fields, error_field):
    arguments = {"list_key": ACCOUNTS, "query": "stage=customer", **fields}

    with pytest.raises(ValidationError) as error:
        saved_view_create(actor=sales_actor, **arguments)

    assert set(error.value.message_dict) == {error_field}
    assert not SavedView.objects.exists()


def test_a_name_is_taken_once_per_person_and_list(sales_actor, company, member, english):
    saved_view_create(actor=sales_actor, list_key=ACCOUNTS, name="Hot", query="stage=customer")
    with pytest.raises(ValidationError) as error:
        saved_view_create(actor=sales_actor, list_key=ACCOUNTS, name="Hot", query="stage=lead")
    assert error.value.message_dict == {"name": ["You already have a view of this name."]}

    # the same name on another list, or by a colleague, is theirs to take
    saved_view_create(actor=sales_actor, list_key="crm:lead-list", name="Hot", query="hot=1")
    colleague = Actor(member(company, Role.SALES))
    saved_view_create(actor=colleague, list_key=ACCOUNTS, name="Hot", query="stage=customer")
    assert SavedView.objects.filter(name="Hot").count() == 3


def test_private_views_stay_private_shared_ones_reach_the_company_and_no_other(
    sales_actor, company, other_company, member
):
    manager = Actor(member(company, Role.MANAGER))
    colleague = Actor(member(company, Role.SALES))
    stranger = Actor(member(other_company, Role.ADMIN))
    private = saved_view_create(actor=sales_actor, list_key=ACCOUNTS, name="Mine", query="owner=me")
    shared = saved_view_create(
        actor=manager, list_key=ACCOUNTS, name="Key accounts", query="stage=customer", shared=True
    )

    assert list(saved_views_for(sales_actor, ACCOUNTS)) == [shared, private]
    assert list(saved_views_for(colleague, ACCOUNTS)) == [shared]
    assert list(saved_views_for(stranger, ACCOUNTS)) == []
    assert list(saved_views_for(sales_actor, "crm:lead-list")) == []


def test_only_the_owner_or_an_admin_deletes_a_shared_view(sales_actor, company, member):
    manager = Actor(member(company, Role.MANAGER))
    admin = Actor(member(company, Role.ADMIN))
    shared = saved_view_create(
        actor=manager, list_key=ACCOUNTS, name="Key accounts", query="stage=customer", shared=True
    )
    private = saved_view_create(actor=sales_actor, list_key=ACCOUNTS, name="Mine", query="owner=me")
    default_view_set(actor=sales_actor, list_key=ACCOUNTS, view=shared)
    other_manager = member(company, Role.MANAGER)
    delete_button = reverse("saved-view-delete", args=[shared.pk])

    # the bar offers Delete where the service allows it, from the same rule (the policy's ``manage_shared``)
    assert delete_button in web_client(admin.membership).get(reverse(ACCOUNTS)).content.decode()
    assert delete_button in web_client(manager.membership).get(reverse(ACCOUNTS)).content.decode()
    assert delete_button not in web_client(other_manager).get(reverse(ACCOUNTS)).content.decode()
    with pytest.raises(PermissionDenied):
        saved_view_delete(actor=Actor(other_manager), view=shared)
    with pytest.raises(PermissionDenied):
        saved_view_delete(actor=sales_actor, view=shared)
    with pytest.raises(SavedView.DoesNotExist):  # a colleague's private view does not exist for the admin
        saved_view_delete(actor=admin, view=private)
    saved_view_delete(actor=admin, view=shared)

    assert list(SavedView.objects.all()) == [private]
    assert not DefaultView.objects.exists()  # the salesperson's list opens unfiltered again


def test_the_list_opens_with_the_default_view_and_all_records_on_demand(sales, sales_actor):
    AccountFactory(company=sales.company, by=sales.user, name="上海港机", city="上海")
    AccountFactory(company=sales.company, by=sales.user, name="北京重工", city="北京")
    view = saved_view_create(
        actor=sales_actor, list_key=ACCOUNTS, name="Shanghai", query="city=上海", make_default=True
    )
    client = web_client(sales)

    opened = client.get(reverse(ACCOUNTS))
    assert opened.status_code == 302
    assert opened["Location"] == f"{reverse(ACCOUNTS)}?city=%E4%B8%8A%E6%B5%B7&view={view.pk}"
    page = client.get(opened["Location"]).content.decode()
    assert "上海港机" in page and "北京重工" not in page
    assert "<strong>Shanghai</strong>" in page  # the bar names the view that is open

    everything = client.get(reverse(ACCOUNTS) + "?view=all").content.decode()
    assert "上海港机" in everything and "北京重工" in everything
    # an htmx swap of the results is never redirected
    assert client.get(reverse(ACCOUNTS), HTTP_HX_REQUEST="true").status_code == 200


def test_a_shared_view_shows_each_colleague_only_their_own_scope(company, member, team):
    manager = member(company, Role.MANAGER, teams=[team])
    sales_a = member(company, Role.SALES)
    sales_b = member(company, Role.SALES)
    AccountFactory(company=company, by=sales_a.user, name="甲方客户", city="上海")
    AccountFactory(company=company, by=sales_b.user, name="乙方客户", city="上海")
    saved_view_create(
        actor=Actor(manager), list_key=ACCOUNTS, name="Shanghai", query="city=上海", shared=True, make_default=False
    )
    view = SavedView.objects.get()

    seen_by_a = web_client(sales_a).get(f"{reverse(ACCOUNTS)}?{view.query}&view={view.pk}").content.decode()

    assert "甲方客户" in seen_by_a and "乙方客户" not in seen_by_a


def test_saving_from_the_list_page(sales, company, member):
    client = web_client(sales)
    page = client.get(reverse(ACCOUNTS) + "?stage=customer&city=上海&page=2").content.decode()
    assert 'name="query" value="stage=customer&amp;city=%E4%B8%8A%E6%B5%B7"' in page
    assert 'name="shared"' not in page  # a salesperson does not share

    saved = client.post(
        reverse("saved-view-save"),
        {"list_key": ACCOUNTS, "name": "上海客户", "query": "stage=customer&city=上海", "make_default": "1"},
    )
    view = SavedView.objects.get()
    assert saved["Location"] == f"{reverse(ACCOUNTS)}?stage=customer&city=%E4%B8%8A%E6%B5%B7&view={view.pk}"
    assert DefaultView.objects.get().view == view

    # the same name again: a message on the list, the filters kept, nothing saved
    again = client.post(
        reverse("saved-view-save"), {"list_key": ACCOUNTS, "name": "上海客户", "query": "stage=lead"}, follow=True
    )
    assert "You already have a view of this name." in again.content.decode()
    assert again.redirect_chain[-1][0] == f"{reverse(ACCOUNTS)}?stage=lead"
    assert SavedView.objects.count() == 1

    # another person cannot make it their default, nor delete it: it does not exist for them
    other = web_client(member(company, Role.SALES))
    assert other.post(reverse("saved-view-default", args=[view.pk])).status_code == 404
    assert other.post(reverse("saved-view-delete", args=[view.pk])).status_code == 404

    client.post(reverse("saved-view-default", args=[view.pk]), {"unset": "1"})
    assert not DefaultView.objects.exists()
    client.post(reverse("saved-view-delete", args=[view.pk]))
    assert not SavedView.objects.exists()


@pytest.mark.parametrize(
    "list_key",
    [
        "crm:contact-list",
        "crm:lead-list",
        "crm:opportunity-list",
        "crm:quote-list",
        "crm:activity-list",
        "crm:ticket-list",
    ],
)
def test_every_crm_list_has_the_bar_and_opens_with_its_default(admin, list_key):
    actor = Actor(admin)
    view = saved_view_create(
        actor=actor, list_key=list_key, name="Mine", query="owner=me", shared=True, make_default=True
    )
    client = web_client(admin)

    opened = client.get(reverse(list_key))
    assert opened["Location"] == f"{reverse(list_key)}?owner=me&view={view.pk}"
    page = client.get(opened["Location"]).content.decode()
    assert 'data-testid="saved-views"' in page and "<strong>Mine</strong>" in page
    assert 'name="shared"' in page  # an admin may share


def test_changed_filters_are_kept_in_the_view_by_its_owner_or_an_admin(sales_actor, company, member, english):
    manager = Actor(member(company, Role.MANAGER))
    admin = Actor(member(company, Role.ADMIN))
    mine = saved_view_create(actor=sales_actor, list_key=ACCOUNTS, name="Mine", query="city=上海")
    shared = saved_view_create(actor=manager, list_key=ACCOUNTS, name="Team", query="stage=customer", shared=True)

    assert saved_view_update(actor=sales_actor, view=mine, query="?city=北京&page=2&view=9").query == (
        "city=%E5%8C%97%E4%BA%AC"
    )
    assert saved_view_update(actor=admin, view=shared, query="stage=lead").query == "stage=lead"
    with pytest.raises(PermissionDenied):
        saved_view_update(actor=sales_actor, view=shared, query="")
    with pytest.raises(SavedView.DoesNotExist):  # a colleague's private view does not exist for them
        saved_view_update(actor=manager, view=mine, query="")
    with pytest.raises(ValidationError) as error:
        saved_view_update(actor=sales_actor, view=mine, query="q=" + "a" * 1001)
    assert set(error.value.message_dict) == {"query"}
    mine.refresh_from_db()
    shared.refresh_from_db()
    assert (mine.query, shared.query) == ("city=%E5%8C%97%E4%BA%AC", "stage=lead")


def test_same_filters_ignores_order_empty_values_and_one_off_parameters():
    assert same_filters("stage=customer&city=上海&page=3&view=2&q=", "city=%E4%B8%8A%E6%B5%B7&stage=customer")
    assert not same_filters("stage=customer", "stage=lead")
    assert not same_filters("stage=customer&city=上海", "stage=customer")


def test_the_bar_says_when_the_filters_differ_from_the_open_view_and_keeps_them(
    sales, sales_actor, company, member, english
):
    view = saved_view_create(actor=sales_actor, list_key=ACCOUNTS, name="Shanghai", query="city=上海")
    client = web_client(sales)

    same = client.get(f"{reverse(ACCOUNTS)}?city=上海&view={view.pk}").content.decode()
    changed = client.get(f"{reverse(ACCOUNTS)}?city=上海&stage=customer&view={view.pk}").content.decode()

    def shown(page: str, testid: str) -> bool:
        tag = re.search(rf'<[^>]*data-testid="{testid}"[^>]*>', page).group(0)
        return " hidden" not in tag

    assert not shown(same, "saved-view-changed") and not shown(same, "saved-view-update")
    assert shown(changed, "saved-view-changed") and shown(changed, "saved-view-update")
    assert "Keep these filters in “Shanghai”" in changed

    kept = client.post(reverse("saved-view-update", args=[view.pk]), {"query": "city=上海&stage=customer"}, follow=True)
    view.refresh_from_db()
    assert view.query == "city=%E4%B8%8A%E6%B5%B7&stage=customer"
    assert "View “Shanghai” now keeps these filters." in kept.content.decode()
    assert kept.redirect_chain[-1][0] == f"{reverse(ACCOUNTS)}?{view.query}&view={view.pk}"

    # a colleague may neither see it nor change it
    other = web_client(member(company, Role.SALES))
    assert other.post(reverse("saved-view-update", args=[view.pk]), {"query": ""}).status_code == 404
