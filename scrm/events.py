"""The events SCRM publishes (names and payload builders: the contract in docs/events.md)."""

from __future__ import annotations

IDENTITY_RESOLVED = "scrm.identity.resolved"
CONTACT_CREATED = "scrm.contact.created"
CONTACT_REMOVED = "scrm.contact.removed"
CONVERSATION_ESCALATED = "scrm.conversation.escalated"
CONVERSATION_LEAD_REQUESTED = "scrm.conversation.lead_requested"
REMOVAL_EVENTS = ("del_external_contact", "del_follow_user")
# Platform events in which a person leaves contact details and asks to be contacted (Douyin 留资)
LEAD_CAPTURE_EVENTS = ("personal_tab_contact", "website_contact", "retain_consult_card")


def conversation_escalated_payload(*, conversation, source_message, transcript: str, by) -> dict:
    """v1: staff asked for a service ticket from a conversation: ``conversation_id``, ``source_key``
    (``scrm-conv:<conversation>:<message>``: one ticket per last customer message), ``channel_kind``,
    ``identity_id``, ``display_name``, ``crm_contact_id`` / ``crm_account_id`` (may be null), ``subject`` (the
    customer's last message, cut), ``transcript`` (the recent messages), ``requested_by_id``."""
    identity = conversation.identity
    text = " ".join((source_message.text if source_message is not None else "").split())
    return {
        "conversation_id": conversation.pk,
        "source_key": f"scrm-conv:{conversation.pk}:{source_message.pk if source_message is not None else 0}",
        "channel_kind": conversation.channel.kind,
        "identity_id": identity.pk,
        "display_name": identity.display_name or identity.external_id,
        "crm_contact_id": identity.crm_contact_id,
        "crm_account_id": identity.crm_account_id,
        "subject": text[:120],
        "transcript": transcript,
        "requested_by_id": by.pk if by is not None else None,
    }


def conversation_lead_requested_payload(*, conversation, transcript: str, by) -> dict:
    """v1: staff asked for a CRM lead of the person of a conversation (「转线索」): ``conversation_id``,
    ``channel_kind``, ``identity_id``, ``external_id``, ``display_name``, ``unionid``, ``phone`` (as the platform
    gave it), ``transcript`` (the recent messages, internal notes left out), ``requested_by_id``."""
    identity = conversation.identity
    return {
        "conversation_id": conversation.pk,
        "channel_kind": conversation.channel.kind,
        "identity_id": identity.pk,
        "external_id": identity.external_id,
        "display_name": identity.display_name,
        "unionid": identity.unionid,
        "phone": identity.phone,
        "transcript": transcript,
        "requested_by_id": by.pk if by is not None else None,
    }


def identity_resolved_payload(*, identity) -> dict:
    """v1: ``identity_id``, ``channel_kind``, ``external_id``, ``unionid``, ``crm_contact_id``,
    ``crm_account_id``, ``matched_on`` ("unionid" or "phone")."""
    return {
        "identity_id": identity.pk,
        "channel_kind": identity.channel_kind,
        "external_id": identity.external_id,
        "unionid": identity.unionid,
        "crm_contact_id": identity.crm_contact_id,
        "crm_account_id": identity.crm_account_id,
        "matched_on": "unionid" if identity.unionid else "phone",
    }


def contact_created_payload(
    *, identity, channel, staff_id: str = "", platform_event: str = "add_external_contact", note: str = ""
) -> dict:
    """v1: a person added the company on a platform (WeCom ``add_external_contact``) or left contact details
    (Douyin 留资, ``LEAD_CAPTURE_EVENTS``) and is no matched CRM customer: ``identity_id``, ``channel_id``,
    ``channel_kind``, ``external_id``, ``display_name``, ``unionid``, ``phone``, ``staff_external_id`` (WeCom
    UserID), ``owner_id`` (the channel's default assignee, may be null); added later in v1 (absent in older
    events): ``platform_event`` (which of those events) and ``note`` (what the person wrote with their details)."""
    return {
        "platform_event": platform_event,
        "note": note,
        "identity_id": identity.pk,
        "channel_id": channel.pk,
        "channel_kind": channel.kind,
        "external_id": identity.external_id,
        "display_name": identity.display_name,
        "unionid": identity.unionid,
        "phone": identity.phone,
        "staff_external_id": staff_id,
        "owner_id": channel.default_assignee_id,
    }


def contact_removed_payload(*, identity, channel, change: str, staff_id: str, conversation) -> dict:
    """v1: a WeCom relationship ended — ``change`` is ``del_external_contact`` (the customer deleted the
    salesperson) or ``del_follow_user`` (the salesperson deleted the customer): ``identity_id``,
    ``channel_id``, ``external_id``, ``display_name``, ``crm_contact_id`` / ``crm_account_id`` (null when not
    matched), ``staff_external_id`` (WeCom UserID), ``assigned_to_id`` (the conversation's staff member)."""
    return {
        "identity_id": identity.pk,
        "channel_id": channel.pk,
        "external_id": identity.external_id,
        "display_name": identity.display_name,
        "crm_contact_id": identity.crm_contact_id,
        "crm_account_id": identity.crm_account_id,
        "change": change,
        "staff_external_id": staff_id,
        "assigned_to_id": conversation.assigned_to_id,
    }


# ---------------------------------------------------------------- QR campaigns and UGC (scrmqr)

QR_SCANNED = "scrm.qr.scanned"
UGC_NEGATIVE = "scrm.ugc.negative"


def qr_scanned_payload(*, scan, code) -> dict:
    """v1: a known scanner opened a campaign's QR code: ``scan_id``, ``campaign_id``, ``code_id``,
    ``identity_id`` (null for a phone scanner), ``crm_contact_id`` (null unless the identity is matched),
    ``scanner_key`` ("wx:<openid>" or "tel:<phone>"), ``phone``, ``province``, ``city``, ``source``, ``lot_id``,
    ``product_sku``, ``channel_label``, ``staff_id``."""
    identity = scan.identity
    return {
        "scan_id": scan.pk,
        "campaign_id": scan.campaign_id,
        "code_id": code.pk,
        "identity_id": scan.identity_id,
        "crm_contact_id": identity.crm_contact_id if identity is not None else None,
        "scanner_key": scan.scanner_key,
        "phone": scan.phone,
        "province": scan.province,
        "city": scan.city,
        "source": scan.source,
        "lot_id": code.lot_id,
        "product_sku": code.product_sku,
        "channel_label": code.channel_label,
        "staff_id": code.staff_id,
    }


def ugc_negative_payload(*, post) -> dict:
    """v1: a negative post about the brand was captured: ``ugc_id``, ``kind``, ``channel_kind`` and
    ``channel_name`` (null when recorded by hand), ``author_name``, ``text`` (first 2000 characters), ``url``,
    ``rating``, ``sentiment_score`` (decimal string, -1…1), ``keywords``, ``identity_id``, ``crm_contact_id`` /
    ``crm_account_id`` / ``crm_owner_id`` (null when the author is not matched to a CRM customer),
    ``posted_at``."""
    identity = post.identity
    return {
        "ugc_id": post.pk,
        "kind": post.kind,
        "channel_kind": post.channel.kind if post.channel_id else None,
        "channel_name": post.channel.name if post.channel_id else None,
        "author_name": post.author_name,
        "text": post.text[:2000],
        "url": post.url,
        "rating": post.rating,
        "sentiment_score": str(post.sentiment_score),
        "keywords": list(post.keywords),
        "identity_id": post.identity_id,
        "crm_contact_id": identity.crm_contact_id if identity is not None else None,
        "crm_account_id": identity.crm_account_id if identity is not None else None,
        "crm_owner_id": identity.crm_owner_id if identity is not None else None,
        "posted_at": post.posted_at.isoformat(),
    }


# ---------------------------------------------------------------- cadences, WeCom handover (scrmwecom)

CADENCE_TASK_DUE = "scrm.cadence.task_due"
HANDOVER_COMPLETED = "scrm.handover.completed"


def cadence_task_due_payload(*, enrollment, step, due_at) -> dict:
    """v1: a cadence's task step is due for a lead: ``enrollment_id``, ``cadence_id``, ``cadence_name``,
    ``step_id``, ``position``, ``lead_id``, ``owner_id`` (null: the lead's CRM owner), ``subject``, ``body``,
    ``due_at``."""
    return {
        "enrollment_id": enrollment.pk,
        "cadence_id": enrollment.cadence_id,
        "cadence_name": enrollment.cadence.name,
        "step_id": step.pk,
        "position": step.position,
        "lead_id": enrollment.lead_id,
        "owner_id": enrollment.owner_id,
        "subject": step.subject.replace("{name}", enrollment.lead_name or ""),
        "body": step.message.replace("{name}", enrollment.lead_name or ""),
        "due_at": due_at.isoformat(),
    }


def handover_completed_payload(*, job, transferred: int, failed: int, groups: int) -> dict:
    """v1: a staff handover job finished: ``job_id``, ``kind`` (``in_service`` / ``resigned``),
    ``from_user_id`` / ``to_user_id`` (platform users), ``handover_staff_id`` / ``takeover_staff_id`` (WeCom
    UserIDs), ``customers_transferred``, ``customers_failed``, ``groups_transferred``."""
    return {
        "job_id": job.pk,
        "kind": job.kind,
        "from_user_id": job.from_user_id,
        "to_user_id": job.to_user_id,
        "handover_staff_id": job.handover_staff_id,
        "takeover_staff_id": job.takeover_staff_id,
        "customers_transferred": transferred,
        "customers_failed": failed,
        "groups_transferred": groups,
    }


# Handlers of CRM events (cadence enrolment and stop).
from suite import events as _events  # noqa: E402


@_events.handler("crm.lead.created", name="scrm.cadence_enrol_lead")
def cadence_enrol_lead(event: _events.Event) -> None:
    """A lead arrived: enrol it in the company's active cadences triggered by its source. Idempotent (one
    enrolment per lead and cadence)."""
    from scrm.services.cadences import cadences_enroll_lead

    payload = event.payload
    if not payload.get("source") or event.company_id is None:
        return
    cadences_enroll_lead(
        company_id=event.company_id,
        lead_id=payload["lead_id"],
        source=payload["source"],
        name=payload.get("name", ""),
        owner_id=payload.get("owner_id"),
        phone=payload.get("phone", ""),
        unionid=payload.get("unionid", ""),
    )


@_events.handler("crm.lead.converted", name="scrm.cadence_stop_converted")
def cadence_stop_converted(event: _events.Event) -> None:
    """A lead converted: its cadences stop (``converted``). Idempotent."""
    from scrm.models import CadenceEnrollment
    from scrm.services.cadences import cadence_enrollments_stop_for_lead

    if event.company_id is None:
        return
    cadence_enrollments_stop_for_lead(
        company_id=event.company_id,
        lead_id=event.payload["lead_id"],
        status=CadenceEnrollment.Status.CONVERTED,
        reason="lead converted",
    )


from scrm import (  # noqa: E402  handlers, each in its own module
    events_handovers,  # noqa: F401  CRM owner handover → WeCom handover job (loop, flow 11)
    events_merging,  # noqa: F401  CRM customer merges → identities, consent, pushes follow the survivor
    events_segments,  # noqa: F401  tags, segments, pushes (scrmseg)
    events_status_messages,  # noqa: F401  ERP shipments → status message to the customer (loop, flow 3)
    events_stock,  # noqa: F401  ERP stock → warm-up pushes start, product pushes pause / resume (loop, flow 8)
)
