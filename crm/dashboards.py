"""The sales and marketing dashboards (issue #7), registered with ``suite.dashboards`` when the CRM app is ready.

Every figure comes from ``crm.selectors_dashboards`` (policy-scoped, aggregated in PostgreSQL) and links to the
records behind it: the opportunity list filtered the same way (``crm.views.opportunities``), then a deal."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import selectors_dashboards as data
from crm.models import CampaignChannel, OpportunityStatus
from suite import dashboards
from suite.models import Role


def _list_url(filters: dashboards.Filters, **extra) -> str:
    return f"{reverse('crm:opportunity-list')}?{filters.querystring(**extra)}"


def build_sales(filters: dashboards.Filters) -> list:
    overview = data.sales_overview(filters)
    summary = overview.summary
    funnel = data.sales_funnel(filters)
    forecast = data.sales_forecast(filters, overview)
    performance = data.sales_performance_all(filters)
    by_owner, by_team = performance["owner"], performance["team"]
    won_url = _list_url(filters, status=OpportunityStatus.WON)
    closed_url = _list_url(filters, status="all")
    open_url = _list_url(filters, status=OpportunityStatus.OPEN)
    widgets: list = [
        dashboards.KPI("won_amount", _("Won"), summary.won_amount, money=True, drill_url=won_url),
        dashboards.KPI("won_count", _("Deals won"), summary.won_count, drill_url=won_url),
        dashboards.KPI(
            "win_rate",
            _("Win rate"),
            summary.win_rate,
            unit="%",
            drill_url=closed_url,
            hint=_("Won of the deals closed in the period"),
        ),
        dashboards.KPI(
            "cycle_days",
            _("Sales cycle"),
            summary.cycle_days,
            unit=_("days"),
            drill_url=won_url,
            hint=_("Average days from creation to win"),
        ),
        dashboards.KPI(
            "weighted_pipeline",
            _("Weighted pipeline"),
            summary.weighted_amount,
            money=True,
            drill_url=open_url,
            hint=_("Open deals expected to close in the period × stage probability"),
        ),
    ]
    widgets.append(
        dashboards.Chart(
            "funnel",
            _("Funnel"),
            "funnel",
            labels=[str(step.stage.name) for step in funnel],
            series=[
                dashboards.Series(
                    _("Deals that reached the stage"),
                    [step.reached for step in funnel],
                    drill_urls=[_list_url(filters, status="all", reached_stage=step.stage.pk) for step in funnel],
                ),
                dashboards.Series(_("Conversion from the previous stage (%)"), [step.conversion for step in funnel]),
            ],
        )
    )
    labels = [point.label for point in forecast]
    widgets.append(
        dashboards.Chart(
            "forecast",
            _("Forecast vs target"),
            "bar",
            labels=labels,
            money=True,
            series=[
                dashboards.Series(
                    _("Weighted pipeline"),
                    [point.weighted for point in forecast],
                    drill_urls=[
                        _list_url(filters.with_(date_from=start, date_to=end), status=OpportunityStatus.OPEN)
                        for _label, start, end in filters.periods()
                    ],
                ),
                dashboards.Series(
                    _("Won"),
                    [point.won for point in forecast],
                    drill_urls=[
                        _list_url(filters.with_(date_from=start, date_to=end), status=OpportunityStatus.WON)
                        for _label, start, end in filters.periods()
                    ],
                ),
                dashboards.Series(_("Target"), [point.target for point in forecast]),
            ],
        )
    )
    for key, title, rows, param in (
        ("by_team", _("Win rate and cycle time per team"), by_team, "team"),
        ("by_owner", _("Win rate and cycle time per owner"), by_owner, "owner"),
    ):
        widgets.append(
            dashboards.Table(
                key,
                title,
                columns=[_("Name"), _("Won"), _("Lost"), _("Won amount"), _("Win rate (%)"), _("Cycle (days)")],
                rows=[
                    [row.name, row.won_count, row.lost_count, row.won_amount, row.win_rate, row.cycle_days]
                    for row in rows
                ],
                row_urls=[
                    _list_url(filters.with_(**{f"{param}_id": row.group_id}), status="all") if row.group_id else None
                    for row in rows
                ],
            )
        )
    return widgets


def build_marketing(filters: dashboards.Filters) -> list:
    rows = data.marketing_campaigns(filters)
    cost = sum((row.cost for row in rows), Decimal(0))
    customers = sum(row.customers for row in rows)
    revenue = sum((row.booked_revenue for row in rows), Decimal(0))
    margin = sum((row.gross_margin for row in rows), Decimal(0))
    cent = Decimal("0.01")

    def ratio(numerator, denominator):
        return (Decimal(numerator) / Decimal(denominator)).quantize(cent) if denominator else None

    campaigns_url = reverse("crm:campaign-list")
    widgets: list = [
        dashboards.KPI("cost", _("Campaign cost"), cost.quantize(cent), money=True, drill_url=campaigns_url),
        dashboards.KPI("booked_revenue", _("Booked revenue"), revenue.quantize(cent), money=True),
        dashboards.KPI("gross_margin", _("Gross margin"), margin.quantize(cent), money=True),
        dashboards.KPI(
            "roi_revenue", _("ROI on revenue"), ratio(revenue - cost, cost), hint=_("(revenue − cost) / cost")
        ),
        dashboards.KPI("roi_margin", _("ROI on margin"), ratio(margin - cost, cost), hint=_("(margin − cost) / cost")),
        dashboards.KPI("customers", _("New customers"), customers),
        dashboards.KPI("cost_per_customer", _("Cost per customer"), ratio(cost, customers), money=True),
    ]
    channel_names = dict(CampaignChannel.choices)
    per_channel: dict[str, dict] = defaultdict(lambda: {"cost": Decimal(0), "customers": 0, "revenue": Decimal(0)})
    for row in rows:
        entry = per_channel[row.campaign.channel]
        entry["cost"] += row.cost
        entry["customers"] += row.customers
        entry["revenue"] += row.booked_revenue
    channels = sorted(per_channel)
    channel_urls = [f"{campaigns_url}?channel={channel}" for channel in channels]
    widgets.append(
        dashboards.Chart(
            "channel_mix",
            _("Channel mix (cost)"),
            "doughnut",
            labels=[str(channel_names.get(channel, channel)) for channel in channels],
            money=True,
            series=[dashboards.Series(_("Cost"), [per_channel[c]["cost"] for c in channels], drill_urls=channel_urls)],
        )
    )
    widgets.append(
        dashboards.Chart(
            "channel_customers",
            _("Customers and revenue per channel"),
            "bar",
            labels=[str(channel_names.get(channel, channel)) for channel in channels],
            series=[
                dashboards.Series(_("Customers"), [per_channel[c]["customers"] for c in channels]),
                dashboards.Series(_("Booked revenue"), [per_channel[c]["revenue"] for c in channels]),
            ],
        )
    )
    widgets.append(
        dashboards.Table(
            "campaigns",
            _("Campaign ROI"),
            columns=[
                _("Campaign"),
                _("Channel"),
                _("Cost"),
                _("Customers"),
                _("Cost per customer"),
                _("Booked revenue"),
                _("Gross margin"),
                _("ROI on revenue"),
                _("ROI on margin"),
            ],
            rows=[
                [
                    row.campaign.name,
                    str(channel_names.get(row.campaign.channel, row.campaign.channel)),
                    row.cost,
                    row.customers,
                    row.cost_per_customer,
                    row.booked_revenue,
                    row.gross_margin,
                    ratio(row.booked_revenue - row.cost, row.cost),
                    row.margin_roi,
                ]
                for row in rows
            ],
            row_urls=[reverse("crm:campaign-detail", args=[row.campaign.pk]) for row in rows],
        )
    )
    return widgets


dashboards.register_choices("product", data.product_choices)

SALES_ROLES = frozenset({Role.ADMIN, Role.MANAGER})
MARKETING_ROLES = frozenset({Role.ADMIN, Role.MANAGER, Role.MARKETING})

dashboards.register(
    dashboards.Dashboard(
        "sales",
        gettext_lazy("Sales"),
        build_sales,
        module="crm",
        roles=SALES_ROLES,
        filters=frozenset({"period", "team", "owner", "product"}),
        order=10,
        default_period=dashboards.range_with_next_quarter,  # the forecast ahead, not only the year behind
        description=gettext_lazy("Funnel, forecast vs target, win rate and cycle time per team and owner."),
    )
)
dashboards.register(
    dashboards.Dashboard(
        "marketing",
        gettext_lazy("Marketing"),
        build_marketing,
        module="crm",
        roles=MARKETING_ROLES,
        filters=frozenset({"period", "team"}),
        order=20,
        description=gettext_lazy("Campaign ROI in booked revenue and margin, cost per customer, channel mix."),
    )
)
