"""The finance dashboard (issue #7), registered with ``suite.dashboards`` when the ERP app is ready: cash position,
AR/AP aging, P&L per month and budget variance, each linking to the ledger, the aged report, the invoices and
bills, or the budget behind it."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from erp.models import InvoiceKind
from erp.selectors import dashboards as data
from erp.selectors.receivables import BUCKET_LABELS, BUCKETS
from suite import dashboards, modules
from suite.models import Role

FINANCE_ROLES = frozenset({Role.ADMIN, Role.MANAGER, Role.FINANCE})


def _url(name: str, *args, **params) -> str:
    query = urlencode({key: value for key, value in params.items() if value not in (None, "")})
    return reverse(name, args=args or None) + (f"?{query}" if query else "")


def build_finance(filters: dashboards.Filters) -> list:
    actor = filters.actor
    as_of = filters.date_to
    periods = data.fiscal_periods_in(actor, filters.date_from, filters.date_to)
    first = periods[0].pk if periods else None
    last = periods[-1].pk if periods else None
    cash = data.cash_position(actor, as_of)
    receivable = data.aging(actor, as_of, "receivable")
    payable = data.aging(actor, as_of, "payable")
    pnl = data.pnl_trend(actor, periods)
    budgets = data.budget_variance(actor, periods)
    cash_total = sum((row.balance for row in cash), Decimal("0.00"))
    ledger = "erp:report-general-ledger"
    widgets: list = [
        dashboards.KPI(
            "cash",
            _("Cash position"),
            cash_total,
            money=True,
            drill_url=_url(ledger, account=cash[0].account_id, period_from=first, period_to=last) if cash else None,
            hint=_("Cash and bank accounts at the end of the period"),
        )
    ]
    if receivable is not None:
        overdue = sum((receivable.totals[b] for b in BUCKETS if b != "current"), Decimal("0.00"))
        widgets += [
            dashboards.KPI(
                "receivables",
                _("Receivables"),
                receivable.total,
                money=True,
                drill_url=_url("erp:aged-report", side="receivable", as_of=as_of.isoformat()),
            ),
            dashboards.KPI(
                "overdue",
                _("Overdue receivables"),
                overdue,
                money=True,
                drill_url=_url("erp:aged-report", side="receivable", as_of=as_of.isoformat()),
            ),
            dashboards.KPI(
                "payables",
                _("Payables"),
                payable.total,
                money=True,
                drill_url=_url("erp:aged-report", side="payable", as_of=as_of.isoformat()),
            ),
        ]
    if pnl:
        widgets.append(
            dashboards.KPI(
                "net_profit",
                _("Net profit"),
                sum((month.net for month in pnl), Decimal("0.00")),
                money=True,
                drill_url=_url("erp:report-income-statement", period_from=first, period_to=last),
            )
        )
    widgets.append(
        dashboards.Table(
            "cash_accounts",
            _("Cash and bank accounts"),
            columns=[_("Account"), _("Name"), _("Balance")],
            rows=[[row.code, row.name, row.balance] for row in cash],
            row_urls=[_url(ledger, account=row.account_id, period_from=first, period_to=last) for row in cash],
        )
    )
    if receivable is not None:
        bucket_labels = [BUCKET_LABELS[b] for b in BUCKETS]
        widgets.append(
            dashboards.Chart(
                "aging",
                _("AR / AP aging (days past due)"),
                "bar",
                labels=bucket_labels,
                money=True,
                series=[
                    dashboards.Series(
                        _("Receivables"),
                        [receivable.totals[b] for b in BUCKETS],
                        drill_urls=[_url("erp:aged-report", side="receivable", as_of=as_of.isoformat())] * len(BUCKETS),
                    ),
                    dashboards.Series(
                        _("Payables"),
                        [payable.totals[b] for b in BUCKETS],
                        drill_urls=[_url("erp:aged-report", side="payable", as_of=as_of.isoformat())] * len(BUCKETS),
                    ),
                ],
            )
        )
        top = receivable.rows[:10]
        widgets.append(
            dashboards.Table(
                "top_receivables",
                _("Largest open receivables"),
                columns=[_("Customer"), *bucket_labels, _("Total")],
                rows=[[row.partner_name, *[row.buckets[b] for b in BUCKETS], row.total] for row in top],
                row_urls=[
                    _url("erp:invoice-list", kind=InvoiceKind.OUT_INVOICE, state="posted", q=row.partner_name)
                    for row in top
                ],
            )
        )
    pnl_urls = [_url("erp:report-income-statement", period_from=m.period.pk, period_to=m.period.pk) for m in pnl]
    widgets.append(
        dashboards.Chart(
            "pnl",
            _("Profit and loss per month"),
            "line",
            labels=[f"{m.period.start_date:%Y-%m}" for m in pnl],
            money=True,
            series=[
                dashboards.Series(_("Income"), [m.income for m in pnl], drill_urls=pnl_urls),
                dashboards.Series(_("Expenses"), [m.expenses for m in pnl], drill_urls=pnl_urls),
                dashboards.Series(_("Net profit"), [m.net for m in pnl], drill_urls=pnl_urls),
            ],
        )
    )
    widgets.append(
        dashboards.Table(
            "budget_variance",
            _("Budget variance"),
            columns=[_("Budget"), _("Budgeted"), _("Actual"), _("Variance"), _("Used (%)")],
            rows=[[b.name, b.budgeted, b.actual, b.variance, b.used_percent] for b in budgets],
            row_urls=[reverse("erp:budget-detail", args=[b.budget_id]) for b in budgets],
        )
    )
    return widgets


dashboards.register(
    dashboards.Dashboard(
        "finance",
        gettext_lazy("Finance"),
        build_finance,
        module=modules.ERP_FINANCE,
        roles=FINANCE_ROLES,
        filters=frozenset({"period"}),
        order=50,
        description=gettext_lazy("Cash position, AR/AP aging, profit and loss per month, budget variance."),
    )
)
