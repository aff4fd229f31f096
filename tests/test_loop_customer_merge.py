"""A CRM merge keeps every related record — in ERP and SCRM too, not only in CRM's own tables.

``crm.services.customers.customer_merge`` re-points CRM rows itself and publishes ``crm.customer.merged``; ERP
(``erp.partners_follow_crm_merge``) moves the duplicate's sales orders and partner, SCRM
(``scrm.references_follow_crm_merge``) its identities, status messages, coupons and consent; ERP's
``erp.partner.merged`` then has CRM refresh the survivor's finance facts. Through the real outbox relay.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import CustomerFinance
from crm.services.customers import customer_merge
from crm.tests.factories import AccountFactory, ContactFactory
from erp.models import Partner, SalesOrder
from erp.selectors.receivables import credit_check, customer_finance_documents, customer_finance_summary
from erp.services import invoicing, partners, sales
from erp.tests.sales_support import make_shop
from scrm.models import Consent, Coupon, SocialIdentity, StatusMessage
from scrm.services.consent import consent_allows, consent_record
from scrm.tests.factories import make_identity
from scrm.tests.factories_campaigns import make_coupon
from suite.models import HandlerRun, OutboxEvent, Role
from suite.testing import make_member
from tests.loop_support import redeliver, relay_all

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def shop():
    shop = make_shop()
    shop.owner = make_member(shop.company, Role.SALES).user
    shop.admin = make_member(shop.company, Role.ADMIN).user
    shop.stocked = shop.product(stock=D("100"))
    return shop


def _account_with_partner(shop, name, *, credit_limit=None):
    account = AccountFactory(company=shop.company, owner=shop.owner, name=name)
    partner = partners.partner_create(
        company=shop.company, name=name, is_customer=True, crm_account_id=account.pk, credit_limit=credit_limit
    )
    return account, partner


def _invoiced(shop, partner, quantity):
    order = shop.confirmed((shop.stocked, quantity), partner=partner)
    delivery = order.deliveries.get()
    sales.delivery_pick(delivery=delivery, picks=[{"line": delivery.lines.get().pk, "quantity": quantity}])
    sales.delivery_ship(delivery=delivery)
    return order, invoicing.invoice_post(invoice=sales.sales_order_invoice(order=order))


def _finance(account) -> tuple:
    facts = CustomerFinance.objects.get(account=account)
    return facts.outstanding, facts.lifetime_revenue, facts.erp_partner_id


def test_both_accounts_had_a_partner_the_survivor_sees_every_order_invoice_and_payment(shop):
    survivor, survivor_partner = _account_with_partner(shop, "华东精密机械有限公司", credit_limit=D("100000"))
    duplicate, duplicate_partner = _account_with_partner(shop, "华东精密机械")
    _, survivor_invoice = _invoiced(shop, survivor_partner, 2)
    duplicate_order, duplicate_invoice = _invoiced(shop, duplicate_partner, 3)
    payment = shop.paid(duplicate_invoice, D("100.00"))
    relay_all()
    before = customer_finance_summary(company_id=shop.company.pk, crm_account_id=survivor.pk)
    duplicate_before = customer_finance_summary(company_id=shop.company.pk, crm_account_id=duplicate.pk)
    assert duplicate_before["outstanding"] > 0 and before["outstanding"] == survivor_invoice.amount_residual

    customer_merge(survivor=survivor, duplicate=duplicate, by=shop.admin)
    relay_all()

    # ERP: the order names the survivor; the duplicate's partner is merged into the survivor's, its posted
    # documents untouched.
    assert SalesOrder.objects.get(pk=duplicate_order.pk).crm_account_id == survivor.pk
    duplicate_partner.refresh_from_db()
    assert (duplicate_partner.crm_account_id, duplicate_partner.merged_into_id) == (None, survivor_partner.pk)
    duplicate_invoice.refresh_from_db()
    assert duplicate_invoice.partner_id == duplicate_partner.pk and duplicate_invoice.state == "posted"

    # What the 360 page and the credit check read now counts both partners.
    after = customer_finance_summary(company_id=shop.company.pk, crm_account_id=survivor.pk)
    assert after["partner_id"] == survivor_partner.pk and after["credit_limit"] == D("100000")
    assert after["outstanding"] == before["outstanding"] + duplicate_before["outstanding"]
    assert after["lifetime_revenue"] == before["lifetime_revenue"] + duplicate_before["lifetime_revenue"]
    assert after["last_payment_amount"] == payment.amount
    documents = customer_finance_documents(company_id=shop.company.pk, crm_account_id=survivor.pk)
    assert {(d["type"], d["number"]) for d in documents} == {
        ("invoice", survivor_invoice.number),
        ("invoice", duplicate_invoice.number),
        ("payment", payment.number),
    }
    check = credit_check(company=shop.company, amount=D("0"), crm_account_id=survivor.pk)
    assert check.exposure == after["outstanding"]

    # CRM's own finance facts of the survivor were refreshed through erp.partner.merged.
    assert _finance(survivor) == (after["outstanding"], after["lifetime_revenue"], survivor_partner.pk)
    assert OutboxEvent.objects.filter(name="erp.partner.merged").count() == 1

    # A redelivered merge moves nothing and publishes nothing more.
    redeliver("crm.customer.merged")
    assert OutboxEvent.objects.filter(name="erp.partner.merged").count() == 1
    assert customer_finance_summary(company_id=shop.company.pk, crm_account_id=survivor.pk) == after

    # A later payment on the merged partner's invoice reaches the survivor's facts.
    shop.paid(duplicate_invoice, D("50.00"))
    relay_all()
    received = OutboxEvent.objects.filter(name="erp.payment.received").latest("id")
    assert received.payload["crm_account_id"] == survivor.pk
    assert _finance(survivor)[0] == after["outstanding"] - D("50.00")


def test_the_duplicates_partner_becomes_the_survivors_when_the_survivor_had_none(shop):
    survivor = AccountFactory(company=shop.company, owner=shop.owner, name="星辰贸易")
    duplicate, duplicate_partner = _account_with_partner(shop, "星辰贸易有限公司")
    order, invoice = _invoiced(shop, duplicate_partner, 4)
    relay_all()

    customer_merge(survivor=survivor, duplicate=duplicate, by=shop.admin)
    relay_all()

    duplicate_partner.refresh_from_db()
    assert (duplicate_partner.crm_account_id, duplicate_partner.merged_into_id) == (survivor.pk, None)
    assert SalesOrder.objects.get(pk=order.pk).crm_account_id == survivor.pk
    summary = customer_finance_summary(company_id=shop.company.pk, crm_account_id=survivor.pk)
    assert summary["partner_id"] == duplicate_partner.pk and summary["outstanding"] == invoice.amount_residual
    assert _finance(survivor) == (invoice.amount_residual, summary["lifetime_revenue"], duplicate_partner.pk)
    assert not Partner.objects.filter(company=shop.company, crm_account_id=duplicate.pk).exists()


def test_a_third_merge_carries_partners_merged_earlier(shop):
    first, first_partner = _account_with_partner(shop, "甲公司")
    second, second_partner = _account_with_partner(shop, "甲公司二")
    third, third_partner = _account_with_partner(shop, "甲公司三")
    customer_merge(survivor=second, duplicate=third, by=shop.admin)
    relay_all()
    customer_merge(survivor=first, duplicate=second, by=shop.admin)
    relay_all()
    merged = dict(Partner.objects.filter(pk__in=(second_partner.pk, third_partner.pk)).values_list("pk", "merged_into"))
    assert merged == {second_partner.pk: first_partner.pk, third_partner.pk: first_partner.pk}


def test_social_identities_status_messages_and_coupons_follow_the_survivor(shop):
    company = shop.company
    survivor_account = AccountFactory(company=company, owner=shop.owner, name="留存客户")
    duplicate_account = AccountFactory(company=company, owner=shop.owner, name="重复客户")
    survivor = ContactFactory(company=company, owner=shop.owner, name="王小明", account=survivor_account)
    duplicate = ContactFactory(company=company, owner=shop.owner, name="王小明", account=duplicate_account)
    fan = make_identity(
        company, kind="wecom", crm_account_id=duplicate_account.pk, crm_contact_id=duplicate.pk, resolution="auto"
    )
    other_fan = make_identity(company, kind="douyin", crm_contact_id=survivor.pk, resolution="auto")
    coupon = make_coupon(company, identity=fan, crm_contact_id=duplicate.pk)
    status_message = StatusMessage.objects.create(
        company=company,
        source_key="erp.shipment.shipped:1",
        event_name="erp.shipment.shipped",
        crm_account_id=duplicate_account.pk,
        crm_contact_id=duplicate.pk,
        identity=fan,
        text="您的订单已发货",
    )

    customer_merge(survivor=survivor, duplicate=duplicate, by=shop.admin)
    relay_all()
    fan.refresh_from_db()
    assert (fan.crm_contact_id, fan.crm_account_id) == (survivor.pk, duplicate_account.pk)
    assert Coupon.objects.get(pk=coupon.pk).crm_contact_id == survivor.pk
    status_message.refresh_from_db()
    assert (status_message.crm_contact_id, status_message.crm_account_id) == (survivor.pk, duplicate_account.pk)
    assert SocialIdentity.objects.get(pk=other_fan.pk).crm_contact_id == survivor.pk

    customer_merge(survivor=survivor_account, duplicate=duplicate_account, by=shop.admin)
    relay_all()
    fan.refresh_from_db()
    assert fan.crm_account_id == survivor_account.pk
    assert StatusMessage.objects.get(pk=status_message.pk).crm_account_id == survivor_account.pk
    runs = HandlerRun.objects.filter(handler="scrm.references_follow_crm_merge", status="done")
    assert runs.count() == 2


def test_consent_keeps_the_persons_latest_word_per_kind_of_channel(shop):
    company = shop.company
    survivor = ContactFactory(company=company, owner=shop.owner, name="李娜")
    duplicate = ContactFactory(company=company, owner=shop.owner, name="李娜")
    now = timezone.now()

    def consent(contact, kind, granted_days_ago, withdrawn_days_ago=None):
        row = consent_record(
            company_id=company.pk,
            crm_contact_id=contact.pk,
            channel_kind=kind,
            lawful_basis="consent",
            source="扫码关注",
            granted_at=now - timedelta(days=granted_days_ago),
        )
        if withdrawn_days_ago is not None:
            Consent.objects.filter(pk=row.pk).update(
                withdrawn_at=now - timedelta(days=withdrawn_days_ago), withdrawn_via="退订"
            )
        return row

    # WeCom: the survivor said yes 30 days ago, the duplicate unsubscribed 5 days ago → no.
    wecom_yes = consent(survivor, "wecom", 30)
    consent(duplicate, "wecom", 60, withdrawn_days_ago=5)
    # Weibo: only the duplicate said yes → yes, moved to the survivor.
    weibo_yes = consent(duplicate, "weibo", 10)
    # Douyin: both said yes; the duplicate's is newer → it stays live, the survivor's is closed by the merge.
    douyin_old = consent(survivor, "douyin", 40)
    douyin_new = consent(duplicate, "douyin", 3)
    # WeChat OA: the survivor unsubscribed 20 days ago, the duplicate said yes 2 days ago → yes.
    consent(survivor, "wechat_oa", 90, withdrawn_days_ago=20)
    oa_yes = consent(duplicate, "wechat_oa", 2)
    total = Consent.objects.filter(company=company).count()

    customer_merge(survivor=survivor, duplicate=duplicate, by=shop.admin)
    relay_all()

    def allows(kind):
        return consent_allows(company_id=company.pk, crm_contact_id=survivor.pk, channel_kind=kind)

    assert (allows("wecom"), allows("weibo"), allows("douyin"), allows("wechat_oa")) == (False, True, True, True)
    wecom_yes.refresh_from_db()
    assert wecom_yes.withdrawn_via == "merge" and wecom_yes.withdrawn_at == now - timedelta(days=5)
    douyin_old.refresh_from_db()
    assert douyin_old.withdrawn_via == "merge" and douyin_old.withdrawn_at >= now
    live = set(
        Consent.objects.filter(crm_contact_id=survivor.pk, withdrawn_at__isnull=True).values_list("pk", flat=True)
    )
    assert live == {weibo_yes.pk, douyin_new.pk, oa_yes.pk}
    # Nothing is deleted: every consent, withdrawn ones included, is the survivor's now.
    assert Consent.objects.filter(company=company, crm_contact_id=survivor.pk).count() == total
    assert not Consent.objects.filter(crm_contact_id=duplicate.pk).exists()
