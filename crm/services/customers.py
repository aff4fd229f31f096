"""Writes of customers: accounts and contacts, their tags, duplicates refused on create, and merges.

Every function here is keyword-only and atomic. Phones are normalised to E.164 (+86 by default), emails to
lower case, custom fields validated against the company's schema, and ``search_text`` rebuilt, so nothing else
has to remember to.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import pghistory.models
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.errors import CrmConflict, CustomerMergeError, DuplicateCustomerError
from crm.events import CUSTOMER_MERGED, customer_merged_payload
from crm.models import Account, AccountTag, Contact, ContactTag, Tag
from crm.selectors import customer_duplicates_find, group_height
from crm.services.campaigns import campaign_members_dedupe_for_merge
from crm.services.custom_fields import custom_values_merge
from crm.services.following import tell_account_owner_changes
from crm.services.opportunity_roles import contact_roles_dedupe_for_merge
from crm.text import build_search_text, normalize_email, normalize_phone
from suite import events
from suite.models import Company, Membership, Team

if TYPE_CHECKING:
    from django.contrib.auth.models import User

Customer = Account | Contact

_COMMON_FIELDS = frozenset(
    {
        "name",
        "name_en",
        "phone",
        "email",
        "wechat_id",
        "province",
        "city",
        "district",
        "address",
        "source",
        "lifecycle_stage",
        "credit_limit",
        "owner",
        "team",
    }
)
ACCOUNT_FIELDS = _COMMON_FIELDS | {"industry", "size", "website", "tax_id", "parent"}
MAX_GROUP_DEPTH = 5  # group → region → company → branch …: deeper is a data mistake, and a loop never ends
CONTACT_FIELDS = _COMMON_FIELDS | {"account", "gender", "title", "department", "birthday", "unionid"}
_STRING_FIELDS = frozenset(
    {
        "name",
        "name_en",
        "wechat_id",
        "province",
        "city",
        "district",
        "address",
        "source",
        "lifecycle_stage",
        "industry",
        "size",
        "website",
        "gender",
        "title",
        "department",
        "unionid",
    }
)
MAX_CREDIT_LIMIT = Decimal("9999999999999999.99")

# ---------------------------------------------------------------- locks


def lock_customer(model: type[Customer], pk: int) -> Customer:
    """The customer row, locked for the rest of the transaction (``SELECT … FOR UPDATE OF`` the row only)."""
    return model.objects.select_for_update(of=("self",)).get(pk=pk)


def lock_customers(model: type[Customer], pks: Iterable[int]) -> dict[int, Customer]:
    """Several customer rows locked in primary-key order (the one order every caller uses: no deadlocks)."""
    rows = model.objects.select_for_update(of=("self",)).filter(pk__in=set(pks)).order_by("pk")
    return {row.pk: row for row in rows}


def _lock_identities(model: type[Customer], company_id: int, facts: dict[str, str]) -> None:
    """Serialise concurrent writes of the same identifying facts (phone, email …) in one company with
    transaction-level advisory locks, so two simultaneous creates cannot both pass the duplicate check."""
    keys = sorted(f"crm.{model._meta.model_name}:{company_id}:{kind}:{value}" for kind, value in facts.items() if value)
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM (SELECT unnest(%s::text[]) AS k "
            "ORDER BY 1) AS ordered",
            [keys],
        )


# ---------------------------------------------------------------- field handling


def _is_member(company_id: int, user) -> bool:
    return Membership.objects.filter(company_id=company_id, user=user, is_active=True).exists()


def default_team(company_id: int, owner) -> Team | None:
    """The owner's team when they are in exactly one team of the company (so team scope sees the record)."""
    if owner is None:
        return None
    teams = list(Team.objects.filter(company_id=company_id, memberships__user=owner)[:2])
    return teams[0] if len(teams) == 1 else None


def _parent_problem(account: Account, parent: Any) -> str:
    """Why ``parent`` cannot be the parent account of ``account`` ('' when it can): another company's, merged,
    the account itself or one of its own subsidiaries (a loop), or a group deeper than ``MAX_GROUP_DEPTH``."""
    if not isinstance(parent, Account) or parent.company_id != account.company_id or parent.merged_into_id:
        return _("Unknown account.")
    if account.pk is not None and parent.pk == account.pk:
        return _("An account cannot be its own parent.")
    # the levels the account and its own subsidiaries take, under the parent's chain
    below = 1 + (group_height(account.pk) if account.pk is not None else 0)
    too_deep = _("A group is at most %(depth)d levels deep.") % {"depth": MAX_GROUP_DEPTH}
    ancestor, depth = parent, 1
    while ancestor.parent_id is not None:
        if account.pk is not None and ancestor.parent_id == account.pk:
            return _("%(parent)s belongs to this account already: that would make a loop.") % {"parent": parent.name}
        depth += 1
        if depth + below > MAX_GROUP_DEPTH:
            return too_deep
        ancestor = Account.objects.only("id", "parent_id").get(pk=ancestor.parent_id)
    return too_deep if depth + below > MAX_GROUP_DEPTH else ""


def _apply(instance: Customer, fields: dict[str, Any], allowed: frozenset[str]) -> list[str]:
    """Normalise and set ``fields`` on ``instance``; return the names that changed. Collects every field error
    into one ``ValidationError`` before anything is saved."""
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"unknown {instance._meta.model_name} fields: {', '.join(sorted(unknown))}")
    errors: dict[str, list] = {}
    company_id = instance.company_id
    values: dict[str, Any] = {}
    for name, value in fields.items():
        if name in _STRING_FIELDS:
            value = "" if value is None else " ".join(str(value).split()) if name != "address" else str(value).strip()
        elif name == "phone":
            try:
                value = normalize_phone(value or "")
            except ValidationError as exc:
                errors.setdefault(name, []).extend(exc.messages)
                continue
        elif name == "email":
            value = normalize_email(value or "")
        elif name == "tax_id":
            value = "".join((value or "").split()).upper()
        elif name == "credit_limit":
            try:
                value = Decimal(str(value if value is not None else "0"))
            except (InvalidOperation, ValueError):
                errors.setdefault(name, []).append(_("Enter a number."))
                continue
            if not value.is_finite():
                errors.setdefault(name, []).append(_("Enter a number."))
                continue
            if value < 0:
                errors.setdefault(name, []).append(_("The credit limit cannot be negative."))
                continue
            if value > MAX_CREDIT_LIMIT:
                errors.setdefault(name, []).append(_("The credit limit is too large."))
                continue
        elif name == "owner":
            if value is not None and not _is_member(company_id, value):
                errors.setdefault(name, []).append(_("The owner must be an active member of the company."))
                continue
        elif name == "team":
            if value is not None and value.company_id != company_id:
                errors.setdefault(name, []).append(_("Unknown team."))
                continue
        elif name == "account" and (
            value is not None and (value.company_id != company_id or value.merged_into_id is not None)
        ):
            errors.setdefault(name, []).append(_("Unknown account."))
            continue
        elif name == "parent" and value is not None:
            problem = _parent_problem(instance, value)
            if problem:
                errors.setdefault(name, []).append(problem)
                continue
        values[name] = value
    changed = []
    for name, value in values.items():
        current = getattr(instance, name)
        if current != value:
            setattr(instance, name, value)
            changed.append(name)
    check = [name for name in values if name not in ("owner", "team", "account", "parent")]
    try:
        instance.full_clean(
            exclude=[f.name for f in instance._meta.fields if f.name not in check],
            validate_unique=False,
            validate_constraints=False,
        )
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(name, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    return changed


def account_search_text(account: Account) -> str:
    return build_search_text(
        names=[account.name, account.name_en],
        phones=[account.phone],
        others=[account.email, account.wechat_id, account.tax_id],
    )


def contact_search_text(contact: Contact) -> str:
    return build_search_text(
        names=[contact.name, contact.name_en],
        phones=[contact.phone],
        others=[contact.email, contact.wechat_id],
    )


def _search_text(customer: Customer) -> str:
    return account_search_text(customer) if isinstance(customer, Account) else contact_search_text(customer)


def _identity_facts(customer: Customer) -> dict[str, str]:
    facts = {"phone": customer.phone, "email": customer.email, "name": customer.name.casefold()}
    if isinstance(customer, Contact):
        facts["unionid"] = customer.unionid
    else:
        facts["tax_id"] = customer.tax_id
    return facts


def _save(instance: Customer, **kwargs) -> None:
    """Save inside a savepoint, turning the identity constraints the database enforces into field errors."""
    try:
        with transaction.atomic():
            instance.save(**kwargs)
    except IntegrityError as exc:
        message = str(exc)
        if "unionid_unique_live" in message:
            raise ValidationError({"unionid": [_("This WeChat unionid already belongs to another contact.")]}) from None
        if "tax_id_unique_live" in message:
            raise ValidationError({"tax_id": [_("Another account has this unified social credit code.")]}) from None
        raise


def _check_duplicates(customer: Customer) -> None:
    candidates = customer_duplicates_find(
        model=type(customer),
        company_id=customer.company_id,
        phone=customer.phone,
        email=customer.email,
        unionid=getattr(customer, "unionid", ""),
        tax_id=getattr(customer, "tax_id", ""),
        name=customer.name,
        city=customer.city,
        exclude_pk=customer.pk,
    )
    if candidates:
        raise DuplicateCustomerError(candidates)


def _create(model, *, company: Company, by, fields: dict, allowed, target: str, tags, custom, force: bool):
    customer = model(company=company)
    fields.setdefault("owner", by)
    _apply(customer, fields, allowed)
    if "team" not in fields:
        customer.team = default_team(company.pk, customer.owner)
    customer.custom = custom_values_merge(company_id=company.pk, target=target, current={}, changes=custom)
    _lock_identities(model, company.pk, _identity_facts(customer))
    if not force:
        _check_duplicates(customer)
    customer.search_text = _search_text(customer)
    _save(customer)
    if tags:
        _tags_set(customer, tags)
    return customer


def _update(
    model, *, customer: Customer, fields: dict, allowed, target: str, tags, custom, owner_changes: list | None = None
) -> Customer:
    """The update of ``account_update`` / ``contact_update``; a change of owner is added to ``owner_changes``
    (``(customer, previous owner id)``) when given, for the caller to tell who needs to know."""
    customer = lock_customer(model, customer.pk)
    if customer.merged_into_id is not None:
        raise CrmConflict(_("This customer was merged into another record; edit that one instead."))
    owner_before = customer.owner_id
    changed = _apply(customer, fields, allowed)
    if custom is not None:
        merged = custom_values_merge(
            company_id=customer.company_id, target=target, current=customer.custom, changes=custom
        )
        if merged != customer.custom:
            customer.custom = merged
            changed.append("custom")
    search_text = _search_text(customer)
    if search_text != customer.search_text:
        customer.search_text = search_text
        changed.append("search_text")
    if changed:
        _save(customer, update_fields=[*changed, "updated_at"])
    if tags is not None:
        _tags_set(customer, tags)
    if owner_changes is not None and "owner" in changed:
        owner_changes.append((customer, owner_before))
    return customer


# ---------------------------------------------------------------- accounts and contacts


@transaction.atomic
def account_create(
    *,
    company: Company,
    by: User | None,
    tags: Iterable[Tag] = (),
    custom: dict | None = None,
    force: bool = False,
    **fields: Any,
) -> Account:
    """Create an account (B2B customer) owned by ``by`` unless ``owner`` is given.

    ``fields`` are the account's editable fields (``ACCOUNT_FIELDS``); the phone is normalised to E.164, custom
    values validated against the company's account schema. Unless ``force``, refuses with
    ``DuplicateCustomerError`` (carrying the candidates) when a live account of the company has the same phone,
    email, tax ID, or name and city. Takes advisory locks on those facts so concurrent creates of the same
    account serialise. Publishes nothing.
    """
    return _create(
        Account,
        company=company,
        by=by,
        fields=fields,
        allowed=ACCOUNT_FIELDS,
        target="account",
        tags=tags,
        custom=custom,
        force=force,
    )


@transaction.atomic
def account_update(
    *, account: Account, by: User | None, tags: Iterable[Tag] | None = None, custom: dict | None = None, **fields: Any
) -> Account:
    """Change an account's fields (only those given); ``custom`` is merged key by key (``None`` removes a key);
    ``tags`` (when given) replaces the account's tags. Locks the account row; refuses a merged account.
    Does not re-run the duplicate check. A new owner is told (unless it is ``by``), and so are the account's
    followers (``crm.services.following.tell_account_owner_changes``). Publishes nothing."""
    owner_changes: list = []
    account = _update(
        Account,
        customer=account,
        fields=fields,
        allowed=ACCOUNT_FIELDS,
        target="account",
        tags=tags,
        custom=custom,
        owner_changes=owner_changes,
    )
    tell_account_owner_changes(owner_changes, by=by)
    return account


@transaction.atomic
def accounts_owner_assign(*, accounts: Iterable[Account], owner: User, by: User | None) -> list[Account]:
    """Give several accounts to ``owner`` at once (the account list's bulk *Assign owner*): each changed as
    ``account_update(owner=…)`` would (its row locked, in primary-key order; a merged account refused with
    ``CrmConflict``, nothing saved then), and the new owner told once for all — "张伟 assigned you 12 accounts" —
    not once per account; the followers as ``tell_account_owner_changes`` says. Publishes nothing."""
    owner_changes: list = []
    changed = [
        _update(
            Account,
            customer=account,
            fields={"owner": owner},
            allowed=ACCOUNT_FIELDS,
            target="account",
            tags=None,
            custom=None,
            owner_changes=owner_changes,
        )
        for account in sorted(accounts, key=lambda account: account.pk)
    ]
    tell_account_owner_changes(owner_changes, by=by)
    return changed


@transaction.atomic
def contact_create(
    *,
    company: Company,
    by: User | None,
    tags: Iterable[Tag] = (),
    custom: dict | None = None,
    force: bool = False,
    **fields: Any,
) -> Contact:
    """Create a contact (a person; B2C customer, or someone at ``account``) owned by ``by`` unless ``owner``.

    Like ``account_create``: normalised phone, validated custom values, and unless ``force`` a
    ``DuplicateCustomerError`` for a live contact with the same phone, email, WeChat unionid, or name in the
    same (known) city. A unionid already on a live contact is refused even with ``force`` (a database
    constraint: one WeChat identity is one person). Publishes nothing.
    """
    return _create(
        Contact,
        company=company,
        by=by,
        fields=fields,
        allowed=CONTACT_FIELDS,
        target="contact",
        tags=tags,
        custom=custom,
        force=force,
    )


@transaction.atomic
def contact_update(
    *, contact: Contact, by: User | None, tags: Iterable[Tag] | None = None, custom: dict | None = None, **fields: Any
) -> Contact:
    """Change a contact's fields, as ``account_update``. Locks the contact row; refuses a merged contact."""
    return _update(
        Contact, customer=contact, fields=fields, allowed=CONTACT_FIELDS, target="contact", tags=tags, custom=custom
    )


def _related_crm_rows(customer: Customer) -> int:
    total = 0
    for relation in type(customer)._meta.related_objects:
        if relation.many_to_many or relation.related_model._meta.app_label != "crm":
            continue
        if relation.related_model in (AccountTag, ContactTag) or relation.remote_field.name == "merged_into":
            continue
        if issubclass(relation.related_model, pghistory.models.Event):
            continue  # the audit trail's copies, not records of their own
        total += relation.related_model._default_manager.filter(**{relation.field.name: customer}).count()
    return total


@transaction.atomic
def customer_delete(*, customer: Customer, by: User | None) -> None:
    """Delete a customer that nothing refers to (a record created by mistake). Refuses with ``CrmConflict``
    when any CRM record (contact, lead, opportunity, activity, merged duplicate) points at it: such a customer
    is merged or marked churned instead, never lost. Locks the row; the audit trail keeps the deleted values."""
    customer = lock_customer(type(customer), customer.pk)
    if _related_crm_rows(customer) or customer.merged_duplicates.exists():
        raise CrmConflict(_("This customer has related records; merge it or mark it churned instead of deleting."))
    customer.delete()


# ---------------------------------------------------------------- tags


def _tags_set(customer: Customer, tags: Iterable[Tag], by: User | None = None) -> None:
    tags = list({tag.pk: tag for tag in tags}.values())
    errors = []
    if any(tag.company_id != customer.company_id for tag in tags):
        errors.append(_("Unknown tag."))
    by_group: dict[int, list[Tag]] = {}
    for tag in tags:
        if tag.group_id:
            by_group.setdefault(tag.group_id, []).append(tag)
    for group_tags in by_group.values():
        if len(group_tags) > 1 and group_tags[0].group.is_exclusive:
            errors.append(_("Only one tag of the group %(group)s may be set.") % {"group": group_tags[0].group.name})
    if errors:
        raise ValidationError({"tags": errors})
    link_model, key = (AccountTag, "account") if isinstance(customer, Account) else (ContactTag, "contact")
    wanted = {tag.pk for tag in tags}
    current = set(link_model.objects.filter(**{key: customer}).values_list("tag_id", flat=True))
    if current - wanted:
        link_model.objects.filter(**{key: customer, "tag_id__in": current - wanted}).delete()
    if wanted - current:
        link_model.objects.bulk_create([link_model(**{key: customer, "tag_id": pk}) for pk in sorted(wanted - current)])
    if key == "contact" and wanted != current:  # tag history (crm.services.segments)
        from crm.services.segments import tag_changes_record

        tag_changes_record(contact=customer, added=wanted - current, removed=current - wanted, by=by)


@transaction.atomic
def customer_tags_set(*, customer: Customer, tags: Iterable[Tag], by: User | None) -> Customer:
    """Replace the tags of an account or contact. Tags must be the company's; in an exclusive group at most one.
    Locks the customer row."""
    customer = lock_customer(type(customer), customer.pk)
    _tags_set(customer, tags, by=by)
    return customer


# ---------------------------------------------------------------- merge

_STAGE_RANK = {"lead": 0, "prospect": 1, "churned": 2, "customer": 3}
_FILL_IF_BLANK = (
    "name_en",
    "phone",
    "email",
    "wechat_id",
    "province",
    "city",
    "district",
    "address",
    "source",
    "industry",
    "size",
    "website",
    "tax_id",
    "account",
    "gender",
    "title",
    "department",
    "birthday",
    "unionid",
)


def _crm_relations(model: type[Customer]):
    """The CRM foreign keys that point at ``model`` (contacts, leads, opportunities, activities …), except the
    tag links, the merge chain and the audit trail's copies."""
    for relation in model._meta.related_objects:
        related = relation.related_model
        if relation.many_to_many or relation.one_to_one or related._meta.app_label != "crm":
            continue
        if related in (AccountTag, ContactTag) or relation.field.name == "merged_into":
            continue
        if issubclass(related, pghistory.models.Event):
            continue
        yield relation


@transaction.atomic
def customer_merge(*, survivor: Customer, duplicate: Customer, by: User | None) -> Customer:
    """Merge ``duplicate`` into ``survivor`` (two accounts, or two contacts, of one company) in one transaction.

    Every CRM record pointing at the duplicate (contacts, leads, opportunities, activities, earlier merged
    duplicates) is re-pointed to the survivor; tags are united; blank fields of the survivor are filled from the
    duplicate (its own values win), custom values likewise; the lifecycle stage becomes the further of the two.
    The duplicate is kept as a tombstone (``merged_into``, ``merged_at``) so old links still resolve.

    Locks both rows in primary-key order; refuses (``CrmConflict``) a record merged already. The audit trail
    records every moved row with a ``merge`` context. Publishes ``crm.customer.merged`` so other apps move
    their own references (social identities, orders, tickets) in their handlers.
    """
    model = type(survivor)
    if model is not type(duplicate) or model not in (Account, Contact):
        raise ValidationError({"duplicate": [_("Only two accounts or two contacts can be merged.")]})
    if survivor.pk == duplicate.pk:
        raise ValidationError({"duplicate": [_("A record cannot be merged into itself.")]})
    if survivor.company_id != duplicate.company_id:
        raise ValidationError({"duplicate": [_("Unknown record.")]})
    locked = lock_customers(model, [survivor.pk, duplicate.pk])
    survivor, duplicate = locked[survivor.pk], locked[duplicate.pk]
    if survivor.merged_into_id or duplicate.merged_into_id:
        raise CustomerMergeError(_("One of these records was merged already."))

    context = {"kind": model._meta.model_name, "survivor_id": survivor.pk, "duplicate_id": duplicate.pk}
    with pghistory.context(merge=context):
        now = timezone.now()
        moved: dict[str, int] = {}
        # A campaign that reached both keeps the survivor's membership (the duplicate's touches still move).
        campaign_members_dedupe_for_merge(model=model, survivor=survivor, duplicate=duplicate)
        if model is Contact:  # a deal's committee seats both had keep the survivor's
            contact_roles_dedupe_for_merge(survivor=survivor, duplicate=duplicate)
        if model is Account and survivor.parent_id == duplicate.pk:  # it cannot become its own parent
            survivor.parent_id = duplicate.parent_id if duplicate.parent_id != survivor.pk else None
            survivor.save(update_fields=["parent", "updated_at"])
        for relation in _crm_relations(model):
            related = relation.related_model
            field = relation.field.name
            changes = {field: survivor}
            if any(f.name == "updated_at" for f in related._meta.fields):
                changes["updated_at"] = now
            count = related._default_manager.filter(**{field: duplicate}).update(**changes)
            if count:
                moved[f"{related._meta.label_lower}.{field}"] = count

        link_model, key = (AccountTag, "account") if model is Account else (ContactTag, "contact")
        survivor_tags = set(link_model.objects.filter(**{key: survivor}).values_list("tag_id", flat=True))
        link_model.objects.filter(**{key: duplicate, "tag_id__in": survivor_tags}).delete()
        tags_moved = link_model.objects.filter(**{key: duplicate}).update(**{key: survivor})
        if tags_moved:
            moved[f"{link_model._meta.label_lower}.{key}"] = tags_moved
        chained = model.objects.filter(merged_into=duplicate).update(merged_into=survivor)
        if chained:
            moved[f"{model._meta.label_lower}.merged_into"] = chained
        if (
            model is Account
            and survivor.parent_id
            and _parent_problem(
                survivor,
                Account.objects.get(pk=survivor.parent_id),  # fresh: the moves above changed parents
            )
        ):
            # the duplicate's subsidiaries moved under the survivor, one of them its own parent: a loop — the
            # survivor leaves that group rather than the group being cut somewhere else
            survivor.parent = None
            survivor.save(update_fields=["parent", "updated_at"])

        # The tombstone first: the identity constraints only hold among live records, so the survivor can take
        # over the duplicate's unionid / tax ID in the next statement.
        duplicate.merged_into = survivor
        duplicate.merged_at = now
        duplicate.save(update_fields=["merged_into", "merged_at", "updated_at"])

        changed = []
        for name in _FILL_IF_BLANK:
            if not hasattr(survivor, name):
                continue
            attname = model._meta.get_field(name).attname
            if not getattr(survivor, attname) and getattr(duplicate, attname):
                setattr(survivor, attname, getattr(duplicate, attname))
                changed.append(name)
        custom = {**duplicate.custom, **survivor.custom}
        if custom != survivor.custom:
            survivor.custom = custom
            changed.append("custom")
        if _STAGE_RANK.get(duplicate.lifecycle_stage, 0) > _STAGE_RANK.get(survivor.lifecycle_stage, 0):
            survivor.lifecycle_stage = duplicate.lifecycle_stage
            changed.append("lifecycle_stage")
        search_text = _search_text(survivor)
        if search_text != survivor.search_text:
            survivor.search_text = search_text
            changed.append("search_text")
        if changed:
            _save(survivor, update_fields=[*changed, "updated_at"])
        else:
            survivor.save(update_fields=["updated_at"])

    events.publish(
        CUSTOMER_MERGED,
        customer_merged_payload(survivor=survivor, duplicate=duplicate, moved=moved),
        company_id=survivor.company_id,
        by=by,
    )
    return survivor
