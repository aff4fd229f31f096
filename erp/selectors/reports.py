"""The cash-flow statement (现金流量表, direct method) and the drill-down from a cash-flow figure to its lines.

Cash is what the chart tags ``is_cash`` (1001 库存现金, 1002 银行存款, 1012 其他货币资金). Every posted entry
that moves cash is read from its *other* lines: as the entry balances, their credits are exactly the cash that
came in and their debits the cash that went out, per counterpart account — no allocation needed. Each
counterpart account goes to a line of the statement by its own ``CashFlowMapping``, else its nearest mapped
ancestor's, else the CAS default by account code (``DEFAULT_CASH_FLOW_MAPPING``), else a default by account
type. Transfers between cash accounts have no counterpart and are no cash flow.

Opening and closing cash come from the period balances of the cash accounts, so the statement proves itself:
opening + net increase = closing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q, Sum
from django.utils.translation import gettext_lazy as _

from erp.models import (
    Account,
    AccountPeriodBalance,
    AccountType,
    CashFlowLine,
    CashFlowMapping,
    EntryState,
    FiscalPeriod,
    JournalLine,
)
from erp.selectors.finance import _check_range

ZERO = Decimal("0.00")
L = CashFlowLine

# The order and grouping of the statement (CAS 31): (section key, name, inflow lines, outflow lines).
SECTIONS = (
    (
        "operating",
        _("Cash flows from operating activities"),
        (L.OP_SALES, L.OP_TAX_REFUND, L.OP_OTHER_IN),
        (L.OP_PURCHASES, L.OP_EMPLOYEES, L.OP_TAXES, L.OP_OTHER_OUT),
    ),
    (
        "investing",
        _("Cash flows from investing activities"),
        (L.INV_DISPOSAL_OF_INVESTMENTS, L.INV_RETURNS, L.INV_DISPOSAL_OF_ASSETS),
        (L.INV_ASSETS, L.INV_INVESTMENTS),
    ),
    (
        "financing",
        _("Cash flows from financing activities"),
        (L.FIN_CAPITAL, L.FIN_BORROWINGS),
        (L.FIN_REPAYMENTS, L.FIN_DISTRIBUTIONS),
    ),
)
INFLOW_LINES = frozenset(line for _k, _n, ins, _o in SECTIONS for line in ins)

# CAS defaults by account code (an account's own code first, then its ancestors'): (line for cash received,
# line for cash paid). Sales-side accounts send both ways to the sales line (a refund to a customer reduces the
# cash received from sales); purchase-side ones likewise to purchases.
_SALES = (L.OP_SALES, L.OP_SALES)
_PURCHASES = (L.OP_PURCHASES, L.OP_PURCHASES)
_TAXES = (L.OP_TAX_REFUND, L.OP_TAXES)
_EMPLOYEES = (L.OP_OTHER_IN, L.OP_EMPLOYEES)
_OTHER = (L.OP_OTHER_IN, L.OP_OTHER_OUT)
_INVESTMENTS = (L.INV_DISPOSAL_OF_INVESTMENTS, L.INV_INVESTMENTS)
_RETURNS = (L.INV_RETURNS, L.INV_INVESTMENTS)
_LONG_TERM_ASSETS = (L.INV_DISPOSAL_OF_ASSETS, L.INV_ASSETS)
_BORROWINGS = (L.FIN_BORROWINGS, L.FIN_REPAYMENTS)
_EQUITY = (L.FIN_CAPITAL, L.FIN_DISTRIBUTIONS)
DEFAULT_CASH_FLOW_MAPPING: dict[str, tuple[str, str]] = {
    **dict.fromkeys(["1121", "1122", "2203", "2204", "6001", "6051", "22210102"], _SALES),
    **dict.fromkeys(
        [
            "1123",
            "1401",
            "1402",
            "1403",
            "1404",
            "1405",
            "1406",
            "1408",
            "1411",
            "2201",
            "2202",
            "6401",
            "6402",
            "5001",
            "5101",
            "5201",
            "22210101",
        ],
        _PURCHASES,
    ),
    **dict.fromkeys(["2221", "6403", "6801"], _TAXES),
    "2211": _EMPLOYEES,
    "6603": (L.OP_OTHER_IN, L.FIN_DISTRIBUTIONS),  # interest paid is financing (CAS), interest received operating
    **dict.fromkeys(["1101", "1511", "1521", "1531"], _INVESTMENTS),
    **dict.fromkeys(["1131", "1132", "6111"], _RETURNS),
    **dict.fromkeys(["1601", "1604", "1605", "1606", "1701", "1801", "5301", "6115"], _LONG_TERM_ASSETS),
    **dict.fromkeys(["2001", "2501", "2502", "2701"], _BORROWINGS),
    **dict.fromkeys(["2231", "2232", "4001", "4002", "4104"], _EQUITY),
}
DEFAULT_BY_TYPE = {
    AccountType.INCOME: _SALES,
    AccountType.EQUITY: _EQUITY,
}


def cash_flow_lines_of(company_id: int) -> dict[int, tuple[str, str]]:
    """Per account of the company: (line for cash received, line for cash paid) after mapping and defaults."""
    chart = {
        a.pk: a for a in Account.objects.filter(company_id=company_id).only("pk", "code", "parent", "account_type")
    }
    explicit = {
        m.account_id: (m.inflow_line, m.outflow_line) for m in CashFlowMapping.objects.filter(company_id=company_id)
    }
    result = {}
    for account in chart.values():
        node, seen, found = account, set(), None
        while node is not None and node.pk not in seen and found is None:
            seen.add(node.pk)
            found = explicit.get(node.pk) or DEFAULT_CASH_FLOW_MAPPING.get(node.code)
            node = chart.get(node.parent_id) if node.parent_id else None
        result[account.pk] = found or DEFAULT_BY_TYPE.get(account.account_type, _OTHER)
    return result


def _cash_ids(company_id: int) -> list[int]:
    return list(Account.objects.filter(company_id=company_id, is_cash=True).values_list("pk", flat=True))


def _counterpart_lines(company_id: int, cash_ids: list[int], start, end):
    """Posted non-cash lines of the entries dated ``start``…``end`` that move cash."""
    moves_cash = JournalLine.objects.filter(entry_id=OuterRef("entry_id"), account_id__in=cash_ids)
    return JournalLine.objects.filter(
        company_id=company_id,
        entry__company_id=company_id,
        entry__state=EntryState.POSTED,
        entry__date__gte=start,
        entry__date__lte=end,
    ).filter(Exists(moves_cash), ~Q(account_id__in=cash_ids))


def _line_amounts(company_id: int, cash_ids: list[int], start, end) -> dict[str, Decimal]:
    lines_of = cash_flow_lines_of(company_id)
    amounts: dict[str, Decimal] = defaultdict(lambda: ZERO)
    if not cash_ids:
        return amounts
    rows = (
        _counterpart_lines(company_id, cash_ids, start, end)
        .values("account_id")
        .annotate(cash_in=Sum("credit"), cash_out=Sum("debit"))
    )
    for row in rows:
        inflow_line, outflow_line = lines_of[row["account_id"]]
        amounts[inflow_line] += row["cash_in"] if inflow_line in INFLOW_LINES else -row["cash_in"]
        amounts[outflow_line] += -row["cash_out"] if outflow_line in INFLOW_LINES else row["cash_out"]
    return amounts


def _cash_balance(company_id: int, cash_ids: list[int], before) -> Decimal:
    """Cash at the start of the period starting ``before`` (sum of the cash accounts' earlier balances)."""
    sums = AccountPeriodBalance.objects.filter(
        company_id=company_id, account_id__in=cash_ids, period__start_date__lt=before
    ).aggregate(d=Sum("debit", default=ZERO), c=Sum("credit", default=ZERO))
    return sums["d"] - sums["c"]


@dataclass
class CashFlowRow:
    key: str
    name: str
    direction: str  # "in" or "out"
    amount: Decimal
    compare_amount: Decimal | None = None


@dataclass
class CashFlowSection:
    key: str
    name: str
    rows: list[CashFlowRow] = field(default_factory=list)
    inflow: Decimal = ZERO
    outflow: Decimal = ZERO
    net: Decimal = ZERO
    compare_inflow: Decimal | None = None
    compare_outflow: Decimal | None = None
    compare_net: Decimal | None = None


@dataclass
class CashFlowStatement:
    period_from: FiscalPeriod
    period_to: FiscalPeriod
    compare_from: FiscalPeriod | None
    compare_to: FiscalPeriod | None
    sections: list[CashFlowSection]
    net_increase: Decimal
    opening_cash: Decimal
    closing_cash: Decimal
    compare_net_increase: Decimal | None = None
    compare_opening_cash: Decimal | None = None
    compare_closing_cash: Decimal | None = None

    @property
    def is_consistent(self) -> bool:
        """Opening cash + net increase = closing cash (for the comparative periods too)."""
        ok = self.opening_cash + self.net_increase == self.closing_cash
        if self.compare_from is not None:
            ok = ok and self.compare_opening_cash + self.compare_net_increase == self.compare_closing_cash
        return ok


def cash_flow_statement(
    *,
    period_from: FiscalPeriod,
    period_to: FiscalPeriod | None = None,
    compare_from: FiscalPeriod | None = None,
    compare_to: FiscalPeriod | None = None,
) -> CashFlowStatement:
    """The direct-method cash-flow statement of the periods (and of the comparative periods): every CAS line
    with its amount (received for inflow lines, paid for outflow lines), inflow/outflow/net per activity, the
    net increase in cash and the opening and closing cash. A fixed number of queries."""
    period_to = period_to or period_from
    _check_range(period_from, period_to)
    company_id = period_from.company_id
    cash_ids = _cash_ids(company_id)
    current = _line_amounts(company_id, cash_ids, period_from.start_date, period_to.end_date)
    compare = None
    if compare_from is not None:
        compare_to = compare_to or compare_from
        _check_range(compare_from, compare_to)
        compare = _line_amounts(company_id, cash_ids, compare_from.start_date, compare_to.end_date)
    sections = []
    for key, name, inflows, outflows in SECTIONS:
        section = CashFlowSection(key=key, name=str(name))
        if compare is not None:
            section.compare_inflow = section.compare_outflow = section.compare_net = ZERO
        for lines, direction in ((inflows, "in"), (outflows, "out")):
            for line in lines:
                row = CashFlowRow(
                    key=line.value,
                    name=str(line.label),
                    direction=direction,
                    amount=current.get(line.value, ZERO),
                    compare_amount=compare.get(line.value, ZERO) if compare is not None else None,
                )
                section.rows.append(row)
                if direction == "in":
                    section.inflow += row.amount
                    if compare is not None:
                        section.compare_inflow += row.compare_amount
                else:
                    section.outflow += row.amount
                    if compare is not None:
                        section.compare_outflow += row.compare_amount
        section.net = section.inflow - section.outflow
        if compare is not None:
            section.compare_net = section.compare_inflow - section.compare_outflow
        sections.append(section)
    net_increase = sum((s.net for s in sections), ZERO)
    opening = _cash_balance(company_id, cash_ids, period_from.start_date)
    statement = CashFlowStatement(
        period_from=period_from,
        period_to=period_to,
        compare_from=compare_from,
        compare_to=compare_to,
        sections=sections,
        net_increase=net_increase,
        opening_cash=opening,
        closing_cash=_cash_balance(company_id, cash_ids, _day_after(period_to.end_date)),
    )
    if compare is not None:
        statement.compare_net_increase = sum((s.compare_net for s in sections), ZERO)
        statement.compare_opening_cash = _cash_balance(company_id, cash_ids, compare_from.start_date)
        statement.compare_closing_cash = _cash_balance(company_id, cash_ids, _day_after(compare_to.end_date))
    return statement


def _day_after(day):
    from datetime import timedelta

    return day + timedelta(days=1)


@dataclass
class CashFlowDrillLine:
    line_id: int
    entry_id: int
    date: object
    display_number: str
    memo: str
    account_code: str
    account_name: str
    cash_in: Decimal
    cash_out: Decimal


def cash_flow_drilldown(
    *, line: str, period_from: FiscalPeriod, period_to: FiscalPeriod | None = None, offset: int = 0, limit: int = 200
) -> tuple[list[CashFlowDrillLine], int]:
    """The counterpart lines behind one figure of the cash-flow statement (what makes up ``line`` in the
    periods), in date order, a page at a time; and how many there are."""
    period_to = period_to or period_from
    _check_range(period_from, period_to)
    company_id = period_from.company_id
    cash_ids = _cash_ids(company_id)
    lines_of = cash_flow_lines_of(company_id)
    inflow_accounts = [a for a, (i, _o) in lines_of.items() if i == line]
    outflow_accounts = [a for a, (_i, o) in lines_of.items() if o == line]
    qs = _counterpart_lines(company_id, cash_ids, period_from.start_date, period_to.end_date).filter(
        Q(account_id__in=inflow_accounts, credit__gt=0) | Q(account_id__in=outflow_accounts, debit__gt=0)
    )
    count = qs.count()
    page = qs.select_related("entry__journal", "entry__fiscal_year", "account").order_by(
        "entry__date", "entry_id", "line_no"
    )[offset : offset + limit]
    return [
        CashFlowDrillLine(
            line_id=ln.pk,
            entry_id=ln.entry_id,
            date=ln.entry.date,
            display_number=ln.entry.display_number,
            memo=ln.entry.memo,
            account_code=ln.account.code,
            account_name=ln.account.name,
            cash_in=ln.credit,
            cash_out=ln.debit,
        )
        for ln in page
    ], count
