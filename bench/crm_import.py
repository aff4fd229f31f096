"""``python -m bench crm_import``: import a big customer file through the import job's own service.

Writes a CSV of ``--rows`` accounts (Chinese names, mobile numbers, e-mails, province/city, industry) in which
about 5 % of the rows repeat an earlier row's phone (duplicates, skipped by the job's default policy) and about
1 % carry an invalid phone (reported per row), then runs ``crm.services.imports``: ``import_job_create``
(upload checks, encoding, header, row count, mapping guess), ``import_job_start`` and ``import_job_run`` — the
body of the Celery task — in this process, chunk by chunk. Every run uses a fresh company, so the figures do
not depend on earlier runs.

Measured: wall time of the run (target < 90 s for 100k rows) and the process's resident memory, sampled
every 0.2 s: its growth from the end of the first chunk to the end (target: flat, i.e. not growing with rows).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import tempfile
import threading
import time

import bench

TARGET_SECONDS = 90.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench crm_import", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="data rows in the file (default 20000)")
    parser.add_argument("--chunk", type=int, default=1000, help="rows per chunk/transaction (default 1000)")
    parser.add_argument("--duplicates", type=float, default=0.05, help="share of duplicate rows (default 0.05)")
    parser.add_argument("--bad", type=float, default=0.01, help="share of rows with a bad phone (default 0.01)")
    parser.add_argument("--seed", type=int, default=3)
    return parser


PROVINCES = [("浙江省", "杭州"), ("江苏省", "南京"), ("广东省", "深圳"), ("上海市", "上海"), ("山东省", "青岛")]
INDUSTRIES = ["制造业", "Retail and e-commerce", "IT and software", "logistics", ""]
SURNAMES = "张王李赵刘陈杨黄周吴徐孙马朱胡郭何高林罗"
WORDS = "华东南北远大宏达恒通新兴金盛鑫源科创机电装备贸易"


def write_file(path: str, rows: int, *, duplicates: float, bad: float, rng: random.Random) -> dict[str, int]:
    """The CSV (UTF-8 with BOM, as Excel saves it); returns how many duplicate and bad rows it holds."""
    counts = {"duplicates": 0, "bad": 0}
    phones: list[str] = []
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["公司名称", "手机", "邮箱", "省份", "城市", "行业", "地址"])
        for i in range(rows):
            province, city = PROVINCES[i % len(PROVINCES)]
            name = f"{rng.choice(SURNAMES)}{rng.choice(WORDS)}{rng.choice(WORDS)}{i:06d}有限公司"
            draw = rng.random()
            if phones and draw < duplicates:
                phone = rng.choice(phones)
                counts["duplicates"] += 1
            elif draw < duplicates + bad:
                phone = f"1{i % 10}{i:03d}"  # too short: refused, reported for the row
                counts["bad"] += 1
            else:
                phone = f"139{i:08d}"
                phones.append(phone)
            writer.writerow(
                [
                    name,
                    phone,
                    f"c{i}@example.com" if i % 3 else "",
                    province,
                    city,
                    INDUSTRIES[i % len(INDUSTRIES)],
                    f"{city}市高新区{i % 500}号",
                ]
            )
    return counts


def _backend_cpu_seconds() -> float:
    """CPU time (user + system) used so far by this process's PostgreSQL backend, read from /proc when the server
    runs on this machine (the bench's stack does); 0 when it cannot be read. With the wall time on a loaded
    machine mostly waiting for a core, the CPU of both sides is the figure that says what the import costs."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class RssSampler(threading.Thread):
    """Resident set size of this process, every ``interval`` seconds (Linux /proc)."""

    def __init__(self, interval: float = 0.2):
        super().__init__(daemon=True)
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.page = os.sysconf("SC_PAGE_SIZE")

    def rss(self) -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * self.page

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.perf_counter(), self.rss()))
            self.stop.wait(self.interval)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    bench.setup()
    from django.contrib.auth import get_user_model
    from django.core.files import File

    from crm.models import Account, ImportStatus
    from crm.services.imports import import_job_create, import_job_run, import_job_start
    from suite.models import Company, Membership, Role

    rng = random.Random(args.seed)
    stamp = time.strftime("%Y%m%d%H%M%S")
    company = Company.objects.create(code=f"bench-imp-{stamp}", name=f"导入基准{stamp}", name_en=f"Import {stamp}")
    user = get_user_model().objects.create(username=f"bench-import-{stamp}")
    Membership.objects.create(user=user, company=company, role=Role.ADMIN)

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "customers.csv")
        started = time.perf_counter()
        planted = write_file(path, args.rows, duplicates=args.duplicates, bad=args.bad, rng=rng)
        size_mb = os.path.getsize(path) / 1e6
        print(
            f"[crm_import] wrote {args.rows:,} rows ({size_mb:.1f} MB) in {time.perf_counter() - started:.1f} s; "
            f"planted {planted['duplicates']:,} duplicates, {planted['bad']:,} bad phones",
            flush=True,
        )
        sampler = RssSampler()
        sampler.start()
        t0 = time.perf_counter()
        with open(path, "rb") as handle:
            job = import_job_create(
                company=company, by=user, target="account", upload=File(handle, name="customers.csv")
            )
        t_create = time.perf_counter() - t0
        job = import_job_start(job=job, by=user, mapping=job.mapping)
        t1 = time.perf_counter()
        cpu_python, cpu_database = time.process_time(), _backend_cpu_seconds()
        first_chunk_done = None
        job = import_job_run(job_id=job.pk, chunk_size=args.chunk, stop_after_chunks=1)
        first_chunk_done = time.perf_counter()
        job = import_job_run(job_id=job.pk, chunk_size=args.chunk)
        t_run = time.perf_counter() - t1
        cpu_python, cpu_database = time.process_time() - cpu_python, _backend_cpu_seconds() - cpu_database
        sampler.stop.set()
        sampler.join()
    total = t_create + t_run
    after_first = [rss for at, rss in sampler.samples if at >= first_chunk_done] or [sampler.rss()]
    base = after_first[0]
    peak = max(rss for _at, rss in sampler.samples)
    growth = max(after_first) - base
    accounts = Account.objects.filter(company=company).count()
    ok = job.status == ImportStatus.DONE and accounts == job.created_count and total < TARGET_SECONDS
    bench.print_table(
        [
            "rows",
            "created",
            "skipped (dup)",
            "errors",
            "create s",
            "run s",
            "total s",
            "rows/s",
            "target",
            "RSS after 1st chunk",
            "RSS growth to end",
            "peak RSS",
            "CPU s: Python / PostgreSQL",
        ],
        [
            [
                f"{job.rows_done:,}",
                f"{job.created_count:,}",
                f"{job.skipped_count:,}",
                f"{job.error_count:,}",
                f"{t_create:.1f}",
                f"{t_run:.1f}",
                f"{total:.1f}",
                f"{job.rows_done / total:,.0f}",
                f"< {TARGET_SECONDS:.0f} s ({total / TARGET_SECONDS:.0%})",
                f"{base / 1e6:.0f} MB",
                f"{growth / 1e6:+.1f} MB",
                f"{peak / 1e6:.0f} MB",
                f"{cpu_python:.1f} / {cpu_database:.1f}",
            ]
        ],
    )
    ceiling = bench.CEILINGS["bulk_create_rows"]
    print(
        f"[crm_import] job {job.pk}: {job.get_status_display()}; run rows/s of the bulk_create ceiling "
        f"({ceiling:,.0f} rows/s): {job.rows_done / t_run / ceiling:.0%}",
        flush=True,
    )
    return 0 if ok else 1
