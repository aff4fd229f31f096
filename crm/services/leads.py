"""Writes of leads: create (scored, then assigned by the company's rules), update, assign, disqualify, and
convert into account + contact + opportunity in one transaction — reusing existing customers when the lead
duplicates them. Also the assignment and scoring rules themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.errors import CrmConflict, LeadAlreadyConvertedError
from crm.events import LEAD_CONVERTED, LEAD_CREATED, lead_converted_payload, lead_created_payload
from crm.models import (
    Account,
    AssignmentRule,
    Campaign,
    Contact,
    Lead,
    LeadScoringRule,
    LeadStatus,
    LifecycleStage,
    Opportunity,
    Pipeline,
    Source,
)
from crm.selectors import customer_duplicates_find
from crm.services.campaigns import campaign_lead_attribute, campaign_touches_carry_over
from crm.services.custom_fields import custom_values_merge
from crm.services.customers import account_create, account_update, contact_create, contact_update, lock_customer
from crm.services.following import tell_lead_followers
from crm.services.lead_alerts import lead_handed_over_tell_owner
from crm.services.opportunities import opportunity_create
from crm.text import build_search_text, normalize_email, normalize_phone, province_key
from suite import events
from suite.models import Company, Membership, Team
from suite.services.follows import follows_carry
from suite.templatetags.troika import person_name

if TYPE_CHECKING:
    from django.contrib.auth.models import User

LEAD_FIELDS = frozenset(
    {
        "name",
        "name_en",
        "company_name",
        "title",
        "phone",
        "email",
        "wechat_id",
        "unionid",
        "province",
        "city",
        "district",
        "address",
        "industry",
        "source",
        "notes",
    }
)
_FREE_TEXT = {"notes", "address"}

# ---------------------------------------------------------------- locks


def lock_lead(pk: int) -> Lead:
    """The lead row, locked for the rest of the transaction."""
    return Lead.objects.select_for_update(of=("self",)).get(pk=pk)


def lock_assignment_rule(pk: int) -> AssignmentRule:
    return AssignmentRule.objects.select_for_update(of=("self",)).get(pk=pk)


# ---------------------------------------------------------------- scoring


def _field_value(lead: Lead, rule: LeadScoringRule) -> Any:
    if rule.field == LeadScoringRule.Field.CUSTOM:
        return (lead.custom or {}).get(rule.custom_key)
    return getattr(lead, rule.field, None)


def _rule_matches(rule: LeadScoringRule, value: Any) -> bool:
    expected = rule.value
    if rule.operator == LeadScoringRule.Operator.IS_SET:
        return value not in (None, "", [], {})
    if value in (None, ""):
        return False
    if rule.field == LeadScoringRule.Field.PROVINCE:
        value = province_key(str(value))
        expected = (
            [province_key(str(v)) for v in expected] if isinstance(expected, list) else province_key(str(expected))
        )
    if rule.operator == LeadScoringRule.Operator.EQUALS:
        return str(value).casefold() == str(expected).casefold() if isinstance(value, str) else value == expected
    if rule.operator == LeadScoringRule.Operator.IN:
        options = expected if isinstance(expected, list) else [expected]
        folded = {str(o).casefold() for o in options}
        return str(value).casefold() in folded
    if rule.operator == LeadScoringRule.Operator.CONTAINS:
        if isinstance(value, list):
            return expected in value
        return str(expected).casefold() in str(value).casefold()
    return False  # pragma: no cover - operators are a closed set


def lead_score_compute(*, lead: Lead, rules: Iterable[LeadScoringRule] | None = None) -> tuple[int, dict]:
    """The score of ``lead`` under the company's active scoring rules and the explanation shown to users:
    ``{"total", "raw", "rules": [{"rule_id", "name", "points", "field", "operator", "value"}]}`` where ``raw``
    is the sum before it is kept within 0–100. Reads the rules; writes nothing."""
    if rules is None:
        rules = LeadScoringRule.objects.filter(company_id=lead.company_id, is_active=True).order_by("id")
    matched = []
    for rule in rules:
        if _rule_matches(rule, _field_value(lead, rule)):
            matched.append(
                {
                    "rule_id": rule.pk,
                    "name": rule.name,
                    "points": rule.points,
                    "field": rule.custom_key if rule.field == LeadScoringRule.Field.CUSTOM else rule.field,
                    "operator": rule.operator,
                    "value": rule.value,
                }
            )
    raw = sum(m["points"] for m in matched)
    total = max(0, min(100, raw))
    return total, {"total": total, "raw": raw, "rules": matched}


def _apply_score(lead: Lead) -> list[str]:
    score, explanation = lead_score_compute(lead=lead)
    changed = []
    if score != lead.score:
        lead.score = score
        changed.append("score")
    if explanation != lead.score_explanation:
        lead.score_explanation = explanation
        changed.append("score_explanation")
    return changed


@transaction.atomic
def lead_rescore(*, lead: Lead, by: User | None = None) -> Lead:
    """Score the lead again under the current rules (after the rules changed). Locks the lead row."""
    lead = lock_lead(lead.pk)
    changed = _apply_score(lead)
    if changed:
        lead.save(update_fields=[*changed, "updated_at"])
    return lead


# ---------------------------------------------------------------- assignment


def _rule_applies(rule: AssignmentRule, lead: Lead) -> bool:
    if rule.kind == AssignmentRule.Kind.ROUND_ROBIN:
        return True
    if rule.kind == AssignmentRule.Kind.BY_PROVINCE:
        return bool(lead.province) and province_key(lead.province) in {province_key(v) for v in rule.match_values}
    if rule.kind == AssignmentRule.Kind.BY_SOURCE:
        return bool(lead.source) and lead.source in rule.match_values
    return False  # pragma: no cover


def _next_assignee(rule: AssignmentRule):
    """The assignee after the last one, in user-id order, among those still active members of the company."""
    candidates = list(
        rule.assignees.filter(
            memberships__company_id=rule.company_id, memberships__is_active=True, is_active=True
        ).order_by("pk")
    )
    if not candidates:
        return None
    after = [user for user in candidates if rule.last_assignee_id is not None and user.pk > rule.last_assignee_id]
    return after[0] if after else candidates[0]


def _assign_by_rules(lead: Lead) -> bool:
    rule_ids = AssignmentRule.objects.filter(company_id=lead.company_id, is_active=True).order_by("priority", "id")
    for rule in rule_ids:
        if not _rule_applies(rule, lead):
            continue
        rule = lock_assignment_rule(rule.pk)  # serialises the round robin cursor of this rule
        assignee = _next_assignee(rule)
        if assignee is None:
            continue
        rule.last_assignee = assignee
        rule.save(update_fields=["last_assignee", "updated_at"])
        lead.owner = assignee
        lead.team = rule.team or _single_team(lead.company_id, assignee)
        lead.assignment_rule = rule
        lead.assigned_at = timezone.now()
        return True
    return False


def _single_team(company_id: int, user) -> Team | None:
    teams = list(Team.objects.filter(company_id=company_id, memberships__user=user)[:2])
    return teams[0] if len(teams) == 1 else None


def _is_member(company_id: int, user) -> bool:
    return Membership.objects.filter(company_id=company_id, user=user, is_active=True).exists()


@transaction.atomic
def lead_assign(*, lead: Lead, by: User | None, owner: User | None = None, team: Team | None = None) -> Lead:
    """Give the lead to ``owner`` (and ``team``), or, without ``owner``, to whoever the company's assignment
    rules pick next (round robin within the first matching rule; the rule's cursor row is locked). A converted
    lead cannot be reassigned. Locks the lead row. When the lead goes to someone else, its followers are told
    (not ``by``) and so is the new owner, unless they took it themselves (``crm.services.lead_alerts``)."""
    lead = lock_lead(lead.pk)
    owner_before = lead.owner_id
    if lead.status == LeadStatus.CONVERTED:
        raise LeadAlreadyConvertedError(_("This lead was converted; reassign its customers instead."))
    if owner is not None:
        errors = {}
        if not _is_member(lead.company_id, owner):
            errors["owner"] = [_("The owner must be an active member of the company.")]
        if team is not None and team.company_id != lead.company_id:
            errors["team"] = [_("Unknown team.")]
        if errors:
            raise ValidationError(errors)
        lead.owner, lead.team = owner, team or _single_team(lead.company_id, owner)
        lead.assignment_rule, lead.assigned_at = None, timezone.now()
    elif not _assign_by_rules(lead):
        raise ValidationError({"owner": [_("No assignment rule matches this lead; choose an owner.")]})
    lead.save(update_fields=["owner", "team", "assignment_rule", "assigned_at", "updated_at"])
    if lead.owner_id != owner_before and lead.owner_id is not None:
        owner = person_name(lead.owner)
        tell_lead_followers(
            lead,
            by=by,
            skip=[lead.owner_id],  # the new owner hears it as theirs, below
            title=lambda: gettext("Lead %(lead)s was assigned to %(person)s") % {"lead": lead, "person": owner},
        )
        lead_handed_over_tell_owner(lead, by=by)
    return lead


@transaction.atomic
def leads_assign_bulk(*, company_id: int, leads: list[Lead]) -> int:
    """Route many leads by the company's assignment rules at once (the import calls it for each chunk): for each
    lead the first active rule that applies (priority order) with an active assignee gives it the next assignee
    of its round robin, exactly as ``lead_assign`` would one by one. A fixed number of queries whatever the
    number of leads: the rules (locked, in pk order — the round robin cursors), their active assignees, those
    people's teams, then one UPDATE per rule and a bulk UPDATE of the saved leads. Leads not saved yet (no pk)
    are only changed in memory, for the caller's bulk insert. Converted leads and leads no rule matches keep
    their owner. Returns how many leads were routed."""
    leads = [lead for lead in leads if lead.status != LeadStatus.CONVERTED]
    if not leads:
        return 0
    rules = list(
        AssignmentRule.objects.select_for_update(of=("self",))
        .filter(company_id=company_id, is_active=True)
        .order_by("pk")
    )
    if not rules:
        return 0
    rules.sort(key=lambda rule: (rule.priority, rule.pk))
    assignees: dict[int, list[int]] = {rule.pk: [] for rule in rules}
    through = AssignmentRule.assignees.through
    for rule_id, user_id in (
        through.objects.filter(
            assignmentrule_id__in=assignees,
            user__is_active=True,
            user__memberships__company_id=company_id,
            user__memberships__is_active=True,
        )
        .values_list("assignmentrule_id", "user_id")
        .distinct()
        .order_by("assignmentrule_id", "user_id")
    ):
        assignees[rule_id].append(user_id)
    user_ids = {user_id for ids in assignees.values() for user_id in ids}
    teams: dict[int, list[int]] = {}
    for user_id, team_id in Team.objects.filter(company_id=company_id, memberships__user_id__in=user_ids).values_list(
        "memberships__user_id", "id"
    ):
        teams.setdefault(user_id, []).append(team_id)
    cursors = {rule.pk: rule.last_assignee_id for rule in rules}
    now = timezone.now()
    routed: list[Lead] = []
    for lead in leads:
        for rule in rules:
            candidates = assignees[rule.pk]
            if not candidates or not _rule_applies(rule, lead):
                continue
            last = cursors[rule.pk]
            after = [user_id for user_id in candidates if last is not None and user_id > last]
            owner_id = after[0] if after else candidates[0]
            cursors[rule.pk] = owner_id
            own_teams = teams.get(owner_id, [])
            lead.owner_id = owner_id
            lead.team_id = rule.team_id or (own_teams[0] if len(own_teams) == 1 else None)
            lead.assignment_rule_id = rule.pk
            lead.assigned_at = now
            routed.append(lead)
            break
    for rule in rules:
        if cursors[rule.pk] != rule.last_assignee_id:
            rule.last_assignee_id = cursors[rule.pk]
            rule.save(update_fields=["last_assignee", "updated_at"])
    saved = [lead for lead in routed if lead.pk is not None]
    if saved:
        for lead in saved:
            lead.updated_at = now
        Lead.objects.bulk_update(
            saved, ["owner", "team", "assignment_rule", "assigned_at", "updated_at"], batch_size=1000
        )
    return len(routed)


# ---------------------------------------------------------------- create and update


def lead_search_text(lead: Lead) -> str:
    return build_search_text(
        names=[lead.name, lead.name_en, lead.company_name], phones=[lead.phone], others=[lead.email, lead.wechat_id]
    )


def _apply(lead: Lead, fields: dict[str, Any]) -> list[str]:
    unknown = set(fields) - LEAD_FIELDS
    if unknown:
        raise TypeError(f"unknown lead fields: {', '.join(sorted(unknown))}")
    errors: dict[str, list] = {}
    changed = []
    for name, value in fields.items():
        if name == "phone":
            try:
                value = normalize_phone(value or "")
            except ValidationError as exc:
                errors.setdefault(name, []).extend(exc.messages)
                continue
        elif name == "email":
            value = normalize_email(value or "")
        elif name in _FREE_TEXT:
            value = (value or "").strip()
        else:
            value = " ".join(str(value or "").split())
        if getattr(lead, name) != value:
            setattr(lead, name, value)
            changed.append(name)
    if not lead.name and not lead.company_name:
        errors.setdefault("name", []).append(_("Give the contact's name or the company's name."))
    try:
        lead.full_clean(
            exclude=[f.name for f in Lead._meta.fields if f.name not in fields],
            validate_unique=False,
            validate_constraints=False,
        )
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    return changed


@transaction.atomic
def lead_create(
    *,
    company: Company,
    by: User | None,
    owner: User | None = None,
    team: Team | None = None,
    custom: dict | None = None,
    campaign: Campaign | None = None,
    campaign_source: str = "lead",
    social_ref: str = "",
    **fields: Any,
) -> Lead:
    """Create a lead from any channel (UI, API, web form, import, SCRM; ``social_ref``: the person's
    ``<platform>:<id>`` for a lead from SCRM).

    With ``campaign`` (of the company) the lead carries it and is a responding member of it, touched at its
    creation (``campaign_source`` says how: ``lead``, ``web_form``).

    Normalises phone and email, validates custom values, scores it with the company's rules (with the
    explanation), then assigns it: to ``owner`` when given, else by the assignment rules, else to ``by``
    (``None`` for anonymous web forms: the lead waits unassigned). Publishes ``crm.lead.created`` (SCRM enrols
    it in the follow-up cadences of its source).
    """
    lead = Lead(company=company, status=LeadStatus.NEW, social_ref=social_ref[:160])
    fields.setdefault("source", Source.OTHER)
    _apply(lead, fields)
    lead.custom = custom_values_merge(company_id=company.pk, target="lead", current={}, changes=custom)
    _apply_score(lead)
    if owner is not None:
        if not _is_member(company.pk, owner):
            raise ValidationError({"owner": [_("The owner must be an active member of the company.")]})
        if team is not None and team.company_id != company.pk:
            raise ValidationError({"team": [_("Unknown team.")]})
        lead.owner, lead.team, lead.assigned_at = owner, team or _single_team(company.pk, owner), timezone.now()
    elif not _assign_by_rules(lead) and by is not None:
        lead.owner, lead.team, lead.assigned_at = by, team or _single_team(company.pk, by), timezone.now()
    lead.search_text = lead_search_text(lead)
    if campaign is not None:
        if campaign.company_id != company.pk:
            raise ValidationError({"campaign": [_("Unknown campaign.")]})
        lead.campaign = campaign
    lead.save()
    if campaign is not None:
        campaign_lead_attribute(lead=lead, campaign=campaign, source=campaign_source)
    events.publish(LEAD_CREATED, lead_created_payload(lead=lead), company_id=company.pk, by=by)
    return lead


@transaction.atomic
def lead_update(*, lead: Lead, by: User | None, custom: dict | None = None, **fields: Any) -> Lead:
    """Change a lead's details (rescored afterwards). A converted lead is a record of the past and is not
    edited. Locks the lead row."""
    lead = lock_lead(lead.pk)
    if lead.status == LeadStatus.CONVERTED:
        raise LeadAlreadyConvertedError(_("This lead was converted; edit its customer and opportunity instead."))
    changed = _apply(lead, fields)
    if custom is not None:
        merged = custom_values_merge(company_id=lead.company_id, target="lead", current=lead.custom, changes=custom)
        if merged != lead.custom:
            lead.custom = merged
            changed.append("custom")
    changed += _apply_score(lead)
    search_text = lead_search_text(lead)
    if search_text != lead.search_text:
        lead.search_text = search_text
        changed.append("search_text")
    if changed:
        lead.save(update_fields=[*changed, "updated_at"])
    return lead


_STATUS_STEPS = {LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.DISQUALIFIED}


@transaction.atomic
def lead_status_set(*, lead: Lead, status: str, by: User | None, reason: str = "") -> Lead:
    """Move a lead between new, contacted, qualified and disqualified (which needs ``reason``). Converting is
    ``lead_convert``'s alone. Locks the lead row. A lead disqualified now: its followers are told, with the
    reason (not ``by``)."""
    if status not in _STATUS_STEPS:
        raise ValidationError({"status": [_("Use lead conversion to convert a lead.")]})
    lead = lock_lead(lead.pk)
    if lead.status == LeadStatus.CONVERTED:
        raise LeadAlreadyConvertedError(_("This lead was converted already."))
    reason = (reason or "").strip()
    if status == LeadStatus.DISQUALIFIED and not reason:
        raise ValidationError({"reason": [_("Say why the lead is disqualified.")]})
    disqualified_now = status == LeadStatus.DISQUALIFIED and lead.status != LeadStatus.DISQUALIFIED
    lead.status = status
    lead.disqualified_reason = reason if status == LeadStatus.DISQUALIFIED else ""
    lead.save(update_fields=["status", "disqualified_reason", "updated_at"])
    if disqualified_now:
        tell_lead_followers(
            lead,
            by=by,
            title=lambda: gettext("Lead %(lead)s was disqualified: %(reason)s") % {"lead": lead, "reason": reason},
        )
    return lead


# ---------------------------------------------------------------- conversion


@dataclass(frozen=True)
class LeadConversion:
    lead: Lead
    account: Account | None
    contact: Contact | None
    opportunity: Opportunity | None
    reused: tuple[str, ...]


_MATCH_STRENGTH = {"unionid": 0, "phone": 1, "email": 2, "tax_id": 2, "name_city": 3}


def _best(candidates, *, prefer_account_id: int | None = None):
    def key(candidate):
        strongest = min(_MATCH_STRENGTH.get(m, 9) for m in candidate.matched_on)
        same_account = (
            prefer_account_id is not None and getattr(candidate.customer, "account_id", None) == prefer_account_id
        )
        return (strongest, not same_account, candidate.customer.pk)

    return min(candidates, key=key).customer if candidates else None


def _live(customer):
    """The record as stored now, or the survivor it was merged into."""
    if customer is None:
        return None
    customer = type(customer).objects.get(pk=customer.pk)
    seen = 0
    while customer.merged_into_id is not None and seen < 20:
        customer = type(customer).objects.get(pk=customer.merged_into_id)
        seen += 1
    return customer


def _fill_blanks(contact: Contact, lead: Lead, account: Account | None, *, by) -> Contact:
    changes = {}
    for name in ("phone", "email", "wechat_id", "unionid", "title", "province", "city", "district", "name_en"):
        if not getattr(contact, name) and getattr(lead, name):
            changes[name] = getattr(lead, name)
    if account is not None and contact.account_id is None:
        changes["account"] = account
    if contact.lifecycle_stage == LifecycleStage.LEAD:
        changes["lifecycle_stage"] = LifecycleStage.PROSPECT
    if not changes:
        return contact
    if (
        "unionid" in changes
        and Contact.objects.filter(company_id=contact.company_id, unionid=changes["unionid"], merged_into__isnull=True)
        .exclude(pk=contact.pk)
        .exists()
    ):
        del changes["unionid"]
    return contact_update(contact=contact, by=by, **changes)


@transaction.atomic
def lead_convert(
    *,
    lead: Lead,
    by: User | None,
    account: Account | None = None,
    contact: Contact | None = None,
    create_opportunity: bool = True,
    opportunity_name: str = "",
    amount: Decimal | str | int = Decimal("0"),
    expected_close_date: date | None = None,
    pipeline: Pipeline | None = None,
) -> LeadConversion:
    """Convert a lead into an account (if it names a company), a contact (if it names a person) and an open
    opportunity, all in this one transaction.

    Existing customers are reused instead of duplicated: ``account`` / ``contact`` when given, else a live
    account with the same name in the same city, and a live contact with the same WeChat unionid, phone, email,
    or name and city (strongest match first, preferring one at the account); a reused contact gets the lead's
    facts where its own are blank. New and reused customers in the ``lead`` stage become ``prospect``.

    Locks the lead row: a lead converted twice (even by two people at the same moment) is refused with
    ``LeadAlreadyConvertedError``; a disqualified lead must be requalified first (``CrmConflict``).
    Publishes ``crm.lead.converted`` (and ``crm.opportunity.created`` for the deal). The lead's followers are
    told, linking to what it became (the deal, else the account, else the contact; those who may see it).
    """
    lead = lock_lead(lead.pk)
    if lead.status == LeadStatus.CONVERTED:
        who = lead.converted_by.get_username() if lead.converted_by_id else ""
        when = date_format(timezone.localtime(lead.converted_at), "DATETIME_FORMAT")
        raise LeadAlreadyConvertedError(
            _("This lead was already converted (%(when)s%(who)s).") % {"when": when, "who": f", {who}" if who else ""}
        )
    if lead.status == LeadStatus.DISQUALIFIED:
        raise CrmConflict(_("A disqualified lead cannot be converted; set it back to qualified first."))
    errors = {}
    if account is not None and account.company_id != lead.company_id:
        errors["account"] = [_("Unknown account.")]
    if contact is not None and contact.company_id != lead.company_id:
        errors["contact"] = [_("Unknown contact.")]
    if errors:
        raise ValidationError(errors)
    company = lead.company
    owner = lead.owner or by
    reused: list[str] = []

    account = _live(account)
    if account is None and lead.company_name:
        found = customer_duplicates_find(model=Account, company_id=company.pk, name=lead.company_name, city=lead.city)
        account = _best(found)
        if account is None:
            account = account_create(
                company=company,
                by=by,
                force=True,
                name=lead.company_name,
                province=lead.province,
                city=lead.city,
                district=lead.district,
                address=lead.address,
                industry=lead.industry,
                source=lead.source,
                lifecycle_stage=LifecycleStage.PROSPECT,
                owner=owner,
                team=lead.team,
            )
        else:
            reused.append("account")
    elif account is not None:
        reused.append("account")
    if account is not None and account.lifecycle_stage == LifecycleStage.LEAD:
        account = account_update(account=account, by=by, lifecycle_stage=LifecycleStage.PROSPECT)

    contact = _live(contact)
    if contact is None and lead.name:
        found = customer_duplicates_find(
            model=Contact,
            company_id=company.pk,
            phone=lead.phone,
            email=lead.email,
            unionid=lead.unionid,
            name=lead.name,
            city=lead.city,
        )
        contact = _best(found, prefer_account_id=account.pk if account else None)
        if contact is None:
            contact = contact_create(
                company=company,
                by=by,
                force=True,
                account=account,
                name=lead.name,
                name_en=lead.name_en,
                title=lead.title,
                phone=lead.phone,
                email=lead.email,
                wechat_id=lead.wechat_id,
                unionid=lead.unionid,
                province=lead.province,
                city=lead.city,
                district=lead.district,
                address="" if account else lead.address,
                source=lead.source,
                lifecycle_stage=LifecycleStage.PROSPECT,
                owner=owner,
                team=lead.team,
            )
        else:
            reused.append("contact")
            contact = _fill_blanks(lock_customer(Contact, contact.pk), lead, account, by=by)
    elif contact is not None:
        reused.append("contact")
        contact = _fill_blanks(lock_customer(Contact, contact.pk), lead, account, by=by)

    opportunity = None
    if create_opportunity:
        customer_name = account.name if account else contact.name if contact else lead.name
        # A contact who works at another account is not this deal's contact.
        deal_contact = (
            contact if account is None or contact is None or contact.account_id in (None, account.pk) else None
        )
        opportunity = opportunity_create(
            company=company,
            by=by,
            name=opportunity_name or customer_name,
            account=account,
            contact=deal_contact,
            pipeline=pipeline,
            amount=amount,
            expected_close_date=expected_close_date,
            owner=owner,
            team=lead.team,
            lead=lead,
        )

    campaign_touches_carry_over(lead=lead, account=account, contact=contact, opportunity=opportunity)
    # Activities logged on the lead now also show on the customer's timeline.
    lead.activities.filter(account__isnull=True, contact__isnull=True).update(
        account=account, contact=contact, updated_at=timezone.now()
    )
    lead.status = LeadStatus.CONVERTED
    lead.converted_at = timezone.now()
    lead.converted_by = by
    lead.converted_account = account
    lead.converted_contact = contact
    lead.converted_opportunity = opportunity
    lead.conversion_reused = reused
    lead.save(
        update_fields=[
            "status",
            "converted_at",
            "converted_by",
            "converted_account",
            "converted_contact",
            "converted_opportunity",
            "conversion_reused",
            "updated_at",
        ]
    )
    events.publish(LEAD_CONVERTED, lead_converted_payload(lead=lead), company_id=lead.company_id, by=by)
    _tell_conversion(lead, opportunity=opportunity, account=account, contact=contact, by=by)
    return LeadConversion(lead=lead, account=account, contact=contact, opportunity=opportunity, reused=tuple(reused))


def _tell_conversion(lead: Lead, *, opportunity, account, contact, by) -> None:
    """The lead's followers hear what it became, with a link to it: the deal, else the account, else the contact
    (only those who may see that record), and follow it from now on (a contact cannot be followed)."""

    def title() -> str:
        if opportunity is not None:
            return gettext("Lead %(lead)s became the deal %(name)s") % {"lead": lead, "name": opportunity.name}
        if account is not None:
            return gettext("Lead %(lead)s became the account %(name)s") % {"lead": lead, "name": account.name}
        return gettext("Lead %(lead)s became the contact %(name)s") % {"lead": lead, "name": contact.name}

    about = opportunity or account or contact
    if about is not None:
        told = tell_lead_followers(lead, by=by, about=about, title=title)
        follows_carry(users=told, to_record=about)  # they follow what the lead became


# ---------------------------------------------------------------- rules


def _assignment_rule_errors(*, company_id: int, name, kind, match_values, assignees, team, **_ignored) -> dict:
    errors: dict[str, list] = {}
    values = [" ".join(str(v).split()) for v in match_values if str(v).strip()]
    assignees = list(assignees)
    if kind not in AssignmentRule.Kind.values:
        errors["kind"] = [_("Unknown kind of rule.")]
    elif kind != AssignmentRule.Kind.ROUND_ROBIN and not values:
        errors["match_values"] = [_("List the provinces or sources this rule takes.")]
    unknown_sources = set(values) - set(Source.values)
    if kind == AssignmentRule.Kind.BY_SOURCE and unknown_sources:
        errors["match_values"] = [_("Unknown source: %(names)s") % {"names": ", ".join(sorted(unknown_sources))}]
    if not assignees:
        errors["assignees"] = [_("Name at least one assignee.")]
    elif Membership.objects.filter(company_id=company_id, user__in=assignees, is_active=True).count() != len(
        {u.pk for u in assignees}
    ):
        errors["assignees"] = [_("Every assignee must be an active member of the company.")]
    if team is not None and team.company_id != company_id:
        errors["team"] = [_("Unknown team.")]
    if not (name or "").strip():
        errors["name"] = [_("This field cannot be blank.")]
    return errors


def _scoring_rule_errors(*, name, field, operator, points, value, custom_key, **_ignored) -> dict:
    errors: dict[str, list] = {}
    if field not in LeadScoringRule.Field.values:
        errors["field"] = [_("Unknown field.")]
    if field == LeadScoringRule.Field.CUSTOM and not custom_key:
        errors["custom_key"] = [_("Name the custom field.")]
    if operator not in LeadScoringRule.Operator.values:
        errors["operator"] = [_("Unknown operator.")]
    elif operator == LeadScoringRule.Operator.IN and not isinstance(value, list):
        errors["value"] = [_("List the values.")]
    elif operator in (LeadScoringRule.Operator.EQUALS, LeadScoringRule.Operator.CONTAINS) and value in ("", None):
        errors["value"] = [_("Give the value to compare with.")]
    if isinstance(points, bool) or not isinstance(points, int) or not -100 <= points <= 100:
        errors["points"] = [_("Points are a whole number from -100 to 100.")]
    if not (name or "").strip():
        errors["name"] = [_("This field cannot be blank.")]
    return errors


@transaction.atomic
def assignment_rule_create(
    *,
    company: Company,
    by: User | None,
    name: str,
    kind: str,
    assignees: Iterable,
    match_values: Iterable[str] = (),
    priority: int = 100,
    team: Team | None = None,
    is_active: bool = True,
) -> AssignmentRule:
    """Create a lead assignment rule. By-province rules list provinces (``广东`` = ``广东省``), by-source rules
    source codes; every assignee must be an active member of the company."""
    assignees = list(assignees)
    values = [" ".join(str(v).split()) for v in match_values if str(v).strip()]
    errors = _assignment_rule_errors(
        company_id=company.pk, name=name, kind=kind, match_values=values, assignees=assignees, team=team
    )
    if errors:
        raise ValidationError(errors)
    rule = AssignmentRule(
        company=company,
        name=name.strip(),
        kind=kind,
        match_values=values,
        priority=priority,
        team=team,
        is_active=is_active,
    )
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError:
        raise ValidationError({"name": [_("This name is already used.")]}) from None
    rule.assignees.set(assignees)
    return rule


@transaction.atomic
def lead_scoring_rule_create(
    *,
    company: Company,
    by: User | None,
    name: str,
    field: str,
    operator: str,
    points: int,
    value: Any = "",
    custom_key: str = "",
    is_active: bool = True,
) -> LeadScoringRule:
    """Create a scoring rule (points −100…100 when ``field`` ``operator`` ``value`` holds). Existing leads keep
    their score until rescored (``lead_rescore``)."""
    errors = _scoring_rule_errors(
        name=name, field=field, operator=operator, points=points, value=value, custom_key=custom_key
    )
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            return LeadScoringRule.objects.create(
                company=company,
                name=name.strip(),
                field=field,
                custom_key=custom_key,
                operator=operator,
                value=value,
                points=points,
                is_active=is_active,
            )
    except IntegrityError:
        raise ValidationError({"name": [_("This name is already used.")]}) from None


@transaction.atomic
def assignment_rule_update(*, rule: AssignmentRule, by: User | None, **fields: Any) -> AssignmentRule:
    """Change a rule (``name``, ``kind``, ``match_values``, ``priority``, ``team``, ``is_active``,
    ``assignees``) with the same checks as ``assignment_rule_create``. Locks the rule row (and so waits for an
    assignment in progress)."""
    allowed = {"name", "kind", "match_values", "priority", "team", "is_active", "assignees"}
    if set(fields) - allowed:
        raise TypeError(f"unknown assignment rule fields: {', '.join(sorted(set(fields) - allowed))}")
    rule = lock_assignment_rule(rule.pk)
    merged = {
        "name": rule.name,
        "kind": rule.kind,
        "match_values": rule.match_values,
        "priority": rule.priority,
        "team": rule.team,
        "is_active": rule.is_active,
        "assignees": list(rule.assignees.all()),
        **fields,
    }
    errors = _assignment_rule_errors(company_id=rule.company_id, **merged)
    if errors:
        raise ValidationError(errors)
    for name in ("name", "kind", "priority", "team", "is_active"):
        setattr(rule, name, merged[name].strip() if isinstance(merged[name], str) else merged[name])
    rule.match_values = [" ".join(str(v).split()) for v in merged["match_values"] if str(v).strip()]
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError:
        raise ValidationError({"name": [_("This name is already used.")]}) from None
    if "assignees" in fields:
        rule.assignees.set(merged["assignees"])
    return rule


@transaction.atomic
def assignment_rule_delete(*, rule: AssignmentRule, by: User | None) -> None:
    """Delete a rule; leads it assigned keep their owner. Locks the rule row."""
    lock_assignment_rule(rule.pk).delete()


@transaction.atomic
def lead_scoring_rule_update(*, rule: LeadScoringRule, by: User | None, **fields: Any) -> LeadScoringRule:
    """Change a scoring rule with the checks of ``lead_scoring_rule_create``. Leads keep their score until
    rescored. Locks the rule row."""
    allowed = {"name", "field", "custom_key", "operator", "value", "points", "is_active"}
    if set(fields) - allowed:
        raise TypeError(f"unknown scoring rule fields: {', '.join(sorted(set(fields) - allowed))}")
    rule = LeadScoringRule.objects.select_for_update(of=("self",)).get(pk=rule.pk)
    merged = {name: getattr(rule, name) for name in allowed} | fields
    errors = _scoring_rule_errors(**merged)
    if errors:
        raise ValidationError(errors)
    for name, value in merged.items():
        setattr(rule, name, value.strip() if isinstance(value, str) and name == "name" else value)
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError:
        raise ValidationError({"name": [_("This name is already used.")]}) from None
    return rule


@transaction.atomic
def lead_scoring_rule_delete(*, rule: LeadScoringRule, by: User | None) -> None:
    """Delete a scoring rule; leads keep their score until rescored."""
    LeadScoringRule.objects.select_for_update(of=("self",)).get(pk=rule.pk).delete()


@transaction.atomic
def lead_delete(*, lead: Lead, by: User | None) -> None:
    """Delete a lead created by mistake. A converted lead is the record of where customers came from and is
    kept (``LeadAlreadyConvertedError``). Locks the row; the audit trail keeps its values."""
    lead = lock_lead(lead.pk)
    if lead.status == LeadStatus.CONVERTED:
        raise LeadAlreadyConvertedError(_("A converted lead is kept as the origin of its customers."))
    lead.delete()
