"""The company's custom fields (``crm.services.custom_fields``: a JSON Schema per kind of record) on the CRM pages:
form fields made from the schema, the values a form posts back, and the values shown on a record's page.

    schema type                        form field
    string                             text (``maxLength``)
    string + enum                      choice of the enum values
    string + format date / email       date / e-mail
    integer, number                    number (``minimum`` / ``maximum``)
    boolean                            yes / no / not set
    array of enum strings              several choices (tick boxes)
    array of strings, integers …       one value per line

A property's ``title`` is its label (else its name) and ``description`` its help text. The form only checks the
shape; the service validates the values against the schema and its messages come back next to the fields.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.selectors import custom_schema_of

PREFIX = "custom__"
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
_BOOLEAN_CHOICES = [("", "—"), ("true", _("Yes")), ("false", _("No"))]


def _label(name: str, spec: dict) -> str:
    return str(spec.get("title") or name)


def _field(name: str, spec: dict, *, required: bool) -> forms.Field:
    kind = spec.get("type")
    common = {"label": _label(name, spec), "required": required, "help_text": spec.get("description", "")}
    if kind == "string":
        if spec.get("enum"):
            return forms.ChoiceField(choices=[("", "—"), *((str(v), str(v)) for v in spec["enum"])], **common)
        if spec.get("format") == "date":
            return forms.DateField(widget=DATE_INPUT, **common)
        if spec.get("format") == "email":
            return forms.EmailField(**common)
        return forms.CharField(max_length=spec.get("maxLength") or 1000, **common)
    if kind == "integer":
        return forms.IntegerField(min_value=spec.get("minimum"), max_value=spec.get("maximum"), **common)
    if kind == "number":
        return forms.DecimalField(min_value=spec.get("minimum"), max_value=spec.get("maximum"), **common)
    if kind == "boolean":
        return forms.ChoiceField(choices=_BOOLEAN_CHOICES, **common)
    items = spec.get("items") or {}
    if items.get("type") == "string" and items.get("enum"):
        return forms.MultipleChoiceField(
            choices=[(str(v), str(v)) for v in items["enum"]], widget=forms.CheckboxSelectMultiple, **common
        )
    return forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), **{**common, "help_text": _("One per line.")})


def properties_in_order(schema: dict | None) -> dict:
    """The schema's properties in the order the admin defined them (``x-order``, kept by the service)."""
    properties = dict((schema or {}).get("properties") or {})
    order = [name for name in (schema or {}).get("x-order") or () if name in properties]
    return {name: properties[name] for name in [*order, *(n for n in properties if n not in order)]}


def add_fields(form: forms.Form, schema: dict | None, values: dict | None = None) -> None:
    """Add the schema's fields to ``form`` (named ``custom__<name>``), with ``values`` as their initial values."""
    required = set((schema or {}).get("required") or [])
    for name, spec in properties_in_order(schema).items():
        form.fields[PREFIX + name] = _field(name, spec, required=name in required)
        if values and name in values:
            form.initial[PREFIX + name] = _initial(spec, values[name])
    form.custom_schema = schema


def _initial(spec: dict, value):
    if spec.get("type") == "boolean":
        return "true" if value is True else "false" if value is False else ""
    if spec.get("type") == "array" and not (spec.get("items") or {}).get("enum"):
        return "\n".join(str(v) for v in value or [])
    return value


def _json_value(spec: dict, value):
    """A cleaned form value as the JSON the schema expects, ``None`` for "not set" (the key is removed)."""
    kind = spec.get("type")
    if value in (None, "", []):
        return None
    if kind == "boolean":
        return value == "true"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if kind == "array" and isinstance(value, str):
        item = (spec.get("items") or {}).get("type")
        lines = [line.strip() for line in value.splitlines() if line.strip()]
        return [_item(item, line) for line in lines] or None
    return value


def _item(kind, text: str):
    for convert in {"integer": (int,), "number": (int, float)}.get(kind, ()):
        try:
            return convert(text)
        except ValueError:
            continue
    if kind == "boolean":
        return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(text.lower(), text)
    return text  # the schema check names a wrong value


def changes(form: forms.Form) -> dict | None:
    """The custom values the form posts (``None`` for a cleared field), or ``None`` when the company has no
    custom fields for this kind of record (nothing to change)."""
    properties = properties_in_order(getattr(form, "custom_schema", None))
    if not properties:
        return None
    return {name: _json_value(spec, form.cleaned_data.get(PREFIX + name)) for name, spec in properties.items()}


def error_field(key: str) -> str:
    """The form field of a service error key (``custom.level`` → ``custom__level``; an array item's
    ``custom.codes.0`` → ``custom__codes``)."""
    return PREFIX + key.removeprefix("custom.").split(".")[0] if key.startswith("custom.") else key


def shown(schema: dict | None, values: dict | None) -> list[tuple[str, str]]:
    """``(label, value)`` of the record's custom values, in the schema's order, for its page."""
    result = []
    for name, spec in properties_in_order(schema).items():
        value = (values or {}).get(name)
        if value in (None, "", []):
            continue
        if isinstance(value, bool):
            value = _("Yes") if value else _("No")
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        result.append((_label(name, spec), str(value)))
    return result


def schema_for(actor, target: str) -> dict | None:
    return custom_schema_of(company_id=actor.company_id, target=target)
