"""Coupon pages: the list with templates' figures and filters (flat query count), issue to a segment (all or
nothing against the template's quantity) or to one customer, redeem with a clear message when a code was
redeemed already, has expired or does not exist, and who may do what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone, translation

from crm.services.customers import customer_tags_set
from crm.tests.factories import ContactFactory, TagFactory
from scrm.models import Coupon, CouponReason, CouponStatus
from scrm.services.coupons import coupon_redeem
from scrm.services.segments import segment_create
from scrm.tests.factories_campaigns import make_coupon, make_coupon_template
from suite.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def login(company):
    company.enabled_modules = ["scrm"]
    company.save(update_fields=["enabled_modules"])

    def make(membership) -> Client:
        client = Client(HTTP_ACCEPT_LANGUAGE="en")  # the messages asserted are the English ones
        client.force_login(membership.user)
        return client

    return make


@pytest.fixture
def marketing(company, member):
    return member(company, Role.MARKETING)


def test_coupon_list_with_filters_and_flat_queries(
    company, other_company, marketing, login, django_assert_max_num_queries
):
    client = login(marketing)
    for n in range(3):
        template = make_coupon_template(company, name=f"满减{n}", total_quantity=10)
        for _ in range(4):
            make_coupon(company, template=template)
    coupon_redeem(company=company, code=Coupon.objects.filter(template=template).first().code)
    make_coupon(company, template=template, reason=CouponReason.UGC_REWARD)
    make_coupon(other_company)  # another company's coupon never shows
    client.get("/scrm/coupons/")
    with django_assert_max_num_queries(12):
        page = client.get("/scrm/coupons/")
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('class="template-row"') == 3 and html.count('class="coupon-row"') == 13
    with django_assert_max_num_queries(12):
        page = client.get(f"/scrm/coupons/?template={template.pk}&status=redeemed")
    assert page.content.decode().count('class="coupon-row"') == 1
    page = client.get("/scrm/coupons/?reason=ugc_reward")
    assert page.content.decode().count('class="coupon-row"') == 1


def test_issue_to_a_segment_all_or_nothing(company, marketing, login):
    client = login(marketing)
    vip = TagFactory(company=company, name="VIP")
    people = [ContactFactory(company=company, name=f"客{n}") for n in range(5)]
    for person in people[:3]:
        customer_tags_set(customer=person, tags=[vip], by=None)
    segment = segment_create(company=company, name="VIP", query={"tag": vip.pk})
    small = make_coupon_template(company, name="限量", total_quantity=2)
    response = client.post("/scrm/coupons/issue/", {"template": small.pk, "segment": segment.pk})
    assert response.status_code == 200
    assert "The segment has 3 customers but only 2 coupons of this template are left." in response.content.decode()
    assert not Coupon.objects.filter(template=small).exists()

    template = make_coupon_template(company, name="会员礼", total_quantity=10)
    response = client.post("/scrm/coupons/issue/", {"template": template.pk, "segment": segment.pk})
    assert response.status_code == 302
    assert set(Coupon.objects.filter(template=template).values_list("crm_contact_id", flat=True)) == {
        p.pk for p in people[:3]
    }
    template.refresh_from_db()
    assert template.issued_count == 3
    # Issuing again skips those who hold an open coupon of the template: nobody is left.
    response = client.post("/scrm/coupons/issue/", {"template": template.pk, "segment": segment.pk})
    assert "Nobody in this segment is waiting for this coupon." in response.content.decode()


def test_issue_to_one_customer_and_form_errors(company, other_company, marketing, login):
    client = login(marketing)
    template = make_coupon_template(company)
    response = client.post("/scrm/coupons/issue/", {"template": template.pk})
    assert "Choose a segment, or one customer by contact id or mobile number." in response.content.decode()
    stranger = ContactFactory(company=other_company, name="外人")
    response = client.post("/scrm/coupons/issue/", {"template": template.pk, "crm_contact_id": stranger.pk})
    assert "No customer with this id." in response.content.decode()
    assert not Coupon.objects.filter(template=template).exists()
    customer = ContactFactory(company=company, name="王芳")
    response = client.post("/scrm/coupons/issue/", {"template": template.pk, "crm_contact_id": customer.pk})
    assert response.status_code == 302
    assert Coupon.objects.get(template=template).crm_contact_id == customer.pk


def test_redeem_form_says_why_a_code_cannot_be_redeemed(company, member, login):
    client = login(member(company, Role.SERVICE))
    coupon = make_coupon(company)
    response = client.post("/scrm/coupons/redeem/", {"code": coupon.code.lower(), "order_reference": "SO-1"})
    assert response.status_code == 200 and f"Coupon {coupon.code} redeemed." in response.content.decode()
    coupon.refresh_from_db()
    assert (coupon.status, coupon.order_reference) == (CouponStatus.REDEEMED, "SO-1")

    response = client.post("/scrm/coupons/redeem/", {"code": coupon.code})
    assert "This coupon was redeemed already." in response.content.decode()
    late = make_coupon(company)
    Coupon.objects.filter(pk=late.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = client.post("/scrm/coupons/redeem/", {"code": late.code})
    assert "This coupon has expired." in response.content.decode()
    response = client.post("/scrm/coupons/redeem/", {"code": "NOSUCHCODE"})
    assert "No such coupon." in response.content.decode()
    late.refresh_from_db()
    assert late.status == CouponStatus.ISSUED  # nothing half-written


def test_who_may_open_the_coupon_pages(company, member, login):
    service = login(member(company, Role.SERVICE, username="service"))
    assert service.get("/scrm/coupons/").status_code == 200
    assert service.get("/scrm/coupons/issue/").status_code == 403  # service redeems, does not issue
    sales = login(member(company, Role.SALES, username="sales"))
    assert sales.get("/scrm/coupons/").status_code == 403
    assert sales.get("/scrm/coupons/redeem/").status_code == 403
