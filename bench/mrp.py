"""``python -m bench mrp``: an MRP run over 10,000 demand lines, a 5-level BOM and 2,000 items, database included.

1. **Data** (once; reused on later runs): a company ``bench-mrp`` with ``--items`` products in 5 levels (10 %,
   15 %, 20 %, 25 %, 30 % of them; the last level bought, the others made), a BOM per made item with 3
   components of the next level (1–3 each, some with 5 % scrap), product planning (lead times 1–10 days, lot
   sizing lot-for-lot / fixed / minimum, some safety stock), ``--demand`` forecast lines over 180 days on the top
   two levels (bulk-inserted), and open expected supply for a tenth of the items.
2. **Run**: ``mrp_run_start`` + ``mrp_run_execute`` (what the Celery task does) with weekly buckets, ``--runs``
   times: wall time of load / net / store and in total, planned orders written, and the process's peak memory
   after each run (flat: the second run does not grow it). Target: < 30 s per run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import time
from decimal import Decimal

import bench

COMPANY_CODE = "bench-mrp"
TARGET_S = 30.0
LEVEL_SHARES = (0.10, 0.15, 0.20, 0.25, 0.30)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench mrp", description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--demand", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--bucket-days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=11)
    return parser


def _ensure_data(args, rng: random.Random):
    from django.db import transaction

    from erp.models import (
        Bom,
        BomLine,
        DemandForecast,
        IncomingSupply,
        Product,
        ProductPlanning,
        Warehouse,
    )
    from erp.services import inventory as inv
    from suite.models import Company

    company, _created = Company.objects.get_or_create(
        code=COMPANY_CODE, defaults={"name": "基准测试制造公司", "name_en": "Bench manufacturing"}
    )
    warehouse = Warehouse.objects.filter(company=company).first()
    if (
        warehouse is not None
        and Product.objects.filter(company=company).count() >= args.items
        and DemandForecast.objects.filter(company=company).count() >= args.demand
    ):
        print(f"[mrp] reusing the data of company {COMPANY_CODE}", flush=True)
        return company, warehouse
    print(f"[mrp] generating {args.items} items, {args.demand} demand lines …", flush=True)
    started = time.perf_counter()
    with transaction.atomic():
        DemandForecast.objects.filter(company=company).delete()
        if warehouse is None:
            warehouse = inv.warehouse_create(company=company, code="MRP", name="制造仓")
        uom = inv.uom_defaults_ensure(company=company)["pcs"]
        existing = Product.objects.filter(company=company).count()
        if existing < args.items:
            Product.objects.bulk_create(
                [
                    Product(company=company, sku=f"M{n:05d}", name=f"物料{n}", uom=uom)
                    for n in range(existing, args.items)
                ],
                batch_size=1000,
            )
        products = list(Product.objects.filter(company=company).order_by("pk").values_list("pk", flat=True))[
            : args.items
        ]
        levels, start = [], 0
        for share in LEVEL_SHARES:
            size = round(len(products) * share)
            levels.append(products[start : start + size])
            start += size
        levels[-1].extend(products[start:])
        Bom.objects.filter(company=company).delete()
        ProductPlanning.objects.filter(company=company).delete()
        IncomingSupply.objects.filter(company=company).delete()
        boms = Bom.objects.bulk_create(
            [Bom(company=company, product_id=pid, version="1") for level in levels[:-1] for pid in level],
            batch_size=1000,
        )
        by_product = {bom.product_id: bom for bom in boms}
        lines = []
        for depth, level in enumerate(levels[:-1]):
            for pid in level:
                for component in rng.sample(levels[depth + 1], 3):
                    lines.append(
                        BomLine(
                            company=company,
                            bom=by_product[pid],
                            component_id=component,
                            quantity=Decimal(rng.randint(1, 3)),
                            scrap_factor=Decimal(rng.choice(["0", "0", "0.05"])),
                        )
                    )
        BomLine.objects.bulk_create(lines, batch_size=2000)
        planning = []
        for depth, level in enumerate(levels):
            for pid in level:
                rule = rng.choice(["lot_for_lot", "fixed", "minimum"])
                planning.append(
                    ProductPlanning(
                        company=company,
                        product_id=pid,
                        procurement="make" if depth < 4 else "buy",
                        lead_time_days=rng.randint(1, 10),
                        safety_stock=Decimal(rng.choice([0, 0, 0, 5])),
                        lot_rule=rule,
                        lot_size=Decimal(rng.choice([10, 25, 50])) if rule != "lot_for_lot" else Decimal(0),
                    )
                )
        ProductPlanning.objects.bulk_create(planning, batch_size=2000)
        today = dt.date.today()
        top = levels[0] + levels[1]
        DemandForecast.objects.bulk_create(
            [
                DemandForecast(
                    company=company,
                    product_id=rng.choice(top),
                    date=today + dt.timedelta(days=rng.randint(0, 180)),
                    quantity=Decimal(rng.randint(1, 20)),
                    source="bench",
                )
                for _n in range(args.demand)
            ],
            batch_size=2000,
        )
        IncomingSupply.objects.bulk_create(
            [
                IncomingSupply(
                    company=company,
                    product_id=pid,
                    warehouse=warehouse,
                    kind="purchase",
                    expected_date=today + dt.timedelta(days=rng.randint(1, 30)),
                    quantity=Decimal(rng.randint(5, 50)),
                    reference=f"PO-BENCH-{pid}",
                )
                for pid in rng.sample(products, len(products) // 10)
            ],
            batch_size=2000,
        )
    print(f"[mrp] data ready in {time.perf_counter() - started:.1f} s", flush=True)
    return company, warehouse


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    bench.setup(seed=False)
    rng = random.Random(args.seed)
    company, warehouse = _ensure_data(args, rng)

    from erp.services import mrp
    from erp.services import mrp_engine as engine

    phases: dict[str, float] = {}
    original_load, original_plan = mrp._load, engine.plan

    def timed(name, fn):
        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                phases[name] = time.perf_counter() - t

        return wrapper

    mrp._load = timed("load", original_load)
    engine.plan = timed("net", original_plan)
    rows, ok = [], True
    try:
        for number in range(1, args.runs + 1):
            phases.clear()
            started = time.perf_counter()
            run = mrp.mrp_run_start(
                company=company, warehouse=warehouse, bucket_days=args.bucket_days, horizon_days=180, queue=False
            )
            run = mrp.mrp_run_execute(run_id=run.pk)
            total = time.perf_counter() - started
            store = total - phases.get("load", 0) - phases.get("net", 0)
            ok &= run.status == "done" and total < TARGET_S
            rows.append(
                [
                    f"run {number}",
                    run.status,
                    f"{run.demand_count:,}",
                    f"{run.planned_count:,}",
                    f"{phases.get('load', 0):.1f} s",
                    f"{phases.get('net', 0):.1f} s",
                    f"{store:.1f} s",
                    f"{total:.1f} s",
                    f"{total / TARGET_S:.0%}",
                    f"{_peak_mb():.0f} MB",
                ]
            )
    finally:
        mrp._load, engine.plan = original_load, original_plan
    bench.print_table(
        ["run", "status", "demand", "planned", "load", "net", "store", "total", "vs 30 s", "peak RSS"], rows
    )
    print(f"[mrp] every run done in < {TARGET_S:.0f} s: {'yes' if ok else 'NO'}", flush=True)
    return 0 if ok else 1
