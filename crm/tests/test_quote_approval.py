"""Quote approval (报价审批): a quote beyond the company's discount or total limit goes to the customer only after
a manager of the deal's team (else an admin) approves it; nobody approves their own quote; the database refuses a
sent quote that needed approval and has none."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation

from crm.errors import QuoteApprovalError
from crm.models import Quote
from crm.services.opportunities import opportunity_create
from crm.services.quote_approvals import (
    approval_rule_set,
    approvers_of,
    quote_approval_request,
    quote_approve,
    quote_decline,
)
from crm.services.quote_mail import quote_email
from crm.services.quotes import opportunity_line_add, quote_create, quote_send
from crm.tests.factories import AccountFactory
from erp.tests.catalogue import catalogue_product
from suite.models import Membership, Notification, Role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


@pytest.fixture
def manager(company, member, team):
    membership = member(company, Role.MANAGER, teams=[team], username="zhou.manager")
    team.manager = membership.user
    team.save()
    return membership


@pytest.fixture
def deal(company, sales_user):
    account = AccountFactory(company=company, by=sales_user, name="苏州精工机械有限公司")
    return opportunity_create(company=company, by=sales_user, name="数控车床采购", account=account)


def _quote(company, deal, sales_user, *, discount: str) -> Quote:
    lathe = catalogue_product(company, name="数控车床 CK6140", list_price="128000.00")
    opportunity_line_add(opportunity=deal, by=sales_user, product_id=lathe.pk, quantity="2", discount_percent=discount)
    return quote_create(opportunity=deal, by=sales_user)


def test_a_quote_within_the_limits_needs_nothing_and_one_beyond_them_waits(company, deal, sales_user):
    approval_rule_set(company=company, by=None, is_active=True, max_discount_percent=Decimal("10"))
    modest = _quote(company, deal, sales_user, discount="8")
    assert (modest.approval, modest.approval_reason, modest.cleared) == ("", "", True)
    quote_send(quote=modest, by=sales_user)

    deep = _quote(company, deal, sales_user, discount="18")
    assert deep.approval == "required" and "18.00% off, above the 10.00%" in deep.approval_reason
    with pytest.raises(QuoteApprovalError) as refused:
        quote_send(quote=deep, by=sales_user)
    assert "needs a manager's approval" in refused.value.message
    with pytest.raises(QuoteApprovalError):  # the e-mail path sends through the same door
        quote_email(quote=deep, by=sales_user, to="buyer@example.com", subject="报价", message="请查收")
    deep.refresh_from_db()
    assert deep.state == "draft"
    with pytest.raises(IntegrityError), transaction.atomic():  # and the database keeps it so
        Quote.objects.filter(pk=deep.pk).update(state="sent", sent_at=deep.created_at)


def test_the_reason_is_kept_as_figures_and_said_in_the_readers_language(company, deal, sales_user):
    """The salesperson works in English, the manager reads Chinese: the reason is stored as the figures and
    said in whichever language reads it."""
    approval_rule_set(company=company, by=None, is_active=True, max_discount_percent=Decimal("10"), max_total="200000")
    quote = _quote(company, deal, sales_user, discount="18")  # made with English active (the fixture)
    quote.refresh_from_db()
    assert quote.approval_facts == {
        "discount": {"product": "数控车床 CK6140", "percent": "18.00", "limit": "10.00"},
        "total": {"amount": str(quote.total), "currency": quote.currency, "limit": "200000.00"},
    }
    assert quote.approval_reason.startswith("数控车床 CK6140 at 18.00% off, above the 10.00% a salesperson may give; ")
    with translation.override("zh-hans"):
        chinese = quote.approval_reason
    assert "18.00%" in chinese and "10.00%" in chinese and "off" not in chinese and "；" in chinese

    Quote.objects.filter(pk=quote.pk).update(approval_facts={"text": "折扣超过 10%"})  # kept as words before
    quote.refresh_from_db()
    assert quote.approval_reason == "折扣超过 10%"


def test_the_approver_is_asked_in_their_language_and_the_maker_answered_in_theirs(company, deal, sales_user, manager):
    """The salesperson works in English, the manager in Chinese: each reads the notification in their language."""
    Membership.objects.filter(pk=manager.pk).update(language="zh-hans")
    Membership.objects.filter(user=sales_user, company=company).update(language="en")
    approval_rule_set(company=company, by=None, is_active=True, max_discount_percent=Decimal("10"))
    quote = quote_approval_request(quote=_quote(company, deal, sales_user, discount="15"), by=sales_user)

    asked = Notification.objects.get(recipient=manager.user)
    assert asked.title == f"报价单 {quote.display_number} 等待你审批"
    assert "off" not in asked.body and "15.00%" in asked.body
    quote_approve(quote=quote, by=manager.user)
    answered = Notification.objects.get(recipient=sales_user)
    assert answered.title == f"Quote {quote.display_number} is approved: you may send it"


def test_a_total_beyond_the_limit_needs_approval_too(company, deal, sales_user):
    approval_rule_set(company=company, by=None, is_active=True, max_discount_percent=Decimal("50"), max_total="200000")
    quote = _quote(company, deal, sales_user, discount="0")
    assert quote.approval == "required" and "above 200000" in quote.approval_reason


def test_the_manager_approves_and_the_salesperson_sends(company, deal, sales_user, manager, member):
    approval_rule_set(company=company, by=None, is_active=True, max_discount_percent=Decimal("10"))
    quote = _quote(company, deal, sales_user, discount="15")
    assert approvers_of(quote) == [manager.user.pk]
    with pytest.raises(QuoteApprovalError):  # nobody asked yet
        quote_approve(quote=quote, by=manager.user)

    quote = quote_approval_request(quote=quote, by=sales_user, note="竞争对手报价低 12%")
    assert quote.approval == "pending" and quote.approval_requested_at is not None
    asked = Notification.objects.get(recipient=manager.user)
    assert quote.display_number in asked.title and "苏州精工" in asked.body
    assert quote_approval_request(quote=quote, by=sales_user).approval == "pending"  # asking twice: once

    with pytest.raises(QuoteApprovalError):  # four eyes
        quote_approve(quote=quote, by=sales_user)
    stranger = member(company, Role.MANAGER, username="other.manager")  # manages no team of this deal
    with pytest.raises(QuoteApprovalError):
        quote_approve(quote=quote, by=stranger.user)

    quote = quote_approve(quote=quote, by=manager.user, note="同意，限本月")
    assert (quote.approval, quote.approval_decided_by, quote.cleared) == ("approved", manager.user, True)
    told = Notification.objects.get(recipient=sales_user)
    assert "approved" in told.title
    assert quote_send(quote=quote, by=sales_user).state == "sent"


def test_a_declined_quote_stays_a_draft_and_a_new_version_starts_again(company, deal, sales_user, manager):
    approval_rule_set(company=company, by=None, is_active=True, max_discount_percent=Decimal("10"))
    quote = quote_approval_request(quote=_quote(company, deal, sales_user, discount="25"), by=sales_user)
    with pytest.raises(ValidationError) as why:
        quote_decline(quote=quote, by=manager.user, note="  ")
    assert "note" in why.value.message_dict
    quote = quote_decline(quote=quote, by=manager.user, note="最多 12%")
    assert quote.approval == "declined"
    with pytest.raises(QuoteApprovalError):
        quote_send(quote=quote, by=sales_user)
    with pytest.raises(QuoteApprovalError):  # decided: a new version, not a second request
        quote_approval_request(quote=quote, by=sales_user)


def test_without_a_team_manager_the_admins_decide(company, deal, sales_user, admin):
    approval_rule_set(company=company, by=None, is_active=True, max_discount_percent=Decimal("5"))
    quote = _quote(company, deal, sales_user, discount="6")
    assert approvers_of(quote) == [admin.user.pk]


def test_the_rule_refuses_bad_values(company):
    with pytest.raises(ValidationError) as error:
        approval_rule_set(company=company, by=None, max_discount_percent=Decimal("120"), max_total=Decimal("-1"))
    assert {"max_discount_percent", "max_total"} <= set(error.value.message_dict)


@pytest.mark.usefixtures("crm_enabled")
def test_the_deal_page_and_my_day_as_salesperson_and_manager(client, company, deal, sales_user, manager):
    approval_rule_set(company=company, by=None, is_active=True, max_discount_percent=Decimal("10"))
    quote = _quote(company, deal, sales_user, discount="20")
    page = reverse("crm:opportunity-detail", args=[deal.pk])
    client.force_login(sales_user)
    html = client.get(page).content.decode()
    assert 'data-testid="ask-approval"' in html and "Mark sent" not in html
    client.post(reverse("crm:quote-approval", args=[quote.pk, "request"]), {"note": "老客户"})
    quote.refresh_from_db()
    assert quote.approval == "pending"
    assert client.post(reverse("crm:quote-approval", args=[quote.pk, "approve"])).status_code == 403  # a salesperson

    client.force_login(manager.user)
    day = client.get(reverse("crm:my-day"))
    assert [q.pk for q in day.context["approvals"]] == [quote.pk]
    assert 'data-testid="approve"' in client.get(page).content.decode()
    client.post(reverse("crm:quote-approval", args=[quote.pk, "decline"]), {"note": ""}, follow=True)
    quote.refresh_from_db()
    assert quote.approval == "pending"  # no reason given: refused, nothing changed
    client.post(reverse("crm:quote-approval", args=[quote.pk, "approve"]), {"note": "可以"})
    quote.refresh_from_db()
    assert quote.approval == "approved"
    assert client.get(reverse("crm:my-day")).context["approvals"] == []


@pytest.mark.usefixtures("crm_enabled")
def test_the_rule_is_an_admins_setting(client, company, admin, sales_user):
    client.force_login(admin.user)
    page = reverse("crm:settings-quote-approval")
    refused = client.post(page, {"is_active": "on", "max_discount_percent": "101"})
    assert refused.status_code == 200 and "max_discount_percent" in refused.context["form"].errors
    assert client.post(page, {"is_active": "on", "max_discount_percent": "12.5", "max_total": ""}).status_code == 302
    client.force_login(sales_user)
    assert client.get(page).context["form"] is None
    assert client.post(page, {"max_discount_percent": "90"}).status_code == 403
    from crm.models import QuoteApprovalRule

    assert QuoteApprovalRule.objects.get(company=company).max_discount_percent == Decimal("12.50")


def test_the_api_asks_approves_and_refuses(api_client, company, deal, sales, sales_user, manager):
    approval_rule_set(company=company, by=None, is_active=True, max_discount_percent=Decimal("10"))
    quote = _quote(company, deal, sales_user, discount="20")
    seller, boss = api_client(sales), api_client(manager)
    base = f"/api/v1/crm/quotes/{quote.pk}"

    sent = seller.post(f"{base}/send/", {}, format="json")
    assert sent.status_code == 409 and sent.json()["errors"][0]["code"] == "quote_approval"
    assert seller.post(f"{base}/request-approval/", {"note": "x" * 301}, format="json").status_code == 400
    asked = seller.post(f"{base}/request-approval/", {"note": "老客户"}, format="json")
    assert asked.status_code == 200 and asked.json()["approval"] == "pending"
    assert seller.post(f"{base}/approve/", {}, format="json").status_code == 403
    declined = boss.post(f"{base}/decline/", {}, format="json")
    assert declined.status_code == 400 and declined.json()["errors"][0]["field"] == "note"
    approved = boss.post(f"{base}/approve/", {"note": "可以"}, format="json")
    assert approved.status_code == 200
    body = approved.json()
    assert (body["approval"], body["approval_decided_by"]["id"], body["approval_note"]) == (
        "approved", manager.user.pk, "可以",
    )  # fmt: skip
    assert seller.post(f"{base}/send/", {}, format="json").json()["state"] == "sent"


def test_beyond_the_second_level_the_manager_then_an_admin_approves(
    client, company, deal, sales_user, manager, admin, english
):
    """二级审批: a discount beyond the rule's second level needs the team manager's yes, then an admin's; each
    is asked in turn, each decision stays on the quote's trail."""
    approval_rule_set(
        company=company, by=None, is_active=True, max_discount_percent=Decimal("10"), admin_discount_percent="20"
    )
    managers = _quote(company, deal, sales_user, discount="15")
    assert (managers.approval_by_admin, approvers_of(managers)) == (False, [manager.user.pk])
    managers = quote_approval_request(quote=managers, by=sales_user)
    assert quote_approve(quote=managers, by=admin.user).approval == "approved"  # an admin may always decide
    Notification.objects.all().delete()

    deep = quote_approval_request(quote=_quote(company, deal, sales_user, discount="25"), by=sales_user, note="大单")
    assert (deep.approval_by_admin, deep.approval_level, approvers_of(deep)) == (True, "manager", [manager.user.pk])
    assert list(Notification.objects.values_list("recipient_id", flat=True)) == [manager.user.pk]  # first level only

    deep = quote_approve(quote=deep, by=manager.user, note="同意，请总经理定")
    assert (deep.approval, deep.approval_level, approvers_of(deep)) == ("pending", "admin", [admin.user.pk])
    assert deep.approval_decided_by is None and not deep.cleared
    passed_on = Notification.objects.get(recipient=admin.user)
    assert deep.display_number in passed_on.title and "同意，请总经理定" in passed_on.body
    with pytest.raises(QuoteApprovalError) as twice:  # the manager said yes already: the admin decides now
        quote_approve(quote=deep, by=manager.user)
    assert "An admin decides" in twice.value.message
    with pytest.raises(QuoteApprovalError):
        quote_send(quote=deep, by=sales_user)

    page = reverse("crm:opportunity-detail", args=[deal.pk])
    client.force_login(manager.user)
    assert deep.pk not in [q.pk for q in client.get(reverse("crm:my-day")).context["approvals"]]
    html = client.get(page).content.decode()
    assert 'data-testid="approve"' not in html and 'data-testid="approval-trail"' in html
    client.force_login(admin.user)
    assert deep.pk in [q.pk for q in client.get(reverse("crm:my-day")).context["approvals"]]
    assert 'data-testid="approve"' in client.get(page).content.decode()

    deep = quote_approve(quote=deep, by=admin.user, note="")
    assert (deep.approval, deep.approval_level, deep.approval_decided_by, deep.cleared) == (
        "approved", "", admin.user, True,
    )  # fmt: skip
    trail = list(deep.approval_decisions.values_list("level", "outcome", "decided_by_id", "note"))
    assert trail == [
        ("manager", "approved", manager.user.pk, "同意，请总经理定"),
        ("admin", "approved", admin.user.pk, ""),
    ]
    assert quote_send(quote=deep, by=sales_user).state == "sent"

    # an admin's no ends it, and a manager's no at the first level does too
    for decider in (manager.user, admin.user):
        quote = quote_approval_request(quote=_quote(company, deal, sales_user, discount="30"), by=sales_user)
        if decider == admin.user:
            quote = quote_approve(quote=quote, by=manager.user)
        quote = quote_decline(quote=quote, by=decider, note="太低")
        assert (quote.approval, quote.approval_level, quote.approval_decided_by) == ("declined", "", decider)

    # without a team manager, an admin alone decides
    deal.team = None
    deal.save(update_fields=["team"])
    alone = quote_approval_request(quote=_quote(company, deal, sales_user, discount="25"), by=sales_user)
    assert (alone.approval_level, approvers_of(alone)) == ("admin", [admin.user.pk])
    with pytest.raises(IntegrityError), transaction.atomic():  # a pending quote waits for someone
        Quote.objects.filter(pk=alone.pk).update(approval_level="")
    with pytest.raises(ValidationError) as inverted:
        approval_rule_set(company=company, by=None, max_discount_percent=Decimal("10"), admin_discount_percent="5")
    assert "admin_discount_percent" in inverted.value.message_dict
