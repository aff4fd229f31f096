"""Cadences: follow-up sequences for 留资 leads — enrolment, the beat sweep that runs due steps exactly once,
and stopping on conversion or opt-out.

Exactly once: the sweep claims due enrolments with ``FOR UPDATE SKIP LOCKED`` (two sweeps never take the same
enrolment) and, in the same transaction, records a ``CadenceStepRun`` (unique per enrolment and step) and moves
the enrolment to its next step. A sweep killed before its commit leaves nothing and the step runs on the next
tick; after the commit the step is never run again.

A *task* step publishes ``scrm.cadence.task_due`` (the CRM creates the owner's task); a *push* step sends the
message through the cadence's channel to the lead's social identity when consent allows it; a *wait* step
only waits.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.text import normalize_phone
from scrm import events as scrm_events
from scrm.channels import RateLimited, SendError, connector_for
from scrm.models import Cadence, CadenceEnrollment, CadenceStep, CadenceStepRun, Channel, SocialIdentity
from suite import events
from suite.models import Company

logger = logging.getLogger(__name__)
SWEEP_BATCH = 200
STEP_FIELDS = ("kind", "delay_minutes", "subject", "message")
MAX_STEPS = 30


@dataclass
class SweepResult:
    ran: int = 0
    completed: int = 0


def _clean_steps(steps: list[dict], *, channel: Channel | None) -> list[dict]:
    if not steps:
        raise ValidationError({"steps": _("A cadence needs at least one step.")})
    if len(steps) > MAX_STEPS:
        raise ValidationError({"steps": _("A cadence has at most %(n)d steps.") % {"n": MAX_STEPS}})
    cleaned, errors = [], {}
    for index, step in enumerate(steps, start=1):
        kind = step.get("kind")
        problem = None
        delay = step.get("delay_minutes", 0)
        if kind not in CadenceStep.Kind.values:
            problem = _("Unknown step kind.")
        elif not isinstance(delay, int) or delay < 0 or delay > 60 * 24 * 365:
            problem = _("The delay is a whole number of minutes between 0 and a year.")
        elif kind == CadenceStep.Kind.TASK and not (step.get("subject") or "").strip():
            problem = _("A task step needs a subject.")
        elif kind == CadenceStep.Kind.PUSH and not (step.get("message") or "").strip():
            problem = _("A push step needs a message.")
        elif kind == CadenceStep.Kind.PUSH and channel is None:
            problem = _("Push steps need the cadence's channel.")
        if problem:
            errors[f"steps[{index}]"] = problem
            continue
        cleaned.append(
            {
                "kind": kind,
                "delay_minutes": delay,
                "subject": (step.get("subject") or "").strip()[:200],
                "message": (step.get("message") or "").strip()[:2000],
            }
        )
    if errors:
        raise ValidationError(errors)
    return cleaned


def _check(company_id: int, *, name: str, channel: Channel | None, trigger_source: str, exclude: int | None) -> None:
    errors = {}
    if not (name or "").strip():
        errors["name"] = _("Give the cadence a name.")
    elif Cadence.objects.filter(company_id=company_id, name=name.strip()).exclude(pk=exclude).exists():
        errors["name"] = _("A cadence with this name already exists.")
    if channel is not None and channel.company_id != company_id:
        errors["channel"] = _("Unknown channel.")
    if len(trigger_source or "") > 20:
        errors["trigger_source"] = _("Unknown source.")
    if errors:
        raise ValidationError(errors)


def _write_steps(cadence: Cadence, steps: list[dict]) -> None:
    """Steps by position: existing positions are updated in place (their run history stays), new ones added,
    positions beyond the new list removed."""
    existing = {step.position: step for step in cadence.steps.all()}
    for position, data in enumerate(steps, start=1):
        step = existing.pop(position, None)
        if step is None:
            CadenceStep.objects.create(company_id=cadence.company_id, cadence=cadence, position=position, **data)
        elif any(getattr(step, key) != data[key] for key in STEP_FIELDS):
            for key in STEP_FIELDS:
                setattr(step, key, data[key])
            step.save(update_fields=[*STEP_FIELDS, "updated_at"])
    if existing:
        CadenceStep.objects.filter(pk__in=[step.pk for step in existing.values()]).delete()


@transaction.atomic
def cadence_create(
    *,
    company: Company,
    name: str,
    steps: list[dict],
    trigger_source: str = "",
    channel: Channel | None = None,
    stop_keywords: str | None = None,
    is_active: bool = True,
) -> Cadence:
    """Create a cadence with its steps (``[{"kind", "delay_minutes", "subject", "message"}, …]``). Field errors
    as ``ValidationError`` (``steps[2]`` for the second step); nothing is written on error."""
    _check(company.pk, name=name, channel=channel, trigger_source=trigger_source, exclude=None)
    cleaned = _clean_steps(steps, channel=channel)
    cadence = Cadence(
        company=company, name=name.strip(), trigger_source=trigger_source or "", channel=channel, is_active=is_active
    )
    if stop_keywords is not None:
        cadence.stop_keywords = stop_keywords
    cadence.save()
    _write_steps(cadence, cleaned)
    return cadence


@transaction.atomic
def cadence_update(*, cadence: Cadence, steps: list[dict] | None = None, **fields) -> Cadence:
    """Change a cadence; ``steps`` (when given) replace the list by position. Locks the cadence. Running
    enrolments continue at their position with the new steps."""
    allowed = {"name", "trigger_source", "channel", "stop_keywords", "is_active"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({key: _("This field cannot be changed.") for key in unknown})
    locked = Cadence.objects.select_for_update().get(pk=cadence.pk)
    channel = fields.get("channel", locked.channel)
    _check(
        locked.company_id,
        name=fields.get("name", locked.name),
        channel=channel,
        trigger_source=fields.get("trigger_source", locked.trigger_source),
        exclude=locked.pk,
    )
    cleaned = _clean_steps(steps, channel=channel) if steps is not None else None
    if cleaned is None and channel is None and locked.steps.filter(kind=CadenceStep.Kind.PUSH).exists():
        raise ValidationError({"channel": _("Push steps need the cadence's channel.")})
    for key, value in fields.items():
        setattr(locked, key, value.strip() if key == "name" else value)
    locked.save(update_fields=[*fields, "updated_at"])
    if cleaned is not None:
        _write_steps(locked, cleaned)
    return locked


def _first_step(cadence: Cadence) -> CadenceStep | None:
    return cadence.steps.order_by("position").first()


def cadence_enroll(
    *,
    cadence: Cadence,
    lead_id: int,
    lead_name: str = "",
    owner_id: int | None = None,
    identity: SocialIdentity | None = None,
    now: datetime | None = None,
) -> tuple[CadenceEnrollment, bool]:
    """Enrol a lead (once per cadence: a second call returns the existing enrolment and ``False``). The first
    step is due its delay after now. Must run in a transaction; publishes nothing."""
    now = now or timezone.now()
    first = _first_step(cadence)
    if first is None:
        raise ValidationError({"cadence": _("The cadence has no steps.")})
    return CadenceEnrollment.objects.get_or_create(
        cadence=cadence,
        lead_id=lead_id,
        defaults={
            "company_id": cadence.company_id,
            "lead_name": (lead_name or "")[:200],
            "owner_id": owner_id,
            "identity": identity,
            "next_position": first.position,
            "next_run_at": now + timedelta(minutes=first.delay_minutes),
        },
    )


def _phone_spellings(phone: str) -> set[str]:
    """The ways a platform may have told us the same phone (``+8613800138000``, ``13800138000`` …)."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    spellings = {phone, digits}
    with contextlib.suppress(ValidationError):
        spellings.add(normalize_phone(phone))
    if digits.startswith("86") and len(digits) == 13:
        spellings |= {digits[2:], f"+{digits}"}
    return {s for s in spellings if s}


def _identity_of_lead(cadence: Cadence, *, unionid: str, phone: str) -> SocialIdentity | None:
    """The lead's identity on the cadence's platform, by WeChat unionid or (platform-verified) phone."""
    if cadence.channel_id is None or not (unionid or phone):
        return None
    match = Q()
    if unionid:
        match |= Q(unionid=unionid)
    if phone:
        match |= Q(phone__in=_phone_spellings(phone))
    return (
        SocialIdentity.objects.filter(company_id=cadence.company_id, channel_kind=cadence.channel.kind)
        .filter(match)
        .order_by("-id")
        .first()
    )


@transaction.atomic
def cadences_enroll_lead(
    *,
    company_id: int,
    lead_id: int,
    source: str,
    name: str = "",
    owner_id: int | None = None,
    phone: str = "",
    unionid: str = "",
) -> list[CadenceEnrollment]:
    """Enrol a new lead in every active cadence of the company triggered by its source (the handler of
    ``crm.lead.created``). Idempotent: a lead is enrolled once per cadence."""
    enrolled = []
    cadences = Cadence.objects.filter(company_id=company_id, is_active=True, trigger_source=source).exclude(
        trigger_source=""
    )
    for cadence in cadences.select_related("channel"):
        if _first_step(cadence) is None:
            continue
        identity = _identity_of_lead(cadence, unionid=unionid, phone=phone)
        enrollment, created = cadence_enroll(
            cadence=cadence, lead_id=lead_id, lead_name=name, owner_id=owner_id, identity=identity
        )
        if created:
            enrolled.append(enrollment)
    return enrolled


def push_consent_allows(identity: SocialIdentity) -> bool:
    """Whether a push may go to ``identity``: its CRM contact has a live consent (lawful basis) on this kind
    of channel in the consent register of SCRM pushes (``scrm.services.consent``), and has not withdrawn it.
    An identity not matched to a CRM contact has no recorded basis and gets no push."""
    from scrm.services.consent import consent_allows

    if identity.crm_contact_id is None:
        return False
    return consent_allows(
        company_id=identity.company_id, crm_contact_id=identity.crm_contact_id, channel_kind=identity.channel_kind
    )


def _render(message: str, enrollment: CadenceEnrollment) -> str:
    return message.replace("{name}", enrollment.lead_name or "")


def _run_step(enrollment: CadenceEnrollment, step: CadenceStep, now: datetime) -> tuple[str, str]:
    """Do one step; returns (outcome, detail). Raises ``RateLimited`` to try the step again later."""
    if step.kind == CadenceStep.Kind.WAIT:
        return CadenceStepRun.Outcome.WAITED, ""
    if step.kind == CadenceStep.Kind.TASK:
        events.publish(
            scrm_events.CADENCE_TASK_DUE,
            scrm_events.cadence_task_due_payload(enrollment=enrollment, step=step, due_at=now),
            company_id=enrollment.company_id,
        )
        return CadenceStepRun.Outcome.TASK_REQUESTED, ""
    cadence = enrollment.cadence
    identity = enrollment.identity
    if identity is None or cadence.channel_id is None:
        return CadenceStepRun.Outcome.SKIPPED, "no social identity for the lead"
    if not push_consent_allows(identity):
        return CadenceStepRun.Outcome.SKIPPED, "no consent"
    try:
        external_id = connector_for(cadence.channel).send(identity.external_id, _render(step.message, enrollment))
    except SendError as exc:
        return CadenceStepRun.Outcome.FAILED, str(exc)[:500]
    return CadenceStepRun.Outcome.SENT, external_id[:500]


def cadence_steps_run_due(*, now: datetime | None = None, limit: int = SWEEP_BATCH) -> SweepResult:
    """Run the due step of up to ``limit`` active enrolments (oldest due first), each step exactly once.

    One transaction: claims enrolments ``FOR UPDATE SKIP LOCKED``, records each step's run, moves each
    enrolment on (next step after its delay, or completed) and publishes ``scrm.cadence.task_due`` for task
    steps. A rate-limited push is retried after the platform's ``retry_after`` with no run recorded."""
    now = now or timezone.now()
    result = SweepResult()
    with transaction.atomic():
        due = list(
            CadenceEnrollment.objects.filter(status=CadenceEnrollment.Status.ACTIVE, next_run_at__lte=now)
            .select_related("cadence__channel", "identity")
            .order_by("next_run_at", "id")
            .select_for_update(skip_locked=True, of=("self",))[:limit]
        )
        if not due:
            return result
        steps: dict[int, list[CadenceStep]] = {}
        for step in CadenceStep.objects.filter(cadence_id__in={e.cadence_id for e in due}).order_by("position"):
            steps.setdefault(step.cadence_id, []).append(step)
        for enrollment in due:
            cadence_steps = steps.get(enrollment.cadence_id, [])
            step = next((s for s in cadence_steps if s.position >= enrollment.next_position), None)
            if step is None or not enrollment.cadence.is_active:
                enrollment.status = (
                    CadenceEnrollment.Status.COMPLETED if step is None else CadenceEnrollment.Status.STOPPED
                )
                enrollment.stop_reason = "" if step is None else "cadence deactivated"
                enrollment.stopped_at = now
                enrollment.next_run_at = None
                enrollment.save(update_fields=["status", "stop_reason", "stopped_at", "next_run_at", "updated_at"])
                result.completed += 1
                continue
            if CadenceStepRun.objects.filter(enrollment=enrollment, step=step).exists():
                outcome = None  # ran before the cadence was edited under it: move on without running it again
            else:
                try:
                    outcome, detail = _run_step(enrollment, step, now)
                except RateLimited as exc:
                    enrollment.next_run_at = now + timedelta(seconds=exc.retry_after)
                    enrollment.save(update_fields=["next_run_at", "updated_at"])
                    continue
                CadenceStepRun.objects.create(
                    company_id=enrollment.company_id, enrollment=enrollment, step=step, outcome=outcome, detail=detail
                )
                result.ran += 1
            following = next((s for s in cadence_steps if s.position > step.position), None)
            if following is None:
                enrollment.status = CadenceEnrollment.Status.COMPLETED
                enrollment.stopped_at = now
                enrollment.next_run_at = None
                result.completed += 1
            else:
                enrollment.next_position = following.position
                enrollment.next_run_at = now + timedelta(minutes=following.delay_minutes)
            enrollment.save(update_fields=["status", "stopped_at", "next_position", "next_run_at", "updated_at"])
    return result


@transaction.atomic
def cadence_enrollment_stop(*, enrollment: CadenceEnrollment, status: str, reason: str = "") -> CadenceEnrollment:
    """Stop an active enrolment (converted, opted out, stopped by hand). Locks it; a stopped one stays as is."""
    if status not in (
        CadenceEnrollment.Status.CONVERTED,
        CadenceEnrollment.Status.OPTED_OUT,
        CadenceEnrollment.Status.STOPPED,
    ):
        raise ValidationError({"status": _("Unknown stop status.")})
    locked = CadenceEnrollment.objects.select_for_update().get(pk=enrollment.pk)
    if locked.status != CadenceEnrollment.Status.ACTIVE:
        return locked
    locked.status = status
    locked.stop_reason = reason[:200]
    locked.stopped_at = timezone.now()
    locked.next_run_at = None
    locked.save(update_fields=["status", "stop_reason", "stopped_at", "next_run_at", "updated_at"])
    return locked


def cadence_enrollments_stop_for_lead(*, company_id: int, lead_id: int, status: str, reason: str = "") -> int:
    """Stop every active enrolment of a lead (the handler of ``crm.lead.converted``). Returns how many."""
    stopped = 0
    for enrollment in CadenceEnrollment.objects.filter(
        company_id=company_id, lead_id=lead_id, status=CadenceEnrollment.Status.ACTIVE
    ):
        cadence_enrollment_stop(enrollment=enrollment, status=status, reason=reason)
        stopped += 1
    return stopped


def _keywords(cadence: Cadence) -> set[str]:
    return {word.strip().casefold() for word in cadence.stop_keywords.split(",") if word.strip()}


def opt_out_normalize(text: str) -> str:
    """A reply as compared with opt-out keywords: trimmed, trailing punctuation dropped, case-folded."""
    return (text or "").strip().strip("。.!！").casefold()


def cadence_opt_out_words(*, company_id: int) -> frozenset[str]:
    """Every opt-out keyword of the company's active cadences (one query; the inbox pipeline reads it once per
    batch so ordinary messages cost nothing)."""
    words: set[str] = set()
    for keywords in Cadence.objects.filter(company_id=company_id, is_active=True).values_list(
        "stop_keywords", flat=True
    ):
        words |= {word.strip().casefold() for word in keywords.split(",") if word.strip()}
    return frozenset(words)


def cadence_opt_out_check(*, identity: SocialIdentity, text: str) -> int:
    """An inbound message from ``identity``: when it is one of its cadences' opt-out keywords (退订, TD …),
    those enrolments stop as ``opted_out``. Returns how many stopped. Runs in the inbox pipeline's
    transaction."""
    said = opt_out_normalize(text)
    if not said or len(said) > 20:
        return 0
    stopped = 0
    for enrollment in CadenceEnrollment.objects.filter(
        identity=identity, status=CadenceEnrollment.Status.ACTIVE
    ).select_related("cadence"):
        if said in _keywords(enrollment.cadence):
            cadence_enrollment_stop(
                enrollment=enrollment, status=CadenceEnrollment.Status.OPTED_OUT, reason=f"replied {text.strip()}"
            )
            stopped += 1
    return stopped
