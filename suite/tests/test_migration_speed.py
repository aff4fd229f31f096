"""The test database is built by ``migrate`` with suite/migration_speed.py installed: it must still have everything the
models declare — every table and column, every named index and constraint, every pgtrigger trigger (the audit
triggers among them) installed and up to date. A reload the patch skipped wrongly would show up here as a missing or
outdated object. (The one-off comparison of both schemas, byte for byte, is in docs/decisions.md.)"""

import pgtrigger
import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.state import ProjectState

from suite import migration_speed

pytestmark = pytest.mark.django_db


def _models():
    return [m for m in apps.get_models(include_auto_created=True) if m._meta.managed and not m._meta.proxy]


def test_the_patch_is_installed_for_this_django():
    assert ProjectState.add_model is migration_speed._add_model
    assert ProjectState._find_reload_model is migration_speed._find_reload_model


def test_every_model_table_and_column_exists():
    tables = set(connection.introspection.table_names())
    missing_columns = []
    with connection.cursor() as cursor:
        for model in _models():
            assert model._meta.db_table in tables, model._meta.label
            columns = {c.name for c in connection.introspection.get_table_description(cursor, model._meta.db_table)}
            for field in model._meta.local_concrete_fields:
                if field.column not in columns:
                    missing_columns.append(f"{model._meta.label}.{field.column}")
    assert not missing_columns
    assert len(_models()) > 300  # the whole suite, not an empty registry


def test_every_declared_index_and_constraint_exists():
    missing = []
    with connection.cursor() as cursor:
        for model in _models():
            names = set(connection.introspection.get_constraints(cursor, model._meta.db_table))
            for obj in [*model._meta.indexes, *model._meta.constraints]:
                name = obj.name
                if name and "%(" not in name and name not in names:
                    missing.append(f"{model._meta.label}: {name}")
    assert not missing


def test_every_trigger_is_installed_and_current():
    statuses = {}
    for model, trigger in pgtrigger.registered():
        if model._meta.managed and not model._meta.proxy:
            statuses[f"{model._meta.label}:{trigger.name}"] = trigger.get_installation_status(model)[0]
    assert len(statuses) > 300  # the audit triggers of every business model, at least
    not_installed = {key: status for key, status in statuses.items() if status != "INSTALLED"}
    assert not not_installed
