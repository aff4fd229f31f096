"""`make backup` / `make restore` round-trip every row: dump the test database through the launcher's own
command, restore it into a fresh database, and compare every table's row count and content checksum."""

import os
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from suite.models import Company
from suite.stack import BASE_DIR
from suite.tests.ops_support import test_database_url

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def connect(url: str):
    return psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True)


def fingerprint(url: str) -> dict[str, tuple]:
    """Per table of every non-system schema: (row count, md5 of all rows in a stable order); per sequence: its
    last value. Anything a restore lost or changed shows up as a difference."""
    result = {}
    with connect(url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') "
            "ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            result[name] = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {name} t"
            ).fetchone()
        for schema, sequence in conn.execute(
            "SELECT schemaname, sequencename FROM pg_sequences ORDER BY 1, 2"
        ).fetchall():
            result[f'sequence "{schema}"."{sequence}"'] = conn.execute(
                f'SELECT last_value, is_called FROM "{schema}"."{sequence}"'
            ).fetchone()
    return result


def stack_command(*args: str, database_url: str, var_dir) -> subprocess.CompletedProcess:
    """`python -m suite.stack ARGS` — what `make backup` / `make restore` run — against ``database_url``."""
    env = dict(os.environ, DATABASE_URL=database_url, TROIKA_VAR_DIR=str(var_dir))
    return subprocess.run(
        [sys.executable, "-m", "suite.stack", *args], env=env, cwd=BASE_DIR, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


@pytest.fixture
def fresh_database():
    source = test_database_url()
    name = f"{urlsplit(source).path.lstrip('/')}_restore"
    with connect(source) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield with_database(source, name)
    with connect(source) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_backup_then_restore_into_a_fresh_database_reproduces_every_table(fresh_database, tmp_path):
    call_command("seed_demo", verbosity=0)
    ecm = Company.objects.get(code="ecm")
    ecm.name_en = "East China Machinery — 'quotes', \"double\", back\\slash, 换行\nnewline"
    ecm.save(update_fields=["name_en"])  # tricky text, and an audit (pghistory) row to carry over
    connection.close()
    source = test_database_url()
    before = fingerprint(source)
    dump = tmp_path / "troika.dump"

    backup = stack_command("backup", str(dump), database_url=source, var_dir=tmp_path / "var")
    restore = stack_command("restore", str(dump), database_url=fresh_database, var_dir=tmp_path / "var")

    assert backup.returncode == 0, backup.stderr
    assert f"backup written to {dump}" in backup.stdout
    assert restore.returncode == 0, restore.stderr
    after = fingerprint(fresh_database)
    assert after == before
    assert before['"public"."suite_company"'][0] == 3
    assert before['"public"."auth_user"'][0] >= 30
    assert sum(count for key, (count, *_rest) in before.items() if not key.startswith("sequence")) > 100


def test_restore_over_a_changed_database_brings_back_exactly_the_backup(fresh_database, tmp_path):
    call_command("seed_demo", verbosity=0)
    connection.close()
    source = test_database_url()
    dump = tmp_path / "troika.dump"
    assert stack_command("backup", str(dump), database_url=source, var_dir=tmp_path / "var").returncode == 0
    assert stack_command("restore", str(dump), database_url=fresh_database, var_dir=tmp_path / "var").returncode == 0
    with connect(fresh_database) as conn:  # work goes on after the backup …
        hr2 = "SELECT m.id FROM suite_membership m JOIN auth_user u ON u.id = m.user_id WHERE u.username = 'hr2'"
        conn.execute(f"DELETE FROM suite_membership_teams WHERE membership_id IN ({hr2})")
        conn.execute(f"DELETE FROM suite_membership WHERE id IN ({hr2})")
        conn.execute("UPDATE suite_company SET name = 'renamed' WHERE code = 'sbev'")

    again = stack_command("restore", str(dump), database_url=fresh_database, var_dir=tmp_path / "var")

    assert again.returncode == 0, again.stderr
    assert fingerprint(fresh_database) == fingerprint(source)


@pytest.mark.django_db  # nothing is written: no flush of every table after it (the module's mark is transactional)
def test_restore_of_a_missing_file_is_a_one_line_error(tmp_path):
    result = stack_command(
        "restore", str(tmp_path / "nope.dump"), database_url=test_database_url(), var_dir=tmp_path / "var"
    )

    assert result.returncode == 1
    assert result.stderr.strip() == "error: usage: make restore FILE=var/backups/troika-….dump (the file must exist)"
