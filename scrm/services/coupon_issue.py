"""Issue coupons to everybody in a segment, in one transaction (the coupon pages' "issue to a segment")."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import selectors as crm_selectors
from scrm.models import Coupon, CouponReason, CouponStatus, CouponTemplate, Segment
from scrm.services.coupons import _new_code

MAX_RECIPIENTS = 50_000


@transaction.atomic
def coupons_issue_to_segment(*, template: CouponTemplate, segment: Segment) -> int:
    """One coupon of ``template`` to every live contact of ``segment`` that holds no open (issued) coupon of it
    yet — all or nothing: if the template has fewer coupons left than recipients, nothing is issued and
    ``ValidationError`` says how many are left. Locks the template row (``total_quantity`` holds under concurrent
    issues, as in ``coupon_issue``). Returns how many were issued. Publishes nothing."""
    if segment.company_id != template.company_id:
        raise ValidationError({"segment": _("Unknown segment.")})
    locked = CouponTemplate.objects.select_for_update().get(pk=template.pk)
    if not locked.is_active:
        raise ValidationError({"template": _("This coupon template is not active.")})
    try:
        contacts = crm_selectors.customers_in_segment(company_id=locked.company_id, query=segment.query)
    except crm_selectors.SegmentQueryError as exc:
        raise ValidationError({"segment": exc.errors}) from None
    holders = Coupon.objects.filter(template=locked, status=CouponStatus.ISSUED, crm_contact_id__isnull=False)
    ids = list(
        contacts.exclude(pk__in=holders.values("crm_contact_id"))
        .order_by("pk")
        .values_list("pk", flat=True)[: MAX_RECIPIENTS + 1]
    )
    if len(ids) > MAX_RECIPIENTS:
        raise ValidationError(
            {"segment": _("At most %(max)d coupons are issued at once; narrow the segment.") % {"max": MAX_RECIPIENTS}}
        )
    if not ids:
        raise ValidationError({"segment": _("Nobody in this segment is waiting for this coupon.")})
    if locked.total_quantity is not None and locked.issued_count + len(ids) > locked.total_quantity:
        raise ValidationError(
            {
                "segment": _("The segment has %(count)d customers but only %(left)d coupons of this template are left.")
                % {"count": len(ids), "left": locked.total_quantity - locked.issued_count}
            }
        )
    expires_at = timezone.now() + timedelta(days=locked.valid_days)
    Coupon.objects.bulk_create(
        [
            Coupon(
                company_id=locked.company_id,
                template=locked,
                code=_new_code(),
                crm_contact_id=contact_id,
                reason=CouponReason.MANUAL,
                expires_at=expires_at,
            )
            for contact_id in ids
        ],
        batch_size=1000,
    )
    CouponTemplate.objects.filter(pk=locked.pk).update(issued_count=F("issued_count") + len(ids))
    return len(ids)
