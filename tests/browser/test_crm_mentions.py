"""@mentions in real Chromium: a service agent types "@" and part of a name in a ticket's internal note, picks the
colleague from the suggestions with the keyboard, adds the note and is told who was told; the colleague finds the
notification in their bell."""

import pytest
from playwright.sync_api import expect

from crm.services.customers import account_create
from crm.services.tickets import ticket_open
from suite.models import Membership, Module, Notification, Role
from suite.testing import CompanyFactory, UserFactory
from tests.browser.test_crm_journey import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_agent_mentions_the_accounts_salesperson_in_a_note(live_server, browser):
    company = CompanyFactory(name="华东机械装备有限公司", code="mention", enabled_modules=[Module.CRM])
    agent = UserFactory(username="zhao.service", first_name="丽", last_name="赵")
    seller = UserFactory(username="zhang.sales", first_name="伟", last_name="张")
    colleague = UserFactory(username="zhang.other", first_name="伟明", last_name="张")
    Membership.objects.create(user=agent, company=company, role=Role.SERVICE)
    Membership.objects.create(user=seller, company=company, role=Role.SALES)
    Membership.objects.create(user=colleague, company=company, role=Role.SALES)
    account = account_create(company=company, by=seller, name="宁波北仑港务集团", city="宁波")
    ticket = ticket_open(company=company, by=agent, account=account, subject="岸桥异响")

    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    try:
        log_in(page, live_server.url, "zhao.service")
        page.goto(f"{live_server.url}/crm/tickets/{ticket.pk}/")
        note = page.locator("#note_body")
        note.click()
        note.press_sequentially("客户要求报价，@张")
        options = page.get_by_role("listbox").get_by_role("option")
        expect(options).to_have_count(2)  # 张伟 and 张伟明
        expect(options.first).to_have_text("张伟 · zhang.sales")
        note.press("Enter")
        expect(note).to_have_value("客户要求报价，@张伟 ")
        expect(page.get_by_role("listbox")).to_have_count(0)
        note.press_sequentially("请跟进")
        page.get_by_role("button", name="Add note").click()
        expect(page.get_by_text("Told 张伟.")).to_be_visible()
        page.screenshot(path="/tmp/troika-crm-mentions.png", full_page=True)
    finally:
        context.close()
    told = Notification.objects.get()
    assert (told.recipient, told.link) == (seller, f"/crm/tickets/{ticket.pk}/")
    assert told.body == "客户要求报价，@张伟 请跟进"
