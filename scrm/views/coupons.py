"""Coupon pages: templates (batches) with their figures and the coupons issued, with filters; issue to a segment
or to one customer; redeem a code at the counter with a clear message when it cannot be. UGC rewards are given
from the UGC wall and listed here (reason "Reward for a post")."""

from __future__ import annotations

from django import forms
from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import selectors as crm_selectors
from scrm import selectors
from scrm.models import Coupon, CouponReason, CouponStatus, CouponTemplate, Segment
from scrm.services import coupons as coupon_services
from scrm.services.coupon_issue import coupons_issue_to_segment
from suite import policy
from suite.ui.choices import chosen_id
from suite.ui.records import actor_required

PAGE_SIZE = 25


def _require(actor, action: str, target) -> None:
    if not policy.can(actor, action, target):
        raise PermissionDenied


def _templates_with_figures(actor):
    return selectors.coupon_templates_visible_to(actor).annotate(
        open_count=Count("coupons", filter=Q(coupons__status=CouponStatus.ISSUED)),
        redeemed_count=Count("coupons", filter=Q(coupons__status=CouponStatus.REDEEMED)),
        expired_count=Count("coupons", filter=Q(coupons__status=CouponStatus.EXPIRED)),
    )


@actor_required
def coupon_list(request):
    actor = request.actor
    _require(actor, "view", Coupon)
    status = request.GET.get("status", "")
    status = status if status in CouponStatus.values else ""
    reason = request.GET.get("reason", "")
    reason = reason if reason in CouponReason.values else ""
    template_id = chosen_id(request.GET.get("template"))
    code = (request.GET.get("code") or "").strip().upper()[:20]
    coupons = selectors.coupons_visible_to(actor, status=status)
    if reason:
        coupons = coupons.filter(reason=reason)
    if template_id:
        coupons = coupons.filter(template_id=template_id)
    if code:
        coupons = coupons.filter(code__startswith=code)
    templates = list(_templates_with_figures(actor))
    return render(
        request,
        "scrm/coupons.html",
        {
            "templates": templates,
            "page": Paginator(coupons, PAGE_SIZE).get_page(request.GET.get("page")),
            "filters": {"status": status, "reason": reason, "template": template_id, "code": code},
            "statuses": CouponStatus.choices,
            "reasons": CouponReason.choices,
            "can_issue": policy.can(actor, "add", Coupon),
            "can_redeem": policy.can(actor, "redeem", Coupon),
        },
    )


class IssueForm(forms.Form):
    template = forms.ModelChoiceField(label=gettext_lazy("Coupon template"), queryset=CouponTemplate.objects.none())
    segment = forms.ModelChoiceField(
        label=gettext_lazy("To everybody in a segment"), queryset=Segment.objects.none(), required=False
    )
    crm_contact_id = forms.IntegerField(label=gettext_lazy("Or to one customer (CRM contact id)"), required=False)
    recipient_phone = forms.CharField(label=gettext_lazy("Or to a mobile number"), required=False, max_length=32)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.company_id = actor.company_id
        self.fields["template"].queryset = selectors.coupon_templates_visible_to(actor).filter(is_active=True)
        self.fields["segment"].queryset = selectors.segments_visible_to(actor)

    def clean(self):
        data = super().clean()
        given = [name for name in ("segment", "crm_contact_id", "recipient_phone") if data.get(name)]
        if len(given) != 1:
            raise ValidationError(_("Choose a segment, or one customer by contact id or mobile number."))
        contact_id = data.get("crm_contact_id")
        if contact_id and not crm_selectors.contacts_personalisation(
            company_id=self.company_id, contact_ids=[contact_id]
        ):
            self.add_error("crm_contact_id", _("No customer with this id."))
        return data


@actor_required
def coupon_issue(request):
    actor = request.actor
    _require(actor, "add", Coupon)
    form = IssueForm(request.POST or None, actor=actor)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if data["segment"]:
                count = coupons_issue_to_segment(template=data["template"], segment=data["segment"])
                flash.success(request, _("%(count)d coupons issued.") % {"count": count})
            else:
                coupon = coupon_services.coupon_issue(
                    template=data["template"],
                    crm_contact_id=data["crm_contact_id"],
                    recipient_phone=data["recipient_phone"] or "",
                )
                flash.success(request, _("Coupon %(code)s issued.") % {"code": coupon.code})
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            return redirect(f"{reverse('scrm:coupons')}?template={data['template'].pk}")
    return render(request, "scrm/coupon_issue.html", {"form": form})


class RedeemForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Coupon code"), max_length=20)
    order_reference = forms.CharField(label=gettext_lazy("Order reference"), max_length=100, required=False)


@actor_required
def coupon_redeem(request):
    actor = request.actor
    _require(actor, "redeem", Coupon)
    form = RedeemForm(request.POST or None)
    redeemed = None
    if request.method == "POST" and form.is_valid():
        try:
            redeemed = coupon_services.coupon_redeem(
                company=actor.company_id,
                code=form.cleaned_data["code"],
                by=request.user,
                order_reference=form.cleaned_data["order_reference"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            flash.success(request, _("Coupon %(code)s redeemed.") % {"code": redeemed.code})
            form = RedeemForm()
    return render(request, "scrm/coupon_redeem.html", {"form": form, "redeemed": redeemed})
