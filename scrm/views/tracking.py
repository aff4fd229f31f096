"""Public endpoints of pushes (no login: the recipient opens them from the platform): the tracked redirect
link and the unsubscribe link, both carrying a signed token. A tampered token is a 404 and records nothing."""

from __future__ import annotations

from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from scrm.services.pushes import push_click, push_unsubscribe


@never_cache
@require_http_methods(["GET", "HEAD"])
def push_click_view(request, token: str):
    target = push_click(token=token)
    if target is None:
        raise Http404
    return HttpResponseRedirect(target)  # the campaign's own link (an http(s) URL set by staff), never the query


@never_cache
@require_http_methods(["GET", "POST"])
def push_unsubscribe_view(request, token: str):
    """GET shows a confirmation button (link scanners must not unsubscribe people); POST withdraws at once."""
    from scrm.services.pushes import UNSUBSCRIBE_SALT, message_for_token

    if request.method == "GET":
        if message_for_token(token, salt=UNSUBSCRIBE_SALT) is None:
            raise Http404
        return render(request, "scrm/unsubscribe.html", {"done": False, "token": token})
    if push_unsubscribe(token=token) is None:
        raise Http404
    return render(request, "scrm/unsubscribe.html", {"done": True, "token": token})
