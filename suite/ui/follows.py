"""Following records in the browser: the Follow button of a record's page, and the list of what one follows."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from suite.selectors import follow_state, records_followed_by
from suite.services.follows import followable, is_followable, record_follow, record_unfollow
from suite.ui.records import actor_required, model_or_404, record_label, record_or_404, safe_back


def button_context(actor, record) -> dict:
    following, count = follow_state(actor, record)
    return {"record": record, "record_label": record_label(record), "following": following, "count": count}


@require_POST
@actor_required
def toggle(request, label: str, pk: str):
    """Follow (or, with ``unfollow=1``, stop following) the record; htmx gets the button back."""
    if not is_followable(model_or_404(label)):
        raise Http404
    record = record_or_404(request.actor, label, pk)
    try:
        if request.POST.get("unfollow") == "1":
            record_unfollow(actor=request.actor, record=record)
        else:
            record_follow(actor=request.actor, record=record)
    except (PermissionDenied, ValidationError):
        raise Http404 from None
    if getattr(request, "htmx", False):
        return render(request, "ui/_follow_button.html", button_context(request.actor, record))
    return redirect(safe_back(request, record.get_absolute_url()))


@actor_required
def following(request):
    """What one follows and may still see, latest first: each links to its page, says its state (the app's
    ``summary``) and since when it is followed, and can be unfollowed here."""
    followed = records_followed_by(request.actor, related=lambda model: followable(model).related)
    rows = []
    for record, since in followed:
        summary = followable(type(record)).summary
        rows.append(
            {
                "record": record,
                "label": record_label(record),
                "kind": record._meta.verbose_name,
                "url": record.get_absolute_url(),
                "state": summary(record) if summary else "",
                "since": since,
            }
        )
    return render(request, "ui/following.html", {"rows": rows})
