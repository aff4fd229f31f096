"""Celery tasks of the CRM: fetch by id, call a service or send a mail, nothing else."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import override

logger = logging.getLogger(__name__)


@shared_task(name="crm.tickets_check_sla", ignore_result=True)
def tickets_check_sla() -> dict:
    """Mark overdue tickets as breached and notify (beat, every minute)."""
    from crm.services.tickets import tickets_check_sla as sweep

    result = sweep()
    if result.first_response_breaches or result.resolution_breaches:
        logger.info(
            "ticket SLA sweep: %s first-response and %s resolution breaches",
            result.first_response_breaches,
            result.resolution_breaches,
        )
    return {"first_response": result.first_response_breaches, "resolution": result.resolution_breaches}


@shared_task(name="crm.quotes_expire", ignore_result=True)
def quotes_expire() -> int:
    """Mark draft and sent quotes past their validity date as expired (beat, daily after midnight)."""
    from crm.services.quotes import quotes_expire as expire

    return expire()


def customer_email_content(ticket, *, message=None, survey_url: str = "") -> tuple[str, str]:
    """Subject and text of an e-mail to the ticket's requester (a reply, or the satisfaction survey); the
    subject carries ``[#number]`` so that the customer's answer threads back onto the ticket."""
    subject = f"[#{ticket.number}] {ticket.subject}"
    if message is not None:
        return subject, message.body
    text = _(
        "Your request %(ticket)s has been resolved.\n\nHow satisfied are you with our service? "
        "Answer in one click (1–5): %(url)s\n\nIf the problem is not solved, just reply to this e-mail."
    ) % {"ticket": f"#{ticket.number}", "url": survey_url}
    return subject, text


@shared_task(name="crm.ticket_customer_email", ignore_result=True)
def ticket_customer_email(ticket_id: int, *, message_id: int | None = None, survey: bool = False) -> bool:
    """Send a reply (``message_id``) or the satisfaction survey link (``survey``) of a ticket to its requester.
    Returns whether a mail was sent (nothing is sent for a reply that is not a customer reply, or without an
    address)."""
    from crm.models import TicketMessage, TicketMessageKind
    from crm.selectors import ticket_for_email
    from crm.services.tickets import requester_email_of

    ticket = ticket_for_email(ticket_id)
    if ticket is None:
        return False
    address = requester_email_of(ticket)
    if not address:
        return False
    message = None
    if message_id is not None:
        message = TicketMessage.objects.filter(pk=message_id, ticket=ticket, kind=TicketMessageKind.REPLY).first()
        if message is None:
            return False
    survey_url = ""
    if survey:
        csat = getattr(ticket, "csat", None)
        if csat is None or csat.submitted_at is not None:
            return False
        base = getattr(settings, "TROIKA_PUBLIC_URL", "").rstrip("/")
        survey_url = base + reverse("crm:csat", args=[csat.token])
    with override(settings.LANGUAGE_CODE):
        subject, text = customer_email_content(ticket, message=message, survey_url=survey_url)
    send_mail(subject, text, None, [address])
    return True


@shared_task(name="crm.import_job_run", ignore_result=True, acks_late=True)
def import_job_run(job_id: int) -> str:
    """Run (or resume after a lost worker) an import job from its last committed chunk."""
    from crm.services.imports import import_job_run as run

    return run(job_id=job_id).status


@shared_task(name="crm.import_jobs_fail_stalled", ignore_result=True)
def import_jobs_fail_stalled() -> int:
    """Mark imports whose worker stopped as failed, so that they can be resumed (beat)."""
    from crm.services.imports import import_jobs_fail_stalled as sweep

    return sweep()


@shared_task(name="crm.activity_reminders_send", ignore_result=True)
def activity_reminders_send() -> int:
    """Send the activity reminders that are due, each exactly once (beat, every minute)."""
    from crm.services.reminders import activity_reminders_send as send

    total = 0
    while True:  # a backlog (after downtime) is worked off in batches, each its own transaction
        sent = send()
        total += sent
        if sent < 500:
            return total


@shared_task(name="crm.opportunity_nudges_send", ignore_result=True)
def opportunity_nudges_send() -> int:
    """Nudge the owners of opportunities without activity for their pipeline's N days (beat, daily)."""
    from crm.services.reminders import opportunity_nudges_send as send

    return send()


@shared_task(name="crm.segment_bitmaps_compact", ignore_result=True)
def segment_bitmaps_compact() -> int:
    """Fold pending segment-bitmap deltas into the bitmaps (beat, every 5 s); counts are exact without it."""
    from crm.services.segment_bitmaps import segment_bitmaps_compact as compact

    return compact()


@shared_task(name="crm.demand_signals_publish", ignore_result=True)
def demand_signals_publish() -> int:
    """Publish every company's weighted pipeline and intent snapshot for ERP's MRP (beat, daily; closed loop)."""
    from crm.services.demand_signals import demand_signals_publish_all

    return demand_signals_publish_all()


@shared_task(name="crm.pool_sweep", ignore_result=True)
def pool_sweep() -> int:
    """Return to the customer pool the accounts nobody followed up for their company's days, and warn the owners
    of those going back within the rule's warning days (beat, hourly). Returns how many went back."""
    from crm.services.pool import POOL_SWEEP_BATCH, pool_warn
    from crm.services.pool import pool_sweep as sweep

    total = 0
    while True:  # a backlog (a rule just switched on) in batches, each its own transaction
        released = sweep()
        total += released
        if released < POOL_SWEEP_BATCH:
            break
    while pool_warn() == POOL_SWEEP_BATCH:  # then the owners of those going back soon are told, once
        pass
    return total
