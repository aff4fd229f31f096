"""Merging two customers with the values a user picked field by field (the merge screen).

``customer_merge`` does the merge itself (re-points every related record, unites tags, fills blanks, keeps a
tombstone, publishes ``crm.customer.merged``); this adds the user's choice of which record's value wins for
each field, in the same transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from crm.models import Account, Contact
from crm.services.customers import account_update, contact_update, customer_merge

if TYPE_CHECKING:
    from django.contrib.auth.models import User

_COMMON = [
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
]
MERGE_PICK_FIELDS = {
    Account: [*_COMMON, "industry", "size", "website", "tax_id"],
    Contact: [*_COMMON, "account", "title", "department", "gender", "birthday"],
}
SURVIVOR, DUPLICATE = "survivor", "duplicate"


@transaction.atomic
def customer_merge_pick(
    *, survivor: Account | Contact, duplicate: Account | Contact, picks: dict[str, str], by: User | None
) -> Account | Contact:
    """Merge ``duplicate`` into ``survivor`` (``customer_merge``), then give the survivor the duplicate's value
    of every field whose pick is ``"duplicate"`` (fields of ``MERGE_PICK_FIELDS``; others are refused).
    One transaction: locks both rows (in ``customer_merge``), audited, publishes ``crm.customer.merged``."""
    model = type(survivor)
    allowed = MERGE_PICK_FIELDS.get(model, [])
    unknown = [name for name, side in picks.items() if name not in allowed or side not in (SURVIVOR, DUPLICATE)]
    if unknown:
        raise ValidationError({"picks": [_("Unknown field choice: %(names)s.") % {"names": ", ".join(unknown)}]})
    duplicate = model.objects.get(pk=duplicate.pk)
    taken = {name: getattr(duplicate, name) for name, side in picks.items() if side == DUPLICATE}
    survivor = customer_merge(survivor=survivor, duplicate=duplicate, by=by)
    changes = {name: value for name, value in taken.items() if getattr(survivor, name) != value}
    if not changes:
        return survivor
    if model is Account:
        return account_update(account=survivor, by=by, **changes)
    return contact_update(contact=survivor, by=by, **changes)
