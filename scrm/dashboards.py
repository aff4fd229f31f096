"""The social dashboard (issue #7): inbox response times per channel and agent, SLA attainment, sentiment trend
per week and UGC volume per channel, each linking to the inbox or the UGC wall filtered the same way.

Registered from ``ScrmConfig.ready()``; figures come from ``scrm.selectors_dashboards`` (policy-scoped)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from scrm import selectors_dashboards as selectors
from suite import dashboards
from suite.dashboards import KPI, Chart, Dashboard, Filters, Series, Table
from suite.models import Role

ROLES = frozenset({Role.ADMIN, Role.MANAGER, Role.MARKETING, Role.SERVICE})


def _inbox(filters: Filters, **extra) -> str:
    return f"{reverse('scrm:inbox')}?{filters.querystring(status='all', **extra)}"


def _ugc(filters: Filters, **extra) -> str:
    params = {"date_from": filters.date_from.isoformat(), "date_to": filters.date_to.isoformat()}
    params.update({key: value for key, value in extra.items() if value is not None})
    return f"{reverse('scrm:ugc-wall')}?{urlencode(params)}"


def build(filters: Filters) -> list:
    """The widgets of the social dashboard. Two queries whatever the data."""
    actor = filters.actor
    scope = {"team_id": filters.team_id, "owner_id": filters.owner_id}
    period = {"date_from": filters.date_from, "date_to": filters.date_to}
    by_channel, by_agent = selectors.response_times_both(actor, **period, **scope)
    weekly, volumes = selectors.ugc_trend_and_volumes(actor, granularity="week", **period)
    total = by_channel[-1]
    channels = by_channel[:-1]
    agents = by_agent[:-1]
    target = int(selectors.FIRST_RESPONSE_TARGET.total_seconds() // 60)

    week_filters = filters.with_(granularity="week")
    buckets = week_filters.periods()
    counts = {week_filters.bucket_label(bucket.period): bucket for bucket in weekly}
    labels = [label for label, _start, _end in buckets]

    def week_series(name, attribute: str) -> Series:
        return Series(
            name,
            [getattr(counts[label], attribute) if label in counts else 0 for label in labels],
            [_ugc(filters.with_(date_from=start, date_to=end), sentiment=attribute) for _label, start, end in buckets],
        )

    posts = sum(volume.posts for volume in volumes)
    negative = sum(volume.negative for volume in volumes)
    return [
        KPI("conversations", _("Conversations started"), total.conversations, drill_url=_inbox(filters)),
        KPI(
            "first_response_p50",
            _("First response, median"),
            total.p50_minutes,
            unit=_("min"),
            drill_url=_inbox(filters),
        ),
        KPI(
            "first_response_p90",
            _("First response, 90th percentile"),
            total.p90_minutes,
            unit=_("min"),
            drill_url=_inbox(filters),
        ),
        KPI(
            "sla_attainment",
            _("First response within target"),
            total.attainment,
            unit="%",
            drill_url=_inbox(filters),
            hint=_("Target: %(minutes)s minutes") % {"minutes": target},
        ),
        KPI("ugc_posts", _("UGC posts"), posts, drill_url=_ugc(filters)),
        KPI("ugc_negative", _("Negative posts"), negative, drill_url=_ugc(filters, sentiment="negative")),
        Chart(
            "response_by_channel",
            _("First response per channel (minutes)"),
            "bar",
            [row.label for row in channels],
            [
                Series(
                    _("Median"),
                    [row.p50_minutes for row in channels],
                    [_inbox(filters, channel=row.key) for row in channels],
                ),
                Series(_("90th percentile"), [row.p90_minutes for row in channels]),
            ],
        ),
        Table(
            "response_by_agent",
            _("First response per agent"),
            [
                _("Agent"),
                _("Conversations"),
                _("Answered"),
                _("Median (min)"),
                _("90th pct (min)"),
                _("Within target %"),
            ],
            [
                [
                    row.label or str(_("Unassigned")),
                    row.conversations,
                    row.answered,
                    row.p50_minutes,
                    row.p90_minutes,
                    row.attainment,
                ]
                for row in agents
            ],
            [_inbox(filters, agent=row.key) if row.key else None for row in agents],
        ),
        Chart(
            "sentiment_trend",
            _("Sentiment per week"),
            "bar",
            labels,
            [
                week_series(_("Positive"), "positive"),
                week_series(_("Neutral"), "neutral"),
                week_series(_("Negative"), "negative"),
            ],
            stacked=True,
        ),
        Chart(
            "ugc_by_channel",
            _("UGC per channel"),
            "doughnut",
            [volume.channel_name or str(_("Entered by hand")) for volume in volumes],
            [
                Series(
                    _("Posts"),
                    [volume.posts for volume in volumes],
                    [_ugc(filters, channel=volume.channel_id or "none") for volume in volumes],
                )
            ],
        ),
    ]


dashboards.register(
    Dashboard(
        "social",
        _("Social"),
        build,
        module="scrm",
        roles=ROLES,
        filters=frozenset({"period", "team", "owner"}),
        order=30,
        description=_("Inbox response times, sentiment and UGC."),
    )
)
