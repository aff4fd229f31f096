"""WeCom relationship features: channel QR codes (「联系我」, ``externalcontact/add_contact_way``) that attribute
each new external contact to its channel, campaign and staff member, and staff handover jobs.

Handover (one tracked ``HandoverJob``):

1. *collect* — the customers (``externalcontact/batch/get_by_user``; for a resigned member
   ``externalcontact/get_unassigned_list``) and groups (``externalcontact/groupchat/list``) of the member,
   unless the job was created with explicit lists;
2. *submit* — customers at most 100 per call to ``externalcontact/transfer_customer`` (in service) or
   ``externalcontact/resigned/transfer_customer`` (resigned); WeCom answers an errcode per customer (0: the
   transfer is pending; 40129 "already being transferred" counts as pending, so a retried chunk after a crash
   is harmless); groups at most 100 per call to ``externalcontact/groupchat/onjob_transfer`` (in service) or
   ``externalcontact/groupchat/transfer`` (resigned), which answer the failed chats only;
3. *poll* — ``externalcontact/transfer_result`` / ``externalcontact/resigned/transfer_result`` until no
   customer is waiting (status 1 done, 2 waiting, 3 refused, 4 successor full, 5 no record);
4. *complete* — the member's SCRM conversations with transferred customers move to the successor and
   ``scrm.handover.completed`` is published: the CRM moves the old owner's leads, opportunities, tickets and
   accounts.

Token errors (40001/40014/42001) refresh the access token once (``TencentApi``); rate limits (45009, 45033,
45047) put the job in backoff (``retry_after``) and the beat task resumes it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm import selectors_campaigns as crm_campaigns
from scrm import events as scrm_events
from scrm.channels import RateLimited, SendError, connector_for
from scrm.models import (
    Channel,
    ContactWay,
    ContactWayAttribution,
    Conversation,
    HandoverItem,
    HandoverJob,
    SocialIdentity,
)
from scrm.models.handover import STATE_MAX_LENGTH
from suite import events
from suite.models import Membership

logger = logging.getLogger(__name__)
TRANSFER_CHUNK = 100  # WeCom: at most 100 external_userid / chat_id per transfer call
RATE_LIMIT_BACKOFF_SECONDS = 60
ERROR_BACKOFF_SECONDS = 300
ALREADY_TRANSFERRING = 40129
RESULT_DONE, RESULT_WAITING = 1, 2
RESULT_TEXT = {3: "customer refused", 4: "successor reached the customer limit", 5: "no transfer record"}
OPEN_JOB_STATUSES = (HandoverJob.Status.PENDING, HandoverJob.Status.SUBMITTING, HandoverJob.Status.WAITING)


def _wecom_api(channel: Channel):
    if channel.kind != "wecom":
        raise ValidationError({"channel": _("Choose a WeCom channel.")})
    return connector_for(channel).api()


def _active_member(company_id: int, user) -> bool:
    return user is not None and Membership.objects.filter(company_id=company_id, user=user, is_active=True).exists()


# ---------------------------------------------------------------- channel QR codes


def contact_way_validate_state(state: str) -> str:
    """``state`` identifies the code in WeCom's callback: 1–30 characters (WeCom's limit), no spaces."""
    state = (state or "").strip()
    if not state:
        raise ValidationError({"state": _("Give the code a state (1 to 30 characters).")})
    if len(state) > STATE_MAX_LENGTH:
        raise ValidationError({"state": _("WeCom allows at most 30 characters in the state.")})
    if any(ch.isspace() for ch in state):
        raise ValidationError({"state": _("The state cannot contain spaces.")})
    return state


def contact_way_create(
    *,
    channel: Channel,
    name: str,
    state: str,
    staff_ids: list[str],
    owner=None,
    crm_campaign_id: int | None = None,
) -> ContactWay:
    """Create a WeCom channel QR code for ``staff_ids`` through ``externalcontact/add_contact_way`` and store
    it with its ``config_id`` and ``qr_code``. Validates before calling WeCom; the call runs outside any
    transaction. Raises ``ValidationError`` (field errors, or ``__all__`` when WeCom refuses)."""
    state = contact_way_validate_state(state)
    errors = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = _("Give the code a name.")
    staff_ids = [s.strip() for s in staff_ids or [] if isinstance(s, str) and s.strip()]
    if not staff_ids or len(staff_ids) > 100:
        errors["staff_ids"] = _("Choose 1 to 100 staff members (WeCom UserIDs).")
    if channel.kind != "wecom":
        errors["channel"] = _("Choose a WeCom channel.")
    if owner is not None and not _active_member(channel.company_id, owner):
        errors["owner"] = _("The staff member must be an active member of the company.")
    if (
        crm_campaign_id is not None
        and not crm_campaigns.Campaign.objects.filter(company_id=channel.company_id, pk=crm_campaign_id).exists()
    ):
        errors["crm_campaign_id"] = _("Unknown campaign.")
    if ContactWay.objects.filter(channel=channel, state=state).exists():
        errors["state"] = _("This state is already used by another code of the channel.")
    if errors:
        raise ValidationError(errors)
    body = {
        "type": 1 if len(staff_ids) == 1 else 2,
        "scene": 2,
        "remark": name[:30],
        "skip_verify": True,
        "state": state,
        "user": staff_ids,
    }
    try:
        data = _wecom_api(channel).post("/cgi-bin/externalcontact/add_contact_way", body)
    except RateLimited as exc:
        raise ValidationError({"__all__": _("WeCom is limiting calls; try again in a minute.")}) from exc
    except SendError as exc:
        raise ValidationError({"__all__": _("WeCom refused the code: %(error)s") % {"error": exc}}) from exc
    with transaction.atomic():
        return ContactWay.objects.create(
            company_id=channel.company_id,
            channel=channel,
            name=name[:200],
            state=state,
            staff_ids=staff_ids,
            owner=owner,
            crm_campaign_id=crm_campaign_id,
            config_id=str(data.get("config_id", ""))[:64],
            qr_code=str(data.get("qr_code", ""))[:500],
        )


def contact_way_attribute(
    *, channel: Channel, identity: SocialIdentity, conversation: Conversation | None, state: str, staff_id: str, at
) -> ContactWayAttribution | None:
    """A new external contact came through a channel QR code (``State`` of ``add_external_contact``): record
    the attribution once, count it, hand the new conversation to the code's staff member and, for a
    code of a CRM campaign and a customer matched in the CRM, publish ``scrm.campaign.touched``
    (``responded``). Runs in the inbox pipeline's transaction; a retried callback changes nothing."""
    way = ContactWay.objects.filter(channel=channel, state=state).first()
    if way is None:
        return None
    attribution, created = ContactWayAttribution.objects.get_or_create(
        contact_way=way,
        identity=identity,
        defaults={"company_id": channel.company_id, "staff_id": staff_id, "added_at": at},
    )
    if created:
        ContactWay.objects.filter(pk=way.pk).update(added_count=F("added_count") + 1)
        # The customer added the code's staff member: they own the new conversation (over the channel's
        # default assignee; an owner already chosen otherwise, e.g. the CRM owner, keeps it).
        if (
            conversation is not None
            and way.owner_id
            and conversation.assigned_to_id in (None, channel.default_assignee_id)
        ):
            Conversation.objects.filter(pk=conversation.pk).update(assigned_to=way.owner_id)
            conversation.assigned_to_id = way.owner_id
        if way.crm_campaign_id and (identity.crm_contact_id or identity.crm_account_id):
            events.publish(
                "scrm.campaign.touched",
                {
                    "company_id": channel.company_id,
                    "crm_campaign_id": way.crm_campaign_id,
                    "contact_id": identity.crm_contact_id,
                    "account_id": None if identity.crm_contact_id else identity.crm_account_id,
                    "touched_at": at.isoformat(),
                    "kind": "responded",
                },
                company_id=channel.company_id,
            )
    return attribution


# ---------------------------------------------------------------- staff handover


def lock_handover_job(pk: int, *, skip_locked: bool = False) -> HandoverJob | None:
    return (
        HandoverJob.objects.select_for_update(skip_locked=skip_locked, of=("self",))
        .select_related("channel")
        .filter(pk=pk)
        .first()
    )


def _items(job: HandoverJob, kind: str, ids: list[str]) -> list[HandoverItem]:
    return [
        HandoverItem(company_id=job.company_id, job=job, kind=kind, external_id=external_id[:128])
        for external_id in dict.fromkeys(i.strip() for i in ids if isinstance(i, str) and i.strip())
    ]


@transaction.atomic
def handover_job_create(
    *,
    channel: Channel,
    kind: str,
    handover_staff_id: str,
    takeover_staff_id: str,
    from_user,
    to_user,
    by=None,
    customers: list[str] | None = None,
    groups: list[str] | None = None,
    transfer_success_msg: str = "",
) -> HandoverJob:
    """Start handing a staff member's WeCom customers and groups (and CRM records) to a successor. Without
    ``customers`` / ``groups`` the job collects them from WeCom on its first run. Queues the run after
    commit; publishes nothing yet."""
    errors = {}
    if channel.kind != "wecom":
        errors["channel"] = _("Choose a WeCom channel.")
    if kind not in HandoverJob.Kind.values:
        errors["kind"] = _("Unknown kind.")
    handover_staff_id, takeover_staff_id = (handover_staff_id or "").strip(), (takeover_staff_id or "").strip()
    if not handover_staff_id:
        errors["handover_staff_id"] = _("Whose customers are handed over?")
    if not takeover_staff_id:
        errors["takeover_staff_id"] = _("Who takes them over?")
    elif takeover_staff_id == handover_staff_id:
        errors["takeover_staff_id"] = _("The successor must be someone else.")
    if not _active_member(channel.company_id, to_user):
        errors["to_user"] = _("The successor must be an active member of the company.")
    if from_user is None or not Membership.objects.filter(company_id=channel.company_id, user=from_user).exists():
        errors["from_user"] = _("Choose a member (or former member) of the company.")
    elif from_user == to_user:
        errors["to_user"] = _("The successor must be someone else.")
    if len(transfer_success_msg or "") > 200:
        errors["transfer_success_msg"] = _("At most 200 characters.")
    if customers is not None and len(customers) > 20000:
        errors["customers"] = _("At most 20,000 customers per job.")
    if groups is not None and len(groups) > 5000:
        errors["groups"] = _("At most 5,000 groups per job.")
    if (
        not errors
        and HandoverJob.objects.filter(
            channel=channel, handover_staff_id=handover_staff_id, status__in=OPEN_JOB_STATUSES
        ).exists()
    ):
        errors["handover_staff_id"] = _("A handover of this staff member is already running.")
    if errors:
        raise ValidationError(errors)
    job = HandoverJob.objects.create(
        company_id=channel.company_id,
        channel=channel,
        kind=kind,
        handover_staff_id=handover_staff_id,
        takeover_staff_id=takeover_staff_id,
        from_user=from_user,
        to_user=to_user,
        created_by=by,
        transfer_success_msg=transfer_success_msg or "",
    )
    rows = _items(job, HandoverItem.Kind.CUSTOMER, customers or []) + _items(job, HandoverItem.Kind.GROUP, groups or [])
    HandoverItem.objects.bulk_create(rows, batch_size=1000)
    if customers is not None or groups is not None:
        job.last_error = ""
    from scrm import tasks

    job_id = job.pk
    transaction.on_commit(lambda: tasks.handover_job_advance.delay(job_id))
    return job


def _collect(job: HandoverJob, api) -> None:
    """The member's customers and groups as WeCom lists them (cursor-paged)."""
    customers: list[str] = []
    cursor = ""
    if job.kind == HandoverJob.Kind.RESIGNED:
        while True:
            data = api.post("/cgi-bin/externalcontact/get_unassigned_list", {"cursor": cursor, "page_size": 1000})
            customers += [
                i["external_userid"]
                for i in data.get("info") or []
                if i.get("handover_userid") == job.handover_staff_id
            ]
            cursor = data.get("next_cursor") or ""
            if data.get("is_last", True) or not cursor:
                break
    else:
        while True:
            data = api.post(
                "/cgi-bin/externalcontact/batch/get_by_user",
                {"userid_list": [job.handover_staff_id], "cursor": cursor, "limit": 100},
            )
            customers += [
                (c.get("external_contact") or {}).get("external_userid", "")
                for c in data.get("external_contact_list") or []
            ]
            cursor = data.get("next_cursor") or ""
            if not cursor:
                break
    groups: list[str] = []
    cursor = ""
    while True:
        data = api.post(
            "/cgi-bin/externalcontact/groupchat/list",
            {
                "status_filter": 0,
                "owner_filter": {"userid_list": [job.handover_staff_id]},
                "cursor": cursor,
                "limit": 1000,
            },
        )
        groups += [g.get("chat_id", "") for g in data.get("group_chat_list") or []]
        cursor = data.get("next_cursor") or ""
        if not cursor:
            break
    rows = _items(job, HandoverItem.Kind.CUSTOMER, customers) + _items(job, HandoverItem.Kind.GROUP, groups)
    HandoverItem.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)


def _submit_customers(job: HandoverJob, api, now: datetime) -> bool:
    """Submit the next chunk of pending customers; False when none is left."""
    chunk = list(
        HandoverItem.objects.filter(job=job, kind=HandoverItem.Kind.CUSTOMER, status=HandoverItem.Status.PENDING)
        .order_by("id")
        .select_for_update()[:TRANSFER_CHUNK]
    )
    if not chunk:
        return False
    body = {
        "handover_userid": job.handover_staff_id,
        "takeover_userid": job.takeover_staff_id,
        "external_userid": [item.external_id for item in chunk],
    }
    if job.kind == HandoverJob.Kind.IN_SERVICE:
        path = "/cgi-bin/externalcontact/transfer_customer"
        if job.transfer_success_msg:
            body["transfer_success_msg"] = job.transfer_success_msg
    else:
        path = "/cgi-bin/externalcontact/resigned/transfer_customer"
    data = api.post(path, body)
    results = {c.get("external_userid"): int(c.get("errcode") or 0) for c in data.get("customer") or []}
    for item in chunk:
        code = results.get(item.external_id, 0)
        if code in (0, ALREADY_TRANSFERRING):
            item.status, item.errcode = HandoverItem.Status.WAITING, None
        else:
            item.status, item.errcode, item.finished_at = HandoverItem.Status.FAILED, code, now
            item.detail = f"errcode {code}"
    HandoverItem.objects.bulk_update(chunk, ["status", "errcode", "finished_at", "detail", "updated_at"])
    return True


def _submit_groups(job: HandoverJob, api, now: datetime) -> bool:
    chunk = list(
        HandoverItem.objects.filter(job=job, kind=HandoverItem.Kind.GROUP, status=HandoverItem.Status.PENDING)
        .order_by("id")
        .select_for_update()[:TRANSFER_CHUNK]
    )
    if not chunk:
        return False
    path = (
        "/cgi-bin/externalcontact/groupchat/onjob_transfer"
        if job.kind == HandoverJob.Kind.IN_SERVICE
        else "/cgi-bin/externalcontact/groupchat/transfer"
    )
    data = api.post(path, {"chat_id_list": [item.external_id for item in chunk], "new_owner": job.takeover_staff_id})
    failed = {f.get("chat_id"): f for f in data.get("failed_chat_list") or []}
    for item in chunk:
        item.finished_at = now
        if item.external_id in failed:
            item.status = HandoverItem.Status.FAILED
            item.errcode = int(failed[item.external_id].get("errcode") or 0)
            item.detail = str(failed[item.external_id].get("errmsg", ""))[:200]
        else:
            item.status = HandoverItem.Status.TRANSFERRED
    HandoverItem.objects.bulk_update(chunk, ["status", "errcode", "finished_at", "detail", "updated_at"])
    return True


def _poll_results(job: HandoverJob, api, now: datetime) -> None:
    path = (
        "/cgi-bin/externalcontact/transfer_result"
        if job.kind == HandoverJob.Kind.IN_SERVICE
        else "/cgi-bin/externalcontact/resigned/transfer_result"
    )
    waiting = {
        item.external_id: item
        for item in HandoverItem.objects.filter(
            job=job, kind=HandoverItem.Kind.CUSTOMER, status=HandoverItem.Status.WAITING
        ).select_for_update()
    }
    cursor = ""
    changed = []
    while waiting:
        data = api.post(
            path,
            {"handover_userid": job.handover_staff_id, "takeover_userid": job.takeover_staff_id, "cursor": cursor},
        )
        for result in data.get("customer") or []:
            item = waiting.get(result.get("external_userid"))
            status = int(result.get("status") or 0)
            if item is None or status in (0, RESULT_WAITING):
                continue
            item.result_status = status
            item.finished_at = now
            if status == RESULT_DONE:
                item.status = HandoverItem.Status.TRANSFERRED
            else:
                item.status = HandoverItem.Status.FAILED
                item.detail = RESULT_TEXT.get(status, f"status {status}")
            changed.append(waiting.pop(item.external_id))
        cursor = data.get("next_cursor") or ""
        if not cursor:
            break
    HandoverItem.objects.bulk_update(changed, ["status", "result_status", "finished_at", "detail", "updated_at"])


def _complete(job: HandoverJob, now: datetime) -> None:
    counts = {
        (row["kind"], row["status"]): row["n"]
        for row in HandoverItem.objects.filter(job=job).values("kind", "status").annotate(n=Count("id"))
    }
    transferred_ids = list(
        HandoverItem.objects.filter(
            job=job, kind=HandoverItem.Kind.CUSTOMER, status=HandoverItem.Status.TRANSFERRED
        ).values_list("external_id", flat=True)
    )
    Conversation.objects.filter(
        channel=job.channel,
        assigned_to=job.from_user,
        identity__external_id__in=transferred_ids,
    ).update(assigned_to=job.to_user, updated_at=now)
    job.status = HandoverJob.Status.COMPLETED
    job.completed_at = now
    job.retry_after = None
    job.last_error = ""
    job.save(update_fields=["status", "completed_at", "retry_after", "last_error", "updated_at"])
    events.publish(
        scrm_events.HANDOVER_COMPLETED,
        scrm_events.handover_completed_payload(
            job=job,
            transferred=counts.get((HandoverItem.Kind.CUSTOMER, HandoverItem.Status.TRANSFERRED), 0),
            failed=counts.get((HandoverItem.Kind.CUSTOMER, HandoverItem.Status.FAILED), 0),
            groups=counts.get((HandoverItem.Kind.GROUP, HandoverItem.Status.TRANSFERRED), 0),
        ),
        company_id=job.company_id,
        by=job.created_by,
    )


def handover_job_advance(*, job_id: int, now: datetime | None = None) -> HandoverJob | None:
    """Move a handover job on as far as it goes now: collect, submit every pending chunk (one transaction per
    chunk, so what WeCom accepted is recorded even if a later chunk is rate-limited), transfer groups, poll
    the results, complete. Locks the job (``SKIP LOCKED``: a second runner does nothing). A rate limit or an
    API error leaves the job in backoff (``retry_after``); the beat task resumes it."""
    now = now or timezone.now()
    while True:
        with transaction.atomic():
            job = lock_handover_job(job_id, skip_locked=True)
            if job is None or job.status in (HandoverJob.Status.COMPLETED, HandoverJob.Status.FAILED):
                return job
            if job.retry_after and job.retry_after > now:
                return job
            try:
                api = _wecom_api(job.channel)
                progressed = _step(job, api, now)
            except RateLimited as exc:
                job.retry_after = now + timedelta(seconds=max(exc.retry_after, RATE_LIMIT_BACKOFF_SECONDS))
                job.last_error = str(exc)[:500]
                job.save(update_fields=["retry_after", "last_error", "updated_at"])
                return job
            except SendError as exc:
                logger.warning("handover job %s: %s", job_id, exc)
                job.retry_after = now + timedelta(seconds=ERROR_BACKOFF_SECONDS)
                job.last_error = str(exc)[:500]
                job.save(update_fields=["retry_after", "last_error", "updated_at"])
                return job
            if not progressed:
                return job


def _step(job: HandoverJob, api, now: datetime) -> bool:
    """One unit of work; True when there may be more to do right away."""
    if job.status == HandoverJob.Status.PENDING:
        if not job.items.exists():
            _collect(job, api)
        job.status = HandoverJob.Status.SUBMITTING
        job.last_error = ""
        job.save(update_fields=["status", "last_error", "updated_at"])
        return True
    if job.status == HandoverJob.Status.SUBMITTING:
        if _submit_customers(job, api, now) or _submit_groups(job, api, now):
            return True
        job.status = HandoverJob.Status.WAITING
        job.save(update_fields=["status", "updated_at"])
        return True
    # waiting: poll the customers' results
    if job.items.filter(kind=HandoverItem.Kind.CUSTOMER, status=HandoverItem.Status.WAITING).exists():
        _poll_results(job, api, now)
    if not job.items.filter(status__in=[HandoverItem.Status.WAITING, HandoverItem.Status.PENDING]).exists():
        _complete(job, now)
    return False


def handover_jobs_due(*, now: datetime | None = None) -> list[int]:
    """Open handover jobs not in backoff (the beat task advances them)."""
    now = now or timezone.now()
    return list(
        HandoverJob.objects.filter(status__in=OPEN_JOB_STATUSES)
        .exclude(retry_after__gt=now)
        .order_by("id")
        .values_list("pk", flat=True)[:100]
    )
