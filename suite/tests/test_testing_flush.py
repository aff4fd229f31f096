"""suite/testing_flush.py: the flush after a transactional test empties every model table, as Django's does."""

import os

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.color import no_style
from django.core.management.commands import flush as flush_command
from django.db import connection

from suite.testing_flush import FAST_FLUSH, delete_flush_sql

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _row_counts() -> dict[str, int]:
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    with connection.cursor() as cursor:
        counts = {}
        for table in tables:
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
    return counts


@pytest.mark.skipif(os.environ.get("TROIKA_FAST_TEST_FLUSH", "1") == "0", reason="turned off")
def test_the_plugin_is_installed():
    assert flush_command.sql_flush is delete_flush_sql
    assert delete_flush_sql(no_style(), connection, reset_sequences=False) == [FAST_FLUSH]


def test_flush_after_the_demo_data_leaves_every_model_table_empty_but_content_types_and_permissions():
    call_command("seed_demo", verbosity=0)  # companies, users, CRM contacts and tags (segment triggers), ERP …
    filled = {table for table, count in _row_counts().items() if count}
    assert len(filled) > 30
    assert {"crm_contact", "suite_company", "auth_user"} <= filled

    call_command("flush", verbosity=0, interactive=False, reset_sequences=False, allow_cascade=False)

    left = {table: count for table, count in _row_counts().items() if count}
    assert set(left) == {"django_content_type", "auth_permission"}  # recreated by post_migrate, as Django does
    assert ContentType.objects.get_for_model(Permission).model == "permission"
    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"  # foreign keys and triggers are back on


def test_reset_sequences_keeps_djangos_truncate():
    statements = delete_flush_sql(no_style(), connection, reset_sequences=True)
    assert statements and statements[0].startswith("TRUNCATE") and "RESTART IDENTITY" in statements[0]
