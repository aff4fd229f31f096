"""Simplified Chinese number formats for Troika: Django's own groups digits by 4 with no separator; business
software in China (and our money columns) groups by 3 with commas: ¥1,234,567.00. Dates stay Django's."""

from django.conf.locale.zh_Hans.formats import *  # noqa: F403

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
