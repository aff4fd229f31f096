"""Factories for QR campaigns, coupons and UGC (through the services), registered for the tenant-isolation
test."""

from __future__ import annotations

import itertools
from decimal import Decimal

from scrm.models import (
    Coupon,
    CouponTemplate,
    QrCampaign,
    QrCampaignStatus,
    QrClaim,
    QrCode,
    QrScan,
    UgcPost,
)
from scrm.services.campaigns import Scanner, qr_campaign_create, qr_codes_generate, qr_prize_claim, qr_scan_record
from scrm.services.coupons import coupon_issue, coupon_template_create
from scrm.services.ugc import ugc_capture
from suite.models import Company
from suite.testing import tenant_factory

_seq = itertools.count(1)


def make_coupon_template(company: Company, **fields) -> CouponTemplate:
    fields.setdefault("name", f"满100减{next(_seq)}")
    fields.setdefault("value", Decimal("10.00"))
    return coupon_template_create(company=company, **fields)


def make_coupon(company: Company, *, template: CouponTemplate | None = None, **fields) -> Coupon:
    fields.setdefault("recipient_phone", "13800138000")
    return coupon_issue(template=template or make_coupon_template(company), **fields)


def make_campaign(company: Company, **fields) -> QrCampaign:
    fields.setdefault("name", f"扫码赢红包 {next(_seq)}")
    fields.setdefault("kind", "red_envelope")
    fields.setdefault("status", QrCampaignStatus.ACTIVE)
    fields.setdefault("prize_amount", Decimal("1.88"))
    fields.setdefault("budget", Decimal("100.00"))
    return qr_campaign_create(company=company, **fields)


def make_code(company: Company, *, campaign: QrCampaign | None = None, **fields) -> QrCode:
    return qr_codes_generate(campaign=campaign or make_campaign(company), count=1, **fields)[0]


def make_scan(company: Company, *, code: QrCode | None = None, phone: str | None = None, **fields) -> QrScan:
    scanner = Scanner(phone=phone or f"139{next(_seq):08d}", **fields)
    return qr_scan_record(code=code or make_code(company), scanner=scanner, source="test")


def make_claim(company: Company) -> QrClaim:
    return qr_prize_claim(scan=make_scan(company)).claim


def make_ugc(company: Company, text: str = "面霜很好用，推荐！", **fields) -> UgcPost:
    fields.setdefault("kind", "review")
    return ugc_capture(company=company, text=text, **fields)[0]


tenant_factory(CouponTemplate)(lambda company: make_coupon_template(company))
tenant_factory(Coupon)(lambda company: make_coupon(company))
tenant_factory(QrCampaign)(lambda company: make_campaign(company))
tenant_factory(QrCode)(lambda company: make_code(company))
tenant_factory(QrScan)(lambda company: make_scan(company))
tenant_factory(QrClaim)(lambda company: make_claim(company))
tenant_factory(UgcPost)(lambda company: make_ugc(company))
