"""Loop visibility pages (issue #7): the trace of one correlation id and the loop monitor.

Administrators and managers of the company only; everything is scoped to the company acted in.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from suite.events import selectors as event_selectors
from suite.models import Role
from suite.models.outbox import OutboxEvent
from suite.services.loop import RetryRefused, dead_letter_retry
from suite.ui import menu
from suite.ui.records import actor_required

LOOP_ROLES = frozenset({Role.ADMIN, Role.MANAGER})

menu.register(menu.MenuItem("dashboards", gettext_lazy("Loop monitor"), "ops-loop", roles=LOOP_ROLES, order=90))


def _require_loop_viewer(request) -> None:
    if request.actor.role not in LOOP_ROLES:
        raise Http404


@actor_required
def trace_page(request, correlation_id):
    """Every event of one correlation id across the apps with its handlers' runs, oldest first."""
    _require_loop_viewer(request)
    found = event_selectors.trace(correlation_id, company=request.actor.company_id)
    if not found:
        raise Http404
    started = found[0].created_at
    rows = []
    for event in found:
        rows.append({"event": event, "offset_ms": int((event.created_at - started).total_seconds() * 1000)})
    return render(
        request,
        "ui/loop/trace.html",
        {"correlation_id": correlation_id, "rows": rows, "apps": sorted({e.app for e in found})},
    )


@actor_required
def monitor_page(request):
    """The loop monitor: events per type per minute (last hour), relay lag p50/p95, failures, dead letters."""
    _require_loop_viewer(request)
    data = event_selectors.loop_monitor(company=request.actor.company_id)
    return render(request, "ui/loop/monitor.html", {"monitor": data})


@require_POST
@actor_required
def dead_letter_retry_view(request, pk: int):
    """Retry one dead letter (or an event backing off) of the company; recorded as ``suite.event.retried``."""
    _require_loop_viewer(request)
    try:
        event = dead_letter_retry(actor=request.actor, event_id=pk)
    except OutboxEvent.DoesNotExist:
        raise Http404 from None
    except RetryRefused:
        raise Http404 from None
    if event.state == OutboxEvent.State.PENDING:
        messages.success(request, _("Event #%(id)s is queued again.") % {"id": event.pk})
    else:
        messages.info(request, _("Event #%(id)s was already delivered.") % {"id": event.pk})
    return redirect("ops-loop")
