"""Writes of tags and tag groups (company-wide labels on customers, shared with SCRM)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from crm.models import Tag, TagGroup
from suite.models import Company

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def lock_tag(pk: int) -> Tag:
    return Tag.objects.select_for_update(of=("self",)).get(pk=pk)


def _save(instance, unique_field: str, **kwargs) -> None:
    instance.full_clean(validate_unique=False, validate_constraints=False, exclude=["company", "group"])
    try:
        with transaction.atomic():
            instance.save(**kwargs)
    except IntegrityError as exc:
        if "unique" in str(exc):
            raise ValidationError({unique_field: [_("This name is already used.")]}) from None
        raise


@transaction.atomic
def tag_group_create(
    *, company: Company, name: str, by: User | None, name_en: str = "", is_exclusive: bool = False, sort_order: int = 0
) -> TagGroup:
    """Create a tag group; names are unique per company. Publishes nothing."""
    group = TagGroup(
        company=company, name=name.strip(), name_en=name_en.strip(), is_exclusive=is_exclusive, sort_order=sort_order
    )
    _save(group, "name")
    return group


@transaction.atomic
def tag_group_update(*, group: TagGroup, by: User | None, **fields) -> TagGroup:
    """Rename or reorder a tag group, or make it exclusive. Locks the group row."""
    group = TagGroup.objects.select_for_update(of=("self",)).get(pk=group.pk)
    allowed = {"name", "name_en", "is_exclusive", "sort_order"}
    if set(fields) - allowed:
        raise TypeError(f"unknown tag group fields: {', '.join(sorted(set(fields) - allowed))}")
    for name, value in fields.items():
        setattr(group, name, value.strip() if isinstance(value, str) else value)
    _save(group, "name", update_fields=[*fields, "updated_at"])
    return group


@transaction.atomic
def tag_create(
    *, company: Company, name: str, by: User | None, group: TagGroup | None = None, name_en: str = "", color: str = ""
) -> Tag:
    """Create a tag (in ``group`` if given); names are unique within a group of a company."""
    if group is not None and group.company_id != company.pk:
        raise ValidationError({"group": [_("Unknown tag group.")]})
    tag = Tag(company=company, group=group, name=name.strip(), name_en=name_en.strip(), color=color.strip())
    _save(tag, "name")
    return tag


@transaction.atomic
def tag_update(*, tag: Tag, by: User | None, **fields) -> Tag:
    """Rename, recolour or regroup a tag. Locks the tag row."""
    tag = lock_tag(tag.pk)
    allowed = {"name", "name_en", "color", "group"}
    if set(fields) - allowed:
        raise TypeError(f"unknown tag fields: {', '.join(sorted(set(fields) - allowed))}")
    group = fields.get("group")
    if group is not None and group.company_id != tag.company_id:
        raise ValidationError({"group": [_("Unknown tag group.")]})
    for name, value in fields.items():
        setattr(tag, name, value.strip() if isinstance(value, str) else value)
    _save(tag, "name", update_fields=[*fields, "updated_at"])
    return tag


@transaction.atomic
def tag_delete(*, tag: Tag, by: User | None) -> None:
    """Delete a tag and take it off every customer (the links are audited). Locks the tag row."""
    lock_tag(tag.pk).delete()


@transaction.atomic
def tag_group_delete(*, group: TagGroup, by: User | None) -> None:
    """Delete an empty tag group; one that still holds tags is refused (``CrmConflict``): move or delete the
    tags first, so no customer loses a label by accident. Locks the group row."""
    from crm.errors import CrmConflict

    group = TagGroup.objects.select_for_update(of=("self",)).get(pk=group.pk)
    if group.tags.exists():
        raise CrmConflict(_("Delete or move the group's tags first."))
    group.delete()
