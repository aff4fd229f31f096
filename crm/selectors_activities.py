"""Reads of the activity list (``/crm/activities/``) and of its export: one set of filters, read once from the
query string, applied to the activities the actor may see — so the file holds exactly the rows of the list.

    filters = ActivityFilters.from_params(request.GET)
    rows = activities_filtered(actor, filters).order_by(*default_order(filters.state))
    counts = activity_state_counts(actor, filters)      # the state chips: overdue, due today, open, done

States: ``open`` (not done), ``overdue`` (open, due before today), ``today`` (open, due today), ``upcoming``
(open, due after today), ``done``, ``all``. "Today" is the local day, as on "My day".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import BooleanField, Count, F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from crm.models import Activity, ActivityKind, CalendarFeed
from crm.selectors import activities_visible_to
from suite import policy
from suite.api.counting import audit_versions, remembered_count
from suite.policy import Actor
from suite.ui.choices import chosen_id

STATES: dict[str, str | Promise] = {
    "open": _("Open"),
    "overdue": _("Overdue"),
    "today": _("Due today"),
    "upcoming": _("Upcoming"),
    "done": _("Done"),
    "all": _("All"),
}
DEFAULT_STATE = "open"
# the record an activity is "on": the most specific one it links to (an activity on a deal also names the deal's
# account, so that it shows on the customer's timeline — it is still the deal's activity)
RECORD_TYPES = ("ticket", "opportunity", "lead", "contact", "account")
# no sort chosen: the order of each state, in a form the partial indexes ``crm_activity_open_due_company`` and
# ``crm_activity_done_company`` serve (a CASE in ORDER BY cannot use an index: on a million activities a page of
# open ones took 0.6 s, of done ones 3.4 s; now a few ms)
OPEN_BY_DUE = (F("due_at").asc(nulls_last=True), "pk")
LATEST_DONE = (F("done_at").desc(), "-pk")
LATEST_MADE = ("-created_at", "-pk")
_EARLIEST, _LATEST = date(1, 1, 2), date(9999, 12, 30)  # a local day that still has a start and an end in UTC


def record_type_choices() -> list[tuple[str, str]]:
    return [(name, Activity._meta.get_field(name).verbose_name) for name in RECORD_TYPES]


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the current time zone."""
    return timezone.make_aware(datetime(day.year, day.month, day.day))


def _day(raw) -> date | None:
    with contextlib.suppress(TypeError, ValueError):
        day = date.fromisoformat(str(raw))
        if _EARLIEST <= day <= _LATEST:
            return day
    return None


@dataclass(frozen=True)
class ActivityFilters:
    """The activity list's filters. Values that cannot be read are left out (their names in ``ignored``), never
    passed to the database: the list still answers, and says which it ignored."""

    query: str = ""
    kind: str = ""
    state: str = DEFAULT_STATE
    owner: str = ""  # "me" or a user's id
    team: str = ""  # a team's id
    record: str = ""  # one of RECORD_TYPES
    due_from: date | None = None
    due_to: date | None = None
    ignored: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_params(cls, params, *, default_state: str = DEFAULT_STATE) -> ActivityFilters:
        """Read ``q``, ``kind``, ``state`` (``status``: its older name, still used by links to the export),
        ``owner``, ``team``, ``record``, ``due_from`` and ``due_to`` from a query string."""
        ignored: list[str] = []

        def pick(name: str, valid) -> str:
            value = str(params.get(name, "") or "")
            if value and not valid(value):
                ignored.append(name)
                return ""
            return value

        state_name = "state" if params.get("state") else "status"
        state = pick(state_name, lambda value: value in STATES) or default_state
        kind = pick("kind", lambda value: value in ActivityKind.values)
        owner = pick("owner", lambda value: value == "me" or chosen_id(value) is not None)
        team = pick("team", lambda value: chosen_id(value) is not None)
        record = pick("record", lambda value: value in RECORD_TYPES)
        days = {}
        for name in ("due_from", "due_to"):
            days[name] = _day(params.get(name)) if params.get(name) else None
            if params.get(name) and days[name] is None:
                ignored.append(name)
        query = " ".join(str(params.get("q", "") or "").replace("\x00", "").split())[:100]
        return cls(
            query=query,
            kind=kind,
            state=state,
            owner=str(chosen_id(owner)) if owner not in ("", "me") else owner,
            team=str(chosen_id(team)) if team else "",
            record=record,
            due_from=days["due_from"],
            due_to=days["due_to"],
            ignored=tuple(ignored),
        )

    def as_params(self) -> dict[str, str]:
        """The filters as a query string's parameters (the export link, the state chips), state always given."""
        params = {
            "q": self.query,
            "kind": self.kind,
            "state": self.state,
            "owner": self.owner,
            "team": self.team,
            "record": self.record,
            "due_from": self.due_from.isoformat() if self.due_from else "",
            "due_to": self.due_to.isoformat() if self.due_to else "",
        }
        return {name: value for name, value in params.items() if value}

    @property
    def narrowed(self) -> bool:
        """Whether anything but the state narrows the list."""
        return any(value for name, value in self.as_params().items() if name != "state")


# subject, details and outcome as one upper-case text: what the pair index of migration crm/0035 is built on
_SEARCHED = 'upper("crm_activity"."subject" || \' \' || "crm_activity"."body" || \' \' || "crm_activity"."outcome")'
_BY_PAIR = f"crm_bigrams({_SEARCHED}) @> crm_bigrams(upper(%s))"


def activity_text_contains(term: str) -> Q:
    """Activities whose subject, details or outcome contain ``term`` (any case). A two-character term — most
    Chinese words — is looked up in the GIN index of character pairs (``crm_bigrams``): containing its one pair
    is containing the term, and a word found nowhere answers in milliseconds instead of scanning the company's
    activities. Other lengths are ``icontains`` on the three fields: with a longer term the pairs are only a
    pre-filter, and PostgreSQL then misjudges how many rows the ``LIKE`` keeps (docs/performance.md)."""
    if len(term) == 2:
        return Q(RawSQL(_BY_PAIR, (term,), output_field=BooleanField()))  # noqa: S611 - fixed SQL, bound term
    return Q(subject__icontains=term) | Q(body__icontains=term) | Q(outcome__icontains=term)


def _narrowed(actor: Actor | None, filters: ActivityFilters) -> QuerySet[Activity]:
    """The visible activities narrowed by every filter but the state."""
    qs = activities_visible_to(actor)
    for term in filters.query.split():
        qs = qs.filter(activity_text_contains(term))
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.owner == "me":
        qs = qs.filter(owner=actor.user) if actor is not None else qs.none()
    elif filters.owner:
        qs = qs.filter(owner_id=int(filters.owner))
    if filters.team:
        qs = qs.filter(team_id=int(filters.team))
    if filters.record:
        more_specific = RECORD_TYPES[: RECORD_TYPES.index(filters.record)]
        qs = qs.filter(**{f"{filters.record}__isnull": False}, **{f"{name}__isnull": True for name in more_specific})
    if filters.due_from:
        qs = qs.filter(due_at__gte=day_start(filters.due_from))
    if filters.due_to:
        qs = qs.filter(due_at__lt=day_start(filters.due_to + timedelta(days=1)))
    return qs


def _state_conditions(today: date) -> dict[str, Q]:
    start, end = day_start(today), day_start(today + timedelta(days=1))
    open_ = Q(done_at__isnull=True)
    return {
        "open": open_,
        "overdue": open_ & Q(due_at__lt=start),
        "today": open_ & Q(due_at__gte=start, due_at__lt=end),
        "upcoming": open_ & Q(due_at__gte=end),
        "done": Q(done_at__isnull=False),
    }


def activities_filtered(actor: Actor | None, filters: ActivityFilters) -> QuerySet[Activity]:
    """The activities the actor may see that match ``filters``, with owner, team and linked records in the same
    query (``activities_visible_to``). Unordered beyond the model's default: order with
    ``default_order(filters.state)`` or a sort."""
    qs = _narrowed(actor, filters)
    condition = _state_conditions(timezone.localdate()).get(filters.state)
    return qs.filter(condition) if condition is not None else qs


def default_order(state: str) -> tuple:
    """The list's order when no column is chosen: open activities by due date (undated last), done ones latest
    first, and "all" the latest made first (``crm_activity_company_created``; putting the open ones first needs a
    sort of every row: 3.8 s on a million)."""
    if state == "done":
        return LATEST_DONE
    if state in ("open", "overdue", "today", "upcoming"):
        return OPEN_BY_DUE
    return LATEST_MADE


def activity_state_counts(actor: Actor | None, filters: ActivityFilters) -> dict[str, int]:
    """How many of the activities matching ``filters`` (the state aside) are in each state: one query, remembered
    until an activity of the database changes (``suite.api.counting``: keyed on the query's SQL — scope, filters
    and today's bounds are in it — and the audit version of the activity table; at most ``COUNT_TTL`` seconds).
    Over a whole company's million activities the query reads every row (~0.1–0.15 s); the list's page itself is
    an index walk."""
    conditions = _state_conditions(timezone.localdate())
    aggregates = {name: Count("pk", filter=condition) for name, condition in conditions.items()}
    queryset = _narrowed(actor, filters).select_related(None).order_by()
    compiled = queryset.annotate(all=Count("pk"), **aggregates).values("all", *aggregates).query
    sql, params = compiled.get_compiler(queryset.db).as_sql()
    counts = remembered_count(
        Activity,
        sql,
        params,
        audit_versions([Activity], using=queryset.db),
        lambda: queryset.aggregate(all=Count("pk"), **aggregates),
        using=queryset.db,
    )
    return {name: counts[name] or 0 for name in STATES}


# ---------------------------------------------------------------- the calendar (日程)

CALENDAR_MAX = 1500  # activities one month grid reads; beyond it the grid says so and the list has them all
CALENDAR_PER_DAY = 5


@dataclass(frozen=True)
class CalendarDay:
    day: date
    in_month: bool
    activities: list[Activity]
    more: int  # beyond the ones shown


@dataclass(frozen=True)
class Calendar:
    month: date  # its first day
    weeks: list[list[CalendarDay]]
    first: date  # the grid's first and last day (whole weeks)
    last: date
    truncated: bool  # more than CALENDAR_MAX activities in the grid


def activity_calendar(
    actor: Actor | None, filters: ActivityFilters, *, month: date, first_weekday: int = 0
) -> Calendar:
    """A month of the activities the actor may see that match ``filters`` (state and due dates aside), as whole
    weeks starting on ``first_weekday`` (Python's: Monday 0): each day's activities due that day, earliest first,
    at most ``CALENDAR_PER_DAY`` shown with how many more. One query (``crm_activity_open_due_company`` serves the
    due-date range), at most ``CALENDAR_MAX`` rows."""
    start = month.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    first = start - timedelta(days=(start.weekday() - first_weekday) % 7)
    last = end + timedelta(days=(first_weekday - 1 - end.weekday()) % 7)
    narrowed = _narrowed(
        actor,
        ActivityFilters(
            query=filters.query,
            kind=filters.kind,
            owner=filters.owner,
            team=filters.team,
            record=filters.record,
            due_from=first,
            due_to=last,
        ),
    )
    rows = list(narrowed.select_related(None).select_related("owner").order_by("due_at", "pk")[: CALENDAR_MAX + 1])
    by_day: dict[date, list[Activity]] = {}
    for activity in rows[:CALENDAR_MAX]:
        by_day.setdefault(timezone.localdate(activity.due_at), []).append(activity)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    cells = [
        CalendarDay(
            day=day,
            in_month=day.month == start.month,
            activities=by_day.get(day, [])[:CALENDAR_PER_DAY],
            more=max(0, len(by_day.get(day, [])) - CALENDAR_PER_DAY),
        )
        for day in days
    ]
    weeks = [cells[n : n + 7] for n in range(0, len(cells), 7)]
    return Calendar(month=start, weeks=weeks, first=first, last=last, truncated=len(rows) > CALENDAR_MAX)


# ---------------------------------------------------------------- the calendar subscription (日程订阅)

FEED_PAST_DAYS = 60  # a subscribed calendar shows activities due from this many days back …
FEED_AHEAD_DAYS = 365  # … to this many days ahead
FEED_MAX = 2000  # at most this many, earliest first
# what a feed's entry says of its record (each one's ``str()``): the rest of their rows is left in the database
FEED_RECORD_FIELDS = {
    "ticket": ("number", "subject"),
    "opportunity": ("name",),
    "lead": ("name", "company_name"),
    "contact": ("name", "name_en"),
    "account": ("name", "name_en"),
}
_FEED_ACTIVITY_FIELDS = ("kind", "subject", "body", "due_at", "done_at", "duration_minutes", "location", "updated_at")


def calendar_feed_of(actor: Actor | None) -> CalendarFeed | None:
    """The actor's own calendar subscription in their company, if they made one."""
    if actor is None:
        return None
    return CalendarFeed.objects.filter(company_id=actor.company_id, user_id=actor.user.pk).first()


def calendar_feed_activities(actor: Actor | None) -> list[Activity]:
    """The activities of the actor's calendar subscription: those the actor *owns* in their company, as the policy
    lets them see them (``policy.scope``: a role that sees no activity gets none), with a due date from
    ``FEED_PAST_DAYS`` days before today to ``FEED_AHEAD_DAYS`` days after (local days), done or not, earliest
    first, at most ``FEED_MAX``. Each with its linked records (their names only) in the same query: one query."""
    if actor is None:
        return []
    today = timezone.localdate()
    start = day_start(today - timedelta(days=FEED_PAST_DAYS))
    end = day_start(today + timedelta(days=FEED_AHEAD_DAYS + 1))
    record_fields = [f"{name}__{field}" for name, fields in FEED_RECORD_FIELDS.items() for field in fields]
    rows = (
        policy.scope(actor, Activity.objects.all())
        .filter(owner_id=actor.user.pk, due_at__gte=start, due_at__lt=end)
        .select_related(*FEED_RECORD_FIELDS)
        .only(*_FEED_ACTIVITY_FIELDS, *FEED_RECORD_FIELDS, *record_fields)
        .order_by("due_at", "pk")
    )
    return list(rows[:FEED_MAX])
