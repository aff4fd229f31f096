"""``python -m bench qr_claims``: concurrent QR prize claims against a red-envelope budget.

A fresh campaign in company ``bench-qr`` with ``--budget`` prizes of 1.00 each (budget = prizes × 1.00), one
per person, ``--concurrent`` codes each scanned by a different person (scans recorded through
``qr_scan_record`` beforehand); then ``--threads`` threads, each with its own connection opened before a
common start line, claim all of them through ``qr_prize_claim`` at once. The figure: how many were granted
(must be exactly ``--budget``), what the campaign spent (must equal the budget, never more), the number of
claim rows, errors (must be 0) and the wall time.
"""

from __future__ import annotations

import argparse
import threading
import time
from decimal import Decimal

import bench

COMPANY_CODE = "bench-qr"
CREATE_AUTOCOMMIT_ROWS_S = 3700.0  # PERFORMANCE-NOTES.md: Django create() per row, autocommit


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench qr_claims", description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrent", type=int, default=200, help="claims, one per code and person (default 200)")
    parser.add_argument("--budget", type=int, default=50, help="prizes the budget pays for (default 50)")
    parser.add_argument("--threads", type=int, default=50, help="threads making the claims (default 50)")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    bench.setup(seed=False)
    from django.db import connections

    from scrm.models import QrCampaign, QrClaim
    from scrm.services.campaigns import (
        Scanner,
        qr_campaign_create,
        qr_codes_generate,
        qr_prize_claim,
        qr_scan_record,
    )
    from suite.models import Company

    company, _created = Company.objects.get_or_create(
        code=COMPANY_CODE, defaults={"name": "基准测试扫码公司", "name_en": "Bench QR"}
    )
    campaign = qr_campaign_create(
        company=company,
        name=f"bench {int(time.time() * 1000)}",
        kind="red_envelope",
        status="active",
        prize_amount=Decimal("1.00"),
        budget=Decimal(args.budget),
        per_person_limit=1,
        per_person_daily_limit=1,
    )
    codes = qr_codes_generate(campaign=campaign, count=args.concurrent)
    scans = [
        qr_scan_record(code=code, scanner=Scanner(phone=f"+86139{n:08d}", province="浙江"), source="bench")
        for n, code in enumerate(codes)
    ]
    barrier = threading.Barrier(args.threads + 1)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(first: int) -> None:
        try:
            from django.db import connection

            connection.ensure_connection()
            barrier.wait(timeout=120)
            for scan in scans[first :: args.threads]:
                try:
                    outcome = qr_prize_claim(scan=scan).outcome
                except Exception as exc:  # a failure of the figure, reported as such
                    outcome = f"error: {type(exc).__name__}"
                with lock:
                    outcomes.append(outcome)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.threads)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=120)
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    campaign = QrCampaign.objects.get(pk=campaign.pk)
    granted = outcomes.count("granted")
    refused = outcomes.count("budget_exhausted")
    errors = len(outcomes) - granted - refused
    rows = QrClaim.objects.filter(campaign=campaign).count()
    ok = (
        granted == args.budget
        and rows == args.budget
        and campaign.spent == campaign.budget
        and campaign.prizes_granted == args.budget
        and errors == 0
    )
    rate = len(outcomes) / seconds
    bench.print_table(
        ["measurement", "outcome", "spent / budget", "claim rows", "wall time", "throughput", "vs ceiling"],
        [
            [
                f"{args.concurrent} concurrent claims, budget {args.budget} prizes, {args.threads} threads",
                f"{granted} granted / {refused} refused / {errors} errors",
                f"{campaign.spent} / {campaign.budget}",
                str(rows),
                f"{seconds:.2f} s",
                f"{rate:,.0f} claims/s",
                f"{rate / CREATE_AUTOCOMMIT_ROWS_S:.0%} of Django create() per row (3,700/s)",
            ]
        ],
    )
    print(f"[qr_claims] exactly {args.budget} granted, never over budget: {'yes' if ok else 'NO'}", flush=True)
    return 0 if ok else 1
