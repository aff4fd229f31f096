"""SCRM handler of CRM's ``crm.owner_handover.started`` (closed loop, flow 11 — people → customers): the person
who left hands their WeCom customers and groups to the successor through SCRM's existing WeCom handover jobs
(``scrm.services.wecom_relations.handover_job_create``, kind ``resigned``).

Which WeCom account belongs to which suite user is configured per WeCom channel:
``channel.config["staff_userids"] = {"<suite user id>": "<WeCom UserID>"}``. A channel that maps neither user,
or only one of them, is skipped (nothing to hand over there)."""

from __future__ import annotations

import logging

from suite import events

logger = logging.getLogger(__name__)


@events.handler("crm.owner_handover.started", name="scrm.wecom_handover_on_owner_handover")
def wecom_handover_on_owner_handover(event: events.Event) -> None:
    """One ``resigned`` WeCom handover job per active WeCom channel that maps both users. Idempotent: a channel
    that already has a handover job from the same user to the same successor gets no second one."""
    from django.contrib.auth import get_user_model
    from django.core.exceptions import ValidationError

    from scrm.models import Channel, HandoverJob
    from scrm.services.wecom_relations import handover_job_create

    payload = event.payload
    if event.version != 1 or not payload.get("to_user_id"):
        return
    from_id, to_id = str(payload["from_user_id"]), str(payload["to_user_id"])
    users = get_user_model().objects.in_bulk([int(from_id), int(to_id)])
    for channel in Channel.objects.filter(company_id=event.company_id, kind="wecom", is_active=True).order_by("pk"):
        staff = (channel.config or {}).get("staff_userids") or {}
        handover_staff, takeover_staff = staff.get(from_id), staff.get(to_id)
        if not handover_staff or not takeover_staff:
            continue
        if HandoverJob.objects.filter(
            channel=channel, from_user_id=from_id, to_user_id=to_id, handover_staff_id=handover_staff
        ).exists():
            continue
        try:
            handover_job_create(
                channel=channel,
                kind=HandoverJob.Kind.RESIGNED,
                handover_staff_id=handover_staff,
                takeover_staff_id=takeover_staff,
                from_user=users.get(int(from_id)),
                to_user=users.get(int(to_id)),
            )
        except ValidationError as exc:  # a refusal is final (not a retryable failure): say why and go on
            logger.warning("WeCom handover on channel %s not started: %s", channel.pk, exc.messages)
