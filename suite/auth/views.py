"""Login (username or email, then the second factor when the user has one), logout, lockout, account security
(two-factor setup, backup codes) and the API tokens page."""

from __future__ import annotations

import time
from base64 import b32encode

import django_otp
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django.views.i18n import set_language as django_set_language
from django_otp.plugins.otp_totp.models import TOTPDevice

from suite.auth import services
from suite.auth.forms import ApiTokenForm, AuthenticatorConfirmForm, LoginForm, OneTimeCodeForm
from suite.middleware import forget_actor
from suite.models import ApiToken
from suite.services.tokens import api_token_issue, api_token_revoke

PENDING_KEY = "troika_2fa_pending"
PENDING_MAX_AGE = 300  # seconds between the password and the one-time code
PENDING_MAX_TRIES = 5


def safe_next(request, default: str = "") -> str:
    """The ``next`` URL of the request when it stays on this site, else ``default`` (or the home page)."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default or reverse("home")


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request):
    if request.user.is_authenticated and request.method == "GET" and "next" not in request.GET:
        return redirect("home")
    form = LoginForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.user
        next_url = safe_next(request)
        if services.has_two_factor(user):
            request.session[PENDING_KEY] = {
                "user": user.pk,
                "backend": user.backend,
                "next": next_url,
                "at": time.time(),
                "tries": 0,
            }
            return redirect("login-verify")
        auth_login(request, user)
        services.language_remember(user=user, language=translation.get_language())
        forget_actor(request)
        return HttpResponseRedirect(next_url)
    if form.locked_out:
        return redirect("locked-out")
    return render(request, "registration/login.html", {"form": form, "next": safe_next(request, default="")})


def _pending_user(request):
    """The user who passed the password step and now owes the one-time code (or ``None`` when it expired)."""
    pending = request.session.get(PENDING_KEY)
    if not pending or time.time() - pending.get("at", 0) > PENDING_MAX_AGE:
        request.session.pop(PENDING_KEY, None)
        return None, None
    user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    return user, pending


@sensitive_post_parameters("token")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_verify(request):
    """The second login step; also where a logged-in user whose company now requires it verifies the session."""
    if request.user.is_authenticated:
        if request.user.is_verified():
            return redirect(safe_next(request))
        user, pending = request.user, None
        if not services.has_two_factor(user):
            return redirect(f"{reverse('two-factor-setup')}?next={safe_next(request)}")
    else:
        user, pending = _pending_user(request)
        if user is None:
            messages.info(request, _("Please log in again."))
            return redirect("login")
    form = OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = services.verify_second_factor(user=user, token=form.cleaned_data["token"])
        if device is not None:
            if pending is not None:
                user.backend = pending["backend"]
                user.otp_device = device  # django-otp marks the new session verified on login
                request.session.pop(PENDING_KEY, None)
                auth_login(request, user)
                services.language_remember(user=user, language=translation.get_language())
                next_url = pending["next"]
            else:
                django_otp.login(request, device)
                next_url = safe_next(request)
            forget_actor(request)
            return HttpResponseRedirect(next_url)
        if services.second_factor_failed(request=request, user=user):
            request.session.pop(PENDING_KEY, None)
            return redirect("locked-out")
        if pending is not None:
            pending["tries"] += 1
            if pending["tries"] >= PENDING_MAX_TRIES:
                request.session.pop(PENDING_KEY, None)
                messages.error(request, _("Too many wrong codes. Please log in again."))
                return redirect("login")
            request.session[PENDING_KEY] = pending
        form.add_error("token", _("This code is not valid. Check your device's clock, or use a backup code."))
    return render(request, "registration/verify.html", {"form": form, "pending_user": user})


def locked_out(request):
    """The lockout page on its own URL (django-axes renders the same template in place of a locked login)."""
    from axes.helpers import get_cool_off
    from django.conf import settings

    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "cooloff_timedelta": get_cool_off(request)}
    return render(request, "registration/locked_out.html", context, status=429)


def admin_login(request):
    """The admin site logs in through the suite's login (same brute-force counting, same second factor)."""
    next_url = safe_next(request, default=reverse("admin:index"))
    if request.user.is_authenticated:
        if request.user.is_staff:
            return redirect(next_url)
        return render(request, "registration/admin_denied.html", status=403)
    return redirect(f"{reverse('login')}?next={next_url}")


# ---------------------------------------------------------------- account security


@login_required
def security(request):
    user = request.user
    actor = request.get_actor()
    return render(
        request,
        "registration/security.html",
        {
            "totp_device": services.confirmed_totp_device(user),
            "backup_codes_left": services.backup_codes_left(user),
            "two_factor_required": services.two_factor_required(actor),
            "session_verified": user.is_verified(),
        },
    )


@sensitive_post_parameters("token")
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request):
    user = request.user
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = services.totp_device_start(user=user)
    form = AuthenticatorConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if services.totp_device_confirm(device=device, token=form.cleaned_data["token"]):
            device.refresh_from_db()
            django_otp.login(request, device)
            codes = services.backup_codes_issue(user=user)
            messages.success(request, _("Two-factor login is on."))
            return render(request, "registration/backup_codes.html", {"codes": codes, "next": safe_next(request)})
        form.add_error("token", _("This code is not valid. Check your device's clock and try again."))
    return render(
        request,
        "registration/two_factor_setup.html",
        {
            "form": form,
            "qr_code": services.qr_code_data_uri(device.config_url),
            "secret": b32encode(device.bin_key).decode(),
            "next": safe_next(request, default=""),
            "two_factor_required": services.two_factor_required(request.get_actor()),
        },
    )


@login_required
@require_POST
def backup_codes_regenerate(request):
    if not request.user.is_verified():
        messages.error(request, _("Verify this session with your authenticator first."))
        return redirect("security")
    codes = services.backup_codes_issue(user=request.user)
    return render(request, "registration/backup_codes.html", {"codes": codes, "next": reverse("security")})


# ---------------------------------------------------------------- API tokens


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    actor = request.get_actor()
    if actor is None:
        return render(request, "ui/no_company.html", status=403)
    form = ApiTokenForm(request.POST or None)
    new_secret = None
    if request.method == "POST" and form.is_valid():
        issued = api_token_issue(membership=actor.membership, name=form.cleaned_data["name"])
        new_secret = issued.secret
        form = ApiTokenForm()
    tokens = ApiToken.objects.filter(membership=actor.membership).order_by("-created_at")
    return render(request, "registration/api_tokens.html", {"form": form, "tokens": tokens, "new_secret": new_secret})


@login_required
@require_POST
def api_token_revoke_view(request, pk: int):
    actor = request.get_actor()
    token = get_object_or_404(ApiToken, pk=pk, membership=actor.membership if actor else None)
    api_token_revoke(token=token)
    messages.success(request, _("The token “%(name)s” was revoked.") % {"name": token.name})
    return redirect("api-tokens")


def set_language(request):
    """Django's language switch (the cookie and the redirect), and, for a signed-in person, the language remembered
    for the notifications others send them (``services.language_remember``)."""
    response = django_set_language(request)
    if request.method == "POST" and request.user.is_authenticated:
        services.language_remember(user=request.user, language=request.POST.get("language", ""))
    return response
