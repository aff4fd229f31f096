"""QR campaign pages (list and detail with figures, staff only), the public mobile landing page a code
opens (WeChat sign-in or a phone form, then the prize), and the UGC wall."""

from __future__ import annotations

import secrets

from django import forms
from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from crm.text import normalize_phone
from scrm import selectors, selectors_dashboards
from scrm.channels.wechat_oauth import OAuthError, authorize_url, exchange_code
from scrm.models import Channel, CouponTemplate, QrCampaign, QrCampaignKind, QrCode, QrScan, Sentiment, UgcPost
from scrm.services import campaigns as campaign_services
from scrm.services import ugc as ugc_services
from scrm.views.paging import paginate_ids_first
from suite import policy
from suite.models import Membership
from suite.ui.choices import chosen
from suite.ui.records import actor_required

PAGE_SIZE = 25
SCANNER_KEY = "scrm.qr.scanner"
SCANS_KEY = "scrm.qr.scans"
RESULTS_KEY = "scrm.qr.results"
STATE_KEY = "scrm.qr.oauth_state"
SOURCE_KEY = "scrm.qr.source"


def _require(actor, action: str, target) -> None:
    if not policy.can(actor, action, target):
        raise PermissionDenied


# ---------------------------------------------------------------- staff pages


@actor_required
def campaign_list(request):
    actor = request.actor
    _require(actor, "view", QrCampaign)
    page = Paginator(selectors.qr_campaigns_visible_to(actor), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "scrm/qr_campaigns.html", {"page": page, "can_add": policy.can(actor, "add", QrCampaign)})


class CodesForm(forms.Form):
    count = forms.IntegerField(label=gettext_lazy("How many codes"), min_value=1, max_value=10_000, initial=100)
    product_sku = forms.CharField(label=gettext_lazy("Product SKU (for a lot)"), required=False, max_length=64)
    lot_code = forms.CharField(label=gettext_lazy("Lot code"), required=False, max_length=64)
    channel_label = forms.CharField(label=gettext_lazy("Channel"), required=False, max_length=100)
    staff = forms.ModelChoiceField(label=gettext_lazy("Staff member"), queryset=None, required=False)

    def __init__(self, *args, company_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        from django.contrib.auth import get_user_model

        self.fields["staff"].queryset = get_user_model().objects.filter(
            pk__in=Membership.objects.filter(company_id=company_id, is_active=True).values("user_id")
        )


def _campaign_or_404(actor, pk: int) -> QrCampaign:
    campaign = selectors.qr_campaigns_visible_to(actor).filter(pk=pk).first()
    if campaign is None:
        raise Http404
    return campaign


@actor_required
def campaign_detail(request, pk: int):
    actor = request.actor
    campaign = _campaign_or_404(actor, pk)
    can_add_codes = policy.can(actor, "add", QrCode)
    form = CodesForm(request.POST or None, company_id=actor.company_id)
    if request.method == "POST":
        _require(actor, "add", QrCode)
        if form.is_valid():
            try:
                codes = campaign_services.qr_codes_generate(campaign=campaign, **form.cleaned_data)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                flash.success(request, _("%(count)d codes generated.") % {"count": len(codes)})
                return redirect("scrm:qr-campaign", pk=campaign.pk)
    scans = Paginator(selectors.qr_scans_visible_to(actor, campaign=campaign), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    sample_codes = list(campaign.codes.order_by("-id")[:5])
    return render(
        request,
        "scrm/qr_campaign.html",
        {
            "campaign": campaign,
            "figures": selectors.qr_campaign_figures(campaign),
            "page": scans,
            "form": form,
            "can_add_codes": can_add_codes,
            "sample_codes": [(code, campaign_services.code_path(code)) for code in sample_codes],
        },
    )


@actor_required
def ugc_wall(request):
    actor = request.actor
    _require(actor, "view", UgcPost)
    sentiment = request.GET.get("sentiment", "")
    sentiment = sentiment if sentiment in Sentiment.values else ""
    featured = True if request.GET.get("featured") == "1" else None
    posts = selectors.ugc_visible_to(actor, sentiment=sentiment, featured=featured)
    posts, drill = selectors_dashboards.ugc_drilled(posts, request.GET)  # the social dashboard's links (issue #7)
    # ids first: a deep page joined every skipped post (3.8 s); the count is remembered (docs/performance.md)
    page = paginate_ids_first(request, posts, PAGE_SIZE, count_models=(UgcPost,))
    return render(
        request,
        "scrm/ugc_wall.html",
        {
            "page": page,
            "drill": drill,
            "sentiment": sentiment,
            "featured": featured,
            "sentiments": Sentiment.choices,
            "can_feature": policy.can(actor, "feature", UgcPost),
            "can_reward": policy.can(actor, "reward", UgcPost),
            "templates": list(selectors.coupon_templates_visible_to(actor).filter(is_active=True)[:50]),
        },
    )


@require_POST
@actor_required
def ugc_action(request, pk: int):
    """Feature / unfeature a post, or reward its author with a coupon; back to the wall with a message."""
    actor = request.actor
    post = selectors.ugc_visible_to(actor).filter(pk=pk).first()
    if post is None:
        raise Http404
    action = request.POST.get("action", "")
    try:
        if action in ("feature", "unfeature"):
            _require(actor, "feature", post)
            ugc_services.ugc_feature(post=post, featured=action == "feature")
            flash.success(request, _("Featured.") if action == "feature" else _("No longer featured."))
        elif action == "reward":
            _require(actor, "reward", post)
            template = chosen(CouponTemplate.objects.filter(company_id=actor.company_id), request.POST.get("template"))
            if template is None:
                raise ValidationError({"template": _("Choose a coupon.")})
            ugc_services.ugc_reward(post=post, template=template)
            flash.success(request, _("Coupon sent."))
    except ValidationError as exc:
        for message in exc.messages:
            flash.error(request, message)
    return redirect(f"{reverse('scrm:ugc-wall')}?{request.GET.urlencode()}")


# ---------------------------------------------------------------- the public landing page


class PhoneForm(forms.Form):
    phone = forms.CharField(label=gettext_lazy("Mobile number"), max_length=32)
    province = forms.CharField(label=gettext_lazy("Province"), max_length=50, required=False)
    city = forms.CharField(label=gettext_lazy("City"), max_length=50, required=False)

    def clean_phone(self):
        try:
            return normalize_phone(self.cleaned_data["phone"])
        except ValidationError:
            raise ValidationError(_("Enter a valid mobile number.")) from None


def _code_or_404(token: str):
    serial = campaign_services.serial_from_token(token)
    code = selectors.qr_code_by_serial(serial) if serial else None
    if code is None:
        raise Http404
    return code


def _source(request) -> str:
    label = request.GET.get("src", "")
    if label:
        return "".join(ch for ch in label if ch.isalnum() or ch in "-_")[:50]
    return "wechat" if "MicroMessenger" in request.META.get("HTTP_USER_AGENT", "") else "browser"


def _scan_for(request, code, scanner_data: dict):
    """The scan of this code by the session's scanner, recorded on their first visit with a known identity."""
    scans = request.session.get(SCANS_KEY, {})
    if code.serial in scans:
        return scans[code.serial]
    scanner = campaign_services.Scanner(**scanner_data)
    source = request.session.get(SOURCE_KEY, {}).get(code.serial) or _source(request)
    scan = campaign_services.qr_scan_record(code=code, scanner=scanner, source=source)
    scans[code.serial] = scan.pk
    request.session[SCANS_KEY] = scans
    return scan.pk


def qr_landing(request, token: str):
    """What a scanned code opens on the phone. No login: the signed code is the key; the scanner is known by
    WeChat sign-in (OAuth against the campaign's Official Account) or by the phone form."""
    code = _code_or_404(token)
    campaign = code.campaign
    sources = request.session.get(SOURCE_KEY, {})
    if code.serial not in sources:
        sources[code.serial] = _source(request)
        request.session[SOURCE_KEY] = sources
    scanner_data = request.session.get(SCANNER_KEY)
    form = PhoneForm(request.POST or None)
    if request.method == "POST" and request.POST.get("action") == "identify":
        if form.is_valid():
            request.session[SCANNER_KEY] = {
                "phone": form.cleaned_data["phone"],
                "province": form.cleaned_data["province"],
                "city": form.cleaned_data["city"],
            }
            return redirect(request.path)
    elif request.method == "POST" and request.POST.get("action") == "claim" and scanner_data:
        scan_id = _scan_for(request, code, scanner_data)
        scan = QrScan.objects.select_related("identity").get(pk=scan_id)
        result = campaign_services.qr_prize_claim(scan=scan)
        results = request.session.get(RESULTS_KEY, {})
        results[code.serial] = {
            "outcome": result.outcome,
            "amount": str(result.claim.amount) if result.claim else "",
            "coupon": result.claim.coupon.code if result.claim and result.claim.coupon_id else "",
        }
        request.session[RESULTS_KEY] = results
        return redirect(request.path)
    if scanner_data:
        _scan_for(request, code, scanner_data)
    return render(
        request,
        "scrm/qr_landing.html",
        {
            "code": code,
            "campaign": campaign,
            "running": campaign_services.campaign_is_running(campaign),
            "is_prize": campaign.kind == QrCampaignKind.RED_ENVELOPE,
            "scanner": scanner_data,
            "form": form,
            "result": request.session.get(RESULTS_KEY, {}).get(code.serial),
            "wechat_url": reverse("scrm:qr-wechat", kwargs={"token": token}) if campaign.oauth_channel_id else "",
        },
    )


def qr_wechat(request, token: str):
    """Start WeChat sign-in: a fresh ``state`` in the session, then off to WeChat's authorisation page."""
    code = _code_or_404(token)
    if not code.campaign.oauth_channel_id:
        raise Http404
    channel = Channel.objects.get(pk=code.campaign.oauth_channel_id)
    state = secrets.token_urlsafe(16)
    request.session[STATE_KEY] = state
    redirect_uri = request.build_absolute_uri(reverse("scrm:qr-oauth", kwargs={"token": token}))
    return redirect(authorize_url(channel, redirect_uri=redirect_uri, state=state))


def qr_oauth_callback(request, token: str):
    """WeChat came back with ``code`` and our ``state``: exchange the code for the scanner's openid (and with
    ``snsapi_userinfo`` their nickname and region), remember them in the session, back to the landing page."""
    code = _code_or_404(token)
    expected = request.session.pop(STATE_KEY, None)
    if not expected or request.GET.get("state") != expected or not request.GET.get("code"):
        flash.error(request, _("WeChat sign-in did not complete; please try again."))
        return redirect("scrm:qr-landing", token=token)
    channel = Channel.objects.get(pk=code.campaign.oauth_channel_id)
    try:
        user = exchange_code(channel, request.GET["code"])
    except OAuthError:
        flash.error(request, _("WeChat sign-in did not complete; please try again."))
        return redirect("scrm:qr-landing", token=token)
    request.session[SCANNER_KEY] = {
        "openid": user.openid,
        "unionid": user.unionid,
        "nickname": user.nickname,
        "province": user.province,
        "city": user.city,
    }
    return redirect("scrm:qr-landing", token=token)
