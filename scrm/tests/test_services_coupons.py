"""Coupons: templates, issue within the quantity, redeem exactly once (also under concurrency), expire."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.utils import timezone

from scrm.models import Coupon, CouponStatus, CouponTemplate
from scrm.services.coupons import coupon_issue, coupon_redeem, coupon_template_create, coupons_expire
from scrm.tests.factories import make_identity
from scrm.tests.factories_campaigns import make_coupon, make_coupon_template

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]  # the tests read English messages


def test_template_refuses_bad_values_per_field(company):
    with pytest.raises(ValidationError) as caught:
        coupon_template_create(company=company, name="", value="0")
    assert set(caught.value.message_dict) == {"name", "value"}
    with pytest.raises(ValidationError) as caught:
        coupon_template_create(company=company, name="九折", kind="percent_off", value="120")
    assert "value" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        coupon_template_create(company=company, name="x", value="1.005")
    assert "value" in caught.value.message_dict
    assert not CouponTemplate.objects.filter(company=company).exists()


def test_issue_to_an_identity_carries_its_crm_contact_and_expiry(company):
    identity = make_identity(company, crm_contact_id=42)
    template = make_coupon_template(company, valid_days=7)
    coupon = coupon_issue(template=template, identity=identity)
    assert coupon.crm_contact_id == 42
    assert coupon.status == CouponStatus.ISSUED
    assert len(coupon.code) == 12
    assert timedelta(days=6, hours=23) < coupon.expires_at - timezone.now() <= timedelta(days=7)
    template.refresh_from_db()
    assert template.issued_count == 1


def test_issue_stops_at_the_total_quantity(company):
    template = make_coupon_template(company, total_quantity=2)
    make_coupon(company, template=template)
    make_coupon(company, template=template)
    with pytest.raises(ValidationError) as caught:
        make_coupon(company, template=template)
    assert "template" in caught.value.message_dict
    assert Coupon.objects.filter(template=template).count() == 2


def test_issue_needs_a_recipient_and_an_active_template(company):
    template = make_coupon_template(company, is_active=False)
    with pytest.raises(ValidationError):
        coupon_issue(template=template)
    with pytest.raises(ValidationError) as caught:
        coupon_issue(template=template, recipient_phone="13800000000")
    assert "template" in caught.value.message_dict


def test_redeem_once(company, other_company, admin_membership):
    coupon = make_coupon(company)
    redeemed = coupon_redeem(
        company=company, code=coupon.code.lower(), by=admin_membership.user, order_reference="SO-1"
    )
    assert (redeemed.status, redeemed.order_reference, redeemed.redeemed_by) == (
        "redeemed",
        "SO-1",
        admin_membership.user,
    )
    with pytest.raises(ValidationError, match="redeemed already"):
        coupon_redeem(company=company, code=coupon.code)
    with pytest.raises(ValidationError, match="No such coupon"):
        coupon_redeem(company=other_company, code=coupon.code)


def test_expired_coupons_cannot_be_redeemed_and_are_swept(company):
    coupon = make_coupon(company)
    fresh = make_coupon(company)
    Coupon.objects.filter(pk=coupon.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(ValidationError, match="expired"):
        coupon_redeem(company=company, code=coupon.code)
    assert coupons_expire() == 1
    coupon.refresh_from_db()
    fresh.refresh_from_db()
    assert (coupon.status, fresh.status) == ("expired", "issued")
    assert coupons_expire() == 0


def test_expire_task_is_scheduled_by_beat():
    from suite.celery import app

    entries = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "scrm.coupons_expire" in entries


@pytest.mark.django_db(transaction=True)
def test_concurrent_redemptions_of_one_coupon_exactly_one_wins(company):
    coupon = make_coupon(company, template=make_coupon_template(company, value=Decimal("5")))
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker():
        try:
            barrier.wait(timeout=20)
            try:
                coupon_redeem(company=company, code=coupon.code)
                outcome = "ok"
            except ValidationError:
                outcome = "refused"
            with lock:
                outcomes.append(outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok"] + ["refused"] * 7
    coupon.refresh_from_db()
    assert coupon.status == "redeemed"
