"""Issue 3, acceptance 2: a salesperson logs in, creates a lead, converts it, drags the opportunity across the
kanban board to "won" (a real drag), and sees it on the customer 360 page; a service agent resolves a ticket of
that customer and the follow-up visit task appears (on the ticket, and on the salesperson's customer page).

Screenshots of each page go to /tmp/troika-crm-*.png."""

import re

import pytest
from playwright.sync_api import expect

from crm.models import Lead, Opportunity, OpportunityStatus, TicketStatus
from crm.services.opportunities import pipeline_default_ensure
from crm.services.tickets import ticket_open
from suite.models import Membership, Module, Role, Team
from suite.testing import CompanyFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Troika-123"


@pytest.fixture
def people(db):
    company = CompanyFactory(
        name="华东机械装备有限公司", name_en="East China Machinery", code="journey", enabled_modules=[Module.CRM]
    )
    pipeline_default_ensure(company=company)
    sales_team = TeamFactory(company=company, name="华东销售一组")
    service_team = TeamFactory(company=company, name="客服中心", kind=Team.Kind.SERVICE)
    sales = UserFactory(username="li.sales", first_name="雷", last_name="李")
    agent = UserFactory(username="wang.service", first_name="芳", last_name="王")
    Membership.objects.create(user=sales, company=company, role=Role.SALES).teams.set([sales_team])
    Membership.objects.create(user=agent, company=company, role=Role.SERVICE).teams.set([service_team])
    return company, sales, agent


def log_in(page, base_url, username, *, chinese=False):
    page.goto(f"{base_url}/login/")
    page.get_by_role("button", name="简体中文" if chinese else "English").click()
    page.get_by_label("用户名或邮箱" if chinese else "Username or email").fill(username)
    page.get_by_label("密码" if chinese else "Password").fill(PASSWORD)
    page.get_by_role("button", name="登录" if chinese else "Log in").click()
    expect(page.get_by_role("navigation", name="主导航" if chinese else "Main navigation")).to_be_visible()


def test_lead_to_won_deal_to_customer_360_and_ticket_follow_up(live_server, browser, people):
    company, sales, agent = people
    base = live_server.url
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    try:
        # -- the salesperson creates a lead
        log_in(page, base, "li.sales")
        page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="CRM", exact=True).click()
        page.get_by_role("link", name="Leads").first.click()
        page.get_by_role("link", name="New lead").click()
        page.get_by_label("Contact name").fill("陈晨")
        page.get_by_label("Company name").fill("晨光文具有限公司")
        page.get_by_label("Phone").fill("138 0013 8000")
        page.get_by_label("City").fill("上海")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("cell", name="晨光文具有限公司", exact=True)).to_be_visible()
        page.screenshot(path="/tmp/troika-crm-leads.png", full_page=True)

        # -- converts it: account + contact + opportunity, and lands on the customer 360 page
        page.get_by_role("button", name=re.compile(r"^Convert")).click()
        expect(page.get_by_role("heading", name=re.compile("晨光文具有限公司"))).to_be_visible()
        lead = Lead.objects.get(name="陈晨")
        opportunity = Opportunity.objects.get(lead=lead)
        assert lead.converted_account_id == opportunity.account_id

        # -- gives the deal its amount on the opportunity form
        page.goto(f"{base}/crm/opportunities/{opportunity.pk}/edit/")
        page.get_by_label("Amount").fill("128000")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", name="晨光文具有限公司")).to_be_visible()

        # -- records who decides: the converted contact in the deal's buying committee (决策链)
        committee = page.get_by_role("region", name="Buying committee")
        committee.get_by_label("Person").select_option(label="陈晨")
        committee.get_by_label("Role").select_option(label="Decision maker")
        committee.get_by_label("Stance").select_option(label="Supporter")
        committee.get_by_role("button", name="Save").click()
        expect(page.get_by_text("陈晨 is in the buying committee as Decision maker.")).to_be_visible()
        seated = page.get_by_role("region", name="Buying committee")
        expect(seated.get_by_role("cell", name="Supporter")).to_be_visible()

        # -- drags it across the kanban board to "won"
        page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Pipeline board").click()
        card = page.locator(f"#opportunity-{opportunity.pk}")
        expect(card).to_be_visible()
        page.screenshot(path="/tmp/troika-crm-board-before.png", full_page=True)
        card.drag_to(page.locator(".kanban-column.won .kanban-cards"))
        won_card = page.locator(f".kanban-column.won #opportunity-{opportunity.pk}")
        expect(won_card).to_be_visible()
        expect(won_card).to_have_class(re.compile("status-won"))
        opportunity.refresh_from_db()
        assert opportunity.status == OpportunityStatus.WON
        page.wait_for_load_state("networkidle")
        page.screenshot(path="/tmp/troika-crm-board-after.png", full_page=True)

        # -- and sees it on the customer 360 page
        page.goto(f"{base}/crm/accounts/{opportunity.account_id}/")
        expect(page.locator("#figure-won-revenue")).to_have_text("CN¥128,000.00")
        expect(page.locator("#figure-open-deals")).to_have_text("0")
        deals = page.get_by_role("region", name="Opportunities")
        expect(deals.get_by_role("link", name="晨光文具有限公司")).to_be_visible()
        timeline = page.get_by_role("region", name="Timeline")
        expect(timeline.get_by_text("won", exact=True)).to_be_visible()
        page.screenshot(path="/tmp/troika-crm-360.png", full_page=True)

        # -- the customer calls in a problem; the service agent works the ticket
        ticket = ticket_open(
            company=company,
            by=None,
            subject="订书机批量故障",
            description="新到的订书机有一半卡钉。",
            account=opportunity.account,
            contact=opportunity.contact,
            channel="phone",
            assigned_agent=agent,
        )
        agent_context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        agent_page = agent_context.new_page()
        try:
            log_in(agent_page, base, "wang.service")
            agent_page.get_by_role("navigation", name="Main navigation").get_by_role(
                "link", name="CRM", exact=True
            ).click()
            agent_page.get_by_role("link", name="Tickets").first.click()
            agent_page.get_by_role("link", name="订书机批量故障").click()
            agent_page.get_by_label("Reply to the customer").fill("我们明天上门更换。")
            agent_page.get_by_role("button", name="Send reply").click()
            expect(agent_page.get_by_text("我们明天上门更换。")).to_be_visible()
            agent_page.get_by_label("How was it solved? (internal note)").fill("已更换整批订书机")
            agent_page.get_by_role("button", name="Resolve ticket").click()
            follow_up = agent_page.locator("#follow-up")
            expect(follow_up).to_contain_text("Follow-up visit")
            expect(follow_up).to_contain_text("回访")
            expect(agent_page.locator("#ticket-status")).to_have_text("Resolved")
            agent_page.screenshot(path="/tmp/troika-crm-ticket.png", full_page=True)
        finally:
            agent_context.close()
        ticket.refresh_from_db()
        assert ticket.status == TicketStatus.RESOLVED
        assert ticket.follow_up_activity.owner == sales

        # -- the follow-up visit is now on the salesperson's to-do list for this customer
        page.goto(f"{base}/crm/accounts/{opportunity.account_id}/")
        expect(page.get_by_role("region", name="To do")).to_contain_text("回访")
        page.goto(f"{base}/crm/my-day/")
        expect(page.get_by_role("region", name="Next 7 days")).to_contain_text(f"#{ticket.number}")
        page.screenshot(path="/tmp/troika-crm-my-day.png", full_page=True)
    finally:
        context.close()


def test_customer_360_and_board_at_phone_width(live_server, browser, people):
    company, sales, _agent = people
    from crm.services.opportunities import opportunity_create
    from crm.tests.factories import AccountFactory

    account = AccountFactory(company=company, by=sales, name="苏州精工机械有限公司")
    opportunity_create(company=company, by=sales, name="五轴加工中心", account=account, amount="880000")
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    try:
        log_in(page, live_server.url, "li.sales", chinese=True)
        page.goto(f"{live_server.url}/crm/accounts/{account.pk}/")
        expect(page.get_by_role("heading", name="时间线")).to_be_visible()
        expect(page.locator("#figure-open-deals")).to_have_text("1")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path="/tmp/troika-crm-360-phone.png", full_page=True)
        page.goto(f"{live_server.url}/crm/board/")
        # keyboard path: open "Move to…" (移动到…) on the card and move it without dragging
        page.locator("details.move-to summary").first.click()
        page.get_by_label("阶段").first.select_option(label="需求确认")
        page.get_by_role("button", name="移动", exact=True).first.click()
        expect(page.locator(".kanban-column").nth(1).get_by_text("五轴加工中心")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path="/tmp/troika-crm-board-phone.png", full_page=True)
    finally:
        context.close()
