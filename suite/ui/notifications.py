"""The notifications bell (polled by htmx), the list page, and marking read."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from suite import policy
from suite.models import Notification
from suite.services.notifications import notification_mark_read, safe_link
from suite.ui.records import actor_required


def _inbox(actor):
    return policy.scope(actor, Notification.objects.all()).order_by("-created_at", "-id")


@never_cache
@actor_required
def bell(request):
    """The bell with the unread count; the shell polls it every 15 seconds."""
    return render(request, "ui/_bell.html")


@actor_required
def notification_list(request):
    inbox = _inbox(request.actor)
    unread_only = request.GET.get("unread") == "1"
    if unread_only:
        inbox = inbox.filter(read_at__isnull=True)
    page = Paginator(inbox, 25).get_page(request.GET.get("page"))
    return render(request, "ui/notifications.html", {"page": page, "unread_only": unread_only})


@require_POST
@actor_required
def notification_read(request, pk: int):
    """Mark one notification read; with ``open`` set, go on to its link."""
    notification = policy.get_visible_or_404(request.actor, Notification.objects.all(), pk=pk)
    notification_mark_read(user=request.user, company=request.actor.company_id, ids=[notification.pk])
    link = _safe_link_or_empty(notification.link)
    if request.POST.get("open") and link:
        return HttpResponseRedirect(link)
    if request.htmx:
        notification.refresh_from_db(fields=["read_at"])
        return render(request, "ui/_notification.html", {"notification": notification, "oob_bell": True})
    return HttpResponseRedirect(reverse("notifications"))


def _safe_link_or_empty(link: str) -> str:
    try:
        return safe_link(link)
    except ValidationError:
        return ""


@require_POST
@actor_required
def notification_read_all(request):
    notification_mark_read(user=request.user, company=request.actor.company_id)
    return HttpResponseRedirect(reverse("notifications"))
