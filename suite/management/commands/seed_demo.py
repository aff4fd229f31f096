"""``manage.py seed_demo``: build the demo companies and every app's demo data, idempotently.

Each Troika app may have a ``demo`` module with ``seed(ctx: suite.demo.DemoContext)``; they run in
``INSTALLED_APPS`` order (suite, crm, scrm, erp; the apps a module names in ``DEMO_AFTER`` run before it) in one
transaction, under a PostgreSQL advisory lock so two ``make run`` started at once do not both create the same
records. A second run creates nothing.
"""

from __future__ import annotations

import time
from importlib import import_module

import pghistory
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from suite.demo import DEMO_PASSWORD, DemoContext

TROIKA_APPS = ("suite", "crm", "scrm", "erp")
_LOCK_KEY = 0x7472_6F69_6B61  # "troika"


def demo_modules(only: list[str] | None = None) -> list[tuple[str, object]]:
    """``(app label, demo module)`` of every Troika app that has one, in INSTALLED_APPS order."""
    found = []
    for config in apps.get_app_configs():
        if config.name not in TROIKA_APPS or (only and config.label not in only):
            continue
        try:
            module = import_module(f"{config.name}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.demo":
                raise
            continue
        found.append((config.label, module))
    return _after_dependencies(found)


def _after_dependencies(found: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """INSTALLED_APPS order, except that a demo module naming app labels in ``DEMO_AFTER`` (e.g. the CRM's
    deals with lines from ERP's demo catalogue: ``DEMO_AFTER = ("erp",)``) runs after those apps' demos."""
    by_label = dict(found)
    ordered: list[tuple[str, object]] = []
    visiting: set[str] = set()

    def visit(label: str) -> None:
        if label in visiting or any(done == label for done, _module in ordered):
            return
        visiting.add(label)
        for before in getattr(by_label[label], "DEMO_AFTER", ()):
            if before in by_label:
                visit(before)
        ordered.append((label, by_label[label]))

    for label, _module in found:
        visit(label)
    return ordered


def seed_demo(*, only: list[str] | None = None, log=None) -> DemoContext:
    """Run every app's demo ``seed`` in one transaction; return the context with the created/existing counts.

    ``only`` limits the apps; it must include ``suite``, whose records every other app's demo builds on.

    Holds a transaction-scoped advisory lock, so concurrent runs wait for each other instead of racing. The
    audit trail records the demo's rows with the source ``seed_demo``.
    """
    if only and "suite" not in only:
        raise ValueError("seed_demo(only=...) must include 'suite'")
    ctx = DemoContext()
    with transaction.atomic(), pghistory.context(source="seed_demo"):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        for label, module in demo_modules(only):
            started = time.perf_counter()
            module.seed(ctx)
            if log:
                log(f"  {label}: done in {time.perf_counter() - started:.1f} s")
    return ctx


class Command(BaseCommand):
    help = "Create the demo companies, teams, users and every app's demo data (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--only", nargs="*", help="app labels to seed (default: all); suite always runs first")

    def handle(self, *args, only=None, verbosity=1, **options):
        if only:
            unknown = set(only) - set(TROIKA_APPS)
            if unknown:
                raise CommandError(
                    f"unknown app(s): {', '.join(sorted(unknown))}; choose from {', '.join(TROIKA_APPS)}"
                )
            only = ["suite", *[label for label in only if label != "suite"]]
        started = time.perf_counter()
        ctx = seed_demo(only=only, log=self.stdout.write if verbosity > 1 else None)
        created = sum(ctx.created.values())
        if verbosity == 0:
            return
        if created:
            detail = ", ".join(f"{n} {label}" for label, n in sorted(ctx.created.items()))
            self.stdout.write(f"demo data: created {detail} in {time.perf_counter() - started:.1f} s")
        else:
            self.stdout.write(f"demo data: already present ({sum(ctx.existing.values())} records checked)")
        companies = " · ".join(f"{c.name} ({c.code})" for c in ctx.companies.values())
        self.stdout.write(f"demo companies: {companies}; password for every demo login: {DEMO_PASSWORD}")
