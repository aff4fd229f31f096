"""``manage.py verify_ledger [--company CODE] [--journal CODE]``: recompute the hash chains of the ledger and
name the first broken entry of each journal. Exits 1 when the ledger has been tampered with (for cron and
monitoring), 0 when every chain is intact."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from erp.models import Journal
from erp.services.finance import ledger_verify
from suite.models import Company


class Command(BaseCommand):
    help = "Verify the inalterability of posted journal entries (SHA-256 hash chain per journal)."

    def add_arguments(self, parser):
        parser.add_argument("--company", help="code of one company (default: all companies)")
        parser.add_argument("--journal", help="code of one journal (needs --company)")

    def handle(self, *args, company=None, journal=None, **options):
        company_obj = journal_obj = None
        if company:
            company_obj = Company.objects.filter(code=company).first()
            if company_obj is None:
                raise CommandError(f"no company with code {company!r}")
        if journal:
            if company_obj is None:
                raise CommandError("--journal needs --company")
            journal_obj = Journal.objects.filter(company=company_obj, code=journal).first()
            if journal_obj is None:
                raise CommandError(f"no journal {journal!r} in company {company!r}")
        result = ledger_verify(company=company_obj, journal=journal_obj)
        if result.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    f"ledger intact: {result.checked_entries} posted entries in {result.journals} journals verified"
                )
            )
            return
        for broken in result.broken:
            self.stdout.write(
                self.style.ERROR(
                    f"journal {broken.journal_code} (id {broken.journal_id}): first broken entry id {broken.entry_id}, "
                    f"number {broken.number} of fiscal year {broken.fiscal_year}, chain position "
                    f"{broken.chain_position}: {broken.problem}"
                )
            )
        raise SystemExit(1)
