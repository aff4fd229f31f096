"""The pipeline board on a long column, in real Chromium: *Show more* brings in the column's next cards; a card
dragged from those to another stage moves, the two columns' counts follow, and the cards brought in stay on the
board (only the columns' heads are fetched again); the next *Show more* then skips no card."""

import re

import pytest
from playwright.sync_api import expect

from crm.models import Opportunity
from crm.services.customers import account_create
from crm.services.opportunities import opportunity_create
from suite.models import Membership, Module, Role
from suite.testing import CompanyFactory, UserFactory
from tests.browser.test_crm_journey import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_card_dragged_after_show_more_keeps_the_column_as_it_was(live_server, browser):
    company = CompanyFactory(name="宁波港机装备有限公司", code="board", enabled_modules=[Module.CRM])
    seller = UserFactory(username="board.sales", first_name="芳", last_name="王")
    Membership.objects.create(user=seller, company=company, role=Role.SALES)
    account = account_create(company=company, by=seller, name="宁波北仑港务集团", city="宁波")
    deals = [
        opportunity_create(company=company, by=seller, name=f"岸桥改造{number:02d}", account=account, amount="1000.00")
        for number in range(45)
    ]
    first_stage = deals[0].stage
    oldest = deals[0]  # the board shows the latest first: the oldest deal is only reached by "Show more"

    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="en-US")
    page = context.new_page()
    try:
        log_in(page, live_server.url, "board.sales")
        page.goto(f"{live_server.url}/crm/board/")
        column = page.locator(f'.kanban-column[data-stage="{first_stage.pk}"]')
        target = page.locator(".kanban-column").nth(1)
        expect(column.locator(".kanban-card")).to_have_count(20)
        column.get_by_test_id("board-more").click()
        expect(column.locator(".kanban-card")).to_have_count(40)

        # the browser's own drag events, as a mouse sends them (a mouse drag of a card far down the column scrolls
        # the page under the pointer; the journey test drags with the mouse)
        carried = page.evaluate_handle("() => new DataTransfer()")
        column.locator(f"#opportunity-{deals[9].pk}").dispatch_event("dragstart", {"dataTransfer": carried})
        target.locator(".kanban-cards").dispatch_event("dragover", {"dataTransfer": carried})
        target.locator(".kanban-cards").dispatch_event("drop", {"dataTransfer": carried})
        expect(target.locator(".kanban-head .column-count")).to_have_text("1")
        expect(column.locator(".kanban-head .column-count")).to_have_text("44")
        expect(column.locator(".kanban-card")).to_have_count(39)  # the cards brought in are still there
        expect(target.locator(f"#opportunity-{deals[9].pk}")).to_be_visible()
        expect(target.locator(".kanban-empty")).to_have_count(0)

        column.get_by_test_id("board-more").click()  # the last 5, none skipped
        expect(column.locator(".kanban-card")).to_have_count(44)
        expect(column.locator(f"#opportunity-{oldest.pk}")).to_be_visible()
        expect(column.get_by_test_id("board-more")).to_have_count(0)
        expect(page.locator("#board-status")).to_have_text(re.compile(r"^$"))
    finally:
        context.close()
    assert Opportunity.objects.get(pk=deals[9].pk).stage_id != first_stage.pk
