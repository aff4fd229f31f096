"""A person's CRM activities as an iCalendar file (RFC 5545) for their calendar subscription (日程订阅).

Written with the ``icalendar`` package (docs/decisions.md: line folding at 75 octets without splitting a UTF-8
character, text escaping, date-time forms — the details calendar apps are strict about). Every time is UTC, so
the file needs no VTIMEZONE; the calendar app shows each in the reader's own zone. Texts are written in the active
language: call it under ``translation.override`` of the person's language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.urls import reverse
from django.utils.text import capfirst
from icalendar import Calendar, Event, vDuration

from crm.models import Activity
from crm.selectors_activities import FEED_RECORD_FIELDS

PRODID = "-//Troika//CRM//"
REFRESH = dt.timedelta(minutes=15)  # how often calendar apps are asked to read the address again
DEFAULT_DURATION = dt.timedelta(minutes=30)  # an activity with no duration of its own
DONE_MARK = "✓ "


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


def linked_record(activity: Activity) -> tuple[str, object] | None:
    """The record an activity is on, as the calendar page and the activity list name it: its most specific one
    (ticket, deal, lead, contact, account), with that link's field name."""
    for name in FEED_RECORD_FIELDS:
        if getattr(activity, f"{name}_id"):
            return name, getattr(activity, name)
    return None


def activity_event(activity: Activity, *, base_url: str) -> Event:
    """One activity as a VEVENT: when it is due, for its duration (30 minutes when it has none), titled with its
    kind and subject (✓ before a done one), its details, record and a link to the record's page."""
    start = _utc(activity.due_at)
    minutes = activity.duration_minutes
    summary = f"{activity.get_kind_display()}: {activity.subject}"
    event = Event()
    event.add("uid", f"activity-{activity.pk}@troika")
    event.add("dtstamp", _utc(activity.updated_at))
    event.add("last-modified", _utc(activity.updated_at))
    event.add("dtstart", start)
    event.add("dtend", start + (dt.timedelta(minutes=minutes) if minutes else DEFAULT_DURATION))
    event.add("summary", f"{DONE_MARK}{summary}" if activity.done_at else summary)
    event.add("status", "CONFIRMED")
    details = activity.body.strip()
    parts = [details] if details else []  # the details, then the record and its page
    record = linked_record(activity)
    if record is not None:
        name, target = record
        url = base_url + reverse(f"crm:{name}-detail", args=[target.pk])
        parts.append(f"{capfirst(Activity._meta.get_field(name).verbose_name)}: {target}\n{url}")
        event.add("url", url)
    if parts:
        event.add("description", "\n\n".join(parts))
    if activity.location:
        event.add("location", activity.location)
    return event


def activities_calendar(activities: Iterable[Activity], *, name: str, base_url: str) -> bytes:
    """The activities as one iCalendar file named ``name`` (``X-WR-CALNAME``), links starting with ``base_url``."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-published-ttl", vDuration(REFRESH).to_ical().decode())
    calendar.add("refresh-interval", vDuration(REFRESH), parameters={"VALUE": "DURATION"})
    for activity in activities:
        calendar.add_component(activity_event(activity, base_url=base_url))
    return calendar.to_ical()
