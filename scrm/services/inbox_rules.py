"""What the inbox pipeline does for tags, segments and consent with every inbound message of a matched customer:
an unsubscribe keyword (退订/TD) withdraws consent at once; keyword rules and "replied to a push" behaviour rules
collect the contacts they fire for; the last interaction is remembered. ``flush`` (from ``InboxBatch.finish``)
publishes one ``scrm.customer.tag_requested`` per fired rule and one ``scrm.customers.interacted`` per batch, so
a burst of 500 messages costs a handful of events, not 500.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from scrm.events_segments import CAMPAIGN_TOUCHED, CUSTOMERS_INTERACTED, campaign_touched_payload
from scrm.models import Behaviour, PushMessage, PushMessageStatus, RuleTrigger, TagRule
from scrm.services.consent import consent_withdraw_identity, is_unsubscribe
from scrm.services.segments import active_rules, keyword_rules_matching, tag_rule_fire
from suite import events

REPLY_WINDOW = timedelta(days=7)  # a message within 7 days of a push to the person is a reply to it


@dataclass
class InboxRules:
    company_id: int
    keyword_rules: list[TagRule] | None = None
    reply_rules: list[TagRule] | None = None
    fired: dict[int, tuple[TagRule, set[int], str]] = field(default_factory=dict)
    interactions: dict[int, datetime] = field(default_factory=dict)
    reply_candidates: dict[int, tuple[int, datetime]] = field(default_factory=dict)  # identity → (contact, at)

    def fire(self, rule: TagRule, contact_id: int, reason: str) -> None:
        entry = self.fired.setdefault(rule.pk, (rule, set(), reason))
        entry[1].add(contact_id)

    def _replies(self) -> None:
        """Matched senders who got a push in the last 7 days replied to it: one read of the pushes of all the
        batch's candidates (up to 5 latest each), then "replied to push" rules fire and the CRM campaigns of
        those pushes are touched (``responded``)."""
        if not self.reply_candidates:
            return
        pushes = (
            PushMessage.objects.filter(
                identity_id__in=list(self.reply_candidates),
                status=PushMessageStatus.SENT,
                sent_at__gte=timezone.now() - REPLY_WINDOW,
            )
            .select_related("campaign")
            .order_by("identity_id", "-sent_at")
        )
        latest: dict[int, list[PushMessage]] = {}
        for push in pushes:
            items = latest.setdefault(push.identity_id, [])
            if len(items) < 5:
                items.append(push)
        for identity_id, items in latest.items():
            contact_id, sent_at = self.reply_candidates[identity_id]
            if self.reply_rules is None:
                self.reply_rules = [
                    r
                    for r in active_rules(self.company_id, RuleTrigger.BEHAVIOUR)
                    if r.behaviour == Behaviour.REPLIED_TO_PUSH
                ]
            for rule in self.reply_rules:
                self.fire(rule, contact_id, "replied to push")
            for crm_campaign_id in sorted({p.campaign.crm_campaign_id for p in items if p.campaign.crm_campaign_id}):
                events.publish(
                    CAMPAIGN_TOUCHED,
                    campaign_touched_payload(
                        company_id=self.company_id,
                        crm_campaign_id=crm_campaign_id,
                        contact_id=contact_id,
                        touched_at=sent_at,
                        kind="responded",
                    ),
                    company_id=self.company_id,
                )
        self.reply_candidates.clear()

    def flush(self) -> None:
        self._replies()
        for rule, contacts, reason in self.fired.values():
            tag_rule_fire(rule=rule, contact_ids=contacts, reason=reason)
        if self.interactions:
            events.publish(
                CUSTOMERS_INTERACTED,
                {"contacts": {str(pk): at.isoformat() for pk, at in sorted(self.interactions.items())}},
                company_id=self.company_id,
            )
        self.fired.clear()
        self.interactions.clear()


def inbound_observe(batch, *, identity, event: dict, sent_at: datetime) -> None:
    """Look at one inbound item for unsubscribes, auto-tag rules and interactions (see the module doc)."""
    if event.get("kind") == "event":
        return
    text = event.get("text", "") or ""
    if is_unsubscribe(text):
        consent_withdraw_identity(identity=identity, via="keyword")
        return
    contact_id = identity.crm_contact_id
    if contact_id is None or identity.resolution != "auto":
        return
    rules = batch.rules
    if rules is None:
        rules = batch.rules = InboxRules(company_id=batch.channel.company_id)
    previous = rules.interactions.get(contact_id)
    rules.interactions[contact_id] = max(previous, sent_at) if previous else sent_at
    if rules.keyword_rules is None:
        rules.keyword_rules = active_rules(rules.company_id, RuleTrigger.KEYWORD)
    for rule in keyword_rules_matching(rules.keyword_rules, text):
        rules.fire(rule, contact_id, text[:100])
    rules.reply_candidates.setdefault(identity.pk, (contact_id, sent_at))  # pushes read once per batch: flush
