"""The service dashboard (issue #7): SLA attainment (first response and resolution) per priority and agent, CSAT
average and distribution, top categories and the ticket volume trend; every figure links to the ticket list
filtered the same way (period, team, agent, product, priority, category).

Registered from ``CrmConfig.ready()``; figures come from ``crm.selectors_dashboards_service`` (policy-scoped)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from crm import selectors_dashboards_service as selectors
from suite import dashboards
from suite.dashboards import KPI, Chart, Dashboard, Filters, Series, Table
from suite.models import Role

ROLES = frozenset({Role.ADMIN, Role.MANAGER, Role.SERVICE})


def tickets_url(filters: Filters, **extra) -> str:
    """The ticket list with the dashboard's filters (opened in the period, all statuses) and ``extra`` ones."""
    return f"{reverse('crm:ticket-list')}?{filters.querystring(status='all', **extra)}"


def build(filters: Filters) -> list:
    """The widgets of the service dashboard. Seven queries at most whatever the data."""
    actor = filters.actor
    common = {
        "date_from": filters.date_from,
        "date_to": filters.date_to,
        "team_id": filters.team_id,
        "agent_id": filters.owner_id,
        "product_id": filters.product_id,
    }
    by_priority = selectors.service_figures(actor, group_by="priority", **common)
    by_agent = selectors.service_figures(actor, group_by="agent", **common)
    by_category = selectors.service_figures(actor, group_by="category", **common)
    csat = selectors.csat_distribution(actor, **common)
    trend = selectors.ticket_volume_trend(actor, granularity=filters.granularity, **common)
    total = by_priority[-1]
    priorities = by_priority[:-1]
    agents = by_agent[:-1]
    categories = by_category[:-1][:10]

    periods = filters.periods()
    buckets = {filters.bucket_label(bucket.period): bucket for bucket in trend}
    labels = [label for label, _start, _end in periods]
    period_urls = [tickets_url(filters.with_(date_from=start, date_to=end)) for _label, start, end in periods]

    def trend_series(name, attribute: str) -> Series:
        return Series(
            name, [getattr(buckets[label], attribute) if label in buckets else 0 for label in labels], period_urls
        )

    return [
        KPI("tickets", _("Tickets opened"), total.volume, drill_url=tickets_url(filters)),
        KPI(
            "first_response_attainment",
            _("First response within SLA"),
            total.first_response_attainment,
            unit="%",
            drill_url=tickets_url(filters),
        ),
        KPI(
            "resolution_attainment",
            _("Resolved within SLA"),
            total.resolution_attainment,
            unit="%",
            drill_url=tickets_url(filters),
        ),
        KPI(
            "breached",
            _("Tickets that missed an SLA target"),
            sum(bucket.breached for bucket in trend),
            drill_url=tickets_url(filters, breached=1),
        ),
        KPI(
            "csat_average",
            _("CSAT average (1–5)"),
            csat.average,
            drill_url=tickets_url(filters),
            hint=_("%(n)s answers") % {"n": csat.answers},
        ),
        Chart(
            "sla_by_priority",
            _("SLA attainment per priority (%)"),
            "bar",
            [row.label for row in priorities],
            [
                Series(
                    _("First response"),
                    [row.first_response_attainment for row in priorities],
                    [tickets_url(filters, priority=row.key) for row in priorities],
                ),
                Series(
                    _("Resolution"),
                    [row.resolution_attainment for row in priorities],
                    [tickets_url(filters, priority=row.key) for row in priorities],
                ),
            ],
        ),
        Table(
            "sla_by_agent",
            _("SLA attainment and CSAT per agent"),
            [_("Agent"), _("Tickets"), _("Resolved"), _("First response %"), _("Resolution %"), _("CSAT")],
            [
                [
                    row.label or str(_("Unassigned")),
                    row.volume,
                    row.resolved,
                    row.first_response_attainment,
                    row.resolution_attainment,
                    row.csat_average,
                ]
                for row in agents
            ],
            [tickets_url(filters, agent=row.key) if row.key else None for row in agents],
        ),
        Chart(
            "csat_distribution",
            _("CSAT answers per score"),
            "bar",
            [str(score) for score in range(1, 6)],
            [Series(_("Answers"), [csat.counts[score] for score in range(1, 6)])],
        ),
        Chart(
            "top_categories",
            _("Top categories"),
            "hbar",
            [row.label or str(_("No category")) for row in categories],
            [
                Series(
                    _("Tickets"),
                    [row.volume for row in categories],
                    [tickets_url(filters, category=row.key or "none") for row in categories],
                )
            ],
        ),
        Chart(
            "volume_trend",
            _("Tickets opened"),
            "line",
            labels,
            [
                trend_series(_("Opened"), "opened"),
                trend_series(_("Resolved"), "resolved"),
                trend_series(_("Missed SLA"), "breached"),
            ],
        ),
    ]


dashboards.register(
    Dashboard(
        "service",
        _("Service"),
        build,
        module="crm",
        roles=ROLES,
        filters=frozenset({"period", "team", "owner", "product"}),
        order=40,
        description=_("SLA attainment, satisfaction and top categories of service tickets."),
    )
)
