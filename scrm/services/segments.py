"""Auto-tag rules, their evaluation, and saved segments.

Rules are evaluated where the facts arrive — the inbox pipeline (keywords, replies to pushes), SCRM's handlers
of ERP/QR/campaign events, the push click — and each firing publishes ``scrm.customer.tag_requested`` for a
set of contacts; the CRM's handler writes the tags and the history in bulk (docs/decisions.md: "Auto-tags
through an event"). Within one inbox batch a rule publishes one event for all the contacts it matched.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm import selectors as crm_selectors
from scrm.events_segments import CUSTOMER_TAG_REQUESTED, tag_requested_payload
from scrm.models import Behaviour, RuleTrigger, Segment, TagRule
from suite import events

RULE_FIELDS = frozenset(
    {"name", "trigger", "is_active", "keywords", "behaviour", "product_ids", "min_amount", "crm_campaign_id",
     "add_tag_id", "remove_tag_id"}
)  # fmt: skip


def _check_rule(rule: TagRule) -> None:
    errors: dict[str, list] = {}
    if not rule.name.strip():
        errors["name"] = [_("Give the rule a name.")]
    tags = [pk for pk in (rule.add_tag_id, rule.remove_tag_id) if pk]
    known = crm_selectors.company_tag_ids(company_id=rule.company_id, tag_ids=tags)
    if rule.add_tag_id not in known:
        errors["add_tag_id"] = [_("Unknown tag.")]
    if rule.remove_tag_id and rule.remove_tag_id not in known:
        errors["remove_tag_id"] = [_("Unknown tag.")]
    if rule.remove_tag_id and rule.remove_tag_id == rule.add_tag_id:
        errors["remove_tag_id"] = [_("A rule cannot add and remove the same tag.")]
    if rule.trigger == RuleTrigger.KEYWORD:
        keywords = rule.keywords if isinstance(rule.keywords, list) else None
        if not keywords or any(not isinstance(k, str) or not k.strip() or len(k) > 50 for k in keywords):
            errors["keywords"] = [_("List one or more keywords of at most 50 characters.")]
        else:
            rule.keywords = sorted({k.strip() for k in keywords})[:50]
    elif rule.trigger == RuleTrigger.BEHAVIOUR:
        if rule.behaviour not in Behaviour.values:
            errors["behaviour"] = [_("Choose a behaviour.")]
    elif rule.trigger == RuleTrigger.PURCHASE:
        ids = rule.product_ids if isinstance(rule.product_ids, list) else None
        if ids is None or any(isinstance(i, bool) or not isinstance(i, int) or i <= 0 for i in ids):
            errors["product_ids"] = [_("Product ids must be a list of ERP product ids.")]
        elif not ids and rule.min_amount is None:
            errors["product_ids"] = [_("Choose products, a minimum amount, or both.")]
    elif rule.trigger == RuleTrigger.CAMPAIGN:
        if not rule.crm_campaign_id:
            errors["crm_campaign_id"] = [_("Choose the CRM campaign.")]
    else:
        errors["trigger"] = [_("Unknown trigger.")]
    if errors:
        raise ValidationError(errors)


def _save(instance, **kwargs) -> None:
    try:
        with transaction.atomic():
            instance.save(**kwargs)
    except IntegrityError as exc:
        if "unique" in str(exc):
            raise ValidationError({"name": [_("This name is already used.")]}) from None
        raise


@transaction.atomic
def tag_rule_create(*, company, by=None, **fields) -> TagRule:
    """Create an auto-tag rule; the tags must be the company's CRM tags. Publishes nothing."""
    if set(fields) - RULE_FIELDS:
        raise TypeError(f"unknown rule fields: {sorted(set(fields) - RULE_FIELDS)}")
    rule = TagRule(company=company, **fields)
    _check_rule(rule)
    _save(rule)
    return rule


@transaction.atomic
def tag_rule_update(*, rule: TagRule, by=None, **fields) -> TagRule:
    """Change a rule (locks it); the same checks as on create."""
    if set(fields) - RULE_FIELDS:
        raise TypeError(f"unknown rule fields: {sorted(set(fields) - RULE_FIELDS)}")
    rule = TagRule.objects.select_for_update().get(pk=rule.pk)
    for name, value in fields.items():
        setattr(rule, name, value)
    _check_rule(rule)
    _save(rule, update_fields=[*fields, "keywords", "updated_at"])
    return rule


# ---------------------------------------------------------------- evaluation


def active_rules(company_id: int, trigger: str) -> list[TagRule]:
    return list(TagRule.objects.filter(company_id=company_id, trigger=trigger, is_active=True).order_by("pk"))


def keyword_rules_matching(rules: Iterable[TagRule], text: str) -> list[TagRule]:
    """The keyword rules one of whose keywords occurs in ``text`` (case-insensitive)."""
    folded = (text or "").casefold()
    if not folded:
        return []
    return [rule for rule in rules if any(keyword.casefold() in folded for keyword in rule.keywords)]


def tag_rule_fire(*, rule: TagRule, contact_ids: Iterable[int], reason: str = "") -> None:
    """Ask the CRM to tag ``contact_ids`` as ``rule`` says: one ``scrm.customer.tag_requested`` event. Must run
    in the caller's transaction."""
    contact_ids = {int(pk) for pk in contact_ids if pk}
    if not contact_ids:
        return
    events.publish(
        CUSTOMER_TAG_REQUESTED,
        tag_requested_payload(rule=rule, contact_ids=contact_ids, reason=reason),
        company_id=rule.company_id,
    )


@transaction.atomic
def tag_rules_fire_behaviour(*, company_id: int, behaviour: str, contact_ids: Iterable[int], reason: str = "") -> int:
    """Fire the company's active rules of ``behaviour`` (``Behaviour``: scanned_qr, joined_community,
    replied_to_push …) for these contacts. For other SCRM modules (QR campaigns, communities) to call.
    Returns the rules fired."""
    contact_ids = set(contact_ids)
    rules = [r for r in active_rules(company_id, RuleTrigger.BEHAVIOUR) if r.behaviour == behaviour]
    for rule in rules:
        tag_rule_fire(rule=rule, contact_ids=contact_ids, reason=reason or behaviour)
    return len(rules) if contact_ids else 0


@transaction.atomic
def tag_rules_fire_campaign(*, company_id: int, crm_campaign_id: int, contact_ids: Iterable[int]) -> int:
    """Fire the rules of a CRM campaign for contacts who responded to it."""
    rules = [r for r in active_rules(company_id, RuleTrigger.CAMPAIGN) if r.crm_campaign_id == crm_campaign_id]
    for rule in rules:
        tag_rule_fire(rule=rule, contact_ids=contact_ids, reason=f"campaign {crm_campaign_id}")
    return len(rules)


@transaction.atomic
def tag_rules_fire_purchase(*, company_id: int, account_id: int, product_ids: set, amount, reason: str = "") -> int:
    """Fire the purchase rules an order matches (any of the rule's products, and at least its minimum amount
    when set) for the live contacts of the ordering account."""
    try:
        amount = Decimal(str(amount))
    except InvalidOperation:
        amount = Decimal("0")
    matching = [
        rule
        for rule in active_rules(company_id, RuleTrigger.PURCHASE)
        if (not rule.product_ids or set(rule.product_ids) & product_ids)
        and (rule.min_amount is None or amount >= rule.min_amount)
    ]
    if not matching:
        return 0
    contacts = crm_selectors.contact_ids_of_account(company_id=company_id, account_id=account_id)
    for rule in matching:
        tag_rule_fire(rule=rule, contact_ids=contacts, reason=reason)
    return len(matching) if contacts else 0


# ---------------------------------------------------------------- segments


def _check_query(company_id: int, query) -> None:
    errors = crm_selectors.segment_query_errors(query, company_id=company_id)
    if errors:
        raise ValidationError({"query": errors})


@transaction.atomic
def segment_create(*, company, name: str, query: dict, description: str = "", by=None) -> Segment:
    """Save a segment; the query is validated by the CRM's compiler (``query`` errors name the node)."""
    errors = {}
    if not (name or "").strip():
        errors["name"] = [_("Give the segment a name.")]
    query_errors = crm_selectors.segment_query_errors(query, company_id=company.pk)
    if query_errors:
        errors["query"] = query_errors
    if errors:
        raise ValidationError(errors)
    segment = Segment(company=company, name=name.strip(), query=query, description=description, created_by=by)
    _save(segment)
    return segment


@transaction.atomic
def segment_update(*, segment: Segment, by=None, **fields) -> Segment:
    """Rename, describe or change the query of a segment (locks it)."""
    allowed = {"name", "query", "description"}
    if set(fields) - allowed:
        raise TypeError(f"unknown segment fields: {sorted(set(fields) - allowed)}")
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    if "query" in fields:
        _check_query(segment.company_id, fields["query"])
    for key, value in fields.items():
        setattr(segment, key, value.strip() if isinstance(value, str) else value)
    if not segment.name:
        raise ValidationError({"name": [_("Give the segment a name.")]})
    _save(segment, update_fields=[*fields, "updated_at"])
    return segment


def segment_count_refresh(*, segment: Segment) -> int:
    """Count the segment now (one query) and remember the figure."""
    count = crm_selectors.segment_count(company_id=segment.company_id, query=segment.query)
    Segment.objects.filter(pk=segment.pk).update(last_count=count, counted_at=timezone.now())
    segment.last_count = count
    return count


@transaction.atomic
def tag_rule_delete(*, rule: TagRule, by=None) -> None:
    """Delete a rule; the tags it put on stay (their history names the rule). Locks the rule."""
    TagRule.objects.select_for_update().get(pk=rule.pk).delete()


@transaction.atomic
def segment_delete(*, segment: Segment, by=None) -> None:
    """Delete a segment no push campaign uses (else ``ValidationError``). Locks it."""
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    if segment.push_campaigns.exists():
        raise ValidationError({"segment": [_("Push campaigns use this segment.")]})
    segment.delete()
