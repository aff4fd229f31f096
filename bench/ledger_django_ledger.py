"""The ``python -m bench ledger`` workload on the PyPI package ``django-ledger``, run in its own throwaway venv.

Not a benchmark of its own (``bench/ledger.py`` starts it as a subprocess with the venv's Python): a minimal
Django project (settings configured here) with django-ledger's apps, on a database of its own on the same
PostgreSQL server; it posts N journal entries of 3 transactions each through django-ledger's own write path
(``LedgerModel.commit_txs(..., je_posted=True)``: balance check, bulk insert of the transactions, verification
and posting), N/batch entries per database transaction, and prints one JSON line with the timing.

    <venv>/bin/python bench/ledger_django_ledger.py --database-url URL --entries 2000 --batch 500
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit


def _ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _configure(url: str) -> None:
    import django
    from django.conf import settings

    parts = urlsplit(url)
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only-not-secret",
        USE_TZ=True,
        TIME_ZONE="Asia/Shanghai",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        LOGIN_URL="/login/",
        DJANGO_LEDGER_USE_DEPRECATED_BEHAVIOR=False,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.humanize",
            "django_ledger",
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": parts.path.lstrip("/"),
                "USER": parts.username or "postgres",
                "PASSWORD": parts.password or "",
                "HOST": parts.hostname or "127.0.0.1",
                "PORT": str(parts.port or 5432),
                "CONN_MAX_AGE": 600,
            }
        },
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": []},
            }
        ],
    )
    django.setup()


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args(argv)

    _ensure_database(args.database_url)
    _configure(args.database_url)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    call_command("migrate", verbosity=0, interactive=False)
    import django_ledger
    from django_ledger.models import EntityModel

    stamp = int(time.time() * 1000)
    user = get_user_model().objects.create_user(username=f"bench{stamp}")
    entity = EntityModel.create_entity(name=f"Bench {stamp}", use_accrual_method=True, admin=user, fy_start_month=1)
    entity.populate_default_coa(activate_accounts=True)
    ledger = entity.create_ledger(name="bench", posted=True)
    accounts = {a.code: a for a in entity.get_default_coa_accounts()}
    receivable, sales, payable = accounts["1100"], accounts["4010"], accounts["2070"]

    start_day = timezone.make_aware(datetime(2025, 1, 2, 10, 0))
    started = time.perf_counter()
    posted = 0
    while posted < args.entries:
        with transaction.atomic():
            for _ in range(min(args.batch, args.entries - posted)):
                net = Decimal(100 + posted % 900)
                tax = (net * Decimal("0.13")).quantize(Decimal("0.01"))
                ledger.commit_txs(
                    je_timestamp=start_day + timedelta(minutes=posted),
                    je_txs=[
                        {"account": receivable, "amount": net + tax, "tx_type": "debit", "description": "AR"},
                        {"account": sales, "amount": net, "tx_type": "credit", "description": "sales"},
                        {"account": payable, "amount": tax, "tx_type": "credit", "description": "VAT"},
                    ],
                    je_posted=True,
                    je_desc=f"sale {posted}",
                )
                posted += 1
    elapsed = time.perf_counter() - started

    from django_ledger.models import JournalEntryModel, TransactionModel

    return {
        "package": "django-ledger",
        "version": getattr(django_ledger, "__version__", "?"),
        "entries": posted,
        "posted_entries_in_db": JournalEntryModel.objects.filter(ledger=ledger, posted=True).count(),
        "transactions_in_db": TransactionModel.objects.filter(journal_entry__ledger=ledger).count(),
        "seconds": elapsed,
        "entries_per_second": posted / elapsed,
    }


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1:])), flush=True)
