"""Ledger posting throughput (``python -m bench ledger``): journal entries of 3 lines posted through the service
layer, and the same workload on the PyPI package ``django-ledger``, side by side in the same run.

On the bench database (``bench/__init__.py``), in a company of its own with the CAS chart:

* **batch**: ``--entries`` entries (a sale: Dr 1122 receivable / Cr 6001 revenue / Cr 22210102 output VAT) in
  batches of ``--batch`` through ``journal_entries_post_many`` — validation, bulk inserts, one journal and one
  sequence lock per batch, gap-free numbers, hash chain, period balances (trigger), deferred balance check and
  one outbox event per entry; median of ``--repeat`` runs. Target: ≥ 2,000 entries/s.
* **single**: ``--single`` entries, one ``journal_entry_create(..., post=True)`` per transaction (the path of an
  API ``POST …/post/``).
* **django-ledger**: ``--django-ledger-entries`` entries through django-ledger's ``LedgerModel.commit_txs(...,
  je_posted=True)``, ``--batch`` per transaction, in a throwaway venv (``var/bench-venvs/django-ledger``, created
  on first use with pinned versions; ``--no-django-ledger`` skips it) and a database of its own on the same
  server. django-ledger is not installed in Troika's venv: it would add seven packages and an app to our
  settings only to be measured.

Afterwards the ledger is verified (hash chains, period balances = sum of lines, numbers 1..N), so a fast but
wrong run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import bench

TARGET = 2000.0
ROOT = Path(__file__).resolve().parent.parent
DJANGO_LEDGER_VENV = ROOT / "var" / "bench-venvs" / "django-ledger"
DJANGO_LEDGER_PINS = ["django-ledger==0.8.5", "Django==5.2.19", "psycopg[binary]==3.3.9"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench ledger", description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=20000, help="entries per batch run (default 20000)")
    parser.add_argument("--batch", type=int, default=500, help="entries per transaction (default 500)")
    parser.add_argument("--repeat", type=int, default=3, help="batch runs; the median is reported (default 3)")
    parser.add_argument("--single", type=int, default=1000, help="entries posted one per transaction (default 1000)")
    parser.add_argument("--django-ledger-entries", type=int, default=2000, help="entries on django-ledger")
    parser.add_argument("--no-django-ledger", action="store_true", help="skip the django-ledger comparison")
    return parser


def _make_books():
    from erp.models import Account, Journal
    from erp.services import finance as svc
    from suite.models import Company

    stamp = int(time.time() * 1000)
    company = Company.objects.create(name=f"账簿压测{stamp}", name_en=f"Ledger bench {stamp}", code=f"ledger-{stamp}")
    svc.chart_of_accounts_install(company=company, template="cas")
    svc.journals_install_defaults(company=company)
    svc.fiscal_year_create(company=company, start_date=date(2025, 1, 1))
    accounts = {a.code: a.pk for a in Account.objects.filter(company=company, code__in=["1122", "6001", "22210102"])}
    journal = Journal.objects.get(company=company, code="SAL")
    return company, journal, accounts


def _sale(journal, accounts, n: int):
    from erp.services.finance import EntrySpec, LineSpec

    net = Decimal(100 + n % 900)
    tax = (net * Decimal("0.13")).quantize(Decimal("0.01"))
    return EntrySpec(
        journal=journal,
        date=date(2025, 1 + n % 12, 1 + n % 28),
        memo=f"销售 {n}",
        lines=[
            LineSpec(account=accounts["1122"], debit=net + tax),
            LineSpec(account=accounts["6001"], credit=net),
            LineSpec(account=accounts["22210102"], credit=tax),
        ],
    )


def _run_batches(company, journal, accounts, *, entries: int, batch: int) -> float:
    from erp.services.finance import journal_entries_post_many

    specs = [_sale(journal, accounts, n) for n in range(entries)]
    started = time.perf_counter()
    for offset in range(0, entries, batch):
        journal_entries_post_many(company=company, entries=specs[offset : offset + batch])
    return time.perf_counter() - started


def _run_single(company, journal, accounts, *, entries: int) -> float:
    from erp.services.finance import journal_entry_create

    specs = [_sale(journal, accounts, n) for n in range(entries)]
    started = time.perf_counter()
    for spec in specs:
        journal_entry_create(
            company=company, journal=journal, date=spec.date, lines=spec.lines, memo=spec.memo, post=True
        )
    return time.perf_counter() - started


def _verify(company, expected_entries: int) -> list[str]:
    """Problems found in the books after the run ([] when none)."""
    from django.db import connection

    from erp.models import JournalEntry
    from erp.services.finance import ledger_verify

    problems = []
    integrity = ledger_verify(company=company)
    if not integrity.ok or integrity.checked_entries != expected_entries:
        problems.append(f"hash chain: {integrity}")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM (
                SELECT l.account_id, e.period_id, sum(l.debit) AS d, sum(l.credit) AS c
                  FROM erp_journalline l JOIN erp_journalentry e ON e.id = l.entry_id
                 WHERE e.company_id = %s GROUP BY 1, 2
            ) s FULL JOIN (SELECT * FROM erp_accountperiodbalance WHERE company_id = %s) b
              ON b.account_id = s.account_id AND b.period_id = s.period_id
             WHERE s.d IS DISTINCT FROM b.debit OR s.c IS DISTINCT FROM b.credit
            """,
            [company.pk, company.pk],
        )
        if cursor.fetchone()[0]:
            problems.append("period balances differ from the sum of lines")
    for journal_id in JournalEntry.objects.filter(company=company).values_list("journal_id", flat=True).distinct():
        numbers = list(
            JournalEntry.objects.filter(journal_id=journal_id).order_by("number").values_list("number", flat=True)
        )
        if numbers != list(range(1, len(numbers) + 1)):
            problems.append(f"numbers of journal {journal_id} are not 1..{len(numbers)}")
    return problems


def _django_ledger_python() -> Path | str:
    """The throwaway venv's Python (created with pinned versions on first use), or why there is none."""
    python = DJANGO_LEDGER_VENV / "bin" / "python"
    if python.exists():
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", str(DJANGO_LEDGER_VENV)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *DJANGO_LEDGER_PINS],
            check=True,
            timeout=900,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return f"could not build the django-ledger venv: {exc}"
    return python


def _run_django_ledger(*, entries: int, batch: int) -> dict | str:
    python = _django_ledger_python()
    if isinstance(python, str):
        return python
    url = urlsplit(bench.bench_database_url())
    database_url = urlunsplit(url._replace(path=f"{url.path}_django_ledger"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    result = subprocess.run(
        [
            str(python),
            str(ROOT / "bench" / "ledger_django_ledger.py"),
            "--database-url",
            database_url,
            "--entries",
            str(entries),
            "--batch",
            str(batch),
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        env=env,
        cwd=str(ROOT / "var"),
    )
    if result.returncode != 0:
        return f"django-ledger run failed: {result.stderr.strip()[-2000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    bench.setup()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        print(f"[ledger] {cursor.fetchone()[0].split(' on ')[0]}", flush=True)

    rates = []
    total_posted = 0
    company = None
    for run in range(args.repeat):
        company, journal, accounts = _make_books()
        seconds = _run_batches(company, journal, accounts, entries=args.entries, batch=args.batch)
        rates.append(args.entries / seconds)
        total_posted = args.entries
        print(
            f"[ledger] batch run {run + 1}: {args.entries} entries in {seconds:.2f} s = {rates[-1]:,.0f}/s", flush=True
        )
    problems = _verify(company, total_posted)

    single_company, journal, accounts = _make_books()
    single_seconds = _run_single(single_company, journal, accounts, entries=args.single)
    single_rate = args.single / single_seconds
    problems += _verify(single_company, args.single)

    batch_rate = bench.median(rates)
    lines_rate = batch_rate * 3
    rows = [
        [
            f"Troika, journal_entries_post_many, batches of {args.batch}",
            f"{batch_rate:,.0f}",
            f"{lines_rate:,.0f}",
            f"{batch_rate / TARGET:.2f}×",
            f"{(batch_rate * 4) / bench.CEILINGS['bulk_create_rows']:.0%}",
        ],
        [
            "Troika, journal_entry_create(post=True), one per transaction",
            f"{single_rate:,.0f}",
            f"{single_rate * 3:,.0f}",
            f"{single_rate / TARGET:.2f}×",
            f"{(single_rate * 4) / bench.CEILINGS['bulk_create_rows']:.0%}",
        ],
    ]
    django_ledger = None
    if not args.no_django_ledger:
        django_ledger = _run_django_ledger(entries=args.django_ledger_entries, batch=args.batch)
        if isinstance(django_ledger, str):
            print(f"[ledger] django-ledger not measured: {django_ledger}", flush=True)
        else:
            dl_rate = django_ledger["entries_per_second"]
            rows.append(
                [
                    f"django-ledger {django_ledger['version']}, commit_txs(je_posted=True), "
                    f"{args.batch} per transaction",
                    f"{dl_rate:,.0f}",
                    f"{dl_rate * 3:,.0f}",
                    f"{dl_rate / TARGET:.2f}×",
                    f"{(dl_rate * 4) / bench.CEILINGS['bulk_create_rows']:.0%}",
                ]
            )
            if django_ledger["posted_entries_in_db"] != django_ledger["entries"]:
                problems.append(f"django-ledger posted {django_ledger['posted_entries_in_db']} entries")
    print()
    bench.print_table(
        ["workload (3 lines per entry)", "entries/s", "lines/s", "vs target 2,000/s", "rows/s vs bulk_create 59k"],
        rows,
    )
    if django_ledger and not isinstance(django_ledger, str):
        ratio = batch_rate / django_ledger["entries_per_second"]
        single_ratio = single_rate / django_ledger["entries_per_second"]
        print(f"\nTroika / django-ledger: {ratio:.1f}× (batch), {single_ratio:.1f}× (one entry per transaction)")
    if problems:
        print("\n[ledger] PROBLEMS: " + "; ".join(problems), flush=True)
        return 1
    print("\n[ledger] books verified: hash chains intact, balances = lines, numbers gap-free", flush=True)
    return 0 if batch_rate >= TARGET else 2
