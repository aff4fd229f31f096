"""A deal's buying committee (决策链): the customer's people with their role and stance, on the opportunity page,
in the API and through a customer merge; one seat per person and deal; scoped like the deal."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import OpportunityContactRole
from crm.services.customers import customer_merge
from crm.services.opportunities import opportunity_create
from crm.services.opportunity_roles import contact_role_remove, contact_role_set, contact_role_update
from crm.services.relationships import opportunities_flag_at_risk
from crm.tests.factories import AccountFactory, ContactFactory, committee_member_in
from suite import audit
from suite.api.throttling import clear_throttles
from suite.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def deal(company, sales_user):
    account = AccountFactory(company=company, by=sales_user, name="苏州精工机械有限公司")
    return opportunity_create(company=company, by=sales_user, name="二期车间数控车床", account=account, amount="1000")


@pytest.fixture
def people(company, deal, sales_user):
    return [
        ContactFactory(company=company, account=deal.account, by=sales_user, name=name, title=title, phone=phone)
        for name, title, phone in (
            ("王建华", "采购总监", "13912345601"),
            ("陈晓燕", "设备工程师", "13912345602"),
            ("刘总", "总经理", "13912345603"),
        )
    ]


def test_a_person_has_one_seat_whose_role_and_stance_can_change(deal, people, sales_user):
    wang, chen, _ = people
    seat = contact_role_set(opportunity=deal, contact=wang, role="procurement", by=sales_user)
    contact_role_set(
        opportunity=deal, contact=chen, role="technical", stance="supporter", note="力推我们", by=sales_user
    )

    again = contact_role_set(opportunity=deal, contact=wang, role="decision_maker", stance="opponent", by=sales_user)

    assert again.pk == seat.pk and OpportunityContactRole.objects.filter(opportunity=deal).count() == 2
    assert (again.role, again.stance) == ("decision_maker", "opponent")
    changed = contact_role_update(member=again, by=sales_user, stance="neutral")
    assert (changed.role, changed.stance) == ("decision_maker", "neutral")
    contact_role_remove(member=changed, by=sales_user)
    assert list(deal.contact_roles.values_list("contact__name", flat=True)) == ["陈晓燕"]
    # audited: seated, changed twice, removed — with what changed
    assert [entry.label for entry in reversed(audit.history_of(seat))] == ["insert", "update", "update", "delete"]
    assert audit.history_of(seat)[2].changes["role"] == ("procurement", "decision_maker")


def test_bad_input_names_the_field_and_writes_nothing(deal, people, sales_user, other_company):
    stranger = ContactFactory(company=other_company, name="别家的人")
    cases = [
        ({"contact": stranger, "role": "user"}, "contact"),
        ({"contact": people[0], "role": "king"}, "role"),
        ({"contact": people[0], "role": "user", "stance": "hostile"}, "stance"),
        ({"contact": people[0], "role": "user", "note": "长" * 201}, "note"),
    ]
    for fields, field in cases:
        with pytest.raises(ValidationError) as error:
            contact_role_set(opportunity=deal, by=sales_user, **fields)
        assert field in error.value.message_dict
    assert not OpportunityContactRole.objects.exists()
    with pytest.raises(ValidationError) as error:
        contact_role_update(member=committee_member_in(deal.company, opportunity=deal), by=sales_user, contact=1)
    assert "contact" in error.value.message_dict


@pytest.mark.django_db(transaction=True)
def test_two_people_seating_the_same_person_at_once_make_one_seat(deal, people, sales_user):
    """Two requests at the same moment (separate connections): the deal's row lock lets one in after the other,
    which then finds the seat and changes it instead of failing on the unique constraint."""
    results = []
    barrier = threading.Barrier(2)

    def seat(role):
        barrier.wait(5)
        try:
            results.append(contact_role_set(opportunity=deal, contact=people[0], role=role, by=sales_user).pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=seat, args=(role,)) for role in ("procurement", "decision_maker")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(results) == 2 and results[0] == results[1]
    assert OpportunityContactRole.objects.filter(opportunity=deal, contact=people[0]).count() == 1


def test_a_merge_keeps_one_seat_per_deal_and_moves_the_others(company, deal, people, sales_user):
    survivor, duplicate, _ = people
    other_deal = opportunity_create(company=company, by=sales_user, name="主轴备件", account=deal.account)
    contact_role_set(opportunity=deal, contact=survivor, role="decision_maker", by=sales_user)
    contact_role_set(opportunity=deal, contact=duplicate, role="user", by=sales_user)
    contact_role_set(opportunity=other_deal, contact=duplicate, role="technical", by=sales_user)

    customer_merge(survivor=survivor, duplicate=duplicate, by=sales_user)

    seats = sorted(OpportunityContactRole.objects.values_list("opportunity__name", "contact_id", "role"))
    assert seats == [("主轴备件", survivor.pk, "technical"), ("二期车间数控车床", survivor.pk, "decision_maker")]


def test_a_committee_member_leaving_puts_the_deal_at_risk(company, deal, people, sales_user):
    contact_role_set(opportunity=deal, contact=people[2], role="decision_maker", by=sales_user)
    flagged = opportunities_flag_at_risk(
        company_id=company.pk, contact_id=people[2].pk, account_id=None, reason="决策人删除了企业微信好友"
    )
    deal.refresh_from_db()
    assert flagged == 1 and deal.at_risk and deal.at_risk_reason == "决策人删除了企业微信好友"


@pytest.mark.usefixtures("crm_enabled")
def test_the_deal_page_adds_changes_and_removes_people(client, deal, people, sales_user, english):
    client.force_login(sales_user)
    url = reverse("crm:opportunity-detail", args=[deal.pk])
    page = client.get(url).content.decode()
    assert "Buying committee" in page and "王建华" in page  # the account's people are offered

    added = client.post(
        reverse("crm:opportunity-role-set", args=[deal.pk]),
        {"contact": people[0].pk, "role": "decision_maker", "stance": "supporter", "note": "周五拍板"},
        follow=True,
    )
    assert "王建华 is in the buying committee as Decision maker." in added.content.decode()
    assert 'href="tel:+8613912345601">139 1234 5601</a>' in client.get(url).content.decode()

    refused = client.post(
        reverse("crm:opportunity-role-set", args=[deal.pk]), {"contact": people[1].pk, "role": "king"}, follow=True
    )
    assert "Role: Select a valid choice." in refused.content.decode()
    assert deal.contact_roles.count() == 1

    seat = deal.contact_roles.get()
    removed = client.post(reverse("crm:opportunity-role-remove", args=[deal.pk, seat.pk]), follow=True)
    assert "was taken out of the buying committee" in removed.content.decode()
    assert not deal.contact_roles.exists()


@pytest.mark.usefixtures("crm_enabled")
def test_someone_who_cannot_change_the_deal_cannot_touch_its_committee(client, company, member, deal, people, english):
    other = member(company, Role.SALES, username="lisi")  # another salesperson, not in the owner's team
    client.force_login(other.user)
    response = client.post(
        reverse("crm:opportunity-role-set", args=[deal.pk]), {"contact": people[0].pk, "role": "user"}
    )
    assert response.status_code == 404 and not deal.contact_roles.exists()
    finance = member(company, Role.FINANCE, username="caiwu")
    client.force_login(finance.user)
    page = client.get(reverse("crm:opportunity-detail", args=[deal.pk])).content.decode()
    assert "Buying committee" in page and "opportunity-role-set" not in page and "committee/" not in page
    assert client.post(reverse("crm:opportunity-role-set", args=[deal.pk]), {}).status_code == 403


def test_the_api_seats_lists_changes_and_removes(api_client, sales, deal, people, other_company, english):
    client = api_client(sales)
    url = f"/api/v1/crm/opportunities/{deal.pk}/contact-roles/"

    created = client.post(url, {"contact": people[0].pk, "role": "decision_maker"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["contact_name"], body["role"], body["stance"]) == ("王建华", "decision_maker", "neutral")
    changed = client.patch(f"{url}{body['id']}/", {"stance": "supporter"}, format="json")
    assert changed.status_code == 200 and changed.json()["stance"] == "supporter"

    bad = client.post(url, {"contact": ContactFactory(company=other_company).pk, "role": "boss"}, format="json")
    assert bad.status_code == 400
    assert {error["field"] for error in bad.json()["errors"]} == {"contact", "role"}
    assert client.patch(f"{url}{body['id']}/", {"role": ""}, format="json").status_code == 400

    assert client.delete(f"{url}{body['id']}/").status_code == 204
    assert client.get(url).json()["count"] == 0


def test_the_committee_list_runs_the_same_queries_for_one_member_or_eight(api_client, admin, company):
    member = committee_member_in(company)
    client = api_client(admin)
    url = f"/api/v1/crm/opportunities/{member.opportunity_id}/contact-roles/"

    def count() -> tuple[int, int]:
        clear_throttles()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        return len(queries), response.json()["count"]

    few, one = count()
    for role in ("technical", "procurement", "influencer", "user", "other", "economic_buyer", "technical"):
        committee_member_in(company, opportunity=member.opportunity, role=role)
    many, eight = count()
    assert (one, eight) == (1, 8) and many == few


@pytest.mark.usefixtures("crm_enabled")
def test_a_contacts_page_shows_the_committees_they_sit_in(client, deal, people, sales_user, english):
    contact_role_set(opportunity=deal, contact=people[1], role="technical", stance="supporter", by=sales_user)
    client.force_login(sales_user)

    page = client.get(reverse("crm:contact-detail", args=[people[1].pk])).content.decode()
    other = client.get(reverse("crm:contact-detail", args=[people[0].pk])).content.decode()

    assert "In buying committees" in page and "二期车间数控车床" in page and "Technical evaluator" in page
    assert "In buying committees" not in other
