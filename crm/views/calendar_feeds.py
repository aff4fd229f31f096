"""Calendar subscription (日程订阅): make, replace or stop one's secret iCalendar address (the box on the activity
calendar page), and the address itself, which calendar apps read with no login — the secret in it is the
credential, so anything but a working secret is a 404."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from crm.calendar_ics import activities_calendar
from crm.models import Activity
from crm.selectors_activities import calendar_feed_activities
from crm.services import calendar_feeds as feed_services
from crm.views.activities import activity_calendar_page
from crm.views.common import require
from suite import policy
from suite.templatetags.troika import person_name
from suite.ui.records import actor_required

FEED_CACHE = "private, max-age=300"


def site_url(request) -> str:
    """Where the site is reached from outside, without a trailing slash: ``TROIKA_PUBLIC_URL``, else this request's
    scheme and host (links in the feed must open the site from a phone's calendar too)."""
    return (getattr(settings, "TROIKA_PUBLIC_URL", "") or request.build_absolute_uri("/")).rstrip("/")


@require_POST
@actor_required
def calendar_feed_issue(request):
    """Make the actor's subscription address, or a new one in place of theirs (the old one stops working), and show
    the calendar page with the address this once (never stored, so never shown again)."""
    actor = request.actor
    require(actor, "view", Activity)
    issued = feed_services.calendar_feed_issue(actor=actor)
    address = site_url(request) + reverse("crm:calendar-feed", args=[issued.secret])
    response = activity_calendar_page(request, new_feed_url=address)
    response["Cache-Control"] = "no-store"  # the page holds the secret
    return response


@require_POST
@actor_required
def calendar_feed_revoke(request):
    """Stop the actor's subscription: its address answers 404 from now on."""
    actor = request.actor
    require(actor, "view", Activity)
    if feed_services.calendar_feed_revoke(actor=actor):
        messages.success(request, _("The calendar subscription was stopped: its address no longer works."))
    return redirect("crm:activity-calendar")


@require_safe
def calendar_feed(request, secret: str):
    """The person's activities as an iCalendar file (``crm.calendar_ics``), in their language; 404 for a malformed,
    unknown, replaced or stopped address, a person who left the company or may no longer see activities, and a
    company without the CRM."""
    # the address is the credential: the access log gets it masked (``suite.ops.middleware``)
    request.log_path = request.path.replace(secret, f"{secret.partition('.')[0][:12]}.…")
    feed = feed_services.calendar_feed_find(secret)
    if feed is None:
        raise Http404
    actor = policy.actor_for(feed.user, feed.company)
    if actor is None or not policy.can(actor, "view", Activity):
        raise Http404
    activities = calendar_feed_activities(actor)
    with translation.override(actor.membership.language or settings.LANGUAGE_CODE):
        name = _("Troika — %(person)s (%(company)s)") % {
            "person": person_name(feed.user),
            "company": feed.company.name,
        }
        body = activities_calendar(activities, name=name, base_url=site_url(request))
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="troika.ics"'
    response["Cache-Control"] = FEED_CACHE
    return response
