"""Order status messages to customers on their social channel (closed loop, flow 3 — fulfilment → customer).

``status_messages_for_fulfilment`` (called by SCRM's handlers of ``erp.shipment.shipped`` / ``.delivered``) writes
one ``StatusMessage`` per matched identity of the order's CRM account — ``queued`` when a live consent lets us
write to the person on that kind of channel, else ``skipped`` with the reason — and queues the sending after
commit. ``status_message_send`` sends a queued one through the channel's connector (outside any transaction, like
pushes) after checking the consent again, and records the result. No consent, no message.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from scrm.channels import RateLimited, SendError, connector_for
from scrm.models import (
    Conversation,
    Resolution,
    SocialIdentity,
    StatusMessage,
    StatusMessageSkip,
    StatusMessageStatus,
)
from scrm.services.consent import consent_allows
from scrm.services.throttle import send_token_take


def _text(event_name: str, payload: dict) -> str:
    values = {
        "order": payload.get("sales_order_number") or payload.get("number") or "",
        "carrier": payload.get("carrier") or "",
        "tracking": payload.get("tracking_number") or "",
    }
    if event_name.endswith(".delivered"):
        return _("Your order %(order)s has been delivered. Thank you!") % values
    text = _("Your order %(order)s is on its way") % values
    if values["carrier"] or values["tracking"]:
        text += _(": %(carrier)s %(tracking)s") % values
    return text.strip() + "."


def _channel_of(identity: SocialIdentity):
    conversation = (
        Conversation.objects.filter(identity=identity, channel__is_active=True)
        .select_related("channel")
        .order_by("-last_message_at", "-pk")
        .first()
    )
    return conversation.channel if conversation else None


def status_messages_for_fulfilment(*, company_id: int, event_name: str, payload: dict) -> list[StatusMessage]:
    """One status message per matched identity (``Resolution.AUTO``) of ``payload["crm_account_id"]``, keyed
    ``<event>:<delivery id>:<identity id>`` (a redelivered event writes nothing more). Queued with a live consent
    and a channel to reach the person on; skipped otherwise. Sending is queued after commit. Publishes nothing."""
    account_id = payload.get("crm_account_id")
    delivery_id = payload.get("delivery_id")
    if not account_id or not delivery_id:
        return []
    identities = SocialIdentity.objects.filter(
        company_id=company_id, crm_account_id=account_id, crm_contact_id__isnull=False, resolution=Resolution.AUTO
    )
    return _messages_write(
        company_id=company_id,
        event_name=event_name,
        key=f"{event_name}:{delivery_id}",
        identities=identities,
        text=_text(event_name, payload),
        crm_account_id=account_id,
        crm_opportunity_id=payload.get("crm_opportunity_id"),
    )


def status_messages_for_ticket_resolved(*, company_id: int, payload: dict) -> list[StatusMessage]:
    """The resolution of a service ticket told to the customer with the satisfaction survey link (closed loop,
    flow 5): the ticket's contact's matched identities (else its account's), with consent only; keyed on the
    ticket and the resolution time (a ticket reopened and resolved again is told again, a redelivery is not)."""
    contact_id, account_id = payload.get("contact_id"), payload.get("account_id")
    if not contact_id and not account_id:
        return []
    identities = SocialIdentity.objects.filter(company_id=company_id, resolution=Resolution.AUTO)
    if contact_id:
        identities = identities.filter(crm_contact_id=contact_id)
    else:
        identities = identities.filter(crm_account_id=account_id, crm_contact_id__isnull=False)
    text = _("Your request #%(number)s (%(subject)s) is resolved.") % {
        "number": payload.get("number"),
        "subject": (payload.get("subject") or "")[:60],
    }
    if payload.get("csat_url"):
        text += " " + _("How did we do? %(url)s") % {"url": payload["csat_url"]}
    return _messages_write(
        company_id=company_id,
        event_name="crm.ticket.resolved",
        key=f"crm.ticket.resolved:{payload.get('ticket_id')}:{payload.get('resolved_at') or ''}",
        identities=identities,
        text=text,
        crm_account_id=account_id,
        crm_opportunity_id=None,
    )


def _messages_write(
    *, company_id: int, event_name: str, key: str, identities, text: str, crm_account_id, crm_opportunity_id
) -> list[StatusMessage]:
    made: list[StatusMessage] = []
    for identity in identities.order_by("pk"):
        source_key = f"{key}:{identity.pk}"[:120]
        if StatusMessage.objects.filter(company_id=company_id, source_key=source_key).exists():
            continue
        channel = _channel_of(identity)
        status, skip = StatusMessageStatus.QUEUED, ""
        if channel is None:
            status, skip = StatusMessageStatus.SKIPPED, StatusMessageSkip.NO_CHANNEL
        elif not consent_allows(
            company_id=company_id, crm_contact_id=identity.crm_contact_id, channel_kind=channel.kind
        ):
            status, skip = StatusMessageStatus.SKIPPED, StatusMessageSkip.NO_CONSENT
        try:
            with transaction.atomic():
                message = StatusMessage.objects.create(
                    company_id=company_id,
                    source_key=source_key,
                    event_name=event_name,
                    crm_account_id=crm_account_id,
                    crm_contact_id=identity.crm_contact_id,
                    crm_opportunity_id=crm_opportunity_id,
                    identity=identity,
                    channel=channel,
                    text=text[:2000],
                    status=status,
                    skip_reason=skip,
                )
        except IntegrityError:
            continue  # written by a concurrent delivery of the same event
        if status == StatusMessageStatus.QUEUED:
            transaction.on_commit(lambda pk=message.pk: _queue_send(pk))
        made.append(message)
    return made


def _queue_send(message_id: int, countdown: float = 0) -> None:
    from scrm.tasks import status_message_send

    status_message_send.apply_async((message_id,), countdown=countdown)


def status_message_send(*, message_id: int) -> StatusMessage | None:
    """Send a queued status message through its channel's connector, after checking the consent again (a
    withdrawal since it was queued skips it). The platform call happens outside any transaction; the result is
    recorded after. Returns the message, or None when it is not queued (sent already, or another worker has it).
    A throttled channel or a rate-limited platform leaves it queued and re-queues the send."""
    with transaction.atomic():
        message = (
            StatusMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("channel", "identity")
            .filter(pk=message_id, status=StatusMessageStatus.QUEUED)
            .first()
        )
        if message is None:
            return None
        if not consent_allows(
            company_id=message.company_id,
            crm_contact_id=message.crm_contact_id,
            channel_kind=message.channel.kind,
            lock=True,
        ):
            message.status, message.skip_reason = StatusMessageStatus.SKIPPED, StatusMessageSkip.NO_CONSENT
            message.save(update_fields=["status", "skip_reason", "updated_at"])
            return message
    wait = send_token_take(message.channel)
    if wait:
        transaction.on_commit(lambda: _queue_send(message.pk, countdown=max(wait, 0.05)))
        return message
    try:
        external_id = connector_for(message.channel).send(message.identity.external_id, message.text)
    except RateLimited as exc:
        _queue_send(message.pk, countdown=float(exc.retry_after))
        return message
    except SendError as exc:
        StatusMessage.objects.filter(pk=message.pk).update(
            status=StatusMessageStatus.FAILED, error=str(exc)[:500], updated_at=timezone.now()
        )
        message.refresh_from_db()
        return message
    StatusMessage.objects.filter(pk=message.pk, status=StatusMessageStatus.QUEUED).update(
        status=StatusMessageStatus.SENT,
        external_id=(external_id or "")[:200],
        sent_at=timezone.now(),
        updated_at=timezone.now(),
    )
    message.refresh_from_db()
    return message
