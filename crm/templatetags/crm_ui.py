"""Template helpers of the CRM pages: names in the reader's language, sortable column headers, status pills.

{% load crm_ui %}
{{ stage|local_name }}                      名称 in Chinese, the English name (when set) in English
{% sort_header "name" _("Name") %}          a column header link that sorts by name (again: descending)
{{ ticket.status|status_class }}            the pill class of a status
{{ customer.phone|phone_link }}             a stored (E.164) number as people write it, a tel: link (tap to call)
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import get_language

from crm.text import display_phone

register = template.Library()


@register.filter
def local_name(obj) -> str:
    """``obj.name_en`` for English readers when it is set, else ``obj.name``."""
    if obj is None:
        return ""
    name = getattr(obj, "name", "") or ""
    name_en = getattr(obj, "name_en", "") or ""
    if name_en and not (get_language() or "").startswith("zh"):
        return name_en
    return name


@register.filter
def phone_link(e164) -> str:
    """``<a href="tel:+8613812345678">138 1234 5678</a>``; "—" for no number."""
    if not e164:
        return "—"
    return format_html('<a class="mono" href="tel:{}">{}</a>', e164, display_phone(str(e164)))


@register.simple_tag(takes_context=True)
def sort_header(context, field: str, label) -> str:
    """A link that sorts the list by ``field`` (ascending; descending when it already is), keeping the other
    query parameters, marked ``aria-sort`` for screen readers."""
    request = context["request"]
    current = request.GET.get("sort", "")
    descending = current == field
    params = request.GET.copy()
    params.pop("page", None)
    params["sort"] = f"-{field}" if descending else field
    state = "ascending" if current == field else "descending" if current == f"-{field}" else "none"
    arrow = " ▲" if state == "ascending" else " ▼" if state == "descending" else ""
    return format_html(
        '<a href="?{}" aria-sort="{}" class="sort-link">{}{}</a>', urlencode(params, doseq=True), state, label, arrow
    )


_STATUS_CLASSES = {
    "new": "role",
    "open": "warning",
    "pending": "",
    "resolved": "success",
    "closed": "",
    "won": "success",
    "lost": "error",
    "converted": "success",
    "qualified": "on",
    "disqualified": "error",
    "contacted": "role",
    "supporter": "success",
    "opponent": "error",
    "urgent": "error",
    "high": "warning",
    "customer": "success",
    "prospect": "role",
    "churned": "error",
}


@register.filter
def status_class(value) -> str:
    return _STATUS_CLASSES.get(str(value), "")


@register.filter
def normalize_decimal(value) -> str:
    """A quantity or percentage without trailing zeros (``2.5000`` → ``2.5``, ``13.00`` → ``13``)."""
    from decimal import Decimal, InvalidOperation

    if value is None or value == "":
        return ""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    text = f"{number:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` in a template (empty when missing)."""
    return (mapping or {}).get(key, ())
