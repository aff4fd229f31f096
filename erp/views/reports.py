"""Financial statements in the UI: trial balance (科目余额表), balance sheet (资产负债表), income statement
(利润表), cash-flow statement (现金流量表), each for a period range with a comparative range, each figure a link
to the entries behind it (the general ledger of the account, or the cash-flow drill-down), each exportable as
XLSX (``?export=xlsx``) and printable (``?print=1``: the page without the shell, for the browser's "Save as PDF").

Reads through ``erp.selectors.finance`` / ``erp.selectors.reports``; policy: ``view`` on the period balances
(``export`` for the file).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import render
from django.utils.translation import gettext as _

from erp.models import Account, AccountPeriodBalance, CashFlowLine, FiscalPeriod
from erp.selectors import finance as finance_selectors
from erp.selectors import reports as report_selectors
from suite import policy
from suite.ui.records import actor_required


def _require(actor, action: str = "view") -> None:
    if not policy.can(actor, action, AccountPeriodBalance):
        raise PermissionDenied


def _periods(actor) -> list[FiscalPeriod]:
    return list(policy.scope(actor, FiscalPeriod.objects.all()).select_related("fiscal_year").order_by("start_date"))


def _pick(periods: list[FiscalPeriod], raw: str | None) -> FiscalPeriod | None:
    try:
        pk = int(raw or 0)
    except ValueError:
        return None
    return next((p for p in periods if p.pk == pk), None)


def _range(request, periods):
    """The chosen periods (default: the latest period with a date not after today, else the last one)."""
    from django.utils import timezone

    today = timezone.localdate()
    current = [p for p in periods if p.start_date <= today] or periods
    default = current[-1] if current else None
    period_from = _pick(periods, request.GET.get("period_from")) or default
    period_to = _pick(periods, request.GET.get("period_to")) or period_from
    compare_from = _pick(periods, request.GET.get("compare_from"))
    compare_to = _pick(periods, request.GET.get("compare_to")) or compare_from
    if period_from and period_to and period_to.start_date < period_from.start_date:
        period_to = period_from
    if compare_from and compare_to and compare_to.start_date < compare_from.start_date:
        compare_to = compare_from
    return period_from, period_to, compare_from, compare_to


EXPORTS = ("xlsx", "pdf")


def _xlsx(request, actor, title: str, header: list, rows: list[list]):
    """The report as a file: ``?export=xlsx`` (openpyxl) or ``?export=pdf`` (reportlab)."""
    from erp.api.finance import _xlsx as workbook

    _require(actor, "export")
    if request.GET.get("export") == "pdf":
        from erp.report_pdf import report_pdf

        company = actor.company
        periods = {str(p.pk): p.name for p in _periods(actor)}
        chosen = [periods.get(request.GET.get(k, ""), "") for k in ("period_from", "period_to")]
        subtitle = f"{company.name} · " + " – ".join(dict.fromkeys(c for c in chosen if c))
        return report_pdf(
            filename=title, title=REPORT_TITLES.get(title, title), subtitle=subtitle, header=header, rows=rows
        )
    return workbook(title, header, rows)


REPORT_TITLES = {
    "trial-balance": "科目余额表 Trial balance",
    "balance-sheet": "资产负债表 Balance sheet",
    "income-statement": "利润表 Income statement",
    "cash-flow": "现金流量表 Cash-flow statement",
}


def _context(request, actor, report_key: str, title: str):
    periods = _periods(actor)
    period_from, period_to, compare_from, compare_to = _range(request, periods)
    return {
        "report_key": report_key,
        "report_title": title,
        "periods": periods,
        "period_from": period_from,
        "period_to": period_to,
        "compare_from": compare_from,
        "compare_to": compare_to,
        "printable": request.GET.get("print") == "1",
        "can_export": policy.can(actor, "export", AccountPeriodBalance),
        "query": request.GET.urlencode(),
    }


def _page(request, template: str, context: dict):
    return render(request, template, context)


@actor_required
def trial_balance(request):
    actor = request.actor
    _require(actor)
    context = _context(request, actor, "trial-balance", _("Trial balance"))
    if context["period_from"] is not None:
        report = finance_selectors.trial_balance(period_from=context["period_from"], period_to=context["period_to"])
        context["report"] = report
        if context["compare_from"] is not None:
            compare = finance_selectors.trial_balance(
                period_from=context["compare_from"], period_to=context["compare_to"]
            )
            by_account = {row.account_id: row for row in compare.rows}
            for row in report.rows:
                row.compare = by_account.get(row.account_id)
        if request.GET.get("export") in EXPORTS:
            header = [
                _("code"),
                _("name"),
                _("opening debit"),
                _("opening credit"),
                _("debit"),
                _("credit"),
                _("closing debit"),
                _("closing credit"),
            ]
            rows = [
                [
                    "  " * r.depth + r.code,
                    r.name,
                    r.opening_debit,
                    r.opening_credit,
                    r.period_debit,
                    r.period_credit,
                    r.closing_debit,
                    r.closing_credit,
                ]
                for r in [*report.rows, report.totals]
            ]
            return _xlsx(request, actor, "trial-balance", header, rows)
    return _page(request, "erp/reports/trial_balance.html", context)


def _statement_rows(sections) -> list[list]:
    rows = []
    for section in sections:
        rows.append([section.name, "", None, None])
        rows += [[row.key, row.name, row.amount, row.compare_amount] for row in section.rows]
        rows.append(["", _("Total"), section.total, section.compare_total])
    return rows


@actor_required
def balance_sheet(request):
    actor = request.actor
    _require(actor)
    context = _context(request, actor, "balance-sheet", _("Balance sheet"))
    period = context["period_to"]
    if period is not None:
        report = finance_selectors.balance_sheet(period=period, compare_period=context["compare_to"])
        context["report"] = report
        context["sections"] = [report.assets, report.liabilities, report.equity]
        context["first_period"] = context["periods"][0] if context["periods"] else period
        if request.GET.get("export") in EXPORTS:
            rows = _statement_rows(context["sections"])
            rows.append(
                [
                    "",
                    _("Liabilities and equity"),
                    report.total_liabilities_and_equity,
                    report.compare_total_liabilities_and_equity,
                ]
            )
            return _xlsx(request, actor, "balance-sheet", [_("code"), _("name"), _("amount"), _("comparative")], rows)
    return _page(request, "erp/reports/statement.html", context)


@actor_required
def income_statement(request):
    actor = request.actor
    _require(actor)
    context = _context(request, actor, "income-statement", _("Income statement"))
    if context["period_from"] is not None:
        report = finance_selectors.income_statement(
            period_from=context["period_from"],
            period_to=context["period_to"],
            compare_from=context["compare_from"],
            compare_to=context["compare_to"],
        )
        context["report"] = report
        context["sections"] = [report.income, report.expenses]
        context["first_period"] = context["period_from"]
        if request.GET.get("export") in EXPORTS:
            rows = _statement_rows(context["sections"])
            rows.append(["", _("Net profit"), report.net_profit, report.compare_net_profit])
            return _xlsx(
                request, actor, "income-statement", [_("code"), _("name"), _("amount"), _("comparative")], rows
            )
    return _page(request, "erp/reports/statement.html", context)


@actor_required
def cash_flow(request):
    actor = request.actor
    _require(actor)
    context = _context(request, actor, "cash-flow", _("Cash-flow statement"))
    if context["period_from"] is not None:
        report = report_selectors.cash_flow_statement(
            period_from=context["period_from"],
            period_to=context["period_to"],
            compare_from=context["compare_from"],
            compare_to=context["compare_to"],
        )
        context["report"] = report
        if request.GET.get("export") in EXPORTS:
            from erp.api.budgets import cash_flow_rows

            return _xlsx(
                request, actor, "cash-flow", [_("line"), _("amount"), _("comparative")], cash_flow_rows(report)
            )
    return _page(request, "erp/reports/cash_flow.html", context)


@actor_required
def general_ledger(request):
    """The drill-down of an account figure: its posted lines in the periods with a running balance."""
    actor = request.actor
    _require(actor)
    context = _context(request, actor, "general-ledger", _("General ledger"))
    account = policy.scope(actor, Account.objects.all()).filter(pk=_int(request.GET.get("account"))).first()
    context["account"] = account
    context["accounts"] = policy.scope(actor, Account.objects.all()).order_by("code")
    if account is not None and context["period_from"] is not None:
        try:
            offset = max(0, _int(request.GET.get("offset")))
            context["report"] = finance_selectors.general_ledger(
                account=account,
                period_from=context["period_from"],
                period_to=context["period_to"],
                offset=offset,
                limit=200,
            )
        except ValidationError as exc:
            context["error"] = "; ".join(exc.messages)
    return _page(request, "erp/reports/general_ledger.html", context)


@actor_required
def cash_flow_drilldown(request):
    """The counterpart lines behind one cash-flow figure."""
    actor = request.actor
    _require(actor)
    context = _context(request, actor, "cash-flow", _("Cash-flow statement"))
    line = request.GET.get("line", "")
    if line not in CashFlowLine.values or context["period_from"] is None:
        raise PermissionDenied
    lines, count = report_selectors.cash_flow_drilldown(
        line=line,
        period_from=context["period_from"],
        period_to=context["period_to"],
        offset=max(0, _int(request.GET.get("offset"))),
        limit=200,
    )
    context.update({"line_label": CashFlowLine(line).label, "lines": lines, "count": count})
    return _page(request, "erp/reports/cash_flow_drilldown.html", context)


def _int(raw) -> int:
    try:
        return int(raw or 0)
    except (TypeError, ValueError):
        return 0
