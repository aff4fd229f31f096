"""Custom fields that company admins define per kind of record, as a JSON Schema.

A field set is a JSON Schema object whose ``properties`` are the fields. Only flat, filterable types are
allowed (string — optionally with ``enum`` or ``format`` date/email —, integer, number, boolean, and arrays of
those), property names are identifiers, and unknown keys are refused (``additionalProperties`` is forced to
``false``). Records keep their values in a JSONB ``custom`` column, validated here on every write.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from crm.models import CustomFieldSet, CustomFieldTarget
from crm.selectors import custom_schema_of
from suite.models import Company

FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
SCALAR_TYPES = frozenset({"string", "integer", "number", "boolean"})
MAX_FIELDS = 100


def _schema_errors(schema: Any) -> list[str]:
    if not isinstance(schema, dict):
        return [gettext("The schema must be a JSON object.")]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [gettext("Not a valid JSON Schema: %(error)s") % {"error": exc.message}]
    if schema.get("type") != "object":
        return [gettext('The schema must have "type": "object".')]
    properties = schema.get("properties") or {}
    if not isinstance(properties, dict):
        return [gettext('"properties" must be an object.')]
    if len(properties) > MAX_FIELDS:
        return [gettext("At most %(count)d custom fields.") % {"count": MAX_FIELDS}]
    errors = []
    for name, spec in properties.items():
        if not FIELD_NAME.match(name):
            errors.append(
                gettext("Field name %(name)r must be lower-case letters, digits and _ (starting with a letter).")
                % {"name": name}
            )
            continue
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind == "array":
            item_kind = (spec.get("items") or {}).get("type")
            if item_kind not in SCALAR_TYPES:
                errors.append(
                    gettext("Field %(name)r: array items must be string, integer, number or boolean.") % {"name": name}
                )
        elif kind not in SCALAR_TYPES:
            errors.append(
                gettext("Field %(name)r: type must be string, integer, number, boolean or array.") % {"name": name}
            )
    unknown_required = set(schema.get("required") or []) - set(properties)
    if unknown_required:
        errors.append(
            gettext("Required fields not in properties: %(names)s") % {"names": ", ".join(sorted(unknown_required))}
        )
    return errors


@transaction.atomic
def custom_field_set_define(*, company: Company, target: str, schema: dict, by=None) -> CustomFieldSet:
    """Create or replace the custom field set of ``target`` (account, contact, lead, opportunity) in ``company``.

    Validates the schema (see the module docstring) and stores it with ``additionalProperties: false`` and
    ``x-order`` (the properties' order as given; JSONB does not keep it). Locks
    the existing set's row. Values already stored are not rewritten: a field removed from the schema must be
    cleared (set to ``null``) by the next write that touches the record's custom fields.
    """
    if target not in CustomFieldTarget.values:
        raise ValidationError({"target": [_("Unknown target.")]})
    errors = _schema_errors(schema)
    if errors:
        raise ValidationError({"schema": errors})
    # PostgreSQL's JSONB does not keep the order of keys: the order the admin gave is kept beside the properties
    # (an annotation JSON Schema ignores), for forms and pages.
    schema = {**schema, "additionalProperties": False, "x-order": list(schema.get("properties") or {})}
    field_set = CustomFieldSet.objects.select_for_update(of=("self",)).filter(company=company, target=target).first()
    if field_set is None:
        return CustomFieldSet.objects.create(company=company, target=target, schema=schema, updated_by=by)
    field_set.schema = schema
    field_set.updated_by = by
    field_set.save(update_fields=["schema", "updated_by", "updated_at"])
    return field_set


def _message(error) -> str:
    validator = error.validator
    if validator == "type":
        return gettext("Must be of type %(type)s.") % {"type": error.validator_value}
    if validator == "enum":
        return gettext("Must be one of: %(choices)s.") % {"choices": ", ".join(map(str, error.validator_value))}
    if validator == "format":
        return gettext("Not a valid %(format)s.") % {"format": error.validator_value}
    if validator in ("minimum", "exclusiveMinimum"):
        return gettext("Must be at least %(limit)s.") % {"limit": error.validator_value}
    if validator in ("maximum", "exclusiveMaximum"):
        return gettext("Must be at most %(limit)s.") % {"limit": error.validator_value}
    if validator == "maxLength":
        return gettext("At most %(limit)s characters.") % {"limit": error.validator_value}
    if validator == "minLength":
        return gettext("At least %(limit)s characters.") % {"limit": error.validator_value}
    return error.message


_READ = object()


def custom_values_merge(
    *, company_id: int, target: str, current: dict | None, changes: dict | None, schema: Any = _READ
) -> dict:
    """``current`` custom values with ``changes`` applied (a key set to ``None`` is removed), validated against
    the company's schema for ``target``. Raises ``ValidationError`` with one ``custom.<field>`` entry per bad
    field. Without a defined schema only an empty set of values is accepted. ``schema``: the schema when the
    caller has read it already (``custom_schema_of``'s value, ``None`` included); read here otherwise."""
    if changes is None:
        changes = {}
    if not isinstance(changes, dict):
        raise ValidationError({"custom": [_("Custom fields must be a JSON object.")]})
    merged = dict(current or {})
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    if schema is _READ:
        schema = custom_schema_of(company_id=company_id, target=target)
    if schema is None:
        if merged:
            raise ValidationError({"custom": [_("No custom fields are defined for this kind of record.")]})
        return merged
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors: dict[str, list[str]] = {}
    for error in validator.iter_errors(merged):
        if error.validator == "required":
            missing = re.findall(r"'([^']+)' is a required property", error.message)
            for name in missing or ["custom"]:
                errors.setdefault(f"custom.{name}", []).append(gettext("This field is required."))
        elif error.validator == "additionalProperties":
            extra = sorted(set(merged) - set(schema.get("properties") or {}))
            for name in extra:
                errors.setdefault(f"custom.{name}", []).append(gettext("Unknown custom field."))
        else:
            path = ".".join(str(p) for p in error.absolute_path)
            errors.setdefault(f"custom.{path}" if path else "custom", []).append(_message(error))
    if errors:
        raise ValidationError(errors)
    return merged


def custom_filter_value(*, schema: dict | None, name: str, raw: str) -> Any:
    """A query-string value for custom field ``name`` in the JSON type the schema declares (for a JSONB
    containment filter). Raises ``ValidationError`` for an unknown field or a value of the wrong type."""
    properties = (schema or {}).get("properties") or {}
    if name not in properties:
        raise ValidationError({f"custom.{name}": [_("Unknown custom field.")]})
    spec = properties[name]
    kind = spec.get("type")
    if kind == "array":
        return [_coerce((spec.get("items") or {}).get("type"), raw, name)]
    return _coerce(kind, raw, name)


def _coerce(kind: str | None, raw: str, name: str) -> Any:
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            number = float(raw)
            return int(number) if number.is_integer() else number
        if kind == "boolean":
            lowered = raw.strip().lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise ValueError(raw)
    except ValueError:
        raise ValidationError({f"custom.{name}": [_("Must be of type %(type)s.") % {"type": kind}]}) from None
    return raw


@transaction.atomic
def custom_field_set_delete(*, field_set: CustomFieldSet, by=None) -> None:
    """Remove a company's custom fields for one kind of record. Stored values stay in the records (harmless,
    unreadable through the API's schema) until each record's custom values are next written."""
    CustomFieldSet.objects.select_for_update(of=("self",)).get(pk=field_set.pk).delete()
