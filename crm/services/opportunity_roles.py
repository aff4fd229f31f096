"""The buying committee of a deal (决策链): which of the customer's people decide, hold the budget, evaluate the
machine, buy it or use it, and whether each is for or against us. Few, large B2B deals are won by knowing them.

Writes of ``OpportunityContactRole`` (audited by pghistory like every business record). Bad input is a
``ValidationError`` naming the field. The deal's ``contact`` stays its main contact; a committee member may be of
another company than the deal's account (a design institute, a consultant) as long as it is a live contact of
the same tenant.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from crm.models import Contact, ContactRole, Opportunity, OpportunityContactRole
from crm.services.opportunities import lock_opportunity

User = get_user_model()

NOTE_MAX = 200


def _clean(*, opportunity: Opportunity, contact: Any, role: Any, stance: Any, note: Any) -> dict[str, list]:
    errors: dict[str, list] = {}
    if not isinstance(contact, Contact) or contact.company_id != opportunity.company_id:
        errors["contact"] = [_("Unknown contact.")]
    elif contact.merged_into_id:
        errors["contact"] = [_("This contact was merged into another one; choose that one.")]
    if role not in ContactRole.values:
        errors["role"] = [_("Choose a role.")]
    if stance not in OpportunityContactRole.Stance.values:
        errors["stance"] = [_("Choose supporter, neutral or opponent.")]
    if not isinstance(note, str) or len(note) > NOTE_MAX:
        errors["note"] = [_("A note is at most %(max)d characters.") % {"max": NOTE_MAX}]
    return errors


@transaction.atomic
def contact_role_set(
    *,
    opportunity: Opportunity,
    contact: Contact,
    role: str,
    by: User | None,
    stance: str = OpportunityContactRole.Stance.NEUTRAL,
    note: str = "",
) -> OpportunityContactRole:
    """Put ``contact`` in the deal's buying committee as ``role`` — or, when they are in it already, change their
    role, stance and note (one row per person and deal). Locks the deal row, so two people adding the same
    person at once make one row."""
    note = (note or "").strip() if isinstance(note, str) else note
    errors = _clean(opportunity=opportunity, contact=contact, role=role, stance=stance, note=note)
    if errors:
        raise ValidationError(errors)
    opportunity = lock_opportunity(opportunity.pk)
    member, created = OpportunityContactRole.objects.get_or_create(
        opportunity=opportunity,
        contact=contact,
        defaults={"company_id": opportunity.company_id, "role": role, "stance": stance, "note": note},
    )
    if not created and (member.role, member.stance, member.note) != (role, stance, note):
        member.role, member.stance, member.note = role, stance, note
        member.save(update_fields=["role", "stance", "note", "updated_at"])
    return member


@transaction.atomic
def contact_role_update(*, member: OpportunityContactRole, by: User | None, **fields: Any) -> OpportunityContactRole:
    """Change the role, stance or note of a committee member (other fields are refused)."""
    unknown = set(fields) - {"role", "stance", "note"}
    if unknown:
        raise ValidationError({name: [_("This field cannot be changed.")] for name in sorted(unknown)})
    return contact_role_set(
        opportunity=member.opportunity,
        contact=member.contact,
        role=fields.get("role", member.role),
        stance=fields.get("stance", member.stance),
        note=fields.get("note", member.note),
        by=by,
    )


@transaction.atomic
def contact_role_remove(*, member: OpportunityContactRole, by: User | None) -> None:
    """Take the person out of the deal's buying committee."""
    OpportunityContactRole.objects.filter(pk=member.pk).delete()


def contact_roles_dedupe_for_merge(*, survivor: Contact, duplicate: Contact) -> int:
    """Before ``customer_merge`` re-points rows: on a deal where both contacts sit in the committee, the
    duplicate's seat is dropped (the survivor's role stays). Returns how many were dropped."""
    survivor_deals = OpportunityContactRole.objects.filter(contact=survivor).values("opportunity_id")
    deleted, _rows = OpportunityContactRole.objects.filter(
        contact=duplicate, opportunity_id__in=survivor_deals
    ).delete()
    return deleted
