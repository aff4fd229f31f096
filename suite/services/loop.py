"""Writes of the loop monitor (issue #7): retrying a dead letter from the UI, on the record."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from suite import events, policy
from suite.models import Role
from suite.models.outbox import OutboxEvent
from suite.services.events import event_retry

EVENT_RETRIED = "suite.event.retried"
LOOP_ROLES = frozenset({Role.ADMIN, Role.MANAGER})


class RetryRefused(Exception):
    pass


@transaction.atomic
def dead_letter_retry(*, actor: policy.Actor, event_id: int) -> OutboxEvent:
    """Put one of the actor's company's dead (or backing-off) events back in the queue (``event_retry``) and record
    who did it: ``suite.event.retried`` is published with the event's correlation id, so the retry appears in the
    trace and in the outbox with its user. Administrators and managers only; another company's event is refused
    like a missing one. A delivered event is left alone (nothing published)."""
    if actor is None or actor.role not in LOOP_ROLES:
        raise RetryRefused(_("Only administrators and managers may retry events."))
    event = OutboxEvent.objects.filter(pk=event_id, company_id=actor.company_id).first()
    if event is None:
        raise OutboxEvent.DoesNotExist
    before = event.state
    retried = event_retry(event=event, by=actor.user)
    if before != OutboxEvent.State.DONE and retried.state == OutboxEvent.State.PENDING:
        events.publish(
            EVENT_RETRIED,
            {"event_id": event.id, "event_uuid": str(event.uuid), "event_name": event.name, "previous_state": before},
            company_id=event.company_id,
            correlation_id=event.correlation_id,
            by=actor.user,
        )
    return retried
