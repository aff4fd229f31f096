"""The production Gantt chart: operations still to do at their schedule, done ones where they were done."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone, translation
from django.utils.formats import date_format

from erp.selectors.production import gantt_span
from erp.services import production as prod

pytestmark = pytest.mark.django_db


def _bars(html: str) -> list[tuple[str, str]]:
    """(title, fill) of each bar."""
    return re.findall(r"<title>([^<]*)</title>\s*<a [^>]*><rect [^>]*fill=\"([^\"]+)\"", html)


def test_a_done_operation_is_drawn_grey_where_it_was_done_not_at_its_old_schedule(plant):
    plant.stock(plant.housing, "10", "20")
    plant.stock(plant.bolt, "20", "5")
    order = prod.production_order_create(
        company=plant.company,
        product=plant.pump,
        quantity=Decimal("10"),
        warehouse=plant.warehouse,
        due_date=timezone.localdate() + dt.timedelta(days=20),
    )
    order = prod.production_order_release(order=order, by=None)
    first, second = order.operations.order_by("sequence")
    scheduled_end = first.scheduled_end
    # reported done after the fact, before its planned start: no start time recorded
    prod.operation_report(operation=first, good_quantity=Decimal("10"), finish=True, by=None)
    prod.operation_start(operation=second, by=None)
    first.refresh_from_db()
    second.refresh_from_db()

    began, ended = gantt_span(first)
    assert ended == first.finished_at and began < ended
    assert gantt_span(second) == (second.scheduled_start, second.scheduled_end)
    client = Client()
    client.force_login(plant.member())
    client.cookies["django_language"] = "en"
    html = client.get("/erp/production/gantt/").content.decode()

    bars = dict(_bars(html))
    done = next(title for title in bars if first.name in title)
    running = next(title for title in bars if second.name in title)
    assert bars[done] == "#95a5a6" and "Done" in done
    assert bars[running] == "#27ae60"
    with translation.override("en"):
        finished = date_format(timezone.localtime(first.finished_at), "SHORT_DATETIME_FORMAT")
        planned_end = date_format(timezone.localtime(scheduled_end), "SHORT_DATETIME_FORMAT")
    assert done.endswith(f"– {finished}") and planned_end not in done  # where it was done, not as planned
    assert "grey: done" in html
