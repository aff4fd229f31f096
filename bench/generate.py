"""``python -m bench generate``: fill the bench database with data in the demo's shapes, at scale.

    python -m bench generate                          the default preset (what `make bench` runs)
    python -m bench generate --preset large           100k customers and beyond (as the apps add generators)
    python -m bench generate --set companies=50       any size of any generator
    python -m bench generate --only suite.tenancy     some generators only

Prints, per generator, the rows written and rows/s, and compares with Django's bulk_create ceiling.
Running it again reuses what exists (companies are found by code) instead of duplicating it.
"""

from __future__ import annotations

import argparse
import time

import bench


def parse_sizes(pairs: list[str]) -> dict[str, int]:
    sizes = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not value.isdigit():
            raise SystemExit(f"error: --set wants key=number, not {pair!r}")
        sizes[key.strip()] = int(value)
    return sizes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench generate", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=["small", "default", "large"], default="default")
    parser.add_argument("--set", dest="sizes", action="append", default=[], metavar="KEY=N")
    parser.add_argument("--only", action="append", default=[], metavar="GENERATOR")
    args = parser.parse_args(argv)
    bench.setup()

    from bench.generators import GenerationContext, discover, sizes_for

    generators = discover()
    if args.only:
        unknown = set(args.only) - {g.name for g in generators}
        if unknown:
            parser.error(f"unknown generator(s) {sorted(unknown)}; known: {[g.name for g in generators]}")
        generators = [g for g in generators if g.name in args.only or g.order == 0]
    try:
        sizes = sizes_for(generators, args.preset, parse_sizes(args.sizes))
    except ValueError as exc:
        parser.error(str(exc))
    ctx = GenerationContext(sizes=sizes)
    ctx.password_hash  # noqa: B018 - hashed before the clock starts: it is not part of writing rows
    print(f"preset {args.preset}: " + ", ".join(f"{k}={v}" for k, v in sorted(sizes.items())), flush=True)
    rows = []
    for gen in generators:
        started = time.perf_counter()
        written = gen.run(ctx)
        seconds = time.perf_counter() - started
        total = sum(written.values())
        rate = total / seconds if seconds > 0 else 0.0
        detail = ", ".join(f"{label} {n}" for label, n in written.items() if n)
        ratio = f"{rate / bench.CEILINGS['bulk_create_rows']:.0%}" if total else "–"
        rows.append([gen.name, total, f"{seconds:.2f}", f"{rate:,.0f}", ratio, detail or "nothing new"])
    bench.print_table(["generator", "rows", "seconds", "rows/s", "of bulk_create ceiling", "rows written"], rows)
    return 0
