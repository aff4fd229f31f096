"""Coupons: templates, issue (to a customer, or as a prize / reward), redeem once, expire."""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from scrm.models import Coupon, CouponKind, CouponReason, CouponStatus, CouponTemplate, SocialIdentity
from suite.models import Company

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud at a till
TEMPLATE_FIELDS = ("name", "kind", "value", "min_spend", "valid_days", "total_quantity", "is_active")


def _decimal(value, *, field: str, errors: dict, minimum: Decimal = Decimal("0")) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        errors.setdefault(field, []).append(_("Enter a number."))
        return None
    if not number.is_finite() or number.as_tuple().exponent < -2:
        errors.setdefault(field, []).append(_("Use at most two decimal places."))
        return None
    if number < minimum or (field == "value" and number <= 0):
        errors.setdefault(field, []).append(
            _("Must be more than zero.") if field == "value" else _("Must not be negative.")
        )
        return None
    return number


def _clean_template(company_id: int, data: dict, *, instance: CouponTemplate | None = None) -> dict:
    errors: dict[str, list] = {}
    cleaned = dict(data)
    if "name" in data:
        cleaned["name"] = " ".join(str(data["name"] or "").split())[:200]
        if not cleaned["name"]:
            errors.setdefault("name", []).append(_("Give the template a name."))
        elif (
            CouponTemplate.objects.filter(company_id=company_id, name=cleaned["name"])
            .exclude(pk=getattr(instance, "pk", None))
            .exists()
        ):
            errors.setdefault("name", []).append(_("A coupon template with this name exists."))
    if "kind" in data and data["kind"] not in CouponKind.values:
        errors.setdefault("kind", []).append(_("Unknown kind."))
    for key in ("value", "min_spend"):
        if key in data:
            cleaned[key] = _decimal(data[key], field=key, errors=errors)
    kind = cleaned.get("kind", getattr(instance, "kind", CouponKind.AMOUNT_OFF))
    value = cleaned.get("value", getattr(instance, "value", None))
    if kind == CouponKind.PERCENT_OFF and value is not None and value > 100:
        errors.setdefault("value", []).append(_("A percentage is at most 100."))
    total = cleaned.get("total_quantity", getattr(instance, "total_quantity", None))
    if instance is not None and total is not None and total < instance.issued_count:
        errors.setdefault("total_quantity", []).append(
            _("%(count)d coupons were issued already.") % {"count": instance.issued_count}
        )
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def coupon_template_create(*, company: Company, **fields) -> CouponTemplate:
    """A coupon template. Raises ``ValidationError`` per field. Publishes nothing."""
    fields = {k: v for k, v in fields.items() if k in TEMPLATE_FIELDS}
    fields.setdefault("name", "")
    fields.setdefault("value", None)
    cleaned = _clean_template(company.pk, fields)
    return CouponTemplate.objects.create(company=company, **cleaned)


@transaction.atomic
def coupon_template_update(*, template: CouponTemplate, **fields) -> CouponTemplate:
    """Change a template; coupons already issued keep their expiry. Locks the template."""
    locked = CouponTemplate.objects.select_for_update().get(pk=template.pk)
    cleaned = _clean_template(
        locked.company_id, {k: v for k, v in fields.items() if k in TEMPLATE_FIELDS}, instance=locked
    )
    for key, value in cleaned.items():
        setattr(locked, key, value)
    locked.save(update_fields=[*cleaned, "updated_at"])
    return locked


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))


@transaction.atomic
def coupon_issue(
    *,
    template: CouponTemplate,
    identity: SocialIdentity | None = None,
    crm_contact_id: int | None = None,
    recipient_phone: str = "",
    reason: str = CouponReason.MANUAL,
) -> Coupon:
    """Issue one coupon of ``template`` to a customer (a social identity, a CRM contact id, or a phone).

    Locks the template row so ``total_quantity`` holds under concurrent issues (the CHECK constraint backs
    it). Raises ``ValidationError`` when the template is inactive or used up. Publishes nothing."""
    locked = CouponTemplate.objects.select_for_update().get(pk=template.pk)
    if identity is not None and identity.company_id != locked.company_id:
        raise ValidationError({"identity": _("Unknown customer.")})
    if identity is None and crm_contact_id is None and not recipient_phone:
        raise ValidationError({"identity": _("Choose who receives the coupon.")})
    if not locked.is_active:
        raise ValidationError({"template": _("This coupon template is not active.")})
    if locked.total_quantity is not None and locked.issued_count >= locked.total_quantity:
        raise ValidationError({"template": _("All coupons of this template have been issued.")})
    if crm_contact_id is None and identity is not None:
        crm_contact_id = identity.crm_contact_id
    coupon = Coupon.objects.create(
        company_id=locked.company_id,
        template=locked,
        code=_new_code(),
        identity=identity,
        crm_contact_id=crm_contact_id,
        recipient_phone=(recipient_phone or "")[:32],
        reason=reason,
        expires_at=timezone.now() + timedelta(days=locked.valid_days),
    )
    CouponTemplate.objects.filter(pk=locked.pk).update(issued_count=F("issued_count") + 1)
    return coupon


@transaction.atomic
def coupon_redeem(*, company: Company | int, code: str, by=None, order_reference: str = "") -> Coupon:
    """Redeem the coupon ``code`` once: one conditional UPDATE (status issued and not expired → redeemed), so
    of two concurrent redemptions exactly one wins. Raises ``ValidationError`` on ``code`` saying why not."""
    company_id = getattr(company, "pk", company)
    code = (code or "").strip().upper()
    now = timezone.now()
    updated = Coupon.objects.filter(
        company_id=company_id, code=code, status=CouponStatus.ISSUED, expires_at__gt=now
    ).update(
        status=CouponStatus.REDEEMED,
        redeemed_at=now,
        redeemed_by=by,
        order_reference=(order_reference or "")[:100],
        updated_at=now,
    )
    coupon = Coupon.objects.filter(company_id=company_id, code=code).select_related("template").first()
    if coupon is None:
        raise ValidationError({"code": _("No such coupon.")})
    if not updated:
        if coupon.status == CouponStatus.REDEEMED:
            raise ValidationError({"code": _("This coupon was redeemed already.")})
        if coupon.status == CouponStatus.VOID:
            raise ValidationError({"code": _("This coupon was voided.")})
        raise ValidationError({"code": _("This coupon has expired.")})
    return coupon


def coupons_expire(*, now=None) -> int:
    """Mark every issued coupon past its expiry as expired (beat: ``scrm.coupons_expire``); returns how many.
    One UPDATE over the partial index of open coupons."""
    now = now or timezone.now()
    return Coupon.objects.filter(status=CouponStatus.ISSUED, expires_at__lte=now).update(
        status=CouponStatus.EXPIRED, updated_at=now
    )
