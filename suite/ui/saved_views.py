"""Saved list views in the browser: the bar above a list (its views, save the current filters, the default),
and the list's opening with the person's default view.

A list takes part with two lines: ``suite.services.saved_views.register_list("crm:account-list")`` in its app's
``ready()``, ``{% saved_views "crm:account-list" %}`` in its template, and, to open with the default view, at the
top of the list's view::

    if redirect := default_view_redirect(request, "crm:account-list"):
        return redirect
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from suite import policy
from suite.models import DefaultView, SavedView
from suite.selectors import default_view_of, saved_views_for
from suite.services import saved_views as services
from suite.ui.records import actor_required

ALL_VIEW = "all"  # ``?view=all``: the list without the default view


def view_url(view: SavedView) -> str:
    """The list with the view's filters, marked with the view (the bar names it)."""
    query = f"{view.query}&" if view.query else ""
    return f"{reverse(view.list_key)}?{query}view={view.pk}"


def default_view_redirect(request, list_key: str) -> HttpResponseRedirect | None:
    """Where a list opened without any parameter goes: the person's default view, if they chose one."""
    if request.GET or getattr(request, "htmx", False) or request.actor is None:
        return None
    view = default_view_of(request.actor, list_key)
    return redirect(view_url(view)) if view is not None else None


def bar_context(request, list_key: str) -> dict:
    """What the bar shows: the views (own first, then shared), the one open, the default, what one may do."""
    actor = request.actor
    views = list(saved_views_for(actor, list_key))
    default_id = (
        DefaultView.objects.filter(company_id=actor.company_id, user=actor.user, list_key=list_key)
        .values_list("view_id", flat=True)
        .first()
    )
    current = request.GET.get("view", "")
    rows = [
        {
            "view": view,
            "url": view_url(view),
            "mine": view.owner_id == actor.user.pk,
            "is_default": view.pk == default_id,
            "can_change": services.may_change(actor, view),
            "is_current": current == str(view.pk),
        }
        for view in sorted(views, key=lambda view: (view.owner_id != actor.user.pk, view.name.casefold()))
    ]
    current = next((row for row in rows if row["is_current"]), None)
    return {
        "list_key": list_key,
        "list_url": reverse(list_key),
        "all_url": f"{reverse(list_key)}?view={ALL_VIEW}",
        "rows": rows,
        "current": current["view"] if current else None,
        "current_can_change": bool(current and current["can_change"]),
        # the list's filters differ from the open view's (one changed them): offer to save them into it
        "current_changed": bool(current and not services.same_filters(request.GET.urlencode(), current["view"].query)),
        "query": services.clean_query(request.GET.urlencode()),
        "can_share": policy.can(actor, "share", SavedView),
        "has_default": default_id is not None,
    }


def _back(list_key: str) -> str:
    try:
        return reverse(list_key)
    except NoReverseMatch:  # an unknown or forged list name: home
        return reverse("home")


@require_POST
@actor_required
def save(request):
    list_key = request.POST.get("list_key", "")
    try:
        view = services.saved_view_create(
            actor=request.actor,
            list_key=list_key,
            name=request.POST.get("name", ""),
            query=request.POST.get("query", ""),
            shared=request.POST.get("shared") == "1",
            make_default=request.POST.get("make_default") == "1",
        )
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
        back = services.clean_query(request.POST.get("query", ""))
        return redirect(
            f"{_back(list_key)}?{back}" if back and list_key in services.registered_lists() else _back(list_key)
        )
    except PermissionDenied as error:
        messages.error(request, str(error))
        return redirect(_back(list_key))
    messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
    return redirect(view_url(view))


@require_POST
@actor_required
def update(request, pk: int):
    view = _visible_view(request, pk)
    try:
        view = services.saved_view_update(actor=request.actor, view=view, query=request.POST.get("query", ""))
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    except PermissionDenied as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("View “%(name)s” now keeps these filters.") % {"name": view.name})
    return redirect(view_url(view))


def _visible_view(request, pk: int) -> SavedView:
    view = SavedView.objects.filter(pk=pk, company_id=request.actor.company_id).first()
    if view is None or not saved_views_for(request.actor, view.list_key).filter(pk=pk).exists():
        raise Http404
    return view


@require_POST
@actor_required
def delete(request, pk: int):
    view = _visible_view(request, pk)
    try:
        services.saved_view_delete(actor=request.actor, view=view)
    except PermissionDenied as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("View “%(name)s” deleted.") % {"name": view.name})
    return redirect(_back(view.list_key) + f"?view={ALL_VIEW}")


@require_POST
@actor_required
def make_default(request, pk: int):
    view = _visible_view(request, pk)
    if request.POST.get("unset") == "1":
        services.default_view_set(actor=request.actor, list_key=view.list_key, view=None)
        messages.success(request, _("The list opens without filters again."))
        return redirect(_back(view.list_key) + f"?view={ALL_VIEW}")
    services.default_view_set(actor=request.actor, list_key=view.list_key, view=view)
    messages.success(request, _("The list now opens with “%(name)s”.") % {"name": view.name})
    return redirect(view_url(view))
