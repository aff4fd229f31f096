"""Bulk actions on the CRM lists: tick records, choose an action, apply — through each record's own service, as
the actor's policy allows, all or nothing, audited."""

import pytest
from django.urls import reverse

from crm.models import Account, Contact, Lead, LeadStatus, Opportunity, Ticket
from crm.services import leads as lead_services
from crm.services import tickets as ticket_services
from crm.services.opportunities import opportunity_create
from crm.tests.factories import AccountFactory, ContactFactory, TagFactory, ticket_for
from crm.tests.test_views_customers import browser
from suite.audit import history_of
from suite.models import Role
from suite.testing import CompanyFactory, TeamFactory, make_member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("crm_enabled")]


@pytest.fixture
def colleague(company, member, team):
    return member(company, Role.SALES, teams=[team], username="lisi")


def _post(client, name, **data):
    return client.post(reverse(f"crm:{name}-bulk"), data, follow=True)


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_a_manager_assigns_owner_and_stage_of_ticked_accounts_each_audited(company, member, sales, colleague, team):
    manager = member(company, Role.MANAGER, teams=[team], username="wangjingli")
    accounts = [AccountFactory(company=company, by=sales.user, name=f"明远科技{i}") for i in range(3)]
    untouched = AccountFactory(company=company, by=sales.user, name="不动的客户")
    client = browser(manager)

    page = client.get(reverse("crm:account-list")).content.decode()
    assert 'id="bulk-form"' in page and page.count('name="ids"') == 4

    ids = [a.pk for a in accounts]
    response = _post(
        client, "account", action="owner", owner=colleague.user.pk, ids=ids, next="/crm/accounts/?q=%E6%98%8E%E8%BF%9C"
    )
    assert response.redirect_chain[-1][0] == "/crm/accounts/?q=%E6%98%8E%E8%BF%9C"
    assert _messages(response) == ["Assign owner: 3 records changed."]
    assert set(Account.objects.filter(pk__in=ids).values_list("owner", flat=True)) == {colleague.user.pk}
    assert Account.objects.get(pk=untouched.pk).owner_id == sales.user.pk
    change = history_of(accounts[0])[0]
    assert change.username == "wangjingli" and change.changes["owner_id"] == (sales.user.pk, colleague.user.pk)

    _post(client, "account", action="stage", stage="customer", ids=ids)
    assert set(Account.objects.filter(pk__in=ids).values_list("lifecycle_stage", flat=True)) == {"customer"}


def test_tags_are_added_and_removed_on_ticked_contacts(company, sales):
    vip, other = TagFactory(company=company, name="VIP"), TagFactory(company=company, name="展会")
    contacts = [ContactFactory(company=company, by=sales.user, name=f"王小明{i}") for i in range(2)]
    client = browser(sales)
    _post(client, "contact", action="tag_add", tag=other.pk, ids=[contacts[0].pk])
    _post(client, "contact", action="tag_add", tag=vip.pk, ids=[c.pk for c in contacts])
    _post(client, "contact", action="tag_add", tag=vip.pk, ids=[c.pk for c in contacts])  # twice: still once
    assert sorted(t.name for t in Contact.objects.get(pk=contacts[0].pk).tags.all()) == ["VIP", "展会"]
    assert [t.name for t in Contact.objects.get(pk=contacts[1].pk).tags.all()] == ["VIP"]
    _post(client, "contact", action="tag_remove", tag=vip.pk, ids=[c.pk for c in contacts])
    assert [t.name for t in Contact.objects.get(pk=contacts[0].pk).tags.all()] == ["展会"]
    assert not Contact.objects.get(pk=contacts[1].pk).tags.exists()


def test_records_outside_the_actors_scope_or_company_change_nothing(company, member, sales):
    stranger = member(company, Role.SALES, teams=[TeamFactory(company=company, name="华南组")], username="stranger")
    mine = AccountFactory(company=company, by=sales.user, name="我的客户")
    theirs = AccountFactory(company=company, by=stranger.user, name="别组的客户")
    elsewhere = AccountFactory(company=CompanyFactory(), name="别家公司的客户")
    client = browser(sales)
    for foreign in (theirs, elsewhere):
        response = _post(client, "account", action="stage", stage="churned", ids=[mine.pk, foreign.pk])
        assert _messages(response) == ["Some of the selected records are not available to you. Nothing was changed."]
    assert {a.lifecycle_stage for a in Account.objects.filter(pk__in=[mine.pk, theirs.pk, elsewhere.pk])} == {"lead"}


def test_bad_input_is_a_message_on_the_list_and_changes_nothing(company, sales):
    account = AccountFactory(company=company, by=sales.user, name="明远科技")
    outsider = make_member(CompanyFactory(), Role.SALES)
    client = browser(sales)
    cases = [
        ({"action": "owner", "owner": outsider.user.pk, "ids": [account.pk]}, "Choose a member of the company."),
        ({"action": "owner", "owner": "²", "ids": [account.pk]}, "Choose a member of the company."),
        ({"action": "stage", "stage": "vip", "ids": [account.pk]}, "Choose a lifecycle stage."),
        ({"action": "tag_add", "tag": "x", "ids": [account.pk]}, "Choose a tag."),
        ({"action": "explode", "ids": [account.pk]}, "Choose what to do with the selected records."),
        ({"action": "stage", "stage": "customer", "ids": ["abc"]}, "Select at least one record."),
        ({"action": "stage", "stage": "customer"}, "Select at least one record."),
    ]
    for data, message in cases:
        response = _post(client, "account", **data)
        assert response.status_code == 200 and _messages(response) == [message], data
    assert Account.objects.get(pk=account.pk).lifecycle_stage == "lead"
    assert client.get(reverse("crm:account-bulk")).status_code == 405


def test_one_refused_record_rolls_back_the_whole_batch_and_is_named(company, sales):
    tickets = [ticket_for(company, subject=f"报修{i}") for i in range(3)]
    ticket_services.ticket_close(ticket=tickets[1], by=None)
    admin = make_member(company, Role.ADMIN, username="admin_bulk")
    response = _post(browser(admin), "ticket", action="priority", priority="urgent", ids=[t.pk for t in tickets])
    (message,) = _messages(response)
    assert message.startswith(f"Nothing was changed: #{tickets[1].number} 报修1")
    assert set(Ticket.objects.filter(pk__in=[t.pk for t in tickets]).values_list("priority", flat=True)) == {"normal"}

    open_ones = [tickets[0].pk, tickets[2].pk]
    response = _post(browser(admin), "ticket", action="agent", owner=sales.user.pk, ids=open_ones)
    assert _messages(response) == ["Assign to: 2 records changed."]
    assert set(Ticket.objects.filter(pk__in=open_ones).values_list("assigned_agent", flat=True)) == {sales.user.pk}


def test_leads_are_assigned_and_disqualified_with_a_reason(company, sales, colleague):
    leads = [lead_services.lead_create(company=company, by=sales.user, name=f"抖音线索{i}") for i in range(2)]
    client = browser(sales)
    assert _messages(_post(client, "lead", action="disqualify", reason="  ", ids=[lead.pk for lead in leads])) == [
        "Say why the leads are disqualified."
    ]
    _post(client, "lead", action="owner", owner=colleague.user.pk, ids=[lead.pk for lead in leads])
    assert set(Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("owner", flat=True)) == {
        colleague.user.pk
    }
    # they are the colleague's now (a salesperson sees their own leads): the colleague disqualifies them
    _post(browser(colleague), "lead", action="disqualify", reason="空号", ids=[lead.pk for lead in leads])
    assert set(
        Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("status", "disqualified_reason")
    ) == {(LeadStatus.DISQUALIFIED, "空号")}


def test_opportunities_change_owner_and_a_read_only_role_sees_no_tick_boxes(company, member, sales, colleague):
    account = AccountFactory(company=company, by=sales.user, name="冷链物流")
    deals = [opportunity_create(company=company, by=sales.user, name=f"冷库项目{i}", account=account) for i in range(2)]
    response = _post(browser(sales), "opportunity", action="owner", owner=colleague.user.pk, ids=[d.pk for d in deals])
    assert _messages(response) == ["Assign owner: 2 records changed."]
    assert set(Opportunity.objects.filter(pk__in=[d.pk for d in deals]).values_list("owner", flat=True)) == {
        colleague.user.pk
    }
    finance = browser(member(company, Role.FINANCE, username="caiwu"))
    page = finance.get(reverse("crm:opportunity-list"), {"status": "all"})
    assert page.status_code == 200
    assert "bulk-form" not in page.content.decode()
    assert _post(finance, "opportunity", action="owner", owner=sales.user.pk, ids=[deals[0].pk]).status_code == 403
