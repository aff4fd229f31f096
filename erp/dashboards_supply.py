"""The supply & production dashboard (issue #7): stock value by warehouse and category, stock-outs, ATP risk on
open sales orders, on-time completion of production orders and defect rates by product with the complaints that
came from the field. Figures link to the stock levels page, the sales orders at risk, the production orders and
the quality page, filtered the same way.

Registered from ``ErpConfig.ready()``; figures come from ``erp.selectors.dashboards_supply`` (policy-scoped)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from erp.selectors import dashboards_supply as selectors
from suite import dashboards
from suite.dashboards import KPI, Chart, Dashboard, Filters, Series, Table
from suite.models import Role

ROLES = frozenset({Role.ADMIN, Role.MANAGER, Role.WAREHOUSE, Role.PRODUCTION})


def _url(name: str, **params) -> str:
    query = urlencode({key: value for key, value in params.items() if value not in (None, "")})
    return f"{reverse(name)}?{query}" if query else reverse(name)


def build(filters: Filters) -> list:
    """The widgets of the supply & production dashboard. Nine queries whatever the data."""
    actor, product = filters.actor, filters.product_id
    by_warehouse = selectors.stock_value(actor, group_by="warehouse", product_id=product)
    by_category = selectors.stock_value(actor, group_by="category", product_id=product)
    outs = selectors.stock_outs(actor, product_id=product)
    risk = selectors.atp_risk(actor, team_id=filters.team_id, owner_id=filters.owner_id, product_id=product)
    period = {"date_from": filters.date_from, "date_to": filters.date_to}
    completion = selectors.on_time_completion(actor, granularity=filters.granularity, product_id=product, **period)
    overdue = selectors.overdue_production_orders(actor, product_id=product)
    defects = selectors.defect_rates_by_product(actor, product_id=product, **period)[:10]

    periods = filters.periods()
    buckets = {filters.bucket_label(bucket.period): bucket for bucket in completion}
    labels = [label for label, _start, _end in periods]
    done = sum(bucket.done for bucket in completion)
    on_time = sum(bucket.on_time for bucket in completion)
    stock_url = "erp:stock-levels"
    risk_params = {"at_risk": 1, "team": filters.team_id, "owner": filters.owner_id, "product": product}

    def production_url(**extra) -> str:
        return _url("erp:production-order-list", state="done", product=product, **extra)

    return [
        KPI(
            "stock_value",
            _("Stock value"),
            sum((row.value for row in by_warehouse), Decimal("0.00")),
            money=True,
            drill_url=_url(stock_url, product=product),
        ),
        KPI(
            "stock_outs",
            _("Items out of stock"),
            outs.out_of_stock,
            drill_url=_url(stock_url, below="zero", product=product),
        ),
        KPI(
            "below_safety",
            _("Items at or below safety stock"),
            outs.below_safety,
            drill_url=_url(stock_url, below="safety", product=product),
        ),
        KPI(
            "atp_risk_lines",
            _("Open order lines at risk"),
            risk.risk_lines,
            drill_url=_url("erp:sales-order-list", **risk_params),
            hint=_("of %(n)s open lines; %(u)s without a promise") % {"n": risk.open_lines, "u": risk.uncovered_lines},
        ),
        KPI(
            "atp_risk_value",
            _("Value at risk"),
            risk.risk_value,
            money=True,
            drill_url=_url("erp:sales-order-list", **risk_params),
        ),
        KPI(
            "on_time_completion",
            _("Production orders done on time"),
            (Decimal(on_time) * 100 / done).quantize(Decimal("0.1")) if done else None,
            unit="%",
            drill_url=production_url(done_from=filters.date_from, done_to=filters.date_to),
            hint=_("%(on_time)s of %(done)s") % {"on_time": on_time, "done": done},
        ),
        KPI(
            "overdue_production",
            _("Production orders overdue"),
            overdue,
            drill_url=_url("erp:production-order-list", overdue=1, product=product),
        ),
        Chart(
            "stock_value_by_warehouse",
            _("Stock value per warehouse"),
            "bar",
            [row.label for row in by_warehouse],
            [
                Series(
                    _("Value"),
                    [row.value for row in by_warehouse],
                    [_url(stock_url, warehouse=row.key, product=product) for row in by_warehouse],
                )
            ],
            money=True,
        ),
        Chart(
            "stock_value_by_category",
            _("Stock value per category"),
            "doughnut",
            [row.label or str(_("No category")) for row in by_category],
            [
                Series(
                    _("Value"),
                    [row.value for row in by_category],
                    [_url(stock_url, category=row.key or "none", product=product) for row in by_category],
                )
            ],
            money=True,
        ),
        Table(
            "stock_out_items",
            _("Stock-outs and items below safety stock"),
            [_("SKU"), _("Product"), _("On hand"), _("Safety stock")],
            [[item.sku, item.name, item.on_hand, item.safety_stock] for item in outs.items],
            [_url(stock_url, product=item.product_id) for item in outs.items],
        ),
        Table(
            "atp_risk",
            _("Open order lines at risk"),
            [_("Order"), _("Customer"), _("SKU"), _("Open quantity"), _("Requested"), _("Promised"), _("Days late")],
            [
                [
                    line.order_number,
                    line.customer,
                    line.sku,
                    line.open_quantity,
                    line.requested_date,
                    line.promised_date,
                    line.days_late,
                ]
                for line in risk.lines
            ],
            [reverse("erp:sales-order-detail", args=[line.order_id]) for line in risk.lines],
        ),
        Chart(
            "completion_trend",
            _("Production orders finished"),
            "bar",
            labels,
            [
                Series(
                    _("On time"),
                    [buckets[label].on_time if label in buckets else 0 for label in labels],
                    [production_url(done_from=start, done_to=end, late=0) for _label, start, end in periods],
                ),
                Series(
                    _("Late"),
                    [buckets[label].done - buckets[label].on_time if label in buckets else 0 for label in labels],
                    [production_url(done_from=start, done_to=end, late=1) for _label, start, end in periods],
                ),
            ],
            stacked=True,
        ),
        Chart(
            "defect_rate",
            _("Defect rate per product (%)"),
            "hbar",
            [row.sku for row in defects],
            [
                Series(
                    _("Defect rate"),
                    [row.rate for row in defects],
                    [_url("erp:production-quality", product=row.product_id) for row in defects],
                ),
                Series(
                    _("Field complaints"),
                    [row.field_complaints for row in defects],
                    [_url("erp:production-quality", product=row.product_id, field=1) for row in defects],
                ),
            ],
        ),
    ]


dashboards.register(
    Dashboard(
        "supply",
        _("Supply & production"),
        build,
        module="erp_supply",
        roles=ROLES,
        filters=frozenset({"period", "team", "owner", "product"}),
        order=60,
        description=_("Stock value, stock-outs, ATP risk, on-time production and defect rates."),
    )
)
