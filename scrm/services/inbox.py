"""The inbox pipeline: delivery → identity upsert → identity resolution → conversation/message → alert; and
replies from the inbox through the channel's connector."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm import selectors as crm_selectors
from crm.text import normalize_phone
from scrm import events as scrm_events
from scrm.channels import RateLimited, SendError, connector_for
from scrm.models import Channel, Conversation, Message, Resolution, SocialIdentity
from scrm.models.inbox import EVENT_TEXT
from scrm.services.bulk import adopt_inserted, any_of, insert_rows_new
from scrm.services.bulk import insert_new as _insert_new
from suite import events
from suite.models import Membership, Notification
from suite.services.notifications import counted, notifications_coalesce

PROCESS_BATCH = 500
# What the inbox batch reads of a conversation it appends to: not its six timestamps (parsing them was ~5 % of
# the batch's Python; the batch moves them in SQL). A deferred field read later is loaded on access, as usual.
_CONVERSATION_FIELDS = ("id", "company_id", "channel_id", "identity_id", "assigned_to_id")


@dataclass
class ProcessResult:
    deliveries: int = 0
    messages: int = 0
    lanes_left: int = 0  # lanes with pending deliveries the batch did not take (another batch's, or beyond its share)


def _identity_defaults(event: dict) -> dict:
    """What the event tells about its sender (non-empty values only)."""
    defaults = {
        key: value
        for key, value in (
            ("display_name", event.get("sender_name", "")),
            ("unionid", event.get("unionid", "")),
            ("phone", event.get("phone", "")),
        )
        if value
    }
    if event.get("phone") and event.get("phone_verified"):
        defaults["phone_verified"] = True
    return defaults


def identity_upsert(*, channel: Channel, event: dict) -> tuple[SocialIdentity, bool]:
    """The identity of the event's sender on the channel's platform, created or refreshed with what the
    platform told (name, unionid, phone); and whether a key that resolution uses (unionid, phone) is new.
    ``get_or_create`` on the unique (company, platform, external id): safe under concurrent deliveries."""
    defaults = _identity_defaults(event)
    identity, created = SocialIdentity.objects.get_or_create(
        company_id=channel.company_id, channel_kind=channel.kind, external_id=event["sender_id"], defaults=defaults
    )
    changed = [key for key, value in defaults.items() if getattr(identity, key) != value]
    if not created and changed:
        for key in changed:
            setattr(identity, key, defaults[key])
        identity.save(update_fields=[*changed, "updated_at"])
    keys_changed = created or bool({"unionid", "phone", "phone_verified"} & set(changed))
    return identity, keys_changed


def identity_resolve(*, identity: SocialIdentity) -> SocialIdentity:
    """Map the identity to a CRM contact: automatically on a strong key (WeChat unionid, or a phone the
    platform verified), as a reviewable suggestion on an unverified phone, else nothing. An ``auto`` identity
    is not re-resolved. Reads ``crm.selectors``; publishes ``scrm.identity.resolved`` on an automatic match."""
    if identity.resolution == Resolution.AUTO:
        return identity
    phone = ""
    if identity.phone:
        try:
            phone = normalize_phone(identity.phone)
        except ValidationError:
            phone = ""
    if not identity.unionid and not phone:
        return identity
    candidates = crm_selectors.customer_duplicates_find(
        model=crm_selectors.Contact, company_id=identity.company_id, phone=phone, unionid=identity.unionid, limit=5
    )
    strong = [
        c for c in candidates if "unionid" in c.matched_on or ("phone" in c.matched_on and identity.phone_verified)
    ]
    if len(strong) == 1:
        match, state = strong[0].customer, Resolution.AUTO
    elif candidates:
        match, state = candidates[0].customer, Resolution.SUGGESTED
    else:
        return identity
    if (identity.crm_contact_id, identity.resolution) == (match.pk, state):
        return identity
    identity.crm_contact_id = match.pk
    identity.crm_account_id = match.account_id
    identity.crm_owner_id = match.owner_id
    identity.resolution = state
    identity.save(update_fields=["crm_contact_id", "crm_account_id", "crm_owner_id", "resolution", "updated_at"])
    if state == Resolution.AUTO:
        events.publish(
            scrm_events.IDENTITY_RESOLVED,
            scrm_events.identity_resolved_payload(identity=identity),
            company_id=identity.company_id,
        )
    return identity


def identities_resolve(*, identities: list[SocialIdentity]) -> None:
    """``identity_resolve`` for many identities of one company at once (an inbox batch's new senders): one
    CRM read for all of them (``crm.selectors.duplicates_find_many``), one UPDATE of those that changed, one
    outbox write of their ``scrm.identity.resolved`` events. The same rules, identity by identity."""
    todo: list[tuple[SocialIdentity, str]] = []
    for identity in identities:
        if identity.resolution == Resolution.AUTO:
            continue
        phone = ""
        if identity.phone:
            try:
                phone = normalize_phone(identity.phone)
            except ValidationError:
                phone = ""
        if identity.unionid or phone:
            todo.append((identity, phone))
    if not todo:
        return
    found = crm_selectors.duplicates_find_many(
        model=crm_selectors.Contact,
        company_id=todo[0][0].company_id,
        facts=[crm_selectors.DuplicateFacts(phone=phone, unionid=identity.unionid) for identity, phone in todo],
    )
    changed, resolved = [], []
    now = timezone.now()
    for (identity, _phone), candidates in zip(todo, found, strict=True):
        candidates = candidates[:5]
        strong = [
            c for c in candidates if "unionid" in c.matched_on or ("phone" in c.matched_on and identity.phone_verified)
        ]
        if len(strong) == 1:
            match, state = strong[0].customer, Resolution.AUTO
        elif candidates:
            match, state = candidates[0].customer, Resolution.SUGGESTED
        else:
            continue
        if (identity.crm_contact_id, identity.resolution) == (match.pk, state):
            continue
        identity.crm_contact_id = match.pk
        identity.crm_account_id = match.account_id
        identity.crm_owner_id = match.owner_id
        identity.resolution = state
        identity.updated_at = now
        changed.append(identity)
        if state == Resolution.AUTO:
            resolved.append(identity)
    if changed:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE scrm_socialidentity AS i SET crm_contact_id = v.contact, crm_account_id = v.account, "
                "crm_owner_id = v.owner, resolution = v.resolution, updated_at = %s "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::varchar[]) "
                "AS v(id, contact, account, owner, resolution) WHERE i.id = v.id",
                [
                    now,
                    [i.pk for i in changed],
                    [i.crm_contact_id for i in changed],
                    [i.crm_account_id for i in changed],
                    [i.crm_owner_id for i in changed],
                    [i.resolution for i in changed],
                ],
            )
    if resolved:
        events.publish_many(
            [
                (scrm_events.IDENTITY_RESOLVED, scrm_events.identity_resolved_payload(identity=identity))
                for identity in resolved
            ],
            company_id=resolved[0].company_id,
        )


@dataclass
class _Alert:
    assignee_id: int
    name: str
    text: str
    count: int = 0
    removed: bool = False


@dataclass
class InboxBatch:
    """What one processing batch remembers so a burst from the same people costs few queries: identities and
    conversations already seen, which users are active members, the latest message time per conversation and
    one alert per conversation (flushed by ``finish``)."""

    channel: Channel
    identities: dict[str, SocialIdentity] = field(default_factory=dict)
    conversations: dict[int, Conversation] = field(default_factory=dict)
    active_members: dict[int, bool] = field(default_factory=dict)
    last_message: dict[int, object] = field(default_factory=dict)
    first_message: dict[int, object] = field(default_factory=dict)  # earliest sent_at per conversation
    alerts: dict[int, _Alert] = field(default_factory=dict)
    # The batch's inbound messages as ``scrm_message`` rows (column → JSON-ready value, ``created_at`` set by
    # ``finish``): no model instance per message — building and dumping them was ~10 % of the worker's CPU.
    messages: list[dict] = field(default_factory=list)
    ugc: list[tuple[SocialIdentity, dict]] = field(default_factory=list)  # public posts → scrm.services.ugc
    opt_out_words: frozenset[str] | None = None  # cadences' opt-out keywords, read once per batch (scrmwecom)
    fresh: set[str] = field(default_factory=set)  # senders whose identity this batch created (not yet applied)
    rules: object = None  # auto-tag rules, unsubscribe, interactions → scrm.services.inbox_rules

    def is_active_member(self, user_id: int) -> bool:
        if user_id not in self.active_members:
            self.active_members[user_id] = Membership.objects.filter(
                company_id=self.channel.company_id, user_id=user_id, is_active=True
            ).exists()
        return self.active_members[user_id]

    def prepare(self, events: list[dict]) -> None:
        """Set-based start of a batch (scrmingest): the identities of all its senders in one read, the new ones
        in one ``INSERT … ON CONFLICT DO NOTHING`` (then resolved together: ``identities_resolve``), their
        conversations in one read and the missing ones in one insert. A sender whose stored
        identity differs from what the batch's first event of theirs says is left to the per-item path
        (``identity_upsert``), as are chat events. Races with a concurrent worker end in the unique
        constraints: the row the other transaction inserted is read back."""
        channel = self.channel
        first: dict[str, dict] = {}
        for event in events:
            if event.get("kind") != "chat" and event.get("sender_id"):
                first.setdefault(event["sender_id"], event)
        if not first:
            return
        scope = {"company_id": channel.company_id, "channel_kind": channel.kind}
        found = {
            i.external_id: i
            for i in SocialIdentity.objects.filter(any_of(SocialIdentity, "external_id", list(first)), **scope)
        }
        missing = [key for key in first if key not in found]
        created: set[int] = set()
        if missing:
            new = [SocialIdentity(**scope, external_id=key, **_identity_defaults(first[key])) for key in missing]
            returned = _insert_new(SocialIdentity, new, returning=("id", "external_id"))
            inserted = adopt_inserted(new, returned, "external_id")
            created = {identity.pk for identity in inserted}
            found.update({identity.external_id: identity for identity in inserted})
            if len(inserted) < len(new):  # a concurrent transaction inserted some first: read theirs
                lost = [key for key in missing if key not in found]
                found.update({i.external_id: i for i in SocialIdentity.objects.filter(**scope, external_id__in=lost)})
        for key, identity in found.items():
            if identity.pk in created:
                self.fresh.add(key)
            elif _identity_differs(identity, first[key]):
                continue
            self.identities[key] = identity
        identities_resolve(identities=[self.identities[key] for key in self.fresh])
        by_pk = {identity.pk: identity for identity in self.identities.values()}
        if not by_pk:
            return
        of_senders = any_of(Conversation, "identity_id", list(by_pk))
        conversations = {
            c.identity_id: c
            for c in Conversation.objects.filter(of_senders, channel=channel).only(*_CONVERSATION_FIELDS)
        }
        missing_pks = [pk for pk in by_pk if pk not in conversations]
        if missing_pks:
            owners = {by_pk[pk].crm_owner_id for pk in missing_pks} - {None} - set(self.active_members)
            if owners:
                active = set(
                    Membership.objects.filter(
                        company_id=channel.company_id, user_id__in=owners, is_active=True
                    ).values_list("user_id", flat=True)
                )
                self.active_members.update({owner: owner in active for owner in owners})
            new_conversations = [
                Conversation(
                    company_id=channel.company_id,
                    channel=channel,
                    identity_id=pk,
                    assigned_to_id=_assignee_for(self, by_pk[pk]),
                )
                for pk in missing_pks
            ]
            returned = _insert_new(Conversation, new_conversations, returning=("id", "identity"))
            conversations.update({c.identity_id: c for c in adopt_inserted(new_conversations, returned, "identity_id")})
            if len(returned) < len(new_conversations):  # a concurrent transaction inserted some first
                lost = [pk for pk in missing_pks if pk not in conversations]
                conversations.update(
                    {
                        c.identity_id: c
                        for c in Conversation.objects.filter(channel=channel, identity_id__in=lost).only(
                            *_CONVERSATION_FIELDS
                        )
                    }
                )
        self.conversations.update(conversations)

    def finish(self) -> None:
        """Move each touched conversation's last-message times, then alert each assignee once per
        conversation, in the agent's language: the agent's unread alert of the conversation is updated in place
        ("12 new messages from …", ``suite.services.notifications.notifications_coalesce``), a new one only when
        none is unread. The messages go in one INSERT; ON CONFLICT DO NOTHING keeps a message that is somehow
        already there (its delivery is unique per (channel, external id) too, so this only happens when an
        operator re-runs deliveries)."""
        if self.messages:
            created_at = timezone.now().isoformat()
            for row in self.messages:
                row["created_at"] = created_at
            insert_rows_new(Message, self.messages)  # one statement, ON CONFLICT DO NOTHING (scrmingest)
        self.messages.clear()
        if self.ugc:
            from scrm.services.ugc import ugc_capture_batch

            ugc_capture_batch(channel=self.channel, items=self.ugc)
            self.ugc.clear()
        if self.rules is not None:
            self.rules.flush()
        if self.last_message:
            # One UPDATE, which locks the rows: no separate ``SELECT … FOR UPDATE`` in id order any more — since
            # the lanes (``deliveries_process``) no two batches share a sender, hence a conversation, and every
            # other writer of a conversation (reply, assignment, QR attribution) locks that one row only, so
            # there is no second multi-row locker to deadlock with. GREATEST because a conversation's batches
            # (e.g. an operator's re-run) may commit out of order.
            pks = sorted(self.last_message)
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE scrm_conversation AS c SET last_message_at = GREATEST(c.last_message_at, v.at), "
                    "last_inbound_at = GREATEST(c.last_inbound_at, v.at), status = %s, "
                    "first_inbound_at = LEAST(c.first_inbound_at, v.first) "  # LEAST skips NULL
                    "FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[]) AS v(id, at, first) "
                    "WHERE c.id = v.id",
                    [
                        Conversation.Status.OPEN,
                        pks,
                        [self.last_message[pk] for pk in pks],
                        [self.first_message.get(pk, self.last_message[pk]) for pk in pks],
                    ],
                )
        notifications = []
        for conversation_pk, alert in sorted(self.alerts.items()):
            item = {
                "recipient_id": alert.assignee_id,
                "body": alert.text[:500],
                "link": f"/scrm/inbox/{conversation_pk}/",
                "count": alert.count,
            }
            # The titles are functions: ``notifications_coalesce`` writes them in each agent's language.
            if alert.removed:  # never folded into a "new messages" line
                item.update(title=lambda name=alert.name: _churn_title(name), level=Notification.Level.WARNING)
            else:
                # One unread alert per conversation and agent, updated in place ("12 new messages from …").
                item.update(
                    key=f"scrm.conversation:{conversation_pk}",
                    title=lambda name=alert.name: _new_message_title(name),
                    title_many=lambda name=alert.name: _new_messages_title(name),
                    level=Notification.Level.INFO,
                )
            notifications.append(item)
        notifications_coalesce(company=self.channel.company_id, items=notifications)
        self.last_message.clear()
        self.first_message.clear()
        self.alerts.clear()


def _churn_title(name: str) -> str:
    return gettext("Churn alert: %(name)s is no longer a WeCom contact") % {"name": name}


def _new_message_title(name: str) -> str:
    return gettext("New message from %(name)s") % {"name": name}


def _new_messages_title(name: str) -> str:
    """The title "N new messages from …" in the active language, with ``notifications_coalesce``'s ``COUNT``
    where the number goes (``suite.services.notifications.counted``)."""
    return counted(lambda count: gettext("%(count)d new messages from %(name)s") % {"count": count, "name": name})()


def _assignee_for(batch: InboxBatch, identity: SocialIdentity) -> int | None:
    """The CRM owner of a matched customer when they are an active member, else the channel's default."""
    if identity.crm_owner_id and batch.is_active_member(identity.crm_owner_id):
        return identity.crm_owner_id
    return batch.channel.default_assignee_id


def _identity_differs(identity: SocialIdentity, event: dict) -> bool:
    """Whether the event tells something new about a sender already seen in this batch."""
    return any(
        event.get(source) and getattr(identity, target) != event.get(source)
        for source, target in (("sender_name", "display_name"), ("unionid", "unionid"), ("phone", "phone"))
    ) or bool(event.get("phone_verified") and not identity.phone_verified)


def _is_new_contact(event: dict, identity: SocialIdentity, is_new_identity: bool) -> bool:
    """Whether the event brings a person the CRM does not know: a WeCom add from a new identity, or any lead
    capture (Douyin 留资: the person asked to be contacted, even if they chatted before) of an identity that is
    not an automatically matched or linked CRM customer. The CRM finds an open lead of the same phone itself."""
    if identity.resolution == Resolution.AUTO or identity.crm_contact_id is not None:
        return False
    platform_event = event.get("event")
    return (platform_event == "add_external_contact" and is_new_identity) or (
        platform_event in scrm_events.LEAD_CAPTURE_EVENTS
    )


def inbound_event_apply(*, channel: Channel, event: dict, batch: InboxBatch | None = None) -> dict | None:
    """One parsed inbound event into the inbox: identity, resolution, conversation, message, alert. Returns the
    message's ``scrm_message`` row (``None`` for an event that is not an inbox message). Must run in a
    transaction (the caller's); with a ``batch``, the message, the conversation times and the alerts are written
    by ``batch.finish()``, else at once."""
    if event.get("kind") == "chat":  # WeCom customer-group changes go to communities, not the inbox
        from scrm.services.communities import community_event_apply

        community_event_apply(channel=channel, event=event)
        return None
    own_batch = batch is None
    batch = batch or InboxBatch(channel=channel)
    key = event["sender_id"]
    identity = batch.identities.get(key)
    is_new_identity = False
    if identity is None or _identity_differs(identity, event):
        identity, keys_changed = identity_upsert(channel=channel, event=event)
        is_new_identity = keys_changed and identity.resolution == Resolution.NONE and identity.crm_contact_id is None
        if keys_changed:
            identity = identity_resolve(identity=identity)
        batch.identities[key] = identity
        batch.fresh.discard(key)
    elif key in batch.fresh:  # created by ``prepare``: this is the sender's first event
        batch.fresh.discard(key)
        is_new_identity = True
    sent_at = parse_datetime(event.get("sent_at") or "") or timezone.now()
    conversation = batch.conversations.get(identity.pk)
    if conversation is None:
        conversation, _created = Conversation.objects.get_or_create(
            channel=channel,
            identity=identity,
            defaults={"company_id": channel.company_id, "assigned_to_id": _assignee_for(batch, identity)},
        )
        batch.conversations[identity.pk] = conversation
    text = event.get("text", "")
    kind, platform_event = event.get("kind", Message.Kind.MESSAGE), event.get("event", "")
    message = {
        "company_id": channel.company_id,
        "channel_id": channel.pk,
        "conversation_id": conversation.pk,
        "direction": Message.Direction.IN.value,
        "kind": kind,
        "event": platform_event,
        "text": text,
        "external_id": event["external_id"],
        "author_id": None,
        "sent_at": sent_at.isoformat(),
    }
    batch.messages.append(message)
    from scrm.services.inbox_rules import inbound_observe

    inbound_observe(batch, identity=identity, event=event, sent_at=sent_at)
    _relationship_hooks(
        channel=channel, event=event, identity=identity, conversation=conversation, at=sent_at, batch=batch
    )
    if event.get("kind") in ("comment", "mention") or event.get("ugc_kind"):
        batch.ugc.append((identity, event))  # comments, mentions, reviews … are also UGC (scrm.services.ugc)
    previous = batch.last_message.get(conversation.pk)
    batch.last_message[conversation.pk] = max(previous, sent_at) if previous else sent_at
    earliest = batch.first_message.get(conversation.pk)
    batch.first_message[conversation.pk] = min(earliest, sent_at) if earliest else sent_at
    if _is_new_contact(event, identity, is_new_identity):
        events.publish(
            scrm_events.CONTACT_CREATED,
            scrm_events.contact_created_payload(
                identity=identity,
                channel=channel,
                staff_id=event.get("staff_id", ""),
                platform_event=platform_event,
                note=text if platform_event in scrm_events.LEAD_CAPTURE_EVENTS else "",
            ),
            company_id=channel.company_id,
        )
    removed = event.get("event") in scrm_events.REMOVAL_EVENTS
    if removed:
        events.publish(
            scrm_events.CONTACT_REMOVED,
            scrm_events.contact_removed_payload(
                identity=identity,
                channel=channel,
                change=event["event"],
                staff_id=event.get("staff_id", ""),
                conversation=conversation,
            ),
            company_id=channel.company_id,
        )
    if conversation.assigned_to_id:
        alert = batch.alerts.setdefault(
            conversation.pk,
            _Alert(
                assignee_id=conversation.assigned_to_id, name=identity.display_name or identity.external_id, text=""
            ),
        )
        alert.count += 1
        # Message.display_text: the text, or for a platform event without one its description
        alert.text = text or (str(EVENT_TEXT.get(platform_event, platform_event)) if kind == Message.Kind.EVENT else "")
        alert.removed = alert.removed or removed
    if own_batch:
        batch.finish()
    return message


def _relationship_hooks(*, channel: Channel, event: dict, identity, conversation, at, batch: InboxBatch) -> None:
    """A WeCom channel QR code's new contact is attributed to the code (``State``); a short reply that is a
    cadence's opt-out keyword (退订, TD …) stops the person's cadences."""
    state = (event.get("extra") or {}).get("state")
    if state and event.get("event") == "add_external_contact":
        from scrm.services.wecom_relations import contact_way_attribute

        contact_way_attribute(
            channel=channel,
            identity=identity,
            conversation=conversation,
            state=state,
            staff_id=event.get("staff_id", ""),
            at=at,
        )
    text = event.get("text", "")
    if text and len(text) <= 20 and event.get("kind", "message") == "message":
        from scrm.services.cadences import cadence_opt_out_check, cadence_opt_out_words, opt_out_normalize

        if batch.opt_out_words is None:
            batch.opt_out_words = cadence_opt_out_words(company_id=channel.company_id)
        if opt_out_normalize(text) in batch.opt_out_words:
            cadence_opt_out_check(identity=identity, text=text)


def _deliveries_publish(*, channel: Channel, connector, batch) -> None:
    """Publish the contract events (``scrm.channels.plugins.CHANNEL_EVENTS``) a commerce plugin makes of each
    stored delivery, with the channel in the payload; each delivery's events share one correlation id. Other
    names are refused (logged and dropped): a plugin cannot publish another app's events."""
    import logging

    from scrm.channels.plugins import CHANNEL_EVENTS

    for delivery in batch:
        correlation_id = None
        for name, payload in connector.delivery_events(delivery.payload):
            if name not in CHANNEL_EVENTS:
                logging.getLogger(__name__).error("channel plugin event %r refused (not a channel event)", name)
                continue
            body = {
                **payload,
                "channel_id": channel.pk,
                "delivery_id": delivery.pk,
                "owner_id": channel.default_assignee_id,
            }
            event = events.publish(name, body, company_id=channel.company_id, correlation_id=correlation_id)
            correlation_id = event.correlation_id


class _Claimed(NamedTuple):
    pk: int
    payload: dict


# First key of the transaction-level advisory lock a drain batch holds on each lane it claims (the second is
# company id × DELIVERY_LANES + lane): per company, because identities are shared by a company's channels.
LANE_LOCK_KEY = 73_104

# The lanes with pending deliveries of the channel, oldest first (one probe of the pending index per lane);
# as many as ``max`` of them are locked in that order, skipping those another batch holds (the lock is a
# volatile function: evaluated after the ordering of the fenced subquery, stopped by the LIMIT). Also counts
# every lane with pending deliveries, taken or not, so the caller knows whether some were left.
_LANES_SQL = """
WITH pending AS MATERIALIZED (
    SELECT l.lane, f.id
    FROM unnest(%(lanes)s::smallint[]) AS l(lane)
    CROSS JOIN LATERAL (
        SELECT d.id FROM scrm_delivery d
        WHERE d.channel_id = %(channel)s AND d.lane = l.lane AND d.processed_at IS NULL
        ORDER BY d.id LIMIT 1
    ) AS f
), taken AS MATERIALIZED (
    SELECT p.lane FROM (SELECT lane FROM pending ORDER BY id OFFSET 0) AS p
    WHERE pg_try_advisory_xact_lock(%(key)s, %(base)s + p.lane)
    LIMIT %(max)s
)
SELECT (SELECT count(*) FROM pending), ARRAY(SELECT lane FROM taken)
"""

# The oldest pending deliveries of the locked lanes: their ids from each lane's index range (index only, at
# most ``limit`` per lane, merged by id and cut to ``limit``), then each row locked through its primary key
# (LATERAL: a nested loop whatever the statistics say — a plan that sorted every pending delivery of the
# channel would cost in proportion to the backlog, on every batch).
_CLAIM_SQL = """
WITH ids AS MATERIALIZED (
    SELECT x.id FROM unnest(%(lanes)s::smallint[]) AS l(lane)
    CROSS JOIN LATERAL (
        SELECT p.id FROM scrm_delivery p
        WHERE p.channel_id = %(channel)s AND p.lane = l.lane AND p.processed_at IS NULL
        ORDER BY p.id LIMIT %(limit)s
    ) AS x
    ORDER BY x.id LIMIT %(limit)s
)
SELECT d.id, d.payload FROM ids
CROSS JOIN LATERAL (
    SELECT r.id, r.payload FROM scrm_delivery r
    WHERE r.id = ids.id AND r.processed_at IS NULL
    FOR UPDATE SKIP LOCKED
) AS d
ORDER BY d.id
"""


def _claim(channel: Channel, *, limit: int, lanes: int) -> tuple[list[_Claimed], int]:
    """Lock up to ``lanes`` lanes of the channel's pending deliveries (oldest first, skipping those another
    transaction holds) and claim up to ``limit`` of their deliveries, oldest first. Returns the claimed rows
    and how many lanes with pending deliveries this claim did not take (held by others or beyond ``lanes``)."""
    import json

    from scrm.models.channels import DELIVERY_LANES

    with connection.cursor() as cursor:
        cursor.execute(
            _LANES_SQL,
            {
                "lanes": list(range(DELIVERY_LANES)),
                "channel": channel.pk,
                "key": LANE_LOCK_KEY,
                "base": channel.company_id * DELIVERY_LANES,
                "max": lanes,
            },
        )
        pending, taken = cursor.fetchone()
        if not taken:
            return [], pending
        cursor.execute(_CLAIM_SQL, {"lanes": taken, "channel": channel.pk, "limit": limit})
        claimed = [
            _Claimed(pk, payload if isinstance(payload, dict) else json.loads(payload))
            for pk, payload in cursor.fetchall()
        ]
    return claimed, pending - len(taken)


def deliveries_process(*, channel_id: int, limit: int = PROCESS_BATCH, lanes: int | None = None) -> ProcessResult:
    """Process up to ``limit`` unprocessed deliveries of the channel, oldest first, in one transaction.

    Takes up to ``lanes`` of the channel's lanes (``scrm.models.channels.DELIVERY_LANES``; all by default) with
    a transaction-level advisory lock each and claims their deliveries (``FOR UPDATE SKIP LOCKED`` besides):
    two batches never share a lane, hence never a sender's identity, conversation or alert — they run in
    parallel without waiting on each other's row locks — and a sender's deliveries are processed in order, one
    batch at a time. A worker killed mid-batch commits nothing (its locks end with its session) and the
    deliveries are claimed again. ``ProcessResult.lanes_left`` counts the lanes with pending deliveries this
    batch did not take. Publishes ``scrm.identity.resolved`` / ``scrm.contact.created`` as identities are
    matched or appear."""
    from scrm.models.channels import DELIVERY_LANES

    result = ProcessResult()
    channel = Channel.objects.select_related("company").filter(pk=channel_id).first()
    if channel is None:
        return result
    with transaction.atomic():
        # (id, payload) rows, not model instances: the batch only needs these two (scrmingest).
        batch, result.lanes_left = _claim(channel, limit=limit, lanes=lanes or DELIVERY_LANES)
        connector = connector_for(channel)
        if connector.handles_deliveries:
            # A commerce channel plugin (scrm.channels.plugins): its deliveries become contract events.
            _deliveries_publish(channel=channel, connector=connector, batch=batch)
        else:
            inbox_batch = InboxBatch(channel=channel)
            inbox_batch.prepare([delivery.payload for delivery in batch])
            for delivery in batch:
                if inbound_event_apply(channel=channel, event=delivery.payload, batch=inbox_batch) is not None:
                    result.messages += 1
            inbox_batch.finish()
        if batch:  # one array parameter, not a placeholder per delivery (Django's ``pk__in``)
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE scrm_delivery SET processed_at = %s WHERE id = ANY(%s::bigint[])",
                    [timezone.now(), [d.pk for d in batch]],
                )
        result.deliveries = len(batch)
    return result


def conversation_reply(*, conversation: Conversation, text: str, by) -> Message:
    """Send ``text`` to the conversation's identity through the channel's connector and record it.

    The platform call happens outside any transaction (a slow platform must not hold locks); the outbound
    message and the first-response time are then written in one transaction that locks the conversation.
    Raises ``ValidationError`` for an empty text or when the platform refuses."""
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _("Write a reply first.")})
    if len(text) > 2000:
        raise ValidationError({"text": _("A reply is at most 2000 characters.")})
    channel = conversation.channel
    try:
        external_id = connector_for(channel).send(conversation.identity.external_id, text)
    except SendError as exc:
        raise ValidationError({"text": _("The channel refused the reply: %(error)s") % {"error": exc}}) from exc
    except RateLimited as exc:
        message = _("The platform is limiting how fast we send; try again in %(seconds)s s.")
        raise ValidationError({"text": message % {"seconds": exc.retry_after}}) from exc
    now = timezone.now()
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        message = Message.objects.create(
            company_id=locked.company_id,
            channel_id=locked.channel_id,
            conversation=locked,
            direction=Message.Direction.OUT,
            kind=Message.Kind.MESSAGE,
            text=text,
            external_id=f"out:{external_id}" if external_id else "",
            author=by,
            sent_at=now,
        )
        locked.last_message_at = now
        fields = ["last_message_at", "updated_at"]
        if locked.first_response_at is None:
            locked.first_response_at = now
            fields.append("first_response_at")
        locked.save(update_fields=fields)
    return message


@transaction.atomic
def conversation_note_add(*, conversation: Conversation, text: str, by) -> Message:
    """Add an internal note to the conversation: staff only, never sent to the platform, does not count as a
    response. No locks; publishes nothing."""
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _("Write a note first.")})
    if len(text) > 2000:
        raise ValidationError({"text": _("A note is at most 2000 characters.")})
    return Message.objects.create(
        company_id=conversation.company_id,
        channel_id=conversation.channel_id,
        conversation=conversation,
        direction=Message.Direction.OUT,
        kind=Message.Kind.NOTE,
        text=text,
        author=by,
        sent_at=timezone.now(),
    )


TRANSCRIPT_MESSAGES = 10


def _recent_for_crm(conversation: Conversation) -> tuple[list[Message], str]:
    """The last messages of the conversation (internal notes left out), newest first, and their transcript."""
    recent = list(
        Message.objects.filter(conversation=conversation)
        .exclude(kind=Message.Kind.NOTE)
        .order_by("-sent_at", "-id")[:TRANSCRIPT_MESSAGES]
    )
    identity_name = conversation.identity.display_name or conversation.identity.external_id
    lines = [
        f"[{timezone.localtime(m.sent_at):%Y-%m-%d %H:%M}] "
        f"{identity_name if m.direction == Message.Direction.IN else _('Us')}: {m.display_text}"
        for m in reversed(recent)
    ]
    return recent, "\n".join(lines)


@transaction.atomic
def conversation_ticket_request(*, conversation: Conversation, by) -> dict:
    """Ask the CRM for a service ticket about this conversation (「转工单」): publishes
    ``scrm.conversation.escalated`` with the customer's last message as the subject and the recent messages
    (internal notes left out) as the transcript; the CRM opens the ticket when it handles the event. Asking again
    before the customer writes anything new names the same source, so the CRM keeps one ticket. Returns the
    payload. ``ValidationError`` when the customer has written nothing yet."""
    recent, transcript = _recent_for_crm(conversation)
    source = next((m for m in recent if m.direction == Message.Direction.IN and m.text.strip()), None)
    if source is None:
        raise ValidationError({"conversation": _("The customer has written nothing to make a ticket of yet.")})
    payload = scrm_events.conversation_escalated_payload(
        conversation=conversation, source_message=source, transcript=transcript, by=by
    )
    events.publish(scrm_events.CONVERSATION_ESCALATED, payload, company_id=conversation.company_id, by=by)
    return payload


@transaction.atomic
def conversation_lead_request(*, conversation: Conversation, by) -> dict:
    """Ask the CRM for a lead of this conversation's person (「转线索」), owned by ``by``: publishes
    ``scrm.conversation.lead_requested`` with the recent messages as the lead's notes; the CRM creates the lead
    when it handles the event, or keeps the person's open lead (same platform identity, unionid or phone), so
    asking twice makes one lead. Returns the payload. ``ValidationError`` when the person is already matched to
    a CRM customer (their page is the place to sell to them)."""
    identity = conversation.identity
    if identity.crm_contact_id is not None or identity.crm_account_id is not None:
        raise ValidationError(
            {"conversation": _("This person is already a CRM customer: open an opportunity from their page.")}
        )
    _recent, transcript = _recent_for_crm(conversation)
    payload = scrm_events.conversation_lead_requested_payload(conversation=conversation, transcript=transcript, by=by)
    events.publish(scrm_events.CONVERSATION_LEAD_REQUESTED, payload, company_id=conversation.company_id, by=by)
    return payload


@transaction.atomic
def conversation_assign(*, conversation: Conversation, assignee) -> Conversation:
    """Hand the conversation to ``assignee`` (an active member, or ``None``). Locks the conversation."""
    if (
        assignee is not None
        and not Membership.objects.filter(company_id=conversation.company_id, user=assignee, is_active=True).exists()
    ):
        raise ValidationError({"assigned_to": _("The assignee must be an active member of the company.")})
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    locked.assigned_to = assignee
    locked.save(update_fields=["assigned_to", "updated_at"])
    return locked
