"""``manage.py verify_ledger``: 0 and a summary on an intact ledger; 1 and the first broken entry otherwise."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

pytestmark = pytest.mark.django_db


def test_verify_ledger_command(ledger):
    entries = [ledger.sale(date(2025, 1, day)) for day in (1, 2, 3)]
    out = io.StringIO()
    call_command("verify_ledger", "--company", ledger.company.code, stdout=out)
    assert "ledger intact: 3 posted entries" in out.getvalue()

    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("UPDATE erp_journalentry SET date = '2025-01-09' WHERE id = %s", [entries[1].pk])
        cursor.execute("SET session_replication_role = DEFAULT")
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_ledger", "--company", ledger.company.code, "--journal", "GEN", stdout=out)
    assert exit_info.value.code == 1
    assert f"first broken entry id {entries[1].pk}, number 2 of fiscal year 2025" in out.getvalue()

    with pytest.raises(CommandError):
        call_command("verify_ledger", "--company", "nope")
