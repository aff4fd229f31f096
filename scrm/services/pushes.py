"""Push campaigns: create and schedule, turn the segment into recipients, send in batches through the channels'
connectors, track opens and clicks.

Sending one recipient is three steps so that no lock is held while a platform answers:

1. **reserve** (one transaction): lock the recipient row (``SKIP LOCKED``: parallel batches never take the same
   one) and the contact's ``PushCapLock`` row, check the live consent and count the contact's pushes in the
   policy window; then either mark it ``sending`` (it now counts against the cap) or ``skipped`` with the reason.
   Two parallel sends to one contact serialise on the lock, so the cap holds (test with two connections).
2. **send** through ``connector_for(channel).send`` after taking a token of the channel's Redis bucket.
3. **record** the outcome (``sent`` + ``scrm.campaign.touched`` ``sent``, or ``failed``, which frees the slot).
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Q, Subquery
from django.db.models.functions import Coalesce, Now
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm import selectors as crm_selectors
from scrm.channels import RateLimited, SendError, connector_for
from scrm.events_segments import CAMPAIGN_TOUCHED, campaign_touched_payload
from scrm.models import (
    Channel,
    Conversation,
    PushCampaign,
    PushCampaignStatus,
    PushCapLock,
    PushContent,
    PushMessage,
    PushMessageStatus,
    PushPolicy,
    Segment,
    SkipReason,
)
from scrm.services.consent import consent_allows, consent_withdraw
from scrm.services.segments import tag_rules_fire_behaviour
from scrm.services.throttle import send_token_take
from suite import events

VARIABLES = ("name", "city", "province", "link", "unsubscribe")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
HTML_TEXT_CHANNELS = {"wechat_oa"}  # Official Account text messages render <a href>: escape what we insert
CLICK_SALT = "scrm.push.click"
UNSUBSCRIBE_SALT = "scrm.push.unsubscribe"
SEND_BATCH = 200


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retry_in: float = 0.0  # > 0: the channel's bucket is empty or the platform limits us; send again later


# ---------------------------------------------------------------- texts


def _clean(value: str, *, limit: int = 100) -> str:
    """A value put into a push: no control characters or line breaks, at most ``limit`` characters."""
    value = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in str(value or ""))
    return " ".join(value.split())[:limit]


def text_errors(text: str) -> list[str]:
    errors = []
    if not (text or "").strip():
        errors.append(_("Write the text."))
    elif len(text) > 2000:
        errors.append(_("A push is at most 2000 characters."))
    unknown = sorted({name for name in _PLACEHOLDER.findall(text or "") if name not in VARIABLES})
    if unknown:
        errors.append(
            _("Unknown variables: %(names)s (use %(known)s).")
            % {"names": ", ".join(unknown), "known": ", ".join(f"{{{v}}}" for v in VARIABLES)}
        )
    return errors


def render(text: str, values: dict[str, str], *, channel_kind: str) -> str:
    """Fill ``{name}``, ``{city}`` … in one pass: an inserted value is never read as a placeholder again, and
    is cleaned (and HTML-escaped on channels that render HTML). Unknown placeholders stay as written."""
    escape = html.escape if channel_kind in HTML_TEXT_CHANNELS else (lambda v: v)

    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        value = values[name] if name in ("link", "unsubscribe") else _clean(values[name])
        return escape(value)

    return _PLACEHOLDER.sub(fill, text)


def tracking_token(message_id: int, *, salt: str = CLICK_SALT) -> str:
    return signing.Signer(salt=salt).sign(str(message_id))


def message_for_token(token: str, *, salt: str = CLICK_SALT) -> PushMessage | None:
    """The push of a signed tracking token, or ``None`` for a forged or altered one."""
    try:
        message_id = int(signing.Signer(salt=salt).unsign(token))
    except (signing.BadSignature, ValueError):
        return None
    return PushMessage.objects.select_related("campaign").filter(pk=message_id).first()


# ---------------------------------------------------------------- campaigns


def push_policy_of(company_id: int) -> PushPolicy:
    policy, _created = PushPolicy.objects.get_or_create(company_id=company_id)
    return policy


@transaction.atomic
def push_campaign_create(
    *,
    company,
    name: str,
    segment: Segment,
    contents: list[tuple[Channel, str]],
    link_url: str = "",
    crm_campaign_id: int | None = None,
    scheduled_at: datetime | None = None,
    by=None,
) -> PushCampaign:
    """Create a push campaign (draft, or scheduled when ``scheduled_at`` is given) with one text per channel."""
    errors: dict[str, list] = {}
    if not (name or "").strip():
        errors["name"] = [_("Give the campaign a name.")]
    if segment.company_id != company.pk:
        errors["segment"] = [_("Unknown segment.")]
    if not contents:
        errors["contents"] = [_("Write the text for at least one channel.")]
    seen = set()
    for channel, text in contents:
        if channel.company_id != company.pk or not channel.is_active:
            errors.setdefault("contents", []).append(_("Unknown or inactive channel."))
        elif channel.pk in seen:
            errors.setdefault("contents", []).append(_("One text per channel."))
        seen.add(channel.pk)
        errors.setdefault("contents", []).extend(text_errors(text))
        if "{link}" in (text or "") and not link_url:
            errors.setdefault("link_url", []).append(_("The text uses {link}: give the link."))
    if crm_campaign_id is not None and not crm_selectors.campaign_exists(
        company_id=company.pk, campaign_id=crm_campaign_id
    ):
        errors["crm_campaign_id"] = [_("Unknown CRM campaign.")]
    errors = {key: value for key, value in errors.items() if value}
    if errors:
        raise ValidationError(errors)
    campaign = PushCampaign.objects.create(
        company=company,
        name=name.strip(),
        segment=segment,
        link_url=link_url,
        crm_campaign_id=crm_campaign_id,
        status=PushCampaignStatus.SCHEDULED if scheduled_at else PushCampaignStatus.DRAFT,
        scheduled_at=scheduled_at,
        created_by=by,
    )
    PushContent.objects.bulk_create([PushContent(campaign=campaign, channel=ch, text=text) for ch, text in contents])
    return campaign


def lock_campaign(pk: int) -> PushCampaign:
    return PushCampaign.objects.select_for_update(of=("self",)).get(pk=pk)


@transaction.atomic
def push_campaign_schedule(*, campaign: PushCampaign, at: datetime, by=None) -> PushCampaign:
    """Schedule a draft (or move a scheduled campaign) to ``at``. Locks the campaign."""
    campaign = lock_campaign(campaign.pk)
    if campaign.status not in (PushCampaignStatus.DRAFT, PushCampaignStatus.SCHEDULED):
        raise ValidationError({"scheduled_at": [_("Only a draft or scheduled campaign can be scheduled.")]})
    campaign.status, campaign.scheduled_at = PushCampaignStatus.SCHEDULED, at
    campaign.save(update_fields=["status", "scheduled_at", "updated_at"])
    return campaign


@transaction.atomic
def push_campaign_cancel(*, campaign: PushCampaign, by=None) -> PushCampaign:
    """Stop a campaign: recipients not yet sent are skipped (``cancelled``). Locks the campaign."""
    campaign = lock_campaign(campaign.pk)
    if campaign.status in (PushCampaignStatus.DONE, PushCampaignStatus.CANCELLED):
        return campaign
    campaign.messages.filter(status=PushMessageStatus.QUEUED).update(
        status=PushMessageStatus.SKIPPED, skip_reason=SkipReason.CANCELLED
    )
    campaign.status, campaign.finished_at = PushCampaignStatus.CANCELLED, timezone.now()
    campaign.save(update_fields=["status", "finished_at", "updated_at"])
    return campaign


@transaction.atomic
def push_campaign_start(*, campaign: PushCampaign) -> int:
    """Turn the campaign's segment into recipients — on each content channel, every conversation whose identity
    is automatically matched to a contact of the segment (one INSERT … SELECT per channel with the segment as a
    sub-query) — and mark it ``sending``; the batches are queued after commit. Returns the recipients."""
    campaign = lock_campaign(campaign.pk)
    startable = (PushCampaignStatus.DRAFT, PushCampaignStatus.SCHEDULED, PushCampaignStatus.WAITING_STOCK)
    if campaign.status not in startable:
        return 0
    segment = campaign.segment
    in_segment = crm_selectors.customers_in_segment(company_id=campaign.company_id, query=segment.query)
    contacts = in_segment.values("pk").order_by()
    total = 0
    for content in campaign.contents.select_related("channel"):
        rows = (
            Conversation.objects.filter(
                channel=content.channel,
                identity__resolution="auto",
                identity__crm_contact_id__in=Subquery(contacts),
            )
            .values_list("identity_id", "identity__crm_contact_id")
            .order_by("identity_id")
        )
        messages = [
            PushMessage(
                company_id=campaign.company_id,
                campaign=campaign,
                channel=content.channel,
                identity_id=identity_id,
                crm_contact_id=contact_id,
            )
            for identity_id, contact_id in rows
        ]
        PushMessage.objects.bulk_create(messages, ignore_conflicts=True, batch_size=2000)
        total += len(messages)
    campaign.status, campaign.started_at = PushCampaignStatus.SENDING, timezone.now()
    campaign.save(update_fields=["status", "started_at", "updated_at"])
    campaign_id = campaign.pk
    transaction.on_commit(lambda: _queue_batch(campaign_id))
    return total


def _queue_batch(campaign_id: int, countdown: float = 0) -> None:
    from scrm.tasks import push_send_batch

    push_send_batch.apply_async((campaign_id,), countdown=countdown)


def push_campaigns_due(*, now: datetime | None = None) -> list[int]:
    """Start every scheduled campaign whose time has come; returns their ids."""
    now = now or timezone.now()
    due = list(
        PushCampaign.objects.filter(status=PushCampaignStatus.SCHEDULED, scheduled_at__lte=now)
        .order_by("scheduled_at")
        .values_list("pk", flat=True)[:50]
    )
    started = []
    for pk in due:
        campaign = PushCampaign.objects.get(pk=pk)
        push_campaign_start(campaign=campaign)
        started.append(pk)
    return started


# ---------------------------------------------------------------- sending


def _values_for(message: PushMessage, personal: dict[str, str]) -> dict[str, str]:
    values = {
        "name": personal.get("name") or message.identity.display_name,
        "city": personal.get("city", ""),
        "province": personal.get("province", ""),
        "unsubscribe": "",
        "link": "",
    }
    from django.conf import settings

    base = getattr(settings, "TROIKA_PUBLIC_URL", "").rstrip("/")
    values["link"] = base + reverse("scrm:push-click", args=[tracking_token(message.pk)])
    values["unsubscribe"] = base + reverse(
        "scrm:push-unsubscribe", args=[tracking_token(message.pk, salt=UNSUBSCRIBE_SALT)]
    )
    return values


@transaction.atomic
def push_message_reserve(*, message_id: int, now: datetime | None = None) -> PushMessage | None:
    """Step 1 (see the module doc): claim a queued recipient and decide under the contact's cap lock whether it
    may be sent. Returns the message (``sending`` or ``skipped``), or ``None`` when another batch has it or it is
    no longer queued."""
    message = (
        PushMessage.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("channel", "identity", "campaign")
        .filter(pk=message_id, status=PushMessageStatus.QUEUED)
        .first()
    )
    if message is None:
        return None
    now = now or timezone.now()
    PushCapLock.objects.bulk_create(
        [PushCapLock(company_id=message.company_id, crm_contact_id=message.crm_contact_id)], ignore_conflicts=True
    )
    lock = PushCapLock.objects.select_for_update().get(
        company_id=message.company_id, crm_contact_id=message.crm_contact_id
    )
    reason = ""
    if not consent_allows(
        company_id=message.company_id,
        crm_contact_id=message.crm_contact_id,
        channel_kind=message.channel.kind,
        lock=True,
    ):
        reason = SkipReason.NO_CONSENT
    else:
        policy = push_policy_of(message.company_id)
        recent = PushMessage.objects.filter(
            company_id=message.company_id,
            crm_contact_id=message.crm_contact_id,
            status__in=[PushMessageStatus.SENDING, PushMessageStatus.SENT],
            reserved_at__gte=now - timedelta(days=policy.window_days),
        ).count()
        if recent >= policy.max_pushes:
            reason = SkipReason.FREQUENCY_CAP
    if reason:
        message.status, message.skip_reason = PushMessageStatus.SKIPPED, reason
        message.save(update_fields=["status", "skip_reason"])
        return message
    message.status, message.reserved_at = PushMessageStatus.SENDING, now
    message.attempts += 1
    message.save(update_fields=["status", "reserved_at", "attempts"])
    lock.last_reserved_at = now
    lock.save(update_fields=["last_reserved_at"])
    return message


def _record(message: PushMessage, *, external_id: str = "", error: str = "", text: str = "") -> None:
    with transaction.atomic():
        now = timezone.now()
        if error:
            PushMessage.objects.filter(pk=message.pk).update(status=PushMessageStatus.FAILED, error=error[:500])
            return
        PushMessage.objects.filter(pk=message.pk).update(
            status=PushMessageStatus.SENT, external_id=external_id[:200], sent_at=now, text=text
        )
        if message.campaign.crm_campaign_id:
            events.publish(
                CAMPAIGN_TOUCHED,
                campaign_touched_payload(
                    company_id=message.company_id,
                    crm_campaign_id=message.campaign.crm_campaign_id,
                    contact_id=message.crm_contact_id,
                    touched_at=now,
                    kind="sent",
                ),
                company_id=message.company_id,
            )


def push_send_batch(*, campaign_id: int, limit: int = SEND_BATCH) -> BatchResult:
    """Send up to ``limit`` queued recipients of a sending campaign (reserve → send → record each). Stops early
    with ``retry_in`` when the channel's bucket is empty or the platform rate-limits us; marks the campaign
    ``done`` when nothing is left to send."""
    result = BatchResult()
    campaign = PushCampaign.objects.filter(pk=campaign_id, status=PushCampaignStatus.SENDING).first()
    if campaign is None:
        return result
    texts = {c.channel_id: c.text for c in campaign.contents.all()}
    queued = list(
        campaign.messages.filter(status=PushMessageStatus.QUEUED).order_by("pk").values_list("pk", "channel_id")[:limit]
    )
    personal: dict[int, dict[str, str]] = {}
    if queued:
        contact_ids = campaign.messages.filter(pk__in=[pk for pk, _c in queued]).values_list(
            "crm_contact_id", flat=True
        )
        personal = crm_selectors.contacts_personalisation(company_id=campaign.company_id, contact_ids=contact_ids)
    channels: dict[int, Channel] = {}
    for message_id, channel_id in queued:
        channel = channels.get(channel_id) or channels.setdefault(channel_id, Channel.objects.get(pk=channel_id))
        wait = send_token_take(channel)
        if wait:
            result.retry_in = max(wait, 0.05)
            break
        message = push_message_reserve(message_id=message_id)
        if message is None:
            continue
        if message.status == PushMessageStatus.SKIPPED:
            result.skipped += 1
            continue
        text = render(
            texts[channel_id], _values_for(message, personal.get(message.crm_contact_id, {})), channel_kind=channel.kind
        )
        try:
            connector = connector_for(channel)
            connector.send_key = f"push-{message.pk}"  # one key per (push, recipient): a re-send after a sweep
            external_id = connector.send(message.identity.external_id, text)
        except RateLimited as exc:
            PushMessage.objects.filter(pk=message.pk).update(status=PushMessageStatus.QUEUED, reserved_at=None)
            result.retry_in = float(exc.retry_after)
            break
        except SendError as exc:
            _record(message, error=str(exc))
            result.failed += 1
            continue
        _record(message, external_id=external_id or "", text=text)
        result.sent += 1
    if not result.retry_in:
        with transaction.atomic():
            locked = lock_campaign(campaign_id)
            left = locked.messages.filter(status__in=[PushMessageStatus.QUEUED, PushMessageStatus.SENDING]).exists()
            if locked.status == PushCampaignStatus.SENDING and not left:
                locked.status, locked.finished_at = PushCampaignStatus.DONE, timezone.now()
                locked.save(update_fields=["status", "finished_at", "updated_at"])
    return result


# ---------------------------------------------------------------- tracking


@transaction.atomic
def push_click(*, token: str) -> str | None:
    """A recipient followed the tracked link: count the click (first click also marks it opened), and on the
    first click fire the ``clicked_push`` rules and tell the CRM campaign (``scrm.campaign.touched``
    ``responded``). Returns where to send the visitor, or ``None`` for a tampered token."""
    message = message_for_token(token)
    if message is None:
        return None
    first = message.clicked_at is None
    now = timezone.now()
    PushMessage.objects.filter(pk=message.pk).update(
        clicks=F("clicks") + 1, clicked_at=Coalesce(F("clicked_at"), Now()), opened_at=Coalesce(F("opened_at"), Now())
    )
    if first:
        tag_rules_fire_behaviour(
            company_id=message.company_id,
            behaviour="clicked_push",
            contact_ids={message.crm_contact_id},
            reason=message.campaign.name,
        )
        if message.campaign.crm_campaign_id:
            events.publish(
                CAMPAIGN_TOUCHED,
                campaign_touched_payload(
                    company_id=message.company_id,
                    crm_campaign_id=message.campaign.crm_campaign_id,
                    contact_id=message.crm_contact_id,
                    touched_at=now,
                    kind="responded",
                ),
                company_id=message.company_id,
            )
    return message.campaign.link_url or "/"


@transaction.atomic
def push_unsubscribe(*, token: str) -> PushMessage | None:
    """The signed unsubscribe link of a push: withdraw the contact's consent on that kind of channel now."""
    message = message_for_token(token, salt=UNSUBSCRIBE_SALT)
    if message is None:
        return None
    consent_withdraw(
        company_id=message.company_id,
        crm_contact_id=message.crm_contact_id,
        channel_kind=message.channel.kind,
        via="link",
    )
    return message


def push_campaign_report(campaign: PushCampaign) -> dict:
    """Delivery, open and click figures of a campaign (one aggregate query)."""
    figures = campaign.messages.aggregate(
        recipients=Count("pk"),
        queued=Count("pk", filter=Q(status=PushMessageStatus.QUEUED)),
        sent=Count("pk", filter=Q(status=PushMessageStatus.SENT)),
        failed=Count("pk", filter=Q(status=PushMessageStatus.FAILED)),
        skipped_consent=Count("pk", filter=Q(skip_reason__in=[SkipReason.NO_CONSENT, SkipReason.WITHDRAWN])),
        skipped_cap=Count("pk", filter=Q(skip_reason=SkipReason.FREQUENCY_CAP)),
        opened=Count("pk", filter=Q(opened_at__isnull=False)),
        clicked=Count("pk", filter=Q(clicked_at__isnull=False)),
    )
    sent = figures["sent"] or 0
    figures["click_rate"] = round(100 * figures["clicked"] / sent, 1) if sent else None
    return figures


@transaction.atomic
def push_policy_set(*, company_id: int, max_pushes: int, window_days: int, by=None) -> PushPolicy:
    """Set the company's frequency cap (at most ``max_pushes`` pushes per contact in ``window_days`` days)."""
    errors = {}
    if not 0 <= max_pushes <= 100:
        errors["max_pushes"] = [_("Between 0 and 100.")]
    if not 1 <= window_days <= 365:
        errors["window_days"] = [_("Between 1 and 365 days.")]
    if errors:
        raise ValidationError(errors)
    policy = push_policy_of(company_id)
    policy = PushPolicy.objects.select_for_update().get(pk=policy.pk)
    policy.max_pushes, policy.window_days = max_pushes, window_days
    policy.save(update_fields=["max_pushes", "window_days", "updated_at"])
    return policy
