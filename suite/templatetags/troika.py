"""The shell's template tags: ``money``, and the record panels (history, attachments) apps put on detail pages.

{% load troika %}
{{ order.total|money }}            ¥1,234.50 (the default currency, CNY)
{{ order.total|money:order.currency }}
{% history_panel customer %}       the record's change history, loaded by htmx
{% attachments_panel customer %}   the record's files and an upload form
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.translation import get_language

register = template.Library()

# Symbol per currency; in Chinese "¥" alone means the yuan, in English it is written "CN¥" (as CLDR does).
_SYMBOLS = {
    "zh": {"CNY": "¥", "USD": "US$", "EUR": "€", "GBP": "£", "HKD": "HK$", "JPY": "JP¥"},
    "en": {"CNY": "CN¥", "USD": "$", "EUR": "€", "GBP": "£", "HKD": "HK$", "JPY": "¥"},
}
_ZERO_DECIMALS = frozenset({"JPY", "KRW"})


def format_money(value, currency: str | None = None) -> str:
    """``value`` (Decimal, int or numeric string) as a localised amount with its currency; "" for no value."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return ""
    if not amount.is_finite():
        return ""
    code = (currency or settings.TROIKA_DEFAULT_CURRENCY).upper()
    places = 0 if code in _ZERO_DECIMALS else 2
    amount = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    digits = number_format(abs(amount), decimal_pos=places, use_l10n=True, force_grouping=True)
    language = "zh" if (get_language() or "").startswith("zh") else "en"
    symbol = _SYMBOLS[language].get(code)
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{digits} {code}"


@register.filter
def money(value, currency=None):
    return format_money(value, currency)


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def person_name(user) -> str:
    """A person's name as their language writes it: 张伟 (family name first, no space), Wei Zhang; else the
    username."""
    if user is None:
        return ""
    first, last = (user.first_name or "").strip(), (user.last_name or "").strip()
    if not first and not last:
        return user.get_username()
    if _CJK.search(first + last):
        return f"{last}{first}"
    return f"{first} {last}".strip()


@register.filter(name="person_name")
def person_name_filter(user) -> str:
    return person_name(user)


@register.filter
def as_minutes(value) -> int:
    """Whole minutes (rounded up) of a ``timedelta``, or the number itself (the lockout page's cool-off)."""
    if isinstance(value, timedelta):
        return max(1, -(-int(value.total_seconds()) // 60))
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@register.inclusion_tag("ui/_history_panel.html")
def history_panel(obj):
    return {"url": reverse("record-history", args=[obj._meta.label_lower, obj.pk])}


@register.inclusion_tag("ui/_attachments_panel.html")
def attachments_panel(obj):
    return {"url": reverse("attachments", args=[obj._meta.label_lower, obj.pk])}


@register.inclusion_tag("ui/_saved_views.html", takes_context=True)
def saved_views(context, list_key: str):
    """The saved-views bar of a list (``suite.ui.saved_views``)."""
    from suite.ui.saved_views import bar_context

    request = context["request"]
    return {"request": request, "csrf_token": context.get("csrf_token"), **bar_context(request, list_key)}


@register.inclusion_tag("ui/_follow_button.html", takes_context=True)
def follow_button(context, record):
    """The Follow / Following button of a record's page (``suite.ui.follows``)."""
    from suite.ui.follows import button_context

    return {"csrf_token": context.get("csrf_token"), **button_context(context["request"].actor, record)}
