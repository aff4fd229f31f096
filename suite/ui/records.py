"""Finding "a record of any model" for the shell's generic pages (history, attachments) through the policy."""

from __future__ import annotations

from functools import wraps

from django.apps import apps
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode

from suite import policy
from suite.middleware import SESSION_COMPANY_KEY, forget_actor


def actor_required(view):
    """Logged in and acting in a company; ``request.actor`` is set. A user with no company sees a 403 page.

    A company in the session the user no longer belongs to is dropped (back to their first company)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if getattr(request, "htmx", False):
                # A partial (e.g. the polled bell) of a session that ended: send the whole page to the login.
                current = request.htmx.current_url_abs_path or reverse("home")
                response = HttpResponse(status=204)
                response["HX-Redirect"] = f"{reverse(settings.LOGIN_URL)}?{urlencode({'next': current})}"
                return response
            return redirect_to_login(request.get_full_path())
        actor = request.get_actor()
        if actor is None and request.session.get(SESSION_COMPANY_KEY):
            request.session.pop(SESSION_COMPANY_KEY, None)
            forget_actor(request)
            actor = request.get_actor()
        if actor is None:
            return render(request, "ui/no_company.html", status=403)
        request.actor = actor
        return view(request, *args, **kwargs)

    return wrapper


def safe_back(request, default: str = "") -> str:
    """Where to go back to: ``next`` or the referring page when it is on this site, else ``default`` (home)."""
    for candidate in (request.POST.get("next"), request.GET.get("next"), request.META.get("HTTP_REFERER")):
        if candidate and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return candidate
    return default or reverse("home")


def record_label(obj: Model) -> str:
    return obj._meta.label_lower


def model_or_404(label: str) -> type[Model]:
    try:
        model = apps.get_model(label)
        policy.policy_for(model)
    except (LookupError, ValueError):
        raise Http404 from None
    return model


def record_or_404(actor, label: str, pk: str, *, action: str = "view") -> Model:
    """The record ``label``/``pk`` when ``actor`` may see it (404 otherwise, also for models without a policy
    and for records of other companies) and take ``action`` on it (403 otherwise)."""
    model = model_or_404(label)
    if not policy.can(actor, "view", model):
        raise Http404
    record = policy.get_visible_or_404(actor, model._default_manager.all(), pk=pk)
    if action != "view" and not policy.can(actor, action, record):
        raise PermissionDenied
    return record
