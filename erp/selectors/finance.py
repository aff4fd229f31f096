"""Reads of the general ledger: scoped lists for the API and the reports — trial balance (科目余额表), general
ledger (明细账), balance sheet (资产负债表) and income statement (利润表).

Reports read ``AccountPeriodBalance`` (one row per account and period, maintained at posting) instead of
summing journal lines, so their cost depends on the size of the chart and the number of periods, not on the
number of lines. Only the general ledger reads lines (of one account, a page at a time).

Amounts are in the company's currency. A report covers whole periods: ``period_from`` … ``period_to``.
Without closing entries, profit and loss accounts keep their balances; the balance sheet shows them as the
profit of the current fiscal year and the undistributed profit of earlier years, so it balances either way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import F, Q, QuerySet, Sum, Window
from django.utils.translation import gettext_lazy as _

from erp.models import (
    Account,
    AccountPeriodBalance,
    AccountType,
    Dimension,
    EntryState,
    FiscalPeriod,
    FiscalYear,
    Journal,
    JournalEntry,
    JournalLine,
)
from erp.models.finance import DEBIT_NORMAL_TYPES
from suite import policy

ZERO = Decimal("0.00")


# ---------------------------------------------------------------- scoped lists (API)


def accounts_visible_to(actor) -> QuerySet[Account]:
    """The chart of the actor's company (if their role may see it)."""
    return policy.scope(actor, Account.objects.all()).select_related("parent")


def dimensions_visible_to(actor) -> QuerySet[Dimension]:
    return policy.scope(actor, Dimension.objects.all())


def journals_visible_to(actor) -> QuerySet[Journal]:
    return policy.scope(actor, Journal.objects.all())


def fiscal_years_visible_to(actor) -> QuerySet[FiscalYear]:
    return policy.scope(actor, FiscalYear.objects.all())


def periods_visible_to(actor) -> QuerySet[FiscalPeriod]:
    return policy.scope(actor, FiscalPeriod.objects.all()).select_related("fiscal_year", "closed_by", "reopened_by")


def entries_visible_to(actor) -> QuerySet[JournalEntry]:
    """Entries with their journal, period and lines (accounts) prefetched: a page costs a fixed number of
    queries whatever its size."""
    from django.db.models import Prefetch

    lines = JournalLine.objects.select_related("account").order_by("line_no")
    return (
        policy.scope(actor, JournalEntry.objects.all())
        .select_related("journal", "fiscal_year", "period", "posted_by", "created_by", "reversed_by")
        .prefetch_related(Prefetch("lines", queryset=lines))
    )


# ---------------------------------------------------------------- lookups other domains use


def account_by_code(*, company_id: int, code: str) -> Account | None:
    """The company's account with ``code`` (e.g. ``"1405"`` 库存商品), or None."""
    return Account.objects.filter(company_id=company_id, code=code).first()


def journal_by_code(*, company_id: int, code: str) -> Journal | None:
    return Journal.objects.filter(company_id=company_id, code=code).first()


def period_for_date(*, company_id: int, day) -> FiscalPeriod | None:
    """The fiscal period of the company that contains ``day``, or None."""
    return FiscalPeriod.objects.filter(company_id=company_id, start_date__lte=day, end_date__gte=day).first()


# ---------------------------------------------------------------- helpers


def _signed(account_type: str, debit: Decimal, credit: Decimal) -> Decimal:
    """A balance on the account's normal side: debit − credit for assets and expenses, credit − debit else."""
    return debit - credit if account_type in DEBIT_NORMAL_TYPES else credit - debit


def _chart(company_id: int) -> dict[int, Account]:
    return {a.pk: a for a in Account.objects.filter(company_id=company_id).order_by("code")}


def _ancestors(account: Account, chart: dict[int, Account]) -> Iterable[Account]:
    seen = set()
    node = account
    while node is not None and node.pk not in seen:
        seen.add(node.pk)
        yield node
        node = chart.get(node.parent_id) if node.parent_id else None


def _top(account: Account, chart: dict[int, Account]) -> Account:
    *_, top = _ancestors(account, chart)
    return top


def _check_range(period_from: FiscalPeriod, period_to: FiscalPeriod) -> None:
    from django.core.exceptions import ValidationError

    if period_from.company_id != period_to.company_id:
        raise ValidationError({"period_to": [_("Choose periods of one company.")]})
    if period_from.start_date > period_to.start_date:
        raise ValidationError({"period_to": [_("The last period cannot come before the first.")]})


# ---------------------------------------------------------------- trial balance


@dataclass
class TrialBalanceRow:
    account_id: int
    code: str
    name: str
    name_en: str
    account_type: str
    parent_id: int | None
    depth: int
    opening_debit: Decimal = ZERO
    opening_credit: Decimal = ZERO
    period_debit: Decimal = ZERO
    period_credit: Decimal = ZERO
    closing_debit: Decimal = ZERO
    closing_credit: Decimal = ZERO


@dataclass
class TrialBalance:
    company_id: int
    period_from: FiscalPeriod
    period_to: FiscalPeriod
    rows: list[TrialBalanceRow]
    totals: TrialBalanceRow

    @property
    def is_balanced(self) -> bool:
        t = self.totals
        return (
            t.opening_debit == t.opening_credit
            and t.period_debit == t.period_credit
            and t.closing_debit == t.closing_credit
        )


def _net(debit: Decimal, credit: Decimal) -> tuple[Decimal, Decimal]:
    return (debit - credit, ZERO) if debit >= credit else (ZERO, credit - debit)


def trial_balance(*, period_from: FiscalPeriod, period_to: FiscalPeriod | None = None) -> TrialBalance:
    """Opening balance (everything before ``period_from``), debits and credits of the periods, and closing
    balance of every account with activity, rolled up to its parents (a parent's row includes its
    sub-accounts). Totals are over top-level accounts, so each amount counts once: opening, period and closing
    debits equal credits. One aggregate query over the period balances."""
    period_to = period_to or period_from
    _check_range(period_from, period_to)
    company_id = period_from.company_id
    sums = (
        AccountPeriodBalance.objects.filter(company_id=company_id, period__start_date__lte=period_to.start_date)
        .values("account_id")
        .annotate(
            opening_debit=Sum("debit", filter=Q(period__start_date__lt=period_from.start_date), default=ZERO),
            opening_credit=Sum("credit", filter=Q(period__start_date__lt=period_from.start_date), default=ZERO),
            period_debit=Sum("debit", filter=Q(period__start_date__gte=period_from.start_date), default=ZERO),
            period_credit=Sum("credit", filter=Q(period__start_date__gte=period_from.start_date), default=ZERO),
        )
    )
    chart = _chart(company_id)
    raw: dict[int, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO, ZERO])
    for row in sums:
        account = chart[row["account_id"]]
        for node in _ancestors(account, chart):
            totals = raw[node.pk]
            totals[0] += row["opening_debit"]
            totals[1] += row["opening_credit"]
            totals[2] += row["period_debit"]
            totals[3] += row["period_credit"]
    rows = []
    grand = TrialBalanceRow(
        account_id=0, code="", name=str(_("Total")), name_en="Total", account_type="", parent_id=None, depth=0
    )
    for account in chart.values():
        if account.pk not in raw:
            continue
        opening_debit, opening_credit, period_debit, period_credit = raw[account.pk]
        row = TrialBalanceRow(
            account_id=account.pk,
            code=account.code,
            name=account.name,
            name_en=account.name_en,
            account_type=account.account_type,
            parent_id=account.parent_id,
            depth=len(list(_ancestors(account, chart))) - 1,
            period_debit=period_debit,
            period_credit=period_credit,
        )
        row.opening_debit, row.opening_credit = _net(opening_debit, opening_credit)
        row.closing_debit, row.closing_credit = _net(opening_debit + period_debit, opening_credit + period_credit)
        rows.append(row)
        if account.parent_id is None:
            for name in (
                "opening_debit",
                "opening_credit",
                "period_debit",
                "period_credit",
                "closing_debit",
                "closing_credit",
            ):
                setattr(grand, name, getattr(grand, name) + getattr(row, name))
    return TrialBalance(company_id=company_id, period_from=period_from, period_to=period_to, rows=rows, totals=grand)


# ---------------------------------------------------------------- general ledger


@dataclass
class LedgerLine:
    line_id: int
    entry_id: int
    date: object
    journal_code: str
    number: int
    display_number: str
    memo: str
    description: str
    debit: Decimal
    credit: Decimal
    balance: Decimal  # running, on the account's normal side


@dataclass
class GeneralLedger:
    account: Account
    period_from: FiscalPeriod
    period_to: FiscalPeriod
    opening: Decimal
    period_debit: Decimal
    period_credit: Decimal
    closing: Decimal
    lines: list[LedgerLine]
    line_count: int
    offset: int
    limit: int


def general_ledger(
    *,
    account: Account,
    period_from: FiscalPeriod,
    period_to: FiscalPeriod | None = None,
    offset: int = 0,
    limit: int = 500,
    include_sub_accounts: bool = True,
) -> GeneralLedger:
    """The posted lines of an account (and its sub-accounts) in the periods, in date and number order, with a
    running balance on the account's normal side; opening and closing balances come from the period balances.
    Pages with ``offset``/``limit``; the running balance of a page includes every line before it (a window
    sum in PostgreSQL, not a re-read)."""
    period_to = period_to or period_from
    _check_range(period_from, period_to)
    chart = _chart(account.company_id)
    ids = [
        a.pk
        for a in chart.values()
        if a.pk == account.pk or (include_sub_accounts and account.pk in {n.pk for n in _ancestors(a, chart)})
    ]
    balances = AccountPeriodBalance.objects.filter(account_id__in=ids, period__start_date__lte=period_to.start_date)
    sums = balances.aggregate(
        opening_debit=Sum("debit", filter=Q(period__start_date__lt=period_from.start_date), default=ZERO),
        opening_credit=Sum("credit", filter=Q(period__start_date__lt=period_from.start_date), default=ZERO),
        period_debit=Sum("debit", filter=Q(period__start_date__gte=period_from.start_date), default=ZERO),
        period_credit=Sum("credit", filter=Q(period__start_date__gte=period_from.start_date), default=ZERO),
    )
    opening = _signed(account.account_type, sums["opening_debit"], sums["opening_credit"])
    sign = 1 if account.account_type in DEBIT_NORMAL_TYPES else -1
    order = [F("entry__date").asc(), F("entry__journal_id").asc(), F("entry__number").asc(), F("line_no").asc()]
    lines = JournalLine.objects.filter(
        account_id__in=ids,
        entry__state=EntryState.POSTED,
        entry__date__gte=period_from.start_date,
        entry__date__lte=period_to.end_date,
    )
    line_count = lines.count()
    lines = (
        lines.annotate(running=Window(Sum(F("debit") - F("credit")), order_by=order))
        .select_related("entry__journal", "entry__fiscal_year")
        .order_by(*order)
    )
    page = []
    for line in lines[offset : offset + limit]:
        entry = line.entry
        page.append(
            LedgerLine(
                line_id=line.pk,
                entry_id=entry.pk,
                date=entry.date,
                journal_code=entry.journal.code,
                number=entry.number,
                display_number=entry.display_number,
                memo=entry.memo,
                description=line.description,
                debit=line.debit,
                credit=line.credit,
                balance=opening + sign * line.running,
            )
        )
    return GeneralLedger(
        account=account,
        period_from=period_from,
        period_to=period_to,
        opening=opening,
        period_debit=sums["period_debit"],
        period_credit=sums["period_credit"],
        closing=opening + sign * (sums["period_debit"] - sums["period_credit"]),
        lines=page,
        line_count=line_count,
        offset=offset,
        limit=limit,
    )


# ---------------------------------------------------------------- statements


@dataclass
class StatementRow:
    key: str  # account code, or a computed line ("profit_for_year", "retained_from_prior_years")
    name: str
    name_en: str
    amount: Decimal
    compare_amount: Decimal | None = None
    account_id: int | None = None


@dataclass
class StatementSection:
    key: str
    name: str
    rows: list[StatementRow] = field(default_factory=list)
    total: Decimal = ZERO
    compare_total: Decimal | None = None


def _top_level_sums(
    chart: dict[int, Account], company_id: int, balance_filter: Q, *, split: Q | None = None
) -> tuple[dict[int, Decimal], dict[int, Decimal]]:
    """Net (debit − credit) per top-level account over the period balances matching ``balance_filter`` — and,
    with ``split``, the part of it matching ``split`` too — in one aggregate query."""
    per_top: dict[int, Decimal] = defaultdict(lambda: ZERO)
    split_per_top: dict[int, Decimal] = defaultdict(lambda: ZERO)
    aggregates = {"total_debit": Sum("debit"), "total_credit": Sum("credit")}
    if split is not None:
        aggregates["split_debit"] = Sum("debit", filter=split, default=ZERO)
        aggregates["split_credit"] = Sum("credit", filter=split, default=ZERO)
    rows = (
        AccountPeriodBalance.objects.filter(balance_filter, company_id=company_id)
        .values("account_id")
        .annotate(**aggregates)
    )
    for row in rows:
        top = _top(chart[row["account_id"]], chart).pk
        per_top[top] += row["total_debit"] - row["total_credit"]
        if split is not None:
            split_per_top[top] += row["split_debit"] - row["split_credit"]
    return per_top, split_per_top


@dataclass
class BalanceSheet:
    period: FiscalPeriod
    compare_period: FiscalPeriod | None
    assets: StatementSection
    liabilities: StatementSection
    equity: StatementSection
    total_liabilities_and_equity: Decimal
    compare_total_liabilities_and_equity: Decimal | None

    @property
    def is_balanced(self) -> bool:
        ok = self.assets.total == self.total_liabilities_and_equity
        if self.compare_period is not None:
            ok = ok and self.assets.compare_total == self.compare_total_liabilities_and_equity
        return ok


def _balance_sheet_amounts(
    period: FiscalPeriod, chart: dict[int, Account]
) -> tuple[dict[str, dict[int, Decimal]], Decimal, Decimal]:
    """Per type, the balance of each top-level account at the end of ``period``; and the profit of the
    period's fiscal year to date and of earlier years, from income and expense accounts."""
    year_start = period.fiscal_year.start_date
    nets, before_year = _top_level_sums(
        chart,
        period.company_id,
        Q(period__start_date__lte=period.start_date),
        split=Q(period__start_date__lt=year_start),
    )
    by_type: dict[str, dict[int, Decimal]] = defaultdict(dict)
    profit_to_date = prior_profit = ZERO  # credit − debit of income and expense accounts
    for account_id, net in nets.items():
        account_type = chart[account_id].account_type
        if account_type in (AccountType.INCOME, AccountType.EXPENSE):
            profit_to_date -= net
            prior_profit -= before_year[account_id]
        else:
            by_type[account_type][account_id] = _signed(account_type, net, ZERO)
    return by_type, profit_to_date - prior_profit, prior_profit


def balance_sheet(*, period: FiscalPeriod, compare_period: FiscalPeriod | None = None) -> BalanceSheet:
    """Assets, liabilities and equity at the end of ``period`` (and of ``compare_period``), per top-level
    account. Equity includes the profit of the current fiscal year to date and the undistributed profit of
    earlier years computed from income and expense accounts (zero once closing entries move them to equity).
    Assets = liabilities + equity when the ledger balances."""
    chart = _chart(period.company_id)
    current, profit_year, profit_prior = _balance_sheet_amounts(period, chart)
    if compare_period is not None:
        compare, compare_profit_year, compare_profit_prior = _balance_sheet_amounts(compare_period, chart)
    else:
        compare, compare_profit_year, compare_profit_prior = {}, None, None

    def section(key: str, name, account_type: str) -> StatementSection:
        ids = sorted(
            set(current.get(account_type, {})) | set(compare.get(account_type, {})), key=lambda i: chart[i].code
        )
        result = StatementSection(key=key, name=str(name))
        result.compare_total = ZERO if compare_period is not None else None
        for account_id in ids:
            account = chart[account_id]
            amount = current.get(account_type, {}).get(account_id, ZERO)
            compare_amount = compare.get(account_type, {}).get(account_id, ZERO) if compare_period else None
            result.rows.append(
                StatementRow(
                    key=account.code,
                    name=account.name,
                    name_en=account.name_en,
                    amount=amount,
                    compare_amount=compare_amount,
                    account_id=account_id,
                )
            )
            result.total += amount
            if compare_period is not None:
                result.compare_total += compare_amount
        return result

    assets = section("assets", _("Assets"), AccountType.ASSET)
    liabilities = section("liabilities", _("Liabilities"), AccountType.LIABILITY)
    equity = section("equity", _("Equity"), AccountType.EQUITY)
    for key, name, name_en, amount, compare_amount in (
        (
            "retained_from_prior_years",
            "以前年度未分配利润",
            "Undistributed profit of prior years",
            profit_prior,
            compare_profit_prior,
        ),
        (
            "profit_for_year",
            "本年利润（未结转）",
            "Profit for the year (not yet closed)",
            profit_year,
            compare_profit_year,
        ),
    ):
        if amount or compare_amount:
            equity.rows.append(
                StatementRow(key=key, name=name, name_en=name_en, amount=amount, compare_amount=compare_amount)
            )
            equity.total += amount
            if compare_period is not None:
                equity.compare_total += compare_amount
    return BalanceSheet(
        period=period,
        compare_period=compare_period,
        assets=assets,
        liabilities=liabilities,
        equity=equity,
        total_liabilities_and_equity=liabilities.total + equity.total,
        compare_total_liabilities_and_equity=(
            liabilities.compare_total + equity.compare_total if compare_period is not None else None
        ),
    )


@dataclass
class IncomeStatement:
    period_from: FiscalPeriod
    period_to: FiscalPeriod
    compare_from: FiscalPeriod | None
    compare_to: FiscalPeriod | None
    income: StatementSection
    expenses: StatementSection
    net_profit: Decimal
    compare_net_profit: Decimal | None


def _range_filter(period_from: FiscalPeriod, period_to: FiscalPeriod) -> Q:
    return Q(
        period__start_date__gte=period_from.start_date,
        period__start_date__lte=period_to.start_date,
        account__account_type__in=[AccountType.INCOME, AccountType.EXPENSE],
    )


def income_statement(
    *,
    period_from: FiscalPeriod,
    period_to: FiscalPeriod | None = None,
    compare_from: FiscalPeriod | None = None,
    compare_to: FiscalPeriod | None = None,
) -> IncomeStatement:
    """Income and expenses of the periods per top-level account (and of the comparative periods, e.g. the
    same months last year), and the net profit."""
    period_to = period_to or period_from
    _check_range(period_from, period_to)
    chart = _chart(period_from.company_id)
    current, _unused = _top_level_sums(chart, period_from.company_id, _range_filter(period_from, period_to))
    compare: dict[int, Decimal] = {}
    if compare_from is not None:
        compare_to = compare_to or compare_from
        _check_range(compare_from, compare_to)
        compare, _unused = _top_level_sums(chart, compare_from.company_id, _range_filter(compare_from, compare_to))

    def section(key: str, name, account_type: str) -> StatementSection:
        result = StatementSection(key=key, name=str(name), compare_total=ZERO if compare_from else None)
        ids = sorted(
            (i for i in set(current) | set(compare) if chart[i].account_type == account_type),
            key=lambda i: chart[i].code,
        )
        for account_id in ids:
            account = chart[account_id]
            amount = _signed(account_type, current.get(account_id, ZERO), ZERO) if account_id in current else ZERO
            compare_amount = None
            if compare_from is not None:
                compare_amount = (
                    _signed(account_type, compare.get(account_id, ZERO), ZERO) if account_id in compare else ZERO
                )
                result.compare_total += compare_amount
            result.rows.append(
                StatementRow(
                    key=account.code,
                    name=account.name,
                    name_en=account.name_en,
                    amount=amount,
                    compare_amount=compare_amount,
                    account_id=account_id,
                )
            )
            result.total += amount
        return result

    income = section("income", _("Income"), AccountType.INCOME)
    expenses = section("expenses", _("Expenses"), AccountType.EXPENSE)
    return IncomeStatement(
        period_from=period_from,
        period_to=period_to,
        compare_from=compare_from,
        compare_to=compare_to,
        income=income,
        expenses=expenses,
        net_profit=income.total - expenses.total,
        compare_net_profit=(income.compare_total - expenses.compare_total) if compare_from is not None else None,
    )
