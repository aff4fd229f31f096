"""``python -m bench [name [args ...]] ...`` — run Troika's benchmarks and print their figures.

    python -m bench                              every benchmark with its default sizes (what `make bench` runs)
    python -m bench http_load                    one benchmark
    python -m bench http_load --concurrency 8    arguments go to the benchmark named before them
    python -m bench generate --preset large http_load
    python -m bench --list                       the benchmarks found

A benchmark is any ``bench/<name>.py`` with ``main(argv) -> int``. Without names they run in the order of
:data:`ORDER` (data first, then load), then any others alphabetically.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
import traceback
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ORDER = ["generate", "http_load", "outbox"]
NOT_BENCHMARKS = {"__main__"}
# Benchmarks that work in a database of their own: run alone, the shared bench database is not even set up.
OWN_DATABASE = {
    "crm": "crm_bench",
    "crm_pool": "crm_bench",
    "segments": "segments_bench",
    "payroll": "payroll_bench",
    "loop_latency": "loop_bench",
}
# Benchmarks run alone with a Redis key prefix and Celery queue of their own (bench.bench_env): another
# benchmark's worker or queue purge running at the same time would take or drop their tasks.
OWN_PREFIX = {"scrm_ingest": "troika-bench-scrm"}
# Benchmarks that generate all they read: the demo data is not seeded for them.
NO_SEED = {"segments", "payroll", "scrm_ingest", "loop_latency", "dashboards"}


def available() -> list[str]:
    names = [
        info.name
        for info in pkgutil.iter_modules([str(Path(__file__).parent)])
        if not info.ispkg and not info.name.startswith("_") and info.name not in NOT_BENCHMARKS
    ]
    # Found by reading, not importing: a benchmark may import Django models, which needs setup() first.
    here = Path(__file__).parent
    found = [name for name in names if "\ndef main(" in (here / f"{name}.py").read_text(encoding="utf-8")]
    return [n for n in ORDER if n in found] + sorted(n for n in found if n not in ORDER)


def plan(argv: list[str], names: list[str]) -> list[tuple[str, list[str]]]:
    """Split ``argv`` into (benchmark, its arguments): an argument belongs to the benchmark named before it."""
    if not argv:
        return [(name, []) for name in names]
    runs: list[tuple[str, list[str]]] = []
    for arg in argv:
        if arg in names:
            runs.append((arg, []))
        elif runs:
            runs[-1][1].append(arg)
        else:
            raise SystemExit(f"error: unknown benchmark {arg!r}; available: {', '.join(names)}")
    return runs


def main(argv: list[str]) -> int:
    names = available()
    if argv[:1] in (["--list"], ["-l"]):
        print("\n".join(names))
        return 0
    if argv[:1] in (["--help"], ["-h"]):
        print(__doc__)
        return 0
    runs = plan(argv, names)
    import bench

    own = {OWN_DATABASE.get(name) for name, _args in runs}
    if len(own) == 1 and None not in own and not os.environ.get("TROIKA_BENCH_DATABASE_URL"):
        parts = urlsplit(bench.bench_database_url())
        os.environ["TROIKA_BENCH_DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{own.pop()}"))
    prefix = {OWN_PREFIX.get(name) for name, _args in runs}
    if len(prefix) == 1 and None not in prefix and not os.environ.get("TROIKA_BENCH_PREFIX"):
        os.environ["TROIKA_BENCH_PREFIX"] = prefix.pop()
    bench.setup(seed=not all(name in NO_SEED for name, _args in runs))
    status = 0
    for name, args in runs:
        print(f"\n=== bench {name} {' '.join(args)}".rstrip(), flush=True)
        started = time.perf_counter()
        try:
            code = importlib.import_module(f"bench.{name}").main(args)
        except Exception:  # one broken benchmark must not hide the figures of the others
            traceback.print_exc()
            code = 1
        except SystemExit as exc:  # argparse errors and the like
            code = exc.code if isinstance(exc.code, int) else 1
        outcome = "ok" if code == 0 else f"exit {code}"
        print(f"=== {name}: {outcome} in {time.perf_counter() - started:.1f} s", flush=True)
        status = status or code
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
