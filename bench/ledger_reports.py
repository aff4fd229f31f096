"""Trial balance and balance sheet over a big ledger (``python -m bench ledger_reports --lines 10000000``).

On the bench database (``bench/__init__.py``), in a company of its own with the CAS chart and three fiscal years
(36 monthly periods), ``--lines`` posted journal lines (3 per entry: a sale, a purchase, an expense … over ~20
accounts) are generated **in SQL, through the ledger's PostgreSQL rules**: each batch inserts its entries already
posted (gap-free numbers per journal and year, chain positions and linked hashes), then their lines in one
statement — so the posting triggers check periods, numbering and chain, count the lines into
``erp_accountperiodbalance`` and the deferred trigger checks every entry balances at COMMIT, exactly as for
entries posted by the services. (The hashes are of a synthetic content — ``sha256(journal:position)`` — so the
chain *links*, but ``verify_ledger`` would name the first entry as not matching its content: bench data only.)
The data is kept and reused by later runs with the same ``--lines``.

Then ``--samples`` trial balances (year-to-date, from the first period of a random year to a random month) and
balance sheets (a random month with the same month a year earlier as comparative) are read through
``erp.selectors.finance`` with p50/p95/p99; target p95 < 500 ms. Last, the period balances are proven equal to the
sum of the lines (one aggregate over every line) and the trial balance to balance — a fast but wrong run fails.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import date

import bench

TARGET_P95_MS = 500.0
YEARS = (2023, 2024, 2025)
DEBIT_ACCOUNTS = ["1122", "1002", "1001", "6602", "6601", "1405", "1403", "6401", "2202", "6603"]
CREDIT_ACCOUNTS = ["6001", "6051", "1002", "2202", "2241", "1405", "1122", "2211", "6301", "2001"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench ledger_reports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=10_000_000, help="journal lines (default 10,000,000)")
    parser.add_argument("--batch", type=int, default=100_000, help="entries per generating transaction")
    parser.add_argument("--samples", type=int, default=60, help="measured calls per report (default 60)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-generate", action="store_true", help="measure the lines there are, add none")
    parser.add_argument("--no-verify", action="store_true", help="skip the balances = lines proof (slow on 10M)")
    return parser


def _books(lines: int):
    """The bench company for ``lines`` lines, created with chart, journals and years if it does not exist."""
    from erp.services import finance as svc
    from suite.models import Company

    code = f"ledger-reports-{lines}"
    company = Company.objects.filter(code=code).first()
    if company is None:
        company = Company.objects.create(name=f"报表压测{lines}", name_en=f"Report bench {lines}", code=code)
        svc.chart_of_accounts_install(company=company, template="cas")
        svc.journals_install_defaults(company=company)
        for year in YEARS:
            svc.fiscal_year_create(company=company, start_date=date(year, 1, 1))
    return company


GENERATE_ENTRIES = """
WITH periods AS (
    SELECT p.id, p.number FROM erp_fiscalperiod p WHERE p.fiscal_year_id = %(year_id)s
), numbered AS (
    SELECT g AS number,
           (%(first_position)s + g - %(first_number)s) AS position,
           (%(year_start)s::date + ((g - 1) * %(days)s / %(per_year)s)::int) AS day
      FROM generate_series(%(first_number)s, %(last_number)s) AS g
)
INSERT INTO erp_journalentry (company_id, created_at, updated_at, journal_id, fiscal_year_id, period_id, date,
                              number, state, memo, reference, source_key, reversal_of_id, chain_position,
                              previous_hash, entry_hash, posted_at, posted_by_id, created_by_id)
SELECT %(company_id)s, now(), now(), %(journal_id)s, %(year_id)s, periods.id, n.day, n.number, 'posted',
       'bench ' || n.number, '', '', NULL, n.position,
       CASE WHEN n.position = 1 THEN ''
            ELSE encode(sha256(convert_to(%(journal_id)s || ':' || (n.position - 1), 'UTF8')), 'hex') END,
       encode(sha256(convert_to(%(journal_id)s || ':' || n.position, 'UTF8')), 'hex'),
       now(), NULL, NULL
  FROM numbered n JOIN periods ON periods.number = extract(month FROM n.day)::int
 ORDER BY n.number
"""

GENERATE_LINES = """
WITH amounts AS (
    SELECT e.id, e.number, (100 + e.number %% 900)::numeric(18, 2) AS net,
           round((100 + e.number %% 900) * 0.13, 2)::numeric(18, 2) AS tax
      FROM erp_journalentry e
     WHERE e.journal_id = %(journal_id)s AND e.fiscal_year_id = %(year_id)s
       AND e.number BETWEEN %(first_number)s AND %(last_number)s
)
INSERT INTO erp_journalline (company_id, created_at, updated_at, entry_id, line_no, account_id, debit, credit,
                             currency, exchange_rate, amount_currency, description, cost_centre_id,
                             department_id, project_id)
SELECT %(company_id)s, now(), now(), a.id, l.no,
       CASE l.no WHEN 1 THEN (%(debit_ids)s::bigint[])[1 + a.number %% %(n_debit)s]
                 WHEN 2 THEN (%(credit_ids)s::bigint[])[1 + (a.number / 7) %% %(n_credit)s]
                 ELSE %(vat_id)s END,
       CASE l.no WHEN 1 THEN a.net + a.tax ELSE 0 END,
       CASE l.no WHEN 2 THEN a.net WHEN 3 THEN a.tax ELSE 0 END,
       'CNY', 1, CASE l.no WHEN 1 THEN a.net + a.tax WHEN 2 THEN a.net ELSE a.tax END, '', NULL, NULL, NULL
  FROM amounts a CROSS JOIN (VALUES (1), (2), (3)) AS l(no)
 ORDER BY a.id, l.no
"""


def _generate(company, *, lines: int, batch: int) -> None:
    """Post entries of 3 lines until the company has ``lines`` lines (resumes where an interrupted run stopped)."""
    from django.db import connection, transaction

    from erp.models import Account, FiscalYear, Journal, JournalEntry, JournalSequence

    journal = Journal.objects.get(company=company, code="SAL")
    accounts = dict(Account.objects.filter(company=company).values_list("code", "pk"))
    years = list(FiscalYear.objects.filter(company=company).order_by("start_date"))
    entries_needed = lines // 3
    per_year = -(-entries_needed // len(years))
    done = JournalEntry.objects.filter(company=company).count()
    started = time.perf_counter()
    while done < entries_needed:
        year = years[min(done // per_year, len(years) - 1)]
        in_year = JournalEntry.objects.filter(journal=journal, fiscal_year=year).count()
        count = min(batch, entries_needed - done, per_year - in_year if year != years[-1] else batch)
        params = {
            "company_id": company.pk,
            "journal_id": journal.pk,
            "year_id": year.pk,
            "year_start": year.start_date,
            "days": (year.end_date - year.start_date).days + 1,
            "per_year": per_year,
            "first_number": in_year + 1,
            "last_number": in_year + count,
            "first_position": done + 1,
            "debit_ids": [accounts[c] for c in DEBIT_ACCOUNTS],
            "credit_ids": [accounts[c] for c in CREDIT_ACCOUNTS],
            "n_debit": len(DEBIT_ACCOUNTS),
            "n_credit": len(CREDIT_ACCOUNTS),
            "vat_id": accounts["22210102"],
        }
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM erp_journal WHERE id = %s FOR NO KEY UPDATE", [journal.pk]
            )  # the posting lock of the journal's chain
            cursor.execute(GENERATE_ENTRIES, params)
            cursor.execute(GENERATE_LINES, params)
            JournalSequence.objects.update_or_create(
                journal=journal, fiscal_year=year, defaults={"next_number": in_year + count + 1}
            )
        done += count
        rate = done * 3 / (time.perf_counter() - started)
        print(f"[ledger_reports] {done * 3:,} / {entries_needed * 3:,} lines ({rate:,.0f} lines/s)", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE erp_journalentry; ANALYZE erp_journalline; ANALYZE erp_accountperiodbalance")


def _measure(company, samples: int, rng: random.Random) -> list[list[object]]:
    from erp.models import FiscalPeriod
    from erp.selectors.finance import balance_sheet, trial_balance

    periods = list(FiscalPeriod.objects.filter(company=company).select_related("fiscal_year").order_by("start_date"))
    by_year: dict[int, list] = {}
    for p in periods:
        by_year.setdefault(p.fiscal_year_id, []).append(p)

    def tb():
        period = rng.choice(periods)
        report = trial_balance(period_from=by_year[period.fiscal_year_id][0], period_to=period)
        assert report.is_balanced

    def bs():
        i = rng.randrange(12, len(periods))
        report = balance_sheet(period=periods[i], compare_period=periods[i - 12])
        assert report.is_balanced

    rows = []
    for label, call in (("trial balance, year to date", tb), ("balance sheet + comparative", bs)):
        for _ in range(5):
            call()  # warm-up: connection, plans, caches
        timings = []
        for _ in range(samples):
            started = time.perf_counter()
            call()
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        p50, p95, p99 = (bench.percentile(timings, f) for f in (0.5, 0.95, 0.99))
        rows.append([label, samples, f"{p50:.1f}", f"{p95:.1f}", f"{p99:.1f}", f"{p95 / TARGET_P95_MS:.0%}"])
    return rows


def _verify(company) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH lines AS (
                SELECT l.account_id, e.period_id, sum(l.debit) AS debit, sum(l.credit) AS credit
                  FROM erp_journalline l JOIN erp_journalentry e ON e.id = l.entry_id
                 WHERE e.company_id = %s AND e.state = 'posted'
                 GROUP BY l.account_id, e.period_id
            ), balances AS (
                SELECT account_id, period_id, debit, credit FROM erp_accountperiodbalance WHERE company_id = %s
            )
            SELECT count(*) FROM lines l FULL JOIN balances b
                ON b.account_id = l.account_id AND b.period_id = l.period_id
             WHERE l.debit IS DISTINCT FROM b.debit OR l.credit IS DISTINCT FROM b.credit
            """,
            [company.pk, company.pk],
        )
        (differences,) = cursor.fetchone()
    return [f"{differences} (account, period) balances differ from the sum of their lines"] if differences else []


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    bench.setup(seed=False)
    from erp.models import JournalLine

    company = _books(args.lines)
    started = time.perf_counter()
    if not args.no_generate:
        _generate(company, lines=args.lines, batch=args.batch)
    generated = time.perf_counter() - started
    count = JournalLine.objects.filter(company=company).count()
    print(f"[ledger_reports] {count:,} journal lines in the bench company (generation {generated:.0f} s)", flush=True)
    rows = _measure(company, args.samples, random.Random(args.seed))
    bench.print_table(["report", "calls", "p50 ms", "p95 ms", "p99 ms", "p95 vs 500 ms"], rows)
    problems = [] if args.no_verify else _verify(company)
    for problem in problems:
        print(f"[ledger_reports] WRONG: {problem}", flush=True)
    if not args.no_verify and not problems:
        print("[ledger_reports] period balances = sum of lines: yes", flush=True)
    ok = all(float(row[3]) < TARGET_P95_MS for row in rows) and not problems
    print(f"[ledger_reports] p95 < {TARGET_P95_MS:.0f} ms: {'yes' if ok else 'NO'}", flush=True)
    return 0 if ok else 1
