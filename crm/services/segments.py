"""Writes behind segments: tags put on or taken off many contacts at once (auto-tag rules, with their history)
and the behaviour facts (spend, last interaction) that segments filter on.

Called by the CRM's handlers of ``scrm.customer.tag_requested``, ``scrm.customers.interacted`` and
``erp.invoice.paid`` (``crm.events_segments``) and, for the history of manual changes, by
``crm.services.customers``. Set-based SQL on the CRM's own tables: one statement per step whatever the number
of contacts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction

from crm.models import Contact, Tag, TagChange, TagChangeAction, TagChangeSource


@dataclass
class TagApplyResult:
    added: int = 0
    removed: int = 0


def tag_changes_record(
    *, contact: Contact, added: Iterable[int], removed: Iterable[int], by, source: str = TagChangeSource.MANUAL
) -> None:
    """Append the history rows of one contact's tag changes. Must run in the caller's transaction."""
    rows = [
        TagChange(
            company_id=contact.company_id, contact_id=contact.pk, tag_id=tag_id, action=action, source=source, by=by
        )
        for action, tag_ids in ((TagChangeAction.ADDED, added), (TagChangeAction.REMOVED, removed))
        for tag_id in sorted(tag_ids)
    ]
    TagChange.objects.bulk_create(rows)


@transaction.atomic
def contact_tags_apply(
    *,
    company_id: int,
    contact_ids: Iterable[int],
    add_tag_ids: Iterable[int] = (),
    remove_tag_ids: Iterable[int] = (),
    source: str = TagChangeSource.RULE,
    rule: str = "",
    by=None,
) -> TagApplyResult:
    """Put tags on and take tags off many contacts of ``company_id`` in a few statements, and record each
    change in the tag history (who — ``by`` — or what — ``rule`` — did it). Unknown, other companies' and merged
    contacts and tags are ignored; adding a tag of an exclusive group takes the group's other tags off. Already
    tagged contacts are left alone (no history row). Locks the contacts' rows (in id order) so two rules on an
    exclusive group cannot leave two of its tags. Publishes nothing."""
    add = set(add_tag_ids)
    remove = set(remove_tag_ids) - add
    tags = {
        tag.pk: tag for tag in Tag.objects.filter(company_id=company_id, pk__in=add | remove).select_related("group")
    }
    add = {pk for pk in add if pk in tags}
    remove = {pk for pk in remove if pk in tags}
    exclusive_groups = {tags[pk].group_id for pk in add if tags[pk].group_id and tags[pk].group.is_exclusive}
    if exclusive_groups:
        remove |= set(
            Tag.objects.filter(company_id=company_id, group_id__in=exclusive_groups)
            .exclude(pk__in=add)
            .values_list("pk", flat=True)
        )
    if not add and not remove:
        return TagApplyResult()
    contacts = list(
        Contact.objects.filter(company_id=company_id, pk__in=set(contact_ids), merged_into__isnull=True)
        .order_by("pk")
        .select_for_update(of=("self",))
        .values_list("pk", flat=True)
    )
    if not contacts:
        return TagApplyResult()
    removed_rows: list[tuple[int, int]] = []
    added_rows: list[tuple[int, int]] = []
    with connection.cursor() as cursor:
        if remove:
            cursor.execute(
                "DELETE FROM crm_contacttag WHERE contact_id = ANY(%s) AND tag_id = ANY(%s) "
                "RETURNING contact_id, tag_id",
                [contacts, sorted(remove)],
            )
            removed_rows = cursor.fetchall()
        if add:
            cursor.execute(
                "INSERT INTO crm_contacttag (contact_id, tag_id) "
                "SELECT c, t FROM unnest(%s::bigint[]) AS c CROSS JOIN unnest(%s::bigint[]) AS t "
                "ON CONFLICT (contact_id, tag_id) DO NOTHING RETURNING contact_id, tag_id",
                [contacts, sorted(add)],
            )
            added_rows = cursor.fetchall()
    history = [
        TagChange(
            company_id=company_id,
            contact_id=contact_id,
            tag_id=tag_id,
            action=action,
            source=source,
            rule=rule[:200],
            by=by,
        )
        for action, rows in ((TagChangeAction.REMOVED, removed_rows), (TagChangeAction.ADDED, added_rows))
        for contact_id, tag_id in rows
    ]
    TagChange.objects.bulk_create(history, batch_size=2000)
    return TagApplyResult(added=len(added_rows), removed=len(removed_rows))


@transaction.atomic
def contact_facts_interacted(*, company_id: int, last_at: dict[int, datetime]) -> int:
    """Move the contacts' last interaction forward (never back) to the given times, creating their facts rows as
    needed; contacts of another company are ignored. One upsert; returns the rows touched."""
    if not last_at:
        return 0
    ids = list(last_at)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO crm_contactfacts (contact_id, company_id, spend, last_interaction_at) "
            "SELECT c.id, c.company_id, 0, v.at FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, at) "
            "JOIN crm_contact c ON c.id = v.id AND c.company_id = %s "
            "ON CONFLICT (contact_id) DO UPDATE SET last_interaction_at = "
            "GREATEST(crm_contactfacts.last_interaction_at, EXCLUDED.last_interaction_at)",
            [ids, [last_at[i] for i in ids], company_id],
        )
        return cursor.rowcount


@transaction.atomic
def contact_facts_purchase(*, company_id: int, account_id: int, amount: Decimal, at: datetime) -> int:
    """Add a paid purchase of an account to the spend of its live contacts (a B2C account is usually one person)
    and move their last purchase forward. One upsert; returns the rows touched."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO crm_contactfacts (contact_id, company_id, spend, last_purchase_at) "
            "SELECT c.id, c.company_id, %s, %s FROM crm_contact c "
            "WHERE c.account_id = %s AND c.company_id = %s AND c.merged_into_id IS NULL "
            "ON CONFLICT (contact_id) DO UPDATE SET spend = crm_contactfacts.spend + EXCLUDED.spend, "
            "last_purchase_at = GREATEST(crm_contactfacts.last_purchase_at, EXCLUDED.last_purchase_at)",
            [amount, at, account_id, company_id],
        )
        return cursor.rowcount
